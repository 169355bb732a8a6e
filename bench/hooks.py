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

from .common import ROOT, agent_server, cpu_seconds, median, p99, stream_once

ROUND_TRIPS = 2000
OBSERVED_WORDS = 20_000
ROUNDS = 7


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


async def observed_rate(
    stub: pb_grpc.AgentServiceStub, address: str, observer: str
) -> tuple[float, float]:
    """(deltas/s, server CPU seconds per delta) of one long run; `observer` is "" (none),
    "full" (an observer with the aggregated text) or "omit" (without it)."""
    run_id = uuid.uuid4().hex
    watcher = None
    if observer:
        watcher = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.observer",
            address,
            run_id,
            *(["omit"] if observer == "omit" else []),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
    # Timed from the first text delta: the run waits for the observer process to attach.
    first = last = cpu = 0.0
    deltas = 0
    async for event in stub.StreamPrompt(_request(OBSERVED_WORDS, run_id, wait=bool(observer))):
        if event.HasField("text_delta"):
            last = time.perf_counter()
            if not first:
                first, cpu = last, cpu_seconds(address)
            deltas += 1
    cpu = cpu_seconds(address) - cpu
    if watcher is not None:
        await watcher.communicate()
    assert deltas == OBSERVED_WORDS
    return (deltas - 1) / (last - first), cpu / deltas


async def main() -> None:
    server = agent_server()
    async with server as address, grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.AgentServiceStub(channel)
        await round_trips(stub)  # warm up
        gaps = await round_trips(stub)
        figures: dict[str, list[tuple[float, float]]] = {"": [], "full": [], "omit": []}
        for _ in range(ROUNDS):  # alternate, so load drift hits all alike
            for mode, runs in figures.items():
                runs.append(await observed_rate(stub, address, observer=mode))
    print(
        f"blocking hook round trip: p50 {median(gaps) * 1e6:.0f} us, "
        f"p99 {p99(gaps) * 1e6:.0f} us over {len(gaps)} (target p50 < 500 us)"
    )
    rate = {mode: median([r for r, _ in runs]) for mode, runs in figures.items()}
    cpu = {mode: median([c for _, c in runs]) * 1e6 for mode, runs in figures.items()}
    alone = rate[""]
    print(f"StreamPrompt alone          : {alone:8,.0f} events/s, server {cpu['']:.1f} us/event")
    for mode, label in (("full", "an observer"), ("omit", "one omitting aggregated")):
        cost = 1 - rate[mode] / alone
        print(
            f"with {label:<23}: {rate[mode]:8,.0f} events/s, server {cpu[mode]:.1f} us/event "
            f"(cost {cost:.1%}, target < 15%)"
        )
