"""A separate client process for the telemetry tests: it runs a prompt under a span of
its own, serves a client tool with the Python helper, and prints every span it
recorded as one JSON line each (then `final: <text>`).

    python tests/telemetry_client.py --target HOST:PORT --agent NAME --script JSON
"""

from __future__ import annotations

import argparse
import asyncio
import json

from agentstream import AgentClient, tool
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@tool("lookup_order", "Where an order is", {"type": "object"})
async def lookup_order(arguments: dict) -> str:
    return f"order {arguments.get('order_id', '?')} is in the Lyon depot"


async def main(target: str, agent: str, script: list) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("backend")
    with tracer.start_as_current_span("handle order question"):
        async with AgentClient(target) as client:
            run = client.run(
                "Where is order A-7?",
                agent=agent,
                tools=[lookup_order],
                extra_params={"script": script},
            )
            final = await run.result()
    for span in exporter.get_finished_spans():
        parent = span.parent
        print(
            json.dumps(
                {
                    "name": span.name,
                    "trace_id": f"{span.context.trace_id:032x}",
                    "span_id": f"{span.context.span_id:016x}",
                    "parent_id": f"{parent.span_id:016x}" if parent else None,
                    "attributes": dict(span.attributes or {}),
                }
            )
        )
    print(f"final: {final.text}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--agent", required=True)
    parser.add_argument("--script", required=True)
    args = parser.parse_args()
    asyncio.run(main(args.target, args.agent, json.loads(args.script)))
