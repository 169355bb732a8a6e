"""WatchRun with `coalesce`, over real gRPC with the in-memory bus and a real Redis bus:
consecutive logged deltas of one kind, turn and call arrive as one message covering
`first_seq`..`seq`, their exact concatenation; every logged event is covered exactly once,
in order, with no gap, whatever seq the watcher resumes after (including the middle of
what would be one joined message); everything else is the log's own message."""

from __future__ import annotations

import itertools
import random

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.service.delivery import MAX_JOINED_CHARS

from .helpers import collect, script

AGENTS = [{"name": "a", "provider": "offline", "model": "m", "tools": ["calculator"]}]
MIXED = script(
    [
        {"reasoning": "think about it " * 6},
        {"text": "first I will compute "},
        {"tool_call": {"name": "calculator", "arguments": {"expression": "6*7" + " " * 40}}},
        {"tool_call": {"name": "calculator", "arguments": {"expression": "1+1" + " " * 40}}},
    ],
    [{"text": "one two three four five six seven eight nine ten " * 3}],
)
_prefixes = itertools.count()


@pytest.fixture(params=["memory", "redis"])
async def server(request, start_server, redis_server):
    config = {"agents": AGENTS}
    if request.param == "redis":
        prefix = f"coalesce{next(_prefixes)}"
        config["bus"] = {"type": "redis", "url": redis_server.url, "key_prefix": prefix}
    return await start_server(config)


async def watch(stub, run_id, after_seq=0, coalesce=True):
    call = stub.WatchRun(pb.WatchRunRequest(run_id=run_id, after_seq=after_seq, coalesce=coalesce))
    events = [event async for event in call]
    assert await call.code() == grpc.StatusCode.OK
    return events


def kind(event):
    return str(event.WhichOneof("event"))


def piece(event):
    delta = getattr(event, kind(event))
    return delta.arguments_delta if kind(event) == "tool_call_delta" else delta.text


def join_key(event):
    """Logged events that may be joined share a key; any other event is its own."""
    if kind(event) in ("text_delta", "reasoning_delta"):
        return kind(event), event.turn, ""
    if kind(event) == "tool_call_delta":
        return kind(event), event.turn, event.tool_call_delta.id
    return kind(event), event.seq, ""


def covered(message):
    return range(message.first_seq or message.seq, message.seq + 1)


def check_covers(messages, log, after_seq):
    """`messages` cover log[after_seq:] exactly once, in order, each as the log has it."""
    expected_seq = after_seq + 1
    for message in messages:
        seqs = covered(message)
        assert seqs.start == expected_seq, (seqs, expected_seq)
        expected_seq = seqs.stop
        events = log[seqs.start - 1 : seqs.stop - 1]
        if len(events) == 1:
            assert message.first_seq == 0
            assert message == events[0]
            continue
        assert {join_key(e) for e in events} == {join_key(message)}
        assert piece(message) == "".join(piece(e) for e in events)
        merged = getattr(message, kind(message)).merged
        assert merged == sum(getattr(e, kind(e)).merged + 1 for e in events) - 1
        assert (message.run_id, message.turn) == (events[0].run_id, events[0].turn)
        if kind(message) == "tool_call_delta":
            assert message.tool_call_delta.name == events[0].tool_call_delta.name
    assert expected_seq == len(log) + 1


def groups(log, after_seq):
    """How many messages a coalescing watcher gets after `after_seq`: one per run of
    joinable events."""
    keys = [join_key(e) for e in log[after_seq:]]
    return sum(1 for i, k in enumerate(keys) if i == 0 or k != keys[i - 1])


async def test_resuming_anywhere_covers_every_event_once_with_deltas_joined(server):
    run = await collect(
        server.stub, pb.StreamPromptRequest(prompt="go", run_id="mixed-1", extra_params=MIXED)
    )
    assert run.code == grpc.StatusCode.OK
    log = await watch(server.stub, "mixed-1", coalesce=False)
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert log == run.events
    # Every resume point, so also each one inside a run of deltas.
    for after_seq in range(len(log) + 1):
        messages = await watch(server.stub, "mixed-1", after_seq)
        check_covers(messages, log, after_seq)
        assert len(messages) == groups(log, after_seq)
    assert len(await watch(server.stub, "mixed-1")) < len(log) / 4


async def test_a_watcher_dropping_at_random_messages_still_gets_everything_once(server):
    run = await collect(
        server.stub, pb.StreamPromptRequest(prompt="go", run_id="mixed-2", extra_params=MIXED)
    )
    log = run.events
    rng = random.Random(9)
    for _ in range(10):
        received, after_seq = [], 0
        while not received or kind(received[-1]) != "final_response":
            call = server.stub.WatchRun(
                pb.WatchRunRequest(run_id="mixed-2", after_seq=after_seq, coalesce=True)
            )
            keep = rng.randint(1, 3)
            async for message in call:
                received.append(message)
                after_seq = message.seq
                keep -= 1
                if keep == 0:
                    call.cancel()
                    break
        check_covers(received, log, 0)


async def test_a_long_answer_is_joined_into_bounded_messages(server):
    words = "word " * (MAX_JOINED_CHARS // 2)
    extra = script([{"text": words}])
    run = await collect(
        server.stub, pb.StreamPromptRequest(prompt="go", run_id="long-1", extra_params=extra)
    )
    messages = await watch(server.stub, "long-1")
    check_covers(messages, run.events, 0)
    texts = [m.text_delta.text for m in messages if kind(m) == "text_delta"]
    assert "".join(texts) == words
    assert len(texts) >= 2
    assert all(len(t) <= MAX_JOINED_CHARS for t in texts)


async def test_a_live_run_is_followed_gap_free_when_coalescing(server):
    steps = []
    for i in range(30):
        steps += [{"text": f"w{i} "}, {"delay_ms": 2}]
    call = server.stub.StreamPrompt(
        pb.StreamPromptRequest(prompt="go", run_id="live-1", extra_params=script(steps))
    )
    first = await call.read()
    followed = await watch(server.stub, "live-1", first.seq)
    log = [first]
    while (event := await call.read()) != grpc.aio.EOF:
        log.append(event)
    check_covers(followed, log, first.seq)
