"""StreamPrompt throughput and time to first event vs a bare grpc.aio baseline.

Both servers run as separate processes on loopback and send the same number of
StreamPromptResponse text deltas of the same size; the client is this process.
"""

from __future__ import annotations

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from google.protobuf import struct_pb2

from .common import median, process, stream_once

WORDS = 20_000
ROUNDS = 5
FIRST_EVENT_SAMPLES = 200
WORD = "word "


def agent_request(words: int) -> pb.StreamPromptRequest:
    extra = struct_pb2.Struct()
    extra.update({"script": [[{"text": WORD * words}]]})
    return pb.StreamPromptRequest(prompt="bench", run_id="bench-run-0001", extra_params=extra)


def baseline_request(words: int) -> pb.StreamPromptRequest:
    extra = struct_pb2.Struct()
    extra.update({"count": words, "word": WORD})
    return pb.StreamPromptRequest(run_id="bench-run-0001", extra_params=extra)


async def measure(address: str, make_request: object) -> tuple[float, float]:
    """(median deltas/s over ROUNDS long runs, median seconds to first event)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.AgentServiceStub(channel)
        long_request, short_request = make_request(WORDS), make_request(1)  # type: ignore[operator]
        await stream_once(stub, long_request)  # warm up
        rates = []
        for _ in range(ROUNDS):
            deltas, _, total = await stream_once(stub, long_request)
            assert deltas == WORDS, deltas
            rates.append(deltas / total)
        firsts = [(await stream_once(stub, short_request))[1] for _ in range(FIRST_EVENT_SAMPLES)]
    return median(rates), median(firsts)


async def main() -> None:
    config = "config/bench.yaml"
    async with process("bench.baseline", "{port}") as baseline_address:
        base_rate, base_first = await measure(baseline_address, baseline_request)
    async with process(
        "agentstream_server",
        "--log-level",
        "WARNING",
        "--config",
        config,
        "--addr",
        "127.0.0.1:{port}",
    ) as address:
        rate, first = await measure(address, agent_request)
    print(f"baseline grpc.aio : {base_rate:10,.0f} events/s, first event {base_first * 1e3:.2f} ms")
    print(f"agentstream       : {rate:10,.0f} events/s, first event {first * 1e3:.2f} ms")
    print(
        f"ratio             : {rate / base_rate:.1%} of baseline (target >= 85%); "
        f"first event target < 2 ms"
    )
