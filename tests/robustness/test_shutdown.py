"""SIGTERM with 50 runs in flight, ten in each waiting state: every one ends with
SHUTTING_DOWN and its history (defect 6: those waiting on a hooks client once ended with
a bare UNAVAILABLE "Cancelling all calls")."""

from __future__ import annotations

import asyncio

import grpc
from agentstream.v1 import agent_pb2 as pb

from ..helpers import collect, script, wait_until
from ..hooks_client import HookStream
from ..tools import GateTool

EACH = 10
CONFIG = {
    "agents": [{"name": "a", "provider": "offline", "model": "m", "tools": ["gate"]}],
    "server": {"hooks_attach_timeout_ms": 60_000, "hooks_reply_timeout_ms": 60_000},
    "limits": {"max_runs_per_principal": 100},
}
LOOKUP = pb.ToolDefinition(name="lookup", description="d")


def _request(run_id: str, *turns: list, **fields: object) -> pb.StreamPromptRequest:
    return pb.StreamPromptRequest(
        agent="a", prompt=run_id, run_id=run_id, extra_params=script(*turns), **fields
    )


async def test_sigterm_ends_runs_in_every_waiting_state_with_their_history(start_server):
    gate = GateTool("gate")
    server = await start_server(CONFIG, tools={"gate": gate.tool})
    stub = server.stub
    requests = {}
    for i in range(EACH):
        requests[f"model-{i}"] = _request(f"model-{i}", [{"hang": True}])
        requests[f"tool-{i}"] = _request(f"tool-{i}", [{"tool_call": {"name": "gate"}}])
        requests[f"attach-{i}"] = _request(
            f"attach-{i}", [{"text": "x"}], hooks=pb.HooksOptions(wait_for_client=True)
        )
        requests[f"reply-{i}"] = _request(
            f"reply-{i}", [{"text": "x"}], hooks=pb.HooksOptions(wait_for_client=True)
        )
        requests[f"client-tool-{i}"] = _request(
            f"client-tool-{i}", [{"tool_call": {"name": "lookup"}}], tools=[LOOKUP]
        )
    clients = []
    for run_id in requests:
        if run_id.startswith(("reply", "client-tool")):
            hooks = HookStream(stub)
            waits_on = "completion_call" if run_id.startswith("reply") else "tool_call"
            blocking = (
                (pb.HOOK_EVENT_KIND_COMPLETION_CALL,) if waits_on == "completion_call" else ()
            )
            attach = asyncio.create_task(hooks.attach(run_id, (), blocking))
            clients.append((hooks, attach, waits_on))
    runs = {
        run_id: asyncio.create_task(collect(stub, request, timeout=30))
        for run_id, request in requests.items()
    }
    for hooks, attach, waits_on in clients:
        await attach
        await hooks.event(waits_on)  # the run now waits for this client's reply
    await wait_until(lambda: gate.running == EACH and server.offline.open_streams == EACH)
    await server.server.stop(grace=0.2)
    for run_id, task in runs.items():
        result = await task
        assert result.code == grpc.StatusCode.UNAVAILABLE, (run_id, result.details)
        error = result.last.error
        assert error.code == pb.ERROR_CODE_SHUTTING_DOWN and error.retryable, run_id
        assert error.history[0].parts[0].text == run_id
    assert gate.cancelled == EACH and server.offline.open_streams == 0
