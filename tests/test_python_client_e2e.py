"""The Python client helper against a real server: a separate client process serves
two client tools that the model calls in parallel; the unit-level tests drive the
helper in-process for hooks callbacks, cancel and failures."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
import pytest
from agentstream import AgentClient, Cancel, RunFailed, Skip, tool
from agentstream.v1 import agent_pb2 as pb

from .helpers import wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "clients" / "python" / "examples" / "client_tools.py"
CONFIG = {
    "agents": [
        {"name": "echo", "provider": "offline", "model": "m"},
        {"name": "calc", "provider": "offline", "model": "m", "tools": ["calculator"]},
    ]
}


async def test_client_process_serves_two_parallel_client_tools(start_server):
    server = await start_server(CONFIG)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--target",
        server.address,
        "--agent",
        "echo",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    # Both calls were made in the same turn, before either result came back.
    assert [line.split()[2] for line in lines[:2]] == ["lookup_order", "order_total"]
    final = lines[-1]
    assert "Lyon depot" in final and "41.50 EUR" in final


async def test_on_event_can_skip_a_server_tool(start_server):
    server = await start_server(CONFIG)
    seen = []

    def guard(event: pb.HookEvent):
        seen.append(event.WhichOneof("event"))
        if event.WhichOneof("event") == "tool_call":
            return Skip("calculator is off today")
        return None

    async with AgentClient(server.address) as client:
        run = client.run(
            "6*7?", agent="calc", on_event=guard, blocking=[pb.HOOK_EVENT_KIND_TOOL_CALL]
        )
        final = await run.result()
    assert "calculator is off today" in final.text
    assert "tool_call" in seen and "completion_call" in seen


async def test_cancel_reaches_the_server_and_returns_the_history(start_server):
    server = await start_server(CONFIG)
    script = [[{"text": "a b c"}, {"delay_ms": 1}] * 2000]
    async with AgentClient(server.address) as client:
        run = client.run("go", agent="echo", hooks=True, extra_params={"script": script})
        with pytest.raises(RunFailed) as raised:
            async for event in run:
                if event.WhichOneof("event") == "text_delta":
                    await run.cancel("user pressed stop")
        with pytest.raises(RunFailed) as again:
            await run.result()
    assert again.value is raised.value
    assert raised.value.code == grpc.StatusCode.CANCELLED
    assert raised.value.error.code == pb.ERROR_CODE_CANCELLED
    assert "user pressed stop" in raised.value.details
    await wait_until(lambda: len(server.server.servicer.runs) == 0)


async def test_failing_client_tool_is_an_error_result(start_server):
    server = await start_server(CONFIG)

    @tool("explode", "always fails")
    async def explode(arguments: dict) -> str:
        raise ValueError("kaboom")

    async with AgentClient(server.address) as client:
        run = client.run("go", agent="echo", tools=[explode])
        results = [e.tool_result async for e in run if e.WhichOneof("event") == "tool_result"]
        final = await run.result()
    assert results[0].is_error and "kaboom" in results[0].content
    assert "kaboom" in final.text


async def test_typed_tool_gets_its_arguments_and_refuses_what_does_not_fit(start_server):
    """The schema given by hand is looser than the signature: the server lets days="three"
    through, the helper refuses it with an is_error result naming the path, and the call
    that fits runs with days as an int."""
    server = await start_server(CONFIG)
    seen = []

    @tool("forecast", "Forecast", {"type": "object"})
    async def forecast(city: str, days: int = 1) -> str:
        seen.append((city, days))
        return f"{city}: {days} day(s) of rain"

    script = [
        [
            {"tool_call": {"name": "forecast", "arguments": {"city": "Oslo", "days": "three"}}},
            {"tool_call": {"name": "forecast", "arguments": {"city": "Oslo", "days": 3}}},
        ],
        [{"text": "done"}],
    ]
    async with AgentClient(server.address) as client:
        run = client.run(
            "go", agent="echo", max_turns=2, tools=[forecast], extra_params={"script": script}
        )
        results = [e.tool_result async for e in run if e.WhichOneof("event") == "tool_result"]
    assert [(r.content, r.is_error) for r in results] == [
        (
            'tool "forecast" not run: arguments do not fit its parameters: '
            "$.days: string does not fit int",
            True,
        ),
        ("Oslo: 3 day(s) of rain", False),
    ]
    assert seen == [("Oslo", 3)]


async def test_cancel_from_a_hook_callback(start_server):
    server = await start_server(CONFIG)
    async with AgentClient(server.address) as client:
        run = client.run(
            "6*7?",
            agent="calc",
            on_event=lambda e: Cancel("nope"),
            blocking=[pb.HOOK_EVENT_KIND_COMPLETION_CALL],
        )
        with pytest.raises(RunFailed) as raised:
            await run.result()
    assert raised.value.code == grpc.StatusCode.CANCELLED
    assert raised.value.history[-1].parts[0].text == "6*7?"


def _attached_kinds(server) -> set[int]:
    (session,) = server.server.servicer.runs._sessions.values()
    return set(session._events)


async def test_helper_subscribes_only_to_the_kinds_it_uses(start_server):
    """Client tools alone: the server sends the helper tool calls, not every text delta;
    a callback with kinds listed gets those and its blocking kinds; one without gets all."""
    server = await start_server(CONFIG)
    seen: list[set[int]] = []

    @tool("peek", "records what the server sends this run's hooks client")
    async def peek(arguments: dict) -> str:
        seen.append(_attached_kinds(server))
        return "ok"

    async with AgentClient(server.address) as client:
        await client.run("go", agent="echo", tools=[peek]).result()
        await client.run(
            "go",
            agent="echo",
            tools=[peek],
            on_event=lambda e: None,
            events=[pb.HOOK_EVENT_KIND_TOOL_RESULT],
            blocking=[pb.HOOK_EVENT_KIND_COMPLETION_FINISHED],
        ).result()
        await client.run("go", agent="echo", tools=[peek], on_event=lambda e: None).result()
    tool_call, tool_result, finished = (
        pb.HOOK_EVENT_KIND_TOOL_CALL,
        pb.HOOK_EVENT_KIND_TOOL_RESULT,
        pb.HOOK_EVENT_KIND_COMPLETION_FINISHED,
    )
    assert seen[0] == {tool_call}
    assert seen[1] == {tool_result, finished}
    assert pb.HOOK_EVENT_KIND_TEXT_DELTA in seen[2]


async def test_no_tools_and_no_callback_open_no_hooks_stream(start_server):
    server = await start_server(CONFIG)
    hangs = [[{"text": "hi"}, {"hang": True}]]  # the run stays while the test looks at it
    async with AgentClient(server.address) as client:
        run = client.run("go", agent="echo", extra_params={"script": hangs})
        with pytest.raises(RunFailed):  # the iteration of a cancelled run ends with its error
            async for event in run:
                if event.WhichOneof("event") == "text_delta":
                    (session,) = server.server.servicer.runs._sessions.values()
                    assert session._outbox is None and not session.settings.wait_for_client
                    await run.cancel()


def test_client_package_needs_only_grpcio_and_protobuf():
    import tomllib

    project = tomllib.loads((ROOT / "clients" / "python" / "pyproject.toml").read_text())["project"]
    names = sorted(d.split(">")[0].split("=")[0].split("<")[0] for d in project["dependencies"])
    assert names == ["grpcio", "protobuf"]
    # Importing the client pulls in nothing of the server's.
    code = (
        "import sys, agentstream, agentstream.v1.agent_pb2_grpc\n"
        "server = ('agentstream_server', 'pydantic', 'httpx', 'yaml')\n"
        "bad = [m for m in server if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)
