"""Defects found replaying more real-shaped streams through `openai` and `anthropic` (issue 12,
points 1-9) and probing the HTTP edge (issue 8, points 13-14); one test, one recording each."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from agentstream_server.core.errors import ErrorCode, InvalidRequest, ProviderError
from agentstream_server.core.events import FinishReason, ReasoningEnd, TextDelta, TurnFinished
from agentstream_server.core.messages import Message, Reasoning, Role, Text, ToolResult
from agentstream_server.core.model import ModelRequest
from agentstream_server.providers.anthropic_messages import MessagesInterpreter, messages_body
from agentstream_server.providers.errors import MAX_QUOTED, retryable, stream_error
from agentstream_server.providers.openai_chat import ChatInterpreter, chat_body

from .conftest import KEY
from .replay import Reply, assemble, fixture, interpret

REQUEST = ModelRequest("gpt-4o", [Message.user("hi")])


async def failure(provider: Any, request: ModelRequest = REQUEST) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        _ = [event async for event in provider.stream(request)]
    return raised.value


# 1. A string `code` with a `status_code` beside it is as final as a numeric code.


async def test_groq_error_event_with_string_code_is_rejected_and_not_retried(
    replay, providers
) -> None:
    with pytest.raises(ProviderError) as raised:
        interpret(ChatInterpreter("groq"), "openai_chat/groq_tool_use_failed.sse")
    assert raised.value.code is ErrorCode.PROVIDER_REJECTED
    assert raised.value.message.startswith(
        "groq: error in stream (400, invalid_request_error): Failed to call a function."
    )
    body = fixture("openai_chat/groq_tool_use_failed.sse")
    server = await replay(Reply(body, chunk_size=5), Reply(body))
    error = await failure(providers("openai", server))
    assert not error.retryable and len(server.requests) == 1


@pytest.mark.parametrize(
    ("error", "may_pass"),
    [
        ({"code": 400, "message": "m"}, False),  # OpenRouter: the upstream status as `code`
        ({"code": "400", "message": "m"}, False),
        ({"code": "tool_use_failed", "status_code": 400}, False),
        ({"code": "tool_use_failed"}, False),
        ({"type": "invalid_request_error"}, False),
        ({"code": "insufficient_quota", "status_code": 429}, False),  # waiting will not help
        ({"code": 429, "message": "slow down"}, True),
        ({"code": "rate_limit_exceeded"}, True),
        ({"type": "overloaded_error"}, True),
        ({"code": 503, "status": "UNAVAILABLE"}, True),
        ({"code": 400, "status": "INVALID_ARGUMENT"}, False),
        ({"code": "something_new"}, True),  # unknown: an error inside a stream is usually passing
        ({}, True),
    ],
)
def test_every_status_field_is_used(error: dict[str, Any], may_pass: bool) -> None:
    assert stream_error("p", error).retryable is may_pass


def test_http_status_rules() -> None:
    assert [retryable(s) for s in (400, 401, 403, 404, 408, 409, 429, 500, 503, 529)] == [
        False, False, False, False, True, False, True, True, True, True,
    ]  # fmt: skip


# 2 and 3. Anthropic thinking tokens, and a signature given whole in content_block_start.


def test_anthropic_thinking_tokens_and_signature_in_block_start() -> None:
    events = interpret(
        MessagesInterpreter("anthropic"), "anthropic/thinking_tokens_signature_start.sse"
    )
    usage = events[-1].usage
    assert (usage.output_tokens, usage.reasoning_tokens, usage.total_tokens) == (31, 27, 83)
    reasoning, text = assemble(events).parts
    assert reasoning == Reasoning(
        "Two plus two is four.", "EqgBCkgIBxABGAIqQGZ1bGwtc2lnbmF0dXJlLWluLXN0YXJ0"
    )
    assert text == Text("4")
    # ...and it goes back on the next turn.
    body = messages_body(ModelRequest("m", [Message.user("2+2?"), assemble(events)]))
    assert body["messages"][1]["content"][0]["signature"] == reasoning.signature


# 4. A thinking budget at or above the default max_tokens gets a valid default.


@pytest.mark.parametrize(
    ("budget", "sent"), [(None, 4096), (1024, 4096), (4096, 8192), (10_000, 14_096)]
)
async def test_anthropic_default_max_tokens_leaves_room_above_the_budget(
    replay, providers, budget: int | None, sent: int
) -> None:
    server = await replay(Reply(fixture("anthropic/text.sse")))
    extra = {"thinking": {"type": "enabled", "budget_tokens": budget}} if budget else {}
    request = ModelRequest("claude-sonnet-4-5", [Message.user("hi")], extra=extra)
    _ = [e async for e in providers("anthropic", server).stream(request)]
    assert server.requests[0].json["max_tokens"] == sent
    explicit = ModelRequest("m", [Message.user("hi")], max_tokens=100, extra=extra)
    assert messages_body(explicit)["max_tokens"] == 100  # the caller's own value is kept


# 5. A refusal is surfaced as the turn's text, with the content-filter finish reason.


def test_openai_refusal_is_text_with_content_filter() -> None:
    events = interpret(ChatInterpreter("openai"), "openai_chat/refusal.sse")
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "I'm sorry,",
        " I can't help with that.",
    ]
    assert events[-1].finish_reason is FinishReason.CONTENT_FILTER
    assert assemble(events).parts == [Text("I'm sorry, I can't help with that.")]


# 6. Reasoning models take max_completion_tokens; the field is configurable.


@pytest.mark.parametrize(
    ("model", "setting", "field"),
    [
        ("gpt-4o", "auto", "max_tokens"),
        ("o3-mini", "auto", "max_completion_tokens"),
        ("gpt-5.1", "auto", "max_completion_tokens"),
        ("openai/o4-mini", "auto", "max_completion_tokens"),
        ("llama-3.3-70b", "auto", "max_tokens"),
        ("my-reasoner", "max_completion_tokens", "max_completion_tokens"),
        ("o3", "max_tokens", "max_tokens"),
    ],
)
async def test_openai_max_tokens_field(replay, providers, model, setting, field) -> None:
    server = await replay(Reply(fixture("openai_chat/text.sse")))
    provider = providers("openai", server, max_tokens_field=setting)
    request = ModelRequest(model, [Message.user("hi")], max_tokens=64)
    _ = [e async for e in provider.stream(request)]
    sent = server.requests[0].json
    assert sent[field] == 64
    assert {"max_tokens", "max_completion_tokens"} - {field} - set(sent) == {
        "max_tokens",
        "max_completion_tokens",
    } - {field}


# 7. OpenRouter reasoning_details are kept and sent back across the tool turn.


async def test_openrouter_reasoning_details_go_back_on_the_next_turn(replay, providers) -> None:
    events = interpret(
        ChatInterpreter("openrouter"), "openai_chat/openrouter_reasoning_details.sse"
    )
    ends = [e for e in events if isinstance(e, ReasoningEnd)]
    assert len(ends) == 1  # closed once, when the tool call started
    message = assemble(events)
    assert [type(p).__name__ for p in message.parts] == ["Reasoning", "ToolCall"]
    assert message.parts[0].text == "The user wants the weather in Paris."
    assert events[-1].usage.reasoning_tokens == 21
    history = [
        Message.user("Weather in Paris?"),
        message,
        Message(Role.USER, [ToolResult("toolu_01Weather", "12C")]),
    ]
    details = [
        {
            "type": "reasoning.text",
            "text": "The user wants the weather in Paris.",
            "format": "anthropic-claude-v1",
            "index": 0,
            "signature": "ErUBCkYIBhgCIkCr0zZs1gnature",
        }
    ]
    server = await replay(Reply(fixture("openai_chat/text.sse"), chunk_size=9))
    request = ModelRequest("anthropic/claude-sonnet-4.5", history)
    _ = [e async for e in providers("openai", server).stream(request)]
    assistant = server.requests[0].json["messages"][1]
    assert assistant == {
        "role": "assistant",
        "content": None,
        "reasoning_details": details,
        "tool_calls": [
            {
                "id": "toolu_01Weather",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    # Reasoning from elsewhere (no details) adds no field.
    plain = Message(Role.ASSISTANT, [Reasoning("x", "sig"), Text("y")])
    assert "reasoning_details" not in chat_body(ModelRequest("m", [plain]))["messages"][0]


# 8. httpx errors outside the old mapping (a body that is not the gzip it claims).


async def test_bad_gzip_is_a_provider_error(replay, providers) -> None:
    bad = Reply(b"\x1f\x8b\x08 this is not gzip", headers={"content-encoding": "gzip"})
    good = Reply(
        gzip.compress(fixture("openai_chat/text.sse")), headers={"content-encoding": "gzip"}
    )
    server = await replay(bad, bad, bad, good)
    error = await failure(providers("openai", server, max_retries=2))
    assert error.code is ErrorCode.PROVIDER_UNAVAILABLE
    assert error.message.startswith("openai: could not decode the response body: DecodingError")
    assert len(server.requests) == 3
    events = [e async for e in providers("openai", server).stream(REQUEST)]
    assert isinstance(events[-1], TurnFinished)  # a good gzip body still streams


async def test_bad_base_url_is_rejected(providers, replay) -> None:
    server = await replay()
    provider = providers("openai", server)
    provider.client.base_url = "ftp://127.0.0.1/v1/"
    error = await failure(provider)
    assert error.code is ErrorCode.PROVIDER_REJECTED and "bad base_url" in error.message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:99999/v1", "port out of range"),
        ("ftp://example.com", "must be http or https"),
        ("api.openai.com/v1", "must be http or https"),
        ("http://[::1/v1", "not a URL"),
    ],
)
def test_bad_base_url_is_a_config_error(url: str, problem: str) -> None:
    from agentstream_server.config import ConfigError, parse_config

    agent = {"name": "a", "provider": "p", "model": "m"}
    config = {"providers": {"p": {"type": "openai", "base_url": url}}, "agents": [agent]}
    with pytest.raises(ConfigError, match=f"providers.p.openai.base_url: .*{problem}"):
        parse_config(config)


# 9. Only one choice is read, so more are refused before anything is sent.


async def test_n_above_one_is_an_invalid_argument(replay, providers) -> None:
    server = await replay()
    provider = providers("openai", server)
    with pytest.raises(InvalidRequest) as raised:
        provider.stream(ModelRequest("gpt-4o", [Message.user("hi")], extra={"n": 2}))
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    assert str(raised.value) == "extra_params.n: must be 1 (one answer per turn is read), got 2"
    assert server.requests == []
    assert chat_body(ModelRequest("m", [Message.user("hi")], extra={"n": 1}))["n"] == 1


# Issue 8, defect 13: a page is not an event stream, and asking again gets the same page.


async def test_html_page_with_200_is_named_and_not_retried(replay, providers) -> None:
    page = fixture("openai_chat/proxy_login.html")
    html = Reply(page, headers={"content-type": "text/html; charset=utf-8"})
    server = await replay(html, html)
    error = await failure(providers("openai", server))
    assert error.code is ErrorCode.PROVIDER_REJECTED
    assert error.message.startswith(
        "openai: HTTP 200 with content-type 'text/html; charset=utf-8', not an event stream: "
        "<!DOCTYPE html>"
    )
    assert len(server.requests) == 1
    plain = Reply(
        fixture("openai_chat/text.sse"),
        headers={"content-type": "text/event-stream; charset=utf-8"},
    )
    server = await replay(plain)
    events = [e async for e in providers("openai", server).stream(REQUEST)]
    assert isinstance(events[-1], TurnFinished)


# Issue 8, defect 14: credentials in an error body are redacted, and what is quoted is capped.


async def test_error_body_echoing_credentials_is_redacted(replay, providers) -> None:
    server = await replay(Reply(fixture("openai_chat/proxy_echo.json"), status=401))
    error = await failure(providers("openai", server))
    for secret in ("sk-live-Abc123XyZ987qwerty", "sk-ant-api03-Secret0000", "AIzaSyD-1234567890"):
        assert secret not in error.message
    assert '"Authorization": "Bearer [redacted]"' in error.message
    assert "python-httpx/0.28.1" in error.message  # the rest stays readable


async def test_our_own_key_never_reaches_the_caller_whatever_its_shape(
    replay, providers, monkeypatch
) -> None:
    from .conftest import KEY_ENV

    odd_key = "k9#odd+key/with.no-known:shape"
    monkeypatch.setenv(KEY_ENV, odd_key)
    echo = json.dumps({"error": {"message": f"key {odd_key} is not valid here"}}).encode()
    server = await replay(
        Reply(echo, status=403), Reply(b"proxy says " + odd_key.encode(), status=502)
    )
    error = await failure(providers("openai", server))
    assert odd_key not in error.message and "[redacted]" in error.message
    error = await failure(providers("anthropic", server, max_retries=0))
    assert odd_key not in error.message
    assert KEY not in error.message


async def test_quoted_error_text_is_capped(replay, providers) -> None:
    page = b"<html>" + b"x" * 200_000 + b"</html>"
    server = await replay(Reply(page, status=502, headers={"content-type": "text/html"}))
    error = await failure(providers("openai", server, max_retries=0))
    assert len(error.message) < MAX_QUOTED + 40
    assert error.message.startswith("openai: HTTP 502: <html>xxx") and error.message.endswith("…")
