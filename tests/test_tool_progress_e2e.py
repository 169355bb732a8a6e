"""Tool progress over real gRPC: server tools report through their context, client tools
through Hooks replies; both become `tool_progress` events on StreamPrompt and Hooks."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.tools import ToolContext, tool

from .helpers import collect, script
from .hooks_client import HookStream, output

CONFIG = {
    "agents": [
        {"name": "a", "provider": "offline", "model": "m", "tools": ["steps", "chatty"]},
    ],
    "server": {"hooks_attach_timeout_ms": 5000},
}
CLIENT_TOOL = pb.ToolDefinition(name="lookup", description="look up an order")


class Steps:
    """Reports one step, then waits until the test has seen it on the stream."""

    def __init__(self) -> None:
        self.seen = asyncio.Event()

        @tool("steps", "reports progress", {"type": "object", "properties": {}})
        async def steps(arguments: dict[str, Any], context: ToolContext) -> str:
            context.progress("half way", 0.5)
            await self.seen.wait()
            return "all done"

        self.tool = steps


@tool("chatty", "reports from a worker thread, far too often")
def chatty(arguments: dict[str, Any], context: ToolContext) -> str:
    assert threading.current_thread() is not threading.main_thread()
    for i in range(20_000):
        context.progress(f"step {i}", i / 20_000)
    return "counted"


@pytest.fixture
async def server(start_server):
    steps = Steps()
    running = await start_server(CONFIG, tools={"steps": steps.tool, "chatty": chatty})
    running.steps = steps
    return running


def request(run_id: str, *calls: str, **fields: Any) -> pb.StreamPromptRequest:
    turn_1 = [{"tool_call": {"name": name, "arguments": {}}} for name in calls]
    return pb.StreamPromptRequest(
        prompt="go", run_id=run_id, extra_params=script(turn_1, [{"text": "ok"}]), **fields
    )


async def test_a_server_tool_reports_progress_on_the_stream_and_to_hooks(server):
    hooks = HookStream(server.stub)
    attach = asyncio.create_task(hooks.attach("p1", events=(pb.HOOK_EVENT_KIND_TOOL_PROGRESS,)))
    events = []
    call = server.stub.StreamPrompt(
        request("p1", "steps", hooks=pb.HooksOptions(wait_for_client=True))
    )
    await attach
    async for event in call:
        events.append(event)
        if event.WhichOneof("event") == "tool_progress":
            server.steps.seen.set()  # only now may the tool finish
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds.index("tool_call") < kinds.index("tool_progress") < kinds.index("tool_result")
    (progress,) = [e.tool_progress for e in events if e.WhichOneof("event") == "tool_progress"]
    (tool_call,) = [e.tool_call for e in events if e.WhichOneof("event") == "tool_call"]
    assert (progress.id, progress.name, progress.message) == (tool_call.id, "steps", "half way")
    assert progress.HasField("fraction") and progress.fraction == 0.5
    hook_event = await hooks.event("tool_progress")
    assert hook_event.tool_progress.call_id == tool_call.id
    assert hook_event.tool_progress.message == "half way"
    assert not hook_event.reply_expected


async def test_progress_is_rate_limited_per_call(server):
    result = await collect(server.stub, request("p2", "chatty"))
    assert result.of("tool_result")[0].content == "counted"
    progress = result.of("tool_progress")
    # 20,000 reports in a tight loop: the first goes out, the rest mostly replace each other.
    assert 1 <= len(progress) < 50
    assert progress[0].message.startswith("step ")
    assert result.kinds().index("tool_result") > result.kinds().index("tool_progress")


async def test_a_client_tool_reports_progress_through_hooks(server):
    hooks = HookStream(server.stub)
    attach = asyncio.create_task(hooks.attach("p3"))
    run = asyncio.create_task(collect(server.stub, request("p3", "lookup", tools=[CLIENT_TOOL])))
    await attach
    event = await hooks.event("tool_call")
    assert event.tool_call.execute
    await hooks.reply(
        event.event_id, tool_progress=pb.HookProgress(message="asking the depot", fraction=0.25)
    )
    await hooks.reply(event.event_id, tool_progress=pb.HookProgress(message="no fraction"))
    await hooks.reply(event.event_id, tool_progress=pb.HookProgress(message="bad", fraction=1.5))
    error = await hooks.read()
    while error.WhichOneof("response") != "error":
        error = await hooks.read()
    assert error.error.event_id == event.event_id
    assert "fraction must be between 0 and 1" in error.error.message
    await hooks.reply(event.event_id, **output("in Lyon"))
    result = await run
    progress = result.of("tool_progress")
    assert progress[0].message == "asking the depot" and progress[0].fraction == 0.25
    assert progress[0].id == event.tool_call.call_id
    # The second report came within the interval and the result came before it was due.
    assert all(p.message != "bad" for p in progress)
    assert result.of("tool_result")[0].content == "in Lyon"
    assert result.code.name == "OK"
