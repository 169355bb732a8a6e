"""Many concurrent runs at a realistic token pace, vs a bare grpc.aio server pacing the same.

N runs start at once; each streams DELTAS text deltas with jittered delays (a mean of RATE
deltas/s: the offline model's scripted `delay_ms` on agentstream, `delays_ms` on
bench/baseline.py). The client is a Go program (clients/go/cmd/loadbench) in its own
process, so the server's two cores are not spent on a Python reader. For each level:
completed runs, added delay per delta (arrival minus when the model produced it, in ms),
time to first event, server CPU (cores busy while the runs stream) and memory per run (peak
RSS minus idle RSS, over N). Every server is a fresh process.

`python -m bench concurrency` runs the default levels (a few minutes);
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

from .common import PIDS, ROOT, agent_server, cpu_seconds, process

DELTAS = 500
# (concurrent runs, mean deltas/s per run): bounded to a few minutes in all.
LEVELS = [(100, 50), (500, 50), (1000, 50), (1000, 20)]
# Coalescing window asked for by the "coalesced" side (ms).
WINDOW_MS = 10
CONFIG = """\
agents:
  - name: bench
    provider: offline
    model: offline-1
limits:
  max_concurrent_runs: 10000
  max_runs_per_principal: 10000
"""
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
    pid = PIDS[address]
    idle_rss, peak_rss = rss_bytes(pid), 0
    cpu, start = cpu_seconds(address), time.monotonic()
    client = await asyncio.create_subprocess_exec(
        str(LOADBENCH),
        *("-addr", address, "-mode", mode, "-runs", str(runs), "-deltas", str(deltas)),
        *("-rate", str(rate), "-delivery-ms", str(window_ms)),
        stdout=asyncio.subprocess.PIPE,
    )
    reading = asyncio.ensure_future(client.communicate())
    while not reading.done():
        peak_rss = max(peak_rss, rss_bytes(pid))
        await asyncio.wait([reading], timeout=0.2)
    out, _ = await reading
    result: dict[str, Any] = json.loads(out)
    result["server_cores"] = (cpu_seconds(address) - cpu) / (time.monotonic() - start)
    result["kib_per_run"] = (peak_rss - idle_rss) / runs / 1024
    return result


def row(label: str, runs: int, rate: int, r: dict[str, Any]) -> str:
    added, first = r["added_ms"] or {}, r["first_event_ms"] or {}
    merged = f"  {r['messages']:,} msgs" if r.get("merged_messages") else ""
    failures = f"  failures: {r['failures']}" if r["failures"] else ""
    return (
        f"{runs:>5} x {rate:>2}/s {label:<11} {r['completed']:>5}/{runs:<5} "
        f"{added.get('p50', 0):7.1f} {added.get('p99', 0):7.1f} {added.get('max', 0):8.1f}   "
        f"{first.get('p50', 0):7.1f} {first.get('p99', 0):7.1f}   "
        f"{r['server_cores']:5.2f}   {r['kib_per_run']:7.1f}{merged}{failures}"
    )


async def run_levels(levels: list[tuple[int, int]], deltas: int, coalesce: bool) -> None:
    await build_loadbench()
    sides = [("baseline", "baseline", -1), ("agentstream", "agent", -1)]
    if coalesce:
        sides.append((f"coalesce{WINDOW_MS}", "agent", WINDOW_MS))
    print(
        f"{deltas} deltas per run, jittered delays; added delay and first event in ms; "
        "server CPU in cores; memory per run in KiB"
    )
    print(
        "    N x rate  side           done      added p50 p99     max   first p50 p99"
        "   cores   KiB/run"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(CONFIG)
    try:
        for runs, rate in levels:
            for label, mode, window in sides:
                server = (
                    process("bench.baseline", "{port}")
                    if mode == "baseline"
                    else agent_server(f.name)
                )
                async with server as address:
                    result = await one_level(address, mode, runs, rate, deltas, window)
                print(row(label, runs, rate, result), flush=True)
    finally:
        os.unlink(f.name)


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
