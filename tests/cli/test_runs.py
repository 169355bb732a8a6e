"""`agentstream watch` and `agentstream attach` against runs started by `agentstream prompt`."""

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


def _popen(env, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [AGENTSTREAM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _start_waiting_prompt(env, run_id: str, *args: str) -> subprocess.Popen[str]:
    """A run that waits for a hooks client (`attach`) before its first model call."""
    return _popen(env, "prompt", "--run-id", run_id, "--wait-attach", "30", "--json", *args)


def test_watch_started_first_shows_the_whole_run_as_prompt_does(env):
    run_id = f"watch-{uuid.uuid4().hex[:8]}"
    watcher = _popen(env, "watch", run_id)
    prompted = run("prompt", "--run-id", run_id, "--extra-params", TWO_CALLS, "6 * 7?", env=env)
    assert prompted.returncode == 0, prompted.stderr
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert out == prompted.stdout == "All done.\n"
    lines = err.splitlines()
    assert '→ calculator {"expression": "6 * 7"}' in lines
    assert any(line.startswith("← calculator 42") for line in lines)
    assert any(line.startswith("← calculator 2 ") for line in lines)
    assert lines[-1].endswith(f"run {run_id}")


def test_watch_json_replays_a_finished_run_event_for_event(env):
    run_id = f"watch-{uuid.uuid4().hex[:8]}"
    prompted = run("prompt", "--run-id", run_id, "--agent", "echo", "--json", "hi", env=env)
    watched = run("watch", "--json", run_id, env=env)
    assert watched.returncode == 0, watched.stderr
    assert json_lines(watched.stdout) == json_lines(prompted.stdout)


def test_attach_approves_one_call_and_skips_another_while_watch_looks_on(env):
    run_id = f"attach-{uuid.uuid4().hex[:8]}"
    prompt = _start_waiting_prompt(env, run_id, "--extra-params", TWO_CALLS, "6 * 7?")
    watcher = _popen(env, "watch", run_id)
    attached = run("attach", run_id, input="y\ns\nnot today\n", env=env)
    out, err = prompt.communicate(timeout=60)
    watched, _ = watcher.communicate(timeout=60)
    assert attached.returncode == 0, attached.stderr
    assert prompt.returncode == 0, err
    results = {
        e["tool_result"]["id"]: e["tool_result"] for e in json_lines(out) if "tool_result" in e
    }
    assert results["c1"]["content"] == "42"
    assert results["c2"]["content"] == "not today"  # skipped: the model reads the reason
    lines = attached.stderr.splitlines()
    assert lines[0] == f"attached to run {run_id}"
    assert attached.stderr.count("run it? [y]es / [n]o, cancel the run / [s]kip it") == 2
    assert lines[-1] == f"run {run_id} completed"
    assert watched == "All done.\n"


def test_attach_can_deny_a_tool_call_which_cancels_the_run(env):
    run_id = f"attach-{uuid.uuid4().hex[:8]}"
    prompt = _start_waiting_prompt(env, run_id, "--extra-params", TWO_CALLS, "6 * 7?")
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
    prompt = _start_waiting_prompt(env, run_id, "--extra-params", script([{"hang": True}]), "x")
    first = _popen(env, "attach", run_id)
    try:
        assert first.stderr is not None
        assert first.stderr.readline().startswith("attached to run")
        second = run("attach", run_id, env=env)
        assert second.returncode == 1
        assert second.stderr.startswith("agentstream: ALREADY_EXISTS: ")
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        for process in (first, prompt):
            process.kill()
            process.wait()
