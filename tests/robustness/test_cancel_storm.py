"""2,000 runs cancelled by their callers at random points leave nothing behind: no run
slot, no registered run, no open model stream, no task, no file descriptor."""

from __future__ import annotations

import asyncio
import os
import random

import grpc
from agentstream.v1 import agent_pb2 as pb

from ..helpers import script, wait_until
from ..tools import GateTool
from .conftest import assert_healthy

RUNS = 2000
AT_ONCE = 50
CONFIG = {
    "agents": [{"name": "a", "provider": "offline", "model": "m", "tools": ["gate"]}],
    "limits": {"max_concurrent_runs": AT_ONCE, "max_runs_per_principal": AT_ONCE},
}
# Long enough that a cancel can land anywhere: in the model's stream, between deltas,
# or while a server tool runs (the gate never opens). Ten events come before the gate.
TURNS = script(
    [{"text": "one two three four five six"}, {"tool_call": {"name": "gate"}}],
    [{"text": "seven eight"}],
)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _cancel_after(stub, events: int) -> None:
    call = stub.StreamPrompt(
        pb.StreamPromptRequest(agent="a", prompt="go", extra_params=TURNS), timeout=30
    )
    for _ in range(events):
        if await call.read() is grpc.aio.EOF:
            break
    call.cancel()


async def test_runs_cancelled_at_random_points_leave_nothing_behind(start_server):
    gate = GateTool("gate")
    server = await start_server(CONFIG, tools={"gate": gate.tool})
    await assert_healthy(server)  # channels, pools and threads exist before the baseline
    fds, tasks = _open_fds(), len(asyncio.all_tasks())
    rng = random.Random(2000)
    slots = asyncio.Semaphore(AT_ONCE)
    servicer = server.server.servicer

    async def one() -> None:
        async with slots:
            await _cancel_after(server.stub, rng.randint(0, 10))
            # A slot frees once the server has seen the cancel, so wait for it.
            await wait_until(lambda: servicer.slots.running < AT_ONCE, timeout=10)

    await asyncio.gather(*(one() for _ in range(RUNS)))
    await wait_until(lambda: servicer.slots.running == 0 and len(servicer.runs) == 0, 20)
    assert server.offline.open_streams == 0
    assert gate.running == 0 and gate.cancelled == gate.started
    await wait_until(lambda: len(asyncio.all_tasks()) <= tasks, 10)
    assert _open_fds() <= fds + 2  # the loopback connection may have been re-made
    await assert_healthy(server)
