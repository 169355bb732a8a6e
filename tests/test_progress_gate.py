"""The per-call progress gate: at once, then the latest per interval, nothing after close."""

from __future__ import annotations

import asyncio
import threading

import pytest
from agentstream_server.core.progress import ProgressGate


async def test_reports_within_the_interval_collapse_into_the_latest():
    loop = asyncio.get_running_loop()
    delivered: list[tuple[str, float | None]] = []
    second = asyncio.Event()

    def deliver(message: str, fraction: float | None) -> None:
        delivered.append((message, fraction))
        if len(delivered) == 2:
            second.set()

    gate = ProgressGate(loop, 0.05, deliver)
    gate.report("one", 0.1)
    assert delivered == [("one", 0.1)]  # on the loop, with the interval passed: at once
    gate.report("two", 0.2)
    gate.report("three")
    assert len(delivered) == 1
    await asyncio.wait_for(second.wait(), 5)
    assert delivered == [("one", 0.1), ("three", None)]


async def test_nothing_after_close_and_reports_from_threads_reach_the_loop():
    loop = asyncio.get_running_loop()
    delivered: list[str] = []
    first = asyncio.Event()

    def deliver(message: str, fraction: float | None) -> None:
        assert threading.current_thread() is threading.main_thread()
        delivered.append(message)
        first.set()

    gate = ProgressGate(loop, 60, deliver)
    await asyncio.to_thread(gate.report, "from a thread")
    await asyncio.wait_for(first.wait(), 5)
    gate.report("held back for a minute")
    gate.close()
    gate.report("after the result")
    assert delivered == ["from a thread"]


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan"), float("inf")])
async def test_a_fraction_outside_0_1_is_refused(fraction):
    gate = ProgressGate(asyncio.get_running_loop(), 0.1, lambda m, f: None)
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        gate.report("x", fraction)
