"""`agentstream serve` and where settings come from (flags > environment > CLI config file)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from .conftest import free_port
from .terminal import AGENTSTREAM, clean_env, run


def test_serve_check_validates_the_built_in_default_from_any_directory(tmp_path):
    result = run("serve", "--check", env=clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "built-in default config: OK (2 agents: assistant, echo)\n"


def test_serve_check_names_the_bad_field_from_the_environment_config(tmp_path):
    bad = tmp_path / "agents.yaml"
    bad.write_text("agents:\n  - {name: a, provider: offline, model: m, temperature: 5}\n")
    result = run("serve", "--check", env=clean_env(tmp_path, AGENTSTREAM_CONFIG=str(bad)))
    assert result.returncode == 2
    assert result.stderr == (
        f"agentstream: bad config: {bad}: agents.0.temperature: "
        "Input should be less than or equal to 2\n"
    )


def test_serve_check_names_an_unknown_server_tool(tmp_path):
    bad = tmp_path / "agents.yaml"
    bad.write_text("agents:\n  - {name: a, provider: offline, model: m, tools: [teleport]}\n")
    result = run("serve", "--check", "--config", str(bad), env=clean_env(tmp_path))
    assert result.returncode == 2
    assert "agents[0].tools[0]: no server tool named 'teleport': not built in" in result.stderr


def test_serve_without_a_config_serves_the_built_in_agents(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    env = clean_env(tmp_path)
    server = subprocess.Popen(
        [AGENTSTREAM, "serve", "--addr", address], cwd=tmp_path, env=env, stderr=subprocess.PIPE
    )
    try:
        assert server.stderr is not None
        assert b"config: built-in default config" in server.stderr.readline()
        assert b"serving 2 agent(s)" in server.stderr.readline()
        listed = run("agents", "--json", "--server", address, env=env)
        assert [a["name"] for a in json.loads(listed.stdout)["agents"]] == ["assistant", "echo"]
    finally:
        server.terminate()
        assert server.wait(timeout=20) == 0


def test_python_dash_m_is_agentstream_serve(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "agentstream_server", "--check"],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("built-in default config: OK")


def test_agents_table(env):
    result = run("agents", env=env)
    assert result.returncode == 0
    rows = [re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines()]
    assert rows[0] == ["agent", "provider", "model", "max turns", "tools"]
    assert rows[1] == ["assistant *", "offline", "offline-1", "6", "calculator, current_time"]
    assert rows[2] == ["echo", "offline", "offline-1", "4", "-"]


def test_flags_beat_environment_which_beats_the_config_file(tmp_path, cli_server):
    nowhere = f"127.0.0.1:{free_port()}"
    config = tmp_path / "cli.yaml"
    env = clean_env(tmp_path, AGENTSTREAM_CLI_CONFIG=str(config))

    config.write_text(f"server: {cli_server}\nprompt: {{agent: echo}}\n")
    from_file = run("prompt", "--json", "hi", env=env)
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout.splitlines()[0])["run_started"]["agent"] == "echo"

    env_wins = run("agents", env={**env, "AGENTSTREAM_SERVER": nowhere})
    assert env_wins.returncode == 3

    flag_wins = run("agents", "--server", cli_server, env={**env, "AGENTSTREAM_SERVER": nowhere})
    assert flag_wins.returncode == 0


def test_a_bad_cli_config_file_is_a_usage_error_naming_the_key(tmp_path):
    config = tmp_path / "cli.yaml"
    config.write_text("prompt: {colour: red}\n")
    result = run("agents", env=clean_env(tmp_path, AGENTSTREAM_CLI_CONFIG=str(config)))
    assert result.returncode == 2
    assert f"{config}: prompt.colour: `prompt` has no such option" in result.stderr
