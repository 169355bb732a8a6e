"""Coalescing windows are timed by one timer per window length for the whole server, not
one per held message: a thousand runs streaming at once pay for one."""

from __future__ import annotations

import asyncio

from agentstream.v1 import agent_pb2 as pb
from agentstream_server.core.events import TextDelta
from agentstream_server.service.delivery import Coalescer, Ticks

from .helpers import wait_until

WINDOW_S = 0.04


async def test_one_timer_sends_every_runs_held_delta_after_half_its_window() -> None:
    loop = asyncio.get_running_loop()
    ticks = Ticks()
    sent: dict[str, float] = {}

    async def deliver(message: pb.StreamPromptResponse) -> None:
        sent[message.text_delta.text] = loop.time()

    runs = [Coalescer(f"run{i}", WINDOW_S, deliver, ticks) for i in range(200)]
    timers = len(loop._scheduled)  # type: ignore[attr-defined]
    began = loop.time()
    for i, run in enumerate(runs):
        await run.delta(TextDelta(f"a{i} "), 1)
        await run.delta(TextDelta("b "), 1)  # joins what run i holds
    assert len(loop._scheduled) == timers + 1  # type: ignore[attr-defined]
    await wait_until(lambda: len(sent) == len(runs))
    assert set(sent) == {f"a{i} b " for i in range(len(runs))}
    assert min(sent.values()) - began >= WINDOW_S / 2
    # Nothing held: no timer left armed.
    assert len(loop._scheduled) == timers  # type: ignore[attr-defined]
