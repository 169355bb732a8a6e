"""TLS and mTLS against the real server, through the Python helper, with a CA and
certificates made by the test; certificate rotation on reload (SIGHUP)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentstream import AgentClient, RunFailed, Tls
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.config import ConfigError

from .hooks_client import HookStream
from .security import CertAuthority, api_keys_file

AGENTS = [{"name": "echo", "provider": "offline", "model": "m", "max_turns": 2}]


@pytest.fixture
def ca(tmp_path: Path) -> CertAuthority:
    return CertAuthority(tmp_path)


def tls_config(ca: CertAuthority, mutual: bool) -> dict[str, Any]:
    server = ca.issue("server", server=True)
    tls = {"cert_file": str(server.cert), "key_file": str(server.key)}
    if mutual:
        tls["client_ca_file"] = str(ca.cert_file)
    return tls


def client_tls(ca: CertAuthority, name: str) -> Tls:
    files = ca.issue(name, server=False)
    return Tls.from_files(ca=str(ca.cert_file), cert=str(files.cert), key=str(files.key))


async def test_tls_with_a_token_through_the_helper(start_server, ca, tmp_path):
    keys = api_keys_file(tmp_path / "keys.yaml", {"ak-alice": ("alice", [])})
    server = await start_server(
        {"agents": AGENTS, "auth": {"api_keys_file": str(keys)}},
        tls=tls_config(ca, mutual=False),
    )
    async with AgentClient(server.address, tls=Tls(ca=ca.pem), token="ak-alice") as client:
        assert [a.name for a in await client.list_agents()] == ["echo"]
        final = await client.run("hi").result()
        assert final.text == "You said: hi"
    async with AgentClient(server.address, tls=Tls(ca=ca.pem), token="wrong") as client:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.list_agents()
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(RunFailed) as failed:
            await client.run("hi").result()
        assert failed.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert failed.value.details == "invalid token"
    # A plaintext client cannot talk to a TLS server, nor one that does not trust its CA.
    other = CertAuthority(tmp_path, "Other CA")
    for tls in (None, Tls(ca=other.pem)):
        async with AgentClient(server.address, tls=tls, token="ak-alice") as client:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await client.list_agents()
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mtls_subject_is_the_principal_and_owns_runs(start_server, ca, caplog):
    server = await start_server(
        {"agents": AGENTS}, tls=tls_config(ca, mutual=True), hooks_attach_timeout_ms=150
    )
    alice = AgentClient(server.address, tls=client_tls(ca, "alice"))
    bob = AgentClient(server.address, tls=client_tls(ca, "bob"))
    try:
        with caplog.at_level(logging.INFO, "agentstream_server"):
            await alice.run("hi").result()
        assert "principal=CN=alice,O=Agentstream Tests" in caplog.text
        # Bob's certificate does not reach alice's run: NOT_FOUND, as for no run at all.
        call = alice.stub.StreamPrompt(
            pb.StreamPromptRequest(
                run_id="demo-1",
                prompt="hi",
                hooks=pb.HooksOptions(wait_for_client=True, attach_timeout_ms=10_000),
            )
        )
        assert (await call.read()).WhichOneof("event") == "run_started"
        hooks = HookStream(bob.stub)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await hooks.attach("demo-1")
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        await HookStream(alice.stub).attach("demo-1")
        kinds = []
        while (event := await call.read()) is not grpc.aio.EOF:
            kinds.append(event.WhichOneof("event"))
        assert kinds[-1] == "final_response"
    finally:
        await alice.close()
        await bob.close()


async def test_mtls_refuses_a_client_without_a_trusted_certificate(start_server, ca, tmp_path):
    server = await start_server({"agents": AGENTS}, tls=tls_config(ca, mutual=True))
    stranger = CertAuthority(tmp_path, "Stranger CA").issue("mallory", server=False)
    for tls in (
        Tls(ca=ca.pem),
        Tls(ca=ca.pem, cert=stranger.cert.read_bytes(), key=stranger.key.read_bytes()),
    ):
        async with AgentClient(server.address, tls=tls) as client:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await client.list_agents()
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_reload_serves_a_rotated_certificate_to_new_connections(start_server, ca, tmp_path):
    tls = tls_config(ca, mutual=False)
    server = await start_server({"agents": AGENTS}, tls=tls)
    rotated = CertAuthority(tmp_path, "Rotated CA")
    fresh = rotated.issue("server-2", server=True)
    fresh.cert.replace(tls["cert_file"])
    fresh.key.replace(tls["key_file"])
    server.server.reload()
    async with AgentClient(server.address, tls=Tls(ca=rotated.pem)) as client:
        assert [a.name for a in await client.list_agents()] == ["echo"]


async def test_unreadable_tls_files_stop_the_server(start_server, ca, tmp_path):
    tls = tls_config(ca, mutual=True)
    with pytest.raises(ConfigError, match=r"server\.tls: nope\.pem: cannot read"):
        await start_server({"agents": AGENTS}, tls={**tls, "client_ca_file": "nope.pem"})
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ConfigError, match=r"junk\.pem: not a PEM file"):
        await start_server({"agents": AGENTS}, tls={**tls, "cert_file": str(tmp_path / "junk.pem")})
