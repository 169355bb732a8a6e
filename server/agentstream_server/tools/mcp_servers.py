"""MCP servers as tool sources, through the official `mcp` SDK.

Each configured server is kept connected by a supervisor task: it connects
(starting the process for stdio), lists the tools, then watches the connection
(a tools listing every `check_interval_s`, and at once when a call finds it
closed); when the server dies or cannot be reached it is connected again with
exponential backoff. Servers start with the agentstream server; a required one
must be up before it serves.

The SDK is imported only when a server is configured: it takes seconds to import.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..config import McpServerConfig
from ..core.model import ToolSpec
from ..core.tools import Tool, ToolContext, ToolError, ToolSource

if TYPE_CHECKING:
    import mcp_types as mt
    from mcp import Client

logger = logging.getLogger(__name__)

_FIRST_RESTART_DELAY_S = 0.5
_SSE_READ_S = 300.0  # a server may hold its event stream open this long between events
_MAX_TOOL_PAGES = 100  # a server that paginates for ever cannot hang the start


class McpState(Enum):
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


@dataclass(slots=True, frozen=True)
class McpStatus:
    name: str
    transport: str
    state: McpState
    error: str


class McpStartError(Exception):
    """A required MCP server did not come up; the message names it and says why."""


class McpServer:
    """One configured MCP server, kept connected while the agentstream server runs."""

    def __init__(self, name: str, config: McpServerConfig) -> None:
        self.name = name
        self.config = config
        self.state = McpState.STARTING
        self.error = ""
        self.tools: dict[str, Tool] = {}  # the current listing; empty while not connected
        self._client: Client | None = None
        self._first_attempt = asyncio.Event()  # the first connection worked or failed
        self._lost = asyncio.Event()  # a call found the connection closed
        self._task: asyncio.Task[None] | None = None

    @property
    def status(self) -> McpStatus:
        return McpStatus(self.name, self.config.transport, self.state, self.error)

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"mcp server {self.name}")

    async def wait_started(self) -> None:
        """Waits for the first connection; raises McpStartError if it failed."""
        await self._first_attempt.wait()
        if self.state is not McpState.READY:
            raise McpStartError(f"mcp_servers.{self.name}: did not start: {self.error}")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def call(self, tool: str, arguments: dict[str, Any], context: ToolContext) -> str:
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED

        from .mcp_content import result_text

        client = self._client
        if client is None:
            why = f": {self.error}" if self.error else ""
            raise ToolError(f"MCP server {self.name!r} is not connected ({self.state.value}{why})")

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            context.progress(message or _count(progress, total), _fraction(progress, total))

        try:
            result = await client.call_tool(tool, arguments, progress_callback=on_progress)
        except MCPError as e:
            if e.code == CONNECTION_CLOSED:
                self._lost.set()
            raise ToolError(f"MCP server {self.name!r}: {e.error.message}") from None
        except (OSError, EOFError) as e:
            self._lost.set()
            raise ToolError(f"MCP server {self.name!r}: {_describe(e)}") from None
        text = result_text(result)
        if result.is_error:
            raise ToolError(text or f"MCP tool {tool!r} failed")
        return text

    # --- the supervisor ---------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = _FIRST_RESTART_DELAY_S
        while True:
            try:
                await self._connect_and_watch()
                delay = _FIRST_RESTART_DELAY_S  # it was up: the next failure starts afresh
                self._set_failed("the connection was lost")
            except Exception as e:  # anything that broke the connection: try again later
                self._set_failed(_describe(e))
            finally:
                self._client, self.tools = None, {}
                self._first_attempt.set()
            logger.warning("MCP server %s: %s; reconnecting in %.1fs", self.name, self.error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.max_restart_delay_s)

    async def _connect_and_watch(self) -> None:
        self.state = McpState.STARTING
        async with AsyncExitStack() as stack:
            limit = self.config.startup_timeout_s
            try:
                async with asyncio.timeout(limit):
                    client = await stack.enter_async_context(self._connection())
                    tools = await self._list_tools(client)
            except TimeoutError:
                raise TimeoutError(f"no answer within {limit:g} s (startup_timeout_s)") from None
            self._client, self.tools = client, tools
            self.state, self.error = McpState.READY, ""
            self._first_attempt.set()
            logger.info("MCP server %s: ready with %d tool(s)", self.name, len(tools))
            await self._watch(client)

    async def _watch(self, client: Client) -> None:
        """Returns when the connection is lost."""
        self._lost.clear()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.check_interval_s):
                    await self._lost.wait()
                    return
            async with asyncio.timeout(self.config.startup_timeout_s):
                self.tools = await self._list_tools(client)  # also picks up a changed listing

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Client]:
        from httpx2 import AsyncClient, Timeout  # the SDK's HTTP client
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters
        from mcp.client.streamable_http import streamable_http_client

        config = self.config
        if config.command is not None:
            params = StdioServerParameters(
                command=config.command[0],
                args=config.command[1:],
                env=config.env or None,
                cwd=config.cwd,
            )
            async with Client(params, cache=None) as client:
                yield client
            return
        assert config.url is not None
        async with (
            AsyncClient(headers=config.headers, timeout=Timeout(30.0, read=_SSE_READ_S)) as http,
            Client(streamable_http_client(config.url, http_client=http), cache=None) as client,
        ):
            yield client

    async def _list_tools(self, client: Client) -> dict[str, Tool]:
        tools: dict[str, Tool] = {}
        cursor: str | None = None
        for _ in range(_MAX_TOOL_PAGES):
            page = await client.list_tools(cursor=cursor, cache_mode="bypass")
            for listed in page.tools:
                made = self._tool(listed)
                if made is not None:
                    tools[made.name] = made
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools

    def _tool(self, listed: mt.Tool) -> Tool | None:
        spec = ToolSpec(listed.name, listed.description or "", dict(listed.input_schema))
        name = listed.name

        async def invoke(arguments: dict[str, Any], context: ToolContext) -> str:
            return await self.call(name, arguments, context)

        try:
            return Tool(spec, invoke, ToolSource.MCP, self.name, self.config.timeout_s)
        except ValueError as e:  # its schema is not valid JSON Schema: nothing could check calls
            logger.warning("MCP server %s: tool %r left out: %s", self.name, name, e)
            return None

    def _set_failed(self, error: str) -> None:
        self.state, self.error = McpState.FAILED, error


class McpServers:
    """All configured MCP servers, by name."""

    def __init__(self, configs: dict[str, McpServerConfig]) -> None:
        self.servers = {name: McpServer(name, config) for name, config in configs.items()}

    async def start(self) -> None:
        """Starts every server; waits for the required ones, and fails if one did not start."""
        for server in self.servers.values():
            server.start()
        required = [s for s in self.servers.values() if s.config.required]
        results = await asyncio.gather(
            *(s.wait_started() for s in required), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                await self.aclose()
                raise result

    async def aclose(self) -> None:
        await asyncio.gather(*(s.aclose() for s in self.servers.values()))


def _fraction(done: float, total: float | None) -> float | None:
    if not total or total <= 0:
        return None
    return min(max(done / total, 0.0), 1.0)


def _count(done: float, total: float | None) -> str:
    return f"{done:g}/{total:g}" if total else f"{done:g}"


def _describe(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error)
    if isinstance(error, TimeoutError) and not text:
        return "timed out"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
