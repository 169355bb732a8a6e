"""Server tools for tests, whose progress the test controls and observes."""

from __future__ import annotations

import asyncio
from typing import Any

from agentstream_server.core.model import ToolSpec
from agentstream_server.core.tools import Tool

OBJECT = {"type": "object", "properties": {}}


class GateTool:
    """Runs until the test opens its gate; counts concurrency and cancellations."""

    def __init__(self, name: str, result: str = "done") -> None:
        self.result = result
        self.gate = asyncio.Event()
        self.started = 0
        self.running = 0
        self.max_running = 0
        self.cancelled = 0
        self.tool = Tool(ToolSpec(name, f"test tool {name}", OBJECT), self._run)

    async def _run(self, arguments: dict[str, Any], context: Any) -> str:
        self.started += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await self.gate.wait()
            return self.result
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1


async def _fail(arguments: dict[str, Any], context: Any) -> str:
    raise RuntimeError("disk on fire")


FAILING = Tool(ToolSpec("failing", "always fails", OBJECT), _fail)
