"""Provider stream parsing rate (SSE framing + interpretation) vs the gRPC layer's event rate.

A long stream is built from the recorded ones (their content chunks repeated) and
parsed from memory, cut as the network would (16 KiB reads) and one chunk per read.
The gRPC rate is the bare grpc.aio baseline streaming the same count of messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import grpc
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from agentstream_server.core.events import ModelEvent
from agentstream_server.providers.anthropic_messages import MessagesInterpreter
from agentstream_server.providers.http import StreamInterpreter
from agentstream_server.providers.openai_chat import ChatInterpreter
from agentstream_server.providers.sse import SSEDecoder

from .common import ROOT, median, process, stream_once
from .stream import baseline_request

CHUNKS = 20_000
ROUNDS = 5
READ_SIZE = 16 * 1024
RECORDINGS = ROOT / "tests" / "fixtures" / "providers"


def long_stream(path: Path, is_content: Callable[[bytes], bool], count: int) -> bytes:
    """The recording with its first content event repeated until there are `count`."""
    events = [e + b"\n\n" for e in path.read_bytes().split(b"\n\n") if e.strip()]
    first = next(i for i, e in enumerate(events) if is_content(e))
    return b"".join(events[:first] + [events[first]] * count + events[first + 1 :])


def parse(body: bytes, size: int, interpreter: StreamInterpreter) -> int:
    decoder = SSEDecoder()
    produced: list[ModelEvent] = []
    for at in range(0, len(body), size):
        for frame in decoder.feed(body[at : at + size]):
            produced += interpreter.feed(frame)
    for frame in decoder.flush():
        produced += interpreter.feed(frame)
    return len(produced + interpreter.finish())


def rate(body: bytes, size: int, make: Callable[[], StreamInterpreter]) -> float:
    rates = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        events = parse(body, size, make())
        rates.append(CHUNKS / (time.perf_counter() - start))
    assert events >= CHUNKS, events
    return median(rates)


async def grpc_rate() -> float:
    rates = []
    async with (
        process("bench.baseline", "{port}") as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        stub = pb_grpc.AgentServiceStub(channel)
        request = baseline_request(CHUNKS)
        await stream_once(stub, request)
        for _ in range(ROUNDS):
            deltas, _, total = await stream_once(stub, request)
            rates.append(deltas / total)
    return median(rates)


async def main() -> None:
    openai = long_stream(
        RECORDINGS / "openai_chat/text.sse", lambda e: b'"content":"I' in e, CHUNKS
    )
    anthropic = long_stream(
        RECORDINGS / "anthropic/thinking.sse", lambda e: b"thinking_delta" in e, CHUNKS
    )
    cases: list[tuple[str, bytes, Callable[[], StreamInterpreter]]] = [
        ("openai chunks", openai, lambda: ChatInterpreter("bench")),
        ("anthropic chunks", anthropic, lambda: MessagesInterpreter("bench")),
    ]
    baseline = await grpc_rate()
    print(f"grpc.aio baseline      : {baseline:12,.0f} events/s")
    for name, body, make in cases:
        one_per_read = body.split(b"\n\n")
        framed = rate(body, READ_SIZE, make)
        # One event per read: the worst case, each network read holding a single chunk.
        size = max(len(e) for e in one_per_read) + 2
        single = rate(body, size, make)
        print(
            f"{name:<17} 16K reads: {framed:12,.0f}/s ({framed / baseline:4.1f}x), "
            f"~1 chunk/read: {single:12,.0f}/s ({single / baseline:4.1f}x)  target >= 5x"
        )
