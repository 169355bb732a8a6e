"""Spans of one run, as layers around the loop's two outside edges.

`invoke_agent {agent}` covers the run. `TracedProvider` wraps the run's model
provider, so each model call is a `chat {model}` span; `TracedHooks` wraps the
run's hooks, so each tool call, between its `tool_call` and `tool_result` hooks,
is an `execute_tool {tool}` span, whether the server or a hooks client runs it.
Every span gets its parent explicitly from the run, never from whatever context
happens to be current, so concurrent runs cannot adopt each other's spans. The
loop (core/) knows nothing of this.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import Status, StatusCode

from ..core.errors import AgentError
from ..core.events import ReasoningDelta, TextDelta, ToolCallDelta, ToolProgress, TurnFinished
from ..core.hooks import RunHooks
from ..core.messages import Message, ToolCall, ToolResult
from ..core.model import ModelProvider, ModelRequest
from ..core.turn import TurnBuilder
from . import content
from . import names as n

if TYPE_CHECKING:
    from .run import RunObservation


def error_type(error: BaseException) -> str:
    """A low-cardinality `error.type`: our error code, or the exception's class."""
    if isinstance(error, AgentError):
        return error.code.value
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    return type(error).__qualname__


def end_span(span: trace.Span, error: str | None, description: str = "") -> None:
    if error is not None:
        span.set_attribute(n.ERROR_TYPE, error)
        span.set_status(Status(StatusCode.ERROR, description or error))
    span.end()


class TracedProvider:
    """The run's model provider, one `chat` span per call."""

    def __init__(self, inner: ModelProvider, run: RunObservation) -> None:
        self.name = inner.name
        self._inner = inner
        self._run = run

    def stream(self, request: ModelRequest) -> AsyncGenerator[Any, None]:
        return self._stream(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _stream(self, request: ModelRequest) -> AsyncGenerator[Any, None]:
        run = self._run
        span = run.start_chat(request)
        span_context = trace.set_span_in_context(span, run.context)
        builder = TurnBuilder() if run.content else None
        started = time.perf_counter()
        first: float | None = None
        finished: TurnFinished | None = None
        error: str | None = None
        events = self._inner.stream(request)
        try:
            while True:
                if first is None:
                    # Until the first event the provider sends its request: instrumented
                    # HTTP clients then see the chat span as their parent.
                    token = otel_context.attach(span_context)
                    try:
                        event = await anext(events)
                    finally:
                        otel_context.detach(token)
                    first = time.perf_counter() - started
                else:
                    event = await anext(events)
                if type(event) is TurnFinished:
                    finished = event
                elif builder is not None:
                    builder.add(event)
                yield event
        except StopAsyncIteration:
            if finished is None:
                error = "incomplete_stream"
        except BaseException as e:
            error = error_type(e)
            raise
        finally:
            await events.aclose()
            run.end_chat(span, request, started, first, finished, builder, error)


@dataclass(slots=True)
class _OpenTool:
    span: trace.Span
    name: str
    started: float
    side: str
    task: asyncio.Task[Any] | None
    token: object


class TracedHooks:
    """The run's hooks, one `execute_tool` span per tool call."""

    def __init__(self, inner: RunHooks, run: RunObservation) -> None:
        self._inner = inner
        self._run = run
        self._open: dict[tuple[int, str], _OpenTool] = {}

    @property
    def wants_deltas(self) -> bool:
        return self._inner.wants_deltas

    @wants_deltas.setter
    def wants_deltas(self, value: bool) -> None:
        self._inner.wants_deltas = value

    async def start(self) -> None:
        await self._inner.start()

    async def completion_call(self, turn: int, messages: list[Message]) -> None:
        await self._inner.completion_call(turn, messages)

    async def delta(self, turn: int, event: TextDelta | ReasoningDelta | ToolCallDelta) -> None:
        await self._inner.delta(turn, event)

    async def completion_finished(self, turn: int, finished: TurnFinished, text: str) -> None:
        await self._inner.completion_finished(turn, finished, text)

    async def tool_call(self, turn: int, call: ToolCall, execute: bool) -> ToolResult | None:
        side = "client" if execute else "server"
        span = self._run.start_tool(turn, call, side)
        # Current until `tool_result`, in this call's own task: the hooks event carries
        # this span's context, and a server tool's own spans become its children.
        token = otel_context.attach(trace.set_span_in_context(span, self._run.context))
        self._open[(turn, call.id)] = _OpenTool(
            span, call.name, time.perf_counter(), side, asyncio.current_task(), token
        )
        try:
            return await self._inner.tool_call(turn, call, execute)
        except BaseException as e:
            self._end_tool(turn, call, None, error_type(e))
            raise

    async def tool_progress(self, turn: int, progress: ToolProgress) -> None:
        await self._inner.tool_progress(turn, progress)

    async def tool_result(self, turn: int, call: ToolCall, result: ToolResult) -> None:
        try:
            await self._inner.tool_result(turn, call, result)
        finally:
            self._end_tool(turn, call, result, None)

    def end_open_tools(self, error: str) -> None:
        """Ends the spans of calls the run left unfinished (cancelled, failed)."""
        for turn, call_id in list(self._open):
            self._end_tool(turn, ToolCall(call_id, "", ""), None, error)

    def _end_tool(
        self, turn: int, call: ToolCall, result: ToolResult | None, error: str | None
    ) -> None:
        tool = self._open.pop((turn, call.id), None)
        if tool is None:
            return
        if tool.task is asyncio.current_task():
            otel_context.detach(tool.token)  # type: ignore[arg-type]
        if result is not None:
            tool.span.set_attribute(n.TOOL_IS_ERROR, result.is_error)
            if self._run.content:
                tool.span.set_attribute(n.TOOL_RESULT, result.content)
            if result.is_error:
                error = "tool_error"
        seconds = time.perf_counter() - tool.started
        self._run.end_tool(tool.span, tool.name, tool.side, seconds, error)


def current_trace_context() -> dict[str, str]:
    """The W3C headers (`traceparent`, `tracestate`) of the current span."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def span_trace_context(span: trace.Span) -> dict[str, str]:
    carrier: dict[str, str] = {}
    inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def chat_attributes(request: ModelRequest, provider: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        n.OPERATION: n.CHAT,
        n.PROVIDER: provider,
        n.REQUEST_MODEL: request.model,
        n.REQUEST_STREAM: True,
    }
    if request.temperature is not None:
        attributes[n.REQUEST_TEMPERATURE] = request.temperature
    if request.max_tokens is not None:
        attributes[n.REQUEST_MAX_TOKENS] = request.max_tokens
    return attributes


def output_message(builder: TurnBuilder | None, finished: TurnFinished | None) -> str | None:
    if builder is None or finished is None:
        return None
    return content.output_json(builder.message(), finished.finish_reason)
