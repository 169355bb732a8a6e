"""Running the `agentstream` command as a subprocess: through a pipe or a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

AGENTSTREAM = str(Path(sys.executable).with_name("agentstream"))
TIMEOUT_S = 60


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without colour or agentstream settings of the machine."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AGENTSTREAM_") and k not in ("NO_COLOR", "FORCE_COLOR")
    }
    env.update(XDG_CONFIG_HOME=str(home), TERM="xterm-256color", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run(
    *args: str, env: Mapping[str, str], input: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENTSTREAM, *args],
        input=input,
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        timeout=TIMEOUT_S,
    )


def run_in_terminal(*args: str, env: Mapping[str, str]) -> tuple[int, str]:
    """Runs with stdin, stdout and stderr on a pseudo-terminal; returns what it showed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [AGENTSTREAM, *args], stdin=terminal, stdout=terminal, stderr=terminal, env=dict(env)
    )
    os.close(terminal)
    shown = b""
    try:
        for chunk in _chunks(controller):
            shown += chunk
        return process.wait(timeout=TIMEOUT_S), shown.decode()
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()


def _chunks(fd: int) -> Iterator[bytes]:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError("the command showed nothing more and did not exit")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every process holding the terminal has exited
            return
        if not chunk:
            return
        yield chunk


def read_until(stream: Any, needle: bytes) -> bytes:
    """Reads a subprocess pipe until `needle` has appeared (without waiting for EOF)."""
    seen = b""
    for chunk in _chunks(stream.fileno()):
        seen += chunk
        if needle in seen:
            return seen
    raise AssertionError(f"{needle!r} never came; got {seen!r}")


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def script(*turns: list[dict[str, Any]]) -> str:
    """--extra-params that make the offline model play these turns."""
    return json.dumps({"script": [list(t) for t in turns]})
