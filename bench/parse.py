"""Provider stream parsing rate (SSE framing + interpretation) vs the gRPC layer's event rate.

A long stream is built from the recorded ones (their content chunks repeated) and
parsed from memory, cut as the network would (16 KiB reads) and one chunk per read.
The gRPC rate is the bare grpc.aio baseline streaming the same count of messages.
Besides the rates, CPU time per chunk is set against the baseline server's CPU time per
event: on a busy shared machine the wall-clock rates move a lot, the CPU costs little.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import grpc
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from agentstream_server.providers.anthropic_messages import MessagesInterpreter
from agentstream_server.providers.gemini import GeminiInterpreter
from agentstream_server.providers.http import StreamInterpreter
from agentstream_server.providers.openai_chat import ChatInterpreter
from agentstream_server.providers.openai_responses import ResponsesInterpreter
from agentstream_server.providers.sse import SSEDecoder

from .common import ROOT, cpu_seconds, median, process, stream_once
from .stream import baseline_request

CHUNKS = 20_000
ROUNDS = 5
READ_SIZE = 16 * 1024
RECORDINGS = ROOT / "tests" / "fixtures" / "providers"


def long_stream(
    path: Path, is_content: Callable[[bytes], bool], count: int, end: bytes = b"\n\n"
) -> list[bytes]:
    """The recording's events (each with its blank-line end) with its first content event
    repeated until there are `count`."""
    events = [e + end for e in path.read_bytes().split(end) if e.strip()]
    first = next(i for i, e in enumerate(events) if is_content(e))
    return events[:first] + [events[first]] * count + events[first + 1 :]


def parse(body: bytes, size: int, interpreter: StreamInterpreter) -> int:
    """The count of events parsed. They are counted, not kept, as the server consumes
    them: 20,000 kept events would make the bench, not the parse, pay a full collection."""
    decoder = SSEDecoder()
    produced = 0
    for at in range(0, len(body), size):
        for frame in decoder.feed(body[at : at + size]):
            produced += len(interpreter.feed(frame))
    for frame in decoder.flush():
        produced += len(interpreter.feed(frame))
    return produced + len(interpreter.finish())


def rate(body: bytes, size: int, make: Callable[[], StreamInterpreter]) -> tuple[float, float]:
    """Chunks per second of wall time, and CPU seconds per chunk (this thread's)."""
    start, cpu = time.perf_counter(), time.thread_time()
    events = parse(body, size, make())
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    assert events >= CHUNKS, events
    return CHUNKS / elapsed, cpu / CHUNKS


Case = tuple[str, list[bytes], Callable[[], StreamInterpreter]]
Figures = dict[tuple[str, str], list[tuple[float, float]]]


def cases() -> list[Case]:
    """Each adapter's long stream, as events (each with its blank-line end)."""
    openai = long_stream(
        RECORDINGS / "openai_chat/text.sse", lambda e: b'"content":"I' in e, CHUNKS
    )
    anthropic = long_stream(
        RECORDINGS / "anthropic/thinking.sse", lambda e: b"thinking_delta" in e, CHUNKS
    )
    responses = long_stream(
        RECORDINGS / "openai_responses/parallel_tools.2.sse",
        lambda e: b"response.output_text.delta" in e,
        CHUNKS,
    )
    # Gemini sends several tokens per chunk, each with the cumulative usage.
    gemini = long_stream(
        RECORDINGS / "gemini/text.sse", lambda e: b'"text": "lementine' in e, CHUNKS, b"\r\n\r\n"
    )
    return [
        ("openai chunks", openai, lambda: ChatInterpreter("bench")),
        ("anthropic chunks", anthropic, lambda: MessagesInterpreter("bench")),
        ("openai_responses", responses, lambda: ResponsesInterpreter("bench")),
        ("gemini chunks", gemini, lambda: GeminiInterpreter("bench")),
    ]


def parse_round(all_cases: list[Case], figures: Figures) -> None:
    for name, one_per_read, make in all_cases:
        body = b"".join(one_per_read)
        # One event per read: the worst case, each network read holding one chunk.
        single = max(len(e) for e in one_per_read) + 2
        for label, size in (("16K", READ_SIZE), ("1", single)):
            figures.setdefault((name, label), []).append(rate(body, size, make))


async def main() -> None:
    all_cases = cases()
    # Rounds alternate between the gRPC baseline and every parse, so a busy moment on the
    # shared machine weighs on both sides of each ratio alike; medians are reported.
    baselines: list[float] = []
    baseline_cpu: list[float] = []  # the baseline server's CPU seconds per event
    figures: Figures = {}
    async with (
        process("bench.baseline", "{port}") as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        stub = pb_grpc.AgentServiceStub(channel)
        request = baseline_request(CHUNKS)
        await stream_once(stub, request)
        for _ in range(ROUNDS):
            cpu = cpu_seconds(address)
            deltas, _, total = await stream_once(stub, request)
            baseline_cpu.append((cpu_seconds(address) - cpu) / deltas)
            baselines.append(deltas / total)
            parse_round(all_cases, figures)
    report(median(baselines), median(baseline_cpu), [c[0] for c in all_cases], figures)


def report(baseline: float, base_cpu: float, names: list[str], figures: Figures) -> None:
    print(
        f"grpc.aio baseline      : {baseline:12,.0f} events/s, "
        f"server CPU {base_cpu * 1e6:.1f} us/event"
    )
    for name in names:
        framed, single = (median([r[0] for r in figures[(name, k)]]) for k in ("16K", "1"))
        cpu = median([r[1] for r in figures[(name, "16K")]])
        print(
            f"{name:<17} 16K reads: {framed:12,.0f}/s ({framed / baseline:4.1f}x), "
            f"~1 chunk/read: {single:12,.0f}/s ({single / baseline:4.1f}x)  "
            f"target >= 5x; CPU {cpu * 1e6:.1f} us/chunk ({base_cpu / cpu:4.1f}x cheaper)"
        )
