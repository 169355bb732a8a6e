"""One real agentstream server process for the conformance suite and the grpcurl test."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from ..helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"


@pytest.fixture(scope="session")
def conformance_server() -> Iterator[str]:
    """Starts `python -m agentstream_server` with config.yaml here; yields its address."""
    address = f"127.0.0.1:{free_port()}"
    log = open(TOOLS / "conformance-server.log", "w") if TOOLS.is_dir() else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentstream_server",
            "--config",
            str(HERE / "config.yaml"),
            "--addr",
            address,
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Generous: on a loaded shared machine (make test with others' builds) the server's
        # imports alone have taken more than 20 s; a slow start is not what this suite checks.
        deadline = time.monotonic() + 90
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.AgentServiceStub(channel)
            while True:
                try:
                    stub.ListAgents(pb.ListAgentsRequest(), timeout=1)
                    break
                except grpc.RpcError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the conformance server did not start") from None
                    time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log is not subprocess.DEVNULL:
            log.close()
