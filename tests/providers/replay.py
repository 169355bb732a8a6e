"""A small HTTP/1.1 server on 127.0.0.1 that replays recorded response bodies.

Each request gets the next `Reply` in line: a status, headers and a body sent
with chunked transfer encoding, cut at the given boundaries (one byte at a time
included; every piece is flushed before the next). It keeps connections alive,
records every request, and can stall or drop the connection part-way through a
body, which tests use to break and cancel streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentstream_server.core.messages import Message
from agentstream_server.core.turn import TurnBuilder
from agentstream_server.providers.sse import SSEDecoder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def interpret(interpreter: Any, name: str) -> list[Any]:
    """The core events a provider's stream interpreter makes of a recorded body."""
    decoder = SSEDecoder()
    events = [e for f in decoder.feed(fixture(name)) + decoder.flush() for e in interpreter.feed(f)]
    return [*events, *interpreter.finish()]


def assemble(events: list[Any]) -> Message:
    """The assistant message the loop would record from those events."""
    builder = TurnBuilder()
    for event in events:
        builder.add(event)
    return builder.message()


@dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Piece sizes: an int cuts evenly; a seed cuts at random sizes 1..64; None sends it whole.
    chunk_size: int | None = None
    seed: int | None = None
    # Send this many bytes of the body, then hold the connection until the client leaves.
    stall_after: int | None = None
    # Send this many bytes of the body, then drop the connection (no chunked terminator).
    drop_after: int | None = None


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def pieces(reply: Reply, body: bytes) -> list[bytes]:
    if reply.seed is not None:
        rng = random.Random(reply.seed)
        cuts, at = [], 0
        while at < len(body):
            size = rng.randint(1, 64)
            cuts.append(body[at : at + size])
            at += size
        return cuts
    size = reply.chunk_size or len(body) or 1
    return [body[i : i + size] for i in range(0, len(body), size)]


class ReplayServer:
    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[Received] = []
        self.connections = 0
        self.stalled = asyncio.Event()  # a stalled reply has sent its part
        self.client_left = asyncio.Event()  # ...and then saw the client close the connection
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ReplayServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while await self._one_exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serves one request; False when the connection is over."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Received(method, path, headers, body))
        reply = self.replies.pop(0) if self.replies else Reply(b"no reply left\n", status=500)
        return await self._send(reply, reader, writer)

    async def _send(
        self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        headers = {
            "content-type": "text/event-stream" if reply.status == 200 else "application/json"
        }
        headers |= {k.lower(): v for k, v in reply.headers.items()}  # a reply may override it
        head = [f"HTTP/1.1 {reply.status} Status", "transfer-encoding: chunked"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        body = reply.body
        cut = reply.stall_after if reply.stall_after is not None else reply.drop_after
        for piece in pieces(reply, body if cut is None else body[:cut]):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        if reply.stall_after is not None:
            self.stalled.set()
            await reader.read()  # returns b"" once the client closes its end
            self.client_left.set()
            return False
        if reply.drop_after is not None:
            writer.transport.abort()
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
