"""Shared pieces of the benchmarks: server processes, timing, figures."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
# The process behind each address `process` started, for `cpu_seconds`.
PIDS: dict[str, int] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def process(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[str]:
    """Runs `python -m ARGS...` ("{port}" in an argument becomes a free port), with
    `env` added to the environment, and yields its address once it accepts calls."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *(a.format(port=port) for a in args),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    address = f"127.0.0.1:{port}"
    PIDS[address] = proc.pid
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            await channel.channel_ready()
        yield address
    finally:
        proc.terminate()
        await proc.wait()


def agent_server(
    config: str = "config/bench.yaml", env: dict[str, str] | None = None
) -> AbstractAsyncContextManager[str]:
    """agentstream serving `config` in its own process, quiet, on a free port."""
    return process(
        "agentstream_server",
        "--log-level",
        "WARNING",
        "--config",
        config,
        "--addr",
        "127.0.0.1:{port}",
        env=env,
    )


@contextmanager
def otlp_receiver() -> Iterator[str]:
    """A local OTLP/HTTP endpoint that accepts and drops what it is sent (in a thread)."""

    class Drop(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def stream_once(
    stub: pb_grpc.AgentServiceStub, request: pb.StreamPromptRequest
) -> tuple[int, float, float]:
    """Returns (text deltas received, seconds to the first event, total seconds)."""
    start = time.perf_counter()
    first = 0.0
    deltas = 0
    async for event in stub.StreamPrompt(request):
        if not first:
            first = time.perf_counter() - start
        if event.HasField("text_delta"):
            deltas += 1
    return deltas, first, time.perf_counter() - start


def cpu_seconds(address: str) -> float:
    """CPU time (user + system) the server at `address` has used so far (Linux)."""
    fields = Path(f"/proc/{PIDS[address]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    return statistics.median(values)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
