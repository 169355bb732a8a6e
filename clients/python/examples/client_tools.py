"""Serves two client tools from this process while the agent's model calls them.

The model (the offline one under `make run`) calls both tools in one turn; this
process runs them and the final answer is built from their results.

    .venv/bin/python clients/python/examples/client_tools.py --target localhost:50051
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Annotated

from agentstream import AgentClient, RunFailed, Tls, tool

# Typed tools: each schema comes from the signature, each description from the docstring.
OrderId = Annotated[str, {"examples": ["A-7"]}]


@tool
async def lookup_order(order_id: OrderId) -> str:
    """Where an order is.

    Args:
        order_id: The order's id, as printed on the receipt.
    """
    return f"order {order_id} is in the Lyon depot"


@tool
async def order_total(order_id: OrderId) -> str:
    """What an order costs.

    Args:
        order_id: The order's id, as printed on the receipt.
    """
    return f"order {order_id} costs 41.50 EUR"


async def main(target: str, agent: str, tls: Tls | None, token: str | None) -> None:
    async with AgentClient(target, tls=tls, token=token) as client:
        run = client.run(
            "Where is order A-7 and what does it cost?",
            agent=agent,
            max_turns=2,  # one turn calls the tools, the next answers (echo allows 1 by default)
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
    parser.add_argument("--ca", help="PEM file of the CA to trust: connect over TLS")
    parser.add_argument("--cert", help="client certificate (PEM), for mTLS")
    parser.add_argument("--key", help="the client certificate's key (PEM)")
    parser.add_argument("--token", default=os.environ.get("AGENTSTREAM_TOKEN"))
    args = parser.parse_args()
    tls = Tls.from_files(args.ca, args.cert, args.key) if args.ca or args.cert else None
    try:
        asyncio.run(main(args.target, args.agent, tls, args.token))
    except RunFailed as failed:  # e.g. UNAUTHENTICATED: invalid token
        sys.exit(f"run failed: {failed.code.name}: {failed.details}")
