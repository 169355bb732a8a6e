"""StreamPrompt throughput and time to first event vs a bare grpc.aio baseline.

Both servers run as separate processes on loopback and send the same number of
StreamPromptResponse text deltas of the same size. Two clients read them: this
Python process (what a Python backend sees) and, as a second reader with a different
gRPC stack, a Go client (clients/go/cmd/streambench). Rounds alternate between the
two servers so load drift on the machine hits both alike.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from google.protobuf import json_format, struct_pb2

from .common import (
    ROOT,
    agent_server,
    cpu_seconds,
    median,
    otlp_receiver,
    process,
    stream_once,
)

WORDS = 20_000
ROUNDS = 7
FIRST_EVENT_SAMPLES = 100
WORD = "word "

MakeRequest = Callable[[int], pb.StreamPromptRequest]


_run_ids = itertools.count(1)


def agent_request(words: int) -> pb.StreamPromptRequest:
    extra = struct_pb2.Struct()
    extra.update({"script": [[{"text": WORD * words}]]})
    # A run id stays taken while its finished run is retained; same length as the baseline's.
    run_id = f"bench-run-{next(_run_ids):04d}"
    return pb.StreamPromptRequest(prompt="bench", run_id=run_id, extra_params=extra)


def baseline_request(words: int) -> pb.StreamPromptRequest:
    extra = struct_pb2.Struct()
    extra.update({"count": words, "word": WORD})
    return pb.StreamPromptRequest(run_id="bench-run-0001", extra_params=extra)


async def one_round(
    stub: pb_grpc.AgentServiceStub, make: MakeRequest, address: str
) -> tuple[float, float, float]:
    """(deltas/s of one long run, median seconds to first event of short runs,
    server CPU seconds per event of the long run)."""
    cpu = cpu_seconds(address)
    deltas, _, total = await stream_once(stub, make(WORDS))
    cpu = cpu_seconds(address) - cpu
    assert deltas == WORDS, deltas
    firsts = [(await stream_once(stub, make(1)))[1] for _ in range(FIRST_EVENT_SAMPLES)]
    return deltas / total, median(firsts), cpu / deltas


async def go_client_rate(address: str, request: pb.StreamPromptRequest) -> float:
    """Median deltas/s of long runs read by the Go client."""
    binary = ROOT / ".tools" / "bin" / "streambench"
    build = await asyncio.create_subprocess_exec(
        "go", "build", "-o", str(binary), "./cmd/streambench", cwd=ROOT / "clients" / "go"
    )
    assert await build.wait() == 0, "go build of clients/go/cmd/streambench failed"
    body = json.dumps(json_format.MessageToDict(request))
    run = await asyncio.create_subprocess_exec(
        str(binary),
        "-addr",
        address,
        "-request",
        body,
        "-rounds",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await run.communicate()
    return float(out.split()[0])


async def main() -> None:
    with otlp_receiver() as endpoint:
        await _compare(endpoint)


async def _compare(otlp_endpoint: str) -> None:
    agent = agent_server()
    traced = agent_server(
        "config/bench_telemetry.yaml", env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint}
    )
    baseline = process("bench.baseline", "{port}")
    async with (
        agent as agent_address,
        traced as traced_address,
        baseline as baseline_address,
        grpc.aio.insecure_channel(agent_address) as agent_channel,
        grpc.aio.insecure_channel(traced_address) as traced_channel,
        grpc.aio.insecure_channel(baseline_address) as baseline_channel,
    ):
        sides = {
            "baseline": (pb_grpc.AgentServiceStub(baseline_channel), baseline_request),
            "agent": (pb_grpc.AgentServiceStub(agent_channel), agent_request),
            "telemetry": (pb_grpc.AgentServiceStub(traced_channel), agent_request),
        }
        figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in sides}
        addresses = {
            "baseline": baseline_address,
            "agent": agent_address,
            "telemetry": traced_address,
        }
        for name, (stub, make) in sides.items():
            await one_round(stub, make, addresses[name])  # warm up
        go_rates: dict[str, list[float]] = {"baseline": [], "agent": []}
        for _ in range(ROUNDS):
            for name, (stub, make) in sides.items():
                figures[name].append(await one_round(stub, make, addresses[name]))
                if name in go_rates:
                    go_rates[name].append(await go_client_rate(addresses[name], make(WORDS)))
    base_rate, base_first, base_cpu = (
        median([f[i] for f in figures["baseline"]]) for i in range(3)
    )
    rate, first, cpu = (median([f[i] for f in figures["agent"]]) for i in range(3))
    on_rate, on_first, on_cpu = (median([f[i] for f in figures["telemetry"]]) for i in range(3))
    print(f"baseline grpc.aio : {base_rate:10,.0f} events/s, first event {base_first * 1e3:.2f} ms")
    print(f"agentstream       : {rate:10,.0f} events/s, first event {first * 1e3:.2f} ms")
    print(
        f"ratio             : {rate / base_rate:.1%} of baseline (target >= 85%); "
        f"first event target < 2 ms"
    )
    go_base, go_agent = median(go_rates["baseline"]), median(go_rates["agent"])
    print(
        f"Go client reading : baseline {go_base:,.0f} events/s, agentstream {go_agent:,.0f} "
        f"events/s, ratio {go_agent / go_base:.1%}"
    )
    print(
        f"server CPU/event  : baseline {base_cpu * 1e6:.1f} us, agentstream {cpu * 1e6:.1f} us "
        f"(+{(cpu - base_cpu) * 1e6:.1f} us for the loop, events and history)"
    )
    print(
        f"telemetry on      : {on_rate:10,.0f} events/s ({on_rate / base_rate:.1%} of baseline, "
        f"{on_rate / rate:.1%} of telemetry off), first event {on_first * 1e3:.2f} ms, "
        f"server CPU/event {on_cpu * 1e6:.1f} us ({(on_cpu - cpu) * 1e6:+.1f} us)"
    )
