"""What a hooks stream sends next, bounded, with observe-only deltas merged before they
become messages.

An observer of a fast run would otherwise cost a protobuf message per token. Here
consecutive deltas of one kind (and one tool call) collect in a `DeltaRun`, a list
of strings, and turn into a single `HookEvent` when the stream sends it: at most
one message per flush window while the client keeps up, fewer when it falls
behind. Blocking events, notices and the run's end are never held back.

A run's window opens when its first delta is queued and its end wakes the writer: one
wake-up per observed event, whatever the number of deltas in it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from agentstream.v1 import agent_pb2 as pb

from .hook_events import TurnText


@dataclass(slots=True)
class DeltaRun:
    """Consecutive observe-only deltas of one field (and call) of one turn."""

    turn: int
    field: str  # "text_delta", "reasoning_delta" or "tool_call_delta"
    call_id: str
    name: str
    pieces: list[str]
    # Text deltas: the turn's text and how many of its pieces this run ends at, so
    # `aggregated` is built once, when the message is (None: not wanted).
    turn_text: TurnText | None
    text_upto: int

    def takes(self, turn: int, field: str, call_id: str) -> bool:
        return self.turn == turn and self.field == field and self.call_id == call_id


BuildEvent = Callable[[DeltaRun], pb.HooksResponse]


class Outbox:
    def __init__(self, limit: int, flush_s: float, build: BuildEvent) -> None:
        self._items: deque[pb.HooksResponse | DeltaRun] = deque()
        self._limit = limit
        self._flush_s = flush_s
        self._build = build
        self._ready = asyncio.Event()
        self._closed = False
        # The open window of a lone queued delta run: the writer leaves it to grow.
        self._window: asyncio.TimerHandle | None = None
        self._gathering = False  # the writer waits for a window to end
        self.dropped = 0
        self._notices = 0  # HookErrors queued
        self.dropped_notices = 0

    def put(self, response: pb.HooksResponse) -> None:
        """Queues a message that must not wait (blocking event, notice, run end)."""
        self._items.append(response)
        self._wake()

    def put_notice(self, response: pb.HooksResponse) -> None:
        """Queues a HookError answering a bad reply. A client that sends bad replies and
        does not read loses the surplus (counted), so it cannot grow server memory."""
        if self._notices >= self._limit:
            self.dropped_notices += 1
            return
        self._notices += 1
        self._items.append(response)
        self._wake()

    def put_delta(
        self,
        turn: int,
        field: str,
        piece: str,
        *,
        call_id: str = "",
        name: str = "",
        turn_text: TurnText | None = None,
    ) -> None:
        """Adds an observe-only delta: to the queued run it continues, or as a new run
        while there is room; otherwise it is dropped and counted."""
        items = self._items
        tail = items[-1] if items else None
        if isinstance(tail, DeltaRun) and tail.takes(turn, field, call_id):
            tail.pieces.append(piece)
        elif len(items) < self._limit:
            tail = DeltaRun(turn, field, call_id, name, [piece], turn_text, 0)
            items.append(tail)
            if len(items) == 1 and self._flush_s > 0 and not self._closed:
                self._window = asyncio.get_running_loop().call_later(
                    self._flush_s, self._window_ended
                )
            else:  # behind something already queued, it goes out as soon as its turn comes
                self._wake()
        else:
            self.dropped += 1
            return
        if turn_text is not None:
            tail.text_upto = turn_text.count

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        """Something must go out now: a lone delta run queued before it stops growing."""
        if self._window is not None:
            self._window.cancel()
            self._window = None
        self._ready.set()

    def _window_ended(self) -> None:
        self._window = None
        self._ready.set()

    async def get(self) -> pb.HooksResponse | None:
        """The next message, or None once closed and drained."""
        items = self._items
        while not items or self._window is not None:
            if not items and self._closed:
                return None
            self._gathering = self._window is not None
            self._ready.clear()
            try:
                await self._ready.wait()
            finally:
                self._gathering = False
        if self.dropped or self.dropped_notices:
            return self._overflow()
        head = items.popleft()
        if isinstance(head, DeltaRun):
            return self._build(head)
        if self._notices and head.WhichOneof("response") == "error":
            self._notices -= 1
        return head

    def _overflow(self) -> pb.HooksResponse:
        lost = []
        if self.dropped:
            lost.append(f"{self.dropped} observe-only event(s)")
        if self.dropped_notices:
            lost.append(f"{self.dropped_notices} error notice(s)")
        self.dropped = self.dropped_notices = 0
        notice = f"overflow: {' and '.join(lost)} dropped; the client read too slowly"
        return pb.HooksResponse(error=pb.HookError(message=notice))
