"""Nothing secret or private leaves the server by default: a real server process with its
default logging is driven with marker strings as API key, bearer tokens, JWT claims,
prompt, history and tool output, through successes and failures of every kind; then
every log line it wrote and every status message it sent are searched for them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from agentstream import AgentClient
from agentstream.v1 import agent_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .helpers import collect, free_port, script
from .hooks_client import HookStream, output
from .security import JwtIssuer, api_keys_file

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "SECRET-API-KEY-7f3a9c"
WRONG_TOKEN = "SECRET-WRONG-TOKEN-55e1b0"
JWT_SUBJECT_NOISE = "SECRET-JWT-CLAIM-c04d2e"
PROMPT = "SECRET-PROMPT-TEXT-91bd44"
HISTORY = "SECRET-HISTORY-TEXT-3e8a17"
TOOL_OUTPUT = "SECRET-TOOL-OUTPUT-d2c6f9"
MARKERS = (API_KEY, WRONG_TOKEN, JWT_SUBJECT_NOISE, PROMPT, HISTORY, TOOL_OUTPUT)


@pytest.fixture
async def server_process(tmp_path: Path):
    """The server as `python -m agentstream_server` with its default log level; yields its
    address and the file its logs (stdout and stderr) go to."""
    issuer = JwtIssuer(tmp_path / "jwks.json")
    keys = api_keys_file(tmp_path / "keys.yaml", {API_KEY: ("alice", [])})
    config = {
        "agents": [
            {"name": "echo", "provider": "offline", "model": "m", "max_turns": 2},
            {"name": "calc", "provider": "offline", "model": "m", "tools": ["calculator"]},
        ],
        "auth": {"api_keys_file": str(keys), "jwt": issuer.config()},
        "server": {"hooks_attach_timeout_ms": 200, "grace_period_s": 0.2},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    log_path = tmp_path / "server.log"
    with _create(log_path) as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "agentstream_server",
            "--config",
            str(tmp_path / "config.yaml"),
            "--addr",
            address,
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        await _wait_serving(address, process)
        yield address, log_path, issuer, process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)


def _create(path: Path) -> Any:
    return open(path, "wb")


async def _wait_serving(address: str, process: Any) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(200):
            try:
                await health.Check(health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True)
                return
            except grpc.aio.AioRpcError:
                assert process.returncode is None, "the server exited"
        raise AssertionError("the server did not start")


async def test_no_secret_or_content_in_logs_or_status_messages(server_process):
    address, log_path, issuer, _ = server_process
    statuses: list[str] = []

    async def run(client: AgentClient, request: pb.StreamPromptRequest) -> Any:
        result = await collect(client.stub, request)
        statuses.append(result.details)
        return result

    async with AgentClient(address, token=API_KEY) as alice:
        # A run that succeeds, one that fails in the model, one that runs out of turns.
        ok = await run(alice, pb.StreamPromptRequest(agent="echo", prompt=PROMPT))
        assert ok.code == grpc.StatusCode.OK
        failing = script([{"error": {"message": "upstream broke", "retryable": False}}])
        await run(alice, pb.StreamPromptRequest(agent="echo", prompt=PROMPT, extra_params=failing))
        await run(alice, pb.StreamPromptRequest(agent="calc", prompt=PROMPT, max_turns=1))
        # Bad requests carrying content: unknown agent, a bad history, bad tools.
        await run(alice, pb.StreamPromptRequest(agent="nope", prompt=PROMPT))
        bad_history = [pb.Message(role=pb.ROLE_ASSISTANT, parts=[pb.ContentPart(text=HISTORY)])]
        await run(alice, pb.StreamPromptRequest(agent="echo", history=bad_history))
        too_long = pb.StreamPromptRequest(agent="echo", prompt=PROMPT * 100_000)
        await run(alice, too_long)
        # A client tool whose output is private, and a run waiting for hooks that never come.
        await _client_tool_run(alice, statuses)
        waiting = pb.StreamPromptRequest(
            agent="echo", prompt=PROMPT, hooks=pb.HooksOptions(wait_for_client=True)
        )
        await run(alice, waiting)
    # Refused credentials: a wrong key, a JWT that does not verify, a malformed header.
    for token in (WRONG_TOKEN, issuer.token(JWT_SUBJECT_NOISE, aud="elsewhere")):
        async with AgentClient(address, token=token) as stranger:
            result = await run(stranger, pb.StreamPromptRequest(prompt=PROMPT))
            assert result.code == grpc.StatusCode.UNAUTHENTICATED
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary("/agentstream.v1.AgentService/ListAgents")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"", metadata=[("authorization", f"Token {WRONG_TOKEN}")])
        statuses.append(raised.value.details() or "")

    logs = log_path.read_text()
    assert "run " in logs and "principal=alice" in logs  # the log is the one we think
    for marker in MARKERS:
        assert marker not in logs, f"{marker} in the server log"
        for details in statuses:
            assert marker not in details, f"{marker} in a status message: {details}"


async def _client_tool_run(client: AgentClient, statuses: list[str]) -> None:
    tool = pb.ToolDefinition(name="lookup", description="private lookup")
    request = pb.StreamPromptRequest(agent="echo", prompt=PROMPT, run_id="private-1", tools=[tool])
    call = client.stub.StreamPrompt(request)
    hooks = HookStream(client.stub)
    await hooks.attach("private-1")
    event = await hooks.event("tool_call")
    await hooks.reply(event.event_id, **output(TOOL_OUTPUT))
    final = [e.final_response async for e in call if e.WhichOneof("event") == "final_response"]
    assert TOOL_OUTPUT in final[0].text  # the owner gets it; nobody else does
    statuses.append(await call.details() or "")


async def test_sighup_reloads_the_keys_file(server_process, tmp_path):
    address, log_path, _, process = server_process
    new_key = "ak-after-reload-5e0c"
    api_keys_file(tmp_path / "keys.yaml", {new_key: ("bob", [])})
    process.send_signal(signal.SIGHUP)
    async with AgentClient(address, token=new_key) as bob:
        for _ in range(500):  # until the server has handled the signal
            try:
                await bob.list_agents()
                break
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                await asyncio.sleep(0.01)
        else:
            raise AssertionError("the new key was not accepted after SIGHUP")
    async with AgentClient(address, token=API_KEY) as alice:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await alice.list_agents()
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "reloaded TLS and credential files" in log_path.read_text()
