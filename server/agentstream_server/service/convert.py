"""Protobuf <-> core conversion. Request checks here name the offending field."""

from __future__ import annotations

import re
from typing import Any

from agentstream.v1 import agent_pb2 as pb
from google.protobuf import json_format

from ..agents import PromptRequest
from ..core.errors import ErrorCode, InvalidRequest, quote
from ..core.events import FinishReason
from ..core.messages import Message, Part, Reasoning, Role, Text, ToolCall, ToolResult, Usage
from ..core.model import ToolChoice, ToolChoiceMode, ToolSpec
from ..core.tools import Tool, ToolSource
from ..tools.mcp_servers import McpState, McpStatus

MAX_TURNS_LIMIT = 1000
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")

_ROLES = {pb.ROLE_USER: Role.USER, pb.ROLE_ASSISTANT: Role.ASSISTANT}
_ROLES_PB = {v: k for k, v in _ROLES.items()}
_TOOL_CHOICE = {
    pb.TOOL_CHOICE_MODE_UNSPECIFIED: ToolChoiceMode.AUTO,
    pb.TOOL_CHOICE_MODE_AUTO: ToolChoiceMode.AUTO,
    pb.TOOL_CHOICE_MODE_NONE: ToolChoiceMode.NONE,
    pb.TOOL_CHOICE_MODE_REQUIRED: ToolChoiceMode.REQUIRED,
    pb.TOOL_CHOICE_MODE_TOOL: ToolChoiceMode.TOOL,
}
FINISH_REASONS_PB = {
    FinishReason.UNSPECIFIED: pb.FINISH_REASON_UNSPECIFIED,
    FinishReason.STOP: pb.FINISH_REASON_STOP,
    FinishReason.TOOL_CALLS: pb.FINISH_REASON_TOOL_CALLS,
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.CONTENT_FILTER: pb.FINISH_REASON_CONTENT_FILTER,
    FinishReason.OTHER: pb.FINISH_REASON_OTHER,
}
_TOOL_SOURCES_PB = {
    ToolSource.BUILTIN: pb.TOOL_SOURCE_BUILTIN,
    ToolSource.PYTHON: pb.TOOL_SOURCE_PYTHON,
    ToolSource.MCP: pb.TOOL_SOURCE_MCP,
    ToolSource.CLIENT: pb.TOOL_SOURCE_CLIENT,
}
_MCP_STATES_PB = {
    McpState.STARTING: pb.MCP_SERVER_STATE_STARTING,
    McpState.READY: pb.MCP_SERVER_STATE_READY,
    McpState.FAILED: pb.MCP_SERVER_STATE_FAILED,
}
ERROR_CODES_PB = {code: pb.ErrorCode.Value(f"ERROR_CODE_{code.name}") for code in ErrorCode}


# --- requests ---------------------------------------------------------------


def prompt_request(request: pb.StreamPromptRequest) -> PromptRequest:
    """Checks every field's shape; raises InvalidRequest naming the first bad one."""
    if request.HasField("max_turns") and not 1 <= request.max_turns <= MAX_TURNS_LIMIT:
        raise InvalidRequest("max_turns", f"must be between 1 and {MAX_TURNS_LIMIT}")
    if request.run_id:
        check_run_id(request.run_id, "run_id")
    if request.HasField("temperature") and not 0 <= request.temperature <= 2:
        raise InvalidRequest("temperature", "must be between 0 and 2")
    if request.HasField("max_tokens") and request.max_tokens == 0:
        raise InvalidRequest("max_tokens", "must be at least 1")
    if request.HasField("model") and not request.model:
        raise InvalidRequest("model", "must not be empty when set")
    history = [_message(m, f"history[{i}]") for i, m in enumerate(request.history)]
    _check_tool_results(history)
    return PromptRequest(
        agent=request.agent,
        prompt=request.prompt,
        history=history,
        max_turns=request.max_turns if request.HasField("max_turns") else None,
        run_id=request.run_id,
        client_tools=[_tool_spec(t, f"tools[{i}]") for i, t in enumerate(request.tools)],
        model=request.model if request.HasField("model") else None,
        preamble=request.preamble if request.HasField("preamble") else None,
        temperature=request.temperature if request.HasField("temperature") else None,
        max_tokens=request.max_tokens if request.HasField("max_tokens") else None,
        tool_choice=_tool_choice(request.tool_choice) if request.HasField("tool_choice") else None,
        extra=json_format.MessageToDict(request.extra_params),
    )


def check_run_id(run_id: str, field: str) -> None:
    if not _RUN_ID.match(run_id):
        raise InvalidRequest(field, "1-128 characters of letters, digits and _ . : -")


def _message(message: pb.Message, where: str) -> Message:
    role = _ROLES.get(message.role)
    if role is None:
        raise InvalidRequest(f"{where}.role", "must be ROLE_USER or ROLE_ASSISTANT")
    if not message.parts:
        raise InvalidRequest(f"{where}.parts", "a message needs at least one part")
    return Message(role, [_part(p, f"{where}.parts[{i}]") for i, p in enumerate(message.parts)])


def _part(part: pb.ContentPart, where: str) -> Part:
    kind = part.WhichOneof("part")
    if kind == "text":
        return Text(part.text)
    if kind == "tool_call":
        c = part.tool_call
        _require(c.id, f"{where}.tool_call.id")
        _require(c.name, f"{where}.tool_call.name")
        return ToolCall(c.id, c.name, c.arguments, c.call_id)
    if kind == "tool_result":
        r = part.tool_result
        _require(r.id, f"{where}.tool_result.id")
        return ToolResult(r.id, r.content, r.is_error, r.name, r.call_id)
    if kind == "reasoning":
        thought = part.reasoning
        return Reasoning(thought.text, thought.signature, thought.encrypted_content)
    raise InvalidRequest(where, "set one of text, tool_call, tool_result, reasoning")


def _check_tool_results(history: list[Message]) -> None:
    """Every tool result answers a call made earlier: providers refuse orphans, and the
    caller is better told which one than handed a provider's error."""
    calls: set[str] = set()
    for i, message in enumerate(history):
        for j, part in enumerate(message.parts):
            if isinstance(part, ToolCall):
                calls.add(part.id)
            elif isinstance(part, ToolResult) and part.id not in calls:
                raise InvalidRequest(
                    f"history[{i}].parts[{j}].tool_result.id",
                    f"no tool call with id {quote(part.id)} earlier in the history",
                )


def _tool_spec(tool: pb.ToolDefinition, where: str) -> ToolSpec:
    if not _TOOL_NAME.match(tool.name):
        raise InvalidRequest(f"{where}.name", "1-64 characters of letters, digits, _ and -")
    parameters: dict[str, Any] = json_format.MessageToDict(tool.parameters)
    if parameters and parameters.get("type", "object") != "object":
        raise InvalidRequest(f"{where}.parameters", "must be a JSON schema of type object")
    return ToolSpec(tool.name, tool.description, parameters or {"type": "object", "properties": {}})


def _tool_choice(choice: pb.ToolChoice) -> ToolChoice:
    mode = _TOOL_CHOICE.get(choice.mode)
    if mode is None:
        raise InvalidRequest("tool_choice.mode", "unknown mode")
    if mode is ToolChoiceMode.TOOL:
        _require(choice.tool_name, "tool_choice.tool_name")
    return ToolChoice(mode, choice.tool_name)


def _require(value: str, field: str) -> None:
    if not value:
        raise InvalidRequest(field, "required")


# --- responses ----------------------------------------------------------------


def message_pb(message: Message) -> pb.Message:
    return pb.Message(role=_ROLES_PB[message.role], parts=[_part_pb(p) for p in message.parts])


def history_pb(history: list[Message]) -> list[pb.Message]:
    return [message_pb(m) for m in history]


def _part_pb(part: Part) -> pb.ContentPart:
    if isinstance(part, Text):
        return pb.ContentPart(text=part.text)
    if isinstance(part, ToolCall):
        return pb.ContentPart(tool_call=tool_call_pb(part))
    if isinstance(part, ToolResult):
        return pb.ContentPart(tool_result=tool_result_pb(part))
    return pb.ContentPart(
        reasoning=pb.Reasoning(
            text=part.text, signature=part.signature, encrypted_content=part.encrypted_content
        )
    )


def tool_call_pb(call: ToolCall) -> pb.ToolCall:
    return pb.ToolCall(id=call.id, call_id=call.call_id, name=call.name, arguments=call.arguments)


def tool_result_pb(result: ToolResult) -> pb.ToolResult:
    return pb.ToolResult(
        id=result.id,
        call_id=result.call_id,
        content=result.content,
        is_error=result.is_error,
        name=result.name,
    )


def usage_pb(usage: Usage) -> pb.Usage:
    return pb.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    )


def tool_spec_pb(spec: ToolSpec) -> pb.ToolDefinition:
    definition = pb.ToolDefinition(name=spec.name, description=spec.description)
    definition.parameters.update(spec.parameters)
    return definition


def mcp_server_pb(status: McpStatus) -> pb.McpServerInfo:
    return pb.McpServerInfo(
        name=status.name,
        transport=status.transport,
        state=_MCP_STATES_PB[status.state],
        error=status.error,
    )


def tool_pb(tool: Tool) -> pb.ToolDefinition:
    """A server tool as ListAgents shows it: with where it comes from."""
    definition = tool_spec_pb(tool.spec)
    definition.source = _TOOL_SOURCES_PB[tool.source]
    definition.origin = tool.origin
    return definition
