"""A real grpcurl (installed by `make setup` with `go install` at a pinned version) and
`buf curl` against the server, with reflection and no proto files."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from .conftest import ROOT, TOOLS

GRPCURL = TOOLS / "bin" / "grpcurl"
BUF = TOOLS / "npm" / "node_modules" / ".bin" / "buf"


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    if not GRPCURL.exists():
        pytest.fail(f"{GRPCURL} is missing: run `make setup`")
    return subprocess.run(
        [str(GRPCURL), "-plaintext", *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_list_and_describe(conformance_server: str) -> None:
    listed = grpcurl(conformance_server, "list")
    assert listed.returncode == 0, listed.stderr
    assert "agentstream.v1.AgentService" in listed.stdout.split()
    described = grpcurl(conformance_server, "describe", "agentstream.v1.AgentService")
    assert described.returncode == 0, described.stderr
    assert "rpc StreamPrompt ( .agentstream.v1.StreamPromptRequest )" in described.stdout
    assert "rpc Hooks ( stream .agentstream.v1.HooksRequest )" in described.stdout


def test_stream_prompt(conformance_server: str) -> None:
    request = {
        "agent": "assistant",
        "prompt": "What is 6 * 7?",
        "extra_params": {
            "script": [
                [{"tool_call": {"name": "calculator", "arguments": {"expression": "6 * 7"}}}],
                [{"text": "It is 42."}],
            ]
        },
    }
    done = grpcurl(
        "-d", json.dumps(request), conformance_server, "agentstream.v1.AgentService/StreamPrompt"
    )
    assert done.returncode == 0, done.stderr
    events = _json_objects(done.stdout)
    assert "run_started" in events[0]
    assert any(e.get("tool_result", {}).get("content") == "42" for e in events)
    assert events[-1]["final_response"]["text"] == "It is 42."


def test_stream_prompt_error_status(conformance_server: str) -> None:
    done = grpcurl(
        "-d", '{"agent": "no-such-agent", "prompt": "hi"}',
        conformance_server, "agentstream.v1.AgentService/StreamPrompt",
    )  # fmt: skip
    assert done.returncode != 0
    assert "ERROR_CODE_AGENT_NOT_FOUND" in done.stdout
    assert "Code: NotFound" in done.stderr


def test_buf_curl(conformance_server: str) -> None:
    done = subprocess.run(
        [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge",
         f"http://{conformance_server}/agentstream.v1.AgentService/ListAgents"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = [a["name"] for a in json.loads(done.stdout)["agents"]]
    assert names == ["assistant", "echo"]


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Splits grpcurl's stream output (pretty-printed JSON objects one after another)."""
    decoder = json.JSONDecoder()
    objects, i = [], 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, end = decoder.raw_decode(text, i)
        objects.append(obj)
        i = end
    return objects
