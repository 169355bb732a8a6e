"""Server CPU per event, stage by stage, from provider bytes to the wire.

The server runs in its own process twice: once plain, for its real CPU time per event
(`/proc` user + system time over the load), and once under cProfile, whose time per
function is summed by stage and scaled to that real total (the profiler's own overhead
inflates every function alike, so its shares are right while its absolute times are not).
A C function's time counts for the stage of the Python code that called it.

`python -m bench.profile stream` profiles the `stream` bench's load (offline model, long
text answers); `python -m bench.profile openai_e2e` the `openai_e2e` bench's two-turn runs
through the `openai` provider with a client tool; with no argument, both.
"""

from __future__ import annotations

import asyncio
import pstats
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from .common import agent_server, cpu_seconds, process, stream_once

# Stages, first match wins: (name, patterns of a function's file or name).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    (
        "provider HTTP read (httpx)",
        ("/httpx/", "/httpcore/", "/h11/", "/anyio/", "providers/http.py"),
    ),
    ("provider parse (SSE, JSON)", ("providers/sse.py", "providers/openai_chat.py", "/json/")),
    ("offline model", ("providers/offline.py",)),
    ("loop / driver (core/)", ("/core/",)),
    ("run log append (bus/)", ("/bus/",)),
    ("delivery (emitter, coalescer)", ("service/delivery.py", "service/servicer.py")),
    ("limits", ("/limits.py",)),
    ("telemetry", ("/telemetry/",)),
    ("hooks", ("service/hook", "service/remote_hooks.py")),
    ("protobuf build", ("service/events.py", "service/convert.py")),
    ("grpc write / read", ("/grpc/", "cygrpc")),
    ("event loop (asyncio)", ("/asyncio/", "selectors.py", "poll")),
]
OTHER = "other"

Load = Callable[[str], Awaitable[int]]


def stage_of(filename: str, function: str) -> str:
    where = f"{filename}:{function}"
    for name, patterns in STAGES:
        if any(p in where for p in patterns):
            return name
    return OTHER


def _is_c(key: tuple[str, int, str]) -> bool:
    return key[0] == "~"


def stage_seconds(stats: pstats.Stats) -> dict[str, float]:
    """Profiled seconds per stage; a C function's own time goes to its callers' stages
    (in proportion to the time it took from each), unless its name says its stage."""
    table = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for key, (_, _, own, _, callers) in table.items():
        stage = stage_of(*key[::2]) if not _is_c(key) or _named(key) else None
        if stage is not None:
            totals[stage] = totals.get(stage, 0.0) + own
            continue
        from_callers = sum(c[2] for c in callers.values()) or 1.0
        for caller, caller_stats in callers.items():
            share = own * caller_stats[2] / from_callers
            name = _caller_stage(table, caller)
            totals[name] = totals.get(name, 0.0) + share
    return totals


_NAMED_C = re.compile(r"cygrpc|grpc|poll|select")


def _named(key: tuple[str, int, str]) -> bool:
    return bool(_NAMED_C.search(key[2]))


def _caller_stage(table: dict, caller: tuple[str, int, str]) -> str:  # type: ignore[type-arg]
    """The stage of a C function's caller; a C caller (a builtin calling back into Python
    is rare) counts as other."""
    return stage_of(caller[0], caller[2]) if not _is_c(caller) else OTHER


async def stream_load(address: str) -> int:
    """Runs of the stream bench (20,000 one-word deltas each); returns the events sent."""
    from .stream import WORDS, agent_request

    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.AgentServiceStub(channel)
        events = 0
        for _ in range(3):
            deltas, _, _ = await stream_once(stub, agent_request(WORDS))
            events += deltas
        return events


async def measure(config: str, load: Load, profile_to: Path | None) -> tuple[float, int]:
    """(server CPU seconds over the load, events), the server plain or under cProfile."""
    if profile_to is None:
        server = agent_server(config)
    else:
        server = process(
            "cProfile",
            "-o",
            str(profile_to),
            "-m",
            "agentstream_server",
            "--log-level",
            "WARNING",
            "--config",
            config,
            "--addr",
            "127.0.0.1:{port}",
        )
    async with server as address:
        await load(address)  # warm up: connections, caches
        cpu = cpu_seconds(address)
        events = await load(address)
        return cpu_seconds(address) - cpu, events


async def profile(name: str, config: str, load: Load) -> None:
    cpu, events = await measure(config, load, None)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "server.prof"
        await measure(config, load, path)
        stages = stage_seconds(pstats.Stats(str(path)))
    real_us = cpu / events * 1e6
    profiled = sum(stages.values())
    print(f"{name}: server CPU {real_us:.1f} us/event over {events:,} events (no profiler)")
    for stage, seconds in sorted(stages.items(), key=lambda s: -s[1]):
        share = seconds / profiled
        print(f"  {stage:<32} {share * real_us:6.1f} us/event  {share:6.1%}")


async def main() -> None:
    from . import openai_e2e

    names = sys.argv[1:] or ["stream", "openai_e2e"]
    if "stream" in names:
        await profile("stream", "config/bench.yaml", stream_load)
    if "openai_e2e" in names:
        async with openai_e2e.profile_setup() as (config, load):
            await profile("openai_e2e", config, load)


if __name__ == "__main__":
    asyncio.run(main())
