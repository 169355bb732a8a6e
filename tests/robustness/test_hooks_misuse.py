"""Hooks misuse: each case gets a clear answer naming the field, and the server stays well."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.service.runs import RunRegistry

from ..helpers import collect, script, wait_until
from ..hooks_client import PROCEED, HookStream
from .conftest import assert_healthy

CLIENT_TOOL = pb.ToolDefinition(name="lookup", description="look up")


def _run(server, run_id, *turns, **fields):
    request = pb.StreamPromptRequest(
        agent="a", prompt="go", run_id=run_id, extra_params=script(*turns), **fields
    )
    return asyncio.create_task(collect(server.stub, request, timeout=20))


async def _attached(server, run_id, *turns, blocking=(), **fields):
    hooks = HookStream(server.stub)
    attach = asyncio.create_task(hooks.attach(run_id, (), blocking))
    result = _run(server, run_id, *turns, hooks=pb.HooksOptions(wait_for_client=True), **fields)
    await attach
    return hooks, result


async def test_odd_digit_event_ids_get_an_error_and_replies_still_work(robust):
    """Defect 2: "²" and 5,000-digit ids once killed the reply reader silently."""
    hooks, result = await _attached(
        robust, "odd-ids", [{"text": "done"}], blocking=(pb.HOOK_EVENT_KIND_COMPLETION_FINISHED,)
    )
    finished = await hooks.event("completion_finished")
    for odd in ("²", "7" * 5000, "-1", "0x1", " 1"):
        await hooks.reply(odd, **PROCEED)
        error = (await hooks.read()).error
        assert error.message.startswith("reply.event_id: no event")
        assert len(error.message) < 200  # quoted, not copied whole
    await hooks.reply(finished.event_id, **PROCEED)  # the reader is still alive
    assert (await result).code == grpc.StatusCode.OK
    await assert_healthy(robust)


async def test_abandoned_attaches_leave_nothing_in_the_registry(robust):
    """Defect 7: attaches to runs that never start, abandoned by their clients."""
    calls = []
    for i in range(50):
        call = robust.stub.Hooks()
        await call.write(pb.HooksRequest(attach=pb.HookAttach(run_id=f"never-{i}")))
        calls.append(call)
    registry = robust.server.servicer.runs
    await wait_until(lambda: registry.waiting_attaches == 50)
    for call in calls:
        call.cancel()
    await wait_until(lambda: registry.waiting_attaches == 0)
    await assert_healthy(robust)


async def test_a_waiter_that_leaves_does_not_strand_another_waiting_for_the_same_run():
    registry = RunRegistry()
    staying = asyncio.create_task(registry.find("shared", 5))
    leaving = asyncio.create_task(registry.find("shared", 5))
    await wait_until(lambda: registry.waiting_attaches == 1)
    await asyncio.sleep(0)  # both waits have begun
    leaving.cancel()
    await asyncio.gather(leaving, return_exceptions=True)
    session = SimpleNamespace(run_id="shared", interrupt=None)
    registry.register(session)  # type: ignore[arg-type]
    assert await staying is session
    assert registry.waiting_attaches == 0


async def test_attach_run_id_is_checked(robust):
    for run_id, problem in (("x" * 10_000, "1-128 characters"), ("a/b", "letters, digits")):
        hooks = HookStream(robust.stub)
        await hooks.call.write(pb.HooksRequest(attach=pb.HookAttach(run_id=run_id)))
        try:
            await hooks.call.read()
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error.details().startswith("attach.run_id: ") and problem in error.details()
        else:
            raise AssertionError("attach with a bad run_id was accepted")
    await assert_healthy(robust)
