"""Anthropic Messages (`stream: true`).

Pure pieces first (request mapping, stream interpretation, stop-reason, usage
and error mapping), the httpx glue last. Thinking blocks travel through the
history with their signature (redacted ones as opaque data) and are sent back
unchanged: the API rejects a tool-use continuation that drops them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from ..config import AnthropicProviderConfig
from ..core.errors import ProviderError
from ..core.events import (
    FinishReason,
    ModelEvent,
    ReasoningDelta,
    ReasoningEnd,
    TextDelta,
    ToolCallDelta,
    TurnFinished,
)
from ..core.messages import Message, Reasoning, Role, Text, ToolCall, ToolResult, Usage
from ..core.model import ModelRequest, ToolChoice, ToolChoiceMode
from .errors import stream_error
from .http import HttpProvider
from .sse import SSEEvent, decode_json

# The API requires max_tokens; this is used when neither agent nor request sets it.
DEFAULT_MAX_TOKENS = 4096
PROTECTED_KEYS = frozenset({"stream", "messages"})

# ---------------------------------------------------------------- request mapping


def messages_body(request: ModelRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or default_max_tokens(request.extra),
        "messages": anthropic_messages(request.messages),
        "stream": True,
    }
    if request.preamble:
        body["system"] = request.preamble
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    body.update({k: v for k, v in request.extra.items() if k not in PROTECTED_KEYS})
    return body


def default_max_tokens(extra: dict[str, Any]) -> int:
    """The API wants `max_tokens` above a thinking `budget_tokens`; when the budget leaves
    no room under the default, the answer gets the default's room on top of the budget."""
    thinking = extra.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    if isinstance(budget, int) and not isinstance(budget, bool) and budget >= DEFAULT_MAX_TOKENS:
        return budget + DEFAULT_MAX_TOKENS
    return DEFAULT_MAX_TOKENS


def _tool_choice(choice: ToolChoice) -> dict[str, str]:
    if choice.mode is ToolChoiceMode.TOOL:
        return {"type": "tool", "name": choice.tool_name}
    if choice.mode is ToolChoiceMode.REQUIRED:
        return {"type": "any"}
    return {"type": choice.mode.value}  # "auto" or "none"


def anthropic_messages(history: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in history:
        if message.role is Role.ASSISTANT:
            content = [b for b in map(_assistant_block, message.parts) if b is not None]
        else:
            # The API wants a turn's tool results first in the user message, in call order.
            results = [_result_block(r) for r in message.tool_results]
            texts = [{"type": "text", "text": p.text} for p in message.parts if isinstance(p, Text)]
            content = results + texts
        if content:  # an empty message is rejected; it carries nothing anyway
            out.append({"role": message.role.value, "content": content})
    return out


def _assistant_block(part: object) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": _input(part)}
    if isinstance(part, Reasoning):
        if part.encrypted_content and not part.text:
            return {"type": "redacted_thinking", "data": part.encrypted_content}
        if part.signature:
            return {"type": "thinking", "thinking": part.text, "signature": part.signature}
        # Unsigned reasoning came from another provider; the API would reject it.
    return None


def _result_block(result: ToolResult) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": result.id,
        "content": result.content,
    }
    if result.is_error:
        block["is_error"] = True
    return block


def _input(call: ToolCall) -> Any:
    """`input` must be an object; arguments that are not one (the model's own broken
    JSON) are sent as `{}` rather than failing the whole continuation."""
    try:
        value = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------- stream interpretation


class _Block:
    __slots__ = ("arguments", "id", "initial_input", "kind", "name", "signature")

    def __init__(self, kind: str, block_id: str = "", name: str = "") -> None:
        self.kind = kind
        self.id = block_id
        self.name = name
        self.arguments: list[str] = []
        self.initial_input = ""  # a tool_use input given whole at the start, not streamed
        self.signature = ""


class MessagesInterpreter:
    """Messages stream events to core events, one content block at a time by `index`."""

    __slots__ = ("_blocks", "_done", "_finish", "_model", "_provider", "_response_id", "_usage")

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._blocks: dict[int, _Block] = {}
        self._usage: dict[str, Any] = {}
        self._finish = FinishReason.UNSPECIFIED
        self._response_id = ""
        self._model = ""
        self._done = False

    def feed(self, event: SSEEvent) -> list[ModelEvent]:
        try:
            return self._event(decode_json(event.data))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ProviderError(
                self._provider, f"malformed stream event: {event.data[:200]!r}", retryable=True
            ) from None

    def _event(self, data: Any) -> list[ModelEvent]:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "content_block_delta":  # the hot path: one per token
            return self._delta(data["index"], data["delta"])
        if kind == "content_block_start":
            return self._start(data["index"], data["content_block"])
        if kind == "content_block_stop":
            return self._stop(data["index"])
        if kind == "message_start":
            message = data["message"]
            self._response_id = str(message.get("id") or "")
            self._model = str(message.get("model") or "")
            self._usage.update(message.get("usage") or {})
        elif kind == "message_delta":
            self._finish = stop_reason(data.get("delta", {}).get("stop_reason"))
            self._usage.update(data.get("usage") or {})
        elif kind == "message_stop":
            self._done = True
            usage = messages_usage(self._usage)
            return [TurnFinished(usage, self._finish, self._response_id, self._model)]
        elif kind == "error":
            raise stream_error(self._provider, data.get("error"))
        return []  # ping, and event types added after this was written

    def finish(self) -> list[ModelEvent]:
        if not self._done:
            raise ProviderError(
                self._provider, "the response stream ended before message_stop", retryable=True
            )
        return []

    def _start(self, index: int, block: dict[str, Any]) -> list[ModelEvent]:
        kind = block.get("type", "")
        if kind == "redacted_thinking":
            return [ReasoningEnd(encrypted_content=str(block.get("data", "")))]
        state = _Block(kind, str(block.get("id", "")), str(block.get("name", "")))
        state.signature = str(block.get("signature") or "")  # some hosts send it whole here
        self._blocks[index] = state
        if kind == "tool_use":
            if block.get("input"):
                state.initial_input = json.dumps(block["input"])
            return [ToolCallDelta(state.id, state.name, "")]
        if kind == "text" and block.get("text"):
            return [TextDelta(block["text"])]
        if kind == "thinking" and block.get("thinking"):
            return [ReasoningDelta(block["thinking"])]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[ModelEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(delta["text"])] if delta["text"] else []
        if kind == "thinking_delta":
            return [ReasoningDelta(delta["thinking"])] if delta["thinking"] else []
        block = self._blocks.get(index)
        if block is None:
            return []
        if kind == "input_json_delta":
            partial = delta.get("partial_json") or ""
            if partial:
                block.arguments.append(partial)
                return [ToolCallDelta(block.id, "", partial)]
        elif kind == "signature_delta":
            block.signature += delta.get("signature", "")
        return []  # citations and other deltas carry nothing the loop keeps

    def _stop(self, index: int) -> list[ModelEvent]:
        block = self._blocks.pop(index, None)
        if block is None:
            return []
        if block.kind == "thinking":
            return [ReasoningEnd(signature=block.signature)]
        if block.kind == "tool_use":
            arguments = "".join(block.arguments) or block.initial_input or "{}"
            return [ToolCall(block.id, block.name, arguments)]
        return []


# ---------------------------------------------------------------- stop reason, usage, errors

_STOP_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "tool_use": FinishReason.TOOL_CALLS,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "refusal": FinishReason.CONTENT_FILTER,
}


def stop_reason(reason: str | None) -> FinishReason:
    if reason is None:
        return FinishReason.UNSPECIFIED
    return _STOP_REASONS.get(reason, FinishReason.OTHER)


def messages_usage(usage: dict[str, Any]) -> Usage:
    """`input_tokens` counts all input, cached or not, as Chat Completions does, so the
    figure means the same for every provider; the cache split stays in its own fields."""
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    cache_creation = int(usage.get("cache_creation_input_tokens") or 0)
    input_tokens = int(usage.get("input_tokens") or 0) + cache_read + cache_creation
    output_tokens = int(usage.get("output_tokens") or 0)  # thinking included
    details = usage.get("output_tokens_details") or {}
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation,
        reasoning_tokens=int(details.get("thinking_tokens") or 0),
    )


# ---------------------------------------------------------------- httpx glue


class AnthropicMessagesProvider(HttpProvider):
    def __init__(self, name: str, config: AnthropicProviderConfig) -> None:
        super().__init__(name, config)
        self._api_version = config.api_version

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": self._api_version}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        return self.post_stream(
            "v1/messages", messages_body(request), lambda: MessagesInterpreter(self.name)
        )
