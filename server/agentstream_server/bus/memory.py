"""The run bus inside one process: the default. A run's log keeps its events serialised,
one after another in one buffer, without the run id they all share: a text delta takes
about 15 bytes there, where its protobuf object took about 500 (a thousand runs of 500
deltas kept for the retention period is 8 MiB, not 250). Followers share one future that
the next append resolves."""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from agentstream.v1 import agent_pb2 as pb

from ..core.errors import quote
from .base import (
    ControlHandler,
    Event,
    EventsGone,
    RunExists,
    RunNotFound,
    RunRecord,
    RunStatus,
    started_channel,
)

# The most events a watcher is handed at once: a slice of the log, not a copy of it all.
WATCH_BATCH = 4096


@dataclass(slots=True)
class _Log:
    record: RunRecord  # its last_seq and turns are brought up to date when it is read
    on_control: ControlHandler
    max_events: int
    # The events, serialised without their leading run id field (`_run_id_field`);
    # event first_seq + i ends at data[ends[i]].
    data: bytearray = field(default_factory=bytearray)
    ends: array[int] = field(default_factory=lambda: array("Q"))
    first_seq: int = 1  # the seq of the first event kept; grows when the log is trimmed
    ended: bool = False
    _waiter: asyncio.Future[None] | None = None
    _trim_at: int = 0
    _run_id_field: bytes = b""
    _last: Event | None = None  # the last event appended, for the record

    def __post_init__(self) -> None:
        # Trim in chunks so the cost per event stays constant.
        self._trim_at = self.max_events + self.max_events // 4
        self._run_id_field = _run_id_field(self.record.run_id)

    def append(self, event: Event) -> None:
        # Once per event of every run: nothing here that can wait for a read.
        data = event.SerializeToString()
        prefix = self._run_id_field
        if data.startswith(prefix):
            self.data += memoryview(data)[len(prefix) :]
        else:  # no run id (or another one): kept whole, it wins over the prefix when read
            self.data += data
        ends = self.ends
        ends.append(len(self.data))
        self._last = event
        if len(ends) > self._trim_at:
            drop = len(ends) - self.max_events
            cut = ends[drop - 1]
            del self.data[:cut]
            self.ends = array("Q", (end - cut for end in ends[drop:]))
            self.first_seq += drop
        if self._waiter is not None:
            self._wake()

    def current_record(self) -> RunRecord:
        record = self.record
        last = self._last
        if last is not None:
            record.last_seq, record.turns = last.seq, last.turn
        return record

    def __len__(self) -> int:
        return len(self.ends)

    def events(self, index: int, count: int) -> list[Event]:
        """Up to `count` events from first_seq + index on, as appended."""
        data, prefix, parse = self.data, self._run_id_field, Event.FromString
        start = self.ends[index - 1] if index else 0
        batch = []
        for end in self.ends[index : index + count]:
            batch.append(parse(prefix + data[start:end]))
            start = end
        return batch

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def changed(self) -> None:
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._waiter)


class _Handle:
    """The owner's side of one run (RunLog)."""

    def __init__(self, bus: MemoryBus, log: _Log) -> None:
        self._bus = bus
        self._log = log
        self.append = log.append

    def checkpoint(self, history: Sequence[pb.Message]) -> None:
        """Nothing to do: in one process a run cannot outlive its replica."""

    def close(self, status: RunStatus, error_code: int = 0) -> None:
        self._bus._end(self._log, status, error_code)


class MemoryBus:
    def __init__(self, retention_s: float = 900.0, max_events_per_run: int = 100_000) -> None:
        self.replica_id = "local"
        self.shared = False
        self._retention_s = retention_s
        self._max_events = max_events_per_run
        self._logs: dict[str, _Log] = {}
        self._expiries: dict[str, asyncio.TimerHandle] = {}
        self._channels: dict[str, list[asyncio.Queue[bytes]]] = {}

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        for timer in self._expiries.values():
            timer.cancel()
        for log in self._logs.values():
            log.ended = True
            log._wake()

    async def open_run(self, record: RunRecord, on_control: ControlHandler) -> _Handle:
        if record.key in self._logs:
            raise RunExists(record.run_id)
        record.replica = self.replica_id
        log = _Log(record, on_control, self._max_events)
        self._logs[record.key] = log
        await self.publish(started_channel(record.key), b"")
        return _Handle(self, log)

    def _end(self, log: _Log, status: RunStatus, error_code: int) -> None:
        if log.ended:
            return
        record = log.record
        record.status, record.error_code = status, error_code
        record.ended_at = time.time()
        log.ended = True
        log._wake()
        loop = asyncio.get_running_loop()
        self._expiries[record.key] = loop.call_later(self._retention_s, self._expire, log)

    def _expire(self, log: _Log) -> None:
        key = log.record.key
        self._expiries.pop(key, None)
        if self._logs.get(key) is log:
            del self._logs[key]

    async def get(self, run_id: str) -> RunRecord | None:
        log = self._logs.get(run_id)
        return None if log is None else _copy(log.current_record())

    async def watch(self, run_id: str, after_seq: int) -> AsyncIterator[Sequence[Event]]:
        log = self._logs.get(run_id)
        if log is None:
            raise RunNotFound(run_id)
        next_seq = after_seq + 1
        while True:
            while (index := next_seq - log.first_seq) < len(log):
                if index < 0:
                    raise EventsGone(
                        f"after_seq: events up to seq {log.first_seq - 1} of run {quote(run_id)} "
                        "are no longer kept"
                    )
                batch = log.events(index, WATCH_BATCH)
                yield batch
                next_seq += len(batch)
            if log.ended:
                return
            await log.changed()

    async def send_control(self, run_id: str, message: bytes) -> bool:
        log = self._logs.get(run_id)
        if log is None or log.ended:
            return False
        log.on_control(message)
        return True

    async def publish(self, channel: str, message: bytes) -> None:
        for queue in self._channels.get(channel, ()):
            queue.put_nowait(message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._channels.setdefault(channel, []).append(queue)
        try:
            yield _drain(queue)
        finally:
            queues = self._channels[channel]
            queues.remove(queue)
            if not queues:
                del self._channels[channel]


def _run_id_field(run_id: str) -> bytes:
    """How a serialised event begins with this run id (field 1, the first one written)."""
    return Event(run_id=run_id).SerializeToString() if run_id else b""


def _copy(record: RunRecord) -> RunRecord:
    return RunRecord.from_fields(record.to_fields())


async def _drain(queue: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
    while True:
        yield await queue.get()
