"""Run ownership against the real server: a run belongs to the principal that started it;
another principal's attach gets the NOT_FOUND a missing run gets; an admin may attach to
any run; client-chosen ids are per principal; server-made ids are 128 random bits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentstream import AgentClient
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.core.ids import new_run_id

from .helpers import collect, script
from .hooks_client import HookStream, cancel
from .security import api_keys_file

KEYS = {"ak-alice": ("alice", []), "ak-bob": ("bob", []), "ak-support": ("support", ["admin"])}
CONFIG: dict[str, Any] = {
    "agents": [{"name": "echo", "provider": "offline", "model": "m", "max_turns": 2}],
    "server": {"hooks_attach_timeout_ms": 150},
}


@pytest.fixture
async def clients(start_server, tmp_path: Path):
    keys = api_keys_file(tmp_path / "keys.yaml", KEYS)
    server = await start_server({**CONFIG, "auth": {"api_keys_file": str(keys)}})
    opened = {name: AgentClient(server.address, token=key) for key, (name, _) in KEYS.items()}
    yield opened
    for client in opened.values():
        await client.close()


def waiting_run(run_id: str, hang: bool = False) -> pb.StreamPromptRequest:
    """A run that waits (up to 10 s) for its hooks client before calling the model,
    which answers, or with `hang` waits until the run is cancelled."""
    return pb.StreamPromptRequest(
        run_id=run_id,
        prompt="hi",
        extra_params=script([{"hang": True} if hang else {"text": "done"}]),
        hooks=pb.HooksOptions(wait_for_client=True, attach_timeout_ms=10_000),
    )


async def start(client: AgentClient, run_id: str, hang: bool = False) -> Any:
    """Starts a waiting run; returns its call once the server has registered it."""
    call = client.stub.StreamPrompt(waiting_run(run_id, hang))
    first = await call.read()
    assert first.WhichOneof("event") == "run_started"
    return call


async def attach_error(client: AgentClient, run_id: str, **kwargs: Any) -> tuple[Any, str]:
    hooks = HookStream(client.stub, **kwargs)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await hooks.attach(run_id)
    return raised.value.code(), raised.value.details() or ""


async def run_rpc_errors(client: AgentClient, run_id: str) -> list[tuple[Any, str]]:
    """How WatchRun, CancelRun and GetRun of `run_id` fail for this client."""
    stub, errors = client.stub, []
    for call in (
        lambda: stub.GetRun(pb.GetRunRequest(run_id=run_id)),
        lambda: stub.CancelRun(pb.CancelRunRequest(run_id=run_id, reason="mine now")),
        lambda: stub.WatchRun(pb.WatchRunRequest(run_id=run_id)).read(),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call()
        errors.append((raised.value.code(), raised.value.details() or ""))
    return errors


async def finish(call: Any) -> tuple[list[str], grpc.StatusCode]:
    kinds = []
    try:
        async for event in call:
            kinds.append(event.WhichOneof("event"))
    except grpc.aio.AioRpcError as e:
        return kinds, e.code()
    return kinds, await call.code()


async def test_another_principal_cannot_find_a_run_and_learns_nothing(clients):
    alice, bob = clients["alice"], clients["bob"]
    call = await start(alice, "demo-1")
    taken = await attach_error(bob, "demo-1")
    missing = await attach_error(bob, "no-such-run")
    assert taken[0] == missing[0] == grpc.StatusCode.NOT_FOUND
    assert taken[1] == missing[1].replace("no-such-run", "demo-1")
    taken_rpcs = await run_rpc_errors(bob, "demo-1")
    missing_rpcs = await run_rpc_errors(bob, "no-such-run")
    assert {code for code, _ in taken_rpcs} == {grpc.StatusCode.NOT_FOUND}
    assert taken_rpcs == [(c, d.replace("no-such-run", "demo-1")) for c, d in missing_rpcs]
    # Naming the owner in metadata helps only an admin.
    owner = [("agentstream-run-owner", "alice")]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await bob.stub.GetRun(pb.GetRunRequest(run_id="demo-1"), metadata=owner)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await alice.stub.GetRun(pb.GetRunRequest(run_id="demo-1"))).run.owner == "alice"
    # The owner attaches as usual, and the run was untouched by bob's attempt.
    hooks = HookStream(alice.stub)
    assert (await hooks.attach("demo-1")).WhichOneof("response") == "attached"
    kinds, code = await finish(call)
    assert code == grpc.StatusCode.OK and kinds[-1] == "final_response"


async def test_two_principals_may_both_use_the_same_run_id(clients):
    alice, bob = clients["alice"], clients["bob"]
    alice_call = await start(alice, "demo-1")
    bob_call = await start(bob, "demo-1")
    for client, call in ((alice, alice_call), (bob, bob_call)):
        hooks = HookStream(client.stub)
        await hooks.attach("demo-1")
        kinds, code = await finish(call)
        assert code == grpc.StatusCode.OK and kinds[-1] == "final_response"
    # The same id twice for one principal is still refused.
    again = await start(alice, "demo-2")
    result = await collect(alice.stub, waiting_run("demo-2"))
    assert result.code == grpc.StatusCode.ALREADY_EXISTS
    again.cancel()


async def test_an_admin_naming_the_owner_may_attach_to_any_run_and_cancel_it(clients):
    alice, bob, support = clients["alice"], clients["bob"], clients["support"]
    alice_call = await start(alice, "demo-1", hang=True)
    bob_call = await start(bob, "demo-1", hang=True)
    await HookStream(bob.stub).attach("demo-1")  # bob's run goes on to its model call
    # Without naming an owner, an admin addresses its own runs like anyone else.
    assert (await attach_error(support, "demo-1"))[0] == grpc.StatusCode.NOT_FOUND
    as_alice = [("agentstream-run-owner", "alice")]
    info = await support.stub.GetRun(pb.GetRunRequest(run_id="demo-1"), metadata=as_alice)
    assert (info.run.owner, info.run.state) == ("alice", pb.RUN_STATE_RUNNING)
    hooks = HookStream(support.stub, metadata=as_alice)
    assert (await hooks.attach("demo-1")).WhichOneof("response") == "attached"
    await hooks.reply("", **cancel("support ended it"))
    kinds, code = await finish(alice_call)
    assert code == grpc.StatusCode.CANCELLED and kinds[-1] == "error"
    # CancelRun too; bob's run of the same name was never touched until then.
    as_bob = [("agentstream-run-owner", "bob")]
    cancelled = await support.stub.CancelRun(
        pb.CancelRunRequest(run_id="demo-1", reason="support"), metadata=as_bob
    )
    assert cancelled.state == pb.RUN_STATE_RUNNING
    assert (await finish(bob_call))[1] == grpc.StatusCode.CANCELLED


async def test_server_made_run_ids_are_128_random_bits(server):
    result = await collect(server.stub, pb.StreamPromptRequest(prompt="hi", agent="plain"))
    run_id = result.events[0].run_id
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)
    assert len({new_run_id() for _ in range(1000)}) == 1000


async def test_the_per_principal_run_limit_counts_each_principal_apart(start_server, tmp_path):
    keys = api_keys_file(tmp_path / "keys.yaml", KEYS)
    config = {**CONFIG, "auth": {"api_keys_file": str(keys)}}
    server = await start_server({**config, "limits": {"max_runs_per_principal": 1}})
    alice = AgentClient(server.address, token="ak-alice")
    bob = AgentClient(server.address, token="ak-bob")
    try:
        running = await start(alice, "demo-1")
        refused = await collect(alice.stub, waiting_run("demo-2"))
        assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_runs_per_principal" in refused.details
        await start(bob, "demo-1")  # bob's own budget
        running.cancel()
    finally:
        await alice.close()
        await bob.close()
