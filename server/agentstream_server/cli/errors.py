"""Exit codes, and the one-line messages for calls that never reached a run."""

from __future__ import annotations

from enum import IntEnum
from typing import NoReturn

import click
import grpc
from rich.console import Console
from rich.text import Text


class Exit(IntEnum):
    OK = 0
    RUN_FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    # What shells report for a process ended by Ctrl-C (128 + SIGINT).
    INTERRUPTED = 130


# The server never got to run anything: no route, no TLS session, or no principal.
_CONNECTION_PROBLEMS = {
    grpc.StatusCode.UNAVAILABLE: "cannot reach the agentstream server at {target}",
    grpc.StatusCode.UNAUTHENTICATED: "the agentstream server at {target} refused our credentials",
    grpc.StatusCode.PERMISSION_DENIED: "the agentstream server at {target} refused this call",
}


def connection_problem(code: grpc.StatusCode, details: str, target: str) -> str | None:
    """The one line to print when a call failed before any run existed, else None."""
    template = _CONNECTION_PROBLEMS.get(code)
    if template is None:
        return None
    return f"{template.format(target=target)}: {_first_line(details)}"


def call_failed(code: grpc.StatusCode, details: str, target: str) -> NoReturn:
    """Ends the command for a unary or hooks call that failed (never with a traceback)."""
    problem = connection_problem(code, details, target)
    if problem is not None:
        fail(problem, Exit.UNREACHABLE)
    fail(f"{code.name}: {_first_line(details)}", Exit.RUN_FAILED)


def fail(message: str, code: Exit) -> NoReturn:
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        Text(f"agentstream: {message}", style="red")
    )
    raise click.exceptions.Exit(int(code))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "(no details)"
