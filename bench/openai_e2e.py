"""End to end through the `openai` provider: text deltas/s and time to first delta vs grpc.aio.

A local OpenAI-compatible server (its own process) streams as fast as it can: turn 1
calls the calculator, turn 2 answers in 2,000 one-word text deltas. agentstream
(its own process) runs the loop through httpx to a gRPC client (this process).
The baseline is the bare grpc.aio server sending 2,000 same-size text deltas.

`python -m bench.openai_e2e serve` runs only the fake model server (prints its port).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from .common import ROOT, agent_server, median, process, stream_once
from .stream import WORD, baseline_request

DELTAS = 2_000
ROUNDS = 7
FIRST_DELTA_SAMPLES = 100


def sse_chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": "bench-model",
        "choices": [choice],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def stream_end(finish: str, completion_tokens: int) -> bytes:
    usage = {"prompt_tokens": 50, "completion_tokens": completion_tokens, "total_tokens": 0}
    usage_chunk = {"id": "chatcmpl-bench", "choices": [], "usage": usage}
    return (
        sse_chunk({}, finish)
        + b"data: "
        + json.dumps(usage_chunk).encode()
        + b"\n\ndata: [DONE]\n\n"
    )


def bodies() -> dict[str, bytes]:
    call = {"index": 0, "id": "call_bench", "type": "function"}
    tool_turn = sse_chunk({"role": "assistant", "content": None}) + b"".join(
        sse_chunk({"tool_calls": [{**call, "function": f}]})
        for f in ({"name": "calculator", "arguments": ""}, {"arguments": '{"expression": '})
    )
    tool_turn += sse_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"6*7"}'}}]})
    words = b"".join(sse_chunk({"content": WORD}) for _ in range(DELTAS))
    return {
        "tool": tool_turn + stream_end("tool_calls", 10),
        "long": words + stream_end("stop", DELTAS),
        "short": sse_chunk({"content": WORD}) + stream_end("stop", 1),
    }


class FakeModel:
    """Answers each Chat Completions request with a prebuilt body, keep-alive, chunked."""

    def __init__(self) -> None:
        self.bodies = bodies()

    def body_for(self, request: dict[str, Any]) -> bytes:
        messages = request["messages"]
        if messages[-1]["role"] == "tool":
            return self.bodies["long"]
        return self.bodies["tool"] if request.get("tools") else self.bodies["short"]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                )
                body = self.body_for(json.loads(await reader.readexactly(length)))
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                    b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def serve_fake_model() -> None:
    server = await asyncio.start_server(FakeModel().serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


async def fake_model_process() -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.openai_e2e", "serve", cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    return proc, int(await proc.stdout.readline())


def write_config(directory: str, model_port: int) -> str:
    provider = {"type": "openai", "base_url": f"http://127.0.0.1:{model_port}/v1"}
    agent = {"provider": "fake", "model": "bench-model", "max_turns": 4}
    config = {
        "providers": {"fake": provider},
        "agents": [
            {"name": "tools", **agent, "tools": ["calculator"]},
            {"name": "plain", **agent},
        ],
    }
    path = Path(directory) / "openai_e2e.json"  # JSON is YAML
    path.write_text(json.dumps(config))
    return str(path)


async def throughput(stub: pb_grpc.AgentServiceStub, request: pb.StreamPromptRequest) -> float:
    deltas, _, total = await stream_once(stub, request)
    assert deltas == DELTAS, deltas
    return deltas / total


async def first_delta(stub: pb_grpc.AgentServiceStub, request: pb.StreamPromptRequest) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    first = 0.0
    async for event in stub.StreamPrompt(request):
        if not first and event.HasField("text_delta"):
            first = loop.time() - start
    return first


async def compare(base: str, agent: str) -> dict[str, float]:
    """Alternates baseline and agentstream rounds, so load on a shared machine hits both."""
    runs = {
        "base": (base, baseline_request(DELTAS), baseline_request(1)),
        "agent": (
            agent,
            pb.StreamPromptRequest(agent="tools", prompt="What is 6*7?"),
            pb.StreamPromptRequest(agent="plain", prompt="Say one word"),
        ),
    }
    channels = {k: grpc.aio.insecure_channel(v[0]) for k, v in runs.items()}
    stubs = {k: pb_grpc.AgentServiceStub(c) for k, c in channels.items()}
    rates: dict[str, list[float]] = {k: [] for k in runs}
    firsts: dict[str, list[float]] = {k: [] for k in runs}
    try:
        for k, (_, long_request, _) in runs.items():
            await throughput(stubs[k], long_request)  # warm up: connections, caches
        for _ in range(ROUNDS):
            for k, (_, long_request, _) in runs.items():
                rates[k].append(await throughput(stubs[k], long_request))
        for _ in range(FIRST_DELTA_SAMPLES):
            for k, (_, _, short_request) in runs.items():
                firsts[k].append(await first_delta(stubs[k], short_request))
    finally:
        for channel in channels.values():
            await channel.close(None)
    return {
        **{f"{k}_rate": median(v) for k, v in rates.items()},
        **{f"{k}_first": median(v) for k, v in firsts.items()},
    }


async def main() -> None:
    model, model_port = await fake_model_process()
    try:
        with tempfile.TemporaryDirectory() as directory:
            config = write_config(directory, model_port)
            async with (
                process("bench.baseline", "{port}") as base,
                agent_server(config) as agent,
            ):
                r = await compare(base, agent)
    finally:
        model.terminate()
        await model.wait()
    base_rate, rate = r["base_rate"], r["agent_rate"]
    print(
        f"baseline grpc.aio    : {base_rate:8,.0f} text deltas/s, "
        f"first delta {r['base_first'] * 1e3:.2f} ms"
    )
    print(
        f"agentstream (openai) : {rate:8,.0f} text deltas/s, "
        f"first delta {r['agent_first'] * 1e3:.2f} ms"
    )
    print(f"ratio                : {rate / base_rate:.1%} of baseline (target >= 60%)")
    print("agentstream runs are whole two-turn runs (tool turn included); first delta: one turn")


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    asyncio.run(serve_fake_model())
