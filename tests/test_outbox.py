"""The hooks outbox: bounded, merging observe-only deltas, never delaying anything else."""

from __future__ import annotations

import asyncio

from agentstream.v1 import agent_pb2 as pb
from agentstream_server.service.hooks import Outbox


def text(delta: str, aggregated: str = "", blocking: bool = False) -> pb.HooksResponse:
    return pb.HooksResponse(
        event=pb.HookEvent(
            reply_expected=blocking, text_delta=pb.HookTextDelta(delta=delta, aggregated=aggregated)
        )
    )


def tool(call_id: str) -> pb.HooksResponse:
    return pb.HooksResponse(event=pb.HookEvent(tool_call=pb.HookToolCall(call_id=call_id)))


async def test_deltas_queued_within_the_window_go_out_as_one():
    outbox = Outbox(limit=100, flush_s=10)
    for word in ("a ", "b ", "c "):
        outbox.put_observed(text(word, aggregated="x"))
    outbox.put(tool("t1"))  # a different event ends the merge and is not delayed
    merged = await asyncio.wait_for(outbox.get(), 1)
    assert merged.event.text_delta.delta == "a b c " and merged.event.merged == 2
    assert (await asyncio.wait_for(outbox.get(), 1)).event.tool_call.call_id == "t1"


async def test_a_blocking_event_is_never_merged_or_held():
    outbox = Outbox(limit=100, flush_s=10)
    outbox.put(text("ask", blocking=True))
    outbox.put_observed(text("later"))
    first = await asyncio.wait_for(outbox.get(), 1)
    assert first.event.reply_expected and first.event.text_delta.delta == "ask"


async def test_closing_flushes_at_once():
    outbox = Outbox(limit=100, flush_s=10)
    outbox.put_observed(text("only"))
    getter = asyncio.create_task(outbox.get())
    await asyncio.sleep(0)
    outbox.close()
    assert (await asyncio.wait_for(getter, 1)).event.text_delta.delta == "only"
    assert await outbox.get() is None


async def test_a_full_outbox_merges_into_its_tail_or_reports_an_overflow():
    outbox = Outbox(limit=2, flush_s=0)
    outbox.put(tool("t1"))
    outbox.put_observed(text("a"))
    outbox.put_observed(text("b"))  # full: merged into the tail
    outbox.put(tool("t2"))
    outbox.put_observed(text("c"))  # full, tail is not a delta: dropped and counted
    assert outbox.dropped == 1
    first = await outbox.get()
    assert first.error.message.startswith("overflow: 1 observe-only event(s) dropped")
    assert (await outbox.get()).event.tool_call.call_id == "t1"
    assert (await outbox.get()).event.text_delta.delta == "ab"


async def test_a_merged_message_is_finished_by_its_last_delta():
    outbox = Outbox(limit=100, flush_s=0)
    pieces = ["a ", "b ", "c "]
    for count in (1, 2, 3):

        def finish(response, count=count):
            response.event.text_delta.aggregated = "".join(pieces[:count])

        outbox.put_observed(text(pieces[count - 1]), finish)
    merged = await outbox.get()
    assert merged.event.text_delta.delta == "a b c "
    assert merged.event.text_delta.aggregated == "a b c "
