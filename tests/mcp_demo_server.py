"""An MCP server for the tests, written with the official SDK and run as its own process.

    python tests/mcp_demo_server.py stdio
    python tests/mcp_demo_server.py http     # prints "port N" once it listens on 127.0.0.1

`DEMO_MARKS` names a directory where the server leaves a file per event the tests
check from outside (a cancelled call).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import anyio
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("demo")


def _mark(name: str) -> None:
    marks = os.environ.get("DEMO_MARKS")
    if marks:
        Path(marks, name).write_text("1")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
async def count(n: int, ctx: Context) -> str:
    """Count to n, reporting progress at each step."""
    for i in range(1, n + 1):
        await ctx.report_progress(i, n, f"counted {i}")
    return f"counted to {n}"


@server.tool()
async def wait_forever(ctx: Context) -> str:
    """Never finishes on its own."""
    await ctx.report_progress(0, None, "waiting")
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        _mark("cancelled")
        raise
    return "unreachable"


@server.tool()
def closed_depot() -> str:
    """Always fails."""
    raise ToolError("the depot is closed")


@server.tool(structured_output=False)
def snapshot() -> list[object]:
    """Text and an image."""
    return ["two pixels", Image(data=b"\x89PNG\r\n\x1a\nxx", format="png")]


@server.tool()
def header(name: str, ctx: Context) -> str:
    """A header of the HTTP request that carried this call (empty over stdio)."""
    request = ctx.request_context.request
    return "" if request is None else str(request.headers.get(name, ""))


@server.tool()
def pid() -> int:
    """This process's id."""
    return os.getpid()


@server.tool()
def crash() -> str:
    """Ends the server process at once."""
    os._exit(3)


async def _serve_http() -> None:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning")
    print(f"port {sock.getsockname()[1]}", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    if sys.argv[1:] == ["http"]:
        anyio.run(_serve_http)
    else:
        server.run("stdio")
