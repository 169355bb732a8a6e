"""The remote form of the loop's hooks: a client process attached over the Hooks RPC.

A `HookSession` is the `RunHooks` of one run. It turns each hook point into a
`HookEvent` for the attached client and, for blocking events and client tool
calls, waits for the client's reply. Observe-only events go through a bounded
`Outbox` (hook_outbox.py) that merges deltas, so an observer never holds up the
run or grows memory without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from agentstream.v1 import agent_pb2 as pb

from ..core.errors import AgentError, HooksFailed, RunCancelled, quote
from ..core.events import ReasoningDelta, TextDelta, ToolCallDelta, ToolProgress, TurnFinished
from ..core.messages import Message, ToolCall, ToolResult
from ..core.progress import check_fraction
from ..core.tools import error_result
from .hook_events import (
    TurnText,
    fill_completion_call,
    fill_completion_finished,
    fill_delta,
    fill_tool_call,
    fill_tool_progress,
    fill_tool_result,
    new_event,
    tool_answer,
)
from .hook_outbox import DeltaRun, Outbox
from .hook_replies import (
    CLIENT_TOOL_ACTIONS,
    OBSERVE_ACTIONS,
    SERVER_TOOL_ACTIONS,
    Pending,
    Replies,
    ReplyTimeout,
)

ALL_KINDS = frozenset(pb.HookEventKind.values()) - {pb.HOOK_EVENT_KIND_UNSPECIFIED}
DELTA_KINDS = frozenset(
    {
        pb.HOOK_EVENT_KIND_TEXT_DELTA,
        pb.HOOK_EVENT_KIND_REASONING_DELTA,
        pb.HOOK_EVENT_KIND_TOOL_CALL_DELTA,
    }
)

# Reports a running client tool's progress: (call id, message, fraction).
ReportProgress = Callable[[str, str, float | None], None]


@dataclass(slots=True, frozen=True)
class HookSettings:
    wait_for_client: bool
    attach_timeout_s: float
    reply_timeout_s: float
    buffer_events: int
    observer_flush_s: float
    # An event larger than this could not be sent (limits.max_response_bytes).
    max_event_bytes: int = 16 << 20
    # A turn's text longer than this leaves `aggregated` empty (limits.max_hook_aggregated_chars).
    max_aggregated_chars: int = 32 * 1024


class AlreadyAttached(Exception):
    pass


class HookSession:
    """The hooks of one run, whether or not a client ever attaches."""

    def __init__(self, run_id: str, settings: HookSettings, client_tools: frozenset[str]) -> None:
        self.run_id = run_id
        self.settings = settings
        self.client_tools = client_tools
        # True while the attached client takes some kind of delta: otherwise no token
        # costs the run a call here (a cancel still stops it: see `interrupt`).
        self.wants_deltas = False
        self._outbox: Outbox | None = None
        self._events: frozenset[int] = frozenset()
        self._blocking: frozenset[int] = frozenset()
        self._attached = asyncio.Event()
        self._replies = Replies()
        self._cancel_reason: str | None = None
        self._stopped: AgentError | None = None
        self._aggregated_text = True
        self._turn_text: TurnText | None = None  # for `aggregated`, while it is wanted
        # Set by whoever runs the loop, so a cancel does not wait for the next step.
        self.interrupt: Callable[[AgentError], None] | None = None
        self.report_progress: ReportProgress | None = None
        # Set when telemetry is on: the W3C context of the current span (stamped on each
        # event), the run's own (for deltas, built in the Hooks stream's task), and
        # where to report how long the client took to reply.
        self.trace_context: Callable[[], dict[str, str]] | None = None
        self.run_trace_context: dict[str, str] = {}
        self.reply_observer: Callable[[str, float], None] | None = None

    # --- the client's side ------------------------------------------------------------

    @property
    def needs_client(self) -> bool:
        return self.settings.wait_for_client or bool(self.client_tools)

    def attach(
        self, events: frozenset[int], blocking: frozenset[int], aggregated_text: bool = True
    ) -> Outbox:
        if self._outbox is not None:
            raise AlreadyAttached(self.run_id)
        self._outbox = Outbox(
            self.settings.buffer_events, self.settings.observer_flush_s, self._delta_event
        )
        self._events = events or ALL_KINDS
        self._blocking = blocking
        self._aggregated_text = aggregated_text
        self.wants_deltas = not self._events.isdisjoint(DELTA_KINDS)
        self._replies.reopen()
        self._attached.set()
        return self._outbox

    def detach(self, outbox: Outbox) -> None:
        """The client went away: waits that needed it fail now; observing just stops."""
        if self._outbox is not outbox:
            return
        self._outbox = None
        self.wants_deltas = False
        self._attached.clear()
        self._replies.close("the hooks client disconnected")

    def replies_ended(self) -> None:
        """The client closed its side of the stream: it may still read, but whatever
        waits for its reply now would wait in vain."""
        self._replies.close("the hooks client disconnected or closed its side of the stream")

    def reply(self, reply: pb.HookReply) -> str | None:
        """Applies a reply; returns why it was refused, leaving the run unharmed."""
        pending = self._replies.match(reply)
        if isinstance(pending, str):
            return pending
        if pending is None:
            self.cancel(reply.cancel.reason)
        elif reply.WhichOneof("action") == "tool_progress":
            return self._client_progress(pending, reply.tool_progress)
        elif not pending.future.done():
            pending.future.set_result(reply)
        return None

    def _client_progress(self, pending: Pending, progress: pb.HookProgress) -> str | None:
        """A client tool's progress: its call keeps waiting for `tool_output`."""
        fraction = progress.fraction if progress.HasField("fraction") else None
        problem = check_fraction(fraction)
        if problem is not None:
            return f"reply.tool_progress.{problem}"
        if self.report_progress is not None:
            self.report_progress(pending.call_id, progress.message, fraction)
        return None

    def cancel(self, reason: str) -> None:
        """Ends the run: at once while it waits on the model, its tools or this client,
        otherwise at its next step."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
            self.stop(RunCancelled(reason))
        else:
            self._replies.fail_all(RunCancelled(reason))

    def stop(self, error: AgentError) -> None:
        """Ends the run with `error` (shutdown, its time limit, a cancel), whatever it
        waits on: the model, its tools, a hooks client to attach or to reply."""
        if self._stopped is None:
            self._stopped = error
        if self.interrupt is not None:
            self.interrupt(error)
        self._replies.fail_all(error)
        self._attached.set()  # wakes a wait for the client; start() then raises

    def end(
        self,
        outcome: pb.RunOutcome.ValueType,
        error_code: pb.ErrorCode.ValueType = pb.ERROR_CODE_UNSPECIFIED,
        message: str = "",
    ) -> None:
        if self._outbox is not None:
            ended = pb.HookRunEnded(
                run_id=self.run_id, outcome=outcome, error_code=error_code, message=message
            )
            self._outbox.put(pb.HooksResponse(run_ended=ended))
            self._outbox.close()

    # --- the run's side (RunHooks) -------------------------------------------------------

    async def start(self) -> None:
        if self._stopped is not None:
            raise self._stopped
        if not self.needs_client or self._attached.is_set():
            return
        try:
            async with asyncio.timeout(self.settings.attach_timeout_s):
                await self._attached.wait()
        except TimeoutError:
            raise HooksFailed(
                f"no hooks client attached to run {quote(self.run_id)} within "
                f"{self.settings.attach_timeout_s * 1000:.0f} ms"
                + (" (the run has client tools)" if self.client_tools else "")
            ) from None
        if self._stopped is not None:
            raise self._stopped

    async def completion_call(self, turn: int, messages: list[Message]) -> None:
        self._check_cancelled()
        if self._subscribed(pb.HOOK_EVENT_KIND_COMPLETION_CALL):
            max_bytes = self.settings.max_event_bytes
            await self._send(
                turn,
                pb.HOOK_EVENT_KIND_COMPLETION_CALL,
                lambda event: fill_completion_call(event, messages, max_bytes),
            )

    async def delta(self, turn: int, event: TextDelta | ReasoningDelta | ToolCallDelta) -> None:
        self._check_cancelled()
        text = None
        call_id = name = ""
        if type(event) is TextDelta:
            kind, field, piece = pb.HOOK_EVENT_KIND_TEXT_DELTA, "text_delta", event.text
        elif type(event) is ReasoningDelta:
            kind, field, piece = pb.HOOK_EVENT_KIND_REASONING_DELTA, "reasoning_delta", event.text
        else:
            assert isinstance(event, ToolCallDelta)
            kind, field, piece = (
                pb.HOOK_EVENT_KIND_TOOL_CALL_DELTA,
                "tool_call_delta",
                event.arguments_delta,
            )
            call_id, name = event.id, event.name
        if not self._subscribed(kind):
            return
        if kind == pb.HOOK_EVENT_KIND_TEXT_DELTA and self._aggregated_text:
            text = self._turn_text
            if text is None or text.turn != turn:
                text = self._turn_text = TurnText(turn, self.settings.max_aggregated_chars)
            text.add(piece)
        outbox = self._outbox
        if kind not in self._blocking:
            if outbox is not None:
                outbox.put_delta(turn, field, piece, call_id=call_id, name=name, turn_text=text)
            return
        response, hook_event = self._event(turn, blocking=True)
        aggregated = text.upto(text.count) if text is not None else ""
        fill_delta(hook_event, field, piece, aggregated, call_id, name)
        assert outbox is not None  # _subscribed said so
        await self._await_reply(outbox, response, hook_event, must_answer=False)

    def _delta_event(self, run: DeltaRun) -> pb.HooksResponse:
        """The message for a run of merged observe-only deltas, built as it is sent."""
        response, event = new_event(
            self.run_id, self._replies.next_id(), run.turn, trace_context=self.run_trace_context
        )
        if len(run.pieces) > 1:
            event.merged = len(run.pieces) - 1
        text = run.turn_text
        aggregated = text.upto(run.text_upto) if text is not None else ""
        fill_delta(event, run.field, "".join(run.pieces), aggregated, run.call_id, run.name)
        return response

    async def completion_finished(self, turn: int, finished: TurnFinished, text: str) -> None:
        self._check_cancelled()
        if self._subscribed(pb.HOOK_EVENT_KIND_COMPLETION_FINISHED):
            await self._send(
                turn,
                pb.HOOK_EVENT_KIND_COMPLETION_FINISHED,
                lambda event: fill_completion_finished(event, finished, text),
            )

    async def tool_call(self, turn: int, call: ToolCall, execute: bool) -> ToolResult | None:
        self._check_cancelled()
        if not execute and not self._subscribed(pb.HOOK_EVENT_KIND_TOOL_CALL):
            return None
        try:
            reply = await self._send(
                turn,
                pb.HOOK_EVENT_KIND_TOOL_CALL,
                lambda event: fill_tool_call(event, call, execute),
                must_answer=execute,
            )
        except _ClientToolTimeout as timeout:
            return error_result(call, f"client tool {quote(call.name)}: {timeout}")
        return tool_answer(call, reply)

    async def tool_progress(self, turn: int, progress: ToolProgress) -> None:
        self._check_cancelled()
        if self._subscribed(pb.HOOK_EVENT_KIND_TOOL_PROGRESS):
            await self._send(
                turn,
                pb.HOOK_EVENT_KIND_TOOL_PROGRESS,
                lambda event: fill_tool_progress(event, progress),
            )

    async def tool_result(self, turn: int, call: ToolCall, result: ToolResult) -> None:
        self._check_cancelled()
        if self._subscribed(pb.HOOK_EVENT_KIND_TOOL_RESULT):
            await self._send(
                turn,
                pb.HOOK_EVENT_KIND_TOOL_RESULT,
                lambda event: fill_tool_result(event, call, result),
            )

    # --- sending ----------------------------------------------------------------------------

    def _check_cancelled(self) -> None:
        if self._cancel_reason is not None:
            raise RunCancelled(self._cancel_reason)

    def _subscribed(self, kind: int) -> bool:
        if self._outbox is None:
            # Without a client, blocking hooks cannot be honoured: the run needs its client.
            if kind in self._blocking:
                raise HooksFailed("the hooks client disconnected and the run has blocking hooks")
            return False
        return kind in self._events

    def _event(self, turn: int, blocking: bool) -> tuple[pb.HooksResponse, pb.HookEvent]:
        trace_context = self.trace_context() if self.trace_context is not None else None
        return new_event(self.run_id, self._replies.next_id(), turn, blocking, trace_context)

    async def _send(
        self,
        turn: int,
        kind: int,
        fill: Callable[[pb.HookEvent], None],
        *,
        must_answer: bool = False,
    ) -> pb.HookReply | None:
        """Sends one event, its payload filled by `fill`; for blocking kinds and client
        tools, returns the client's reply."""
        outbox = self._outbox
        if outbox is None:
            if must_answer:
                raise HooksFailed(
                    "the hooks client disconnected and the run needs it for client tools"
                )
            return None
        blocking = must_answer or kind in self._blocking
        response, event = self._event(turn, blocking)
        fill(event)
        if not blocking:
            outbox.put(response)
            return None
        return await self._await_reply(outbox, response, event, must_answer)

    async def _await_reply(
        self, outbox: Outbox, response: pb.HooksResponse, event: pb.HookEvent, must_answer: bool
    ) -> pb.HookReply:
        field = str(event.WhichOneof("event"))
        allowed, call_id = OBSERVE_ACTIONS, ""
        if field == "tool_call":
            allowed = CLIENT_TOOL_ACTIONS if must_answer else SERVER_TOOL_ACTIONS
            call_id = event.tool_call.call_id
        event_id = event.event_id
        future = self._replies.expect(event_id, field, allowed, call_id)
        outbox.put(response)
        timeout = self.settings.reply_timeout_s
        sent = time.perf_counter()
        try:
            reply = await self._replies.wait(event_id, future, timeout)
        except ReplyTimeout:
            message = f"no reply from the hooks client within {timeout * 1000:.0f} ms"
            if must_answer:
                raise _ClientToolTimeout(message) from None
            raise HooksFailed(f"{field} event {event_id}: {message}") from None
        if self.reply_observer is not None:
            self.reply_observer(field, time.perf_counter() - sent)
        if reply.WhichOneof("action") == "cancel":
            self.cancel(reply.cancel.reason)
            raise RunCancelled(reply.cancel.reason)
        return reply


class _ClientToolTimeout(Exception):
    pass
