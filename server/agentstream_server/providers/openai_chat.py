"""OpenAI Chat Completions (`stream: true`), and the servers that speak it.

Pure pieces first (request mapping, stream interpretation, finish-reason and
usage mapping), the httpx glue last. vLLM, Ollama, Groq, OpenRouter and the like
are configuration (base_url, headers), not code: the interpreter tolerates the
quirks they are known for.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from ..config import OpenAIProviderConfig
from ..core.errors import InvalidRequest, ProviderError
from ..core.events import (
    FinishReason,
    ModelEvent,
    ReasoningDelta,
    ReasoningEnd,
    TextDelta,
    ToolCallDelta,
    TurnFinished,
)
from ..core.messages import Message, Reasoning, Role, Text, ToolCall, Usage
from ..core.model import ModelRequest, ToolChoice, ToolChoiceMode
from .errors import stream_error
from .http import HttpProvider
from .sse import SSEEvent, decode_json

# Keys of the body that request.extra may not replace: the adapter depends on them.
PROTECTED_KEYS = frozenset({"stream", "messages"})

# OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...) reject `max_tokens`; the name may
# carry a router's prefix (`openai/o3`).
_REASONING_MODEL = re.compile(r"(^|/)(o\d|gpt-5)")

# ---------------------------------------------------------------- request mapping


def max_tokens_field(model: str, setting: str = "auto") -> str:
    """The body field that limits the answer: `max_completion_tokens` for OpenAI's reasoning
    models, `max_tokens` for the rest (compatible servers often know only that one)."""
    if setting != "auto":
        return setting
    return "max_completion_tokens" if _REASONING_MODEL.search(model) else "max_tokens"


def chat_body(request: ModelRequest, max_tokens_setting: str = "auto") -> dict[str, Any]:
    choices = request.extra.get("n")
    if choices is not None and choices != 1:
        raise InvalidRequest(
            "extra_params.n", f"must be 1 (one answer per turn is read), got {choices!r}"
        )
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
        body[max_tokens_field(request.model, max_tokens_setting)] = request.max_tokens
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
    # Plain reasoning is not sent back: Chat Completions has no field for it on input.
    # Hosts that return `reasoning_details` (OpenRouter) want them back as they came.
    calls = message.tool_calls
    text = message.text
    out: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    details = [
        detail
        for part in message.parts
        if isinstance(part, Reasoning)
        for detail in reasoning_details(part)
    ]
    if details:
        out["reasoning_details"] = details
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
        "_details",
        "_done",
        "_finish",
        "_model",
        "_provider",
        "_refused",
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
        self._refused = False
        # OpenRouter `reasoning_details`, merged by index until the reasoning is over.
        self._details: dict[int, dict[str, Any]] = {}

    def feed(self, event: SSEEvent) -> list[ModelEvent]:
        data = event.data
        if self._done:
            return []
        if data == "[DONE]":
            self._done = True
            return self._end()
        try:
            chunk = decode_json(data)
            if chunk.get("error"):
                raise stream_error(self._provider, _with_status(chunk))
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
        details = delta.get("reasoning_details")
        if details:
            self._merge_details(details)
        content = delta.get("content")
        # A refusal is the model's answer, so it is text; the finish reason tells it apart.
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            self._refused = True
            content = (content or "") + refusal
        fragments = delta.get("tool_calls")
        reason = choice.get("finish_reason")
        if self._details and (content or fragments or reason):
            events.append(self._end_details())
        if content:
            events.append(TextDelta(content))
        if fragments:
            events.extend(self._fragments(fragments))
        if reason:
            self._finish = finish_reason(reason)
            events.extend(self._complete_calls())
        return events

    def _merge_details(self, details: list[Any]) -> None:
        """Streamed details arrive in pieces per `index`: text fields are appended, the
        rest (type, id, format, signature, data) taken as given."""
        for position, detail in enumerate(details):
            if not isinstance(detail, dict):
                continue
            index = detail.get("index", position)
            merged = self._details.setdefault(index, {})
            for key, value in detail.items():
                if key in ("text", "summary") and isinstance(value, str):
                    merged[key] = merged.get(key, "") + value
                elif value is not None:
                    merged[key] = value

    def _end_details(self) -> ReasoningEnd:
        details = [self._details[i] for i in sorted(self._details)]
        self._details = {}
        return ReasoningEnd(encrypted_content=DETAILS_PREFIX + json.dumps(details))

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
        events: list[ModelEvent] = [self._end_details()] if self._details else []
        events += self._complete_calls()  # a server that never sent a finish reason
        finish = self._finish
        if finish is None or (finish is FinishReason.STOP and self._called):
            finish = FinishReason.TOOL_CALLS if self._called else FinishReason.STOP
        if self._refused and finish is FinishReason.STOP:
            finish = FinishReason.CONTENT_FILTER
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


def _with_status(chunk: dict[str, Any]) -> Any:
    """The error object, with the chunk's own `status_code` (Groq puts it beside `error`)."""
    error = chunk["error"]
    if isinstance(error, dict) and "status_code" in chunk and "status_code" not in error:
        return {**error, "status_code": chunk["status_code"]}
    return error


# `reasoning_details` ride in `Reasoning.encrypted_content` as JSON behind this marker,
# so they go back to the host that sent them and nowhere else.
DETAILS_PREFIX = "openai-chat.reasoning_details:"


def reasoning_details(part: Reasoning) -> list[Any]:
    if not part.encrypted_content.startswith(DETAILS_PREFIX):
        return []
    try:
        details = json.loads(part.encrypted_content.removeprefix(DETAILS_PREFIX))
    except ValueError:
        return []
    return details if isinstance(details, list) else []


# ---------------------------------------------------------------- httpx glue


class OpenAIChatProvider(HttpProvider):
    def __init__(self, name: str, config: OpenAIProviderConfig) -> None:
        super().__init__(name, config)
        self._max_tokens_field = config.max_tokens_field

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        return self.post_stream(
            "chat/completions",
            chat_body(request, self._max_tokens_field),
            lambda: ChatInterpreter(self.name),
        )
