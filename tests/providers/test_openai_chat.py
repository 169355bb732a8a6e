"""The `openai` provider: request mapping, stream interpretation, and both over loopback HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agentstream_server.core.errors import ProviderError
from agentstream_server.core.events import (
    FinishReason,
    ReasoningDelta,
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
from agentstream_server.providers.openai_chat import ChatInterpreter, chat_body
from agentstream_server.providers.sse import SSEDecoder

from . import replay
from .replay import Reply, fixture


def interpret(name: str) -> list[Any]:
    return replay.interpret(ChatInterpreter("openai"), name)


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_text_recording() -> None:
    events = interpret("openai_chat/text.sse")
    assert text_of(events).startswith("I'm unable to provide real-time weather")
    assert events[-1] == TurnFinished(
        Usage(14, 30, 44),
        FinishReason.STOP,
        "chatcmpl-ABfw031mOJeYCSHe4yI2ZjOA6kMJL",
        "gpt-4o-2024-08-06",
    )
    assert all(isinstance(e, TextDelta) for e in events[:-1])


def test_single_tool_call_is_assembled_from_fragments() -> None:
    events = interpret("openai_chat/single_tool.sse")
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert deltas[0] == ToolCallDelta("call_c91SqDXlYFuETYv8mUHzz6pp", "GetWeatherArgs", "")
    assert all(d.name == "" and d.id == deltas[0].id for d in deltas[1:])
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    assert call.arguments == "".join(d.arguments_delta for d in deltas)
    assert json.loads(call.arguments) == {"city": "Edinburgh", "country": "UK", "units": "c"}
    assert events[-1].finish_reason is FinishReason.TOOL_CALLS


def test_parallel_calls_come_in_index_order_with_usage_from_the_empty_choices_chunk() -> None:
    events = interpret("openai_chat/parallel_tool_calls.sse")
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.id, c.name) for c in calls] == [
        ("call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs"),
        ("call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price"),
    ]
    assert [json.loads(c.arguments) for c in calls] == [
        {"city": "Edinburgh", "country": "GB", "units": "c"},
        {"ticker": "AAPL", "exchange": "NASDAQ"},
    ]
    assert events[-1].usage == Usage(149, 60, 209)


def test_compatible_server_quirks() -> None:
    events = interpret("openai_chat/quirks.sse")
    assert [type(e).__name__ for e in events] == [
        "ReasoningDelta",
        "ReasoningDelta",
        "TextDelta",
        "ToolCallDelta",
        "ToolCallDelta",
        "ToolCallDelta",
        "ToolCallDelta",
        "ToolCall",
        "ToolCall",
        "TurnFinished",
    ]
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == (
        "The user wants the weather twice."
    )
    assert events[3] == ToolCallDelta("call_a1", "get_weather", "")  # arguments: null
    assert events[6] == ToolCallDelta("call_b2", "get_weather", '{"city": "Oslo"}')
    assert events[7:9] == [
        ToolCall("call_a1", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_b2", "get_weather", '{"city": "Oslo"}'),
    ]
    assert events[-1].usage == Usage(80, 31, 111, cache_read_input_tokens=64, reasoning_tokens=9)


def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    return "data: " + json.dumps(
        {"id": "c1", "choices": [{"delta": delta, "finish_reason": finish}]}
    )


def interpret_lines(*lines: str) -> list[Any]:
    decoder = SSEDecoder()
    interpreter = ChatInterpreter("openai")
    body = "\n\n".join(lines).encode() + b"\n\n"
    return [e for f in decoder.feed(body) for e in interpreter.feed(f)] + interpreter.finish()


def test_whole_calls_repeated_at_index_zero_stay_separate_and_empty_arguments_are_an_object() -> (
    None
):
    def whole(call_id: str, arguments: str) -> dict[str, Any]:
        function = {"name": "f", "arguments": arguments}
        return {"tool_calls": [{"index": 0, "id": call_id, "function": function}]}

    events = interpret_lines(
        chunk(whole("a", '{"x": 1}')), chunk(whole("b", "")), chunk({}, "stop"), "data: [DONE]"
    )
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert calls == [ToolCall("a", "f", '{"x": 1}'), ToolCall("b", "f", "{}")]
    # Some servers say "stop" while calling tools; the loop is told the truth.
    assert events[-1].finish_reason is FinishReason.TOOL_CALLS


def test_fragments_without_index_continue_the_call() -> None:
    function = {"name": "f", "arguments": '{"x": '}
    first = {"tool_calls": [{"index": None, "id": "a", "function": function}]}
    rest = {"tool_calls": [{"function": {"arguments": "1}"}}]}
    events = interpret_lines(chunk(first), chunk(rest, "tool_calls"), "data: [DONE]")
    assert [e for e in events if isinstance(e, ToolCall)] == [ToolCall("a", "f", '{"x": 1}')]


def test_finish_reasons() -> None:
    for reason, expected in [
        ("length", FinishReason.LENGTH),
        ("content_filter", FinishReason.CONTENT_FILTER),
        ("something_new", FinishReason.OTHER),
    ]:
        events = interpret_lines(chunk({"content": "x"}, reason), "data: [DONE]")
        assert events[-1].finish_reason is expected


def test_error_object_inside_a_200_stream() -> None:
    with pytest.raises(ProviderError) as raised:
        interpret("openai_chat/error_in_stream.sse")
    assert raised.value.retryable
    assert raised.value.message == "openai: error in stream (502): Upstream provider overloaded"
    with pytest.raises(ProviderError) as rejected:
        interpret_lines('data: {"error": {"code": 400, "message": "bad tool schema"}}')
    assert not rejected.value.retryable


def test_stream_without_done_is_truncated() -> None:
    with pytest.raises(ProviderError, match="ended before \\[DONE\\]") as raised:
        interpret("openai_chat/truncated.sse")
    assert raised.value.retryable


def test_malformed_chunk_is_a_provider_error() -> None:
    with pytest.raises(ProviderError, match="malformed"):
        interpret_lines('data: {"choices": [{"delta": {"content": "x"}', "data: [DONE]")


HISTORY = [
    Message.user("Weather in Paris and Oslo?"),
    Message(
        Role.ASSISTANT,
        [
            Reasoning("thinking", "sig"),
            Text("Checking."),
            ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
            ToolCall("call_2", "get_weather", ""),
        ],
    ),
    Message(
        Role.USER,
        [ToolResult("call_1", "12C", name="get_weather"), ToolResult("call_2", "bad", True)],
    ),
]
TOOL = ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {}})


def test_request_body_from_history() -> None:
    request = ModelRequest(
        "gpt-4o",
        HISTORY,
        preamble="Be brief.",
        tools=[TOOL],
        temperature=0.2,
        max_tokens=100,
        tool_choice=ToolChoice(ToolChoiceMode.TOOL, "get_weather"),
        extra={"stream": False, "messages": [], "seed": 7, "stream_options": None},
    )
    assert chat_body(request) == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris and Oslo?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "12C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "bad"},
        ],
        "stream": True,
        "stream_options": None,  # extra may switch it off for servers that reject it
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {}},
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 0.2,
        "max_tokens": 100,
        "seed": 7,
    }


@pytest.mark.parametrize(
    ("mode", "wire"),
    [
        (ToolChoiceMode.AUTO, "auto"),
        (ToolChoiceMode.NONE, "none"),
        (ToolChoiceMode.REQUIRED, "required"),
    ],
)
def test_tool_choice_modes(mode: ToolChoiceMode, wire: str) -> None:
    request = ModelRequest("m", [Message.user("hi")], tools=[TOOL], tool_choice=ToolChoice(mode))
    assert chat_body(request)["tool_choice"] == wire
    assert "tools" not in chat_body(ModelRequest("m", [Message.user("hi")]))


def test_assistant_tool_call_without_text_has_null_content_and_user_text_after_results() -> None:
    body = chat_body(
        ModelRequest(
            "m",
            [
                Message(Role.ASSISTANT, [ToolCall("c", "f", "{}")]),
                Message(Role.USER, [ToolResult("c", "ok"), Text("and now?")]),
            ],
        )
    )
    assert [m["role"] for m in body["messages"]] == ["assistant", "tool", "user"]
    assert body["messages"][0]["content"] is None
    assert body["messages"][2]["content"] == "and now?"


# ---------------------------------------------------------------- over loopback HTTP


async def collect(provider: Any, request: ModelRequest) -> list[Any]:
    return [event async for event in provider.stream(request)]


@pytest.mark.parametrize(
    "cut",
    [{"chunk_size": 1}, {"chunk_size": 7}, {"seed": 1}, {"seed": 2}, {}],
    ids=["1-byte", "7-bytes", "random-1", "random-2", "whole"],
)
@pytest.mark.parametrize("name", ["text", "single_tool", "parallel_tool_calls", "quirks"])
async def test_replayed_over_http(replay: Any, providers: Any, name: str, cut: Any) -> None:
    path = f"openai_chat/{name}.sse"
    server = await replay(Reply(fixture(path), **cut))
    provider = providers("openai", server, headers={"x-org": "test"})
    request = ModelRequest("gpt-4o", [Message.user("hi")], tools=[TOOL])
    events = await collect(provider, request)
    expected = interpret(path)
    assert events == expected
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    assert sent.headers["x-org"] == "test"
    assert sent.json == chat_body(request)
    assert provider.open_responses == 0
