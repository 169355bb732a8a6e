"""End to end through the `openai` provider with a client tool, vs grpc.aio and plain httpx.

A local OpenAI-compatible server (its own process) streams as fast as it can: turn 1
calls `calculator`, turn 2 answers in 2,000 one-word text deltas. agentstream (its own
process) runs the loop through httpx; this process reads the run with the Python helper,
which serves `calculator` as a client tool over Hooks. Four sides, in alternating rounds:
- the bare grpc.aio server sending 2,000 same-size text deltas (messages/s, first event);
- the run, one message per delta (messages/s against the baseline's; time to the first
  text delta against plain httpx's);
- the same run with coalesced delivery (`delivery.max_delay_ms`, 10 ms): text deltas/s;
- a plain in-process httpx client doing the same two turns itself (reading the SSE lines,
  decoding each chunk's JSON): text deltas/s and time to its first text delta.

`python -m bench.openai_e2e serve` runs only the fake model server (prints its port).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
from agentstream import AgentClient, tool
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from .common import ROOT, agent_server, median, process
from .stream import WORD, baseline_request

DELTAS = 2_000
ROUNDS = 9
WINDOW_MS = 10
PROMPT = "What is 6*7?"
CALCULATOR_SCHEMA = {"type": "object", "properties": {"expression": {"type": "string"}}}


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
    }


class FakeModel:
    """Answers each Chat Completions request with a prebuilt body, keep-alive, chunked."""

    def __init__(self) -> None:
        self.bodies = bodies()

    def body_for(self, request: dict[str, Any]) -> bytes:
        return self.bodies["long" if request["messages"][-1]["role"] == "tool" else "tool"]

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
    # No server tools: `calculator` is the Python helper's client tool.
    config = {
        "providers": {"fake": provider},
        "agents": [{"name": "plain", "provider": "fake", "model": "bench-model", "max_turns": 4}],
    }
    path = Path(directory) / "openai_e2e.json"  # JSON is YAML
    path.write_text(json.dumps(config))
    return str(path)


@tool("calculator", "Evaluates an arithmetic expression", CALCULATOR_SCHEMA)
async def calculator(arguments: dict[str, Any]) -> str:
    return "42"


# One side's run: (text deltas, messages carrying them, seconds to the first, total seconds).
Figures = tuple[int, int, float, float]


async def agent_run(client: AgentClient, window_ms: int = 0) -> Figures:
    """The two-turn run read with the Python helper, which serves the client tool."""
    extra: dict[str, Any] = {}
    if window_ms:
        extra["delivery"] = pb.Delivery(max_delay_ms=window_ms)
    start = time.perf_counter()
    first = 0.0
    deltas = messages = 0
    async for event in client.run(PROMPT, agent="plain", tools=[calculator], **extra):
        if event.HasField("text_delta"):
            if not first:
                first = time.perf_counter() - start
            deltas += 1 + event.text_delta.merged
            messages += 1
    assert deltas == DELTAS, deltas
    return deltas, messages, first, time.perf_counter() - start


async def baseline_run(stub: pb_grpc.AgentServiceStub) -> Figures:
    start = time.perf_counter()
    first = 0.0
    deltas = 0
    async for event in stub.StreamPrompt(baseline_request(DELTAS)):
        if not first:
            first = time.perf_counter() - start
        deltas += event.HasField("text_delta")
    assert deltas == DELTAS, deltas
    return deltas, deltas, first, time.perf_counter() - start


async def httpx_run(client: httpx.AsyncClient) -> Figures:
    """What a program calling the model itself would do: two streamed turns, the tool
    answered in between, every chunk's JSON decoded."""
    start = time.perf_counter()
    tools = [{"type": "function", "function": {"name": "calculator", **_TOOL}}]
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    calls: dict[int, dict[str, Any]] = {}
    async for delta in _chat(client, {"messages": messages, "tools": tools}):
        for fragment in delta.get("tool_calls") or ():
            call = calls.setdefault(fragment["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] = fragment.get("id") or call["id"]
            function = fragment.get("function") or {}
            call["name"] += function.get("name") or ""
            call["arguments"] += function.get("arguments") or ""
    assistant = [
        {
            "id": c["id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"]},
        }
        for c in calls.values()
    ]
    messages.append({"role": "assistant", "content": None, "tool_calls": assistant})
    messages += [{"role": "tool", "tool_call_id": c["id"], "content": "42"} for c in calls.values()]
    first = 0.0
    deltas = 0
    async for delta in _chat(client, {"messages": messages, "tools": tools}):
        if delta.get("content"):
            if not first:
                first = time.perf_counter() - start
            deltas += 1
    assert deltas == DELTAS, deltas
    return deltas, deltas, first, time.perf_counter() - start


_TOOL = {"description": "Evaluates an arithmetic expression", "parameters": CALCULATOR_SCHEMA}


async def _chat(client: httpx.AsyncClient, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    body = {"model": "bench-model", "stream": True, **body}
    async with client.stream("POST", "/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for choice in json.loads(line[6:])["choices"]:
                    yield choice["delta"]


Side = Callable[[], Awaitable[Figures]]


async def compare(base: str, agent: str, model_port: int) -> dict[str, list[Figures]]:
    """Alternates the sides round by round, so load on a shared machine hits all alike."""
    async with (
        grpc.aio.insecure_channel(base) as base_channel,
        AgentClient(agent) as client,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{model_port}/v1") as http,
    ):
        stub = pb_grpc.AgentServiceStub(base_channel)
        sides: dict[str, Side] = {
            "base": lambda: baseline_run(stub),
            "agent": lambda: agent_run(client),
            "coalesced": lambda: agent_run(client, WINDOW_MS),
            "httpx": lambda: httpx_run(http),
        }
        figures: dict[str, list[Figures]] = {name: [] for name in sides}
        for side in sides.values():
            await side()  # warm up: connections, caches
        for _ in range(ROUNDS):
            for name, side in sides.items():
                figures[name].append(await side())
    return figures


@asynccontextmanager
async def model_and_config() -> AsyncIterator[tuple[str, int]]:
    """The fake model server's process and an agentstream config that uses it."""
    model, model_port = await fake_model_process()
    try:
        with tempfile.TemporaryDirectory() as directory:
            yield write_config(directory, model_port), model_port
    finally:
        model.terminate()
        await model.wait()


@asynccontextmanager
async def profile_setup() -> AsyncIterator[tuple[str, Callable[[str], Awaitable[int]]]]:
    """For bench/profile.py: the config, and a load of three runs (returns events sent)."""

    async def load(address: str) -> int:
        async with AgentClient(address) as client:
            return sum([(await agent_run(client))[1] for _ in range(3)])

    async with model_and_config() as (config, _):
        yield config, load


async def main() -> None:
    async with (
        model_and_config() as (config, model_port),
        process("bench.baseline", "{port}") as base,
        agent_server(config) as agent,
    ):
        figures = await compare(base, agent, model_port)
    report(figures)


def report(figures: dict[str, list[Figures]]) -> None:
    def rate(name: str, of: int) -> float:  # of: 0 for deltas/s, 1 for messages/s
        return median([f[of] / f[3] for f in figures[name]])

    def first(name: str) -> float:
        return median([f[2] for f in figures[name]])

    base, agent, plain = (rate(n, 1) for n in ("base", "agent", "httpx"))
    coalesced_deltas = rate("coalesced", 0)
    merged = median([f[0] / f[1] for f in figures["coalesced"]])
    print(
        f"baseline grpc.aio     : {base:8,.0f} messages/s, first event {first('base') * 1e3:.2f} ms"
    )
    print(
        f"plain httpx, 2 turns  : {plain:8,.0f} text deltas/s, "
        f"first text delta {first('httpx') * 1e3:.2f} ms"
    )
    print(
        f"agentstream (openai)  : {agent:8,.0f} messages/s = {agent / base:.1%} of baseline "
        f"(target >= 80%); first text delta {first('agent') * 1e3:.2f} ms = "
        f"{first('agent') / first('httpx'):.2f}x httpx (target <= 2x)"
    )
    print(
        f"coalesced ({WINDOW_MS} ms)      : {coalesced_deltas:8,.0f} text deltas/s = "
        f"{coalesced_deltas / plain:.1%} of plain httpx (target >= 100%); "
        f"{merged:.0f} deltas per message; first text delta {first('coalesced') * 1e3:.2f} ms"
    )
    print("agentstream runs are whole two-turn runs, the client tool served by the Python helper")


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    asyncio.run(serve_fake_model())
