"""Message content in the conventions' JSON form, recorded only when
`server.telemetry_content: true` (prompts and outputs are private by default)."""

from __future__ import annotations

import json
from typing import Any

from ..core.events import FinishReason
from ..core.messages import Message, Reasoning, Role, Text, ToolCall, ToolResult


def messages_json(messages: list[Message]) -> str:
    return json.dumps([_message(m) for m in messages], ensure_ascii=False)


def output_json(message: Message, finish_reason: FinishReason) -> str:
    return json.dumps(
        [{**_message(message), "finish_reason": finish_reason.value}], ensure_ascii=False
    )


def instructions_json(preamble: str) -> str:
    return json.dumps([{"type": "text", "content": preamble}], ensure_ascii=False)


def _message(message: Message) -> dict[str, Any]:
    parts = [_part(p) for p in message.parts]
    only_results = message.parts and all(isinstance(p, ToolResult) for p in message.parts)
    role = "tool" if message.role is Role.USER and only_results else message.role.value
    return {"role": role, "parts": parts}


def _part(part: object) -> dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "content": part.text}
    if isinstance(part, Reasoning):
        return {"type": "reasoning", "content": part.text}
    if isinstance(part, ToolCall):
        return {"type": "tool_call", "id": part.id, "name": part.name, "arguments": part.arguments}
    if isinstance(part, ToolResult):
        return {"type": "tool_call_response", "id": part.id, "result": part.content}
    return {"type": type(part).__name__.lower()}
