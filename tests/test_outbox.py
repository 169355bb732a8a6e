"""The hooks outbox: bounded, merging observe-only deltas, never delaying anything else."""

from __future__ import annotations

import asyncio

from agentstream.v1 import agent_pb2 as pb
from agentstream_server.service.hook_events import TurnText
from agentstream_server.service.hook_outbox import DeltaRun, Outbox

from .helpers import wait_until


def build(run: DeltaRun) -> pb.HooksResponse:
    """As the session builds it: one event for the whole run of deltas."""
    aggregated = run.turn_text.upto(run.text_upto) if run.turn_text is not None else ""
    delta = pb.HookTextDelta(delta="".join(run.pieces), aggregated=aggregated)
    return pb.HooksResponse(event=pb.HookEvent(merged=len(run.pieces) - 1, text_delta=delta))


def tool(call_id: str) -> pb.HooksResponse:
    return pb.HooksResponse(event=pb.HookEvent(tool_call=pb.HookToolCall(call_id=call_id)))


def add_text(outbox: Outbox, turn_text: TurnText, piece: str, turn: int = 1) -> None:
    turn_text.add(piece)
    outbox.put_delta(turn, "text_delta", piece, turn_text=turn_text)


async def test_deltas_queued_together_go_out_as_one_event():
    outbox = Outbox(limit=100, flush_s=10, build=build)
    text = TurnText(1, limit=1000)
    for word in ("a ", "b ", "c "):
        add_text(outbox, text, word)
    outbox.put(tool("t1"))  # anything else ends the merge and is not delayed
    merged = await asyncio.wait_for(outbox.get(), 1)
    assert merged.event.text_delta.delta == "a b c " and merged.event.merged == 2
    assert merged.event.text_delta.aggregated == "a b c "
    assert (await asyncio.wait_for(outbox.get(), 1)).event.tool_call.call_id == "t1"


async def test_aggregated_text_stops_at_the_run_s_last_delta():
    outbox = Outbox(limit=100, flush_s=0, build=build)
    text = TurnText(1, limit=1000)
    add_text(outbox, text, "a ")
    outbox.put(tool("t1"))
    add_text(outbox, text, "b ")
    first = await outbox.get()
    assert (first.event.text_delta.delta, first.event.text_delta.aggregated) == ("a ", "a ")
    await outbox.get()
    second = await outbox.get()
    assert (second.event.text_delta.delta, second.event.text_delta.aggregated) == ("b ", "a b ")


async def test_a_lone_delta_waits_one_window_and_takes_what_follows():
    outbox = Outbox(limit=100, flush_s=0.05, build=build)
    text = TurnText(1, limit=1000)
    add_text(outbox, text, "a ")
    getter = asyncio.create_task(outbox.get())
    await wait_until(lambda: outbox._gathering)
    add_text(outbox, text, "b ")
    assert (await asyncio.wait_for(getter, 1)).event.text_delta.delta == "a b "


async def test_closing_flushes_at_once():
    outbox = Outbox(limit=100, flush_s=10, build=build)
    add_text(outbox, TurnText(1, limit=1000), "only")
    getter = asyncio.create_task(outbox.get())
    await wait_until(lambda: outbox._gathering)
    outbox.close()
    assert (await asyncio.wait_for(getter, 1)).event.text_delta.delta == "only"
    assert await outbox.get() is None


async def test_a_full_outbox_merges_into_its_tail_or_reports_an_overflow():
    outbox = Outbox(limit=2, flush_s=0, build=build)
    text = TurnText(1, limit=1000)
    outbox.put(tool("t1"))
    add_text(outbox, text, "a")
    add_text(outbox, text, "b")  # full, but it continues the queued run
    outbox.put(tool("t2"))  # what must not wait always queues
    add_text(outbox, text, "c")  # full, and the tail is not a delta run: dropped
    assert outbox.dropped == 1
    first = await outbox.get()
    assert first.error.message.startswith("overflow: 1 observe-only event(s) dropped")
    assert (await outbox.get()).event.tool_call.call_id == "t1"
    assert (await outbox.get()).event.text_delta.delta == "ab"
    assert (await outbox.get()).event.tool_call.call_id == "t2"
