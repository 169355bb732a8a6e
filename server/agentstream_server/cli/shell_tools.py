"""`--tool NAME=COMMAND`: client tools served by shell commands.

The model's arguments go to the command's stdin as a JSON object; its stdout is the result.
A non-zero exit becomes an `is_error` result with the exit status and the end of stderr, which
the model reads on its next turn. The command runs with `sh -c` in the current directory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import click
from agentstream import ClientTool

_ANY_OBJECT: dict[str, Any] = {"type": "object"}
# The end of stderr worth showing the model when a command fails.
_STDERR_TAIL = 2000


class CommandFailed(Exception):
    pass


def client_tools(specs: Iterable[str], schemas: Iterable[str]) -> list[ClientTool]:
    commands = dict(_pair(spec, "--tool", "NAME=COMMAND") for spec in specs)
    parameters: dict[str, dict[str, Any]] = {}
    for spec in schemas:
        name, text = _pair(spec, "--tool-schema", "NAME=JSON_SCHEMA")
        if name not in commands:
            raise click.BadParameter(f"{name}: no --tool of that name", param_hint="--tool-schema")
        parameters[name] = _schema(name, text)
    return [
        ClientTool(
            name,
            f"Runs a local command; arguments arrive as JSON on its stdin: {command}",
            parameters.get(name, _ANY_OBJECT),
            _runner(command),
        )
        for name, command in commands.items()
    ]


def _runner(command: str) -> Any:
    async def run(arguments: dict[str, Any]) -> str:
        return await run_command(command, json.dumps(arguments))

    return run


async def run_command(command: str, stdin: str) -> str:
    process = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await process.communicate(stdin.encode())
    except asyncio.CancelledError:  # the run was cancelled: the command must not outlive it
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip()[-_STDERR_TAIL:]
        raise CommandFailed(f"exit status {process.returncode}" + (f": {tail}" if tail else ""))
    return out.decode(errors="replace").removesuffix("\n")


def _pair(spec: str, option: str, shape: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise click.BadParameter(f"{spec!r}: expected {shape}", param_hint=option)
    return name.strip(), value


def _schema(name: str, text: str) -> dict[str, Any]:
    try:
        schema = json.loads(text)
    except ValueError as e:
        raise click.BadParameter(f"{name}: not JSON: {e}", param_hint="--tool-schema") from None
    if not isinstance(schema, dict):
        raise click.BadParameter(f"{name}: expected a JSON object", param_hint="--tool-schema")
    return schema
