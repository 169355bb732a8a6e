"""The run bus: StreamPrompt through the Redis bus vs the in-memory bus vs a bare grpc.aio
server, WatchRun catch-up, and `--workers 2` vs one worker.

All servers are processes on loopback; the Redis bus uses a redis-server started here (no
persistence). Rounds alternate between the three servers. Catch-up is a WatchRun from seq 0
of a finished run of the same length, one message per event and with `coalesce`; its rate
counts the logged events delivered (a joined message counts each event it covers). Workers:
the same Redis config served by one process and by `--workers 2`, loaded by several clients
on their own connections at once.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import yaml
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from .common import PIDS, ROOT, cpu_seconds, free_port, median, process, stream_once
from .stream import WORD, baseline_request

WORDS = 20_000
ROUNDS = 5
FIRST_EVENT_SAMPLES = 50
# The workers comparison: concurrent long runs, each on its own connection.
CLIENTS = 8
CLIENT_WORDS = 5_000

_ids = itertools.count(1)


def agent_request(words: int) -> pb.StreamPromptRequest:
    request = pb.StreamPromptRequest(prompt="bench", run_id=f"bench-run-{next(_ids):04d}")
    request.extra_params.update({"script": [[{"text": WORD * words}]]})
    return request


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: run `make setup`")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    PIDS[url] = proc.pid  # for cpu_seconds(url)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait()


def config_file(directory: Path, name: str, redis_url: str | None) -> str:
    config = yaml.safe_load((ROOT / "config" / "bench.yaml").read_text())
    if redis_url:
        config["bus"] = {"type": "redis", "url": redis_url}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def server(config: str, *extra: str) -> object:
    args = ["agentstream_server", "--log-level", "WARNING", "--config", config]
    return process(*args, *extra, "--addr", "127.0.0.1:{port}")


async def one_round(
    stub: pb_grpc.AgentServiceStub, agent: bool, cpu_of: list[str]
) -> tuple[float, float, list[float]]:
    """(deltas/s of one long run, median seconds to first event of short runs, CPU
    seconds per event of the long run of each process in `cpu_of`: addresses or URLs)."""
    make = agent_request if agent else baseline_request
    cpu = [cpu_seconds(p) for p in cpu_of]
    deltas, _, total = await stream_once(stub, make(WORDS))
    cpu = [cpu_seconds(p) - before for p, before in zip(cpu_of, cpu, strict=True)]
    assert deltas == WORDS, deltas
    firsts = [(await stream_once(stub, make(1)))[1] for _ in range(FIRST_EVENT_SAMPLES)]
    return deltas / total, median(firsts), [c / deltas for c in cpu]


async def catch_up(
    stub: pb_grpc.AgentServiceStub, address: str, coalesce: bool, redis_url: str | None
) -> CatchUp:
    """A WatchRun from seq 0 of a finished run of WORDS deltas: logged events delivered per
    second (a joined message counts the events it covers), and CPU µs per event of the
    server and of redis-server (when `redis_url`)."""
    request = agent_request(WORDS)
    await stream_once(stub, request)
    # The Redis bus writes the log in the background: time the replay of a finished run,
    # not the wait for its last writes.
    get = pb.GetRunRequest(run_id=request.run_id)
    for _ in range(3000):  # polling is fine in a bench; at most 30 s
        if (await stub.GetRun(get)).run.state != pb.RUN_STATE_RUNNING:
            break
        await asyncio.sleep(0.01)
    watch = pb.WatchRunRequest(run_id=request.run_id, coalesce=coalesce)
    redis_cpu = cpu_seconds(redis_url) if redis_url else 0.0
    cpu, start = cpu_seconds(address), time.perf_counter()
    events = messages = last_seq = 0
    async for message in stub.WatchRun(watch):
        events += message.seq - (message.first_seq or message.seq) + 1
        messages += 1
        last_seq = message.seq
    elapsed, cpu = time.perf_counter() - start, cpu_seconds(address) - cpu
    redis_cpu = cpu_seconds(redis_url) - redis_cpu if redis_url else 0.0
    assert events == last_seq > WORDS, (events, last_seq)  # each logged event once
    return CatchUp(events / elapsed, cpu / events * 1e6, redis_cpu / events * 1e6, messages)


@dataclass
class CatchUp:
    rate: float  # logged events delivered per second
    cpu_us: float  # server CPU per logged event
    redis_cpu_us: float  # redis-server CPU per logged event (0 for the in-memory bus)
    messages: int


async def load(address: str) -> float:
    """Total text deltas/s of CLIENTS concurrent long runs, each on its own connection."""
    channels = [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(CLIENTS)
    ]
    try:
        stubs = [pb_grpc.AgentServiceStub(c) for c in channels]
        await asyncio.gather(*(stream_once(s, agent_request(10)) for s in stubs))  # connect
        start = time.perf_counter()
        results = await asyncio.gather(
            *(stream_once(s, agent_request(CLIENT_WORDS)) for s in stubs)
        )
        return sum(r[0] for r in results) / (time.perf_counter() - start)
    finally:
        for channel in channels:
            await channel.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        memory_config = config_file(Path(tmp), "memory", None)
        redis_config = config_file(Path(tmp), "redis", redis_url)
        await compare_buses(memory_config, redis_config, redis_url)
        await compare_workers(redis_config)


async def compare_buses(memory_config: str, redis_config: str, redis_url: str) -> None:
    async with (
        process("bench.baseline", "{port}") as base_address,
        server(memory_config) as memory_address,  # type: ignore[attr-defined]
        server(redis_config) as redis_address,  # type: ignore[attr-defined]
    ):
        addresses = {"baseline": base_address, "memory": memory_address, "redis": redis_address}
        channels = {name: grpc.aio.insecure_channel(a) for name, a in addresses.items()}
        stubs = {name: pb_grpc.AgentServiceStub(c) for name, c in channels.items()}
        # Whose CPU time each round reads: the server's, and with Redis redis-server's too.
        cpu_of = {name: [address] for name, address in addresses.items()}
        cpu_of["redis"].append(redis_url)
        figures: dict[str, list[tuple[float, float, list[float]]]] = {name: [] for name in stubs}
        catch: dict[tuple[str, bool], list[CatchUp]] = {
            (bus, coalesce): [] for bus in ("memory", "redis") for coalesce in (False, True)
        }
        for name, stub in stubs.items():
            await one_round(stub, name != "baseline", [])  # warm up
        for _ in range(ROUNDS):
            for name, stub in stubs.items():
                figures[name].append(await one_round(stub, name != "baseline", cpu_of[name]))
            for bus, coalesce in catch:
                url = redis_url if bus == "redis" else None
                result = await catch_up(stubs[bus], addresses[bus], coalesce, url)
                catch[bus, coalesce].append(result)
        for channel in channels.values():
            await channel.close()
    rate = {name: median([f[0] for f in runs]) for name, runs in figures.items()}
    first = {name: median([f[1] for f in runs]) for name, runs in figures.items()}
    cpu = {name: median([f[2][0] for f in runs]) * 1e6 for name, runs in figures.items()}
    for name in figures:
        print(
            f"{name:<9} StreamPrompt: {rate[name]:9,.0f} events/s "
            f"({rate[name] / rate['baseline']:.1%} of baseline), "
            f"first event {first[name] * 1e3:.2f} ms, server CPU {cpu[name]:.1f} us/event"
        )
    redis_cpu = median([f[2][1] for f in figures["redis"]]) * 1e6
    print(
        f"redis bus: +{cpu['redis'] - cpu['memory']:.1f} us/event of server CPU over the "
        f"in-memory bus, and redis-server {redis_cpu:.1f} us/event"
    )
    cost = 1 - rate["redis"] / rate["memory"]
    print(f"redis bus costs {cost:.1%} of the in-memory bus's events/s (target < 25%)")
    for (bus, coalesce), results in catch.items():
        catch_rate = median([r.rate for r in results])
        how = "coalesce  " if coalesce else "per event "
        print(
            f"{bus:<9} WatchRun catch-up, {how}: {catch_rate:9,.0f} events/s "
            f"({catch_rate / rate['baseline']:.2f}x the baseline's messages/s; target > 50,000), "
            f"server CPU {median([r.cpu_us for r in results]):.1f} µs/event"
            + (
                f" + redis {median([r.redis_cpu_us for r in results]):.1f}"
                if bus == "redis"
                else ""
            )
            + f", {results[-1].messages:,} messages"
        )


async def compare_workers(redis_config: str) -> None:
    totals: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    for _ in range(3):
        for name, extra in (("1 worker", ()), ("2 workers", ("--workers", "2"))):
            async with server(redis_config, *extra) as address:  # type: ignore[attr-defined]
                await asyncio.sleep(2)  # let every worker bind before connecting
                totals[name].append(await load(address))
    one, two = median(totals["1 worker"]), median(totals["2 workers"])
    print(
        f"{CLIENTS} concurrent runs: 1 worker {one:,.0f} events/s, 2 workers {two:,.0f} "
        f"events/s ({two / one:.2f}x)"
    )
