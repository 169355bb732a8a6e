"""MCP servers as tool sources: real MCP server processes (tests/mcp_demo_server.py, made with
the SDK) over stdio and streamable HTTP, behind the real agentstream server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.config import ConfigError, parse_config
from agentstream_server.tools.mcp_servers import McpStartError

from .helpers import collect, script, wait_until
from .hooks_client import HookStream

DEMO = str(Path(__file__).with_name("mcp_demo_server.py"))
FAST = {"check_interval_s": 30, "max_restart_delay_s": 1}


def stdio_server(marks: Path, **settings: Any) -> dict[str, Any]:
    return {
        "command": [sys.executable, DEMO, "stdio"],
        "env": {"DEMO_MARKS": str(marks)},
        **FAST,
        **settings,
    }


def config(servers: dict[str, Any], *agents: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "mcp_servers": servers,
        "agents": [
            {"name": name, "provider": "offline", "model": "m", "tools": tools}
            for name, tools in agents
        ],
        "server": {"hooks_attach_timeout_ms": 10_000},
    }


def calls(*named: tuple[str, str], agent: str = "", run_id: str = "") -> pb.StreamPromptRequest:
    turn = [
        {"tool_call": {"name": n, "arguments": a, "id": f"c{i}"}} for i, (n, a) in enumerate(named)
    ]
    return pb.StreamPromptRequest(
        prompt="go", agent=agent, run_id=run_id, extra_params=script(turn, [{"text": "ok"}])
    )


async def agent_info(server, name: str) -> pb.AgentInfo:
    agents = (await server.stub.ListAgents(pb.ListAgentsRequest())).agents
    return next(a for a in agents if a.name == name)


@pytest.fixture
async def http_demo():
    """The demo server on streamable HTTP, as its own process; yields its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, DEMO, "http", stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    async with asyncio.timeout(30):
        line = await process.stdout.readline()
    assert line.startswith(b"port "), line
    yield f"http://127.0.0.1:{int(line.split()[1])}/mcp"
    process.terminate()
    await process.wait()


async def test_stdio_server_tools_run_report_progress_and_fail_as_results(start_server, tmp_path):
    server = await start_server(config({"demo": stdio_server(tmp_path)}, ("a", ["mcp:demo"])))
    result = await collect(
        server.stub,
        calls(
            ("add", '{"a": 2, "b": 40}'),
            ("count", '{"n": 3}'),
            ("closed_depot", "{}"),
            ("snapshot", "{}"),
            ("add", '{"a": "two"}'),
        ),
    )
    assert result.code == grpc.StatusCode.OK
    results = {r.id: r for r in result.of("tool_result")}
    add, count, depot, snapshot, invalid = (results[f"c{i}"] for i in range(5))
    assert (add.content, add.is_error) == ("42", False)
    assert count.content == "counted to 3"
    assert depot.is_error and depot.content.endswith("the depot is closed")
    assert snapshot.content == "two pixels\n[image: image/png, 10 bytes, not shown]"
    assert invalid.is_error and "$.a: 'two' is not of type 'integer'" in invalid.content
    assert "$: 'b' is a required property" in invalid.content
    progress = result.of("tool_progress")
    assert progress[0].id == "c1" and progress[0].name == "count"
    assert progress[0].message == "counted 1" and progress[0].fraction == pytest.approx(1 / 3)

    info = await agent_info(server, "a")
    tools = {t.name: t for t in info.tools}
    assert set(tools) == {
        "add",
        "count",
        "wait_forever",
        "closed_depot",
        "snapshot",
        "header",
        "pid",
        "crash",
    }
    assert (tools["add"].source, tools["add"].origin) == (pb.TOOL_SOURCE_MCP, "demo")
    assert tools["add"].description == "Add two integers."
    assert tools["add"].parameters["required"] == ["a", "b"]
    (status,) = info.mcp_servers
    assert (status.name, status.transport, status.state) == (
        "demo",
        "stdio",
        pb.MCP_SERVER_STATE_READY,
    )


async def test_http_server_and_a_single_tool_entry(start_server, http_demo):
    servers = {"web": {"url": http_demo, "headers": {"X-Demo": "1"}, **FAST}}
    server = await start_server(
        config(servers, ("a", ["mcp:web/add", "mcp:web/header", "calculator"]))
    )
    info = await agent_info(server, "a")
    assert [(t.name, t.source) for t in info.tools] == [
        ("calculator", pb.TOOL_SOURCE_BUILTIN),
        ("add", pb.TOOL_SOURCE_MCP),
        ("header", pb.TOOL_SOURCE_MCP),
    ]
    assert info.mcp_servers[0].transport == "http"
    result = await collect(
        server.stub,
        calls(("add", '{"a": 1, "b": 2}'), ("count", '{"n": 1}'), ("header", '{"name": "x-demo"}')),
    )
    add, count, header = sorted(result.of("tool_result"), key=lambda r: r.id)
    assert add.content == "3"
    assert header.content == "1"  # the configured headers reach the MCP server
    assert count.is_error and count.content.startswith("unknown tool 'count'")


async def test_cancelling_a_run_cancels_the_mcp_call(start_server, tmp_path):
    server = await start_server(config({"demo": stdio_server(tmp_path)}, ("a", ["mcp:demo"])))
    hooks = HookStream(server.stub)
    attach = asyncio.create_task(
        hooks.attach("mcp-cancel", events=(pb.HOOK_EVENT_KIND_TOOL_PROGRESS,))
    )
    request = calls(("wait_forever", "{}"), run_id="mcp-cancel")
    request.hooks.wait_for_client = True
    run = asyncio.create_task(collect(server.stub, request))
    await attach
    event = await hooks.event("tool_progress")  # the MCP tool is running
    assert event.tool_progress.message == "waiting"
    await hooks.reply("", cancel=pb.HookCancel(reason="enough"))
    result = await run
    assert result.code == grpc.StatusCode.CANCELLED
    # The MCP server got notifications/cancelled and stopped the call.
    await wait_until(lambda: (tmp_path / "cancelled").exists(), timeout=10)


async def test_a_dead_server_is_restarted(start_server, tmp_path):
    demo = stdio_server(tmp_path, check_interval_s=0.2)
    server = await start_server(config({"demo": demo}, ("a", ["mcp:demo"])))

    async def pid() -> str:
        result = await collect(server.stub, calls(("pid", "{}")))
        return str(result.of("tool_result")[0].content)

    async def restarted_since(old_pid: str) -> str:
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            # Until the loss is noticed, a call may still reach the dead connection.
            new = await pid()
            if new.isdigit() and new != old_pid:
                info = await agent_info(server, "a")
                assert info.mcp_servers[0].state == pb.MCP_SERVER_STATE_READY
                return new
            assert asyncio.get_running_loop().time() < deadline, "not restarted"
            await asyncio.sleep(0.05)

    # Dies during a call: the call is an error result and the server comes back.
    first = await pid()
    crashed = await collect(server.stub, calls(("crash", "{}")))
    (crash,) = crashed.of("tool_result")
    assert crash.is_error and "demo" in crash.content
    second = await restarted_since(first)
    # Dies between calls (killed from outside): the periodic check finds out.
    os.kill(int(second), signal.SIGKILL)
    await restarted_since(second)


@pytest.mark.parametrize(
    ("servers", "tools", "problem"),
    [
        (
            {},
            ["mcp:nowhere"],
            "tools[0]: no MCP server named 'nowhere' (mcp_servers: none)",
        ),
        ({"s": {"url": "http://x/mcp"}}, ["mcp:s/"], "agents[0].tools[0]: name a tool after 's'/"),
        ({"s": {"command": ["x"], "url": "http://x/mcp"}}, [], "mcp_servers.s: set either command"),
        (
            {"s": {"url": "http://x/mcp", "env": {"A": "1"}}},
            [],
            "env and cwd are for",
        ),
        ({"a/b": {"url": "http://x/mcp"}}, [], "mcp_servers.a/b: a name is 1-64 of"),
    ],
)
def test_mcp_config_mistakes_name_the_field(servers, tools, problem):
    with pytest.raises(ConfigError) as raised:
        parse_config(config(servers, ("a", tools)))
    assert problem in str(raised.value)


async def test_a_required_server_that_cannot_start_stops_the_start(start_server, tmp_path):
    broken = {"command": [sys.executable, "-c", "import sys; sys.exit(3)"], "startup_timeout_s": 20}
    with pytest.raises(McpStartError, match=r"^mcp_servers\.broken: did not start: "):
        await start_server(config({"broken": broken}, ("a", ["mcp:broken"])))


async def test_an_optional_server_that_cannot_start_is_reported(start_server, tmp_path):
    missing = {"command": [str(tmp_path / "no-such-program")], "required": False, **FAST}
    server = await start_server(config({"gone": missing}, ("a", ["mcp:gone", "calculator"])))

    async def failed() -> bool:
        return (await agent_info(server, "a")).mcp_servers[0].state == pb.MCP_SERVER_STATE_FAILED

    deadline = asyncio.get_running_loop().time() + 20
    while not await failed():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    info = await agent_info(server, "a")
    assert [t.name for t in info.tools] == ["calculator"]
    assert "no-such-program" in info.mcp_servers[0].error
