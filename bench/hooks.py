"""Hooks: blocking round trip (p50, p99) and the throughput cost of an observe-only client.

Round trip: every text delta blocks until the client (this process) replies
`proceed`; the time from receiving one blocking event to receiving the next
covers reply, loop resumption and the next send. Observer cost: the same long
run streamed to this process with and without an observe-only hooks client
attached from its own process.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from google.protobuf import struct_pb2

from .common import ROOT, median, p99, process, stream_once

ROUND_TRIPS = 2000
OBSERVED_WORDS = 5000
ROUNDS = 5
OBSERVER_COUNTS: list[list[str]] = []


def _request(words: int, run_id: str, wait: bool) -> pb.StreamPromptRequest:
    extra = struct_pb2.Struct()
    extra.update({"script": [[{"text": "word " * words}]]})
    return pb.StreamPromptRequest(
        prompt="bench",
        run_id=run_id,
        extra_params=extra,
        hooks=pb.HooksOptions(wait_for_client=wait),
    )


async def round_trips(stub: pb_grpc.AgentServiceStub) -> list[float]:
    run_id = uuid.uuid4().hex
    hooks = stub.Hooks()
    await hooks.write(
        pb.HooksRequest(
            attach=pb.HookAttach(
                run_id=run_id,
                events=[pb.HOOK_EVENT_KIND_TEXT_DELTA],
                blocking=[pb.HOOK_EVENT_KIND_TEXT_DELTA],
            )
        )
    )
    run = asyncio.create_task(stream_once(stub, _request(ROUND_TRIPS, run_id, wait=True)))
    gaps: list[float] = []
    last = 0.0
    async for response in hooks:
        if response.WhichOneof("response") != "event":
            continue
        now = time.perf_counter()
        if last:
            gaps.append(now - last)
        last = now
        reply = pb.HookReply(event_id=response.event.event_id, proceed=pb.HookProceed())
        await hooks.write(pb.HooksRequest(reply=reply))
    await run
    return gaps


async def observed_rate(stub: pb_grpc.AgentServiceStub, address: str, observer: bool) -> float:
    run_id = uuid.uuid4().hex
    watcher = None
    if observer:
        watcher = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.observer",
            address,
            run_id,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
    # Timed from the first text delta: the run waits for the observer process to attach.
    first = last = 0.0
    deltas = 0
    async for event in stub.StreamPrompt(_request(OBSERVED_WORDS, run_id, wait=observer)):
        if event.HasField("text_delta"):
            last = time.perf_counter()
            first = first or last
            deltas += 1
    if watcher is not None:
        out, _ = await watcher.communicate()
        OBSERVER_COUNTS.append(out.decode().split())
    assert deltas == OBSERVED_WORDS
    return (deltas - 1) / (last - first)


async def main() -> None:
    server = process(
        "agentstream_server",
        "--log-level",
        "WARNING",
        "--config",
        "config/bench.yaml",
        "--addr",
        "127.0.0.1:{port}",
    )
    async with server as address, grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.AgentServiceStub(channel)
        await round_trips(stub)  # warm up
        gaps = await round_trips(stub)
        plain, watched = [], []
        for _ in range(ROUNDS):  # alternate, so load drift hits both alike
            plain.append(await observed_rate(stub, address, observer=False))
            watched.append(await observed_rate(stub, address, observer=True))
    print(
        f"blocking hook round trip: p50 {median(gaps) * 1e6:.0f} us, "
        f"p99 {p99(gaps) * 1e6:.0f} us over {len(gaps)} (target p50 < 500 us)"
    )
    base, seen = median(plain), median(watched)
    print(f"observer saw (events, merged): {OBSERVER_COUNTS}")
    print(f"StreamPrompt alone          : {base:10,.0f} events/s")
    print(
        f"with an observe-only client : {seen:10,.0f} events/s "
        f"(cost {1 - seen / base:.1%}, target < 15%)"
    )
