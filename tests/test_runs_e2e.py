"""Runs that outlive their call, with the in-memory bus: detach, WatchRun, CancelRun, GetRun
over real gRPC. The same behaviours with Redis and two server processes are in
tests/test_redis_replicas.py."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb

from .helpers import collect, script, wait_until
from .tools import GateTool

CONFIG = {
    "agents": [
        {"name": "a", "provider": "offline", "model": "m", "tools": ["gate"]},
        {"name": "plain", "provider": "offline", "model": "m"},
    ],
}
# Turn 1 says something and calls the gate tool, which waits for the test; turn 2 answers.
GATED = script(
    [{"text": "let me check that"}, {"tool_call": {"name": "gate", "arguments": {}}}],
    [{"text": "all done now"}],
)


@pytest.fixture
async def server(start_server):
    gate = GateTool("gate")
    running = await start_server(CONFIG, tools={"gate": gate.tool})
    running.gate = gate
    return running


def seqs(events):
    return [e.seq for e in events]


async def read_until(call, kind):
    """Reads a StreamPrompt call until an event of `kind`; returns the events read."""
    events = []
    async for event in call:
        events.append(event)
        if event.WhichOneof("event") == kind:
            return events
    raise AssertionError(f"the stream ended before a {kind} event")


async def watch(stub, run_id, after_seq=0, **kwargs):
    return await collect_watch(
        stub.WatchRun(pb.WatchRunRequest(run_id=run_id, after_seq=after_seq), **kwargs)
    )


async def collect_watch(call):
    from .helpers import RunResult

    result = RunResult()
    try:
        async for event in call:
            result.events.append(event)
    except grpc.aio.AioRpcError as e:
        result.code, result.details = e.code(), e.details() or ""
        return result
    result.code = await call.code()
    return result


async def get_run(stub, run_id):
    return (await stub.GetRun(pb.GetRunRequest(run_id=run_id))).run


async def test_detached_run_goes_on_and_a_watcher_resumes_without_gap_or_duplicate(server):
    call = server.stub.StreamPrompt(
        pb.StreamPromptRequest(prompt="go", run_id="d1", detach=True, extra_params=GATED)
    )
    seen = await read_until(call, "tool_call")
    call.cancel()  # the caller's network drops mid-run
    await wait_until(lambda: server.gate.started == 1)
    assert (await get_run(server.stub, "d1")).state == pb.RUN_STATE_RUNNING
    server.gate.gate.set()
    rest = await watch(server.stub, "d1", after_seq=seen[-1].seq)
    assert rest.code == grpc.StatusCode.OK
    events = seen + rest.events
    assert seqs(events) == list(range(1, len(events) + 1))
    assert events[-1].final_response.text == "all done now"
    whole = await watch(server.stub, "d1")
    assert [e.SerializeToString() for e in whole.events] == [e.SerializeToString() for e in events]


async def test_a_watcher_following_live_gets_what_the_caller_gets(server):
    caller = asyncio.create_task(
        collect(server.stub, pb.StreamPromptRequest(prompt="go", run_id="live", extra_params=GATED))
    )
    await wait_until(lambda: server.gate.started == 1)
    watcher = asyncio.create_task(watch(server.stub, "live"))
    await wait_until(lambda: server.server.bus._logs["live"]._waiter is not None)
    server.gate.gate.set()
    direct, watched = await caller, await watcher
    assert direct.code == watched.code == grpc.StatusCode.OK
    assert [e.SerializeToString() for e in watched.events] == [
        e.SerializeToString() for e in direct.events
    ]


async def test_a_caller_leaving_a_run_it_did_not_detach_cancels_it_and_watchers_see_the_end(
    server,
):
    call = server.stub.StreamPrompt(
        pb.StreamPromptRequest(prompt="go", run_id="nd", extra_params=GATED)
    )
    await read_until(call, "tool_call")
    await wait_until(lambda: server.gate.started == 1)
    call.cancel()
    result = await watch(server.stub, "nd")
    assert result.code == grpc.StatusCode.CANCELLED
    assert result.last.error.code == pb.ERROR_CODE_CANCELLED
    assert "caller went away" in result.last.error.message
    assert server.gate.cancelled == 1
    info = await get_run(server.stub, "nd")
    assert info.state == pb.RUN_STATE_CANCELLED and info.error_code == pb.ERROR_CODE_CANCELLED


async def test_cancel_run_ends_the_run_with_cancelled_and_its_history(server):
    caller = asyncio.create_task(
        collect(
            server.stub,
            pb.StreamPromptRequest(prompt="go", run_id="c1", detach=True, extra_params=GATED),
        )
    )
    await wait_until(lambda: server.gate.started == 1)
    response = await server.stub.CancelRun(pb.CancelRunRequest(run_id="c1", reason="enough"))
    assert response.state == pb.RUN_STATE_RUNNING
    result = await caller
    assert result.code == grpc.StatusCode.CANCELLED
    error = result.last.error
    assert error.code == pb.ERROR_CODE_CANCELLED and "enough" in error.message
    # The history holds the call and a result for it, so it can be sent back.
    assert [m.role for m in error.history] == [pb.ROLE_USER, pb.ROLE_ASSISTANT, pb.ROLE_USER]
    assert error.history[-1].parts[0].tool_result.is_error
    again = await server.stub.CancelRun(pb.CancelRunRequest(run_id="c1"))
    assert again.state == pb.RUN_STATE_CANCELLED
    watched = await watch(server.stub, "c1", after_seq=result.last.seq - 1)
    assert watched.code == grpc.StatusCode.CANCELLED and seqs(watched.events) == [result.last.seq]


async def test_get_run_describes_a_running_then_a_finished_run(server):
    caller = asyncio.create_task(
        collect(server.stub, pb.StreamPromptRequest(prompt="go", run_id="g1", extra_params=GATED))
    )
    await wait_until(lambda: server.gate.started == 1)
    running = await get_run(server.stub, "g1")
    assert running.state == pb.RUN_STATE_RUNNING
    assert (running.run_id, running.agent, running.turns) == ("g1", "a", 1)
    assert running.last_seq > 1 and running.started_at.seconds > 0
    assert not running.HasField("ended_at") and not running.detached
    server.gate.gate.set()
    result = await caller
    done = await get_run(server.stub, "g1")
    assert done.state == pb.RUN_STATE_COMPLETED
    assert (done.turns, done.last_seq) == (2, result.last.seq)
    assert done.ended_at.ToNanoseconds() >= done.started_at.ToNanoseconds()


async def test_watching_the_end_of_a_finished_run_sends_nothing_and_keeps_its_status(server):
    result = await collect(
        server.stub,
        pb.StreamPromptRequest(
            prompt="go",
            run_id="f1",
            max_turns=1,
            extra_params=script([{"tool_call": {"name": "nope", "arguments": {}}}]),
        ),
    )
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    watched = await watch(server.stub, "f1", after_seq=result.last.seq)
    assert watched.events == [] and watched.code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_bad_watch_cancel_and_get_requests(server):
    for rpc, request in [
        (server.stub.GetRun, pb.GetRunRequest(run_id="ghost")),
        (server.stub.CancelRun, pb.CancelRunRequest(run_id="ghost")),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await rpc(request)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert "ghost" in raised.value.details()
    assert (await watch(server.stub, "ghost")).code == grpc.StatusCode.NOT_FOUND
    empty = await watch(server.stub, "")
    assert empty.code == grpc.StatusCode.INVALID_ARGUMENT and "run_id" in empty.details


async def test_a_run_id_stays_taken_while_its_run_is_retained(server):
    first = await collect(
        server.stub, pb.StreamPromptRequest(agent="plain", prompt="hi", run_id="once")
    )
    assert first.code == grpc.StatusCode.OK
    second = await collect(
        server.stub, pb.StreamPromptRequest(agent="plain", prompt="hi", run_id="once")
    )
    assert second.code == grpc.StatusCode.ALREADY_EXISTS
    assert second.last.error.code == pb.ERROR_CODE_RUN_ID_IN_USE
    assert "retention" in second.details


async def test_a_finished_run_is_not_found_after_the_retention(start_server):
    server = await start_server(
        {**CONFIG, "bus": {"retention_s": 0.05}}, tools={"gate": GateTool("gate").tool}
    )
    await collect(server.stub, pb.StreamPromptRequest(agent="plain", prompt="hi", run_id="brief"))
    assert (await get_run(server.stub, "brief")).state == pb.RUN_STATE_COMPLETED
    await wait_until(lambda: "brief" not in server.server.bus._logs)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await get_run(server.stub, "brief")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    second = await collect(
        server.stub, pb.StreamPromptRequest(agent="plain", prompt="hi", run_id="brief")
    )
    assert second.code == grpc.StatusCode.OK


async def test_events_beyond_the_bound_are_out_of_range_not_a_silent_gap(start_server):
    server = await start_server(
        {**CONFIG, "bus": {"max_events_per_run": 100}}, tools={"gate": GateTool("gate").tool}
    )
    long_text = " ".join(f"w{i}" for i in range(300))
    result = await collect(
        server.stub,
        pb.StreamPromptRequest(
            prompt="hi", run_id="long", extra_params=script([{"text": long_text}])
        ),
    )
    assert result.code == grpc.StatusCode.OK
    trimmed = await watch(server.stub, "long")
    assert trimmed.code == grpc.StatusCode.OUT_OF_RANGE and "no longer kept" in trimmed.details
    tail = await watch(server.stub, "long", after_seq=result.last.seq - 50)
    assert tail.code == grpc.StatusCode.OK
    assert seqs(tail.events) == list(range(result.last.seq - 49, result.last.seq + 1))
