"""Observer: what an observe-only hooks client costs a run's StreamPrompt throughput.

The same long run is streamed to this process alone, and with an observe-only hooks
client attached from its own process (bench/observer_client.py), with and without the
`aggregated` text. The bare grpc.aio baseline (bench/baseline.py) streams the same deltas
alone and with an observer getting one merged event per 2 ms window, its floor.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from google.protobuf import struct_pb2

from .common import ROOT, agent_server, cpu_seconds, median, process

WORDS = 20_000
ROUNDS = 7
CONFIG = "config/bench_hooks.yaml"

# Each side: (baseline server?, observer mode "" for none, "full" or "omit").
SIDES = {
    "baseline alone": (True, ""),
    "baseline observed": (True, "full"),
    "agentstream alone": (False, ""),
    "observed": (False, "full"),
    "observed, omit aggregated": (False, "omit"),
}


def _request(baseline: bool, run_id: str, observed: bool) -> pb.StreamPromptRequest:
    extra = struct_pb2.Struct()
    if baseline:
        extra.update({"count": WORDS, "word": "word "})
        if observed:
            extra.update({"observed": True})
    else:
        extra.update({"script": [[{"text": "word " * WORDS}]]})
    return pb.StreamPromptRequest(
        prompt="bench",
        run_id=run_id,
        extra_params=extra,
        hooks=pb.HooksOptions(wait_for_client=observed and not baseline),
    )


async def observed_rate(
    stub: pb_grpc.AgentServiceStub, address: str, baseline: bool, observer: str
) -> tuple[float, float]:
    """(deltas/s, server CPU seconds per delta) of one long run."""
    run_id = uuid.uuid4().hex
    watcher = None
    if observer:
        watcher = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.observer_client",
            address,
            run_id,
            *(["omit"] if observer == "omit" else []),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
    # Timed from the first text delta: the run waits for the observer process to attach.
    loop = asyncio.get_running_loop()
    first = last = cpu = 0.0
    deltas = 0
    async for event in stub.StreamPrompt(_request(baseline, run_id, bool(observer))):
        if event.HasField("text_delta"):
            last = loop.time()
            if not first:
                first, cpu = last, cpu_seconds(address)
            deltas += 1
    cpu = cpu_seconds(address) - cpu
    if watcher is not None:
        out, _ = await watcher.communicate()
        assert int(out.split()[0]) > 0, "the observer saw no event"
    assert deltas == WORDS, deltas
    return (deltas - 1) / (last - first), cpu / deltas


async def main() -> None:
    async with (
        agent_server(CONFIG) as address,
        process("bench.baseline", "{port}") as baseline_address,
        grpc.aio.insecure_channel(address) as channel,
        grpc.aio.insecure_channel(baseline_address) as baseline_channel,
    ):
        stubs = {
            True: (pb_grpc.AgentServiceStub(baseline_channel), baseline_address),
            False: (pb_grpc.AgentServiceStub(channel), address),
        }
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in SIDES}
        for baseline, observer in SIDES.values():
            await observed_rate(*stubs[baseline], baseline, observer)  # warm up
        for _ in range(ROUNDS):  # alternate, so load drift hits all alike
            for name, (baseline, observer) in SIDES.items():
                figures[name].append(await observed_rate(*stubs[baseline], baseline, observer))
    rate = {name: median([r for r, _ in runs]) for name, runs in figures.items()}
    cpu = {name: median([c for _, c in runs]) * 1e6 for name, runs in figures.items()}
    for name in SIDES:
        alone = "baseline alone" if name.startswith("baseline") else "agentstream alone"
        cost = ""
        if "observed" in name:
            # The CPU cost is the throughput a CPU-bound server loses; far steadier than
            # the wall-clock rate on a shared machine.
            cost = (
                f"; cost {1 - rate[name] / rate[alone]:.1%} wall-clock, "
                f"{1 - cpu[alone] / cpu[name]:.1%} CPU"
            )
        print(
            f"{name:<26}: {rate[name]:8,.0f} deltas/s ({rate[name] / rate['baseline alone']:.1%} "
            f"of baseline alone), server {cpu[name]:.1f} us/delta{cost}"
        )
    print("target: an observer costs agentstream < 10%")
