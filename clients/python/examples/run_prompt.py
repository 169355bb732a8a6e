"""Asks the default agent of a running server (`make run`) a question, serves a client tool
("weather") with an async function, and prints the run's events as they stream.

    .venv/bin/python clients/python/examples/run_prompt.py --target localhost:50051
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Annotated

from agentstream import AgentClient, RunFailed, tool


@tool
async def weather(city: Annotated[str, {"examples": ["Oslo"]}]) -> str:
    """Current weather of a city.

    Args:
        city: City name.
    """
    return f"{city}: 3°C and cloudy"


async def main(target: str, prompt: str) -> None:
    async with AgentClient(target) as client:
        run = client.run(prompt, tools=[weather], timeout=30)
        try:
            async for event in run:
                kind = event.WhichOneof("event")
                if kind == "text_delta":
                    print(event.text_delta.text, end="", flush=True)
                elif kind == "tool_call":
                    call = event.tool_call
                    print(f"[turn {event.turn}] calling {call.name} {call.arguments}")
                elif kind == "tool_result":
                    result = event.tool_result
                    print(f"[turn {event.turn}] {result.name} returned {result.content!r}")
            final = await run.result()
        except RunFailed as e:
            raise SystemExit(f"run failed: {e}") from e
        print(f"\n[done in {final.turns} turn(s), {final.usage.total_tokens} tokens]")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="localhost:50051")
    parser.add_argument("--prompt", default="What is the weather in Oslo, and what is 6 * 7?")
    args = parser.parse_args()
    asyncio.run(main(args.target, args.prompt))
