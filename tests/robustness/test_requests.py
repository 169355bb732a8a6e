"""Bad StreamPrompt requests, as a table: each gets the right status, a message naming the
field or limit (short, whatever the input's size), and the server stays well."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from google.protobuf import struct_pb2

from ..helpers import collect, script
from .conftest import assert_healthy

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION  # the (offline) provider refused it


@dataclass(frozen=True)
class Case:
    name: str
    request: Callable[[], pb.StreamPromptRequest]
    code: grpc.StatusCode
    names: str  # the field or limit the status message must start with or mention


def _req(**fields: object) -> Callable[[], pb.StreamPromptRequest]:
    def build() -> pb.StreamPromptRequest:
        base = {"agent": "a", "prompt": "hi", "extra_params": script([{"text": "ok"}])}
        return pb.StreamPromptRequest(**{**base, **fields})

    return build


def _text(role: int, text: str) -> pb.Message:
    return pb.Message(role=role, parts=[pb.ContentPart(text=text)])


USER, ASSISTANT = pb.ROLE_USER, pb.ROLE_ASSISTANT


def _tool(name: str = "t", **schema: object) -> pb.ToolDefinition:
    tool = pb.ToolDefinition(name=name, description="d")
    tool.parameters.update({"type": "object", **schema})
    return tool


def _extra(value: object) -> struct_pb2.Struct:
    extra = struct_pb2.Struct()
    extra.update({"x": value})
    return extra


def _script(value: object) -> struct_pb2.Struct:
    extra = struct_pb2.Struct()
    extra.update({"script": value})
    return extra


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _orphan_result() -> list[pb.Message]:
    result = pb.ContentPart(tool_result=pb.ToolResult(id="nobody", content="42"))
    return [_text(USER, "q"), pb.Message(role=USER, parts=[result])]


CASES = [
    # Limits, each named in the status.
    Case("prompt over its limit", _req(prompt="p" * 1001), INVALID, "limits.max_prompt_bytes"),
    Case(
        "prompt of multi-byte characters over its limit",
        _req(prompt="\u00e9" * 501),
        INVALID,
        "limits.max_prompt_bytes",
    ),
    Case(
        "too many history messages",
        _req(history=[_text(USER, "h")] * 21),
        INVALID,
        "limits.max_history_messages",
    ),
    Case(
        "history over its byte limit",
        _req(history=[_text(USER, "h" * 1000)] * 5),
        INVALID,
        "limits.max_history_bytes",
    ),
    Case(
        "too many client tools",
        _req(tools=[_tool(f"t{i}") for i in range(4)]),
        INVALID,
        "limits.max_client_tools",
    ),
    Case(
        "tool schema over its limit",
        _req(tools=[_tool(description="d" * 600)]),
        INVALID,
        "limits.max_tool_schema_bytes",
    ),
    Case(
        "extra_params over its byte limit",
        _req(extra_params=_extra("x" * 9000)),
        INVALID,
        "limits.max_extra_params_bytes",
    ),
    Case(
        "extra_params nested too deep",
        _req(extra_params=_extra(_nested(7))),
        INVALID,
        "limits.max_extra_params_depth",
    ),
    Case(
        "extra_params list nested too deep",
        _req(extra_params=_extra([[[[[[1]]]]]])),
        INVALID,
        "limits.max_extra_params_depth",
    ),
    # Fields checked for shape.
    Case(
        "duplicate client tool names",
        _req(tools=[_tool("t"), _tool("t")]),
        INVALID,
        "tools[1].name",
    ),
    Case(
        "client tool named like a server tool",
        _req(tools=[_tool("calculator")]),
        INVALID,
        "tools[0].name",
    ),
    Case("client tool name with spaces", _req(tools=[_tool("a b")]), INVALID, "tools[0].name"),
    Case(
        "client tool schema not an object",
        _req(tools=[_tool(type="string")]),
        INVALID,
        "tools[0].parameters",
    ),
    Case(
        "client tool schema with properties not an object",
        _req(tools=[_tool(properties="bad")]),
        INVALID,
        "tools[0].parameters",
    ),
    Case(
        "client tool schema with required not a list",
        _req(tools=[_tool(required=5)]),
        INVALID,
        "tools[0].parameters",
    ),
    Case(
        "client tool schema with a property not an object",
        _req(tools=[_tool(properties={"p": 5})]),
        INVALID,
        "tools[0].parameters",
    ),
    Case("max_turns of zero", _req(max_turns=0), INVALID, "max_turns"),
    Case("temperature out of range", _req(temperature=3), INVALID, "temperature"),
    Case("no prompt and no history", _req(prompt=""), INVALID, "prompt"),
    Case(
        "history message without a role",
        _req(history=[pb.Message(parts=[pb.ContentPart(text="x")])]),
        INVALID,
        "history[0].role",
    ),
    Case(
        "history message without parts",
        _req(history=[pb.Message(role=USER)]),
        INVALID,
        "history[0].parts",
    ),
    Case(
        "orphan tool result in history",
        _req(history=_orphan_result()),
        INVALID,
        "history[1].parts[0].tool_result.id",
    ),
    # The offline model's script is data like any other: bad values are the caller's.
    Case("script not a list", _req(extra_params=_script("x")), PRECONDITION, "extra_params.script"),
    Case(
        "script turn not a list",
        _req(extra_params=_script([5])),
        PRECONDITION,
        "extra_params.script",
    ),
    Case(
        "script step not an object",
        _req(extra_params=_script([[5]])),
        PRECONDITION,
        "extra_params.script",
    ),
    Case(
        "script error not an object",
        _req(extra_params=_script([[{"error": "x"}]])),
        PRECONDITION,
        "extra_params.script",
    ),
    Case(
        "script usage not an object",
        _req(extra_params=_script([[{"usage": 5}]])),
        PRECONDITION,
        "extra_params.script",
    ),
    Case(
        "script usage not a number",
        _req(extra_params=_script([[{"usage": {"input_tokens": "x"}}]])),
        PRECONDITION,
        "extra_params.script",
    ),
    Case(
        "script unknown finish reason",
        _req(extra_params=_script([[{"finish_reason": "odd"}]])),
        PRECONDITION,
        "extra_params.script",
    ),
    Case(
        "script tool call without a name",
        _req(extra_params=_script([[{"tool_call": {}}]])),
        PRECONDITION,
        "extra_params.script",
    ),
    Case(
        "script tool call not an object",
        _req(extra_params=_script([[{"tool_call": 5}]])),
        PRECONDITION,
        "extra_params.script",
    ),
    Case(
        "script delay not a number",
        _req(extra_params=_script([[{"delay_ms": "x"}]])),
        PRECONDITION,
        "extra_params.script",
    ),
    # Identifiers: quoted short, whatever their size.
    Case("agent name of 20 KB", _req(agent="n" * 20_000), grpc.StatusCode.NOT_FOUND, "agent:"),
    Case("run id of 20 KB", _req(run_id="r" * 20_000), INVALID, "run_id:"),
    Case("run id of 10 KB", _req(run_id="r" * 10_000), INVALID, "run_id:"),
    Case("run id with a slash", _req(run_id="a/b"), INVALID, "run_id:"),
    Case("run id with spaces", _req(run_id="a b"), INVALID, "run_id:"),
    Case("run id of odd unicode", _req(run_id="\uff52\uff55\uff4e\u200b"), INVALID, "run_id:"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_request(robust, case: Case) -> None:
    result = await collect(robust.stub, case.request(), timeout=20)
    assert result.code == case.code, result.details
    assert case.names in result.details
    assert len(result.details) < 1000
    assert result.last.error.message == result.details
    await assert_healthy(robust)
