"""A thin test-side wrapper over the raw Hooks stream."""

from __future__ import annotations

from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb


class HookStream:
    def __init__(self, stub: Any, metadata: list[tuple[str, str]] | None = None) -> None:
        self.call = stub.Hooks(metadata=metadata)

    async def attach(
        self, run_id: str, events: tuple[int, ...] = (), blocking: tuple[int, ...] = ()
    ) -> pb.HooksResponse:
        await self.call.write(
            pb.HooksRequest(attach=pb.HookAttach(run_id=run_id, events=events, blocking=blocking))
        )
        return await self.read()

    async def read(self) -> pb.HooksResponse:
        response = await self.call.read()
        assert response is not grpc.aio.EOF, "hooks stream ended"
        return response

    async def event(self, field: str) -> pb.HookEvent:
        """The next event of this kind, skipping others (observe-only ones)."""
        while True:
            response = await self.read()
            if response.WhichOneof("response") == "event" and (
                response.event.WhichOneof("event") == field
            ):
                return response.event

    async def reply(self, event_id: str, **action: Any) -> None:
        await self.call.write(pb.HooksRequest(reply=pb.HookReply(event_id=event_id, **action)))

    async def rest(self) -> list[pb.HooksResponse]:
        """Everything until the stream closes."""
        responses = []
        while (response := await self.call.read()) is not grpc.aio.EOF:
            responses.append(response)
        return responses


def output(content: str, is_error: bool = False) -> dict[str, Any]:
    return {"tool_output": pb.HookToolOutput(content=content, is_error=is_error)}


def cancel(reason: str) -> dict[str, Any]:
    return {"cancel": pb.HookCancel(reason=reason)}


PROCEED: dict[str, Any] = {"proceed": pb.HookProceed()}
