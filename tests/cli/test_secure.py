"""`agentstream` against a server with mTLS and API keys: --ca, --cert, --key, --token, and
one clear line (exit 3) when TLS or the token is refused."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ..security import CertAuthority, api_keys_file
from .conftest import free_port
from .terminal import AGENTSTREAM, clean_env, run


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A served config with mTLS and an API key `ak-alice`; yields its address and the
    directory holding ca's certificate and alice's certificate and key."""
    home = tmp_path_factory.mktemp("secure")
    ca = CertAuthority(home)
    server_cert = ca.issue("localhost", server=True)
    alice = ca.issue("alice", server=False)
    alice.cert.rename(home / "alice.pem")
    alice.key.rename(home / "alice.key")
    ca.cert_file.rename(home / "ca.pem")
    config = {
        "agents": [{"name": "echo", "provider": "offline", "model": "offline-1"}],
        "auth": {
            "api_keys_file": str(api_keys_file(home / "keys.yaml", {"ak-alice": ("alice", [])}))
        },
        "server": {
            "tls": {
                "cert_file": str(server_cert.cert),
                "key_file": str(server_cert.key),
                "client_ca_file": str(home / "ca.pem"),
            }
        },
    }
    (home / "agents.yaml").write_text(yaml.safe_dump(config))
    address = f"localhost:{free_port()}"
    server = subprocess.Popen(
        [AGENTSTREAM, "serve", "--config", str(home / "agents.yaml"), "--addr", address],
        env=clean_env(home),
        stderr=subprocess.PIPE,
    )
    try:
        assert server.stderr is not None
        while b"serving" not in (line := server.stderr.readline()):
            assert line, "the server exited before serving"
        yield address, home
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_prompt_over_mtls_with_a_token(secure, tmp_path):
    address, home = secure
    env = clean_env(tmp_path, AGENTSTREAM_SERVER=address, AGENTSTREAM_TOKEN="ak-alice")
    tls = ["--ca", str(home / "ca.pem"), "--cert", str(home / "alice.pem")]
    result = run("prompt", *tls, "--key", str(home / "alice.key"), "hi", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: hi\n"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong token", "refused our credentials: invalid token"),
        ("plaintext", "cannot reach the agentstream server at"),
        ("no client certificate", "cannot reach the agentstream server at"),
    ],
)
def test_refused_tls_or_token_is_one_line_and_exit_3(secure, tmp_path, case, message):
    address, home = secure
    ca = ["--ca", str(home / "ca.pem")]
    args = {
        "wrong token": [
            *ca,
            "--cert",
            str(home / "alice.pem"),
            "--key",
            str(home / "alice.key"),
            "--token",
            "wrong",
        ],
        "plaintext": [],
        "no client certificate": ca,
    }[case]
    for command in (["prompt", "hi"], ["agents"]):
        result = run(*command, "--server", address, *args, env=clean_env(tmp_path))
        assert result.returncode == 3, (command, result.stderr)
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_cert_without_key_is_a_usage_error(secure, tmp_path):
    address, home = secure
    result = run(
        "agents", "--server", address, "--cert", str(home / "alice.pem"), env=clean_env(tmp_path)
    )
    assert result.returncode == 2
    assert "--cert and --key go together" in result.stderr
