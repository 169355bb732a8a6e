"""Server CPU per event, stage by stage, from provider bytes to the wire.

The server runs in its own process twice: once plain, for its real CPU time per event
(`/proc` user + system time over the load: of the main thread, which runs the event loop,
and of the rest, gRPC's own threads), and once under cProfile timing the main thread's CPU
(only while the measured load runs, see bench/profiled_server.py), whose time per function
is summed by stage and scaled to the main thread's real total: the profiler inflates every
Python call, so its shares are a guide and the plain totals are the figures. A C
function's time counts for the stage of the Python code that called it; so does a Cython
coroutine's, which is how grpc.aio's `context.write` shows up: as the own time of the
frame awaiting it (the emitter's `__call__`).

`python -m bench.profile stream` profiles the `stream` bench's load (offline model, long
text answers); `python -m bench.profile openai_e2e` the `openai_e2e` bench's two-turn runs
through the `openai` provider with a client tool; with no argument, both. `--save DIR`
keeps each profile as DIR/NAME.prof.
"""

from __future__ import annotations

import asyncio
import os
import pstats
import re
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from .common import PIDS, cpu_seconds, process, stream_once

# Stages, first match wins: (name, patterns of a function's file or name).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    # grpc.aio's write is a Cython coroutine: its time is the awaiting frame's own time.
    # Context.run's own time is the Cython callbacks grpc.aio runs on the event loop.
    (
        "grpc write (+ emitter)",
        ("/grpc/", "cygrpc", "servicer.py:__call__", "servicer.py:write", "_contextvars"),
    ),
    ("provider HTTP read (httpx)", ("/httpx/", "/httpcore/", "/h11/", "/anyio/", "/http.py")),
    ("provider parse (SSE, JSON)", ("providers/sse.py", "providers/openai_chat.py", "/json/")),
    ("offline model", ("providers/offline.py",)),
    ("loop / driver (core/)", ("/core/",)),
    ("run log append (bus/)", ("/bus/",)),
    ("delivery (emitter, coalescer)", ("service/delivery.py", "service/servicer.py")),
    ("limits", ("/limits.py",)),
    ("telemetry", ("/telemetry/",)),
    ("hooks", ("service/hook", "service/remote_hooks.py")),
    ("protobuf build", ("service/events.py", "service/convert.py")),
    ("interceptors", ("service/decoding.py", "service/auth.py")),
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


async def measure(config: str, load: Load, profile_to: Path | None) -> tuple[float, float, int]:
    """(CPU seconds of the server's main thread over the load, of its other threads,
    events), the server plain or profiled."""
    args = ("--log-level", "WARNING", "--config", config, "--addr", "127.0.0.1:{port}")
    if profile_to is None:
        server = process("agentstream_server", *args)
    else:
        server = process("bench.profiled_server", str(profile_to), *args)
    async with server as address:
        await load(address)  # warm up: connections, caches
        pid = PIDS[address]
        if profile_to is not None:
            os.kill(pid, signal.SIGUSR1)
        process_cpu, main_cpu = cpu_seconds(address), thread_cpu_seconds(pid)
        events = await load(address)
        process_cpu = cpu_seconds(address) - process_cpu
        main_cpu = thread_cpu_seconds(pid) - main_cpu
        if profile_to is not None:
            os.kill(pid, signal.SIGUSR2)
            await asyncio.to_thread(_written, profile_to)
        return main_cpu, process_cpu - main_cpu, events


def thread_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process's main thread (Linux)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _written(path: Path) -> None:
    """Waits for the server's main thread to write its stats (size stops changing)."""
    size = -1
    while not path.exists() or path.stat().st_size != size:
        size = path.stat().st_size if path.exists() else -1
        time.sleep(0.2)


async def profile(name: str, config: str, load: Load, keep: Path | None) -> None:
    main_cpu, other_cpu, events = await measure(config, load, None)
    with tempfile.TemporaryDirectory() as directory:
        path = (keep or Path(directory)) / f"{name}.prof"
        await measure(config, load, path)
        stages = stage_seconds(pstats.Stats(str(path)))
    main_us, other_us = main_cpu / events * 1e6, other_cpu / events * 1e6
    profiled = sum(stages.values())
    print(
        f"{name}: server CPU {main_us + other_us:.1f} us/event over {events:,} events "
        f"(no profiler): main thread {main_us:.1f}, gRPC's threads {other_us:.1f}"
    )
    for stage, seconds in sorted(stages.items(), key=lambda s: -s[1]):
        share = seconds / profiled
        print(f"  {stage:<32} {share * main_us:6.1f} us/event  {share:6.1%} of the main thread")


async def main() -> None:
    from . import openai_e2e

    names, keep = _arguments(sys.argv[1:])
    if "stream" in names:
        await profile("stream", "config/bench.yaml", stream_load, keep)
    if "openai_e2e" in names:
        async with openai_e2e.profile_setup() as (config, load):
            await profile("openai_e2e", config, load, keep)


def _arguments(args: list[str]) -> tuple[list[str], Path | None]:
    """(the loads to profile, where to keep the profiles: `--save DIR`)."""
    keep = None
    if "--save" in args:
        at = args.index("--save")
        keep = Path(args[at + 1]).resolve()
        keep.mkdir(parents=True, exist_ok=True)
        args = args[:at] + args[at + 2 :]
    return args or ["stream", "openai_e2e"], keep


if __name__ == "__main__":
    asyncio.run(main())
