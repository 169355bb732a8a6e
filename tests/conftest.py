"""Shared fixtures: a real agentstream server on a loopback port, and a client stub for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from agentstream_server.config import Config, parse_config
from agentstream_server.core.tools import Tool
from agentstream_server.service.server import AgentServer
from agentstream_server.telemetry import RunTelemetry
from agentstream_server.tools.builtin import BUILTIN_TOOLS

from .redis_server import RedisServer

DEFAULT_CONFIG: dict[str, Any] = {
    "providers": {"offline": {"type": "offline"}},
    "agents": [
        {
            "name": "assistant",
            "provider": "offline",
            "model": "offline-1",
            "max_turns": 6,
            "tools": ["calculator", "current_time"],
        },
        {"name": "plain", "provider": "offline", "model": "offline-1"},
    ],
}


class RunningServer:
    def __init__(self, server: AgentServer, address: str) -> None:
        self.server = server
        self.address = address
        self.channel = grpc.aio.insecure_channel(address)
        self.stub = pb_grpc.AgentServiceStub(self.channel)

    @property
    def offline(self) -> Any:
        return self.server.agents.providers["offline"]


ServerFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests keep apart by run ids or key prefixes."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
async def start_server() -> AsyncIterator[ServerFactory]:
    """Starts servers on 127.0.0.1 with a given config dict and tools; stops them after."""
    started: list[RunningServer] = []

    async def start(
        config: dict[str, Any] | None = None,
        tools: dict[str, Tool] | None = None,
        run_telemetry: RunTelemetry | None = None,
        **server_settings: Any,
    ) -> RunningServer:
        data = dict(config or DEFAULT_CONFIG)
        if server_settings:
            data["server"] = {**data.get("server", {}), **server_settings}
        parsed: Config = parse_config(data)
        server = AgentServer(parsed, {**BUILTIN_TOOLS, **(tools or {})}, run_telemetry)
        port = await server.start("127.0.0.1:0")
        running = RunningServer(server, f"127.0.0.1:{port}")
        started.append(running)
        return running

    yield start
    for running in started:
        await running.channel.close()
        await running.server.stop(grace=0)


@pytest.fixture
async def server(start_server: ServerFactory) -> RunningServer:
    running: RunningServer = await start_server()
    return running
