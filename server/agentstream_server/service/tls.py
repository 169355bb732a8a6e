"""The server's TLS credentials, re-read from their files on `reload()` (SIGHUP).

gRPC asks `_fetch` for a new certificate configuration at each handshake; we hand it the
files read at the last reload, so rotated certificates apply to new connections while
open ones keep theirs.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from ..config import ConfigError, TlsConfig


class ServerTls:
    def __init__(self, config: TlsConfig) -> None:
        self._config = config
        self._initial = self._read()
        self._fresh: grpc.ServerCertificateConfiguration | None = None

    @property
    def mutual(self) -> bool:
        """Clients must present a certificate signed by `client_ca_file`."""
        return self._config.client_ca_file is not None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._initial,
            self._fetch,  # type: ignore[arg-type]  # None is allowed: "keep the current one"
            require_client_authentication=self.mutual,
        )

    def reload(self) -> None:
        """Reads the files again; a missing or unreadable file raises and changes nothing."""
        self._fresh = self._read()

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by gRPC for each handshake (from its own thread): None keeps the current one.
        fresh, self._fresh = self._fresh, None
        return fresh

    def _read(self) -> grpc.ServerCertificateConfiguration:
        config = self._config
        key, cert = _read(config.key_file), _read(config.cert_file)
        client_ca = _read(config.client_ca_file) if config.client_ca_file else None
        return grpc.ssl_server_certificate_configuration([(key, cert)], client_ca)


def _read(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"server.tls: {path}: cannot read: {e.strerror}") from None
    if b"-----BEGIN " not in data:
        raise ConfigError(f"server.tls: {path}: not a PEM file")
    return data
