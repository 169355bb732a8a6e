"""The benchmarks' token pace: the offline model's `paced_text` step streams on it, and the
Go load client (clients/go/cmd/loadbench) draws the very same due times from its seed."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from pathlib import Path

from agentstream.v1 import agent_pb2 as pb
from agentstream_server.providers.pacing import paced_at_ms

from .helpers import collect, script

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"agents": [{"name": "a", "provider": "offline", "model": "m"}]}


def test_the_go_load_client_draws_the_same_schedule(tmp_path: Path) -> None:
    binary = tmp_path / "loadbench"
    build = ["go", "build", "-o", str(binary), "./cmd/loadbench"]
    done = subprocess.run(build, cwd=ROOT / "clients" / "go", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    printed = subprocess.run(
        [str(binary), "-print-schedule", "3", "-deltas", "200", "-rate", "20", "-seed", "9"],
        capture_output=True,
        text=True,
        check=True,
    )
    go = json.loads(printed.stdout)
    python = list(itertools.islice(paced_at_ms(50.0, 0.5, go["seed"]), 200))
    assert go["at_ms"] == python
    gaps = [b - a for a, b in itertools.pairwise([0.0, *python])]
    assert min(gaps) >= 25 and max(gaps) < 75 and len(set(gaps)) == 200


async def test_paced_text_streams_its_count_on_a_schedule_that_does_not_drift(start_server):
    server = await start_server(CONFIG)
    pace = {"text": "w ", "count": 20, "mean_ms": 10, "jitter": 0.5, "seed": 3}
    loop = asyncio.get_running_loop()
    began = loop.time()
    result = await collect(
        server.stub,
        pb.StreamPromptRequest(prompt="go", extra_params=script([{"paced_text": pace}])),
    )
    deltas = [e.text_delta.text for e in result.events if e.HasField("text_delta")]
    assert deltas == ["w "] * 20
    assert result.last.final_response.text == "w " * 20
    last_due = list(itertools.islice(paced_at_ms(10, 0.5, 3), 20))[-1]
    assert loop.time() - began >= last_due / 1000

    bad = script([{"paced_text": {"count": 3, "jitter": 2}}])
    failed = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=bad))
    assert "paced_text.jitter must be at most 1" in failed.last.error.message
