"""The robustness suite: a real server with small limits, and a check that it is still well."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..conftest import RunningServer, ServerFactory
from ..helpers import collect, script

CONFIG: dict[str, Any] = {
    "agents": [
        {"name": "a", "provider": "offline", "model": "m", "tools": ["calculator"]},
    ],
    "server": {"hooks_attach_timeout_ms": 2000, "hooks_buffer_events": 8},
    # Small limits, so each case is cheap to build and to refuse.
    "limits": {
        "max_request_bytes": 256 * 1024,
        "max_response_bytes": 64 * 1024,
        "max_prompt_bytes": 1000,
        "max_history_messages": 20,
        "max_history_bytes": 4000,
        "max_client_tools": 3,
        "max_tool_schema_bytes": 500,
        "max_tool_output_bytes": 1000,
        "max_extra_params_bytes": 8000,
        "max_extra_params_depth": 6,
        "max_concurrent_runs": 8,
        "max_runs_per_principal": 4,
        "max_hook_replies_per_second": 20,
    },
}


@pytest.fixture
async def robust(start_server: ServerFactory) -> RunningServer:
    server: RunningServer = await start_server(CONFIG)
    return server


def server_errors(records: list[logging.LogRecord]) -> list[str]:
    """ERROR lines the server logged: its own, and gRPC's for an exception a handler raised.
    (Not asyncio's "Event loop is closed" from an earlier test's loop, which gRPC's shared
    poller can report at any time in a test process.)"""
    return [
        r.getMessage()
        for r in records
        if r.levelno >= logging.ERROR
        and (r.name.startswith("agentstream") or "raised by servicer method" in r.getMessage())
    ]


async def assert_healthy(server: RunningServer) -> None:
    """The server still answers health checks and runs a normal prompt to the end."""
    health = health_pb2_grpc.HealthStub(server.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    result = await collect(
        server.stub,
        pb.StreamPromptRequest(agent="a", prompt="hi", extra_params=script([{"text": "fine"}])),
        timeout=10,
    )
    assert result.code == grpc.StatusCode.OK, result.details
    assert result.last.final_response.text == "fine"
