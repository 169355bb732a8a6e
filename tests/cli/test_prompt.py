"""`agentstream prompt` as a subprocess against a real `agentstream serve`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

from .terminal import AGENTSTREAM, json_lines, read_until, run, run_in_terminal, script

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_readable_output_in_a_terminal_streams_text_tools_and_a_summary(env):
    code, shown = run_in_terminal("prompt", "What is 6 * 7?", env=env)
    assert code == 0, shown
    assert ANSI.search(shown), "a terminal gets colours"
    plain = ANSI.sub("", shown).replace("\r\n", "\n")
    lines = plain.splitlines()
    assert lines[0].startswith("The user asks: 'What is 6 * 7?'")  # reasoning comes first
    assert '→ calculator {"expression": "6 * 7"}' in lines
    assert re.search(r"^← calculator 42 {2}\(\d+ ms\)$", plain, re.M)
    assert "Here is what the tools said: calculator returned 42;" in plain
    assert re.search(
        r"^2 turns · \d+ input \+ \d+ output tokens · .* · run [0-9a-f]{32}$", plain, re.M
    )
    # Reasoning is dimmed, tool calls cyan, their results green.
    assert "\x1b[2;3mThe " in shown
    assert "\x1b[36m→ calculator" in shown
    assert "\x1b[32m← calculator" in shown


def test_run_failure_shows_its_code_in_red_and_exits_1(env):
    failing = script([{"error": {"message": "the model fell over", "retryable": False}}])
    code, shown = run_in_terminal(
        "prompt", "--agent", "echo", "--extra-params", failing, "hi", env=env
    )
    assert code == 1
    assert "\x1b[1;31merror PROVIDER_REJECTED: " in shown or "\x1b[1;31merror PROVIDER_" in shown
    assert "the model fell over" in shown


def test_json_through_a_pipe_is_one_proto_json_event_per_line_without_colours(env):
    result = run("prompt", "--json", "What is 6 * 7?", env=env)
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr
    events = json_lines(result.stdout)
    assert [int(e["seq"]) for e in events] == list(range(1, len(events) + 1))
    assert "run_started" in events[0] and events[0]["run_started"]["agent"] == "assistant"
    assert events[-1]["final_response"]["text"].startswith("Here is what the tools said")
    assert {e["tool_result"]["name"] for e in events if "tool_result" in e} == {
        "calculator",
        "current_time",
    }


def test_readable_output_through_a_pipe_has_the_text_alone_on_stdout(env):
    result = run("prompt", "--agent", "echo", "hello there", env=env)
    assert result.returncode == 0
    assert result.stdout == "You said: hello there\n"
    assert "\x1b[" not in result.stderr
    assert re.search(r"^1 turn · ", result.stderr, re.M)


def test_prompt_from_stdin(env):
    result = run("prompt", "--agent", "echo", "-", input="a prompt\nover two lines\n", env=env)
    assert result.returncode == 0
    assert result.stdout == "You said: a prompt\nover two lines\n"


def test_save_then_continue_sends_the_conversation_back(env, tmp_path):
    chat = tmp_path / "chat.json"
    first = run("prompt", "--agent", "echo", "--save", str(chat), "My name is Ada.", env=env)
    assert first.returncode == 0, first.stderr
    saved = json.loads(chat.read_text())
    assert saved["agent"] == "echo"
    assert [m["role"] for m in saved["history"]] == ["ROLE_USER", "ROLE_ASSISTANT"]

    # No --agent: the saved conversation's agent is used.
    second = run(
        "prompt",
        "--continue",
        str(chat),
        "--save",
        str(chat),
        "--json",
        "What is my name?",
        env=env,
    )
    assert second.returncode == 0, second.stderr
    events = json_lines(second.stdout)
    assert events[0]["run_started"]["agent"] == "echo"
    history = events[-1]["final_response"]["history"]
    assert history[:2] == saved["history"]
    assert history[2]["parts"][0]["text"] == "What is my name?"
    assert len(json.loads(chat.read_text())["history"]) == 4


def test_a_bad_continue_file_is_a_usage_error(env, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"history": "no"}')
    result = run("prompt", "--continue", str(bad), "hi", env=env)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_cancels_the_run_on_the_server_and_saves_the_partial_history(env, tmp_path):
    chat = tmp_path / "partial.json"
    hangs = script([{"text": "Hello there"}, {"hang": True}])
    process = subprocess.Popen(
        [
            AGENTSTREAM,
            "prompt",
            "--agent",
            "echo",
            "--save",
            str(chat),
            "--extra-params",
            hangs,
            "Say hello",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        read_until(process.stdout, b"Hello")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = err.decode()
    assert process.returncode == 130, stderr
    # The server ended the run with CANCELLED and the reason given at the terminal.
    assert "error CANCELLED: " in stderr and "Ctrl-C" in stderr
    assert f"partial history saved to {chat}" in stderr
    assert json.loads(chat.read_text())["history"][0]["parts"][0]["text"] == "Say hello"
    assert "Traceback" not in stderr


def test_tool_serves_a_client_tool_with_a_shell_command(env):
    shout = f"{sys.executable} -c 'import json, sys; print(json.load(sys.stdin)[\"text\"].upper())'"
    fails = "echo 'disk on fire' >&2; exit 3"
    turns = script(
        [
            {"tool_call": {"name": "shout", "arguments": {"text": "quiet please"}, "id": "c1"}},
            {"tool_call": {"name": "broken", "arguments": {}, "id": "c2"}},
        ],
        [{"text": "done"}],
    )
    result = run(
        "prompt",
        "--agent",
        "echo",
        "--tool",
        f"shout={shout}",
        "--tool-schema",
        'shout={"type": "object", "properties": {"text": {"type": "string"}}}',
        "--tool",
        f"broken={fails}",
        "--extra-params",
        turns,
        "--json",
        "go",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    results = {
        e["tool_result"]["name"]: e["tool_result"]
        for e in json_lines(result.stdout)
        if "tool_result" in e
    }
    assert results["shout"]["content"] == "QUIET PLEASE"
    assert results["broken"]["is_error"] is True
    assert results["broken"]["content"] == "exit status 3: disk on fire"


def test_a_server_tools_progress_is_shown_while_it_runs(env, tmp_path):
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    call = script(
        [{"tool_call": {"name": "wait_for_go", "arguments": {"fifo": str(fifo)}, "id": "c1"}}],
        [{"text": "ok"}],
    )
    process = subprocess.Popen(
        [AGENTSTREAM, "prompt", "--agent", "patient", "--extra-params", call, "go"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        shown = read_until(process.stderr, b"wait_for_go: waiting for go 50%")
        assert '→ wait_for_go {"fifo": '.encode() in shown  # the call came first
        fifo.write_text("go ahead\n")  # only now may the tool finish
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "← wait_for_go go ahead" in err.decode()


def test_unreachable_server_is_one_line_and_exit_3(env, cli_server):
    from .conftest import free_port

    nowhere = f"127.0.0.1:{free_port()}"
    for args in (["prompt", "hi"], ["agents"], ["watch", "some-run"]):
        result = run(*args, "--server", nowhere, env=env)
        assert result.returncode == 3, (args, result.stderr)
        assert result.stderr.startswith(
            f"agentstream: cannot reach the agentstream server at {nowhere}"
        )
        assert len(result.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(env):
    assert run("prompt", env=env).returncode == 2
    assert run("prompt", "--tool", "no-command", "hi", env=env).returncode == 2
    assert run("prompt", "--extra-params", "[1]", "hi", env=env).returncode == 2
    assert run("nonsense", env=env).returncode == 2
