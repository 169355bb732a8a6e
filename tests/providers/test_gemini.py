"""The `gemini` provider against every recorded Gemini stream: events, history, thought
signatures back on their parts, and the requests it builds compared with the recorded ones."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from agentstream_server.core.errors import ErrorCode, ProviderError
from agentstream_server.core.events import FinishReason, TextDelta, TurnFinished
from agentstream_server.core.messages import Message, Reasoning, Role, Text, ToolResult
from agentstream_server.core.messages import Usage as U
from agentstream_server.core.model import ModelRequest, ToolChoice, ToolChoiceMode, ToolSpec
from agentstream_server.providers.gemini import (
    GeminiInterpreter,
    gemini_body,
    gemini_schema,
    retry_delay,
)
from agentstream_server.providers.sse import SSEDecoder

from .replay import FIXTURES, Reply, assemble, fixture, interpret

DIR = "gemini"
STREAMS = sorted(
    p.stem
    for p in (FIXTURES / DIR).glob("*.sse")
    if (FIXTURES / DIR / f"{p.stem}.status").read_text().strip() == "200"
)


def events_of(name: str) -> list[Any]:
    return interpret(GeminiInterpreter("gemini"), f"{DIR}/{name}.sse")


def recorded(name: str) -> dict[str, Any]:
    request: dict[str, Any] = json.loads(fixture(f"{DIR}/{name}.request.json"))
    return request


def json_schema(schema: Any) -> Any:
    """The JSON schema a caller would have written for a recorded Gemini schema."""
    if isinstance(schema, dict):
        return {k: v.lower() if k == "type" else json_schema(v) for k, v in schema.items()}
    return schema


def request_for(body: dict[str, Any], history: list[Message] | None = None) -> ModelRequest:
    """The agentstream request that a recorded first-turn body corresponds to."""
    first = body["contents"][0]["parts"][0]["text"]
    preamble = "".join(p["text"] for p in body.get("systemInstruction", {}).get("parts", []))
    tools = [
        ToolSpec(d["name"], d["description"], json_schema(d["parameters"]))
        for t in body.get("tools", [])
        for d in t["functionDeclarations"]
    ]
    generation = dict(body.get("generationConfig", {}))
    max_tokens = generation.pop("maxOutputTokens", None)
    extra = {"generationConfig": generation} if generation else {}
    messages = history or [Message.user(first)]
    return ModelRequest("m", messages, preamble, tools, max_tokens=max_tokens, extra=extra)


def normalized(body: dict[str, Any]) -> dict[str, Any]:
    """What may differ between a recorded request and ours, and why:
    - an empty `generationConfig` and the `role` of `systemInstruction` (one client sent
      them; they mean nothing) are dropped;
    - a `thoughtSignature` is compared as bytes: one recorded client decoded it and sent it
      back in the URL-safe base64 alphabet; we send the string exactly as received;
    - an empty text part without a signature (the end of a recorded turn, which that client
      echoed) carries nothing and is dropped."""
    body = json.loads(json.dumps(body))
    if body.get("generationConfig") == {}:
        del body["generationConfig"]
    body.get("systemInstruction", {}).pop("role", None)
    for content in body["contents"]:
        content["parts"] = [p for p in content["parts"] if p != {"text": ""}]
        for part in content["parts"]:
            if "thoughtSignature" in part:
                part["thoughtSignature"] = base64.urlsafe_b64decode(
                    part["thoughtSignature"].replace("+", "-").replace("/", "_")
                ).hex()
    return body


# ---------------------------------------------------------------- what each recording means


def test_text_usage_is_the_last_chunks() -> None:
    events = events_of("text")
    assert assemble(events).text.startswith("Clementine was no ordinary calico.")
    assert all(isinstance(e, TextDelta) for e in events[:-1]) and len(events) == 13
    assert events[-1] == TurnFinished(
        U(9, 527, 536), FinishReason.STOP, "jNcEavSuHfWA7_UP9-uokQs", "gemini-2.0-flash"
    )


def test_thoughts_text_and_a_final_signature() -> None:
    events = events_of("thinking")
    thought, text, signature = assemble(events).parts
    assert isinstance(thought, Reasoning) and thought.text.startswith(
        "**Defining the Narrative Parameters**"
    )
    assert (thought.signature, thought.encrypted_content) == ("", "")
    assert isinstance(text, Text) and text.text.startswith("Here is a cozy, calming bedtime story")
    assert signature == Reasoning("", signature.signature) and signature.signature.startswith(
        "EqIZ"
    )
    # output counts thoughts too (713 thought + 703 answer tokens); total as reported.
    assert events[-1].usage == U(11, 1416, 1427, reasoning_tokens=713)


def test_parallel_calls_without_ids_get_stable_ones() -> None:
    events = events_of("parallel_tools")
    calls = assemble(events).tool_calls
    assert [(c.name, json.loads(c.arguments), c.call_id) for c in calls] == [
        ("get_weather", {"location": "Boston"}, ""),
        ("get_weather", {"location": "New Delhi"}, ""),
    ]
    assert [c.id for c in calls] == [
        "call_l9cEarvcAfjC7_UPtZea-Aw_1",
        "call_l9cEarvcAfjC7_UPtZea-Aw_2",
    ]
    assert events[-1].finish_reason is FinishReason.TOOL_CALLS


def test_max_tokens() -> None:
    events = events_of("max_tokens")
    assert events[-1].finish_reason is FinishReason.LENGTH
    assert events[-1].usage == U(9, 47, 56, reasoning_tokens=32)


def chunks(*chunks: dict[str, Any]) -> list[Any]:
    body = "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()
    interpreter = GeminiInterpreter("gemini")
    decoder = SSEDecoder()
    return [x for f in decoder.feed(body) + decoder.flush() for x in interpreter.feed(f)] + (
        interpreter.finish()
    )


def candidate(parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    return {"candidates": [{**c, "finishReason": finish} if finish else c]}


def test_finish_reasons_and_turns_that_produced_nothing() -> None:
    filtered = chunks(candidate([{"text": "Partly"}], "SAFETY"))
    assert filtered[-1].finish_reason is FinishReason.CONTENT_FILTER
    with pytest.raises(ProviderError) as blocked:
        chunks(candidate([], "SAFETY"))
    assert blocked.value.code is ErrorCode.PROVIDER_REJECTED
    assert blocked.value.message == "gemini: the model produced nothing (finishReason SAFETY)"
    with pytest.raises(ProviderError) as malformed:
        chunks(candidate([{"text": "x", "thought": True}], "MALFORMED_FUNCTION_CALL"))
    assert malformed.value.retryable
    with pytest.raises(ProviderError, match=r"the prompt was blocked \(PROHIBITED_CONTENT\)"):
        chunks({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    with pytest.raises(ProviderError, match="ended before a finishReason") as cut:
        chunks(candidate([{"text": "x"}]))
    assert cut.value.retryable
    with pytest.raises(ProviderError) as in_stream:
        chunks({"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}})
    assert in_stream.value.retryable


def test_signatures_on_thoughts_texts_and_calls_round_trip() -> None:
    parts: list[dict[str, Any]] = [
        {"text": "Thinking.", "thought": True, "thoughtSignature": "T1"},
        {"text": "Thinking more.", "thought": True},
        {"text": "Hello", "thoughtSignature": "S1"},
        {"text": " world"},
        {"functionCall": {"name": "f", "args": {"x": 1}, "id": "c1"}, "thoughtSignature": "S2"},
        {"functionCall": {"name": "f", "args": {}, "id": "c2"}},
        {"text": "", "thoughtSignature": "S3"},
    ]
    message = assemble(chunks(candidate(parts, "STOP")))
    sent = gemini_body(ModelRequest("m", [message]))["contents"][0]["parts"]
    assert sent == [
        {"text": "Thinking.", "thought": True, "thoughtSignature": "T1"},
        {"text": "Thinking more.", "thought": True},
        {"text": "Hello world", "thoughtSignature": "S1"},  # text parts of a run are one
        {"functionCall": {"args": {"x": 1}, "name": "f", "id": "c1"}, "thoughtSignature": "S2"},
        {"functionCall": {"args": {}, "name": "f", "id": "c2"}},
        {"text": "", "thoughtSignature": "S3"},
    ]


def test_schema_subset() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "city": {"type": ["string", "null"], "description": "City", "examples": ["Oslo"]},
            "unit": {"const": "celsius"},
            "days": {"type": "array", "items": {"type": "integer", "exclusiveMinimum": 0}},
            "where": {"oneOf": [{"type": "string"}, {"type": "number"}]},
        },
        "required": ["city"],
    }
    assert gemini_schema(schema) == {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "nullable": True, "description": "City"},
            "unit": {"enum": ["celsius"]},
            "days": {"type": "ARRAY", "items": {"type": "INTEGER"}},
            "where": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]},
        },
        "required": ["city"],
    }


def test_request_options() -> None:
    tool = ToolSpec("f", "d", {"type": "object"})
    body = gemini_body(
        ModelRequest(
            "m",
            [Message.user("hi")],
            tools=[tool],
            temperature=0.3,
            max_tokens=10,
            tool_choice=ToolChoice(ToolChoiceMode.TOOL, "f"),
            extra={"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}, "contents": []},
        )
    )
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}
    }
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "maxOutputTokens": 10,
        "thinkingConfig": {"thinkingBudget": 0},
    }
    assert body["contents"] == [{"parts": [{"text": "hi"}], "role": "user"}]
    none = ModelRequest("m", [], tools=[tool], tool_choice=ToolChoice(ToolChoiceMode.NONE))
    assert gemini_body(none)["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


def test_retry_delay_from_the_429_body() -> None:
    assert retry_delay(fixture(f"{DIR}/http_error_429.sse").decode()) == 34.4
    assert retry_delay('{"error": {"details": [{"retryDelay": "soon"}]}}') is None
    assert retry_delay("not json") is None


# ---------------------------------------------------------------- the requests it builds

FIRST_TURNS = sorted(
    p.name.removesuffix(".request.json")
    for p in (FIXTURES / DIR).glob("*.request.json")
    if not p.name.endswith(".2.request.json")
)


@pytest.mark.parametrize("name", FIRST_TURNS)
def test_first_request_matches_the_recorded_one(name: str) -> None:
    body = recorded(name)["body"]
    assert normalized(gemini_body(request_for(body))) == normalized(body)


def test_next_turn_sends_the_signature_back_on_its_call() -> None:
    first = recorded("tool_round_trip.1")["body"]
    message = assemble(events_of("tool_round_trip.1"))
    (call,) = message.tool_calls
    results = Message(Role.USER, [ToolResult(call.id, "13", name=call.name)])
    request = request_for(first, [*request_for(first).messages, message, results])
    second = recorded("tool_round_trip.2")["body"]
    assert normalized(gemini_body(request)) == normalized(second)
    sent = gemini_body(request)["contents"][1]["parts"][0]
    assert sent["thoughtSignature"] == message.parts[0].signature  # the string as received


def test_parallel_responses_are_one_user_turn_with_their_ids() -> None:
    message = assemble(events_of("thinking_parallel_tools"))
    results = [ToolResult(c.id, f"{n}C", name=c.name) for n, c in enumerate(message.tool_calls)]
    history = [Message.user("Weather?"), message, Message(Role.USER, list(results))]
    contents = gemini_body(ModelRequest("m", history))["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["thoughtSignature"].startswith("EvsDCvgD")
    assert "thoughtSignature" not in contents[1]["parts"][1]
    assert contents[2]["parts"] == [
        {
            "functionResponse": {
                "name": "get_weather",
                "response": {"output": "0C"},
                "id": "dv8szvqe",
            }
        },
        {
            "functionResponse": {
                "name": "get_weather",
                "response": {"output": "1C"},
                "id": "j80tal12",
            }
        },
    ]


# ---------------------------------------------------------------- over loopback HTTP


@pytest.mark.parametrize(
    "cut",
    [{"chunk_size": 1}, {"seed": 5}, {"seed": 6}, {}],
    ids=["1-byte", "random-5", "random-6", "whole"],
)
@pytest.mark.parametrize("name", STREAMS)
async def test_replayed_over_http(replay, providers, name: str, cut: Any) -> None:
    server = await replay(Reply(fixture(f"{DIR}/{name}.sse"), **cut))
    provider = providers("gemini", server)
    request = ModelRequest("gemini-2.5-flash", [Message.user("hi")])
    events = [event async for event in provider.stream(request)]
    assert events == events_of(name)
    (sent,) = server.requests
    assert sent.method == "POST"
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert sent.headers["x-goog-api-key"] == "sk-test-123"
    assert sent.json == gemini_body(request)
    assert provider.open_responses == 0


async def test_404_is_rejected_with_google_status(replay, providers) -> None:
    # Gemini's error bodies in these recordings came as text/event-stream too.
    body = fixture(f"{DIR}/http_error_404.sse")
    server = await replay(Reply(body, status=404, headers={"content-type": "text/event-stream"}))
    request = request_for(recorded("http_error_404")["body"])
    with pytest.raises(ProviderError) as raised:
        _ = [e async for e in providers("gemini", server).stream(request)]
    assert raised.value.message.startswith(
        "gemini: HTTP 404: models/this-model-does-not-exist-12345 is not found"
    )
    assert raised.value.message.endswith("(NOT_FOUND)")
    assert raised.value.code is ErrorCode.PROVIDER_REJECTED and len(server.requests) == 1


async def test_429_waits_for_retry_delay_capped(replay, providers) -> None:
    limited = Reply(fixture(f"{DIR}/http_error_429.sse"), status=429)
    server = await replay(limited, Reply(fixture(f"{DIR}/text.sse"), seed=1))
    provider = providers("gemini", server, max_retry_delay_s=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = [e async for e in provider.stream(ModelRequest("m", [Message.user("hi")]))]
    assert loop.time() - started >= 0.3  # 34.4 s asked, capped; the base delay is 1 ms
    assert isinstance(events[-1], TurnFinished) and len(server.requests) == 2
    server = await replay(*[limited] * 2)
    with pytest.raises(ProviderError) as raised:
        _ = [
            e
            async for e in providers(
                "gemini", server, max_retries=1, max_retry_delay_s=0.01
            ).stream(ModelRequest("m", []))
        ]
    assert raised.value.code is ErrorCode.PROVIDER_UNAVAILABLE
    assert "HTTP 429: You exceeded your current quota" in raised.value.message
    assert "(RESOURCE_EXHAUSTED)" in raised.value.message


async def test_model_name_may_carry_the_models_prefix(replay, providers) -> None:
    server = await replay(Reply(fixture(f"{DIR}/text.sse")))
    request = ModelRequest("models/gemini-2.5-flash", [Message.user("hi")])
    _ = [e async for e in providers("gemini", server).stream(request)]
    assert (
        server.requests[0].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
