"""The replies a run waits for from its hooks client: event ids, which reply fits which
event, and what happens to the waits when the client can no longer answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agentstream.v1 import agent_pb2 as pb

from ..core.errors import AgentError, HooksFailed, quote

# Which replies fit which event: a client tool call must be answered, not waved on.
OBSERVE_ACTIONS = frozenset({"proceed", "cancel"})
SERVER_TOOL_ACTIONS = frozenset({"proceed", "cancel", "skip", "tool_output"})
CLIENT_TOOL_ACTIONS = frozenset({"cancel", "skip", "tool_output", "tool_progress"})

# Event ids are short ASCII decimals; anything longer was never issued.
_MAX_EVENT_ID_DIGITS = 20


class ReplyTimeout(Exception):
    """No reply came within the reply timeout."""


def _time_out(future: asyncio.Future[pb.HookReply]) -> None:
    if not future.done():
        future.set_exception(ReplyTimeout())


@dataclass(slots=True)
class Pending:
    """An event the run waits on until the client answers it."""

    future: asyncio.Future[pb.HookReply]
    field: str
    allowed: frozenset[str]
    call_id: str = ""


class Replies:
    """Issues event ids and keeps the events awaiting a reply."""

    def __init__(self) -> None:
        self._issued = 0  # event ids are 1, 2, 3, ... in the order they are made
        self._pending: dict[str, Pending] = {}
        # Why no reply can come any more (the client left or closed its side), if so.
        self._closed: str | None = None

    def next_id(self) -> str:
        self._issued += 1
        return str(self._issued)

    def was_issued(self, event_id: str) -> bool:
        # isdigit() alone also accepts "²" and 5,000-digit strings.
        return (
            len(event_id) <= _MAX_EVENT_ID_DIGITS
            and event_id.isascii()
            and event_id.isdigit()
            and 0 < int(event_id) <= self._issued
        )

    def expect(
        self, event_id: str, field: str, allowed: frozenset[str], call_id: str = ""
    ) -> asyncio.Future[pb.HookReply]:
        """Registers a wait for the reply to `event_id`; fails at once when none can come."""
        if self._closed is not None:
            raise HooksFailed(f"{self._closed}, and the run needs a reply to its {field} event")
        future: asyncio.Future[pb.HookReply] = asyncio.get_running_loop().create_future()
        self._pending[event_id] = Pending(future, field, allowed, call_id)
        return future

    async def wait(
        self, event_id: str, future: asyncio.Future[pb.HookReply], timeout_s: float
    ) -> pb.HookReply:
        """The reply to `event_id` (see `expect`); raises ReplyTimeout after `timeout_s`.
        A timer handle rather than asyncio.timeout: this runs once per blocking event,
        and the handle is the cheaper of the two."""
        handle = asyncio.get_running_loop().call_later(timeout_s, _time_out, future)
        try:
            return await future
        finally:
            handle.cancel()
            del self._pending[event_id]

    def match(self, reply: pb.HookReply) -> Pending | str | None:
        """The waiting event `reply` answers, why it fits none (a message for the client),
        or None for a cancel of the whole run."""
        action = reply.WhichOneof("action")
        if action is None:
            return "reply: set one of proceed, cancel, skip, tool_output, tool_progress"
        event_id = reply.event_id
        if action == "cancel" and (not event_id or event_id not in self._pending):
            if event_id and not self.was_issued(event_id):
                return f"reply.event_id: no event {quote(event_id)} in this run"
            return None
        if not event_id:
            return "reply.event_id: required (only cancel may omit it)"
        pending = self._pending.get(event_id)
        if pending is None:
            if self.was_issued(event_id):
                return f"event {event_id}: already answered or not awaiting a reply"
            return f"reply.event_id: no event {quote(event_id)} in this run"
        if action not in pending.allowed:
            return (
                f"event {event_id}: {action} does not fit a {pending.field} event "
                f"(allowed: {', '.join(sorted(pending.allowed))})"
            )
        return pending

    def fail_all(self, error: AgentError) -> None:
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(error)

    def close(self, why: str) -> None:
        """No reply can come any more: waits fail now, and so will new ones."""
        self._closed = why
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(
                    HooksFailed(f"{why} while the run waited on {pending.field}")
                )

    def reopen(self) -> None:
        """A client attached again."""
        self._closed = None
