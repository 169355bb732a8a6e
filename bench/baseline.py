"""A bare grpc.aio server-streaming baseline: the same messages, none of the agent loop.

Run as `python -m bench.baseline PORT`: serves AgentService.StreamPrompt, sending
`extra_params.count` StreamPromptResponse text deltas of `extra_params.word`. With
`extra_params.pace` {mean_ms, jitter, seed} (bench/concurrency.py) it first sends a
run_started event, then each delta on that pace, as the offline model's `paced_text` does.

Hooks, the floor of bench/hooks.py and bench/observer.py:
- attach to run id `roundtrip-N`: N blocking text-delta events, each sent once the
  previous one's reply has arrived (a bare ping-pong);
- attach to any other run id: observes the StreamPrompt run of that id started with
  `extra_params.observed` (which waits for this attach), getting the deltas written
  meanwhile as one event per 2 ms window, then `run_ended`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from agentstream_server.providers.pacing import paced_at_ms

FLUSH_S = 0.002


@dataclass
class _Observed:
    """What a StreamPrompt run hands its observer: deltas since the last event, and
    whether it ended."""

    attached: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    pieces: list[str] = field(default_factory=list)
    ended: bool = False


class Baseline(pb_grpc.AgentServiceServicer):
    def __init__(self) -> None:
        self._observed: dict[str, _Observed] = {}

    async def StreamPrompt(self, request: pb.StreamPromptRequest, context: Any) -> None:  # type: ignore[override]
        if "observed" in request.extra_params:
            await self._observed_run(request, context)
            return
        count = int(request.extra_params["count"])
        word = request.extra_params["word"]
        run_id = request.run_id
        due = None
        if "pace" in request.extra_params:
            pace = request.extra_params["pace"]
            due = paced_at_ms(pace["mean_ms"], pace["jitter"], int(pace["seed"]))
        loop = asyncio.get_running_loop()
        began = loop.time()
        if due is not None:
            await context.write(pb.StreamPromptResponse(run_id=run_id, run_started=pb.RunStarted()))
        for seq in range(1, count + 1):
            if due is not None:
                await asyncio.sleep(began + next(due) / 1000 - loop.time())
            await context.write(
                pb.StreamPromptResponse(
                    run_id=run_id, seq=seq, turn=1, text_delta=pb.TextDelta(text=word)
                )
            )

    async def _observed_run(self, request: pb.StreamPromptRequest, context: Any) -> None:
        observed = self._observed.setdefault(request.run_id, _Observed())
        await observed.attached.wait()
        word = request.extra_params["word"]
        for seq in range(1, int(request.extra_params["count"]) + 1):
            await context.write(
                pb.StreamPromptResponse(
                    run_id=request.run_id, seq=seq, turn=1, text_delta=pb.TextDelta(text=word)
                )
            )
            observed.pieces.append(word)
            observed.ready.set()
        observed.ended = True
        observed.ready.set()

    async def Hooks(  # type: ignore[override]
        self, request_iterator: AsyncIterator[pb.HooksRequest], context: Any
    ) -> None:
        requests = aiter(request_iterator)
        run_id = (await anext(requests)).attach.run_id
        if run_id.startswith("roundtrip-"):
            for event_id in range(1, int(run_id.rsplit("-", 1)[1]) + 1):
                event = pb.HookEvent(
                    run_id=run_id,
                    event_id=str(event_id),
                    turn=1,
                    reply_expected=True,
                    text_delta=pb.HookTextDelta(delta="word "),
                )
                await context.write(pb.HooksResponse(event=event))
                await anext(requests)
            return
        observed = self._observed.setdefault(run_id, _Observed())
        observed.attached.set()
        event_id = 0
        while not observed.ended:
            await observed.ready.wait()
            await asyncio.sleep(FLUSH_S)
            observed.ready.clear()
            pieces, observed.pieces = observed.pieces, []
            if not pieces:
                continue
            event_id += 1
            delta = pb.HookTextDelta(delta="".join(pieces))
            event = pb.HookEvent(
                run_id=run_id,
                event_id=str(event_id),
                turn=1,
                merged=len(pieces) - 1,
                text_delta=delta,
            )
            await context.write(pb.HooksResponse(event=event))
        del self._observed[run_id]
        await context.write(pb.HooksResponse(run_ended=pb.HookRunEnded(run_id=run_id)))


async def serve(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_AgentServiceServicer_to_server(Baseline(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
