"""Arguments checked against the tool's JSON schema before any tool runs, over real gRPC."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.tools import tool

from .helpers import collect, script
from .hooks_client import HookStream, output

NEEDS_CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
    "additionalProperties": False,
}
CONFIG = {
    "agents": [{"name": "a", "provider": "offline", "model": "m", "tools": ["weather"]}],
    "server": {"hooks_attach_timeout_ms": 5000},
}


class Weather:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

        @tool("weather", "weather of a city", NEEDS_CITY)
        async def weather(arguments: dict[str, Any]) -> str:
            self.calls.append(arguments)
            return f"sunny in {arguments['city']}"

        self.tool = weather


@pytest.fixture
async def server(start_server):
    weather = Weather()
    running = await start_server(CONFIG, tools={"weather": weather.tool})
    running.weather = weather
    return running


def raw_call(name: str, arguments: str, id: str) -> dict[str, Any]:
    # The offline model sends `arguments` as given when it is a string: lets the test send
    # text that is not JSON at all.
    return {"tool_call": {"name": name, "arguments": arguments, "id": id}}


def prompt(*calls: dict[str, Any], **fields: Any) -> pb.StreamPromptRequest:
    return pb.StreamPromptRequest(
        prompt="go", extra_params=script(list(calls), [{"text": "ok"}]), **fields
    )


async def test_a_server_tool_never_sees_invalid_arguments(server):
    result = await collect(
        server.stub,
        prompt(
            raw_call("weather", '{"days": 0, "x": 1}', "c1"),
            {"tool_call": {"name": "weather", "arguments": {"city": 7}, "id": "c2"}},
            raw_call("weather", "{not json", "c3"),
            {"tool_call": {"name": "weather", "arguments": {"city": "Oslo"}, "id": "c4"}},
        ),
    )
    assert result.code == grpc.StatusCode.OK
    results = {r.id: r for r in result.of("tool_result")}
    assert results["c1"].is_error
    assert results["c1"].content == (
        "tool 'weather' not run: arguments break the tool's schema: "
        "$: 'city' is a required property; "
        "$: Additional properties are not allowed ('x' was unexpected); "
        "$.days: 0 is less than the minimum of 1"
    )
    assert results["c2"].is_error and "$.city: 7.0 is not of type 'string'" in results["c2"].content
    assert results["c3"].is_error and "arguments are not valid JSON" in results["c3"].content
    assert not results["c4"].is_error and results["c4"].content == "sunny in Oslo"
    assert server.weather.calls == [{"city": "Oslo"}]


async def test_a_client_tool_never_sees_invalid_arguments(server):
    lookup = pb.ToolDefinition(name="lookup", description="look up an order")
    lookup.parameters.update(
        {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}
    )
    hooks = HookStream(server.stub)
    attach = asyncio.create_task(hooks.attach("args-1"))
    run = asyncio.create_task(
        collect(
            server.stub,
            prompt(
                {"tool_call": {"name": "lookup", "arguments": {"order": 7}, "id": "bad"}},
                {"tool_call": {"name": "lookup", "arguments": {"order": "A-7"}, "id": "good"}},
                run_id="args-1",
                tools=[lookup],
            ),
        )
    )
    await attach
    event = await hooks.event("tool_call")
    assert event.tool_call.call_id == "good"  # the invalid call never reaches the client
    await hooks.reply(event.event_id, **output("in Lyon"))
    result = await run
    bad, good = (
        result.of("tool_result")[0:2]
        if result.of("tool_result")[0].id == "bad"
        else (
            result.of("tool_result")[1],
            result.of("tool_result")[0],
        )
    )
    assert bad.is_error and "$.order: 7.0 is not of type 'string'" in bad.content
    assert good.content == "in Lyon"


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (
            {"type": "object", "properties": {"order": {"type": "strin"}}},
            "tools[0].parameters: tool 'lookup': not a valid JSON Schema: "
            "$.properties.order.type: 'strin' is not valid",
        ),
        (
            {"type": "object", "required": "order"},
            "tools[0].parameters: tool 'lookup': not a valid JSON Schema: $.required: "
            "'order' is not of type 'array'",
        ),
    ],
)
async def test_an_invalid_client_tool_schema_is_invalid_argument(server, schema, problem):
    lookup = pb.ToolDefinition(name="lookup", description="look up an order")
    lookup.parameters.update(schema)
    result = await collect(server.stub, prompt({"text": "hi"}, tools=[lookup]))
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT
    assert result.details.startswith(problem)
    assert result.last.error.code == pb.ERROR_CODE_INVALID_ARGUMENT
