"""The Python, Go, TypeScript, Java and Rust helpers over TLS and mTLS with a token, against
the real server: each language's example (which serves client tools) runs as its own process
with its TLS and token flags; a refused token surfaces as UNAUTHENTICATED in the language's
idiom (Python: RunFailed.code; Go: status.Code(err); TypeScript: RunError.status; Java:
Status.fromThrowable(e); Rust: RunError::code())."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from .client_builds import java_command, rust_example
from .security import CertAuthority, CertFiles, api_keys_file

ROOT = Path(__file__).resolve().parent.parent
GO_DIR = ROOT / "clients" / "go"
TS_DIR = ROOT / "clients" / "typescript"
BUILD_DIR = ROOT / ".tools" / "examples"
PYTHON_EXAMPLE = ROOT / "clients" / "python" / "examples" / "client_tools.py"
TOKEN = "ak-helpers-0c91e2"
CONFIG = {
    "agents": [{"name": "assistant", "provider": "offline", "model": "m", "max_turns": 4}],
    "server": {"hooks_attach_timeout_ms": 5000},
}


def _example(language: str) -> list[str]:
    """Builds a language's example (incrementally) and returns its command."""
    if language == "python":
        return [sys.executable, str(PYTHON_EXAMPLE)]
    if language == "go":
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        binary = BUILD_DIR / "go-run-prompt"
        subprocess.run(
            ["go", "build", "-o", str(binary), "./examples/run_prompt"], cwd=GO_DIR, check=True
        )
        return [str(binary)]
    if language == "typescript":
        subprocess.run(["npm", "run", "--silent", "build"], cwd=TS_DIR, check=True)
        return ["node", str(TS_DIR / "dist" / "examples" / "run_prompt.js")]
    if language == "java":
        return java_command("io.github.agentstream.examples.RunPrompt")
    return rust_example("run_prompt")


async def _run(command: list[str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode()


def _mtls_args(ca: CertAuthority, client: CertFiles) -> list[str]:
    return ["--ca", str(ca.cert_file), "--cert", str(client.cert), "--key", str(client.key)]


# What each example prints: when its run succeeds, and how a refused token fails it.
DONE = {
    "python": "final: ",
    **dict.fromkeys(["go", "typescript", "java", "rust"], "[done in 2 turn(s)"),
}
REFUSED = {
    "python": "run failed: UNAUTHENTICATED",
    "go": "run failed: Unauthenticated",
    "typescript": "run failed: UNAUTHENTICATED",
    "java": "run failed: UNAUTHENTICATED",
    "rust": "run failed: Unauthenticated",
}


@pytest.mark.timeout(900)  # the first Java or Rust build on a machine
@pytest.mark.parametrize("language", ["python", "go", "typescript", "java", "rust"])
async def test_helper_over_tls_and_mtls_with_a_token(start_server, tmp_path, language):
    command = await asyncio.to_thread(_example, language)
    ca = CertAuthority(tmp_path)
    server_cert = ca.issue("server", server=True)
    keys = api_keys_file(tmp_path / "keys.yaml", {TOKEN: ("helper", [])})
    tls = {"cert_file": str(server_cert.cert), "key_file": str(server_cert.key)}
    auth = {"api_keys_file": str(keys)}
    plain_tls = await start_server({**CONFIG, "auth": auth}, tls=tls)
    mutual = await start_server(
        {**CONFIG, "auth": auth}, tls={**tls, "client_ca_file": str(ca.cert_file)}
    )
    target = ["--target", plain_tls.address]
    if language == "python":
        target += ["--agent", "assistant"]

    # TLS with a token: the run goes through, client tool and all.
    code, out = await _run(command, *target, "--ca", str(ca.cert_file), "--token", TOKEN)
    assert code == 0, out
    assert DONE[language] in out
    # A wrong token is UNAUTHENTICATED, in the language's own terms.
    code, out = await _run(command, *target, "--ca", str(ca.cert_file), "--token", "nope")
    assert code != 0
    assert REFUSED[language] in out and "invalid token" in out, out
    # mTLS: the certificate alone is a principal; with a token as well, the token decides.
    client = ca.issue("alice", server=False)
    target[1] = mutual.address
    code, out = await _run(command, *target, *_mtls_args(ca, client))
    assert code == 0, out
    code, out = await _run(command, *target, *_mtls_args(ca, client), "--token", "nope")
    assert code != 0 and REFUSED[language] in out, out
    # Without a certificate the connection is refused, token or not (with TLS 1.3 the
    # refusal may come after the handshake: Node reports CANCELLED, Go UNAVAILABLE).
    code, out = await _run(command, *target, "--ca", str(ca.cert_file), "--token", TOKEN)
    assert code != 0 and "run failed:" in out and DONE[language] not in out, out
