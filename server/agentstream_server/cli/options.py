"""Options shared by the commands that talk to a server: where it is, TLS, a token."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from agentstream import AgentClient, Tls

from .settings import DEFAULT_SERVER

F = TypeVar("F", bound=Callable[..., Any])

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


@dataclass(frozen=True)
class Connection:
    server: str
    token: str | None = None
    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def client(self) -> AgentClient:
        return AgentClient(self.server, tls=self._tls(), token=self.token)

    def _tls(self) -> Tls | bool:
        if (self.cert is None) != (self.key is None):
            raise click.UsageError(
                "--cert and --key go together (a client certificate and its key)"
            )
        if self.ca or self.cert:
            return Tls.from_files(
                ca=str(self.ca) if self.ca else None,
                cert=str(self.cert) if self.cert else None,
                key=str(self.key) if self.key else None,
            )
        return self.tls


def connection_options(function: F) -> F:
    """Adds --server, --token, --tls, --ca, --cert, --key; the command gets `connection`."""

    @functools.wraps(function)
    def with_connection(
        *args: Any,
        server: str,
        token: str | None,
        tls: bool,
        ca: Path | None,
        cert: Path | None,
        key: Path | None,
        **kwargs: Any,
    ) -> Any:
        connection = Connection(server, token or None, tls, ca, cert, key)
        return function(*args, connection=connection, **kwargs)

    decorators = [
        click.option(
            "--server",
            envvar="AGENTSTREAM_SERVER",
            default=DEFAULT_SERVER,
            show_default=True,
            show_envvar=True,
            metavar="HOST:PORT",
            help="The agentstream server to talk to.",
        ),
        click.option(
            "--token",
            envvar="AGENTSTREAM_TOKEN",
            show_envvar=True,
            help="Bearer token (an API key or a JWT) for a server with authentication.",
        ),
        click.option(
            "--tls",
            is_flag=True,
            envvar="AGENTSTREAM_TLS",
            show_envvar=True,
            help="Connect over TLS, trusting the system's roots (implied by --ca, --cert).",
        ),
        click.option(
            "--ca",
            type=_FILE,
            envvar="AGENTSTREAM_CA",
            show_envvar=True,
            help="CA certificate (PEM) to trust for the server's certificate.",
        ),
        click.option(
            "--cert",
            type=_FILE,
            envvar="AGENTSTREAM_CERT",
            show_envvar=True,
            help="Client certificate (PEM), for a server that asks for one (mTLS).",
        ),
        click.option(
            "--key",
            type=_FILE,
            envvar="AGENTSTREAM_KEY",
            show_envvar=True,
            help="The client certificate's private key (PEM).",
        ),
    ]
    wrapped: Any = with_connection
    for decorate in reversed(decorators):
        wrapped = decorate(wrapped)
    return wrapped  # type: ignore[no-any-return]


def json_option(what: str) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        return click.option("--json", "as_json", is_flag=True, help=f"Print {what}.")(function)

    return decorate
