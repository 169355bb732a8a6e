"""Run events to StreamPromptResponse messages: the per-token hot path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentstream.v1 import agent_pb2 as pb

from ..core.events import (
    FinalResponse,
    ReasoningDelta,
    RunEvent,
    RunFailed,
    RunStarted,
    TextDelta,
    ToolCallDelta,
    ToolProgress,
    TurnFinished,
)
from ..core.messages import ToolCall, ToolResult
from .convert import (
    ERROR_CODES_PB,
    FINISH_REASONS_PB,
    history_pb,
    tool_call_pb,
    tool_result_pb,
    usage_pb,
)

Response = pb.StreamPromptResponse


def event_pb(event: RunEvent, run_id: str, seq: int, turn: int) -> pb.StreamPromptResponse:
    # Deltas are nearly every message of a run: tested for first, and their field set in
    # place (half the cost of building a TextDelta and copying it in).
    kind = type(event)
    if kind is TextDelta:
        message = Response(run_id=run_id, seq=seq, turn=turn)
        message.text_delta.text = event.text  # type: ignore[union-attr]
        return message
    if kind is ReasoningDelta:
        message = Response(run_id=run_id, seq=seq, turn=turn)
        message.reasoning_delta.text = event.text  # type: ignore[union-attr]
        return message
    field, value = _RARE[kind](event)
    return Response(run_id=run_id, seq=seq, turn=turn, **{field: value})


def _run_started(e: RunStarted) -> tuple[str, Any]:
    return "run_started", pb.RunStarted(
        agent=e.agent, model=e.model, max_turns=e.max_turns, provider=e.provider
    )


def _tool_call_delta(e: ToolCallDelta) -> tuple[str, Any]:
    return "tool_call_delta", pb.ToolCallDelta(
        id=e.id, name=e.name, arguments_delta=e.arguments_delta
    )


def _tool_progress(e: ToolProgress) -> tuple[str, Any]:
    progress = pb.ToolProgress(id=e.id, name=e.name, message=e.message)
    if e.fraction is not None:
        progress.fraction = e.fraction
    return "tool_progress", progress


def _turn_finished(e: TurnFinished) -> tuple[str, Any]:
    return "turn_finished", pb.TurnFinished(
        usage=usage_pb(e.usage),
        finish_reason=FINISH_REASONS_PB[e.finish_reason],
        response_id=e.response_id,
        model=e.model,
    )


def _final_response(e: FinalResponse) -> tuple[str, Any]:
    return "final_response", pb.FinalResponse(
        text=e.text, usage=usage_pb(e.usage), turns=e.turns, history=history_pb(e.history)
    )


def _run_failed(e: RunFailed) -> tuple[str, Any]:
    return "error", run_error_pb(e)


def run_error_pb(e: RunFailed) -> pb.RunError:
    return pb.RunError(
        code=ERROR_CODES_PB[e.error.code],
        message=e.error.message,
        retryable=e.error.retryable,
        history=history_pb(e.history),
    )


_RARE: dict[type, Callable[[Any], tuple[str, Any]]] = {
    RunStarted: _run_started,
    ToolCallDelta: _tool_call_delta,
    ToolCall: lambda e: ("tool_call", tool_call_pb(e)),
    ToolResult: lambda e: ("tool_result", tool_result_pb(e)),
    ToolProgress: _tool_progress,
    TurnFinished: _turn_finished,
    FinalResponse: _final_response,
    RunFailed: _run_failed,
}
