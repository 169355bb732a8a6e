"""OpenAI Chat Completions (`stream: true`), and the servers that speak it.

Pure pieces first (request mapping, stream interpretation, finish-reason and
usage mapping), the httpx glue last. vLLM, Ollama, Groq, OpenRouter and the like
are configuration (base_url, headers), not code: the interpreter tolerates the
quirks they are known for.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from ..config import OpenAIProviderConfig
from ..core.errors import ProviderError
from ..core.events import (
    FinishReason,
    ModelEvent,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    TurnFinished,
)
from ..core.messages import Message, Role, Text, ToolCall, Usage
from ..core.model import ModelRequest, ToolChoice, ToolChoiceMode
from .http import HttpProvider
from .sse import SSEEvent

# Keys of the body that request.extra may not replace: the adapter depends on them.
PROTECTED_KEYS = frozenset({"stream", "messages"})

# ---------------------------------------------------------------- request mapping


def chat_body(request: ModelRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": chat_messages(request.preamble, request.messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    body.update({k: v for k, v in request.extra.items() if k not in PROTECTED_KEYS})
    return body


def _tool_choice(choice: ToolChoice) -> Any:
    if choice.mode is ToolChoiceMode.TOOL:
        return {"type": "function", "function": {"name": choice.tool_name}}
    return choice.mode.value  # "auto", "none", "required" are the API's own words


def chat_messages(preamble: str, history: list[Message]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": preamble}] if preamble else []
    for message in history:
        if message.role is Role.ASSISTANT:
            messages.append(_assistant_message(message))
        else:
            messages.extend(_user_messages(message))
    return messages


def _assistant_message(message: Message) -> dict[str, Any]:
    # Reasoning is not sent back: Chat Completions has no field for it on input.
    calls = message.tool_calls
    text = message.text
    out: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments or "{}"},
            }
            for c in calls
        ]
    return out


def _user_messages(message: Message) -> list[dict[str, Any]]:
    """Tool results become `tool` messages, in call order, right after the assistant
    message that asked for them; any text of the same message follows as a user message."""
    out: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": r.id, "content": r.content} for r in message.tool_results
    ]
    texts = [p.text for p in message.parts if isinstance(p, Text)]
    if texts or not out:
        content: Any = texts[0] if len(texts) == 1 else [{"type": "text", "text": t} for t in texts]
        out.append({"role": "user", "content": content if texts else ""})
    return out


# ---------------------------------------------------------------- stream interpretation


class _PendingCall:
    __slots__ = ("arguments", "id", "index", "name")

    def __init__(self, index: int, call_id: str, name: str) -> None:
        self.index = index
        self.id = call_id
        self.name = name
        self.arguments: list[str] = []


class ChatInterpreter:
    """Chat Completions chunks to events. Tool calls are assembled from fragments by
    `index` and completed, in index order, when the finish reason (or `[DONE]`) comes."""

    __slots__ = (
        "_by_index",
        "_called",
        "_calls",
        "_done",
        "_finish",
        "_model",
        "_provider",
        "_response_id",
        "_usage",
    )

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._calls: list[_PendingCall] = []  # not yet completed
        self._by_index: dict[int, _PendingCall] = {}
        self._called = False  # any tool call this turn
        self._finish: FinishReason | None = None
        self._usage = Usage()
        self._response_id = ""
        self._model = ""
        self._done = False

    def feed(self, event: SSEEvent) -> list[ModelEvent]:
        data = event.data
        if self._done:
            return []
        if data == "[DONE]":
            self._done = True
            return self._end()
        try:
            chunk = json.loads(data)
            if chunk.get("error"):
                raise _stream_error(self._provider, chunk["error"])
            return self._chunk(chunk)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ProviderError(
                self._provider, f"malformed stream chunk: {data[:200]!r}", retryable=True
            ) from None

    def finish(self) -> list[ModelEvent]:
        if not self._done:
            raise ProviderError(
                self._provider, "the response stream ended before [DONE]", retryable=True
            )
        return []

    def _chunk(self, chunk: dict[str, Any]) -> list[ModelEvent]:
        if not self._response_id:
            self._response_id = str(chunk.get("id") or "")
            self._model = str(chunk.get("model") or "")
        usage = chunk.get("usage")
        if usage:  # usually its own chunk with `choices: []`; some servers attach it earlier
            self._usage = chat_usage(usage)
        choices = chunk.get("choices")
        if not choices:
            return []
        choice = choices[0]
        delta = choice.get("delta") or {}
        events: list[ModelEvent] = []
        # `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter, Ollama).
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if content:
            events.append(TextDelta(content))
        fragments = delta.get("tool_calls")
        if fragments:
            events.extend(self._fragments(fragments))
        reason = choice.get("finish_reason")
        if reason:
            self._finish = finish_reason(reason)
            events.extend(self._complete_calls())
        return events

    def _fragments(self, fragments: list[dict[str, Any]]) -> list[ModelEvent]:
        events: list[ModelEvent] = []
        for position, fragment in enumerate(fragments):
            index = fragment.get("index")
            if index is None:  # servers that leave it out (or null) send one call per chunk
                index = position
            function = fragment.get("function") or {}
            name = function.get("name") or ""
            call_id = fragment.get("id") or ""
            arguments = function.get("arguments") or ""  # some servers send null
            pending = self._by_index.get(index)
            # A repeated id continues the call; a new id *with a name* at a used index
            # is a new call (servers that send each whole call at index 0).
            if pending is None or (name and call_id and call_id != pending.id):
                pending = _PendingCall(index, call_id or f"call_{uuid.uuid4().hex[:24]}", name)
                self._by_index[index] = pending
                self._calls.append(pending)
                pending.arguments.append(arguments)
                events.append(ToolCallDelta(pending.id, name, arguments))
                continue
            if name and not pending.name:
                pending.name = name
            if arguments:
                pending.arguments.append(arguments)
                events.append(ToolCallDelta(pending.id, "", arguments))
        return events

    def _complete_calls(self) -> list[ModelEvent]:
        calls = sorted(self._calls, key=lambda c: c.index)  # stable: arrival order within one index
        self._called = self._called or bool(calls)
        self._calls = []
        self._by_index = {}
        return [ToolCall(c.id, c.name, "".join(c.arguments) or "{}") for c in calls]

    def _end(self) -> list[ModelEvent]:
        events = self._complete_calls()  # a server that never sent a finish reason
        finish = self._finish
        if finish is None or (finish is FinishReason.STOP and self._called):
            finish = FinishReason.TOOL_CALLS if self._called else FinishReason.STOP
        events.append(TurnFinished(self._usage, finish, self._response_id, self._model))
        return events


# ---------------------------------------------------------------- finish reason, usage, errors

_FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "length": FinishReason.LENGTH,
    "content_filter": FinishReason.CONTENT_FILTER,
}


def finish_reason(reason: str) -> FinishReason:
    return _FINISH_REASONS.get(reason, FinishReason.OTHER)


def chat_usage(usage: dict[str, Any]) -> Usage:
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    input_tokens = int(usage.get("prompt_tokens") or 0)
    output_tokens = int(usage.get("completion_tokens") or 0)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=int(usage.get("total_tokens") or input_tokens + output_tokens),
        cache_read_input_tokens=int(prompt.get("cached_tokens") or 0),
        reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
    )


def _stream_error(provider: str, error: Any) -> ProviderError:
    """An error object inside an HTTP 200 stream (routers such as OpenRouter send the
    upstream status as `code`). A client error other than 408/429 will fail again."""
    if not isinstance(error, dict):
        return ProviderError(provider, f"error in stream: {error}", retryable=True)
    code = error.get("code")
    message = str(error.get("message") or "unknown error")
    client_error = isinstance(code, int) and 400 <= code < 500 and code not in (408, 429)
    label = f" ({code})" if code else ""
    return ProviderError(provider, f"error in stream{label}: {message}", retryable=not client_error)


# ---------------------------------------------------------------- httpx glue


class OpenAIChatProvider(HttpProvider):
    def __init__(self, name: str, config: OpenAIProviderConfig) -> None:
        super().__init__(name, config)

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        return self.post_stream(
            "chat/completions", chat_body(request), lambda: ChatInterpreter(self.name)
        )
