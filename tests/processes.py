"""agentstream servers as real processes (`python -m agentstream_server`), for the tests
of replicas sharing a Redis run bus."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import yaml
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from .redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    def __init__(self, config: dict[str, Any], directory: Path, *args: str, port: int = 0) -> None:
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        config_file = directory / f"config-{self.port}-{id(self)}.yaml"
        config_file.write_text(yaml.safe_dump(config))
        self.log_file = directory / f"server-{self.port}-{id(self)}.log"
        self._log = self.log_file.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentstream_server",
                "--config",
                str(config_file),
                "--addr",
                self.address,
                "--log-level",
                "INFO",
                *args,
            ],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.channel = grpc.aio.insecure_channel(self.address)
        self.stub = pb_grpc.AgentServiceStub(self.channel)

    def wait_ready(self, timeout: float = 30) -> ServerProcess:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = pb_grpc.AgentServiceStub(channel)
            while True:
                try:
                    stub.ListAgents(pb.ListAgentsRequest(), timeout=1)
                    return self
                except grpc.RpcError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the server did not start:\n{self.log()}") from None
                    time.sleep(0.05)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_file.read_text()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    async def close(self) -> None:
        await self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
