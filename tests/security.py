"""Test credentials made on the spot: a CA with server and client certificates, API key
files and a JWKS with JWTs signed by its key. Nothing here is checked in."""

from __future__ import annotations

import datetime
import ipaddress
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import yaml
from agentstream_server.credentials import key_digest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

JWT_ISSUER = "https://issuer.test"
JWT_AUDIENCE = "agentstream-tests"


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Agentstream Tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class CertAuthority:
    """A certificate authority in a temporary directory."""

    def __init__(self, directory: Path, name: str = "Test CA") -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        slug = name.replace(" ", "-").lower()
        self.cert_file = directory / f"{slug}.pem"
        self.cert_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    @property
    def pem(self) -> bytes:
        return self.cert_file.read_bytes()

    def issue(self, common_name: str, *, server: bool) -> CertFiles:
        """A certificate for a server (valid for localhost and 127.0.0.1) or a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        files = CertFiles(
            self.directory / f"{common_name}.crt", self.directory / f"{common_name}.key"
        )
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, files.key)
        return files


def api_keys_file(path: Path, keys: dict[str, tuple[str, list[str]]]) -> Path:
    """Writes an API keys file: key -> (principal, roles), stored as sha256 digests."""
    entries = [
        {"sha256": key_digest(key), "principal": principal, "roles": roles}
        for key, (principal, roles) in keys.items()
    ]
    path.write_text(yaml.safe_dump({"keys": entries}))
    return path


class JwtIssuer:
    """An RSA key published in a JWKS file, and tokens signed with it."""

    def __init__(self, jwks_file: Path, kid: str = "test-key") -> None:
        self.kid = kid
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        public.update({"kid": kid, "use": "sig", "alg": "RS256"})
        jwks_file.write_text(json.dumps({"keys": [public]}))
        self.jwks_file = jwks_file

    def token(self, subject: str = "jwt-user", **claims: Any) -> str:
        body: dict[str, Any] = {
            "sub": subject,
            "iss": JWT_ISSUER,
            "aud": JWT_AUDIENCE,
            "exp": int(time.time()) + 300,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self._key, algorithm="RS256", headers={"kid": self.kid})

    def config(self) -> dict[str, Any]:
        return {"jwks_file": str(self.jwks_file), "issuer": JWT_ISSUER, "audience": JWT_AUDIENCE}
