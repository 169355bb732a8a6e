"""The run bus contract: the in-memory bus and the Redis bus (a real redis-server) pass the
same tests."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.bus import (
    EventsGone,
    MemoryBus,
    RunExists,
    RunNotFound,
    RunRecord,
    RunStatus,
    started_channel,
)
from agentstream_server.config import RedisBusConfig
from agentstream_server.service.delivery import join_logged

from ..helpers import wait_until

_prefixes = itertools.count()


@pytest.fixture(params=["memory", "redis"])
async def make_bus(request, redis_server):
    buses = []

    async def make(**settings):
        if request.param == "memory":
            bus = MemoryBus(**settings)
        else:
            from agentstream_server.bus.redis import RedisBus

            config = RedisBusConfig(
                type="redis",
                url=redis_server.url,
                key_prefix=f"contract{next(_prefixes)}",
                lease_s=1,
                **settings,
            )
            bus = RedisBus(config)
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.aclose()


def event(seq, text="x", turn=1):
    return pb.StreamPromptResponse(
        run_id="r", seq=seq, turn=turn, text_delta=pb.TextDelta(text=f"{text}{seq}")
    )


def final(seq):
    return pb.StreamPromptResponse(
        run_id="r", seq=seq, turn=1, final_response=pb.FinalResponse(text="done")
    )


async def drain(bus, run_id, after_seq=0):
    return [e async for batch in bus.watch(run_id, after_seq) for e in batch]


async def test_replay_then_follow_is_gap_free_and_duplicate_free(make_bus):
    bus = await make_bus()
    log = await bus.open_run(RunRecord("r", "agent"), lambda m: None)
    for seq in range(1, 6):
        log.append(event(seq))
    watched = []

    async def follow():
        async for batch in bus.watch("r", 2):
            watched.extend(e.seq for e in batch)

    follower = asyncio.create_task(follow())
    await wait_until(lambda: watched == [3, 4, 5])
    for seq in range(6, 9):
        log.append(event(seq))
    log.append(final(9))
    log.close(RunStatus.COMPLETED)
    await asyncio.wait_for(follower, 10)
    assert watched == list(range(3, 10))
    assert [e.seq for e in await drain(bus, "r")] == list(range(1, 10))
    assert await drain(bus, "r", 9) == []


async def test_a_replay_is_read_in_large_batches_from_any_point(make_bus):
    bus = await make_bus()
    log = await bus.open_run(RunRecord("r", "agent"), lambda m: None)
    for seq in range(1, 10_000):
        log.append(event(seq))
    log.append(final(10_000))
    log.close(RunStatus.COMPLETED)
    await wait_until_async(lambda: bus.get("r"), lambda r: r.status is RunStatus.COMPLETED)
    for after_seq in (0, 1, 255, 256, 257, 4095, 4096, 5000, 9_999, 10_000):
        batches = [batch async for batch in bus.watch("r", after_seq)]
        assert [e.seq for batch in batches for e in batch] == list(range(after_seq + 1, 10_001))
        assert len(batches) <= 1 + (10_000 - after_seq) // 1000  # not one event at a time


def mixed(seq, rng):
    """A logged event of a random joinable kind (or not), so runs of deltas vary."""
    kind = rng.choice(["text", "text", "text", "reasoning", "call_a", "call_b", "result"])
    turn = 1 + seq // 400
    if kind == "text":
        return pb.StreamPromptResponse(
            run_id="r", seq=seq, turn=turn, text_delta={"text": f"t{seq} "}
        )
    if kind == "reasoning":
        delta = pb.ReasoningDelta(text=f"r{seq} ", merged=seq % 3)
        return pb.StreamPromptResponse(run_id="r", seq=seq, turn=turn, reasoning_delta=delta)
    if kind.startswith("call"):
        delta = pb.ToolCallDelta(id=kind, arguments_delta=f"a{seq},")
        return pb.StreamPromptResponse(run_id="r", seq=seq, turn=turn, tool_call_delta=delta)
    return pb.StreamPromptResponse(run_id="r", seq=seq, turn=turn, tool_result={"id": f"x{seq}"})


async def test_joined_replays_from_random_points_cover_each_event_once(make_bus):
    rng = random.Random(13)
    bus = await make_bus()
    log = await bus.open_run(RunRecord("r", "agent"), lambda m: None)
    logged = [mixed(seq, rng) for seq in range(1, 3000)] + [final(3000)]
    for e in logged:
        log.append(e)
    log.close(RunStatus.COMPLETED)
    await wait_until_async(lambda: bus.get("r"), lambda r: r.status is RunStatus.COMPLETED)
    for after_seq in [0, 2999, 3000, *rng.sample(range(1, 2999), 40)]:
        messages = [m async for batch in bus.watch("r", after_seq) for m in join_logged(batch)]
        next_seq = after_seq + 1
        for m in messages:
            first = m.first_seq or m.seq
            assert first == next_seq
            covered = logged[first - 1 : m.seq]
            kind = m.WhichOneof("event")
            assert {e.WhichOneof("event") for e in covered} == {kind}
            if len(covered) == 1:
                assert m == covered[0]
            else:
                field = "arguments_delta" if kind == "tool_call_delta" else "text"
                pieces = [getattr(getattr(e, kind), field) for e in covered]
                assert getattr(getattr(m, kind), field) == "".join(pieces)
                assert (
                    getattr(m, kind).merged == sum(getattr(e, kind).merged + 1 for e in covered) - 1
                )
                assert {e.turn for e in covered} == {m.turn}
                assert {e.tool_call_delta.id for e in covered} == {m.tool_call_delta.id}
            next_seq = m.seq + 1
        assert next_seq == 3001
        assert len(messages) < (3000 - after_seq) * 0.8 + 2  # deltas were joined


async def test_the_record_follows_the_run(make_bus):
    bus = await make_bus()
    opened = RunRecord("r", "agent", owner="alice", detached=True)
    log = await bus.open_run(opened, lambda m: None)
    assert await bus.get("r") is None  # runs are known by owner and id (`log_key`)
    key = opened.key
    log.append(event(1, turn=2))
    await wait_until_async(lambda: bus.get(key), lambda r: r.last_seq == 1)
    record = await bus.get(key)
    assert (record.agent, record.owner, record.detached, record.turns) == (
        "agent",
        "alice",
        True,
        2,
    )
    assert record.status is RunStatus.RUNNING and record.ended_at == 0
    log.append(final(2))
    log.close(RunStatus.CANCELLED, pb.ERROR_CODE_CANCELLED)
    await wait_until_async(lambda: bus.get(key), lambda r: r.status is RunStatus.CANCELLED)
    record = await bus.get(key)
    assert record.error_code == pb.ERROR_CODE_CANCELLED and record.ended_at >= record.started_at
    assert record.last_seq == 2


async def wait_until_async(read, check, within=5.0):
    """Polls an async read until `check` holds (Redis applies writes in the background)."""
    deadline = asyncio.get_running_loop().time() + within
    while not check(await read()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_run_ids_are_unique_while_running_and_retained(make_bus):
    bus = await make_bus(retention_s=0.3)
    log = await bus.open_run(RunRecord("r", "agent"), lambda m: None)
    with pytest.raises(RunExists):
        await bus.open_run(RunRecord("r", "agent"), lambda m: None)
    log.append(final(1))
    log.close(RunStatus.COMPLETED)
    with pytest.raises(RunExists):
        await bus.open_run(RunRecord("r", "agent"), lambda m: None)
    await wait_until_async(lambda: bus.get("r"), lambda r: r is None)
    with pytest.raises(RunNotFound):
        await drain(bus, "r")
    await bus.open_run(RunRecord("r", "agent"), lambda m: None)


async def test_control_messages_reach_the_running_run_only(make_bus):
    bus = await make_bus()
    received = []
    log = await bus.open_run(RunRecord("r", "agent"), received.append)
    assert await bus.send_control("r", b"cancel please")
    await wait_until(lambda: received == [b"cancel please"])
    log.append(final(1))
    log.close(RunStatus.COMPLETED)
    await wait_until_async(lambda: bus.get("r"), lambda r: r.status is RunStatus.COMPLETED)
    assert not await bus.send_control("r", b"too late")
    assert not await bus.send_control("nobody", b"hello")


async def test_events_past_the_bound_are_gone_not_skipped(make_bus):
    bus = await make_bus(max_events_per_run=100)
    log = await bus.open_run(RunRecord("r", "agent"), lambda m: None)
    for seq in range(1, 1001):
        log.append(event(seq))
    log.append(final(1001))
    log.close(RunStatus.COMPLETED)
    await wait_until_async(lambda: bus.get("r"), lambda r: r.status is RunStatus.COMPLETED)
    with pytest.raises(EventsGone):
        await drain(bus, "r")
    tail = await drain(bus, "r", 950)
    assert [e.seq for e in tail] == list(range(951, 1002))


async def test_unknown_runs_are_not_found(make_bus):
    bus = await make_bus()
    assert await bus.get("ghost") is None
    with pytest.raises(RunNotFound):
        await drain(bus, "ghost")


async def test_a_start_is_announced_to_who_waits_for_it(make_bus):
    bus = await make_bus()
    async with bus.subscribe(started_channel("alice/r")) as starts:
        waiting = asyncio.ensure_future(anext(starts))
        await bus.open_run(RunRecord("other", "agent", owner="alice"), lambda m: None)
        await bus.open_run(RunRecord("r", "agent", owner="alice"), lambda m: None)
        await asyncio.wait_for(waiting, 5)
    record = await bus.get("alice/r")
    assert record is not None and record.replica == bus.replica_id
