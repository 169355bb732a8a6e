"""The Hooks RPC: attach a client to a run, pass it the run's events, apply its replies.

A bad reply gets a `HookError` and changes nothing; so does a reply over
`limits.max_hook_replies_per_second` (the client may send it again). A message that
cannot be decoded ends the stream with INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from agentstream.v1 import agent_pb2 as pb

from ..bus import BusError, RunBus, RunStatus, log_key, started_channel
from ..config import ServerConfig
from ..core.errors import InvalidRequest, quote
from ..limits import Limits, ReplyRate
from .auth import RunKey, addressed_run
from .convert import check_run_id
from .hook_outbox import Outbox
from .hooks import ALL_KINDS, AlreadyAttached, HookSession
from .runs import RunRegistry

HooksContext = grpc.aio.ServicerContext[pb.HooksRequest, pb.HooksResponse]
# Why the client's stream must end: its status and message.
Ending = tuple[grpc.StatusCode, str]
_ECHOED_ID_CHARS = 32


async def hooks_stream(
    runs: RunRegistry,
    bus: RunBus,
    settings: ServerConfig,
    limits: Limits,
    request_iterator: AsyncIterator[pb.HooksRequest],
    context: HooksContext,
) -> None:
    """Serves one Hooks stream, writing with `context.write` (no generator hop per event)."""
    requests = aiter(request_iterator)
    try:
        first = await anext(requests, None)
    except InvalidRequest as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
    if first is None or first.WhichOneof("request") != "attach":
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, "attach: the first message must be an attach"
        )
    attach = first.attach
    events, blocking = await _attach_kinds(attach, context)
    timeout_s = settings.hooks_attach_timeout_ms / 1000
    key = addressed_run(context, attach.run_id)
    session = await _find_run(runs, bus, key, timeout_s)
    if isinstance(session, _Elsewhere):
        from .remote_hooks import relay_hooks  # imports this module

        await relay_hooks(bus, log_key(*key), first, requests, context)
        return
    if session is None:
        await context.abort(
            grpc.StatusCode.NOT_FOUND,
            f"attach.run_id: no run {quote(attach.run_id)} started within "
            f"{timeout_s * 1000:.0f} ms",
        )
    try:
        outbox = session.attach(events, blocking, not attach.omit_aggregated_text)
    except AlreadyAttached:
        await context.abort(
            grpc.StatusCode.ALREADY_EXISTS,
            f"attach.run_id: run {quote(attach.run_id)} already has a hooks client",
        )
    rate = ReplyRate(limits.max_hook_replies_per_second)
    reader = asyncio.create_task(_read_replies(requests, session, outbox, rate))
    try:
        await context.write(pb.HooksResponse(attached=pb.HookAttached(run_id=session.run_id)))
        while (response := await outbox.get()) is not None:
            await context.write(response)
    finally:
        reader.cancel()
        session.detach(outbox)
    if reader.done() and not reader.cancelled() and (ending := reader.result()) is not None:
        await context.abort(*ending)


class _Elsewhere:
    """The run is running on another replica sharing the bus: the client is relayed."""


_ELSEWHERE = _Elsewhere()


async def _find_run(
    runs: RunRegistry, bus: RunBus, key: RunKey, timeout_s: float
) -> HookSession | _Elsewhere | None:
    """The run this client attaches to, here or on another replica, waiting up to
    `timeout_s` for it to start (on any replica); None if it did not."""
    session = runs.get(key)
    if session is not None:
        return session
    if not bus.shared:
        return await runs.find(key, timeout_s)
    deadline = asyncio.get_running_loop().time() + timeout_s
    run_key = log_key(*key)
    try:
        # Subscribed before looking, so a start between the two is not missed.
        async with bus.subscribe(started_channel(run_key)) as starts:
            record = await bus.get(run_key)
            if record is None or record.status is not RunStatus.RUNNING:
                async with asyncio.timeout_at(deadline):
                    await anext(starts)
                record = await bus.get(run_key)
    except TimeoutError:
        return None
    except BusError:  # no other replica can be reached: only a run here can be found
        return await runs.find(key, max(0.0, deadline - asyncio.get_running_loop().time()))
    if record is None or record.status is not RunStatus.RUNNING:
        return None
    if record.replica != bus.replica_id:
        return _ELSEWHERE
    # It runs here and registers itself as soon as its start is on the bus.
    return await runs.find(key, max(0.0, deadline - asyncio.get_running_loop().time()))


async def _attach_kinds(
    attach: pb.HookAttach, context: HooksContext
) -> tuple[frozenset[int], frozenset[int]]:
    try:
        check_run_id(attach.run_id, "attach.run_id")
    except InvalidRequest as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
    for field in ("events", "blocking"):
        for i, kind in enumerate(getattr(attach, field)):
            if kind not in ALL_KINDS:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"attach.{field}[{i}]: not a hook event kind ({kind})",
                )
    return frozenset(attach.events), frozenset(attach.blocking)


async def _read_replies(
    requests: AsyncIterator[pb.HooksRequest], session: HookSession, outbox: Outbox, rate: ReplyRate
) -> Ending | None:
    """Applies the client's replies; a bad one gets a HookError and changes nothing. Returns
    why the stream must end, if it must."""
    try:
        async for request in requests:
            apply_hooks_request(request, session, outbox, rate)
    except InvalidRequest as error:
        outbox.close()
        return grpc.StatusCode.INVALID_ARGUMENT, error.message
    # The client closed its side: it may go on reading, but can answer nothing more.
    session.replies_ended()
    return None


def apply_hooks_request(
    request: pb.HooksRequest, session: HookSession, outbox: Outbox, rate: ReplyRate
) -> None:
    """Applies one client message after the attach (here, or relayed from another replica)."""
    if not rate.allow():
        problem: str | None = rate.problem()
        event_id = request.reply.event_id
    elif request.WhichOneof("request") == "reply":
        problem = session.reply(request.reply)
        event_id = request.reply.event_id
    else:
        problem = f"attach: this stream is already attached to run {quote(session.run_id)}"
        event_id = ""
    if problem is not None:
        # The id is echoed cut short: a client's 1 MB id must not come back 1,000 times.
        error = pb.HookError(event_id=event_id[:_ECHOED_ID_CHARS], message=problem)
        outbox.put_notice(pb.HooksResponse(error=error))
