"""A bare grpc.aio server-streaming baseline: the same messages, none of the agent loop.

Run as `python -m bench.baseline PORT`: serves AgentService.StreamPrompt, sending
`extra_params.count` StreamPromptResponse text deltas of `extra_params.word`. With
`extra_params.at_ms` (bench/concurrency.py) it first sends a run_started event, then
sends delta i at_ms[i] milliseconds after that, as the offline model's scripted `at_ms` does.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc


class Baseline(pb_grpc.AgentServiceServicer):
    async def StreamPrompt(self, request: pb.StreamPromptRequest, context: Any) -> None:  # type: ignore[override]
        count = int(request.extra_params["count"])
        word = request.extra_params["word"]
        run_id = request.run_id
        at_ms = request.extra_params["at_ms"] if "at_ms" in request.extra_params else None  # noqa: SIM401 (a Struct has no get)
        loop = asyncio.get_running_loop()
        began = loop.time()
        if at_ms is not None:
            await context.write(pb.StreamPromptResponse(run_id=run_id, run_started=pb.RunStarted()))
        for seq in range(1, count + 1):
            if at_ms is not None:
                await asyncio.sleep(began + at_ms[seq - 1] / 1000 - loop.time())
            await context.write(
                pb.StreamPromptResponse(
                    run_id=run_id, seq=seq, turn=1, text_delta=pb.TextDelta(text=word)
                )
            )


async def serve(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_AgentServiceServicer_to_server(Baseline(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
