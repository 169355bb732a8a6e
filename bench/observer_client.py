"""An observe-only hooks client in its own process:
`python -m bench.observer_client ADDRESS RUN_ID [omit]` (omit: attach with omit_aggregated_text).

Attaches to the run (before it starts), reads every event as fast as it can,
and prints how many events and merged deltas it saw.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc


async def observe(address: str, run_id: str, omit_aggregated: bool) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call = pb_grpc.AgentServiceStub(channel).Hooks()
        attach = pb.HookAttach(run_id=run_id, omit_aggregated_text=omit_aggregated)
        await call.write(pb.HooksRequest(attach=attach))
        events = merged = 0
        async for response in call:
            if response.WhichOneof("response") == "event":
                events += 1
                merged += response.event.merged
        print(f"{events} {merged}", flush=True)


if __name__ == "__main__":
    asyncio.run(observe(sys.argv[1], sys.argv[2], sys.argv[3:] == ["omit"]))
