"""Serves two client tools from this process while the agent's model calls them.

The model (the offline one under `make run`) calls both tools in one turn; this
process runs them and the final answer is built from their results.

    .venv/bin/python clients/python/examples/client_tools.py --target localhost:50051
"""

from __future__ import annotations

import argparse
import asyncio

from agentstream import AgentClient, tool

ORDER = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "examples": ["A-7"]}},
    "required": ["order_id"],
}


@tool("lookup_order", "Where an order is", ORDER)
async def lookup_order(arguments: dict) -> str:
    return f"order {arguments['order_id']} is in the Lyon depot"


@tool("order_total", "What an order costs", ORDER)
async def order_total(arguments: dict) -> str:
    return f"order {arguments['order_id']} costs 41.50 EUR"


async def main(target: str, agent: str) -> None:
    async with AgentClient(target) as client:
        run = client.run(
            "Where is order A-7 and what does it cost?",
            agent=agent,
            tools=[lookup_order, order_total],
        )
        async for event in run:
            kind = event.WhichOneof("event")
            if kind == "tool_call":
                print(f"model called {event.tool_call.name} {event.tool_call.arguments}")
            elif kind == "tool_result":
                print(f"{event.tool_result.name} -> {event.tool_result.content}")
        final = await run.result()
        print(f"final: {final.text}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="localhost:50051")
    parser.add_argument("--agent", default="echo", help="an agent with no server tools")
    args = parser.parse_args()
    asyncio.run(main(args.target, args.agent))
