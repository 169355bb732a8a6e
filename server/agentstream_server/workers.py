"""`--workers N`: N server processes on one port (SO_REUSEPORT, the kernel spreads the
connections), sharing the Redis run bus so any of them serves any run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

from .config import Config, RedisBusConfig


def check_workers(config: Config, workers: int, address: str) -> str | None:
    """Why these workers cannot run, or None."""
    if workers < 1:
        return "--workers: must be at least 1"
    if workers == 1:
        return None
    if not isinstance(config.bus, RedisBusConfig):
        return (
            f"--workers {workers}: the processes must share their runs; "
            "configure a shared run bus (bus: {type: redis, url: redis://...})"
        )
    if address.rsplit(":", 1)[-1] == "0":
        return f"--workers {workers}: needs a fixed port (port 0 would give each its own)"
    return None


def run_workers(workers: int, child_args: list[str]) -> int:
    """Starts the workers and waits; SIGTERM or SIGINT is passed on to each. If one exits,
    the others are stopped too, and its exit code is ours."""
    children = [
        subprocess.Popen([sys.executable, "-m", "agentstream_server", *child_args])
        for _ in range(workers)
    ]

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while all(child.poll() is None for child in children):
        time.sleep(0.2)  # a supervisor's poll, not a synchronisation
    first = next(child for child in children if child.poll() is not None)
    for child in children:
        if child.poll() is None:
            child.terminate()
    codes = [child.wait() for child in children]
    return first.returncode or max(codes)
