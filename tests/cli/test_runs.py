"""`agentstream watch` and `agentstream attach` against a run started by `agentstream prompt`."""

from __future__ import annotations

import subprocess
import uuid

from .terminal import AGENTSTREAM, json_lines, run, script

TWO_CALLS = script(
    [
        {"tool_call": {"name": "calculator", "arguments": {"expression": "6 * 7"}, "id": "c1"}},
        {"tool_call": {"name": "calculator", "arguments": {"expression": "1 + 1"}, "id": "c2"}},
    ],
    [{"text": "All done."}],
)


def _start_prompt(env, run_id: str, *args: str) -> subprocess.Popen[str]:
    """A run that waits for a hooks client before its first model call."""
    return subprocess.Popen(
        [AGENTSTREAM, "prompt", "--run-id", run_id, "--wait-attach", "30", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_watch_prints_a_runs_events_live(env):
    run_id = f"watch-{uuid.uuid4().hex[:8]}"
    prompt = _start_prompt(env, run_id, "--extra-params", TWO_CALLS, "What is 6 * 7?")
    watched = run("watch", run_id, env=env)
    _, err = prompt.communicate(timeout=60)
    assert prompt.returncode == 0, err
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout == "All done.\n"
    lines = watched.stderr.splitlines()
    assert lines[0] == f"attached to run {run_id}"
    assert "turn 1: calling the model" in lines
    assert '→ calculator {"expression": "6 * 7"}' in lines
    assert any(line.startswith("← calculator 42") for line in lines)
    assert any(line.startswith("← calculator 2") for line in lines)
    assert lines[-1] == f"run {run_id} completed"


def test_watch_json_prints_hooks_responses(env):
    run_id = f"watch-{uuid.uuid4().hex[:8]}"
    prompt = _start_prompt(env, run_id, "--agent", "echo", "hi")
    watched = run("watch", "--json", run_id, env=env)
    prompt.communicate(timeout=60)
    responses = json_lines(watched.stdout)
    assert responses[0] == {"attached": {"runId": run_id}}
    assert responses[-1]["runEnded"]["outcome"] == "RUN_OUTCOME_COMPLETED"
    assert any("textDelta" in r.get("event", {}) for r in responses)


def test_attach_approves_one_tool_call_and_skips_another_with_a_reason(env):
    run_id = f"attach-{uuid.uuid4().hex[:8]}"
    prompt = _start_prompt(env, run_id, "--extra-params", TWO_CALLS, "What is 6 * 7?")
    attached = run("attach", run_id, input="y\ns\nnot today\n", env=env)
    out, err = prompt.communicate(timeout=60)
    assert attached.returncode == 0, attached.stderr
    assert prompt.returncode == 0, err
    results = {e["toolResult"]["id"]: e["toolResult"] for e in json_lines(out) if "toolResult" in e}
    assert results["c1"]["content"] == "42"
    assert results["c2"]["content"] == "not today"  # skipped: the model reads the reason
    assert attached.stderr.count("run it? [y]es / [n]o") == 2


def test_attach_can_deny_a_tool_call_which_cancels_the_run(env):
    run_id = f"attach-{uuid.uuid4().hex[:8]}"
    prompt = _start_prompt(env, run_id, "--extra-params", TWO_CALLS, "What is 6 * 7?")
    attached = run("attach", run_id, input="n\ntoo risky\n", env=env)
    out, _ = prompt.communicate(timeout=60)
    assert prompt.returncode == 1
    assert attached.returncode == 1
    last = json_lines(out)[-1]
    assert last["error"]["code"] == "ERROR_CODE_CANCELLED"
    assert "too risky" in last["error"]["message"]
    assert f"run {run_id} cancelled CANCELLED: " in attached.stderr


def test_a_second_hooks_client_is_refused_in_one_line(env):
    run_id = f"busy-{uuid.uuid4().hex[:8]}"
    prompt = _start_prompt(env, run_id, "--extra-params", script([{"hang": True}]), "x")
    first = subprocess.Popen(
        [AGENTSTREAM, "watch", run_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert first.stderr is not None
        assert first.stderr.readline().decode().startswith("attached to run")
        second = run("watch", run_id, env=env)
        assert second.returncode == 1
        assert second.stderr.startswith("agentstream: ALREADY_EXISTS: ")
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.kill()
        first.wait()
        prompt.kill()
        prompt.wait()
