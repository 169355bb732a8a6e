"""OpenTelemetry in the helper, used only when the `opentelemetry-api` package is
installed in this process; the helper never needs it.

A client tool runs in a span that is the child of the server's `execute_tool`
span (the W3C context in the hooks event), and the calls the helper makes carry
the current trace context, so one trace covers both processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

try:
    from opentelemetry import propagate, trace
except ImportError:  # not installed: tracing is off
    propagate = None
    trace = None

_TRACER_NAME = "agentstream.client"


def outgoing_metadata() -> tuple[tuple[str, str], ...] | None:
    """`traceparent`/`tracestate` of the current span, for a call's metadata."""
    if propagate is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items()) or None


@contextlib.contextmanager
def tool_span(name: str, call_id: str, trace_context: Mapping[str, str]) -> Iterator[Any]:
    """The span of one client tool call, under the server span of its hooks event."""
    if trace is None or propagate is None:
        yield None
        return
    parent = propagate.extract(dict(trace_context)) if trace_context else None
    tracer = trace.get_tracer(_TRACER_NAME)
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function",
        "agentstream.tool.side": "client",
    }
    with tracer.start_as_current_span(
        f"execute_tool {name}",
        context=parent,
        kind=trace.SpanKind.INTERNAL,
        attributes=attributes,
    ) as span:
        yield span


def mark_error(span: Any, error_type: str) -> None:
    if span is None or trace is None:
        return
    span.set_attribute("error.type", error_type)
    span.set_status(trace.Status(trace.StatusCode.ERROR, error_type))
