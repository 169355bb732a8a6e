"""Test helpers: collect a run's events, build scripted requests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb
from google.protobuf import struct_pb2


@dataclass
class RunResult:
    events: list[pb.StreamPromptResponse] = field(default_factory=list)
    code: grpc.StatusCode | None = None
    details: str = ""

    def kinds(self) -> list[str]:
        return [str(e.WhichOneof("event")) for e in self.events]

    def of(self, kind: str) -> list[Any]:
        return [getattr(e, kind) for e in self.events if e.WhichOneof("event") == kind]

    @property
    def last(self) -> pb.StreamPromptResponse:
        return self.events[-1]


def script(*turns: list[dict[str, Any]]) -> struct_pb2.Struct:
    """extra_params that make the offline model play these turns."""
    extra = struct_pb2.Struct()
    extra.update({"script": [list(t) for t in turns]})
    return extra


async def collect(stub: Any, request: pb.StreamPromptRequest, **kwargs: Any) -> RunResult:
    result = RunResult()
    call = stub.StreamPrompt(request, **kwargs)
    try:
        async for event in call:
            result.events.append(event)
    except grpc.aio.AioRpcError as e:
        result.code, result.details = e.code(), e.details() or ""
        return result
    result.code = await call.code()
    result.details = await call.details() or ""
    return result


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Waits for a condition another task makes true, yielding to the loop between checks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.001)


def free_port() -> int:
    """A loopback port that was free a moment ago, for a server started as its own process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
