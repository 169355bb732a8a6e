"""The `anthropic` provider: request mapping, stream interpretation, and both over loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agentstream_server.core.errors import ProviderError
from agentstream_server.core.events import (
    FinishReason,
    TextDelta,
    ToolCallDelta,
    TurnFinished,
)
from agentstream_server.core.messages import (
    Message,
    Reasoning,
    Role,
    Text,
    ToolCall,
    ToolResult,
    Usage,
)
from agentstream_server.core.model import ModelRequest, ToolChoice, ToolChoiceMode, ToolSpec
from agentstream_server.providers.anthropic_messages import MessagesInterpreter, messages_body
from agentstream_server.providers.sse import SSEDecoder

from . import replay
from .replay import Reply, assemble, fixture


def interpret(name: str) -> list[Any]:
    return replay.interpret(MessagesInterpreter("anthropic"), name)


def test_text_recording() -> None:
    events = interpret("anthropic/text.sse")
    assert events == [
        TextDelta("Hello"),
        TurnFinished(
            Usage(10, 4, 14),
            FinishReason.STOP,
            "msg_01T8kTq7cYyYJeQ5DxcVUc6D",
            "claude-haiku-4-5-20251001",
        ),
    ]


def test_thinking_recording_keeps_the_signature() -> None:
    events = interpret("anthropic/thinking.sse")
    message = assemble(events)
    reasoning, text = message.parts
    assert isinstance(reasoning, Reasoning) and isinstance(text, Text)
    assert reasoning.text.startswith("The user wants two names for a pet pelican")
    assert reasoning.signature.startswith(
        "EuYDCmMIDBgCKkC05Zda4P+"
    ) and reasoning.signature.endswith("GAE=")
    assert text.text.startswith("1. **Pouch**")
    assert events[-1].usage == Usage(46, 133, 179)


def test_tool_without_arguments_is_an_empty_object() -> None:
    events = interpret("anthropic/tool_no_args.sse")
    assert events[:2] == [
        ToolCallDelta("toolu_01CzN6riCPqw4pVSuTd9Dwn7", "pelican_name_generator", ""),
        ToolCall("toolu_01CzN6riCPqw4pVSuTd9Dwn7", "pelican_name_generator", "{}"),
    ]
    assert events[-1].finish_reason is FinishReason.TOOL_CALLS


def test_thinking_text_and_streamed_tool_input() -> None:
    events = interpret("anthropic/thinking_tool.sse")
    message = assemble(events)
    assert message.parts == [
        Reasoning(
            "I should compute 6 * 7 with the calculator.",
            "EqQBCkgIBhABGAIiQHNpZ25hdHVyZS1mb3ItdGVzdHM=",
        ),
        Text("Let me calculate."),
        ToolCall("toolu_01Calc", "calculator", '{"expression": "6 * 7"}'),
    ]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [d.arguments_delta for d in deltas] == ["", '{"expression": ', '"6 * 7"}']
    # input counts cached tokens too; the split is kept.
    assert events[-1].usage == Usage(
        2660, 88, 2748, cache_read_input_tokens=2048, cache_creation_input_tokens=100
    )


def test_redacted_thinking_is_kept_whole() -> None:
    message = assemble(interpret("anthropic/redacted_thinking.sse"))
    assert message.parts == [
        Reasoning(
            encrypted_content="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
        ),
        Text("Done."),
    ]


def test_error_event_mid_stream() -> None:
    with pytest.raises(ProviderError) as raised:
        interpret("anthropic/error_mid_stream.sse")
    assert raised.value.retryable
    assert raised.value.message == "anthropic: error in stream (overloaded_error): Overloaded"


def test_invalid_request_error_event_is_not_retryable() -> None:
    interpreter = MessagesInterpreter("anthropic")
    (frame,) = SSEDecoder().feed(
        b'event: error\ndata: {"type":"error","error":{"type":"invalid_request_error",'
        b'"message":"prompt is too long"}}\n\n'
    )
    with pytest.raises(ProviderError) as raised:
        interpreter.feed(frame)
    assert not raised.value.retryable


def test_stream_without_message_stop_is_truncated() -> None:
    with pytest.raises(ProviderError, match="ended before message_stop") as raised:
        interpret("anthropic/truncated.sse")
    assert raised.value.retryable


HISTORY = [
    Message.user("What is 6 * 7?"),
    Message(
        Role.ASSISTANT,
        [
            Reasoning("I should compute", "sig-1"),
            Reasoning(encrypted_content="opaque"),
            Reasoning("unsigned, from another provider"),
            Text("Let me calculate."),
            Text(""),
            ToolCall("toolu_1", "calculator", '{"expression": "6 * 7"}'),
            ToolCall("toolu_2", "clock", ""),
        ],
    ),
    Message(
        Role.USER,
        [Text("also this"), ToolResult("toolu_1", "42"), ToolResult("toolu_2", "boom", True)],
    ),
]


def test_request_body_from_history() -> None:
    tool = ToolSpec("calculator", "Arithmetic", {"type": "object"})
    request = ModelRequest(
        "claude-sonnet-4-5",
        HISTORY,
        preamble="Be brief.",
        tools=[tool],
        temperature=1.0,
        tool_choice=ToolChoice(ToolChoiceMode.REQUIRED),
        extra={"thinking": {"type": "enabled", "budget_tokens": 1024}, "stream": False},
    )
    assert messages_body(request) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is 6 * 7?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "I should compute", "signature": "sig-1"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "text", "text": "Let me calculate."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "calculator",
                        "input": {"expression": "6 * 7"},
                    },
                    {"type": "tool_use", "id": "toolu_2", "name": "clock", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": "boom",
                        "is_error": True,
                    },
                    {"type": "text", "text": "also this"},
                ],
            },
        ],
        "stream": True,
        "tools": [
            {"name": "calculator", "description": "Arithmetic", "input_schema": {"type": "object"}}
        ],
        "tool_choice": {"type": "any"},
        "temperature": 1.0,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (ToolChoice(), {"type": "auto"}),
        (ToolChoice(ToolChoiceMode.NONE), {"type": "none"}),
        (ToolChoice(ToolChoiceMode.TOOL, "calculator"), {"type": "tool", "name": "calculator"}),
    ],
)
def test_tool_choice_is_honoured(choice: ToolChoice, wire: dict[str, str]) -> None:
    tool = ToolSpec("calculator", "", {"type": "object"})
    request = ModelRequest(
        "m", [Message.user("hi")], tools=[tool], tool_choice=choice, max_tokens=9
    )
    body = messages_body(request)
    assert body["tool_choice"] == wire
    assert body["max_tokens"] == 9


# ---------------------------------------------------------------- over loopback HTTP


@pytest.mark.parametrize(
    "cut", [{"chunk_size": 1}, {"seed": 3}, {}], ids=["1-byte", "random", "whole"]
)
@pytest.mark.parametrize(
    "name", ["text", "thinking", "tool_no_args", "thinking_tool", "redacted_thinking"]
)
async def test_replayed_over_http(replay: Any, providers: Any, name: str, cut: Any) -> None:
    path = f"anthropic/{name}.sse"
    server = await replay(Reply(fixture(path), **cut))
    provider = providers("anthropic", server)
    request = ModelRequest("claude-haiku-4-5-20251001", [Message.user("Say just hello")])
    events = [event async for event in provider.stream(request)]
    assert events == interpret(path)
    (sent,) = server.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-test-123"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json == messages_body(request)


@pytest.mark.parametrize("name", ["text", "thinking", "tool_no_args"])
async def test_recorded_request_shape_is_what_we_send(
    replay: Any, providers: Any, name: str
) -> None:
    """Each request kept beside a recording, rebuilt from our own types."""
    recorded = json.loads(fixture(f"anthropic/{name}.request.json"))["body"]
    server = await replay(Reply(fixture(f"anthropic/{name}.sse"), chunk_size=3))
    provider = providers("anthropic", server)
    (message,) = recorded["messages"]
    request = ModelRequest(
        recorded["model"],
        [Message.user(message["content"][0]["text"])],
        tools=[
            ToolSpec(t["name"], t["description"], t["input_schema"])
            for t in recorded.get("tools", [])
        ],
        temperature=recorded["temperature"],
        max_tokens=recorded["max_tokens"],
        extra={k: v for k, v in recorded.items() if k == "thinking"},
    )
    events = [event async for event in provider.stream(request)]
    assert events == interpret(f"anthropic/{name}.sse")
    sent = server.requests[0].json
    if request.tools:
        assert sent.pop("tool_choice") == {"type": "auto"}  # the API's default, said aloud
    assert sent == recorded
