"""The SSE framer: the same events whatever the chunk boundaries."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from agentstream_server.providers.sse import SSEDecoder, SSEEvent, decode_json

from .replay import FIXTURES


def frame(body: bytes, sizes: list[int]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    at = 0
    for size in sizes:
        events += decoder.feed(body[at : at + size])
        at += size
    events += decoder.feed(body[at:])
    return events + decoder.flush()


def _is_stream(path: Path) -> bool:
    """Error recordings are JSON bodies kept as `.sse` beside a non-200 `.status`."""
    status = path.with_suffix(".status")
    return not status.exists() or status.read_text().strip() == "200"


RECORDINGS = sorted(
    p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob("*/*.sse") if _is_stream(p)
)


@pytest.mark.parametrize("name", RECORDINGS)
def test_any_chunking_gives_the_same_events(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    whole = frame(body, [])
    assert whole, "every recording has events"
    assert frame(body, [1] * len(body)) == whole
    rng = random.Random(name)
    assert frame(body, [rng.randint(1, 40) for _ in range(len(body))]) == whole


def test_recorded_anthropic_events_keep_names_and_data() -> None:
    events = frame((FIXTURES / "anthropic/text.sse").read_bytes(), [])
    assert [e.event for e in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2].data == '{"type": "ping"}'


def test_line_endings_comments_and_multiline_data() -> None:
    body = (
        b": keep-alive\r\n\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\ndata: three\rdata:  four\r\r"
    )
    expected = [SSEEvent("a", "one\ntwo"), SSEEvent("", "three\n four")]
    assert frame(body, []) == expected
    assert frame(body, [1] * len(body)) == expected


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\n") == []  # the CRLF ended the line; no blank line yet
    assert decoder.feed(b"\r") == []
    assert decoder.feed(b"\ndata: y\n\n") == [SSEEvent("", "x"), SSEEvent("", "y")]


def test_event_name_does_not_leak_into_the_next_event() -> None:
    assert frame(b"event: error\ndata: 1\n\ndata: 2\n\n", []) == [
        SSEEvent("error", "1"),
        SSEEvent("", "2"),
    ]


def test_body_without_final_blank_line_is_flushed() -> None:
    assert frame(b"data: [DONE]", []) == [SSEEvent("", "[DONE]")]
    assert frame(b"event: only-a-name\n", []) == []


def test_multibyte_characters_split_across_chunks() -> None:
    body = "data: Pelé 🐦\n\n".encode()
    assert frame(body, [1] * len(body)) == [SSEEvent("", "Pelé 🐦")]


def test_lf_only_bodies_frame_as_crlf_ones() -> None:
    """LF-only buffers take a faster path; every field rule holds there too."""
    body = (
        b": keep-alive\n\nevent: a\ndata: one\ndata:two\ndata\nid: 7\nretry: 5\n"
        b"odd line\n\ndata:  two spaces\n\ndata: bad \xff byte\n\n"
    )
    expected = [
        SSEEvent("a", "one\ntwo\n"),
        SSEEvent("", " two spaces"),
        SSEEvent("", "bad \ufffd byte"),
    ]
    assert frame(body, []) == expected
    assert frame(body.replace(b"\n", b"\r\n"), []) == expected
    rng = random.Random(7)
    assert frame(body, [rng.randint(1, 9) for _ in range(len(body))]) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"content": "I\'m", "n": [1, 2.5, null, true]}',
        '{"lone": "\\ud83d"}',  # half a surrogate pair, as a token split may leave it
        '{"a": 1, "a": 2}',
    ],
)
def test_decode_json_reads_what_json_reads(text: str) -> None:
    assert decode_json(text) == json.loads(text)


@pytest.mark.parametrize("text", ["{", '{"a": NaN', "", "[1,]"])
def test_decode_json_refuses_with_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        decode_json(text)
