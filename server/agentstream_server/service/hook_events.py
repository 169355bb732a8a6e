"""The `HookEvent`s a hooks session sends, built straight into the message that carries
them, and the turn's text behind `HookTextDelta.aggregated`.

Deltas are the hot path (one per token for a blocking client, one per flush window for
an observer), so their events are filled in place: no payload built apart and copied in.
"""

from __future__ import annotations

from agentstream.v1 import agent_pb2 as pb

from ..core.events import ToolProgress, TurnFinished
from ..core.messages import Message, ToolCall, ToolResult
from .convert import FINISH_REASONS_PB, history_pb, usage_pb


class TurnText:
    """One turn's text so far, for `aggregated`, kept up to `limit` characters.

    Every text event repeats the whole text so far, so a long answer would cost bytes
    quadratic in its length and memory without bound; past the limit `aggregated` is
    left empty (an observer that needs more keeps its own copy from the deltas). The
    text is joined once and extended as events are built, not joined again each time."""

    __slots__ = ("_joined", "_joined_upto", "_pieces", "_room", "count", "turn")

    def __init__(self, turn: int, limit: int) -> None:
        self.turn = turn
        self._room = limit  # characters still kept
        self._pieces: list[str] = []  # only while within the limit
        self.count = 0  # pieces added, kept or not: what an event marks as its text's end
        self._joined = ""
        self._joined_upto = 0

    def add(self, piece: str) -> None:
        self.count += 1
        self._room -= len(piece)
        if self._room >= 0:
            self._pieces.append(piece)

    def upto(self, count: int) -> str:
        """The text of the first `count` pieces; "" when they pass the limit."""
        if count > len(self._pieces):
            return ""
        if count < self._joined_upto:  # not expected: events are built in order
            return "".join(self._pieces[:count])
        if count > self._joined_upto:
            self._joined += "".join(self._pieces[self._joined_upto : count])
            self._joined_upto = count
        return self._joined


def new_event(
    run_id: str,
    event_id: str,
    turn: int,
    reply_expected: bool = False,
    trace_context: dict[str, str] | None = None,
) -> tuple[pb.HooksResponse, pb.HookEvent]:
    """An empty event in its response, for the caller to fill its payload in place."""
    response = pb.HooksResponse()
    event = response.event
    event.run_id = run_id
    event.event_id = event_id
    event.turn = turn
    if reply_expected:
        event.reply_expected = True
    if trace_context:
        event.trace_context.update(trace_context)
    return response, event


def fill_delta(
    event: pb.HookEvent,
    field: str,
    text: str,
    aggregated: str = "",
    call_id: str = "",
    name: str = "",
) -> None:
    """A text, reasoning or tool call delta (`field`), maybe several joined."""
    if field == "text_delta":
        payload = event.text_delta
        payload.SetInParent()
        payload.delta = text
        if aggregated:
            payload.aggregated = aggregated
    elif field == "reasoning_delta":
        event.reasoning_delta.SetInParent()
        event.reasoning_delta.delta = text
    else:
        call = event.tool_call_delta
        call.SetInParent()
        call.call_id = call_id
        call.name = name
        call.arguments_delta = text


def fill_completion_call(event: pb.HookEvent, messages: list[Message], max_bytes: int) -> None:
    payload = event.completion_call
    payload.SetInParent()
    payload.prompt = messages[-1].text if messages else ""
    payload.history.extend(history_pb(messages))
    if event.ByteSize() > max_bytes:  # said, not silently dropped: the client may keep a copy
        del payload.history[:]
        event.history_omitted = True


def fill_completion_finished(event: pb.HookEvent, finished: TurnFinished, text: str) -> None:
    payload = event.completion_finished
    payload.SetInParent()
    payload.usage.CopyFrom(usage_pb(finished.usage))
    payload.finish_reason = FINISH_REASONS_PB[finished.finish_reason]
    payload.text = text


def fill_tool_call(event: pb.HookEvent, call: ToolCall, execute: bool) -> None:
    payload = event.tool_call
    payload.SetInParent()
    payload.name = call.name
    payload.call_id = call.id
    payload.arguments = call.arguments
    payload.execute = execute


def fill_tool_progress(event: pb.HookEvent, progress: ToolProgress) -> None:
    payload = event.tool_progress
    payload.SetInParent()
    payload.name = progress.name
    payload.call_id = progress.id
    payload.message = progress.message
    if progress.fraction is not None:
        payload.fraction = progress.fraction


def fill_tool_result(event: pb.HookEvent, call: ToolCall, result: ToolResult) -> None:
    payload = event.tool_result
    payload.SetInParent()
    payload.name = call.name
    payload.call_id = call.id
    payload.arguments = call.arguments
    payload.result = result.content
    payload.is_error = result.is_error


def tool_answer(call: ToolCall, reply: pb.HookReply | None) -> ToolResult | None:
    """What a reply to a tool call means for the tool: None to run it as usual."""
    action = reply.WhichOneof("action") if reply is not None else "proceed"
    if reply is None or action == "proceed":
        return None
    if action == "skip":
        # The tool did not run; the model reads the client's reason as its result.
        return ToolResult(call.id, reply.skip.reason, True, call.name, call.call_id)
    output = reply.tool_output
    return ToolResult(call.id, output.content, output.is_error, call.name, call.call_id)
