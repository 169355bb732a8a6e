"""The one Server-Sent Events framer: bytes in, complete events out.

Adapters never split bytes themselves. The framer accepts a body cut at any
boundary (one byte at a time included) and follows the SSE rules that real
provider streams exercise: LF, CRLF or CR line ends, `:` comment lines,
multi-line `data`, an optional space after the colon, and an event that is
dispatched at a blank line (or at the end of the body).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson


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
        if b"\r" not in buffer:
            return self._feed_lf(buffer)
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

    def _feed_lf(self, buffer: bytes) -> list[SSEEvent]:
        """`feed` for a buffer with LF line ends only, as nearly every provider sends: the
        complete lines decoded at once, `data` lines (nearly all of them) taken first."""
        end = buffer.rfind(b"\n") + 1
        self._pending = buffer[end:]
        events: list[SSEEvent] = []
        if not end:
            return events
        lines = buffer[:end].decode("utf-8", "replace").split("\n")
        lines.pop()  # the empty piece after the last LF
        data = self._data
        for line in lines:
            if line.startswith("data:"):
                data.append(line[6:] if line.startswith(" ", 5) else line[5:])
            elif not line:
                if data:
                    events.append(SSEEvent(self._event, "\n".join(data)))
                    data.clear()
                self._event = ""
            elif line[0] != ":":
                name, _, value = line.partition(":")
                if value[:1] == " ":
                    value = value[1:]
                if name == "data":
                    data.append(value)
                elif name == "event":
                    self._event = value
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
        self._data.clear()
        return event


def decode_json(data: str) -> Any:
    """An event's JSON: orjson (a few times faster than `json` on stream chunks), with `json`
    as the judge of anything orjson refuses (a lone surrogate escape), so what `json`
    accepts still parses and what it refuses is a ValueError. One difference remains:
    integers past 64 bits come back as floats, and no field an adapter reads holds one."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
