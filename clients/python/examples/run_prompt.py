"""Asks the default agent of a running server (`make run`) a question and prints the run's
events as they stream.

    .venv/bin/python clients/python/examples/run_prompt.py --target localhost:50051
"""

from __future__ import annotations

import argparse
import asyncio

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc


async def main(target: str, prompt: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.AgentServiceStub(channel)
        try:
            async for event in stub.StreamPrompt(pb.StreamPromptRequest(prompt=prompt)):
                kind = event.WhichOneof("event")
                if kind == "text_delta":
                    print(event.text_delta.text, end="", flush=True)
                elif kind == "tool_call":
                    call = event.tool_call
                    print(f"[turn {event.turn}] calling {call.name} {call.arguments}")
                elif kind == "tool_result":
                    result = event.tool_result
                    print(f"[turn {event.turn}] {result.name} returned {result.content!r}")
                elif kind == "final_response":
                    final = event.final_response
                    print(f"\n[done in {final.turns} turn(s), {final.usage.total_tokens} tokens]")
        except grpc.aio.AioRpcError as e:
            raise SystemExit(f"run failed: {e.code().name}: {e.details()}") from e


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="localhost:50051")
    parser.add_argument("--prompt", default="What is 6 * 7?")
    args = parser.parse_args()
    asyncio.run(main(args.target, args.prompt))
