"""Python tools loaded by import path from a package outside agentstream, over real gRPC."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import uuid
from pathlib import Path

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from agentstream_server.config import ConfigError, parse_config
from agentstream_server.tools.builtin import BUILTIN_TOOLS
from agentstream_server.tools.catalogue import ToolCatalogue
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .helpers import collect, script

TEXT_TOOLS = '''
    import asyncio
    import threading

    from agentstream_server.tools import ToolContext, ToolError, tool

    WORDS = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


    @tool("word_count", "Count the words of a text", WORDS)
    def word_count(args, context: ToolContext):
        context.progress("counting", 0.5)
        in_worker = threading.current_thread() is not threading.main_thread()
        return {"words": len(args["text"].split()), "in_worker_thread": in_worker}


    @tool("stall", "Never answers", timeout_s=0.2)
    async def stall(args):
        await asyncio.Event().wait()


    @tool
    async def shout(args: dict) -> str:
        """Shout a text."""
        if not args.get("text"):
            raise ToolError("text: nothing to shout")
        return args["text"].upper()


    def not_a_tool(args):
        return "plain function"
'''


def write_package(root: Path, name: str) -> str:
    """A package `name` with a `text` module of tools, and a module that fails to import."""
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "text.py").write_text(textwrap.dedent(TEXT_TOOLS))
    (package / "broken.py").write_text("raise RuntimeError('no database here')\n")
    return name


@pytest.fixture
def package(tmp_path, monkeypatch) -> str:
    # A fresh name per test: a module imported once stays in sys.modules.
    name = f"acme_tools_{uuid.uuid4().hex[:8]}"
    write_package(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def agent(*tools: str, **settings) -> dict:
    return {
        "agents": [
            {"name": "a", "provider": "offline", "model": "m", "tools": list(tools), **settings}
        ]
    }


def calls(*named: tuple[str, str]) -> pb.StreamPromptRequest:
    turn = [{"tool_call": {"name": n, "arguments": a, "id": n}} for n, a in named]
    return pb.StreamPromptRequest(prompt="go", extra_params=script(turn, [{"text": "ok"}]))


async def test_tools_named_by_import_path_run_and_are_listed(start_server, package):
    server = await start_server(
        agent(f"{package}.text:word_count", f"{package}.text:stall", "calculator")
    )
    result = await collect(
        server.stub,
        calls(
            ("word_count", '{"text": "one two three"}'),
            ("stall", "{}"),
            ("calculator", '{"expression": "2*3"}'),
        ),
    )
    assert result.code == grpc.StatusCode.OK
    results = {r.id: r for r in result.of("tool_result")}
    assert results["word_count"].content == '{"words": 3, "in_worker_thread": true}'
    assert results["stall"].is_error
    assert results["stall"].content == "tool 'stall' timed out after 0.2 s (timeout_s)"
    assert results["calculator"].content == "6"
    (progress,) = result.of("tool_progress")
    assert (progress.name, progress.message, progress.fraction) == ("word_count", "counting", 0.5)

    (info,) = (await server.stub.ListAgents(pb.ListAgentsRequest())).agents
    listed = {t.name: t for t in info.tools}
    assert list(listed) == ["word_count", "stall", "calculator"]
    assert listed["word_count"].source == pb.TOOL_SOURCE_PYTHON
    assert listed["word_count"].origin == f"{package}.text:word_count"
    assert listed["word_count"].parameters["required"] == ["text"]
    assert listed["calculator"].source == pb.TOOL_SOURCE_BUILTIN


async def test_a_module_path_brings_every_tool_of_the_module(start_server, package):
    server = await start_server(agent(f"{package}.text", tool_timeout_s=5))
    (info,) = (await server.stub.ListAgents(pb.ListAgentsRequest())).agents
    assert [(t.name, t.origin) for t in info.tools] == [
        ("word_count", f"{package}.text:word_count"),
        ("stall", f"{package}.text:stall"),
        ("shout", f"{package}.text:shout"),
    ]
    assert info.tools[2].description == "Shout a text."
    result = await collect(server.stub, calls(("shout", '{"text": "hey"}'), ("shout", "{}")))
    assert [r.content for r in result.of("tool_result")] == ["HEY", "text: nothing to shout"]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            "{p}.text:nothing",
            "agents[0].tools[0]: cannot load tools from '{p}.text:nothing': "
            "module '{p}.text' has no 'nothing'",
        ),
        (
            "{p}.text:not_a_tool",
            "agents[0].tools[0]: cannot load tools from '{p}.text:not_a_tool': "
            "'{p}.text:not_a_tool' is a function not made a tool with @tool",
        ),
        (
            "{p}.broken:anything",
            "agents[0].tools[0]: cannot load tools from '{p}.broken:anything': "
            "importing '{p}.broken' failed: RuntimeError: no database here",
        ),
        (
            "{p}.missing:tool",
            "agents[0].tools[0]: cannot load tools from '{p}.missing:tool': "
            "no module named '{p}.missing'",
        ),
        (
            "{p}",
            "agents[0].tools[0]: cannot load tools from '{p}': "
            "module '{p}' defines no tool (made with @tool)",
        ),
        (
            "teleport",
            "agents[0].tools[0]: no server tool named 'teleport': not built in "
            "(calculator, current_time) and not an importable module (no module named 'teleport')",
        ),
    ],
)
def test_an_entry_that_names_no_tool_is_a_config_error(package, entry, problem):
    config = parse_config(agent(entry.format(p=package)))
    with pytest.raises(ConfigError) as raised:
        ToolCatalogue(config, BUILTIN_TOOLS)
    assert str(raised.value).startswith(problem.format(p=package))


def test_two_entries_bringing_one_name_is_a_config_error(package):
    config = parse_config(agent(f"{package}.text:shout", f"{package}.text"))
    with pytest.raises(
        ConfigError,
        match=r"agents\[0\]\.tools\[1\]: .* a tool named 'shout', "
        r"which agents\[0\]\.tools\[0\] already brings",
    ):
        ToolCatalogue(config, BUILTIN_TOOLS)


async def test_the_server_process_loads_tools_from_its_pythonpath(tmp_path):
    """As an operator deploys it: a package in a directory of its own, named in the config."""
    name = write_package(tmp_path, "deployed_tools")
    config = tmp_path / "agents.yaml"
    config.write_text(
        "agents:\n  - {name: a, provider: offline, model: m, "
        f"tools: ['{name}.text:word_count']}}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentstream_server",
        "--config",
        str(config),
        "--addr",
        "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    try:
        port = await _serving_port(process)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            await health.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=20)
            stub = pb_grpc.AgentServiceStub(channel)
            # The offline model calls every tool with arguments made from its schema.
            result = await collect(stub, pb.StreamPromptRequest(prompt="count"))
            (tool_result,) = result.of("tool_result")
            assert tool_result.name == "word_count" and not tool_result.is_error
    finally:
        process.terminate()
        await process.wait()


async def _serving_port(process: asyncio.subprocess.Process) -> int:
    assert process.stdout is not None
    async with asyncio.timeout(30):
        while line := await process.stdout.readline():
            if b"(port " in line:
                return int(line.rsplit(b"(port ", 1)[1].split(b")")[0])
    raise AssertionError("the server did not start")
