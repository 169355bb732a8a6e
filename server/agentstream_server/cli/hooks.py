"""The Hooks stream as `agentstream attach` uses it: attach to a run by id, answer its events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb

_EOF = grpc.aio.EOF  # type: ignore[attr-defined]  # missing from the stubs


class AttachFailed(Exception):
    """The server refused the attach: NOT_FOUND when the run did not start within its
    attach timeout, ALREADY_EXISTS when the run has a hooks client, or a connection error."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class HooksStream:
    """An attached Hooks call: iterate for its responses (`attached` first), `reply` to
    answer events."""

    def __init__(self, call: Any, attached: pb.HooksResponse) -> None:
        self._call = call
        self._attached = attached
        self._write_lock = asyncio.Lock()

    async def __aiter__(self) -> AsyncIterator[pb.HooksResponse]:
        yield self._attached
        while (response := await self._call.read()) is not _EOF:
            yield response

    async def reply(self, event_id: str, **action: Any) -> None:
        reply = pb.HooksRequest(reply=pb.HookReply(event_id=event_id, **action))
        # A write fails only once the run has ended; how it ended arrives on the stream.
        async with self._write_lock:
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                await self._call.write(reply)

    def close(self) -> None:
        self._call.cancel()


async def attach(
    stub: Any,
    run_id: str,
    events: Iterable[pb.HookEventKind.ValueType] = (),
    blocking: Iterable[pb.HookEventKind.ValueType] = (),
) -> HooksStream:
    """Attaches and waits for the server's `attached`."""
    call = stub.Hooks()
    attach = pb.HookAttach(run_id=run_id, events=list(events), blocking=list(blocking))
    try:
        await call.write(pb.HooksRequest(attach=attach))
        first = await call.read()
    except grpc.aio.AioRpcError as e:
        raise AttachFailed(e.code(), e.details() or "") from None
    except BaseException:
        call.cancel()
        raise
    if first is _EOF or first.WhichOneof("response") != "attached":
        call.cancel()
        raise AttachFailed(grpc.StatusCode.UNKNOWN, "the server did not confirm the attach")
    return HooksStream(call, first)
