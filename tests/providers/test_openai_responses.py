"""The `openai_responses` provider against every recorded Responses stream: events, history,
and the request it builds for the next turn, compared with the request that was recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agentstream_server.core.errors import ErrorCode, ProviderError
from agentstream_server.core.events import (
    FinishReason,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    TurnFinished,
)
from agentstream_server.core.messages import Message, Reasoning, Role, Text, ToolCall, ToolResult
from agentstream_server.core.messages import Usage as U
from agentstream_server.core.model import ModelRequest, ToolChoice, ToolChoiceMode, ToolSpec
from agentstream_server.providers.openai_responses import (
    ResponsesInterpreter,
    responses_body,
)
from agentstream_server.providers.sse import SSEDecoder

from .replay import FIXTURES, Reply, assemble, fixture, interpret

DIR = "openai_responses"
STREAMS = sorted(
    p.stem
    for p in (FIXTURES / DIR).glob("*.sse")
    if (FIXTURES / DIR / f"{p.stem}.status").read_text().strip() == "200"
)


def events_of(name: str) -> list[Any]:
    return interpret(ResponsesInterpreter("openai"), f"{DIR}/{name}.sse")


def recorded_request(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fixture(f"{DIR}/{name}.request.json"))["body"]
    return body


def tools_of(recorded: dict[str, Any]) -> list[ToolSpec]:
    return [
        ToolSpec(t["name"], t["description"], t["parameters"]) for t in recorded.get("tools", [])
    ]


def first_request(recorded: dict[str, Any]) -> ModelRequest:
    """The agentstream request that the recorded first-turn request corresponds to."""
    preamble = ""
    messages = []
    for item in recorded["input"]:
        if item.get("role") == "developer":
            preamble = item["content"]
        elif item.get("role") == "user":
            messages.append(Message.user(item["content"]))
    extra = {k: v for k, v in recorded.items() if k in ("reasoning",)}
    return ModelRequest(recorded["model"], messages, preamble, tools_of(recorded), extra=extra)


def normalized(body: dict[str, Any]) -> dict[str, Any]:
    """What may differ between a recorded request and ours, and why:
    - `strict`: we send `strict: false` unless configured (the API's default, true, rejects
      optional properties); a recording that left it out is compared as if it sent false;
    - a function call's `arguments` are compared as JSON (one recording's client re-encoded
      them with spaces; we send the model's string as it came), and `status` (an output
      field one client echoed) is dropped."""
    body = json.loads(json.dumps(body))
    for tool in body.get("tools", []):
        tool.setdefault("strict", False)
    for item in body["input"]:
        if item.get("type") == "function_call":
            item["arguments"] = json.loads(item["arguments"])
            item.pop("status", None)
    return body


# ---------------------------------------------------------------- what each recording means


def test_text() -> None:
    events = events_of("text")
    assert events == [
        TextDelta("pong"),
        TurnFinished(
            U(11, 5, 16),
            FinishReason.STOP,
            "resp_00592e63e61b66660169fab1b9f8e481a2b321356198d7ac1b",
            "gpt-5.5-2026-04-23",
        ),
    ]


def test_tool_call_with_argument_deltas() -> None:
    events = events_of("tool_round_trip.1")
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert deltas[0] == ToolCallDelta("call_sVidsfFJ6zlzRpelrPkTPlpd", "multiply", "")
    assert "".join(d.arguments_delta for d in deltas) == '{"a":1231,"b":2331}'
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    assert call == ToolCall(
        "call_sVidsfFJ6zlzRpelrPkTPlpd",
        "multiply",
        '{"a":1231,"b":2331}',
        "fc_00d64fa806f333310169fab1bf324481a0852cda3180856290",
    )
    assert events[-1].finish_reason is FinishReason.TOOL_CALLS
    assert events[-1].usage == U(58, 23, 81)
    assert "".join(e.text for e in events_of("tool_round_trip.2") if isinstance(e, TextDelta)) == (
        "1231 \u00d7 2331 = **2,869,461**"
    )


def test_parallel_calls_in_output_order() -> None:
    message = assemble(events_of("parallel_tools.1"))
    assert [(c.id, json.loads(c.arguments)) for c in message.tool_calls] == [
        ("call_sKC7OABqf2A2PTLCm0CLeRWV", {"password": "mellon"}),
        ("call_OdR3s3xop0vtgkDyWRMLafuH", {"password": "radiance"}),
    ]
    assert assemble(events_of("parallel_tools.2")).text.endswith(
        "- **radiance**: Life before Death"
    )


def test_reasoning_item_keeps_its_id_and_final_encrypted_content() -> None:
    events = events_of("reasoning_tool_chain.1")
    reasoning, call = assemble(events).parts
    assert isinstance(reasoning, Reasoning) and isinstance(call, ToolCall)
    summary = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning.text == summary
    assert summary.startswith("**Calculating step-by-step using calculator**\n\nI'll compute 12")
    assert reasoning.signature == "rs_01830d662ab3856501693c321405c88190be3ab04d5782d5f9"
    # output_item.added carried an earlier encrypted_content; the one sent back is done's.
    done = next(
        json.loads(line[6:])
        for line in fixture(f"{DIR}/reasoning_tool_chain.1.sse").decode().splitlines()
        if line.startswith("data: ") and '"response.output_item.done"' in line
    )["item"]["encrypted_content"]
    assert reasoning.encrypted_content == done and done.startswith("gAAAAABpPDIVOKrs")
    assert call.arguments == '{"a":12,"b":7,"op":"add"}'


def test_error_event_is_rejected() -> None:
    with pytest.raises(ProviderError) as raised:
        events_of("error_event")
    assert raised.value.code is ErrorCode.PROVIDER_REJECTED
    assert raised.value.message.startswith(
        "openai: error in stream (insufficient_quota): You exceeded your current quota"
    )


def lines(*events: dict[str, Any]) -> list[Any]:
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()
    interpreter = ResponsesInterpreter("openai")
    decoder = SSEDecoder()
    return [x for f in decoder.feed(body) + decoder.flush() for x in interpreter.feed(f)] + (
        interpreter.finish()
    )


def test_refusal_incomplete_failed_and_truncated() -> None:
    refusal = lines(
        {"type": "response.refusal.delta", "output_index": 0, "delta": "I can't."},
        {"type": "response.completed", "response": {"id": "r", "status": "completed"}},
    )
    assert refusal[0] == TextDelta("I can't.")
    assert refusal[-1].finish_reason is FinishReason.CONTENT_FILTER
    incomplete = {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    cut = lines({"type": "response.incomplete", "response": {"id": "r", **incomplete}})
    assert cut[-1].finish_reason is FinishReason.LENGTH
    failed = {"status": "failed", "error": {"code": "server_error", "message": "boom"}}
    with pytest.raises(ProviderError) as raised:
        lines({"type": "response.failed", "response": failed})
    assert raised.value.retryable and raised.value.message == (
        "openai: error in stream (server_error): boom"
    )
    # The API reference puts `code` and `message` at the top level of the `error` event.
    top = {"type": "error", "code": "invalid_prompt", "message": "bad", "param": None}
    with pytest.raises(ProviderError) as flat:
        lines(top)
    assert not flat.value.retryable and flat.value.message == (
        "openai: error in stream (invalid_prompt): bad"
    )
    with pytest.raises(ProviderError, match=r"ended before response\.completed") as truncated:
        lines({"type": "response.output_text.delta", "output_index": 0, "delta": "x"})
    assert truncated.value.retryable


def test_summary_parts_are_joined_with_a_blank_line() -> None:
    events = lines(
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning"}},
        {"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "One."},
        {"type": "response.reasoning_summary_part.added", "output_index": 0, "summary_index": 1},
        {"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "Two."},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_1", "encrypted_content": "enc"},
        },
        {"type": "response.completed", "response": {"id": "r", "status": "completed"}},
    )
    assert assemble(events).parts == [Reasoning("One.\n\nTwo.", "rs_1", "enc")]


# ---------------------------------------------------------------- the requests it builds

FIRST_TURNS = {  # recording -> provider `store` setting its client used
    "text": False,
    "tool_round_trip.1": False,
    "parallel_tools.1": True,
    "http_error_400": True,
}


@pytest.mark.parametrize("name", sorted(FIRST_TURNS))
def test_first_request_matches_the_recorded_one(name: str) -> None:
    recorded = recorded_request(name)
    ours = responses_body(first_request(recorded), store=FIRST_TURNS[name])
    assert normalized(ours) == normalized(recorded)


@pytest.mark.parametrize(
    ("name", "outputs", "store"),
    [
        ("tool_round_trip", ["2869461"], False),
        ("parallel_tools", ["Welcome to Moria!", "Life before Death"], True),
    ],
)
def test_next_turn_request_matches_the_recorded_one(
    name: str, outputs: list[str], store: bool
) -> None:
    first = first_request(recorded_request(f"{name}.1"))
    message = assemble(events_of(f"{name}.1"))
    results = [
        ToolResult(c.id, out, name=c.name, call_id=c.call_id)
        for c, out in zip(message.tool_calls, outputs, strict=True)
    ]
    history = [*first.messages, message, Message(Role.USER, list(results))]
    ours = responses_body(
        ModelRequest(first.model, history, first.preamble, first.tools, extra=first.extra),
        store=store,
    )
    recorded = recorded_request(f"{name}.2")
    # The recorded client of tool_round_trip left the call's item id out; we send it back.
    for item in recorded["input"]:
        if item.get("type") == "function_call" and "id" not in item:
            item["id"] = next(c.call_id for c in message.tool_calls if c.id == item["call_id"])
    assert normalized(ours) == normalized(recorded)


def test_reasoning_goes_back_unchanged_across_the_whole_tool_chain() -> None:
    history = [Message.user("Compute (12 + 7) * 3 * 10 with the calculator.")]
    answers = iter(["19", "57", "570"])
    bodies = []
    for turn in range(1, 5):
        bodies.append(responses_body(ModelRequest("gpt-5.1-codex-max", list(history))))
        message = assemble(events_of(f"reasoning_tool_chain.{turn}"))
        history.append(message)
        if message.tool_calls:
            (call,) = message.tool_calls
            history.append(Message(Role.USER, [ToolResult(call.id, next(answers))]))
    assert history[-1].text == "The final result is **570**."
    reasoning = history[1].parts[0]
    assert isinstance(reasoning, Reasoning)
    item = {
        "type": "reasoning",
        "id": reasoning.signature,
        "summary": [{"type": "summary_text", "text": reasoning.text}],
        "encrypted_content": reasoning.encrypted_content,
    }
    for body in bodies[1:]:  # every later turn carries it, right before the call it led to
        assert body["include"] == ["reasoning.encrypted_content"] and body["store"] is False
        assert body["input"][1] == item
        assert body["input"][2]["type"] == "function_call"
        assert body["input"][2]["call_id"] == "call_AB6AaRZ1FYZB2RwS6A5vbdqn"
        assert body["input"][3] == {
            "type": "function_call_output",
            "call_id": "call_AB6AaRZ1FYZB2RwS6A5vbdqn",
            "output": "19",
        }
    assert len(bodies[3]["input"]) == 1 + 3 + 2 + 2


def test_request_options() -> None:
    request = ModelRequest(
        "gpt-5",
        [Message(Role.ASSISTANT, [Reasoning("from another provider", "sig"), Text("Hi")])],
        tools=[ToolSpec("f", "d", {"type": "object"})],
        temperature=0.5,
        max_tokens=99,
        tool_choice=ToolChoice(ToolChoiceMode.TOOL, "f"),
        extra={"stream": False, "input": [], "truncation": "auto"},
    )
    body = responses_body(request, strict_tools=True)
    assert body["input"] == [{"role": "assistant", "content": "Hi"}]  # nothing to send back
    assert body["tools"][0]["strict"] is True
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    assert (body["temperature"], body["max_output_tokens"], body["truncation"]) == (0.5, 99, "auto")
    assert body["stream"] is True
    auto = responses_body(ModelRequest("m", [Message.user("x")], tools=request.tools))
    assert "tool_choice" not in auto  # the API's default


# ---------------------------------------------------------------- over loopback HTTP


@pytest.mark.parametrize(
    "cut",
    [{"chunk_size": 1}, {"seed": 3}, {"seed": 4}, {}],
    ids=["1-byte", "random-3", "random-4", "whole"],
)
@pytest.mark.parametrize("name", [s for s in STREAMS if s != "error_event"])
async def test_replayed_over_http(replay, providers, name: str, cut: Any) -> None:
    server = await replay(Reply(fixture(f"{DIR}/{name}.sse"), **cut))
    provider = providers("openai_responses", server)
    request = ModelRequest("gpt-5", [Message.user("hi")])
    events = [event async for event in provider.stream(request)]
    assert events == events_of(name)
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/responses")
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    assert sent.json == responses_body(request)
    assert provider.open_responses == 0


async def test_error_event_over_http_is_not_retried(replay, providers) -> None:
    body = fixture(f"{DIR}/error_event.sse")
    server = await replay(Reply(body, chunk_size=1), Reply(body))
    with pytest.raises(ProviderError) as raised:
        _ = [e async for e in providers("openai_responses", server).stream(ModelRequest("m", []))]
    assert raised.value.code is ErrorCode.PROVIDER_REJECTED and len(server.requests) == 1


async def test_http_400_names_the_model(replay, providers) -> None:
    body = fixture(f"{DIR}/http_error_400.sse")
    server = await replay(Reply(body, status=int(fixture(f"{DIR}/http_error_400.status"))))
    request = first_request(recorded_request("http_error_400"))
    with pytest.raises(ProviderError) as raised:
        _ = [e async for e in providers("openai_responses", server, store=True).stream(request)]
    assert raised.value.message == (
        "openai_responses: HTTP 400: The requested model 'this-model-does-not-exist-12345' "
        "does not exist. (invalid_request_error)"
    )
    assert not raised.value.retryable and len(server.requests) == 1
    assert server.requests[0].json == responses_body(request, store=True)


async def test_previous_response_id_sends_only_what_is_new(replay, providers) -> None:
    turn_1 = fixture(f"{DIR}/tool_round_trip.1.sse")
    turn_2 = fixture(f"{DIR}/tool_round_trip.2.sse")
    server = await replay(Reply(turn_1, seed=1), Reply(turn_2, seed=2), Reply(turn_2))
    provider = providers("openai_responses", server, store=True, previous_response_id=True)
    first = first_request(recorded_request("tool_round_trip.1"))
    events = [e async for e in provider.stream(first)]
    message = assemble(events)
    (call,) = message.tool_calls
    history = [*first.messages, message, Message(Role.USER, [ToolResult(call.id, "2869461")])]
    second = ModelRequest(first.model, history, tools=first.tools)
    _ = [e async for e in provider.stream(second)]
    sent_1, sent_2 = (r.json for r in server.requests)
    assert "previous_response_id" not in sent_1 and "store" not in sent_1
    assert sent_2["previous_response_id"] == events[-1].response_id
    assert sent_2["input"] == [
        {"type": "function_call_output", "call_id": call.id, "output": "2869461"}
    ]
    # A history the caller changed is not the stored conversation: it is sent whole.
    edited = [Message.user("something else"), *history[1:]]
    _ = [e async for e in provider.stream(ModelRequest(first.model, edited))]
    assert "previous_response_id" not in server.requests[2].json
    assert len(server.requests[2].json["input"]) == 3


def test_chaining_without_store_is_a_config_error() -> None:
    from agentstream_server.config import ConfigError, parse_config

    provider = {"type": "openai_responses", "previous_response_id": True}
    config = {
        "providers": {"r": provider},
        "agents": [{"name": "a", "provider": "r", "model": "m"}],
    }
    with pytest.raises(ConfigError, match="previous_response_id: needs store: true"):
        parse_config(config)
