"""Many concurrent runs at a realistic token pace, vs a bare grpc.aio server pacing the same.

N runs start at once; each streams DELTAS text deltas with jittered gaps (a mean of RATE
deltas/s: the offline model's `paced_text` step on agentstream, `pace` on bench/baseline.py,
both drawn by providers/pacing.py from a few numbers in the request). The client is a Go
program (clients/go/cmd/loadbench) in its own process, so the server's two cores are not
spent on a Python reader. For each level: completed runs, added delay per delta (arrival
minus when the model produced it, in ms), time to first event, server CPU (cores busy while
the runs stream, and CPU µs per delta delivered: far steadier than wall-clock figures on a
shared machine) and memory per run (peak RSS minus idle RSS, over N). Every server is a
fresh process.

`python -m bench concurrency` runs the default levels (about ten minutes);
`python -m bench.concurrency --levels 100x20,500x20,1000x20,2000x20 --deltas 500` any others.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .common import PIDS, ROOT, agent_server, cpu_seconds, median, process

DELTAS = 500
# (concurrent runs, mean deltas/s per run): issue 13's levels, about ten minutes in all.
LEVELS = [(100, 20), (500, 20), (1000, 20), (2000, 20)]
# Coalescing window asked for by the "coalesced" side (ms).
WINDOW_MS = 10
CONFIG = """\
agents:
  - name: bench
    provider: offline
    model: offline-1
limits:
  max_concurrent_runs: {limit}
  max_runs_per_principal: 10000
  max_loop_lag_ms: {lag_ms}
"""
# The admission level: this many paced runs fill a server whose limit is the same, and
# new runs are also refused while the server runs more than LAG_MS behind.
ADMISSION = (500, 20)
LAG_MS = 100
PROBE_EVERY_S = 0.25
LOADBENCH = ROOT / ".tools" / "bin" / "loadbench"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def build_loadbench() -> None:
    build = await asyncio.create_subprocess_exec(
        "go", "build", "-o", str(LOADBENCH), "./cmd/loadbench", cwd=ROOT / "clients" / "go"
    )
    assert await build.wait() == 0, "go build of clients/go/cmd/loadbench failed"


async def one_level(
    address: str, mode: str, runs: int, rate: int, deltas: int, window_ms: int
) -> dict[str, Any]:
    """Runs one level; once every run has had its first event, probes the server with new
    calls and health checks until the runs end."""
    pid = PIDS[address]
    idle_rss, peak_rss = rss_bytes(pid), 0
    cpu, start = cpu_seconds(address), time.monotonic()
    client = await asyncio.create_subprocess_exec(
        str(LOADBENCH),
        *("-addr", address, "-mode", mode, "-runs", str(runs), "-deltas", str(deltas)),
        *("-rate", str(rate), "-delivery-ms", str(window_ms)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert client.stdout is not None and client.stderr is not None
    reading = asyncio.ensure_future(client.stdout.read())
    probes = asyncio.ensure_future(probe_when_started(client.stderr, address, mode, reading))
    while not reading.done():
        peak_rss = max(peak_rss, rss_bytes(pid))
        await asyncio.wait([reading], timeout=0.2)
    await client.wait()
    result: dict[str, Any] = json.loads(await reading)
    used = cpu_seconds(address) - cpu
    result["server_cores"] = used / (time.monotonic() - start)
    result["cpu_us_per_delta"] = used / max(1, result["deltas"]) * 1e6
    result["kib_per_run"] = (peak_rss - idle_rss) / runs / 1024
    result["probes"] = await probes
    return result


async def probe_when_started(
    stderr: asyncio.StreamReader, address: str, mode: str, done: asyncio.Future[bytes]
) -> dict[str, Any]:
    """New calls (time to their first event or status) and health checks, while the level's
    runs stream."""
    while (line := await stderr.readline()) and b"all started" not in line:
        pass
    calls: list[float] = []
    health: list[float] = []
    codes: dict[str, int] = {}
    statuses: set[str] = set()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.AgentServiceStub(channel)
        checker = health_pb2_grpc.HealthStub(channel)
        while not done.done() and line:
            began = time.perf_counter()
            code = await new_call(stub, mode)
            calls.append(time.perf_counter() - began)
            codes[code] = codes.get(code, 0) + 1
            if mode != "baseline":
                began = time.perf_counter()
                answer = await checker.Check(health_pb2.HealthCheckRequest())
                health.append(time.perf_counter() - began)
                statuses.add(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))
            await asyncio.wait([done], timeout=PROBE_EVERY_S)
    return {"calls": calls, "codes": codes, "health": health, "statuses": sorted(statuses)}


async def new_call(stub: pb_grpc.AgentServiceStub, mode: str) -> str:
    """Starts one short run; returns how its first answer came: OK for an event, the error
    code for an error event or a status."""
    extra = struct_pb2.Struct()
    if mode == "baseline":
        extra.update({"count": 1, "word": "word "})
    else:
        extra.update({"script": [[{"text": "word"}]]})
    request = pb.StreamPromptRequest(agent="bench", prompt="probe", extra_params=extra)
    call = stub.StreamPrompt(request)
    try:
        first = await call.read()
        if isinstance(first, pb.StreamPromptResponse) and first.HasField("error"):
            return pb.ErrorCode.Name(first.error.code).removeprefix("ERROR_CODE_")
        return "OK"
    except grpc.aio.AioRpcError as error:
        return error.code().name
    finally:
        call.cancel()


def ms(values: list[float]) -> str:
    return f"{median(values) * 1e3:6.1f} {max(values) * 1e3:7.1f}" if values else "     -       -"


def row(label: str, runs: int, rate: int, r: dict[str, Any]) -> str:
    added, first = r["added_ms"] or {}, r["first_event_ms"] or {}
    probes = r["probes"]
    merged = f"  {r['messages']:,} msgs" if r.get("merged_messages") else ""
    failures = f"  failures: {r['failures']}" if r["failures"] else ""
    codes = ",".join(f"{k} {v}" for k, v in sorted(probes["codes"].items()))
    health = "/".join(probes["statuses"])
    return (
        f"{runs:>5} x {rate:>2}/s {label:<11} {r['completed']:>5}/{runs:<5} "
        f"{added.get('p50', 0):6.1f} {added.get('p99', 0):7.1f} {added.get('max', 0):8.1f}  "
        f"{first.get('p50', 0):6.1f} {first.get('p99', 0):7.1f}  "
        f"{r['server_cores']:5.2f} {r['cpu_us_per_delta']:6.1f} {r['kib_per_run']:7.1f}  "
        f"{ms(probes['calls'])} ({codes})  {ms(probes['health'])} {health}{merged}{failures}"
    )


HEADER = (
    "    N x rate  side           done    added p50     p99      max  first p50    p99  cores"
    " µs/dlt KiB/run  new call p50/max  health p50/max"
)


async def measure(
    label: str,
    mode: str,
    runs: int,
    rate: int,
    deltas: int,
    window: int,
    limit: int,
    lag_ms: int = 0,
) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(CONFIG.format(limit=limit, lag_ms=lag_ms))
    try:
        server = process("bench.baseline", "{port}") if mode == "baseline" else agent_server(f.name)
        async with server as address:
            result = await one_level(address, mode, runs, rate, deltas, window)
        print(row(label, runs, rate, result), flush=True)
    finally:
        os.unlink(f.name)


async def run_levels(levels: list[tuple[int, int]], deltas: int, coalesce: bool) -> None:
    await build_loadbench()
    sides = [("baseline", "baseline", -1), ("agentstream", "agent", -1)]
    if coalesce:
        sides.append((f"coalesce{WINDOW_MS}", "agent", WINDOW_MS))
    print(
        f"{deltas} deltas per run, jittered delays; times in ms; server CPU in cores busy; "
        "memory per run in KiB; new calls and health checks made while all runs stream"
    )
    print(HEADER)
    for runs, rate in levels:
        for label, mode, window in sides:
            await measure(label, mode, runs, rate, deltas, window, 10_000)
    runs, rate = ADMISSION
    print(
        f"admission: limits.max_concurrent_runs {runs} and max_loop_lag_ms {LAG_MS}, "
        f"{runs} runs streaming, new calls refused"
    )
    await measure("at limit", "agent", runs, rate, deltas, -1, runs, LAG_MS)


def parse_levels(text: str) -> list[tuple[int, int]]:
    return [(int(n), int(r)) for n, r in (level.split("x") for level in text.split(","))]


async def main() -> None:
    await run_levels(LEVELS, DELTAS, coalesce=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=",".join(f"{n}x{r}" for n, r in LEVELS))
    parser.add_argument("--deltas", type=int, default=DELTAS)
    parser.add_argument("--no-coalesce", action="store_true")
    args = parser.parse_args()
    asyncio.run(run_levels(parse_levels(args.levels), args.deltas, not args.no_coalesce))
