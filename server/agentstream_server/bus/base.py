"""The run bus: where a run's events and state live, so that a run outlives the call that
started it and any replica can serve it.

One interface, two implementations that pass the same contract tests
(`tests/bus/test_contract.py`): `MemoryBus` (the default, one process) and `RedisBus`
(replicas sharing one Redis). What the server needs from it:

- a log per run: the owner appends each event (never blocking the run), anyone reads the
  events after a seq and follows the live ones;
- a registry: each run's `RunRecord`, held by its owner under a lease while it runs, kept
  for the retention period after it ends;
- control messages (cancel, hooks replies) delivered to the replica that runs the run, and
  channels for what goes back (a remote hooks client's events).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Protocol

from agentstream.v1 import agent_pb2 as pb

from ..core.errors import quote

Event = pb.StreamPromptResponse
# Called on the owner's replica for each control message sent to one of its runs.
ControlHandler = Callable[[bytes], None]

# The event kinds that end a run's log.
FINAL_KINDS = frozenset({"final_response", "error"})


class RunStatus(Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


def log_key(owner: str, run_id: str) -> str:
    """Where the bus keeps a run: client-chosen run ids are scoped to their owner, so two
    principals may both run `demo-1`. Run ids hold no "/", so the key is unambiguous;
    without authentication (owner "") it is the run id itself."""
    return f"{owner}/{run_id}" if owner else run_id


def started_channel(run_key: str) -> str:
    """The channel (`subscribe`) on which `open_run` announces that the run with this key
    started, so a hooks client that came first, on any replica, learns of it."""
    return f"started:{run_key}"


@dataclass(slots=True)
class RunRecord:
    """What the registry knows of a run. Flat, so it is one Redis hash."""

    run_id: str
    agent: str
    owner: str = ""  # the principal the run belongs to ("" without authentication)
    detached: bool = False
    status: RunStatus = RunStatus.RUNNING
    turns: int = 0
    last_seq: int = 0
    started_at: float = field(default_factory=time.time)
    ended_at: float = 0.0
    error_code: int = 0  # pb.ErrorCode when the run failed
    replica: str = ""  # the `replica_id` of the process that runs it (set by `open_run`)

    @property
    def key(self) -> str:
        """The run's key on the bus (`log_key`): what get, watch and send_control take."""
        return log_key(self.owner, self.run_id)

    def to_fields(self) -> dict[str, str]:
        fields = asdict(self)
        fields["status"] = self.status.value
        fields["detached"] = "1" if self.detached else ""
        return {k: str(v) for k, v in fields.items()}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> RunRecord:
        return cls(
            run_id=fields["run_id"],
            agent=fields["agent"],
            owner=fields.get("owner", ""),
            detached=bool(fields.get("detached")),
            status=RunStatus(fields["status"]),
            turns=int(fields.get("turns", 0)),
            last_seq=int(fields.get("last_seq", 0)),
            started_at=float(fields.get("started_at", 0)),
            ended_at=float(fields.get("ended_at", 0)),
            error_code=int(fields.get("error_code", 0)),
            replica=fields.get("replica", ""),
        )


class BusError(Exception):
    """A bus failure a caller is told about; `str()` is safe to show."""


class RunNotFound(BusError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"run_id: no run {quote(run_id)} (unknown, or ended before the retention)")


class RunExists(BusError):
    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"run_id: a run with id {quote(run_id)} is running or ended within the retention period"
        )


class EventsGone(BusError):
    """A watcher asked for events the log no longer holds (bounded length), or the log lost
    events while the bus was unreachable: replaying would leave a gap."""


class BusUnavailable(BusError):
    """The shared store cannot be reached; retrying later may work."""


class RunLog(Protocol):
    """The owner's handle on one running run."""

    def append(self, event: Event) -> None:
        """Adds the run's next event (seq 1, 2, 3, ...); its seq and turn are the record's
        progress. Never blocks and never raises: a run keeps streaming to its caller
        whatever happens to the bus."""
        ...

    def checkpoint(self, history: Sequence[pb.Message]) -> None:
        """The conversation so far, at a point it can be continued from (each finished
        turn); what a run whose replica dies ends with."""
        ...

    def close(self, status: RunStatus, error_code: int = 0) -> None:
        """The run ended (its last event was appended): the record is final and the run is
        kept for the retention period. Never blocks, like `append`."""
        ...


class RunBus(Protocol):
    """See the module docstring. `replica_id` names this process among those sharing the bus."""

    replica_id: str
    # True when other processes share this bus (so a run may be running elsewhere).
    shared: bool

    async def start(self) -> None:
        """Connects; raises BusUnavailable when the store cannot be reached."""
        ...

    async def aclose(self) -> None: ...

    async def open_run(self, record: RunRecord, on_control: ControlHandler) -> RunLog:
        """Registers a new run owned by this replica (setting `record.replica`) and
        announces it on `started_channel(record.key)`; raises RunExists if `record.key` is
        taken. The other methods take that key, not the bare run id."""
        ...

    async def get(self, run_id: str) -> RunRecord | None:
        """The run's record, or None when unknown or past its retention."""
        ...

    def watch(self, run_id: str, after_seq: int) -> AsyncIterator[Sequence[Event]]:
        """The run's events with seq > after_seq, then the live ones, until its last event,
        in batches of consecutive events (as many as are at hand, so a replay is read in
        large pieces). Raises RunNotFound, EventsGone or BusUnavailable."""
        ...

    async def send_control(self, run_id: str, message: bytes) -> bool:
        """Delivers `message` to the run's owner; False when the run is not running."""
        ...

    async def publish(self, channel: str, message: bytes) -> None:
        """Sends `message` to the current subscribers of `channel` (none: it is dropped)."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Subscribes (on entering) to `channel`; yields its messages in the order sent."""
        ...
