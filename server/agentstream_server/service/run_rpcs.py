"""WatchRun, CancelRun and GetRun: the gRPC edge of the run bus, plus the control messages
a replica sends to the replica that runs a run."""

from __future__ import annotations

import json
from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from ..bus import FINAL_KINDS, BusError, RunBus, RunRecord, RunStatus, log_key
from ..core.errors import InvalidRequest, quote
from .auth import addressed_run, current_principal, may_address
from .convert import check_run_id
from .delivery import join_logged
from .hooks import HookSession
from .remote_hooks import RemoteHookClients
from .status import BUS_STATUS, STATUS_OF_PB

AnyContext = grpc.aio.ServicerContext[Any, Any]

STATE_PB = {
    RunStatus.RUNNING: pb.RUN_STATE_RUNNING,
    RunStatus.COMPLETED: pb.RUN_STATE_COMPLETED,
    RunStatus.FAILED: pb.RUN_STATE_FAILED,
    RunStatus.CANCELLED: pb.RUN_STATE_CANCELLED,
}


async def visible_run(bus: RunBus, run_id: str, context: AnyContext) -> RunRecord:
    """The run's record if it exists and belongs to the caller (or the caller is an admin
    naming its owner); NOT_FOUND otherwise, the same either way, so run ids of other
    principals cannot be probed. Use `record.key` to address the run on the bus."""
    try:
        check_run_id(run_id, "run_id")
    except InvalidRequest as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
    try:
        record = await bus.get(log_key(*addressed_run(context, run_id)))
    except BusError as error:
        await context.abort(BUS_STATUS[type(error)], str(error))
    if record is None or not may_address(current_principal(), record.owner):
        await context.abort(
            grpc.StatusCode.NOT_FOUND,
            f"run_id: no run {quote(run_id)} (unknown, or ended before the retention)",
        )
    return record


async def watch_run(
    bus: RunBus,
    request: pb.WatchRunRequest,
    context: grpc.aio.ServicerContext[pb.WatchRunRequest, pb.StreamPromptResponse],
) -> None:
    """Writes the run's events after `after_seq` (their deltas joined with `coalesce`),
    then ends with the run's own status."""
    key = (await visible_run(bus, request.run_id, context)).key
    last: pb.StreamPromptResponse | None = None
    try:
        async for batch in bus.watch(key, request.after_seq):
            for event in join_logged(batch) if request.coalesce else batch:
                await context.write(event)
            last = batch[-1]
        record = await bus.get(key)
    except BusError as error:
        await context.abort(BUS_STATUS[type(error)], str(error))
    error_code: int
    if last is not None and last.WhichOneof("event") in FINAL_KINDS:
        error_code, message = last.error.code, last.error.message
    elif record is not None and record.status is not RunStatus.RUNNING:
        error_code, message = record.error_code, ""
    else:
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the run's log ended early; retry")
    if error_code:
        context.set_code(STATUS_OF_PB[error_code])
        context.set_details(message or "the run failed; its last event says why")


async def cancel_run(
    bus: RunBus,
    request: pb.CancelRunRequest,
    context: grpc.aio.ServicerContext[pb.CancelRunRequest, pb.CancelRunResponse],
) -> pb.CancelRunResponse:
    record = await visible_run(bus, request.run_id, context)
    if record.status is RunStatus.RUNNING:
        try:
            if await bus.send_control(record.key, cancel_message(request.reason)):
                return pb.CancelRunResponse(state=pb.RUN_STATE_RUNNING)
            record = await bus.get(record.key) or record  # it ended meanwhile
        except BusError as error:
            await context.abort(BUS_STATUS[type(error)], str(error))
    return pb.CancelRunResponse(state=STATE_PB[record.status])


async def get_run(
    bus: RunBus,
    request: pb.GetRunRequest,
    context: grpc.aio.ServicerContext[pb.GetRunRequest, pb.GetRunResponse],
) -> pb.GetRunResponse:
    record = await visible_run(bus, request.run_id, context)
    return pb.GetRunResponse(run=run_info_pb(record))


def run_info_pb(record: RunRecord) -> pb.RunInfo:
    info = pb.RunInfo(
        run_id=record.run_id,
        state=STATE_PB[record.status],
        agent=record.agent,
        turns=record.turns,
        last_seq=record.last_seq,
        started_at=_timestamp(record.started_at),
        owner=record.owner,
        detached=record.detached,
        error_code=record.error_code,  # type: ignore[arg-type]
    )
    if record.ended_at:
        info.ended_at.CopyFrom(_timestamp(record.ended_at))
    return info


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


# --- control messages, delivered to the run's replica -----------------------------------


def cancel_message(reason: str) -> bytes:
    return json.dumps({"cancel": reason}).encode()


def apply_control(session: HookSession, remote: RemoteHookClients, message: bytes) -> None:
    """Runs on the replica that runs the run; unknown messages are ignored (a newer
    replica may send more kinds)."""
    decoded = json.loads(message)
    if "cancel" in decoded:
        session.cancel(str(decoded["cancel"]))
    else:
        remote.handle(decoded)
