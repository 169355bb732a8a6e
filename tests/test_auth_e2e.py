"""Authentication against the real server: API keys and JWTs on every RPC, health and
reflection open, and SIGHUP-style reloads of the keys file."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.config import ConfigError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from .security import JwtIssuer, api_keys_file

ALICE_KEY = "ak-alice-6a1f0c"  # test keys: made up here, stored only as digests
ADMIN_KEY = "ak-admin-93be27"
AGENTS = [{"name": "echo", "provider": "offline", "model": "m", "max_turns": 2}]

Call = Callable[[Any, list[tuple[str, str]]], Awaitable[tuple[grpc.StatusCode, str]]]


async def _stream_prompt(stub: Any, metadata: list[tuple[str, str]]) -> tuple[Any, str]:
    call = stub.StreamPrompt(pb.StreamPromptRequest(prompt="hi"), metadata=metadata)
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details() or ""
    return await call.code(), await call.details() or ""


async def _hooks(stub: Any, metadata: list[tuple[str, str]]) -> tuple[Any, str]:
    call = stub.Hooks(metadata=metadata)
    try:
        await call.write(pb.HooksRequest(attach=pb.HookAttach(run_id="nobody-runs-this")))
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details() or ""
    return await call.code(), await call.details() or ""


async def _watch_run(stub: Any, metadata: list[tuple[str, str]]) -> tuple[Any, str]:
    call = stub.WatchRun(pb.WatchRunRequest(run_id="nobody-runs-this"), metadata=metadata)
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details() or ""
    return await call.code(), await call.details() or ""


def _unary(name: str, request: Any) -> Call:
    async def call(stub: Any, metadata: list[tuple[str, str]]) -> tuple[Any, str]:
        try:
            await getattr(stub, name)(request, metadata=metadata)
        except grpc.aio.AioRpcError as e:
            return e.code(), e.details() or ""
        return grpc.StatusCode.OK, ""

    return call


_list_agents = _unary("ListAgents", pb.ListAgentsRequest())

# Every AgentService RPC, with how an authenticated call of it ends on this test server
# (NOT_FOUND: the call reached the servicer, which knows no such run).
RPCS: dict[str, tuple[Call, grpc.StatusCode]] = {
    "StreamPrompt": (_stream_prompt, grpc.StatusCode.OK),
    "Hooks": (_hooks, grpc.StatusCode.NOT_FOUND),
    "ListAgents": (_list_agents, grpc.StatusCode.OK),
    "WatchRun": (_watch_run, grpc.StatusCode.NOT_FOUND),
    "CancelRun": (
        _unary("CancelRun", pb.CancelRunRequest(run_id="nobody-runs-this")),
        grpc.StatusCode.NOT_FOUND,
    ),
    "GetRun": (
        _unary("GetRun", pb.GetRunRequest(run_id="nobody-runs-this")),
        grpc.StatusCode.NOT_FOUND,
    ),
}


def test_the_table_covers_every_rpc():
    service = pb.DESCRIPTOR.services_by_name["AgentService"]
    assert set(RPCS) == {method.name for method in service.methods}


@pytest.fixture
def issuer(tmp_path: Path) -> JwtIssuer:
    return JwtIssuer(tmp_path / "jwks.json")


@pytest.fixture
async def auth_server(start_server, tmp_path: Path, issuer: JwtIssuer):
    keys = api_keys_file(
        tmp_path / "keys.yaml",
        {ALICE_KEY: ("alice", []), ADMIN_KEY: ("support", ["admin"])},
    )
    config = {
        "agents": AGENTS,
        "auth": {"api_keys_file": str(keys), "jwt": issuer.config()},
        "server": {"hooks_attach_timeout_ms": 100},
    }
    return await start_server(config)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


@pytest.mark.parametrize("rpc", sorted(RPCS))
async def test_every_rpc_needs_a_valid_token(auth_server, issuer, rpc):
    call, authenticated = RPCS[rpc]
    stub = auth_server.stub
    code, details = await call(stub, [])
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "authorization: Bearer" in details
    for bad in (
        bearer("not-a-key"),
        bearer(ALICE_KEY + "x"),
        [("authorization", f"Basic {ALICE_KEY}")],
        bearer(issuer.token(aud="someone-else")),
    ):
        assert await call(stub, bad) == (grpc.StatusCode.UNAUTHENTICATED, "invalid token")
    assert (await call(stub, bearer(ALICE_KEY)))[0] == authenticated
    assert (await call(stub, bearer(issuer.token("carol"))))[0] == authenticated


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1_000},  # long expired
        {"exp": None},  # no expiry at all
        {"iss": "https://other.test"},
        {"aud": None},
        {"sub": None},  # no principal claim
        {"roles": "admin"},  # roles must be a list
    ],
    ids=["expired", "no-exp", "issuer", "no-audience", "no-subject", "roles-not-a-list"],
)
async def test_jwts_that_do_not_check_out_are_invalid(auth_server, issuer, claims):
    code, details = await _list_agents(auth_server.stub, bearer(issuer.token(**claims)))
    assert (code, details) == (grpc.StatusCode.UNAUTHENTICATED, "invalid token")


async def test_jwts_signed_by_another_key_or_unsigned_are_invalid(auth_server, tmp_path):
    stranger = JwtIssuer(tmp_path / "other.json")  # same kid, a key the server never saw
    unsigned = json.dumps({"alg": "none", "typ": "JWT"})
    import base64

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    claims = {"sub": "mallory", "iss": "https://issuer.test", "aud": "agentstream-tests"}
    none_token = f"{b64(unsigned)}.{b64(json.dumps({**claims, 'exp': 4102444800}))}."
    for token in (stranger.token("mallory"), none_token):
        code, details = await _list_agents(auth_server.stub, bearer(token))
        assert (code, details) == (grpc.StatusCode.UNAUTHENTICATED, "invalid token")


async def test_health_and_reflection_need_no_token(auth_server):
    health = health_pb2_grpc.HealthStub(auth_server.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(auth_server.channel)
    call = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    services = [s.name async for r in call for s in r.list_services_response.service]
    assert "agentstream.v1.AgentService" in services


async def test_a_reload_reads_the_keys_file_again(auth_server, tmp_path):
    new_key = "ak-dave-51d0"
    assert (await _list_agents(auth_server.stub, bearer(new_key)))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    api_keys_file(tmp_path / "keys.yaml", {new_key: ("dave", [])})
    auth_server.server.reload()
    assert (await _list_agents(auth_server.stub, bearer(new_key)))[0] == grpc.StatusCode.OK
    assert (await _list_agents(auth_server.stub, bearer(ALICE_KEY)))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    # A broken file is refused and the keys read before stay in use.
    (tmp_path / "keys.yaml").write_text("keys: [{sha256: nope, principal: x}]")
    auth_server.server.reload()
    assert (await _list_agents(auth_server.stub, bearer(new_key)))[0] == grpc.StatusCode.OK


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("keys: [{sha256: abc, principal: x}]", "keys.0.sha256"),
        ("keys: [{sha256: " + "a" * 64 + ", principal: ''}]", "keys.0.principal"),
        ("keys: [{key: secret-value, principal: x}]", "keys.0."),
        ("[oops", "cannot parse"),
    ],
)
async def test_a_bad_keys_file_stops_the_server_naming_the_entry(
    start_server, tmp_path, content, problem
):
    path = tmp_path / "keys.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        await start_server({"agents": AGENTS, "auth": {"api_keys_file": str(path)}})
    assert problem in str(raised.value) and str(path) in str(raised.value)
    assert "secret-value" not in str(raised.value)
