"""The remote form of the loop's hooks: a client process attached over the Hooks RPC.

A `HookSession` is the `RunHooks` of one run. It turns each hook point into a
`HookEvent` for the attached client and, for blocking events and client tool
calls, waits for the client's reply. Observe-only events go through a bounded
`Outbox` that merges deltas when the client reads too slowly, so a slow observer
never holds up the run or grows memory without bound.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentstream.v1 import agent_pb2 as pb

from ..core.errors import AgentError, HooksFailed, RunCancelled, RunIdInUse
from ..core.events import ReasoningDelta, TextDelta, ToolCallDelta, TurnFinished
from ..core.messages import Message, ToolCall, ToolResult
from ..core.tools import error_result
from .convert import FINISH_REASONS_PB, history_pb, usage_pb

ALL_KINDS = frozenset(pb.HookEventKind.values()) - {pb.HOOK_EVENT_KIND_UNSPECIFIED}
_DELTA_FIELDS = ("text_delta", "reasoning_delta", "tool_call_delta")

# Which replies fit which event: a client tool call must be answered, not waved on.
_OBSERVE_ACTIONS = frozenset({"proceed", "cancel"})
_SERVER_TOOL_ACTIONS = frozenset({"proceed", "cancel", "skip", "tool_output"})
_CLIENT_TOOL_ACTIONS = frozenset({"cancel", "skip", "tool_output"})


@dataclass(slots=True, frozen=True)
class HookSettings:
    wait_for_client: bool
    attach_timeout_s: float
    reply_timeout_s: float
    buffer_events: int
    observer_flush_s: float


class AlreadyAttached(Exception):
    pass


class Outbox:
    """What the hooks stream sends next. Blocking events and notices always queue;
    observe-only deltas beyond `limit` merge into the queued tail or are dropped
    and reported as one overflow notice."""

    def __init__(self, limit: int, flush_s: float) -> None:
        # Each entry may carry a `finish` that completes the message when it is sent
        # (the aggregated text: built per sent message, not per token).
        self._items: deque[tuple[pb.HooksResponse, Finish | None]] = deque()
        self._limit = limit
        self._flush_s = flush_s
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def put(self, response: pb.HooksResponse) -> None:
        self._items.append((response, None))
        self._ready.set()

    def put_observed(self, response: pb.HooksResponse, finish: Finish | None = None) -> None:
        if len(self._items) < self._limit:
            self._items.append((response, finish))
            self._ready.set()
        elif self._items and _merge_into(self._items[-1][0], response):
            self._items[-1] = (self._items[-1][0], finish or self._items[-1][1])
        else:
            self.dropped += 1

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def get(self) -> pb.HooksResponse | None:
        """The next response, or None once closed and drained."""
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        if self.dropped:
            notice = (
                f"overflow: {self.dropped} observe-only event(s) dropped; "
                "the client read too slowly"
            )
            self.dropped = 0
            return pb.HooksResponse(error=pb.HookError(message=notice))
        head, finish = self._items.popleft()
        if _is_observed_delta(head):
            finish = await self._gather_deltas(head, finish)
        if finish is not None:
            finish(head)
        return head

    async def _gather_deltas(self, head: pb.HooksResponse, finish: Finish | None) -> Finish | None:
        """Merges the deltas that follow `head` for up to `flush_s`: an observer gets one
        message per window instead of one per token, and anything else (a blocking
        event, the run's end) goes out at once. Returns the last merged delta's finish."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._flush_s
        while True:
            while self._items and _merge_into(head, self._items[0][0]):
                finish = self._items.popleft()[1] or finish
            remaining = deadline - loop.time()
            if self._items or self._closed or remaining <= 0:
                return finish
            self._ready.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._ready.wait()
            except TimeoutError:
                return finish


def _is_observed_delta(response: pb.HooksResponse) -> bool:
    return (
        response.WhichOneof("response") == "event"
        and not response.event.reply_expected
        and response.event.WhichOneof("event") in _DELTA_FIELDS
    )


def _merge_into(tail: pb.HooksResponse, new: pb.HooksResponse) -> bool:
    """Appends a delta to a queued delta of the same kind (and call); False when it can't."""
    if tail.WhichOneof("response") != "event" or tail.event.reply_expected:
        return False
    kind = new.event.WhichOneof("event")
    if tail.event.WhichOneof("event") != kind or kind not in _DELTA_FIELDS:
        return False
    old_event, new_event = tail.event, new.event
    if kind == "text_delta":
        old_event.text_delta.delta += new_event.text_delta.delta
    elif kind == "reasoning_delta":
        old_event.reasoning_delta.delta += new_event.reasoning_delta.delta
    else:
        if old_event.tool_call_delta.call_id != new_event.tool_call_delta.call_id:
            return False
        old_event.tool_call_delta.arguments_delta += new_event.tool_call_delta.arguments_delta
    old_event.merged += 1 + new_event.merged
    return True


Finish = Callable[[pb.HooksResponse], None]


def _aggregated_text(pieces: list[str], count: int) -> Finish:
    """Fills a text delta's `aggregated` with the turn's first `count` pieces."""

    def finish(response: pb.HooksResponse) -> None:
        response.event.text_delta.aggregated = "".join(pieces[:count])

    return finish


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[pb.HookReply]
    field: str
    allowed: frozenset[str]


class HookSession:
    """The hooks of one run, whether or not a client ever attaches."""

    def __init__(self, run_id: str, settings: HookSettings, client_tools: frozenset[str]) -> None:
        self.run_id = run_id
        self.settings = settings
        self.client_tools = client_tools
        # True while a client is attached, so every token passes a cancel check.
        self.wants_deltas = False
        self._outbox: Outbox | None = None
        self._events: frozenset[int] = frozenset()
        self._blocking: frozenset[int] = frozenset()
        self._attached = asyncio.Event()
        self._ids = itertools.count(1)
        self._issued = 0
        self._pending: dict[str, _Pending] = {}
        self._cancel_reason: str | None = None
        self._text_turn = 0
        self._text_pieces: list[str] = []  # this turn's text so far
        # Set by whoever runs the loop, so a cancel does not wait for the next step.
        self.interrupt: Callable[[AgentError], None] | None = None

    # --- the client's side ------------------------------------------------------------

    @property
    def needs_client(self) -> bool:
        return self.settings.wait_for_client or bool(self.client_tools)

    def attach(self, events: frozenset[int], blocking: frozenset[int]) -> Outbox:
        if self._outbox is not None:
            raise AlreadyAttached(self.run_id)
        self._outbox = Outbox(self.settings.buffer_events, self.settings.observer_flush_s)
        self._events = events or ALL_KINDS
        self._blocking = blocking
        self.wants_deltas = True
        self._attached.set()
        return self._outbox

    def detach(self, outbox: Outbox) -> None:
        """The client went away: waits that needed it fail now; observing just stops."""
        if self._outbox is not outbox:
            return
        self._outbox = None
        self.wants_deltas = False
        self._attached.clear()
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(
                    HooksFailed(
                        f"the hooks client disconnected while the run waited on {pending.field}"
                    )
                )

    def reply(self, reply: pb.HookReply) -> str | None:
        """Applies a reply; returns why it was refused, leaving the run unharmed."""
        action = reply.WhichOneof("action")
        if action is None:
            return "reply: set one of proceed, cancel, skip, tool_output"
        if action == "cancel" and (not reply.event_id or reply.event_id not in self._pending):
            if reply.event_id and not self._was_issued(reply.event_id):
                return f"reply.event_id: no event {reply.event_id!r} in this run"
            self.cancel(reply.cancel.reason)
            return None
        if not reply.event_id:
            return "reply.event_id: required (only cancel may omit it)"
        pending = self._pending.get(reply.event_id)
        if pending is None:
            if self._was_issued(reply.event_id):
                return f"event {reply.event_id}: already answered or not awaiting a reply"
            return f"reply.event_id: no event {reply.event_id!r} in this run"
        if action not in pending.allowed:
            return (
                f"event {reply.event_id}: {action} does not fit a {pending.field} event "
                f"(allowed: {', '.join(sorted(pending.allowed))})"
            )
        if not pending.future.done():
            pending.future.set_result(reply)
        return None

    def cancel(self, reason: str) -> None:
        """Ends the run: at once while it waits on the model, its tools or this client,
        otherwise at its next step."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
            if self.interrupt is not None:
                self.interrupt(RunCancelled(reason))
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(RunCancelled(reason))

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

    def _was_issued(self, event_id: str) -> bool:
        return event_id.isdigit() and 0 < int(event_id) <= self._issued

    # --- the run's side (RunHooks) -------------------------------------------------------

    async def start(self) -> None:
        if not self.needs_client or self._attached.is_set():
            return
        try:
            async with asyncio.timeout(self.settings.attach_timeout_s):
                await self._attached.wait()
        except TimeoutError:
            raise HooksFailed(
                f"no hooks client attached to run {self.run_id!r} within "
                f"{self.settings.attach_timeout_s * 1000:.0f} ms"
                + (" (the run has client tools)" if self.client_tools else "")
            ) from None

    async def completion_call(self, turn: int, messages: list[Message]) -> None:
        self._check_cancelled()
        if self._subscribed(pb.HOOK_EVENT_KIND_COMPLETION_CALL):
            prompt = messages[-1].text if messages else ""
            payload = pb.HookCompletionCall(prompt=prompt, history=history_pb(messages))
            await self._send(turn, pb.HOOK_EVENT_KIND_COMPLETION_CALL, completion_call=payload)

    async def delta(self, turn: int, event: TextDelta | ReasoningDelta | ToolCallDelta) -> None:
        self._check_cancelled()
        if isinstance(event, TextDelta):
            if turn != self._text_turn:
                self._text_turn, self._text_pieces = turn, []
            pieces = self._text_pieces
            pieces.append(event.text)
            if self._subscribed(pb.HOOK_EVENT_KIND_TEXT_DELTA):
                payload: Any = pb.HookTextDelta(delta=event.text)
                aggregated = _aggregated_text(pieces, len(pieces))
                await self._send(
                    turn, pb.HOOK_EVENT_KIND_TEXT_DELTA, finish=aggregated, text_delta=payload
                )
        elif isinstance(event, ReasoningDelta):
            if self._subscribed(pb.HOOK_EVENT_KIND_REASONING_DELTA):
                payload = pb.HookReasoningDelta(delta=event.text)
                await self._send(turn, pb.HOOK_EVENT_KIND_REASONING_DELTA, reasoning_delta=payload)
        elif self._subscribed(pb.HOOK_EVENT_KIND_TOOL_CALL_DELTA):
            payload = pb.HookToolCallDelta(
                call_id=event.id, name=event.name, arguments_delta=event.arguments_delta
            )
            await self._send(turn, pb.HOOK_EVENT_KIND_TOOL_CALL_DELTA, tool_call_delta=payload)

    async def completion_finished(self, turn: int, finished: TurnFinished, text: str) -> None:
        self._check_cancelled()
        if self._subscribed(pb.HOOK_EVENT_KIND_COMPLETION_FINISHED):
            payload = pb.HookCompletionFinished(
                usage=usage_pb(finished.usage),
                finish_reason=FINISH_REASONS_PB[finished.finish_reason],
                text=text,
            )
            await self._send(
                turn, pb.HOOK_EVENT_KIND_COMPLETION_FINISHED, completion_finished=payload
            )

    async def tool_call(self, turn: int, call: ToolCall, execute: bool) -> ToolResult | None:
        self._check_cancelled()
        if not execute and not self._subscribed(pb.HOOK_EVENT_KIND_TOOL_CALL):
            return None
        payload = pb.HookToolCall(
            name=call.name, call_id=call.id, arguments=call.arguments, execute=execute
        )
        try:
            reply = await self._send(
                turn, pb.HOOK_EVENT_KIND_TOOL_CALL, must_answer=execute, tool_call=payload
            )
        except _ReplyTimeout as timeout:
            return error_result(call, f"client tool {call.name!r}: {timeout}")
        return _tool_answer(call, reply)

    async def tool_result(self, turn: int, call: ToolCall, result: ToolResult) -> None:
        self._check_cancelled()
        if self._subscribed(pb.HOOK_EVENT_KIND_TOOL_RESULT):
            payload = pb.HookToolResult(
                name=call.name,
                call_id=call.id,
                arguments=call.arguments,
                result=result.content,
                is_error=result.is_error,
            )
            await self._send(turn, pb.HOOK_EVENT_KIND_TOOL_RESULT, tool_result=payload)

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

    async def _send(
        self,
        turn: int,
        kind: int,
        *,
        must_answer: bool = False,
        finish: Finish | None = None,
        **event: Any,
    ) -> pb.HookReply | None:
        """Sends one event; for blocking kinds and client tools, returns the client's reply."""
        outbox = self._outbox
        if outbox is None:
            if must_answer:
                raise HooksFailed(
                    "the hooks client disconnected and the run needs it for client tools"
                )
            return None
        self._issued = next(self._ids)
        event_id = str(self._issued)
        blocking = must_answer or kind in self._blocking
        response = pb.HooksResponse(
            event=pb.HookEvent(
                run_id=self.run_id, event_id=event_id, turn=turn, reply_expected=blocking, **event
            )
        )
        if not blocking:
            outbox.put_observed(response, finish)
            return None
        if finish is not None:
            finish(response)
        return await self._await_reply(outbox, response, event_id, must_answer)

    async def _await_reply(
        self, outbox: Outbox, response: pb.HooksResponse, event_id: str, must_answer: bool
    ) -> pb.HookReply:
        field = str(response.event.WhichOneof("event"))
        allowed = _OBSERVE_ACTIONS
        if field == "tool_call":
            allowed = _CLIENT_TOOL_ACTIONS if must_answer else _SERVER_TOOL_ACTIONS
        future: asyncio.Future[pb.HookReply] = asyncio.get_running_loop().create_future()
        self._pending[event_id] = _Pending(future, field, allowed)
        outbox.put(response)
        timeout = self.settings.reply_timeout_s
        try:
            async with asyncio.timeout(timeout):
                reply = await future
        except TimeoutError:
            message = f"no reply from the hooks client within {timeout * 1000:.0f} ms"
            if must_answer:
                raise _ReplyTimeout(message) from None
            raise HooksFailed(f"{field} event {event_id}: {message}") from None
        finally:
            del self._pending[event_id]
        if reply.WhichOneof("action") == "cancel":
            self.cancel(reply.cancel.reason)
            raise RunCancelled(reply.cancel.reason)
        return reply


class _ReplyTimeout(Exception):
    pass


def _tool_answer(call: ToolCall, reply: pb.HookReply | None) -> ToolResult | None:
    action = reply.WhichOneof("action") if reply is not None else "proceed"
    if reply is None or action == "proceed":
        return None
    if action == "skip":
        # The tool did not run; the model reads the client's reason as its result.
        return ToolResult(call.id, reply.skip.reason, True, call.name, call.call_id)
    output = reply.tool_output
    return ToolResult(call.id, output.content, output.is_error, call.name, call.call_id)


class RunRegistry:
    """The running runs by id, so a hooks client can find its run in either order."""

    def __init__(self) -> None:
        self._sessions: dict[str, HookSession] = {}
        self._arrivals: dict[str, asyncio.Event] = {}
        self._empty = asyncio.Event()
        self._empty.set()

    def register(self, session: HookSession) -> None:
        if session.run_id in self._sessions:
            raise RunIdInUse(session.run_id)
        self._sessions[session.run_id] = session
        self._empty.clear()
        arrival = self._arrivals.pop(session.run_id, None)
        if arrival is not None:
            arrival.set()

    def unregister(self, session: HookSession) -> None:
        if self._sessions.get(session.run_id) is session:
            del self._sessions[session.run_id]
        if not self._sessions:
            self._empty.set()

    async def wait_empty(self, timeout_s: float) -> bool:
        """True once no run is running; False if some still are after `timeout_s`."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._empty.wait()
        except TimeoutError:
            return False
        return True

    def interrupt_all(self, error: AgentError) -> None:
        for session in list(self._sessions.values()):
            if session.interrupt is not None:
                session.interrupt(error)

    async def find(self, run_id: str, timeout_s: float) -> HookSession | None:
        """The run with this id, waiting up to `timeout_s` for it to start."""
        session = self._sessions.get(run_id)
        if session is not None:
            return session
        arrival = self._arrivals.setdefault(run_id, asyncio.Event())
        try:
            async with asyncio.timeout(timeout_s):
                await arrival.wait()
        except TimeoutError:
            if self._arrivals.get(run_id) is arrival and not arrival.is_set():
                del self._arrivals[run_id]
            return None
        return self._sessions.get(run_id)

    def __len__(self) -> int:
        return len(self._sessions)
