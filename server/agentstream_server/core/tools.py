"""Tools the loop can run, and how one call becomes exactly one result.

`tool` is the public decorator (re-exported by `agentstream_server.tools`): it
turns a function of the parsed arguments, sync or async, optionally taking a
`ToolContext` second, into a `Tool`. Sync functions run in a worker thread, so
a blocking tool never stalls other runs.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, overload

from .arguments import ArgumentSchema, InvalidArguments, schema_problem
from .messages import ToolCall, ToolResult
from .model import ToolSpec
from .progress import Deliver

# What the loop calls: the checked arguments and the call's context, to the result text.
Invoke = Callable[[dict[str, Any], "ToolContext"], Awaitable[str]]
EMPTY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


class ToolError(Exception):
    """Raised by a tool to report a failure the model should read."""


class ToolSource(Enum):
    BUILTIN = "builtin"
    PYTHON = "python"
    MCP = "mcp"
    CLIENT = "client"


class ToolContext:
    """What a running tool may use besides its arguments. A tool gets it as its second
    parameter when it declares one."""

    __slots__ = ("_report", "call_id", "tool_name")

    def __init__(self, call_id: str, tool_name: str, report: Deliver | None = None) -> None:
        self.call_id = call_id
        self.tool_name = tool_name
        self._report = report

    def progress(self, message: str, fraction: float | None = None) -> None:
        """Tells the caller how far the tool has got (`fraction` 0..1 when known). Safe
        from any thread and never blocks; reports are rate-limited per call, the latest
        one kept."""
        if self._report is not None:
            self._report(message, fraction)


@dataclass(slots=True, frozen=True)
class Tool:
    """A server-side tool: its spec, how to run it, and where it comes from."""

    spec: ToolSpec
    invoke: Invoke
    source: ToolSource = ToolSource.PYTHON
    origin: str = ""  # the import path, or the MCP server's name
    timeout_s: float | None = None  # None: the agent's tool_timeout_s
    arguments: ArgumentSchema = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = schema_problem(self.spec.parameters)
        if problem is not None:
            raise ValueError(f"tool {self.spec.name!r}: parameters: {problem}")
        object.__setattr__(self, "arguments", ArgumentSchema(self.spec.parameters))

    @property
    def name(self) -> str:
        return self.spec.name


ToolFunction = Callable[..., Any]


@overload
def tool(name: ToolFunction, /) -> Tool: ...


@overload
def tool(
    name: str | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
    *,
    timeout_s: float | None = None,
) -> Callable[[ToolFunction], Tool]: ...


def tool(
    name: str | ToolFunction | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
    *,
    timeout_s: float | None = None,
) -> Tool | Callable[[ToolFunction], Tool]:
    """Makes a function a tool: `@tool("name", "what it does", {json schema}, timeout_s=5)`,
    or bare `@tool` (name and description from the function and its docstring).

    The function takes the arguments as a dict (already checked against `parameters`)
    and, if it declares a second parameter, a `ToolContext`; it returns text (other
    values are sent as JSON) or raises `ToolError` with a message for the model.
    """
    if callable(name):
        return tool()(name)
    if timeout_s is not None and timeout_s <= 0:
        raise ValueError("timeout_s must be positive")

    def wrap(function: ToolFunction) -> Tool:
        spec = ToolSpec(
            name or function.__name__,
            description if description is not None else inspect.getdoc(function) or "",
            parameters if parameters is not None else EMPTY_OBJECT,
        )
        return Tool(spec, _invoker(function), ToolSource.PYTHON, timeout_s=timeout_s)

    return wrap


def _invoker(function: ToolFunction) -> Invoke:
    takes_context = _positional_count(function) >= 2
    if inspect.iscoroutinefunction(function):

        async def call_async(arguments: dict[str, Any], context: ToolContext) -> str:
            value = await (function(arguments, context) if takes_context else function(arguments))
            return _as_text(value)

        return call_async

    async def call_in_thread(arguments: dict[str, Any], context: ToolContext) -> str:
        extra = (context,) if takes_context else ()
        return _as_text(await asyncio.to_thread(function, arguments, *extra))

    return call_in_thread


def _positional_count(function: ToolFunction) -> int:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = inspect.signature(function).parameters.values()
    return sum(1 for p in parameters if p.kind in kinds)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        raise ToolError(f"returned a {type(value).__name__}, not text or JSON") from None


def error_result(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call.id, message, is_error=True, name=call.name, call_id=call.call_id)


def ok_result(call: ToolCall, content: str) -> ToolResult:
    return ToolResult(call.id, content, name=call.name, call_id=call.call_id)


def check_arguments(schema: ArgumentSchema, call: ToolCall) -> dict[str, Any] | ToolResult:
    """The call's checked arguments, or the error result the model reads instead."""
    try:
        return schema.parse(call.arguments)
    except InvalidArguments as e:
        return error_result(call, f"tool {call.name!r} not run: {e}")


async def run_server_tool(
    tool: Tool, call: ToolCall, arguments: dict[str, Any], context: ToolContext, timeout_s: float
) -> ToolResult:
    """Never raises for a tool's own failure: the model reads it as an error result."""
    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            content = await tool.invoke(arguments, context)
    except ToolError as e:
        return error_result(call, str(e))
    except TimeoutError as e:
        if not deadline.expired():  # the tool's own timeout, not ours
            return error_result(call, f"tool {call.name!r} failed: TimeoutError: {e}")
        return error_result(call, f"tool {call.name!r} timed out after {timeout_s:g} s (timeout_s)")
    except Exception as e:  # a tool's bug must not end the run (loop rule 4)
        return error_result(call, f"tool {call.name!r} failed: {type(e).__name__}: {e}")
    return ok_result(call, content)
