"""The owner's side of the Redis run bus: what a run appends reaches Redis in batches.

Appending costs the run a list append: each run gathers its own events, and one writer task
per process takes whatever has gathered at most every `flush_ms` and sends it as one batch
of commands, on a connection of its own, packed here as RESP (the protocol's plain text
form). A batch has one stream entry per run (a few, for many events), its events serialised
then, once, off the run's path; the run's progress (last seq, turn) is read back from the
log's last entry instead of being written beside it.

While Redis is unreachable a batch is retried for `write_retry_s`; then its events are given
up (a watcher is told of the gap, never handed one) but its run state (checkpoints, ends)
is kept and sent with the next batch, so a run that ended during an outage still ends in
the log once Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentstream.v1 import agent_pb2 as pb
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..config import RedisBusConfig
from .base import Event, RunRecord, RunStatus

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
# At most this many events go into one stream entry.
EVENTS_PER_ENTRY = 256
# An attempt to send a batch is given at least this long, even past `write_retry_s`.
_MIN_ATTEMPT_S = 1.0
# The longest pause between attempts while Redis is unreachable.
_MAX_RETRY_DELAY_S = 1.0
# What Redis answers to an XADD whose id is not after the stream's last: a retried batch's
# entry that did reach Redis the first time.
_DUPLICATE = "equal or smaller"

# Builds a run's Redis key from its bus key and a suffix ("log", "info", ...).
KeyOf = Callable[[str, str], str]


class RunWriter:
    """The owner's handle on one running run (`RunLog`). Nothing here waits or raises."""

    __slots__ = ("_on_close", "_writer", "ended", "events", "history", "queued", "record")

    def __init__(self, writer: Writer, record: RunRecord, on_close: Callable[[str], None]) -> None:
        self._writer = writer
        self._on_close = on_close
        self.record = record
        self.events: list[Event] = []  # appended since the writer last took them
        self.history: pb.RunError | None = None  # the latest checkpoint not yet taken
        self.ended = False
        self.queued = False  # in the writer's queue for its next batch

    def append(self, event: Event) -> None:
        # Events are not changed once appended (the in-memory bus keeps them as they are
        # too), so serialising them later, in the writer, is safe.
        self.events.append(event)
        if not self.queued:
            self._writer.queue(self)

    def checkpoint(self, history: Sequence[pb.Message]) -> None:
        self.history = pb.RunError(history=history)
        if not self.queued:
            self._writer.queue(self)

    def close(self, status: RunStatus, error_code: int = 0) -> None:
        record = self.record
        record.status, record.error_code, record.ended_at = status, error_code, time.time()
        self.ended = True
        self._on_close(record.key)
        if not self.queued:
            self._writer.queue(self)


@dataclass(slots=True)
class _Batch:
    commands: list[bytes]  # RESP-packed, sent in order
    events: int
    state: list[bytes]  # the suffix of `commands` that is run state, kept if events are not


class Writer:
    """Sends the runs' gathered writes to Redis (see the module docstring)."""

    def __init__(
        self, connection: Any, config: RedisBusConfig, key: KeyOf, retention_ms: int
    ) -> None:
        # A redis-py connection used by the writer alone: one send and a read per
        # command, with none of a pipeline's per-call machinery.
        self._connection = connection
        self._config = config
        self._key = key
        self._retention_ms = b"%d" % retention_ms
        self._queued: list[RunWriter] = []
        self._kept: list[bytes] = []  # run state of batches whose events were given up
        self._wakeup = asyncio.Event()
        self._closing = False
        self.given_up = 0  # events given up after Redis stayed unreachable too long

    def queue(self, run: RunWriter) -> None:
        run.queued = True
        self._queued.append(run)
        if not self._wakeup.is_set():
            self._wakeup.set()

    async def run(self) -> None:
        """The writer task; returns once `close` was called and everything was sent (or,
        with Redis unreachable, given up)."""
        flush_s = self._config.flush_ms / 1000
        while not (self._closing and not self._queued and not self._kept):
            await self._wakeup.wait()
            if not self._closing:
                # Let a fast run's next events join this batch: a batch per window, not a
                # round trip per token.
                await asyncio.sleep(flush_s)
            self._wakeup.clear()
            batch = self._take()
            if batch.commands:
                await self._send_with_retry(batch)
            if self._kept and not self._closing:
                # Run state still owed to Redis, which was unreachable a moment ago.
                await asyncio.sleep(_MAX_RETRY_DELAY_S)
                self._wakeup.set()

    async def close(self) -> None:
        """Lets the writer task send what is queued (within the retry bound) and end."""
        self._closing = True
        self._wakeup.set()

    async def disconnect(self) -> None:
        await self._connection.disconnect()

    def _take(self) -> _Batch:
        runs, self._queued = self._queued, []
        commands: list[bytes] = []
        state, self._kept = self._kept, []
        count = 0
        for run in runs:
            run.queued = False
            record = run.record
            events, run.events = run.events, []
            if events:
                count += len(events)
                commands += self._entries(record.key, events)
                record.last_seq, record.turns = events[-1].seq, events[-1].turn
            if run.history is not None:
                history = run.history.SerializeToString()
                state.append(_resp(b"SET", self._key(record.key, "history"), history))
                run.history = None
            if run.ended:
                state += self._end_commands(record)
        return _Batch(commands + state, count, state)

    def _entries(self, run_key: str, events: list[Event]) -> list[bytes]:
        """The XADDs of one run's events: an entry `LAST-0` per EVENTS_PER_ENTRY events,
        trimmed (MINID) to the last `max_events_per_run` events, with the first seq (`f`),
        the last event's turn (`t`) and the events (`e`)."""
        log = self._key(run_key, "log")
        keep = self._config.max_events_per_run
        entries = []
        for start in range(0, len(events), EVENTS_PER_ENTRY):
            chunk = events[start : start + EVENTS_PER_ENTRY]
            first, last = chunk[0].seq, chunk[-1].seq
            entries.append(
                _resp(
                    b"XADD",
                    log,
                    b"MINID",
                    b"~",
                    b"%d" % max(0, last - keep),
                    b"%d-0" % last,
                    b"f",
                    b"%d" % first,
                    b"t",
                    b"%d" % chunk[-1].turn,
                    b"e",
                    pack([e.SerializeToString() for e in chunk]),
                )
            )
        return entries

    def _end_commands(self, record: RunRecord) -> list[bytes]:
        fields = [x.encode() for item in record.to_fields().items() for x in item]
        commands = [_resp(b"HSET", self._key(record.key, "info"), *fields)]
        for what in ("info", "log", "history"):
            commands.append(_resp(b"PEXPIRE", self._key(record.key, what), self._retention_ms))
        commands.append(_resp(b"DEL", self._key(record.key, "lease")))
        return commands

    async def _send_with_retry(self, batch: _Batch) -> None:
        """Sends a batch, retrying while Redis is unreachable for up to `write_retry_s`
        (and at least once: after Redis restarted, the first try on the old connection
        fails); then gives its events up and keeps its run state for the next batch."""
        deadline = time.monotonic() + self._config.write_retry_s
        delay = 0.05
        tries = 0
        while True:
            tries += 1
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), _MIN_ATTEMPT_S)):
                    await self._send(batch.commands)
                return
            except (*UNREACHABLE, RedisError) as error:
                # Whatever else goes wrong (a refused login after a restart, say) is
                # retried and given up the same way: the writer task must not end.
                if tries > 1 and time.monotonic() >= deadline:
                    self._give_up(batch, error)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY_S)

    def _give_up(self, batch: _Batch, error: Exception) -> None:
        self.given_up += batch.events
        if self._closing:
            logger.warning(
                "run store unreachable at shutdown, %d event(s) and %d state write(s) given up: %s",
                batch.events,
                len(batch.state),
                error,
            )
            return
        if batch.events:
            logger.warning(
                "run store unreachable, %d queued event(s) given up: %s", batch.events, error
            )
        self._kept[:0] = batch.state

    async def _send(self, commands: list[bytes]) -> None:
        connection = self._connection
        await connection.send_packed_command(commands, check_health=False)
        for _ in commands:
            try:
                await connection.read_response()
            except ResponseError as error:
                if _DUPLICATE not in str(error):
                    logger.error("run store refused a write: %s", error)


def _resp(*args: bytes | str) -> bytes:
    """A Redis command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def pack(events: list[bytes]) -> bytes:
    """Serialised events, each after its length (4 bytes, big-endian)."""
    return b"".join(len(data).to_bytes(4, "big") + data for data in events)
