"""The one Server-Sent Events framer: bytes in, complete events out.

Adapters never split bytes themselves. The framer accepts a body cut at any
boundary (one byte at a time included) and follows the SSE rules that real
provider streams exercise: LF, CRLF or CR line ends, `:` comment lines,
multi-line `data`, an optional space after the colon, and an event that is
dispatched at a blank line (or at the end of the body).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class SSEEvent:
    event: str  # "" when the stream gave no `event:` field ("message" in browser terms)
    data: str


class SSEDecoder:
    """Incremental framer. `feed` returns the events completed by a chunk; `flush`
    returns an event left open when the body ends without a final blank line."""

    __slots__ = ("_data", "_event", "_pending")

    def __init__(self) -> None:
        self._pending = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._pending + chunk if self._pending else chunk
        lines = buffer.splitlines(keepends=True)
        # The last piece is incomplete unless it ends with LF; a trailing CR is held
        # back too, because the LF of a CRLF may be in the next chunk.
        if lines and not lines[-1].endswith(b"\n"):
            self._pending = lines.pop()
        else:
            self._pending = b""
        events: list[SSEEvent] = []
        for raw in lines:
            event = self._line(raw.rstrip(b"\r\n"))
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """Ends the body: a held line is complete, and an open event is dispatched."""
        events = self.feed(b"\n") if self._pending else []
        event = self._line(b"")
        if event is not None:
            events.append(event)
        return events

    def _line(self, line: bytes) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == 0x3A:  # ":" starts a comment (keep-alives)
            return None
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # `id` and `retry` matter for browser reconnection only; unknown fields are ignored.
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(self._event, "\n".join(self._data))
        self._event = ""
        self._data = []
        return event
