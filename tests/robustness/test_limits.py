"""Limits that need a run to reach them: concurrency, run time, tool output, response and
message sizes. Each names the limit in its status; the server is well afterwards."""

from __future__ import annotations

import asyncio
import time

import grpc
from agentstream import AgentClient
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.core.model import ToolSpec
from agentstream_server.core.tools import Tool
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..helpers import collect, script, wait_until
from ..hooks_client import HookStream, output
from .conftest import CONFIG, assert_healthy

HANG = [{"text": "started"}, {"hang": True}]


def _config(**limits: object) -> dict:
    return {**CONFIG, "limits": {**CONFIG["limits"], **limits}}


def _hanging(server, n: int) -> list[asyncio.Task]:
    request = pb.StreamPromptRequest(agent="a", prompt="go", extra_params=script(HANG))
    return [asyncio.create_task(collect(server.stub, request, timeout=20)) for _ in range(n)]


async def _refused(server, limit: str) -> None:
    result = await collect(
        server.stub, pb.StreamPromptRequest(agent="a", prompt="one more"), timeout=5
    )
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    error = result.last.error
    assert error.code == pb.ERROR_CODE_TOO_MANY_RUNS and error.retryable
    assert f"limits.{limit}" in result.details
    health = health_pb2_grpc.HealthStub(server.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def _release(server, runs: list[asyncio.Task]) -> None:
    for task in runs:
        task.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    await wait_until(lambda: server.server.servicer.slots.running == 0)


async def test_runs_per_principal_are_refused_at_once_when_at_the_limit(start_server):
    server = await start_server(_config(max_runs_per_principal=2))
    runs = _hanging(server, 2)
    await wait_until(lambda: server.server.servicer.slots.running == 2)
    await _refused(server, "max_runs_per_principal")
    await _release(server, runs)
    await assert_healthy(server)  # the slots came back


async def test_runs_in_the_server_are_refused_at_once_when_at_the_limit(start_server):
    server = await start_server(_config(max_concurrent_runs=3, max_runs_per_principal=10))
    runs = _hanging(server, 3)
    await wait_until(lambda: server.server.servicer.slots.running == 3)
    await _refused(server, "max_concurrent_runs")
    await _release(server, runs)
    await assert_healthy(server)


async def test_a_refused_request_takes_no_slot(start_server):
    server = await start_server(_config(max_runs_per_principal=1))
    for _ in range(3):
        bad = await collect(server.stub, pb.StreamPromptRequest(agent="nope", prompt="x"))
        assert bad.code == grpc.StatusCode.NOT_FOUND
    assert server.server.servicer.slots.running == 0
    await assert_healthy(server)


async def test_a_run_over_its_time_ends_with_deadline_exceeded_and_its_history(start_server):
    server = await start_server(_config(max_run_seconds=0.2))
    request = pb.StreamPromptRequest(agent="a", prompt="go", extra_params=script(HANG))
    result = await collect(server.stub, request, timeout=10)
    assert result.code == grpc.StatusCode.DEADLINE_EXCEEDED
    error = result.last.error
    assert error.code == pb.ERROR_CODE_DEADLINE_EXCEEDED
    assert "limits.max_run_seconds" in error.message
    assert [m.parts[0].text for m in error.history] == ["go"]
    assert server.offline.open_streams == 0
    await assert_healthy(server)


async def _big(arguments: dict, context: object) -> str:
    return "b" * 5000


BIG = Tool(ToolSpec("big", "a large answer", {"type": "object", "properties": {}}), _big)


async def test_a_server_tool_output_over_the_limit_reaches_the_model_as_an_error(start_server):
    config = _config()
    config["agents"] = [{"name": "a", "provider": "offline", "model": "m", "tools": ["big"]}]
    server = await start_server(config, tools={"big": BIG})
    turns = script([{"tool_call": {"name": "big"}}], [{"text": "ok"}])
    result = await collect(
        server.stub, pb.StreamPromptRequest(agent="a", prompt="go", extra_params=turns)
    )
    assert result.code == grpc.StatusCode.OK
    [tool_result] = result.of("tool_result")
    assert tool_result.is_error and "limits.max_tool_output_bytes" in tool_result.content


async def test_a_client_tool_output_over_the_limit_reaches_the_model_as_an_error(robust):
    hooks = HookStream(robust.stub)
    attach = asyncio.create_task(hooks.attach("big-output"))
    turns = script([{"tool_call": {"name": "lookup"}}], [{"text": "ok"}])
    request = pb.StreamPromptRequest(
        agent="a",
        prompt="go",
        run_id="big-output",
        extra_params=turns,
        tools=[pb.ToolDefinition(name="lookup", description="d")],
    )
    run = asyncio.create_task(collect(robust.stub, request, timeout=20))
    await attach
    call = await hooks.event("tool_call")
    await hooks.reply(call.event_id, **output("o" * 5000))
    result = await run
    assert result.code == grpc.StatusCode.OK
    [tool_result] = result.of("tool_result")
    assert tool_result.is_error and "limits.max_tool_output_bytes" in tool_result.content
    await assert_healthy(robust)


async def test_a_large_result_arrives_whole_or_says_what_it_left_out(start_server):
    """Defect 4: a result is never lost to a receive limit; what was left out is said."""
    server = await start_server(
        _config(max_response_bytes=64 * 1024, max_extra_params_bytes=128 * 1024)
    )
    text = " ".join(["word"] * 9000)
    result = await collect(
        server.stub,
        pb.StreamPromptRequest(agent="a", prompt="go", extra_params=script([{"text": text}])),
    )
    assert result.code == grpc.StatusCode.OK
    final = result.last.final_response
    assert final.text == text and final.history_omitted and not final.history
    small = await collect(
        server.stub,
        pb.StreamPromptRequest(agent="a", prompt="go", extra_params=script([{"text": "hi"}])),
    )
    assert not small.last.final_response.history_omitted
    assert len(small.last.final_response.history) == 2


async def test_a_request_over_the_message_limit_is_resource_exhausted(robust):
    request = pb.StreamPromptRequest(agent="a", prompt="p" * (300 * 1024))
    result = await collect(robust.stub, request)
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in result.details
    await assert_healthy(robust)


async def test_the_python_helper_receives_a_result_larger_than_grpcs_default(start_server):
    """A 5 MiB history comes back in the final response: over the 4 MiB a default gRPC
    channel accepts, within what the server sends and the helper now accepts."""
    server = await start_server({"agents": [{"name": "a", "provider": "offline", "model": "m"}]})
    history = [
        pb.Message(role=pb.ROLE_USER, parts=[pb.ContentPart(text="h" * (1024 * 1024))])
        for _ in range(5)
    ]
    async with AgentClient(server.address) as client:
        run = client.run(
            "go", agent="a", history=history, extra_params={"script": [[{"text": "ok"}]]}
        )
        final = await run.result()
    assert final.text == "ok" and len(final.history) == 7
    assert not final.history_omitted


async def test_runs_are_refused_at_once_while_the_server_runs_behind(start_server):
    """`max_loop_lag_ms`: past its capacity (here the test holding the server's loop, as a
    flood of work would), a new run gets TOO_MANY_RUNS at once, and runs again after."""
    server = await start_server(_config(max_loop_lag_ms=100))
    await assert_healthy(server)  # the first run starts the lag watch, and runs
    time.sleep(0.3)  # noqa: ASYNC251 (the server's loop, this one, runs nothing meanwhile)
    await _refused(server, "max_loop_lag_ms")
    await wait_until(lambda: server.server.servicer.slots._lag.late_ms() < 100)
    await assert_healthy(server)
