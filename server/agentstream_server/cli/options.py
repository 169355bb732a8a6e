"""Options shared by the commands that talk to a server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .settings import DEFAULT_SERVER

F = TypeVar("F", bound=Callable[..., Any])


def server_option(function: F) -> F:
    return click.option(
        "--server",
        envvar="AGENTSTREAM_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        show_envvar=True,
        metavar="HOST:PORT",
        help="The agentstream server to talk to.",
    )(function)


def json_option(what: str) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        return click.option("--json", "as_json", is_flag=True, help=f"Print {what}.")(function)

    return decorate
