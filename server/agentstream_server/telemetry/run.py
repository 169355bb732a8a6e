"""The telemetry of one run: its `invoke_agent` span, the layers that add the
`chat` and `execute_tool` spans, and the run's metrics."""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind

from ..core.driver import RunSpec
from ..core.errors import ErrorCode
from ..core.events import FinalResponse, RunFailed, TurnFinished
from ..core.messages import ToolCall
from ..core.model import ModelRequest
from ..core.turn import TurnBuilder
from . import content
from . import names as n
from .spans import (
    TracedHooks,
    TracedProvider,
    chat_attributes,
    current_trace_context,
    end_span,
    output_message,
    span_trace_context,
)

if TYPE_CHECKING:
    from .otel import Telemetry


class Call(Protocol):
    """What a run's telemetry reads of its gRPC call (a `grpc.aio.ServicerContext`)."""

    def invocation_metadata(self) -> Iterable[Any] | None: ...

    def time_remaining(self) -> float | None: ...


class RunObservation:
    """Created when a run is built; `with` it around the run, then `finished` or
    `abandoned` once."""

    def __init__(self, telemetry: Telemetry, spec: RunSpec, provider_kind: str, call: Call):
        self._telemetry = telemetry
        self.content = telemetry.content
        self.provider_name = n.PROVIDER_NAMES.get(provider_kind, provider_kind)
        self._agent_attributes = {n.AGENT_NAME: spec.agent}
        # Under the gRPC server span when there is one; otherwise the caller's
        # `traceparent` metadata, if any, is the parent.
        self._server_span = trace.get_current_span()
        self._call = call
        has_server_span = self._server_span.get_span_context().is_valid
        parent = None if has_server_span else _extract(call.invocation_metadata() or ())
        self.span = telemetry.tracer.start_span(
            f"{n.INVOKE_AGENT} {spec.agent}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes={
                n.OPERATION: n.INVOKE_AGENT,
                n.PROVIDER: self.provider_name,
                n.AGENT_NAME: spec.agent,
                n.REQUEST_MODEL: spec.request.model,
                n.RUN_ID: spec.run_id,
            },
        )
        if self.content and spec.request.preamble:
            self.span.set_attribute(
                n.SYSTEM_INSTRUCTIONS, content.instructions_json(spec.request.preamble)
            )
        self.context = trace.set_span_in_context(self.span, parent)
        self.run_trace_context = span_trace_context(self.span)
        self._hooks = TracedHooks(spec.hooks, self)
        spec.hooks = self._hooks
        spec.provider = TracedProvider(spec.provider, self)
        self._started = time.perf_counter()
        self._token: object = None
        self._ended = False
        telemetry.metrics.runs_started.add(1, self._agent_attributes)
        telemetry.metrics.runs_active.add(1, self._agent_attributes)

    def bind_hooks(self, session: Any) -> None:
        """Lets the run's hooks session stamp each event with its span's context and
        report how long the client took to reply."""
        session.trace_context = current_trace_context
        session.run_trace_context = self.run_trace_context
        session.reply_observer = self._hook_replied

    def __enter__(self) -> RunObservation:
        self._token = otel_context.attach(self.context)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]

    # --- the run's end -------------------------------------------------------------------

    def finished(self, outcome: FinalResponse | RunFailed, turns: int) -> None:
        if isinstance(outcome, FinalResponse):
            self._end("completed", None, turns)
            return
        code = outcome.error.code
        kind = "cancelled" if code is ErrorCode.CANCELLED else "failed"
        self._end(kind, code.value, turns)

    def abandoned(self, turns: int) -> None:
        """The caller went away or its deadline passed: the handler was cancelled."""
        remaining = self._call.time_remaining()
        deadline_passed = remaining is not None and remaining <= 0
        error = "deadline_exceeded" if deadline_passed else "cancelled"
        # The gRPC instrumentation leaves a cancelled streaming call's span at status
        # code 0 (OK); record what the caller actually got.
        if self._server_span.is_recording():
            self._server_span.set_attribute(n.RPC_GRPC_STATUS_CODE, 4 if deadline_passed else 1)
            if deadline_passed:
                self._server_span.set_status(
                    trace.Status(trace.StatusCode.ERROR, "DEADLINE_EXCEEDED")
                )
        self._end("abandoned", error, turns)

    def _end(self, outcome: str, error: str | None, turns: int) -> None:
        if self._ended:
            return
        self._ended = True
        self._hooks.end_open_tools(error or "cancelled")
        self.span.set_attribute(n.RUN_OUTCOME, outcome)
        self.span.set_attribute(n.RUN_TURNS, turns)
        # Status descriptions are error codes, never messages: those may quote content.
        end_span(self.span, error, error or "")
        metrics = self._telemetry.metrics
        attributes = {**self._agent_attributes, n.RUN_OUTCOME: outcome}
        if error is not None:
            attributes[n.ERROR_TYPE] = error
        metrics.runs_finished.add(1, attributes)
        metrics.runs_active.add(-1, self._agent_attributes)
        metrics.run_turns.record(turns, self._agent_attributes)

    # --- chat and tool spans ------------------------------------------------------------

    def start_chat(self, request: ModelRequest) -> trace.Span:
        span = self._telemetry.tracer.start_span(
            f"{n.CHAT} {request.model}",
            context=self.context,
            kind=SpanKind.CLIENT,
            attributes=chat_attributes(request, self.provider_name),
        )
        if self.content:
            span.set_attribute(n.INPUT_MESSAGES, content.messages_json(request.messages))
        return span

    def end_chat(
        self,
        span: trace.Span,
        request: ModelRequest,
        started: float,
        first: float | None,
        finished: TurnFinished | None,
        builder: TurnBuilder | None,
        error: str | None,
    ) -> None:
        metrics = self._telemetry.metrics
        attributes: dict[str, Any] = {
            n.OPERATION: n.CHAT,
            n.PROVIDER: self.provider_name,
            n.REQUEST_MODEL: request.model,
        }
        if first is not None:
            span.set_attribute(n.TIME_TO_FIRST_CHUNK, first)
            metrics.time_to_first_chunk.record(first, attributes)
        if finished is not None:
            usage = finished.usage
            if finished.model:
                attributes[n.RESPONSE_MODEL] = finished.model
            span.set_attributes(
                {
                    n.RESPONSE_MODEL: finished.model,
                    n.RESPONSE_ID: finished.response_id,
                    n.FINISH_REASONS: [finished.finish_reason.value],
                    n.INPUT_TOKENS: usage.input_tokens,
                    n.OUTPUT_TOKENS: usage.output_tokens,
                }
            )
            if usage.cache_read_input_tokens:
                span.set_attribute(n.CACHE_READ_TOKENS, usage.cache_read_input_tokens)
            if usage.cache_creation_input_tokens:
                span.set_attribute(n.CACHE_CREATION_TOKENS, usage.cache_creation_input_tokens)
            if usage.reasoning_tokens:
                span.set_attribute(n.REASONING_TOKENS, usage.reasoning_tokens)
            metrics.record_usage(usage, attributes)
            output = output_message(builder, finished)
            if output is not None:
                span.set_attribute(n.OUTPUT_MESSAGES, output)
        if error is not None:
            attributes[n.ERROR_TYPE] = error
        metrics.operation_duration.record(time.perf_counter() - started, attributes)
        end_span(span, error)

    def start_tool(self, turn: int, call: ToolCall, side: str) -> trace.Span:
        span = self._telemetry.tracer.start_span(
            f"{n.EXECUTE_TOOL} {call.name}",
            context=self.context,
            kind=SpanKind.INTERNAL,
            attributes={
                n.OPERATION: n.EXECUTE_TOOL,
                n.TOOL_NAME: call.name,
                n.TOOL_CALL_ID: call.id,
                n.TOOL_TYPE: "function",
                n.TOOL_SIDE: side,
                n.TURN: turn,
            },
        )
        if self.content:
            span.set_attribute(n.TOOL_ARGUMENTS, call.arguments)
        return span

    def end_tool(
        self, span: trace.Span, name: str, side: str, seconds: float, error: str | None
    ) -> None:
        attributes: dict[str, Any] = {
            n.OPERATION: n.EXECUTE_TOOL,
            n.TOOL_NAME: name,
            n.TOOL_SIDE: side,
        }
        if error is not None:
            attributes[n.ERROR_TYPE] = error
        self._telemetry.metrics.tool_duration.record(seconds, attributes)
        end_span(span, error)

    def _hook_replied(self, event: str, seconds: float) -> None:
        self._telemetry.metrics.hook_round_trip.record(
            seconds, {**self._agent_attributes, n.HOOK_EVENT: event}
        )


def _extract(metadata: Iterable[Any]) -> otel_context.Context:
    carrier: dict[str, str] = {}
    for item in metadata:
        key, value = (item.key, item.value) if hasattr(item, "key") else item
        if isinstance(value, str):
            carrier[key] = value
    return extract(carrier)
