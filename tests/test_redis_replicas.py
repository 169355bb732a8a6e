"""Replicas sharing a Redis run bus: real server processes, a real redis-server.

Any replica serves any run: a detached run on A is resumed from B, cancelled from B; a
watcher rides out a Redis restart; a replica that dies ends its runs as lost; 200 runs
over `--workers 2` reach watchers that reconnect at random points exactly once.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys

import grpc
import pytest
import redis
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from .helpers import collect, script
from .processes import ROOT, ServerProcess
from .redis_server import RedisServer, free_port

AGENTS = [{"name": "a", "provider": "offline", "model": "m", "tools": ["calculator"]}]


def config(redis_url, **bus):
    return {
        "agents": AGENTS,
        "bus": {"type": "redis", "url": redis_url, "lease_s": 1, **bus},
        "server": {"grace_period_s": 1},
    }


def slow_words(count, delay_ms=20):
    """One turn of `count` words, `delay_ms` apart."""
    steps = []
    for i in range(count):
        steps += [{"text": f"w{i}"}, {"delay_ms": delay_ms}]
    return steps


@pytest.fixture
async def replicas(redis_server, tmp_path):
    started = []

    def start(url=None, *args, **bus):
        server = ServerProcess(config(url or redis_server.url, **bus), tmp_path, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


async def read_some(call, count):
    events = []
    async for event in call:
        events.append(event)
        if len(events) == count:
            return events
    raise AssertionError("the run ended early")


async def watch(stub, run_id, after_seq=0):
    return await drain(stub.WatchRun(pb.WatchRunRequest(run_id=run_id, after_seq=after_seq)))


async def drain(call):
    """The rest of a call's events and its status."""
    events = []
    try:
        async for event in call:
            events.append(event)
    except grpc.aio.AioRpcError as error:
        return events, error.code()
    return events, await call.code()


async def until(condition, within=20.0):
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def until_logged(stub, run_id, seq, within=10.0):
    deadline = asyncio.get_running_loop().time() + within
    while (await stub.GetRun(pb.GetRunRequest(run_id=run_id))).run.last_seq < seq:
        assert asyncio.get_running_loop().time() < deadline, "the events never reached the log"
        await asyncio.sleep(0.005)


def assert_whole(events):
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].WhichOneof("event") in ("final_response", "error")
    assert len({e.run_id for e in events}) == 1


async def test_a_detached_run_on_a_is_resumed_from_b(replicas):
    a, b = replicas(), replicas()
    a.wait_ready(), b.wait_ready()
    request = pb.StreamPromptRequest(
        prompt="go", run_id="resume-1", detach=True, extra_params=script(slow_words(30))
    )
    call = a.stub.StreamPrompt(request)
    seen = await read_some(call, 5)
    call.cancel()
    rest, code = await watch(b.stub, "resume-1", seen[-1].seq)
    assert code == grpc.StatusCode.OK
    events = seen + rest
    assert_whole(events)
    assert events[-1].final_response.text == "".join(f"w{i}" for i in range(30))
    info = (await b.stub.GetRun(pb.GetRunRequest(run_id="resume-1"))).run
    assert info.state == pb.RUN_STATE_COMPLETED and info.detached
    assert info.last_seq == events[-1].seq


async def test_cancel_from_b_a_run_on_a(replicas):
    a, b = replicas(), replicas()
    a.wait_ready(), b.wait_ready()
    request = pb.StreamPromptRequest(
        prompt="go", run_id="cancel-1", extra_params=script([{"text": "working"}, {"hang": True}])
    )
    call = a.stub.StreamPrompt(request)
    await read_some(call, 2)
    response = await b.stub.CancelRun(pb.CancelRunRequest(run_id="cancel-1", reason="from b"))
    assert response.state == pb.RUN_STATE_RUNNING
    events, code = await drain(call)
    assert code == grpc.StatusCode.CANCELLED
    assert events[-1].error.code == pb.ERROR_CODE_CANCELLED
    assert "from b" in events[-1].error.message
    watched, code = await watch(b.stub, "cancel-1")
    assert code == grpc.StatusCode.CANCELLED and watched[-1] == events[-1]


async def test_a_watcher_rides_out_a_redis_restart(replicas, tmp_path):
    redis = RedisServer()
    redis.start()
    try:
        a, b = replicas(redis.url), replicas(redis.url)
        a.wait_ready(), b.wait_ready()
        request = pb.StreamPromptRequest(
            prompt="go", run_id="outage-1", extra_params=script(slow_words(60, 25))
        )
        call = a.stub.StreamPrompt(request)
        first = await read_some(call, 1)  # the run is registered once it has begun
        caller = asyncio.create_task(drain(call))
        watcher = b.stub.WatchRun(pb.WatchRunRequest(run_id="outage-1"))
        seen = await read_some(watcher, 10)
        redis.stop()
        try:
            async for event in watcher:
                seen.append(event)
        except grpc.aio.AioRpcError as error:
            # Not a silent gap: the watcher is told, and may retry.
            assert error.code() == grpc.StatusCode.UNAVAILABLE
        redis.start()
        rest_direct, direct_code = await caller
        assert direct_code == grpc.StatusCode.OK  # the caller never noticed
        direct = first + rest_direct
        assert_whole(direct)
        rest, code = await watch(b.stub, "outage-1", seen[-1].seq)
        assert code == grpc.StatusCode.OK
        assert [e.SerializeToString() for e in seen + rest] == [
            e.SerializeToString() for e in direct
        ]
        # New runs work with no restart.
        after = await collect(b.stub, pb.StreamPromptRequest(prompt="again", run_id="outage-2"))
        assert after.code == grpc.StatusCode.OK
    finally:
        redis.close()


async def test_a_run_whose_replica_dies_ends_as_lost_with_its_history(replicas):
    a, b = replicas(), replicas()
    a.wait_ready(), b.wait_ready()
    turns = [
        [{"tool_call": {"name": "calculator", "arguments": {"expression": "6 * 7"}}}],
        [{"text": "thinking"}, {"hang": True}],
    ]
    call = a.stub.StreamPrompt(
        pb.StreamPromptRequest(
            prompt="go", run_id="lost-1", detach=True, extra_params=script(*turns)
        )
    )
    seen = []
    async for event in call:
        seen.append(event)
        if event.WhichOneof("event") == "text_delta":
            break
    # Events reach Redis a write batch after the caller: wait until they all have.
    await until_logged(b.stub, "lost-1", seen[-1].seq)
    a.kill()
    rest, code = await watch(b.stub, "lost-1", seen[-1].seq)
    assert code == grpc.StatusCode.UNAVAILABLE
    events = seen + rest
    assert_whole(events)
    error = events[-1].error
    assert error.code == pb.ERROR_CODE_RUN_LOST and error.retryable
    # The history as of turn 1, ready to be sent back with an empty prompt.
    assert [m.role for m in error.history] == [pb.ROLE_USER, pb.ROLE_ASSISTANT, pb.ROLE_USER]
    assert error.history[1].parts[0].tool_call.name == "calculator"
    info = (await b.stub.GetRun(pb.GetRunRequest(run_id="lost-1"))).run
    assert info.state == pb.RUN_STATE_FAILED and info.error_code == pb.ERROR_CODE_RUN_LOST


async def test_200_runs_over_two_workers_reach_reconnecting_watchers_exactly_once(
    redis_server, tmp_path
):
    server = ServerProcess(config(redis_server.url), tmp_path, "--workers", "2")
    server.wait_ready()
    await until(lambda: server.log().count("agentstream serving") == 2)  # both have bound
    # Own connections (channels share them by default), which the kernel spreads.
    channels = [
        grpc.aio.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(8)
    ]
    stubs = [pb_grpc.AgentServiceStub(c) for c in channels]
    rng = random.Random(9)
    limit = asyncio.Semaphore(16)

    async def one(n):
        async with limit:
            run_id = f"many-{n}"
            request = pb.StreamPromptRequest(
                prompt="go", run_id=run_id, detach=True, extra_params=script(slow_words(15, 2))
            )
            direct = await collect(stubs[n % 8], request)
            assert direct.code == grpc.StatusCode.OK, direct.details
            watched, last = [], 0
            while True:  # a watcher that drops at random points and comes back elsewhere
                stub = stubs[rng.randrange(8)]
                call = stub.WatchRun(pb.WatchRunRequest(run_id=run_id, after_seq=last))
                stop_after = rng.randrange(1, 12)
                async for event in call:
                    watched.append(event)
                    last = event.seq
                    if len(watched) % stop_after == 0:
                        call.cancel()
                        break
                else:
                    break
            assert [e.SerializeToString() for e in watched] == [
                e.SerializeToString() for e in direct.events
            ]

    try:
        await asyncio.gather(*(one(n) for n in range(200)))
    finally:
        for channel in channels:
            await channel.close()
        await server.close()
    served_by = {
        line.split("[")[1].split("]")[0]
        for line in server.log().splitlines()
        if " completed " in line
    }
    assert len(served_by) == 2, "both workers should have served runs"


def test_workers_need_a_shared_bus_and_redis_must_be_reachable(tmp_path):
    memory = tmp_path / "memory.yaml"
    memory.write_text("agents: [{name: a, provider: offline, model: m}]\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentstream_server",
            "--config",
            str(memory),
            "--addr",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "bus: {type: redis" in done.stderr
    nowhere = tmp_path / "nowhere.yaml"
    nowhere.write_text(
        "agents: [{name: a, provider: offline, model: m}]\n"
        f"bus: {{type: redis, url: 'redis://:secret@127.0.0.1:{free_port()}/0'}}\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentstream_server",
            "--config",
            str(nowhere),
            "--addr",
            f"127.0.0.1:{free_port()}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert "run store" in done.stderr and "cannot be reached" in done.stderr
    assert "secret" not in done.stderr


LOOKUP = pb.ToolDefinition(name="lookup", description="where an order is")


async def until_running(stub, run_id, within=20.0):
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            info = (await stub.GetRun(pb.GetRunRequest(run_id=run_id))).run
            if info.state == pb.RUN_STATE_RUNNING:
                return
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND
        assert asyncio.get_running_loop().time() < deadline, "the run never started"
        await asyncio.sleep(0.01)


async def next_of(hooks, kind):
    while (response := await hooks.read()) is not grpc.aio.EOF:
        event = response.event
        if response.WhichOneof("response") == "event" and event.WhichOneof("event") == kind:
            return event
    raise AssertionError(f"the hooks stream ended before a {kind} event")


async def rest_of(hooks):
    rest = []
    while (response := await hooks.read()) is not grpc.aio.EOF:
        rest.append(response)
    return rest


async def test_hooks_on_b_serve_a_client_tool_for_a_run_on_a(replicas):
    a, b = replicas(), replicas()
    a.wait_ready(), b.wait_ready()
    turns = [
        [{"tool_call": {"name": "lookup", "arguments": {"order": "A-7"}}}],
        [{"text": "It is in Lyon."}],
    ]
    request = pb.StreamPromptRequest(
        prompt="where?", run_id="remote-1", tools=[LOOKUP], extra_params=script(*turns)
    )
    caller = asyncio.create_task(collect(a.stub, request))
    await until_running(b.stub, "remote-1")
    hooks = b.stub.Hooks()
    await hooks.write(pb.HooksRequest(attach=pb.HookAttach(run_id="remote-1")))
    first = await hooks.read()
    assert first.attached.run_id == "remote-1"
    second = b.stub.Hooks()  # one client per run, across replicas too
    await second.write(pb.HooksRequest(attach=pb.HookAttach(run_id="remote-1")))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await second.read()
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    call = await next_of(hooks, "tool_call")
    assert call.tool_call.execute and call.tool_call.name == "lookup"
    reply = pb.HookReply(
        event_id=call.event_id, tool_output=pb.HookToolOutput(content="Lyon depot")
    )
    await hooks.write(pb.HooksRequest(reply=reply))
    result = await caller
    assert result.code == grpc.StatusCode.OK, result.details
    assert result.of("tool_result")[0].content == "Lyon depot"
    rest = await rest_of(hooks)
    assert rest[-1].run_ended.outcome == pb.RUN_OUTCOME_COMPLETED


async def test_hooks_on_b_block_and_cancel_a_run_on_a(replicas):
    a, b = replicas(), replicas()
    a.wait_ready(), b.wait_ready()
    turns = [[{"tool_call": {"name": "calculator", "arguments": {"expression": "1 + 1"}}}]]
    request = pb.StreamPromptRequest(
        prompt="add",
        run_id="remote-2",
        extra_params=script(*turns),
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    caller = asyncio.create_task(collect(a.stub, request))
    await until_running(b.stub, "remote-2")
    hooks = b.stub.Hooks()
    attach = pb.HookAttach(run_id="remote-2", blocking=[pb.HOOK_EVENT_KIND_TOOL_CALL])
    await hooks.write(pb.HooksRequest(attach=attach))
    assert (await hooks.read()).attached.run_id == "remote-2"
    call = await next_of(hooks, "tool_call")
    assert call.reply_expected and not call.tool_call.execute
    cancel = pb.HookReply(event_id=call.event_id, cancel=pb.HookCancel(reason="not from b"))
    await hooks.write(pb.HooksRequest(reply=cancel))
    result = await caller
    assert result.code == grpc.StatusCode.CANCELLED
    assert "not from b" in result.last.error.message
    assert all(r.content != "2" for r in result.of("tool_result"))  # the tool never ran


async def test_hooks_on_b_attached_before_the_run_starts_on_a(replicas, redis_server, tmp_path):
    a = replicas()
    # B's attaches wait 3 s for their run (the server's default is 10 s).
    b_config = config(redis_server.url)
    b_config["server"]["hooks_attach_timeout_ms"] = 3000
    b = ServerProcess(b_config, tmp_path)
    a.wait_ready(), b.wait_ready()
    try:
        await attach_before_start(a, b, redis_server)
    finally:
        await b.close()


async def attach_before_start(a, b, redis_server):
    hooks = b.stub.Hooks()
    await hooks.write(pb.HooksRequest(attach=pb.HookAttach(run_id="early-1")))
    # B waits for the run's start to be announced on the bus (no run yet, anywhere).
    started = "agentstream:chan:started:early-1"
    with redis.Redis(port=redis_server.port) as client:
        await until(lambda: client.pubsub_numsub(started)[0][1] == 1)
    turns = [
        [{"tool_call": {"name": "lookup", "arguments": {"order": "A-7"}}}],
        [{"text": "It is in Lyon."}],
    ]
    request = pb.StreamPromptRequest(
        prompt="where?", run_id="early-1", tools=[LOOKUP], extra_params=script(*turns)
    )
    caller = asyncio.create_task(collect(a.stub, request))
    assert (await hooks.read()).attached.run_id == "early-1"
    call = await next_of(hooks, "tool_call")
    reply = pb.HookReply(event_id=call.event_id, tool_output=pb.HookToolOutput(content="Lyon"))
    await hooks.write(pb.HooksRequest(reply=reply))
    result = await caller
    assert result.code == grpc.StatusCode.OK, result.details
    assert result.of("tool_result")[0].content == "Lyon"
    # Nobody starts "early-2": the attach gives up after its timeout, as on one replica.
    late = b.stub.Hooks()
    await late.write(pb.HooksRequest(attach=pb.HookAttach(run_id="early-2")))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await late.read()
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
