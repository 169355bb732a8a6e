"""Real providers end to end: gRPC client -> agentstream -> httpx -> loopback replay server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.core.tools import tool

from ..helpers import collect
from .conftest import BASE_PATHS, FAST, KEY_ENV
from .replay import ReplayServer, Reply, fixture


def config(kind: str, server: ReplayServer, tools: list[str], **settings: Any) -> dict[str, Any]:
    base_url = server.url + BASE_PATHS[kind]
    provider = {"type": kind, "base_url": base_url, "api_key_env": KEY_ENV, **FAST, **settings}
    agent = {"name": "agent", "provider": kind, "model": "m", "preamble": "Be brief."}
    return {"providers": {kind: provider}, "agents": [{**agent, "tools": tools}]}


@tool(
    "GetWeatherArgs",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
async def get_weather(arguments: dict[str, Any]) -> str:
    return f"12C in {arguments['city']}"


def text_of(sse: bytes) -> str:
    chunks = [json.loads(line[6:]) for line in sse.decode().splitlines() if line[6:7] == "{"]
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )


async def test_openai_tool_round_trip(start_server, replay, api_key) -> None:
    turn_1, turn_2 = fixture("openai_chat/single_tool.sse"), fixture("openai_chat/text.sse")
    http = await replay(Reply(turn_1, seed=11), Reply(turn_2, chunk_size=1))
    agents = await start_server(
        config("openai", http, ["GetWeatherArgs"]), tools={"GetWeatherArgs": get_weather}
    )
    result = await collect(agents.stub, pb.StreamPromptRequest(prompt="Weather in Edinburgh?"))
    assert result.code == grpc.StatusCode.OK, result.details
    (call,) = result.of("tool_call")
    (tool_result,) = result.of("tool_result")
    assert tool_result.content == "12C in Edinburgh"
    assert result.last.final_response.text == text_of(turn_2)
    first, second = (r.json for r in http.requests)
    assert first["messages"] == second["messages"][:2]
    assert second["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_c91SqDXlYFuETYv8mUHzz6pp",
                    "type": "function",
                    "function": {"name": "GetWeatherArgs", "arguments": call.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "12C in Edinburgh"},
    ]
    assert second["messages"][:2] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Edinburgh?"},
    ]
    assert http.connections == 1  # the second turn reused the kept-alive connection


async def test_anthropic_tool_round_trip_sends_thinking_back(start_server, replay, api_key) -> None:
    turn_1, turn_2 = fixture("anthropic/thinking_tool.sse"), fixture("anthropic/text.sse")
    http = await replay(Reply(turn_1, chunk_size=1), Reply(turn_2, seed=4))
    agents = await start_server(config("anthropic", http, ["calculator"]))
    result = await collect(agents.stub, pb.StreamPromptRequest(prompt="What is 6 * 7?"))
    assert result.code == grpc.StatusCode.OK, result.details
    assert [r.content for r in result.of("tool_result")] == ["42"]
    assert result.last.final_response.text == "Hello"
    first, second = (r.json for r in http.requests)
    assert first["system"] == second["system"] == "Be brief."
    assert second["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is 6 * 7?"}]},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "thinking",
                    "thinking": "I should compute 6 * 7 with the calculator.",
                    "signature": "EqQBCkgIBhABGAIiQHNpZ25hdHVyZS1mb3ItdGVzdHM=",
                },
                {"type": "text", "text": "Let me calculate."},
                {
                    "type": "tool_use",
                    "id": "toolu_01Calc",
                    "name": "calculator",
                    "input": {"expression": "6 * 7"},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01Calc", "content": "42"}],
        },
    ]
    reasoning = result.last.final_response.history[1].parts[0].reasoning
    assert reasoning.signature == "EqQBCkgIBhABGAIiQHNpZ25hdHVyZS1mb3ItdGVzdHM="


async def test_error_mid_stream_ends_the_run_with_the_history(start_server, replay, api_key):
    http = await replay(Reply(fixture("openai_chat/error_in_stream.sse"), chunk_size=3))
    agents = await start_server(config("openai", http, []))
    result = await collect(agents.stub, pb.StreamPromptRequest(prompt="hi"))
    assert result.kinds() == ["run_started", "text_delta", "text_delta", "error"]
    error = result.last.error
    assert error.code == pb.ERROR_CODE_PROVIDER_UNAVAILABLE and error.retryable
    assert error.message == "openai: error in stream (502): Upstream provider overloaded"
    assert [m.parts[0].text for m in error.history] == ["hi"]
    assert result.code == grpc.StatusCode.UNAVAILABLE


async def test_rejected_key_is_a_failed_precondition(start_server, replay, api_key) -> None:
    http = await replay(Reply(fixture("openai_chat/unauthorized.json"), status=401))
    agents = await start_server(config("openai", http, []))
    result = await collect(agents.stub, pb.StreamPromptRequest(prompt="hi"))
    assert result.last.error.code == pb.ERROR_CODE_PROVIDER_REJECTED
    assert not result.last.error.retryable
    assert result.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "openai: HTTP 401: Incorrect API key provided" in result.details


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_cancelled_run_closes_the_http_response(start_server, replay, api_key, kind):
    body = fixture("openai_chat/text.sse" if kind == "openai" else "anthropic/thinking.sse")
    http = await replay(Reply(body, chunk_size=100, stall_after=1200))
    agents = await start_server(config(kind, http, []))
    provider = agents.server.agents.providers[kind]
    call = agents.stub.StreamPrompt(pb.StreamPromptRequest(prompt="hi"))
    async for event in call:
        if event.WhichOneof("event") in ("text_delta", "reasoning_delta"):
            break
    await asyncio.wait_for(http.stalled.wait(), timeout=5)
    assert provider.open_responses == 1
    call.cancel()
    # The server side sees the connection closed; nothing is left open in the provider.
    await asyncio.wait_for(http.client_left.wait(), timeout=5)
    assert provider.open_responses == 0


async def test_more_than_one_choice_is_an_invalid_argument(start_server, replay, api_key) -> None:
    http = await replay()
    agents = await start_server(config("openai", http, []))
    extra = pb.StreamPromptRequest(prompt="hi")
    extra.extra_params.update({"n": 3})
    result = await collect(agents.stub, extra)
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT
    assert result.details == "extra_params.n: must be 1 (one answer per turn is read), got 3.0"
    assert http.requests == []


async def test_a_page_instead_of_a_stream_is_rejected_once(start_server, replay, api_key) -> None:
    page = Reply(fixture("openai_chat/proxy_login.html"), headers={"content-type": "text/html"})
    http = await replay(page, page)
    agents = await start_server(config("openai", http, []))
    result = await collect(agents.stub, pb.StreamPromptRequest(prompt="hi"))
    assert result.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "HTTP 200 with content-type 'text/html', not an event stream" in result.details
    assert len(http.requests) == 1


@tool(
    "calculator",
    "Adds or multiplies two numbers",
    {
        "type": "object",
        "properties": {
            "a": {"type": "number"},
            "b": {"type": "number"},
            "op": {"type": "string", "enum": ["add", "multiply"]},
        },
        "required": ["a", "b", "op"],
    },
)
async def calculator(arguments: dict[str, Any]) -> str:
    a, b = arguments["a"], arguments["b"]
    return str(a + b if arguments["op"] == "add" else a * b)


async def test_openai_responses_carries_encrypted_reasoning_through_a_tool_chain(
    start_server, replay, api_key
) -> None:
    turns = [fixture(f"openai_responses/reasoning_tool_chain.{n}.sse") for n in (1, 2, 3, 4)]
    http = await replay(*[Reply(body, seed=n) for n, body in enumerate(turns)])
    agents = await start_server(
        config("openai_responses", http, ["calculator"]), tools={"calculator": calculator}
    )
    request = pb.StreamPromptRequest(prompt="Compute (12 + 7) * 3 * 10 with the calculator.")
    result = await collect(agents.stub, request)
    assert result.code == grpc.StatusCode.OK, result.details
    assert [r.content for r in result.of("tool_result")] == ["19", "57", "570"]
    final = result.last.final_response
    assert final.text == "The final result is **570**." and final.turns == 4
    reasoning = final.history[1].parts[0].reasoning
    assert reasoning.signature.startswith("rs_") and reasoning.encrypted_content
    assert "".join(e.text for e in result.of("reasoning_delta")) == reasoning.text
    for sent in http.requests[1:]:
        body = sent.json
        assert body["store"] is False
        assert body["input"][2] == {
            "type": "reasoning",
            "id": reasoning.signature,
            "summary": [{"type": "summary_text", "text": reasoning.text}],
            "encrypted_content": reasoning.encrypted_content,
        }
    assert final.usage.input_tokens == 134 + 221 + 260 + 299


@tool(
    "customAdditionImplementation",
    "Perform computation on integers.",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)
async def add(arguments: dict[str, Any]) -> str:
    return str(arguments["a"] + arguments["b"])


async def test_gemini_sends_the_thought_signature_back_with_its_call(
    start_server, replay, api_key
) -> None:
    turn_1, turn_2 = (fixture(f"gemini/tool_round_trip.{n}.sse") for n in (1, 2))
    http = await replay(Reply(turn_1, chunk_size=1), Reply(turn_2, seed=9))
    agents = await start_server(
        config("gemini", http, ["customAdditionImplementation"]),
        tools={"customAdditionImplementation": add},
    )
    result = await collect(agents.stub, pb.StreamPromptRequest(prompt="What is 2 + 3?"))
    assert result.code == grpc.StatusCode.OK, result.details
    (call,) = result.of("tool_call")
    assert (call.name, json.loads(call.arguments)) == (
        "customAdditionImplementation",
        {"a": 2, "b": 3},
    )
    final = result.last.final_response
    assert json.loads(final.text)["answer"] == 13  # what the recorded model answered
    signature = final.history[1].parts[0].reasoning.signature
    assert signature.startswith("Et4FCtsF")
    first, second = (r.json for r in http.requests)
    assert http.requests[0].path == "/v1beta/models/m:streamGenerateContent?alt=sse"
    assert first["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert second["contents"][1:] == [
        {
            "parts": [
                {
                    "functionCall": {"args": {"a": 2, "b": 3}, "name": call.name},
                    "thoughtSignature": signature,
                }
            ],
            "role": "model",
        },
        {
            "parts": [{"functionResponse": {"name": call.name, "response": {"output": "5"}}}],
            "role": "user",
        },
    ]
    assert final.usage.reasoning_tokens == 153
