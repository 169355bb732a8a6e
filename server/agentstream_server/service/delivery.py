"""Coalesced delivery: consecutive deltas of one kind leave as one message.

A delta (text, reasoning, or the arguments of one tool call) is held up to the request's
window; deltas of the same kind, turn and call that arrive meanwhile, or while an earlier
message is still being written to a slow reader, are joined to it. Anything else (another
kind, another call, a non-delta event) first sends what is held, so nothing is reordered.
Messages are numbered when they are sent, so `seq` stays gap-free for the caller and for
the run's log alike. Without a window (the default) none of this runs: one message per
delta, written straight from the loop.

WatchRun's `coalesce` applies the same rules to messages already in the log
(`join_logged`): they are numbered already, so a joined message covers the seqs
`first_seq`..`seq` of the messages it joins.

Windows are timed by `Ticks`, one timer per window length for the whole server rather than
one per held message: a thousand runs streaming would otherwise keep a thousand timers (and
their cancelled leftovers) in the event loop's heap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from agentstream.v1 import agent_pb2 as pb

from ..core.errors import InvalidRequest
from ..core.events import ReasoningDelta, TextDelta, ToolCallDelta

MAX_WINDOW_MS = 1000
# A message joined from logged deltas holds at most about this many characters: a long
# answer replays as a few large messages, far from any message size limit.
MAX_JOINED_CHARS = 16 * 1024
# The oneof fields of the logged delta messages, and the field holding each one's piece.
_LOGGED_PIECE = {
    "text_delta": "text",
    "reasoning_delta": "text",
    "tool_call_delta": "arguments_delta",
}
DELTA_KINDS = (TextDelta, ReasoningDelta, ToolCallDelta)
Delta = TextDelta | ReasoningDelta | ToolCallDelta
# Sends one message: numbers it, logs it, writes it. Called one at a time.
Deliver = Callable[[pb.StreamPromptResponse], Awaitable[None]]


def window_s(request: pb.StreamPromptRequest, default_ms: float) -> float:
    """The request's coalescing window in seconds (the server's default when it has none)."""
    if not request.HasField("delivery"):
        return default_ms / 1000
    ms = request.delivery.max_delay_ms
    if ms > MAX_WINDOW_MS:
        raise InvalidRequest(
            "delivery.max_delay_ms", f"{ms} is over the limit of {MAX_WINDOW_MS} ms"
        )
    return ms / 1000


@dataclass(slots=True)
class _Held:
    """Deltas waiting to leave as one message."""

    kind: type
    turn: int
    call_id: str
    name: str
    pieces: list[str] = field(default_factory=list)
    due: float = 0.0  # loop time by which it must be sent

    def joins(self, event: Delta, turn: int) -> bool:
        if type(event) is not self.kind or turn != self.turn:
            return False
        return not isinstance(event, ToolCallDelta) or event.id == self.call_id

    def message(self, run_id: str) -> pb.StreamPromptResponse:
        text, merged = "".join(self.pieces), len(self.pieces) - 1
        response = pb.StreamPromptResponse(run_id=run_id, turn=self.turn)
        if self.kind is TextDelta:
            response.text_delta.SetInParent()
            response.text_delta.text, response.text_delta.merged = text, merged
        elif self.kind is ReasoningDelta:
            response.reasoning_delta.SetInParent()
            response.reasoning_delta.text, response.reasoning_delta.merged = text, merged
        else:
            d = response.tool_call_delta
            d.id, d.name, d.arguments_delta, d.merged = self.call_id, self.name, text, merged
        return response


def _held(event: Delta, turn: int) -> _Held:
    if isinstance(event, ToolCallDelta):
        return _Held(ToolCallDelta, turn, event.id, event.name, [event.arguments_delta])
    return _Held(type(event), turn, "", "", [event.text])


def _piece(event: Delta) -> str:
    return event.arguments_delta if isinstance(event, ToolCallDelta) else event.text


class Ticks:
    """The timers of every coalescing run of a server: one per window length. A tick every
    half window sends what was held before the previous tick, so a message waits between
    half its window and its window."""

    def __init__(self) -> None:
        self._tickers: dict[float, _Ticker] = {}

    def hold(self, window_s: float, coalescer: Coalescer, held: _Held) -> None:
        ticker = self._tickers.get(window_s)
        if ticker is None:
            ticker = self._tickers[window_s] = _Ticker(window_s / 2)
        ticker.hold(coalescer, held)


class _Ticker:
    __slots__ = ("_newer", "_older", "_period_s", "_timer")

    def __init__(self, period_s: float) -> None:
        self._period_s = period_s
        self._older: list[tuple[Coalescer, _Held]] = []  # held before the last tick
        self._newer: list[tuple[Coalescer, _Held]] = []  # held since
        self._timer: asyncio.TimerHandle | None = None  # armed only while something is held

    def hold(self, coalescer: Coalescer, held: _Held) -> None:
        self._newer.append((coalescer, held))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._period_s, self._tick)

    def _tick(self) -> None:
        due, self._older, self._newer = self._older, self._newer, []
        for coalescer, held in due:
            coalescer.window_over(held)
        self._timer = None
        if self._older:
            self._timer = asyncio.get_running_loop().call_later(self._period_s, self._tick)


class Coalescer:
    """Holds, joins and sends one run's deltas; every message of the run passes through it."""

    def __init__(self, run_id: str, window_s: float, deliver: Deliver, ticks: Ticks) -> None:
        self._run_id = run_id
        self._window_s = window_s
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._ticks = ticks
        # One message at a time, in the order they were formed.
        self._sending = asyncio.Lock()
        self._held: _Held | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    async def delta(self, event: Delta, turn: int) -> None:
        self._raise_failure()
        held = self._held
        if held is not None and held.joins(event, turn):
            held.pieces.append(_piece(event))
            # A provider whose reads are already buffered may hand over many deltas without
            # the loop ever running the window's timer: the window is kept here too.
            if self._loop.time() >= held.due and not self._sending.locked():
                async with self._sending:
                    await self._send_held()
            return
        if held is not None:
            async with self._sending:
                await self._send_held()
        held = self._held = _held(event, turn)
        held.due = self._loop.time() + self._window_s
        self._ticks.hold(self._window_s, self, held)

    async def send(self, message: pb.StreamPromptResponse) -> None:
        """A message that is not a delta: after whatever is held, never joined."""
        self._raise_failure()
        async with self._sending:
            await self._send_held()
            await self._deliver(message)

    def take_held(self) -> pb.StreamPromptResponse | None:
        """What is held, for a run that ends without writing it (its caller left)."""
        held, self._held = self._held, None
        return held.message(self._run_id) if held is not None else None

    def window_over(self, held: _Held) -> None:
        """`held`'s window is over: it is sent, unless it left already."""
        if self._held is not held:
            return
        task = asyncio.create_task(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        try:
            async with self._sending:
                await self._send_held()
        except (Exception, asyncio.CancelledError) as error:
            # The caller left (a failed write is CallerGone, a CancelledError): the loop
            # learns it with its next event.
            self._failure = error

    async def _send_held(self) -> None:
        held = self.take_held()
        if held is not None:
            await self._deliver(held)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


class _Joining:
    """Logged delta messages of one kind, turn and call, to leave as one."""

    __slots__ = ("call_id", "first", "kind", "last_seq", "merged", "pieces", "size", "turn")

    def __init__(self, first: pb.StreamPromptResponse, kind: str, piece: str, merged: int) -> None:
        self.first, self.kind, self.turn = first, kind, first.turn
        self.call_id = first.tool_call_delta.id if kind == "tool_call_delta" else ""
        self.pieces, self.size, self.merged = [piece], len(piece), merged
        self.last_seq = first.seq

    def joins(self, event: pb.StreamPromptResponse, kind: str, piece: str) -> bool:
        return (
            kind == self.kind
            and event.turn == self.turn
            and self.size + len(piece) <= MAX_JOINED_CHARS
            and (kind != "tool_call_delta" or event.tool_call_delta.id == self.call_id)
        )

    def add(self, event: pb.StreamPromptResponse, piece: str, merged: int) -> None:
        self.pieces.append(piece)
        self.size += len(piece)
        self.merged += merged + 1
        self.last_seq = event.seq

    def message(self) -> pb.StreamPromptResponse:
        first = self.first
        if len(self.pieces) == 1:
            return first
        joined = pb.StreamPromptResponse(
            run_id=first.run_id, seq=self.last_seq, turn=first.turn, first_seq=first.seq
        )
        delta = getattr(joined, self.kind)
        delta.CopyFrom(getattr(first, self.kind))
        setattr(delta, _LOGGED_PIECE[self.kind], "".join(self.pieces))
        delta.merged = self.merged
        return joined


def join_logged(events: Sequence[pb.StreamPromptResponse]) -> Iterator[pb.StreamPromptResponse]:
    """`events` (consecutive logged messages) with each run of consecutive deltas of one
    kind, turn and call joined into one message, up to MAX_JOINED_CHARS: its text the exact
    concatenation, `merged` the deltas joined besides the first (counting those a message
    had joined already), `first_seq`..`seq` the messages it covers. Everything else passes
    as it is; nothing is reordered."""
    joining: _Joining | None = None
    for event in events:
        kind = event.WhichOneof("event")
        field = _LOGGED_PIECE.get(kind or "")
        if field is None:
            if joining is not None:
                yield joining.message()
                joining = None
            yield event
            continue
        assert kind is not None
        delta = getattr(event, kind)
        piece: str = getattr(delta, field)
        if joining is not None and joining.joins(event, kind, piece):
            joining.add(event, piece, delta.merged)
            continue
        if joining is not None:
            yield joining.message()
        joining = _Joining(event, kind, piece, delta.merged)
    if joining is not None:
        yield joining.message()
