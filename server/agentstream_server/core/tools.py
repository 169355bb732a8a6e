"""Tools the loop can run, and how one call becomes exactly one result."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .messages import ToolCall, ToolResult
from .model import ToolSpec

ToolFunction = Callable[[dict[str, Any]], Awaitable[str]]


class ToolError(Exception):
    """Raised by a tool to report a failure the model should read."""


@dataclass(slots=True, frozen=True)
class Tool:
    """A server-side tool: its spec and the async function that runs it."""

    spec: ToolSpec
    function: ToolFunction

    @property
    def name(self) -> str:
        return self.spec.name


def tool(name: str, description: str, parameters: dict[str, Any]) -> Callable[[ToolFunction], Tool]:
    """Decorator turning an async function of the parsed arguments into a `Tool`."""

    def wrap(function: ToolFunction) -> Tool:
        return Tool(ToolSpec(name, description, parameters), function)

    return wrap


def error_result(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call.id, message, is_error=True, name=call.name, call_id=call.call_id)


def ok_result(call: ToolCall, content: str) -> ToolResult:
    return ToolResult(call.id, content, name=call.name, call_id=call.call_id)


def parse_arguments(call: ToolCall) -> dict[str, Any]:
    """The call's arguments as an object; an empty string is `{}`."""
    if not call.arguments.strip():
        return {}
    try:
        value = json.loads(call.arguments)
    except json.JSONDecodeError as e:
        raise ToolError(f"arguments are not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ToolError("arguments must be a JSON object")
    return value


async def run_server_tool(tool: Tool, call: ToolCall) -> ToolResult:
    """Never raises for a tool's own failure: the model reads it as an error result."""
    try:
        content = await tool.function(parse_arguments(call))
    except ToolError as e:
        return error_result(call, str(e))
    except Exception as e:  # a tool's bug must not end the run (loop rule 4)
        return error_result(call, f"tool {call.name!r} failed: {type(e).__name__}: {e}")
    return ok_result(call, content)
