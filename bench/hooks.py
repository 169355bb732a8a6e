"""Hooks: blocking round trip (p50, p99), bare grpc.aio and through the Python helper.

Every text delta blocks until the client (this process) replies `proceed`; the time from
receiving one blocking event to receiving the next covers the reply, the loop resuming
(and writing the delta to the StreamPrompt caller) and the next event. The bare grpc.aio
baseline (bench/baseline.py) ping-pongs the same event and reply with nothing between.
Server CPU per round trip comes from the server process's CPU time.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
from agentstream import AgentClient, Proceed
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from google.protobuf import struct_pb2

from . import hooks_session
from .common import agent_server, cpu_seconds, median, p99, process, stream_once

ROUND_TRIPS = 2000
ROUNDS = 3
CONFIG = "config/bench_hooks.yaml"  # the reply rate limit raised

# (gaps between consecutive blocking events in seconds, server CPU seconds per round trip)
Figures = tuple[list[float], float]


def _script(words: int) -> struct_pb2.Struct:
    extra = struct_pb2.Struct()
    extra.update({"script": [[{"text": "word " * words}]]})
    return extra


def _attach(run_id: str) -> pb.HooksRequest:
    kinds = [pb.HOOK_EVENT_KIND_TEXT_DELTA]
    return pb.HooksRequest(attach=pb.HookAttach(run_id=run_id, events=kinds, blocking=kinds))


async def ping_pong(call: grpc.aio.StreamStreamCall, address: str) -> Figures:  # type: ignore[type-arg]
    """Answers every event of `call` (attached already) with proceed."""
    gaps: list[float] = []
    last = cpu = 0.0
    async for response in call:
        kind = response.WhichOneof("response")
        if kind == "error":
            raise RuntimeError(f"the server refused a reply: {response.error.message}")
        if kind != "event":
            continue
        now = time.perf_counter()
        if last:
            gaps.append(now - last)
        else:
            cpu = cpu_seconds(address)
        last = now
        reply = pb.HookReply(event_id=response.event.event_id, proceed=pb.HookProceed())
        await call.write(pb.HooksRequest(reply=reply))
    return gaps, (cpu_seconds(address) - cpu) / len(gaps)


async def agent_round_trips(stub: pb_grpc.AgentServiceStub, address: str) -> Figures:
    run_id = uuid.uuid4().hex
    call = stub.Hooks()
    await call.write(_attach(run_id))
    request = pb.StreamPromptRequest(
        prompt="bench",
        run_id=run_id,
        extra_params=_script(ROUND_TRIPS),
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    run = asyncio.create_task(stream_once(stub, request))
    figures = await ping_pong(call, address)
    await run
    return figures


async def baseline_round_trips(stub: pb_grpc.AgentServiceStub, address: str) -> Figures:
    call = stub.Hooks()
    await call.write(_attach(f"roundtrip-{ROUND_TRIPS}"))
    return await ping_pong(call, address)


async def helper_round_trips(client: AgentClient, address: str) -> Figures:
    """The same run, the blocking events answered by the Python helper's on_event."""
    gaps: list[float] = []
    last = cpu = 0.0

    def on_event(event: pb.HookEvent) -> Proceed:
        nonlocal last, cpu
        now = time.perf_counter()
        if last:
            gaps.append(now - last)
        else:
            cpu = cpu_seconds(address)
        last = now
        return Proceed()

    kinds = [pb.HOOK_EVENT_KIND_TEXT_DELTA]
    run = client.run(
        "bench",
        on_event=on_event,
        events=kinds,
        blocking=kinds,
        extra_params={"script": [[{"text": "word " * ROUND_TRIPS}]]},
    )
    await run.result()
    return gaps, (cpu_seconds(address) - cpu) / len(gaps)


async def main() -> None:
    async with (
        agent_server(CONFIG) as address,
        process("bench.baseline", "{port}") as baseline_address,
        grpc.aio.insecure_channel(address) as channel,
        grpc.aio.insecure_channel(baseline_address) as baseline_channel,
        AgentClient(address) as client,
    ):
        stub = pb_grpc.AgentServiceStub(channel)
        baseline_stub = pb_grpc.AgentServiceStub(baseline_channel)
        sides = {
            "baseline": lambda: baseline_round_trips(baseline_stub, baseline_address),
            "agent": lambda: agent_round_trips(stub, address),
            "helper": lambda: helper_round_trips(client, address),
        }
        figures: dict[str, list[Figures]] = {name: [] for name in sides}
        for measure in sides.values():
            await measure()  # warm up
        for _ in range(ROUNDS):  # alternate, so load drift hits all alike
            for name, measure in sides.items():
                figures[name].append(await measure())
    labels = {
        "baseline": "bare grpc.aio ping-pong",
        "agent": "agentstream, raw stub",
        "helper": "agentstream, Python helper",
    }
    for name, runs in figures.items():
        gaps = [gap for run_gaps, _ in runs for gap in run_gaps]
        cpu = median([c for _, c in runs])
        print(
            f"{labels[name]:<27}: p50 {median(gaps) * 1e6:4.0f} us, p99 {p99(gaps) * 1e6:5.0f} us "
            f"over {len(gaps)}; server CPU {cpu * 1e6:.0f} us per round trip"
        )
    print("target: agentstream p50 < 300 us")
    await hooks_session.main()
