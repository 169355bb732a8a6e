"""Google Gemini, native Generative Language API
(`POST {base_url}/models/{model}:streamGenerateContent?alt=sse`, key in `x-goog-api-key`).

Pure pieces first (request mapping, schema subset, stream interpretation, finish
and usage mapping), the httpx glue last.

A `thoughtSignature` must go back on the very part it came with. In the history
it is a `Reasoning` part with a signature and no text, placed right before that
part (a function call, a text, or nothing: a final empty text part); a thought
(`thought: true`) that carried a signature keeps it on its own `Reasoning`. The
next request rebuilds the parts from that, so each signature lands where it was.
A function call without an `id` (before Gemini 3) gets one made here; `call_id`
keeps the id Gemini gave, echoed in the `functionResponse`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote as quote_path

from ..config import GeminiProviderConfig
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
from ..core.messages import Message, Part, Reasoning, Role, Text, ToolCall, ToolResult, Usage
from ..core.model import ModelRequest, ToolChoice, ToolChoiceMode
from .errors import stream_error
from .http import HttpProvider
from .sse import SSEEvent, decode_json

PROTECTED_KEYS = frozenset({"contents"})

# ---------------------------------------------------------------- request mapping


def gemini_body(request: ModelRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": gemini_contents(request.messages)}
    if request.preamble:
        body["systemInstruction"] = {"parts": [{"text": request.preamble}]}
    if request.tools:
        declarations = [
            {
                "description": t.description,
                "name": t.name,
                "parameters": gemini_schema(t.parameters),
            }
            for t in request.tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
        if request.tool_choice.mode is not ToolChoiceMode.AUTO:
            body["toolConfig"] = {"functionCallingConfig": _tool_choice(request.tool_choice)}
    generation: dict[str, Any] = {}
    if request.temperature is not None:
        generation["temperature"] = request.temperature
    if request.max_tokens is not None:
        generation["maxOutputTokens"] = request.max_tokens
    if generation:
        body["generationConfig"] = generation
    extra = {k: v for k, v in request.extra.items() if k not in PROTECTED_KEYS}
    return _merged(body, extra)


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` wins, but an object merges into ours (`generationConfig.thinkingConfig`
    beside the temperature), so one setting does not drop the others."""
    out = dict(base)
    for key, value in extra.items():
        mine = out.get(key)
        out[key] = (
            _merged(mine, value) if isinstance(mine, dict) and isinstance(value, dict) else value
        )
    return out


def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.mode is ToolChoiceMode.TOOL:
        return {"mode": "ANY", "allowedFunctionNames": [choice.tool_name]}
    return {"mode": {ToolChoiceMode.NONE: "NONE", ToolChoiceMode.REQUIRED: "ANY"}[choice.mode]}


def gemini_contents(history: list[Message]) -> list[dict[str, Any]]:
    names = {c.id: c for m in history for c in m.tool_calls}
    contents: list[dict[str, Any]] = []
    for message in history:
        if message.role is Role.ASSISTANT:
            parts = model_parts(message.parts)
        else:
            parts = [_response_part(r, names.get(r.id)) for r in message.tool_results]
            parts += [{"text": p.text} for p in message.parts if isinstance(p, Text)]
        if parts:
            contents.append(
                {"parts": parts, "role": "model" if message.role is Role.ASSISTANT else "user"}
            )
    return contents


def model_parts(parts: list[Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    signature = ""  # waiting for the part it belongs to
    for part in parts:
        if isinstance(part, Reasoning) and not part.text:
            if signature:  # two in a row: the first sat on an empty part
                out.append({"text": "", "thoughtSignature": signature})
            signature = part.signature
            continue
        wire = _model_part(part)
        if wire is None:
            continue
        if signature:
            wire["thoughtSignature"] = signature
            signature = ""
        out.append(wire)
    if signature:
        out.append({"text": "", "thoughtSignature": signature})
    return out


def _model_part(part: Part) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"text": part.text}
    if isinstance(part, ToolCall):
        call: dict[str, Any] = {"args": _args(part.arguments), "name": part.name}
        if part.call_id:
            call["id"] = part.call_id
        return {"functionCall": call}
    if isinstance(part, Reasoning):
        thought: dict[str, Any] = {"text": part.text, "thought": True}
        if part.signature:
            thought["thoughtSignature"] = part.signature
        return thought
    return None


def _response_part(result: ToolResult, call: ToolCall | None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "name": result.name or (call.name if call else ""),
        "response": {"error" if result.is_error else "output": result.content},
    }
    if call is not None and call.call_id:
        response["id"] = call.call_id
    return {"functionResponse": response}


def _args(arguments: str) -> dict[str, Any]:
    """`args` must be an object; a model's broken JSON goes back as `{}`."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# The OpenAPI subset Gemini's `Schema` accepts; everything else is dropped.
_SCHEMA_KEYS = frozenset(
    {
        "description", "enum", "format", "maxItems", "maximum", "maxLength", "maxProperties",
        "minItems", "minimum", "minLength", "minProperties", "nullable", "pattern",
        "propertyOrdering", "required", "title", "default", "example",
    }
)  # fmt: skip


def gemini_schema(schema: Any) -> Any:
    """A JSON schema cut down to what Gemini accepts: types in upper case, a type list
    as the type plus `nullable`, `const` as a one-value enum, `oneOf` as `anyOf`;
    `additionalProperties`, `$schema`, `$ref`/`$defs`, `allOf`, `not`, `if`/`then`/`else`,
    `patternProperties`, `examples` and exclusive bounds are dropped."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {k: v for k, v in schema.items() if k in _SCHEMA_KEYS}
    kind = schema.get("type")
    if isinstance(kind, list):
        named = [k for k in kind if k != "null"]
        if len(named) < len(kind):
            out["nullable"] = True
        kind = named[0] if named else None
    if isinstance(kind, str):
        out["type"] = kind.upper()
    if "const" in schema:
        out["enum"] = [schema["const"]]
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: gemini_schema(v) for k, v in schema["properties"].items()}
    if "items" in schema:
        out["items"] = gemini_schema(schema["items"])
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(alternatives, list):
        out["anyOf"] = [gemini_schema(a) for a in alternatives]
    return out


# ---------------------------------------------------------------- stream interpretation


class GeminiInterpreter:
    """`GenerateContentResponse` chunks to events. There is no end marker: the turn is
    finished at the end of the body, if a chunk said why it finished."""

    __slots__ = (
        "_called",
        "_calls",
        "_finish",
        "_model",
        "_produced",
        "_provider",
        "_response_id",
        "_thinking",
        "_usage",
    )

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._thinking = False  # a thought is open
        self._produced = False  # any text or call this turn
        self._called = False
        self._calls = 0
        self._finish = ""
        self._usage: dict[str, Any] = {}
        self._response_id = ""
        self._model = ""

    def feed(self, event: SSEEvent) -> list[ModelEvent]:
        try:
            return self._chunk(decode_json(event.data))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ProviderError(
                self._provider, f"malformed stream chunk: {event.data[:200]!r}", retryable=True
            ) from None

    def _chunk(self, chunk: dict[str, Any]) -> list[ModelEvent]:
        self._usage = chunk.get("usageMetadata") or self._usage  # cumulative: the last wins
        self._response_id = chunk.get("responseId") or self._response_id
        self._model = chunk.get("modelVersion") or self._model
        if "error" in chunk:
            raise stream_error(self._provider, chunk["error"])
        candidates = chunk.get("candidates")
        if not candidates:
            blocked = (chunk.get("promptFeedback") or {}).get("blockReason")
            if blocked:
                raise ProviderError(
                    self._provider, f"the prompt was blocked ({blocked})", retryable=False
                )
            return []
        candidate = candidates[0]
        events: list[ModelEvent] = []
        for part in (candidate.get("content") or {}).get("parts") or []:
            events.extend(self._part(part))
        if candidate.get("finishReason"):
            self._finish = candidate["finishReason"]
        return events

    def _part(self, part: dict[str, Any]) -> list[ModelEvent]:
        if len(part) == 1 and not self._thinking and "text" in part:  # the hot path: text
            text = part["text"]
            if not text:
                return []
            self._produced = True
            return [TextDelta(text)]
        signature = part.get("thoughtSignature") or ""
        if part.get("thought"):
            events: list[ModelEvent] = []
            if part.get("text"):
                self._thinking = True
                events.append(ReasoningDelta(part["text"]))
            if signature:
                self._thinking = False
                events.append(ReasoningEnd(signature=signature))
            return events
        events = self._close_thought()
        if signature:  # a part of its own, before the one it belongs to
            events.append(ReasoningEnd(signature=signature))
        call = part.get("functionCall")
        if call is not None:
            self._produced = self._called = True
            given = str(call.get("id") or "")
            call_id = given or self._made_id()
            arguments = json.dumps(call.get("args") or {}, ensure_ascii=False)
            name = str(call["name"])
            events += [
                ToolCallDelta(call_id, name, arguments),
                ToolCall(call_id, name, arguments, given),
            ]
        elif part.get("text"):
            self._produced = True
            events.append(TextDelta(part["text"]))
        return events

    def _made_id(self) -> str:
        """An id for a call Gemini gave none: from the response id when there is one, so a
        replayed response gets the same ids."""
        self._calls += 1
        base = self._response_id or uuid.uuid4().hex[:24]
        return f"call_{base}_{self._calls}"

    def _close_thought(self) -> list[ModelEvent]:
        if not self._thinking:
            return []
        self._thinking = False
        return [ReasoningEnd()]

    def finish(self) -> list[ModelEvent]:
        if not self._finish:
            raise ProviderError(
                self._provider, "the response stream ended before a finishReason", retryable=True
            )
        finish = finish_reason(self._finish, self._called)
        if not self._produced and finish not in (FinishReason.STOP, FinishReason.LENGTH):
            # Nothing to show for the turn: say why instead of answering with silence.
            retryable = self._finish in _PASSING_FINISHES
            message = f"the model produced nothing (finishReason {self._finish})"
            raise ProviderError(self._provider, message, retryable=retryable)
        usage = gemini_usage(self._usage)
        return [*self._close_thought(), TurnFinished(usage, finish, self._response_id, self._model)]


# ---------------------------------------------------------------- finish reason, usage, errors

_FINISH_REASONS = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "SAFETY": FinishReason.CONTENT_FILTER,
    "RECITATION": FinishReason.CONTENT_FILTER,
    "BLOCKLIST": FinishReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "SPII": FinishReason.CONTENT_FILTER,
    "IMAGE_SAFETY": FinishReason.CONTENT_FILTER,
}
# Finishes where asking again may well give an answer (the model tripped on its own call).
_PASSING_FINISHES = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "OTHER"})


def finish_reason(reason: str, called: bool) -> FinishReason:
    finish = _FINISH_REASONS.get(reason, FinishReason.OTHER)
    return FinishReason.TOOL_CALLS if called and finish is FinishReason.STOP else finish


def gemini_usage(usage: dict[str, Any]) -> Usage:
    """`thoughtsTokenCount` is separate from `candidatesTokenCount`; output counts both."""
    thoughts = int(usage.get("thoughtsTokenCount") or 0)
    input_tokens = int(usage.get("promptTokenCount") or 0)
    output_tokens = int(usage.get("candidatesTokenCount") or 0) + thoughts
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=int(usage.get("totalTokenCount") or input_tokens + output_tokens),
        cache_read_input_tokens=int(usage.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def retry_delay(body: str) -> float | None:
    """`RetryInfo.retryDelay` ("34.4s") from a Google error body's details."""
    try:
        details = json.loads(body)["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return None
    for detail in details if isinstance(details, list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        match = _SECONDS.match(delay) if isinstance(delay, str) else None
        if match:
            return float(match.group(1))
    return None


# ---------------------------------------------------------------- httpx glue


class GeminiProvider(HttpProvider):
    def __init__(self, name: str, config: GeminiProviderConfig) -> None:
        super().__init__(name, config)

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": api_key} if api_key else {}

    def retry_hint(self, body: str) -> float | None:
        return retry_delay(body)

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        model = quote_path(request.model.removeprefix("models/"), safe="")
        path = f"models/{model}:streamGenerateContent?alt=sse"
        return self.post_stream(path, gemini_body(request), lambda: GeminiInterpreter(self.name))
