"""A server tool for the CLI tests: reports progress, then waits for the test's go-ahead."""

from __future__ import annotations

from typing import Any

from agentstream_server.tools import ToolContext, tool

FIFO = {"type": "object", "properties": {"fifo": {"type": "string"}}, "required": ["fifo"]}


@tool("wait_for_go", "Reports progress, then answers the line written to the named pipe", FIFO)
def wait_for_go(args: dict[str, Any], context: ToolContext) -> str:
    context.progress("waiting for go", 0.5)
    with open(args["fifo"]) as fifo:  # blocks (in a worker thread) until the test writes
        return fifo.readline().strip()
