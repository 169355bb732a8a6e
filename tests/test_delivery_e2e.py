"""Coalesced delivery over real gRPC: consecutive deltas of one kind leave as one message
with their exact concatenation, never across kinds, turns or calls, never held past the
window, and the run's log (WatchRun) holds the same gap-free messages the caller got."""

from __future__ import annotations

import asyncio

import grpc
from agentstream.v1 import agent_pb2 as pb

from .helpers import collect, script

CONFIG = {
    "agents": [{"name": "a", "provider": "offline", "model": "m", "tools": ["calculator"]}],
}
WORDS = "one two three four five six seven eight nine ten " * 20
MIXED = script(
    [
        {"reasoning": "think about it " * 10},
        {"text": "first I will compute "},
        {"tool_call": {"name": "calculator", "arguments": {"expression": "6*7" + " " * 40}}},
        {"tool_call": {"name": "calculator", "arguments": {"expression": "1+1" + " " * 40}}},
    ],
    [{"text": WORDS}],
)


def coalesced(ms: int) -> pb.Delivery:
    return pb.Delivery(max_delay_ms=ms)


def kind(event: pb.StreamPromptResponse) -> str:
    return str(event.WhichOneof("event"))


def delta_key(event: pb.StreamPromptResponse) -> tuple[str, int, bytes]:
    """Deltas that may be joined share a key; any other event is keyed by its content."""
    field = kind(event)
    if field in ("text_delta", "reasoning_delta"):
        return field, event.turn, b""
    if field == "tool_call_delta":
        return field, event.turn, event.tool_call_delta.id.encode()
    return field, event.turn, getattr(event, field).SerializeToString(deterministic=True)


def collapsed(events) -> list[tuple[str, int, bytes]]:
    """The events' keys, consecutive deltas that may be joined counted once."""
    keys = [delta_key(e) for e in events]
    return [k for i, k in enumerate(keys) if i == 0 or k != keys[i - 1]]


def pieces(events, field: str) -> tuple[str, int]:
    """The joined text of all deltas of one kind, and how many provider deltas it was."""
    deltas = [getattr(e, field) for e in events if kind(e) == field]
    text = "".join(d.arguments_delta if field == "tool_call_delta" else d.text for d in deltas)
    return text, sum(d.merged + 1 for d in deltas)


async def test_deltas_are_joined_exactly_and_never_across_kinds_turns_or_calls(start_server):
    server = await start_server(CONFIG)
    plain = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=MIXED))
    merged = await collect(
        server.stub,
        pb.StreamPromptRequest(prompt="go", extra_params=MIXED, delivery=coalesced(50)),
    )
    assert plain.code == merged.code == grpc.StatusCode.OK
    assert [e.seq for e in merged.events] == list(range(1, len(merged.events) + 1))
    assert len(merged.events) < len(plain.events) / 4
    for field in ("text_delta", "reasoning_delta", "tool_call_delta"):
        assert pieces(merged.events, field) == pieces(plain.events, field)
    # Per turn, and per tool call, the text is the same and in the same order.
    for turn in (1, 2):
        for field in ("text_delta", "reasoning_delta"):
            assert pieces([e for e in merged.events if e.turn == turn], field) == pieces(
                [e for e in plain.events if e.turn == turn], field
            )
    calls = [e.tool_call_delta for e in merged.events if kind(e) == "tool_call_delta"]
    assert [c.id for c in calls] == ["call_1_1", "call_1_2"]  # one message per call
    assert all(c.name == "calculator" for c in calls)
    # The same events with runs of joinable deltas collapsed: nothing reordered.
    assert collapsed(merged.events) == collapsed(plain.events)
    assert [delta_key(e) for e in merged.events] == collapsed(plain.events)
    assert merged.last.final_response.text == plain.last.final_response.text


async def test_a_held_delta_leaves_within_the_window_while_the_model_is_silent(start_server):
    server = await start_server(CONFIG)
    hangs = script([{"text": "a b c"}, {"hang": True}])
    call = server.stub.StreamPrompt(
        pb.StreamPromptRequest(prompt="go", extra_params=hangs, delivery=coalesced(20))
    )
    events = []
    async for event in call:
        events.append(event)
        if kind(event) == "text_delta":
            break
    call.cancel()
    assert events[-1].text_delta.text == "a b c" and events[-1].text_delta.merged == 2


async def test_the_run_log_holds_what_the_caller_got(start_server):
    server = await start_server(CONFIG)
    request = pb.StreamPromptRequest(
        prompt="go", run_id="co1", extra_params=MIXED, delivery=coalesced(10)
    )
    direct = await collect(server.stub, request)
    watched = await collect_watch(server.stub, "co1")
    assert [e.SerializeToString() for e in watched] == [
        e.SerializeToString() for e in direct.events
    ]


async def test_the_server_default_applies_and_zero_turns_it_off(start_server):
    server = await start_server(CONFIG, delivery_max_delay_ms=50)
    text = script([{"text": WORDS}])
    by_default = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=text))
    off = await collect(
        server.stub, pb.StreamPromptRequest(prompt="go", extra_params=text, delivery=coalesced(0))
    )
    deltas = [e for e in by_default.events if kind(e) == "text_delta"]
    assert len(deltas) == 1 and deltas[0].text_delta.merged == len(WORDS.split()) - 1
    one_each = [e.text_delta for e in off.events if kind(e) == "text_delta"]
    assert len(one_each) == len(WORDS.split()) and not any(d.merged for d in one_each)


async def test_a_window_over_the_limit_is_invalid_argument(start_server):
    server = await start_server(CONFIG)
    result = await collect(
        server.stub, pb.StreamPromptRequest(prompt="go", delivery=coalesced(5000))
    )
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "delivery.max_delay_ms" in result.details


async def collect_watch(stub, run_id: str) -> list[pb.StreamPromptResponse]:
    return [e async for e in stub.WatchRun(pb.WatchRunRequest(run_id=run_id))]


async def test_the_offline_models_schedule_does_not_drift_and_is_checked(start_server):
    """`at_ms` (used by bench/concurrency.py): a step waits until that time after the turn
    began; a non-number names the key."""
    server = await start_server(CONFIG)
    loop = asyncio.get_running_loop()
    began = loop.time()
    timed = script([{"at_ms": 200, "text": "a"}, {"at_ms": 100, "text": "b"}])
    result = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=timed))
    assert result.last.final_response.text == "ab"
    assert loop.time() - began >= 0.2
    bad = script([{"at_ms": "soon", "text": "a"}])
    failed = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=bad))
    assert "at_ms must be a number" in failed.last.error.message
