"""One `agentstream serve` process for the CLI tests, and a clean environment for each."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..helpers import free_port
from .terminal import AGENTSTREAM, clean_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`agentstream serve` with tests/cli/config.yaml, started from a directory outside the
    repository; yields its address."""
    address = f"127.0.0.1:{free_port()}"
    home = tmp_path_factory.mktemp("server-home")
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [AGENTSTREAM, "serve", "--addr", address, "--log-level", "WARNING"],
        cwd=home,
        # The repository on the path: an agent uses a tool from tests/cli/progress_tool.py.
        env=clean_env(home, AGENTSTREAM_CONFIG=str(HERE / "config.yaml"), PYTHONPATH=str(ROOT)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            health.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=30)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
def env(tmp_path: Path, cli_server: str) -> dict[str, str]:
    """A CLI environment that reaches the test server through AGENTSTREAM_SERVER."""
    return clean_env(tmp_path, AGENTSTREAM_SERVER=cli_server)
