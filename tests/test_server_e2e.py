"""The server as a whole: ListAgents, health, reflection, config errors, SIGTERM drain."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from agentstream_server.config import ConfigError, load_config, parse_config
from agentstream_server.tools.builtin import BUILTIN_TOOLS
from agentstream_server.tools.catalogue import ToolCatalogue
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from .helpers import free_port, script

ROOT = Path(__file__).resolve().parent.parent


async def test_list_agents_shows_models_turns_and_tools(server):
    response = await server.stub.ListAgents(pb.ListAgentsRequest())
    agents = {a.name: a for a in response.agents}
    assert agents["assistant"].is_default and not agents["plain"].is_default
    assert agents["assistant"].max_turns == 6
    assert [t.name for t in agents["assistant"].tools] == ["calculator", "current_time"]
    schema = agents["assistant"].tools[0].parameters
    assert schema["required"][0] == "expression"
    assert {t.source for t in agents["assistant"].tools} == {pb.TOOL_SOURCE_BUILTIN}


async def test_health_and_reflection_are_served(server):
    health = health_pb2_grpc.HealthStub(server.channel)
    for service in ("", "agentstream.v1.AgentService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

    reflection = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    call = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    services = set()
    async for reply in call:
        services |= {s.name for s in reply.list_services_response.service}
    assert "agentstream.v1.AgentService" in services
    assert "grpc.health.v1.Health" in services


async def test_hooks_rpc_is_declared(server):
    call = server.stub.Hooks()
    await call.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in call:
            pass
    assert raised.value.code() != grpc.StatusCode.UNKNOWN


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"agents": []}, "agents"),
        (
            {"agents": [{"name": "a", "provider": "offline", "model": "m", "temperature": 5}]},
            "agents.0.temperature",
        ),
        ({"agents": [{"name": "a", "provider": "nope", "model": "m"}]}, "agents[0].provider"),
        (
            {"agents": [{"name": "a", "provider": "offline", "model": "m", "colour": "red"}]},
            "agents.0.colour",
        ),
        (
            {"agents": [{"name": "a", "provider": "offline", "model": "m"}], "default_agent": "b"},
            "default_agent",
        ),
        (
            {
                "providers": {"x": {"type": "smoke"}},
                "agents": [{"name": "a", "provider": "x", "model": "m"}],
            },
            "providers.x",
        ),
    ],
)
def test_bad_config_names_the_field(data, field):
    with pytest.raises(ConfigError) as raised:
        parse_config(data, "test.yaml")
    assert f"test.yaml: {field}" in str(raised.value)


def test_unknown_server_tool_is_named():
    config = parse_config(
        {
            "agents": [
                {
                    "name": "a",
                    "provider": "offline",
                    "model": "m",
                    "tools": ["calculator", "teleport"],
                }
            ]
        }
    )
    with pytest.raises(ConfigError, match=r"agents\[0\]\.tools\[1\]: no server tool named"):
        ToolCatalogue(config, BUILTIN_TOOLS)


def test_built_in_default_config_is_valid():
    config = load_config()
    assert config.default_agent_name == "assistant"


async def _start_process(config: Path, address: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentstream_server",
        "--config",
        str(config),
        "--addr",
        address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def _wait_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    await health.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=20)


async def test_bad_config_file_fails_at_start(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "agents:\n  - name: a\n    provider: offline\n    model: m\n    max_turns: 0\n"
    )
    process = await _start_process(config, "127.0.0.1:0")
    output, _ = await process.communicate()
    assert process.returncode == 2
    assert b"agents.0.max_turns" in output


async def test_sigterm_drains_running_streams(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "agents:\n  - name: a\n    provider: offline\n    model: m\nserver:\n  grace_period_s: 20\n"
    )
    address = f"127.0.0.1:{free_port()}"
    process = await _start_process(config, address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            await _wait_serving(channel)
            stub = pb_grpc.AgentServiceStub(channel)
            # A run that is mid-way when SIGTERM arrives and still needs a while.
            turns = script([{"text": "one"}, {"delay_ms": 1000}, {"text": " two"}])
            call = stub.StreamPrompt(pb.StreamPromptRequest(prompt="x", extra_params=turns))
            first = await call.read()
            assert first.WhichOneof("event") == "run_started"
            process.send_signal(signal.SIGTERM)
            events = [first]
            while (event := await call.read()) is not grpc.aio.EOF:
                events.append(event)
            assert await call.code() == grpc.StatusCode.OK
            assert events[-1].final_response.text == "one two"
        output, _ = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 0
        assert b"Traceback" not in output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_runs_still_going_after_the_grace_period_end_with_their_history(server):
    turns = script([{"text": "half way"}, {"hang": True}])
    call = server.stub.StreamPrompt(pb.StreamPromptRequest(prompt="x", extra_params=turns))
    events = []
    while (event := await call.read()).WhichOneof("event") != "text_delta":
        events.append(event)
    stopping = asyncio.create_task(server.server.stop(grace=0.2))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        while True:
            events.append(await call.read())
    await stopping
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    error = events[-1].error
    assert error.code == pb.ERROR_CODE_SHUTTING_DOWN and error.retryable
    assert [m.parts[0].text for m in error.history] == ["x"]
