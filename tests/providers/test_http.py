"""HTTP behaviour shared by the adapters: status mapping, retries, breaks, timeouts, pooling."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from agentstream_server.core.errors import ErrorCode, ProviderError
from agentstream_server.core.events import TextDelta, TurnFinished
from agentstream_server.core.messages import Message
from agentstream_server.core.model import ModelRequest
from agentstream_server.providers.http import error_message, retry_after

from .conftest import KEY_ENV
from .replay import Reply, fixture

REQUEST = ModelRequest("gpt-4o", [Message.user("hi")])
TEXT = fixture("openai_chat/text.sse")


async def events_of(provider: Any) -> list[Any]:
    return [event async for event in provider.stream(REQUEST)]


async def failure(provider: Any) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        await events_of(provider)
    return raised.value


async def test_401_is_rejected_with_the_api_message_and_not_retried(replay, providers) -> None:
    server = await replay(Reply(fixture("openai_chat/unauthorized.json"), status=401))
    error = await failure(providers("openai", server))
    assert not error.retryable and error.code is ErrorCode.PROVIDER_REJECTED
    assert error.message.startswith(
        "openai: HTTP 401: Incorrect API key provided: sk-test. You can find"
    )
    assert error.message.endswith("(invalid_request_error)")
    assert len(server.requests) == 1


async def test_400_from_anthropic_names_the_problem(replay, providers) -> None:
    server = await replay(Reply(fixture("anthropic/bad_request.json"), status=400))
    error = await failure(providers("anthropic", server))
    assert not error.retryable
    assert "anthropic: HTTP 400: messages.1.content.0.type: Expected `thinking`" in error.message
    assert len(server.requests) == 1


async def test_403_without_json_body_uses_the_text(replay, providers) -> None:
    server = await replay(Reply(b"Forbidden by proxy\n", status=403))
    error = await failure(providers("openai", server))
    assert (error.message, error.retryable) == ("openai: HTTP 403: Forbidden by proxy", False)


async def test_429_is_retried_after_the_server_says(replay, providers) -> None:
    limited = Reply(
        fixture("openai_chat/rate_limited.json"), status=429, headers={"retry-after": "0.3"}
    )
    server = await replay(limited, Reply(TEXT))
    provider = providers("openai", server)
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = await events_of(provider)
    assert loop.time() - started >= 0.3  # base delay is 1 ms: the wait is the header's
    assert isinstance(events[-1], TurnFinished)
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body


async def test_retry_after_is_capped(replay, providers) -> None:
    hour = Reply(b"{}", status=429, headers={"retry-after": "3600"})
    server = await replay(hour, Reply(TEXT))
    provider = providers("openai", server, max_retry_delay_s=0.01)
    events = await asyncio.wait_for(events_of(provider), timeout=10)
    assert isinstance(events[-1], TurnFinished)


async def test_5xx_is_retried_up_to_max_retries_then_reported_retryable(replay, providers) -> None:
    overloaded = fixture("anthropic/overloaded.json")
    server = await replay(*[Reply(overloaded, status=529) for _ in range(3)])
    error = await failure(providers("anthropic", server, max_retries=2))
    assert error.retryable and error.code is ErrorCode.PROVIDER_UNAVAILABLE
    assert error.message == "anthropic: HTTP 529: Overloaded (overloaded_error)"
    assert len(server.requests) == 3


async def test_stream_broken_before_any_event_is_retried(replay, providers) -> None:
    server = await replay(Reply(TEXT, drop_after=10), Reply(TEXT, chunk_size=64))
    events = await events_of(providers("openai", server))
    assert isinstance(events[-1], TurnFinished)
    assert len(server.requests) == 2


async def test_stream_broken_after_an_event_is_not_retried(replay, providers) -> None:
    server = await replay(Reply(TEXT, chunk_size=50, drop_after=900), Reply(TEXT))
    provider = providers("openai", server)
    seen: list[Any] = []
    with pytest.raises(ProviderError) as raised:
        async for event in provider.stream(REQUEST):
            seen.append(event)
    assert seen and isinstance(seen[0], TextDelta)
    assert raised.value.retryable
    assert "connection failed" in raised.value.message
    assert len(server.requests) == 1
    assert provider.open_responses == 0


@pytest.mark.parametrize(
    ("kind", "name"),
    [("openai", "openai_chat/truncated.sse"), ("anthropic", "anthropic/truncated.sse")],
)
async def test_truncated_stream_is_a_retryable_error(replay, providers, kind, name) -> None:
    server = await replay(Reply(fixture(name)), Reply(fixture(name)))
    error = await failure(providers(kind, server))
    assert error.retryable
    assert len(server.requests) == 1  # events had been yielded: no second attempt


async def test_error_event_mid_stream_is_not_retried(replay, providers) -> None:
    server = await replay(Reply(fixture("anthropic/error_mid_stream.sse"), chunk_size=1))
    error = await failure(providers("anthropic", server))
    assert error.retryable and "Overloaded" in error.message
    assert len(server.requests) == 1


async def test_read_timeout_is_configurable(replay, providers) -> None:
    server = await replay(Reply(TEXT, stall_after=0))
    provider = providers("openai", server, read_timeout_s=0.2, max_retries=0)
    error = await asyncio.wait_for(failure(provider), timeout=10)
    assert error.retryable and "timed out: ReadTimeout" in error.message
    await asyncio.wait_for(server.client_left.wait(), timeout=5)


async def test_connection_refused_is_retryable(replay, providers) -> None:
    server = await replay()
    await server.close()  # nothing listens on the port now
    error = await failure(providers("openai", server, connect_timeout_s=1, max_retries=1))
    assert error.retryable and "connection failed: ConnectError" in error.message


async def test_missing_api_key_variable_is_named(replay, providers, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    server = await replay()
    error = await failure(providers("openai", server))
    assert not error.retryable
    assert error.message == f"openai: environment variable {KEY_ENV} (api_key_env) is not set"
    assert server.requests == []


async def test_turns_share_one_kept_alive_connection(replay, providers) -> None:
    anthropic = fixture("anthropic/text.sse")
    server = await replay(Reply(anthropic, seed=5), Reply(anthropic), Reply(anthropic))
    provider = providers("anthropic", server)
    for _ in range(3):
        await events_of(provider)
    assert (len(server.requests), server.connections) == (3, 1)
    await provider.aclose()
    assert provider.client.is_closed


async def test_closing_the_stream_closes_the_response_at_once(replay, providers) -> None:
    server = await replay(Reply(TEXT, chunk_size=100, stall_after=1000))
    provider = providers("openai", server)
    stream = provider.stream(REQUEST)
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await asyncio.wait_for(server.stalled.wait(), timeout=5)
    assert provider.open_responses == 1
    await stream.aclose()
    assert provider.open_responses == 0
    await asyncio.wait_for(server.client_left.wait(), timeout=5)


def test_error_message_shapes() -> None:
    assert error_message('{"error": {"message": "m", "type": "t"}}') == "m (t)"
    assert error_message('{"error": {"message": "m", "code": 5}}') == "m (5)"
    assert error_message('{"message": "bare"}') == "bare"
    assert error_message('{"error": "just a string"}') == "just a string"
    assert error_message("  <html>bad gateway</html> ") == "<html>bad gateway</html>"


def test_retry_after_forms() -> None:
    assert retry_after(httpx.Headers({"retry-after": "2"})) == 2.0
    assert retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert retry_after(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None
