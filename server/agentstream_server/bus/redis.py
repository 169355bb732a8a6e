"""The run bus in Redis, so replicas share runs and a run's log outlives its replica.

Keys, under `key_prefix` (P) and the run id (R):
- `P:R:log`: a stream; each entry holds the events one write batch had for the run (`f`,
  the first seq, `t`, the turn of the last, and `e`, the events each after its length) and
  has the id `LAST-0`, LAST the seq of its last event: reading after a seq is `XREAD` after
  that id, and a retried write of the same entry is refused as a duplicate instead of being
  added twice. Trimmed with `MINID` to the last `max_events_per_run` events.
- `P:R:info`: the run's `RunRecord` as a hash; while the run runs, its last seq and turn
  are those of the log's last entry.
- `P:R:lease`: the owner replica's id, expiring unless the owner renews it.
- `P:R:history`: the conversation as of the last finished turn, so a run whose replica
  died can still end with an error its caller can continue from.
- `P:ctl:REPLICA`: a pub/sub channel carrying control messages to that replica.

Appends never wait for Redis: each run gathers its events, and one writer task per process
sends what has gathered as one batch (`redis_writer.py`), so a fast run costs a round trip
per batch, not per token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from agentstream.v1 import agent_pb2 as pb
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..config import RedisBusConfig
from ..core.errors import quote
from .base import (
    FINAL_KINDS,
    BusUnavailable,
    ControlHandler,
    Event,
    EventsGone,
    RunExists,
    RunNotFound,
    RunRecord,
    RunStatus,
    started_channel,
)
from .lost import lost_run_event
from .redis_writer import UNREACHABLE as _UNREACHABLE
from .redis_writer import RunWriter, Writer, pack

logger = logging.getLogger(__name__)

# How long a watcher's XREAD waits for new events before it checks on the run's owner.
_FOLLOW_BLOCK_MS = 1000

# Creates a run's record (expiring in ARGV[2] ms unless renewed) and its lease (ARGV[3]
# ms) unless the id is taken (running or retained), and announces the start on KEYS[5].
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
redis.call('PUBLISH', KEYS[5], '')
return 1
"""

# A run's record, the id and turn (`t`) of its log's last entry, and whether its lease is
# held: one command (redis-py retries a command on a connection Redis closed, not a
# pipeline).
_READ = """
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local last_id, turn = false, false
if #last > 0 then
  last_id = last[1][1]
  local fields = last[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 't' then turn = fields[i + 1] end
  end
end
return {redis.call('HGETALL', KEYS[1]), last_id, turn, redis.call('EXISTS', KEYS[3])}
"""

# Ends a run whose owner is gone: only if its lease expired, it still counts as running
# and its log still ends at the seq the caller saw.
_DECLARE_LOST = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
if last_id ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[3], ARGV[2], 'f', ARGV[6], 'e', ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'failed', 'error_code', ARGV[4], 'ended_at', ARGV[5],
           'last_seq', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
redis.call('PEXPIRE', KEYS[4], ARGV[7])
return 1
"""


class RedisBus:
    def __init__(self, config: RedisBusConfig) -> None:
        self.replica_id = secrets.token_hex(8)
        self.shared = True
        self._config = config
        # redis-py's types cannot say that this client returns bytes; read replies as Any.
        # A command is tried again once, at once, on a new connection: after Redis
        # restarted, the first use of each pooled connection fails.
        self._redis: Any = aioredis.Redis.from_url(config.url, retry=Retry(NoBackoff(), 1))
        self._prefix = config.key_prefix
        self._lease_ms = int(config.lease_s * 1000)
        self._retention_ms = int(config.retention_s * 1000)
        self._running: dict[str, tuple[RunRecord, ControlHandler]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._create = self._redis.register_script(_CREATE)
        self._declare_lost = self._redis.register_script(_DECLARE_LOST)
        self._read = self._redis.register_script(_READ)
        self._pubsub: Any = self._redis.pubsub()
        pool: Any = self._redis.connection_pool
        self._writer = Writer(pool.make_connection(), config, self._key, self._retention_ms)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._redis.ping()
            await self._pubsub.subscribe(self._control_channel(self.replica_id))
        except (*_UNREACHABLE, RedisError) as error:
            await self._redis.aclose()
            raise BusUnavailable(
                f"the run store at {_safe_url(self._config.url)} cannot be reached: {error}"
            ) from None
        self._tasks = [
            asyncio.create_task(self._writer.run()),
            asyncio.create_task(self._renew_loop()),
            asyncio.create_task(self._control_loop()),
        ]

    async def aclose(self) -> None:
        """Sends what is queued (within the retry bound), then disconnects."""
        for task in self._tasks[1:]:  # all but the writer, which drains its queue first
            task.cancel()
        await self._writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(*_UNREACHABLE, RedisError):
            await self._pubsub.aclose()
        await self._writer.disconnect()
        await self._redis.aclose()

    @property
    def given_up(self) -> int:
        """Events given up after Redis stayed unreachable past `write_retry_s`."""
        return self._writer.given_up

    # --- keys -------------------------------------------------------------------------

    def _key(self, run_key: str, what: str) -> str:
        """A Redis key of the run whose bus key (`log_key`: owner and run id) is `run_key`."""
        return f"{self._prefix}:{run_key}:{what}"

    def _channel(self, channel: str) -> str:
        """The pub/sub channel behind a channel of `publish` and `subscribe`."""
        return f"{self._prefix}:chan:{channel}"

    def _control_channel(self, replica: str) -> str:
        return f"{self._prefix}:ctl:{replica}"

    # --- the owner's side ---------------------------------------------------------------

    async def open_run(self, record: RunRecord, on_control: ControlHandler) -> RunWriter:
        run_id = record.key
        record.replica = self.replica_id
        keys = [self._key(run_id, k) for k in ("info", "lease", "log", "history")]
        keys.append(self._channel(started_channel(run_id)))
        fields = [x for item in record.to_fields().items() for x in item]
        try:
            # The lease itself is short; the record lives on while the lease is renewed.
            ttls = [self._lease_ms + self._retention_ms, self._lease_ms]
            created = await self._create(keys=keys, args=[self.replica_id, *ttls, *fields])
        except _UNREACHABLE as error:
            raise BusUnavailable(f"the run store cannot be reached: {error}") from None
        if not created:
            raise RunExists(record.run_id)
        self._running[run_id] = (record, on_control)
        return RunWriter(self._writer, record, self._ran)

    def _ran(self, run_key: str) -> None:
        """A run of this replica ended: its lease is no longer renewed."""
        self._running.pop(run_key, None)

    async def _renew_loop(self) -> None:
        """Keeps this replica's leases (and the records of its running runs) alive."""
        while True:
            await asyncio.sleep(self._config.lease_s / 3)
            if not self._running:
                continue
            pipe = self._redis.pipeline(transaction=False)
            for run_id in self._running:
                pipe.set(self._key(run_id, "lease"), self.replica_id, px=self._lease_ms)
                for what in ("info", "log", "history"):
                    pipe.pexpire(self._key(run_id, what), self._lease_ms + self._retention_ms)
            try:
                await pipe.execute()
            except (*_UNREACHABLE, RedisError) as error:
                logger.warning("could not renew run leases: %s", error)

    async def _control_loop(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
            except (*_UNREACHABLE, RedisError):
                await asyncio.sleep(0.2)  # the client reconnects and resubscribes
                continue
            if message is None or message.get("type") != "message":
                continue
            run_id, _, payload = bytes(message["data"]).partition(b"\n")
            running = self._running.get(run_id.decode())
            if running is not None:
                running[1](payload)

    # --- anyone's side -------------------------------------------------------------------

    async def get(self, run_id: str) -> RunRecord | None:
        try:
            record, leased = await self._read_record(run_id)
            if (
                record is not None
                and record.status is RunStatus.RUNNING
                and run_id not in self._running
                and not leased
            ):
                await self._end_lost_run(run_id)
                record, _ = await self._read_record(run_id)
        except _UNREACHABLE as error:
            raise BusUnavailable(f"the run store cannot be reached: {error}") from None
        return record

    async def _read_record(self, run_id: str) -> tuple[RunRecord | None, bool]:
        """The run's record, and whether its lease is held. A running run's progress is
        its log's: the writer does not copy it into the record."""
        keys = [self._key(run_id, what) for what in ("info", "log", "lease")]
        raw, last_id, turn, leased = await self._read(keys=keys)
        if not raw:
            return None, bool(leased)
        fields = dict(zip(raw[::2], raw[1::2], strict=True))
        record = RunRecord.from_fields({k.decode(): v.decode() for k, v in fields.items()})
        if record.status is RunStatus.RUNNING and last_id:
            record.last_seq = int(last_id.split(b"-")[0])
            record.turns = int(turn) if turn else record.turns
        return record, bool(leased)

    async def _end_lost_run(self, run_id: str) -> None:
        """Appends the last event of a run whose replica died: an error with the history
        as of its last finished turn. Atomic, so it happens once whoever notices first."""
        key = self._key
        last: Any = await self._redis.xrevrange(key(run_id, "log"), count=1)
        last_id = last[0][0].decode() if last else "0-0"
        seq = int(last_id.split("-")[0]) + 1
        checkpoint: Any = await self._redis.get(key(run_id, "history"))
        record, _ = await self._read_record(run_id)
        bare_id = record.run_id if record is not None else run_id
        event = lost_run_event(bare_id, seq, checkpoint)
        await self._declare_lost(
            keys=[key(run_id, w) for w in ("info", "lease", "log", "history")],
            args=[
                last_id,
                f"{seq}-0",
                pack([event.SerializeToString()]),
                pb.ERROR_CODE_RUN_LOST,
                time.time(),
                seq,
                self._retention_ms,
            ],
        )

    async def watch(self, run_id: str, after_seq: int) -> AsyncIterator[list[Event]]:
        if await self.get(run_id) is None:
            raise RunNotFound(run_id)
        log = self._key(run_id, "log")
        last = after_seq
        ended_seen = False
        while True:
            try:
                reply = await self._redis.xread(
                    {log: f"{last}-0"}, count=512, block=_FOLLOW_BLOCK_MS
                )
            except _UNREACHABLE as error:
                raise BusUnavailable(
                    f"the run store cannot be reached ({error}); watch again with after_seq={last}"
                ) from None
            if not reply:
                record = await self.get(run_id)  # notices a dead owner, and ends its run
                if record is None:
                    raise RunNotFound(run_id)
                if record.status is RunStatus.RUNNING:
                    continue
                if record.last_seq <= last:
                    return
                if ended_seen:  # the record says there is more, the log does not have it
                    raise _gap(run_id, last)
                ended_seen = True  # its last event may have just been written: read again
                continue
            batch, last, gap = _read_entries(reply[0][1], last)
            if batch:
                yield batch
            if gap:
                raise _gap(run_id, last)
            if batch and batch[-1].WhichOneof("event") in FINAL_KINDS:
                return

    async def send_control(self, run_id: str, message: bytes) -> bool:
        try:
            owner: Any = await self._redis.get(self._key(run_id, "lease"))
            if owner is None:
                return False
            channel = self._control_channel(owner.decode())
            return int(await self._redis.publish(channel, run_id.encode() + b"\n" + message)) > 0
        except _UNREACHABLE as error:
            raise BusUnavailable(f"the run store cannot be reached: {error}") from None

    async def publish(self, channel: str, message: bytes) -> None:
        try:
            await self._redis.publish(self._channel(channel), message)
        except _UNREACHABLE as error:
            raise _unreachable(error) from None

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        pubsub: Any = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel(channel))
            yield _messages(pubsub)
        except _UNREACHABLE as error:
            raise _unreachable(error) from None
        finally:
            with contextlib.suppress(*_UNREACHABLE, RedisError):
                await pubsub.aclose()


async def _messages(pubsub: Any) -> AsyncIterator[bytes]:
    while True:
        try:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
        except _UNREACHABLE as error:
            raise _unreachable(error) from None
        if message is not None and message.get("type") == "message":
            yield bytes(message["data"])


def _read_entries(entries: Any, last: int) -> tuple[list[Event], int, bool]:
    """The events after seq `last` in an XREAD reply's entries, the seq of the last one,
    and whether the entries skip some (a gap: the events are then those before it)."""
    batch: list[Event] = []
    parse = Event.FromString
    for _entry_id, fields in entries:
        seq = int(fields[b"f"])
        if seq > last + 1:
            return batch, last, True
        for data in _unpack(fields[b"e"]):
            if seq > last:  # an entry may begin before after_seq
                batch.append(parse(data))
                last = seq
            seq += 1
    return batch, last, False


def _unpack(packed: bytes) -> Iterator[bytes]:
    at = 0
    while at < len(packed):
        size = int.from_bytes(packed[at : at + 4], "big")
        yield packed[at + 4 : at + 4 + size]
        at += 4 + size


def _unreachable(error: Exception) -> BusUnavailable:
    return BusUnavailable(f"the run store cannot be reached: {error}")


def _gap(run_id: str, last: int) -> EventsGone:
    return EventsGone(
        f"after_seq: the log of run {quote(run_id)} no longer holds the events after seq {last} "
        "(trimmed to its bound, or lost while the run store was unreachable)"
    )


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urlunsplit(parts._replace(netloc=netloc))
