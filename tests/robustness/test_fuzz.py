"""A bounded fuzz pass: a few thousand random StreamPrompt requests (as messages and as
mangled bytes) and Hooks messages against one server. None may end in INTERNAL or
UNKNOWN, log an ERROR, crash the server or hang; the server is healthy afterwards.

The generator is seeded, so a failure replays exactly; set AGENTSTREAM_FUZZ_SEED to
explore other inputs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from google.protobuf import struct_pb2

from ..helpers import RunResult, collect
from .conftest import assert_healthy, server_errors

SEED = int(os.environ.get("AGENTSTREAM_FUZZ_SEED", "8"))
REQUESTS = 1500
MANGLED = 600
HOOK_STREAMS = 150  # each sends up to 8 messages
CONCURRENCY = 32
CONFIG = {
    "agents": [
        {"name": "a", "provider": "offline", "model": "m", "tools": ["calculator"]},
        {"name": "b", "provider": "offline", "model": "m", "max_turns": 2},
    ],
    "server": {"hooks_attach_timeout_ms": 100, "hooks_reply_timeout_ms": 200},
    "limits": {
        "max_concurrent_runs": 64,
        "max_runs_per_principal": 64,
        "max_run_seconds": 5,
        "max_history_messages": 16,
        "max_client_tools": 4,
    },
}
BAD_STATUSES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
STEP_KEYS = [
    "text",
    "reasoning",
    "signature",
    "redacted_reasoning",
    "tool_call",
    "usage",
    "finish_reason",
    "delay_ms",
    "error",
]


class Fuzz:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def text(self, limit: int = 24) -> str:
        rng = self.rng
        alphabet = rng.choice(
            [
                "abc xyz",
                "0123456789",
                "é漢字🙂\u200b\u202e\x00\t\n",
                '{}[]":,\\/',
                "_.-:",
            ]
        )
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, limit)))

    def json(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.randint(0, 6 if depth < 4 else 3)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice([True, False])
        if kind == 2:
            return rng.choice([0, 1, -1, 2.5, 1e300, -1e-300, 2**53])
        if kind == 3:
            return self.text()
        if kind == 4:
            return [self.json(depth + 1) for _ in range(rng.randint(0, 3))]
        return {self.text(8): self.json(depth + 1) for _ in range(rng.randint(0, 3))}

    def step(self) -> Any:
        rng = self.rng
        if rng.random() < 0.1:
            return self.json()
        step: dict[str, Any] = {}
        for key in rng.sample(STEP_KEYS, rng.randint(1, 3)):
            step[key] = self.json() if rng.random() < 0.3 else self.good_value(key)
        if isinstance(step.get("delay_ms"), int | float):
            step["delay_ms"] = rng.choice([0, 1, 3])  # a scripted delay is no hang
        return step

    def good_value(self, key: str) -> Any:
        rng = self.rng
        return {
            "text": self.text(),
            "reasoning": self.text(),
            "signature": self.text(),
            "redacted_reasoning": self.text(),
            "tool_call": {
                "name": rng.choice(["calculator", "lookup", self.text(8)]),
                "arguments": rng.choice([{"expression": "1+1"}, self.json(), self.text()]),
            },
            "usage": {"input_tokens": rng.randint(0, 9), "output_tokens": rng.randint(0, 9)},
            "finish_reason": rng.choice(["stop", "tool_calls", "length", "odd"]),
            "delay_ms": 1,
            "error": {"message": self.text(), "retryable": rng.choice([True, False])},
        }[key]

    def extra(self) -> struct_pb2.Struct:
        rng = self.rng
        extra = struct_pb2.Struct()
        value: dict[str, Any] = {}
        if rng.random() < 0.8:
            turns = [
                [self.step() for _ in range(rng.randint(0, 3))] for _ in range(rng.randint(0, 3))
            ]
            value["script"] = turns if rng.random() < 0.9 else self.json()
        if rng.random() < 0.3:
            value[self.text(8)] = self.json()
        extra.update(value)
        return extra

    def part(self) -> pb.ContentPart:
        rng = self.rng
        kind = rng.randint(0, 4)
        if kind == 0:
            return pb.ContentPart(text=self.text())
        if kind == 1:
            return pb.ContentPart(
                tool_call=pb.ToolCall(id=self.text(6), name=self.text(6), arguments=self.text())
            )
        if kind == 2:
            return pb.ContentPart(
                tool_result=pb.ToolResult(id=self.text(6), content=self.text(), is_error=True)
            )
        if kind == 3:
            return pb.ContentPart(reasoning=pb.Reasoning(text=self.text(), signature=self.text()))
        return pb.ContentPart()

    def tool(self) -> pb.ToolDefinition:
        rng = self.rng
        tool = pb.ToolDefinition(
            name=rng.choice(["lookup", "calculator", self.text(10)]), description=self.text()
        )
        schema = (
            self.json() if rng.random() < 0.5 else {"type": "object", "properties": self.json()}
        )
        if isinstance(schema, dict):
            tool.parameters.update(schema)
        return tool

    def request(self) -> pb.StreamPromptRequest:
        rng = self.rng
        request = pb.StreamPromptRequest(
            agent=rng.choice(["", "a", "b", self.text(8)]),
            prompt=rng.choice(["", "hi", self.text(40)]),
            run_id=rng.choice(["", "", self.text(12)]),
            history=[
                pb.Message(
                    role=rng.randint(0, 3), parts=[self.part() for _ in range(rng.randint(0, 3))]
                )
                for _ in range(rng.choice([0, 0, 1, 3, 20]))
            ],
            tools=[self.tool() for _ in range(rng.choice([0, 0, 1, 2, 5]))],
            extra_params=self.extra(),
        )
        if rng.random() < 0.3:
            request.max_turns = rng.choice([0, 1, 2, 1001, 2**32 - 1])
        if rng.random() < 0.2:
            request.temperature = rng.choice([-1.0, 0.5, 2.5, float("nan")])
        if rng.random() < 0.2:
            request.max_tokens = rng.choice([0, 1, 2**32 - 1])
        if rng.random() < 0.2:
            request.model = self.text(8)
        if rng.random() < 0.2:
            request.tool_choice.mode = rng.randint(0, 6)
            request.tool_choice.tool_name = rng.choice(["calculator", self.text(6)])
        if rng.random() < 0.2:
            request.hooks.wait_for_client = rng.choice([True, False])
            request.hooks.attach_timeout_ms = rng.choice([0, 1, 50])
            request.hooks.reply_timeout_ms = rng.choice([0, 1, 50])
        return request

    def mangled(self, request: pb.StreamPromptRequest) -> bytes:
        data = bytearray(request.SerializeToString())
        rng = self.rng
        for _ in range(rng.randint(1, 4)):
            action = rng.randint(0, 2)
            if action == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif action == 1 and data:
                del data[rng.randrange(len(data)) :]
            else:
                data[rng.randrange(len(data) + 1) : 0] = bytes(
                    rng.randrange(256) for _ in range(rng.randint(1, 6))
                )
        return bytes(data)

    def hooks_message(self, run_ids: list[str], issued: int) -> pb.HooksRequest:
        rng = self.rng
        if rng.random() < 0.15:
            return pb.HooksRequest(
                attach=pb.HookAttach(
                    run_id=rng.choice([*run_ids, self.text(10)]),
                    events=[rng.randint(-1, 12) for _ in range(rng.randint(0, 3))],
                    blocking=[rng.randint(-1, 12) for _ in range(rng.randint(0, 2))],
                )
            )
        reply = pb.HookReply(
            event_id=rng.choice(["", str(rng.randint(0, issued + 2)), self.text(6), "²"])
        )
        action = rng.randint(0, 5)
        if action == 0:
            reply.proceed.SetInParent()
        elif action == 1:
            reply.cancel.reason = self.text()
        elif action == 2:
            reply.skip.reason = self.text()
        elif action == 3:
            reply.tool_output.content = self.text()
            reply.tool_output.is_error = rng.choice([True, False])
        elif action == 4:
            reply.tool_progress.message = self.text()
            if rng.random() < 0.5:
                reply.tool_progress.fraction = rng.choice([-1.0, 0.5, 2.0, float("nan")])
        return pb.HooksRequest(reply=reply)


async def _bounded(jobs: list[Any]) -> list[Any]:
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(job: Any) -> Any:
        async with slots:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


def _assert_sound(result: RunResult, what: Any) -> None:
    assert result.code not in BAD_STATUSES, (result.code, result.details, what)
    if result.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        # Only the server's own run time limit may end a run so: the call's deadline
        # passing would be a hang.
        assert result.events and result.last.error.code == pb.ERROR_CODE_DEADLINE_EXCEEDED, what


async def _raw(channel: grpc.aio.Channel, data: bytes) -> RunResult:
    call = channel.unary_stream(
        "/agentstream.v1.AgentService/StreamPrompt",
        request_serializer=lambda raw: raw,
        response_deserializer=pb.StreamPromptResponse.FromString,
    )(data, timeout=30)
    result = RunResult()
    try:
        async for event in call:
            result.events.append(event)
        result.code = await call.code()
    except grpc.aio.AioRpcError as error:
        result.code, result.details = error.code(), error.details() or ""
    return result


async def _hooks_session(server: Any, fuzz: Fuzz, run_ids: list[str]) -> None:
    call = server.stub.Hooks(timeout=30)
    ended: list[tuple[grpc.StatusCode, str]] = []

    async def read() -> None:
        try:
            while await call.read() is not grpc.aio.EOF:
                pass
            ended.append((await call.code(), await call.details()))
        except grpc.aio.AioRpcError as error:
            ended.append((error.code(), error.details() or ""))

    reading = asyncio.create_task(read())
    write_failed = False
    try:
        for i in range(fuzz.rng.randint(1, 8)):
            await call.write(fuzz.hooks_message(run_ids, i))
        await call.done_writing()
    except Exception:  # the server ended the stream while we wrote
        write_failed = True
    await reading
    [(code, details)] = ended
    if write_failed and details == "Internal error from Core":
        return  # the client's own record of its failed write, not the server's status
    assert code not in BAD_STATUSES, (code, details)


async def test_fuzz_requests_and_hooks_messages(start_server, caplog):
    caplog.set_level(logging.WARNING)
    server = await start_server(CONFIG)
    fuzz = Fuzz(SEED)
    requests = [fuzz.request() for _ in range(REQUESTS)]
    results = await _bounded([collect(server.stub, r, timeout=30) for r in requests])
    for request, result in zip(requests, results, strict=True):
        _assert_sound(result, request)

    mangled = [fuzz.mangled(fuzz.request()) for _ in range(MANGLED)]
    results = await _bounded([_raw(server.channel, data) for data in mangled])
    for data, result in zip(mangled, results, strict=True):
        _assert_sound(result, data)

    # Hooks streams against runs that wait for a client, and against nothing at all.
    run_ids = [f"fz-{i}" for i in range(HOOK_STREAMS)]
    waiting = [
        collect(
            server.stub,
            pb.StreamPromptRequest(
                agent="a",
                prompt="go",
                run_id=run_id,
                tools=[pb.ToolDefinition(name="lookup", description="d")],
                extra_params=_script_calling("lookup"),
                hooks=pb.HooksOptions(attach_timeout_ms=300, reply_timeout_ms=100),
            ),
            timeout=30,
        )
        for run_id in run_ids
    ]
    sessions = [_hooks_session(server, fuzz, run_ids) for _ in range(HOOK_STREAMS)]
    interleaved = [job for pair in zip(waiting, sessions, strict=True) for job in pair]
    outcomes = await _bounded(interleaved)
    for result in outcomes[::2]:
        _assert_sound(result, "a run waiting for a fuzzed hooks client")

    assert not server_errors(caplog.records)
    await assert_healthy(server)


def _script_calling(tool: str) -> struct_pb2.Struct:
    extra = struct_pb2.Struct()
    extra.update({"script": [[{"tool_call": {"name": tool}}], [{"text": "done"}]]})
    return extra


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_generator_is_deterministic(seed):
    assert Fuzz(seed).request() == Fuzz(seed).request()
