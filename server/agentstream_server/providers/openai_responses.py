"""OpenAI Responses (`POST {base_url}/responses`, `stream: true`).

Pure pieces first (input items, stream interpretation, usage and finish mapping),
the httpx glue last. Stateless by default: `store: false`, reasoning items asked
for with their `encrypted_content` and sent back unchanged on the next turn, so
reasoning carries across tool turns without OpenAI keeping anything. With
`store: true` and `previous_response_id: true` a turn continues the response it
follows and sends only the items after it.

How the history holds what the API needs back:
- a function call is `ToolCall(id=<call_id>, call_id=<item id fc_...>)`: `id` is
  what results refer to, as everywhere in agentstream, and the API's results refer
  to its `call_id`;
- a reasoning item is `Reasoning(text=<summary parts joined with a blank line>,
  signature=<item id rs_...>, encrypted_content=<encrypted_content>)`; its summary
  goes back as one `summary_text` part.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from ..config import OpenAIResponsesProviderConfig
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
from ..core.messages import Message, Reasoning, Role, Text, ToolCall, Usage
from ..core.model import ModelRequest, ToolChoice, ToolChoiceMode
from ..core.turn import TurnBuilder
from .errors import stream_error
from .http import HttpProvider
from .sse import SSEEvent, decode_json

PROTECTED_KEYS = frozenset({"stream", "input"})
SUMMARY_JOINER = "\n\n"  # between the summary parts of one reasoning item

# ---------------------------------------------------------------- request mapping


def responses_body(
    request: ModelRequest, *, store: bool = False, strict_tools: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "input": input_items(request.preamble, request.messages),
        "stream": True,
    }
    if not store:  # the API's default is to store
        body["store"] = False
        body["include"] = ["reasoning.encrypted_content"]
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "strict": strict_tools,
            }
            for t in request.tools
        ]
        if request.tool_choice.mode is not ToolChoiceMode.AUTO:  # auto is the API's default
            body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_output_tokens"] = request.max_tokens
    body.update({k: v for k, v in request.extra.items() if k not in PROTECTED_KEYS})
    return body


def _tool_choice(choice: ToolChoice) -> Any:
    if choice.mode is ToolChoiceMode.TOOL:
        return {"type": "function", "name": choice.tool_name}
    return choice.mode.value


def input_items(preamble: str, history: list[Message]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"role": "developer", "content": preamble}] if preamble else []
    for message in history:
        if message.role is Role.ASSISTANT:
            items.extend(assistant_items(message))
        else:
            items.extend(_user_items(message))
    return items


def assistant_items(message: Message) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, Reasoning):
            item = _reasoning_item(part)
            if item is not None:
                items.append(item)
        elif isinstance(part, Text):
            if part.text:
                items.append({"role": "assistant", "content": part.text})
        elif isinstance(part, ToolCall):
            call: dict[str, Any] = {
                "type": "function_call",
                "call_id": part.id,
                "name": part.name,
                "arguments": part.arguments or "{}",
            }
            if part.call_id.startswith("fc"):
                call["id"] = part.call_id
            items.append(call)
    return items


def _reasoning_item(part: Reasoning) -> dict[str, Any] | None:
    # Reasoning without an item id came from another provider: there is nothing to send.
    if not part.signature.startswith("rs_"):
        return None
    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
    item: dict[str, Any] = {"type": "reasoning", "id": part.signature, "summary": summary}
    if part.encrypted_content:
        item["encrypted_content"] = part.encrypted_content
    return item


def _user_items(message: Message) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"type": "function_call_output", "call_id": r.id, "output": r.content}
        for r in message.tool_results
    ]
    texts = [p.text for p in message.parts if isinstance(p, Text)]
    if texts or not items:
        items.append({"role": "user", "content": "".join(texts)})
    return items


# ---------------------------------------------------------------- stream interpretation


class _Call:
    __slots__ = ("arguments", "call_id", "item_id", "name")

    def __init__(self, item: dict[str, Any]) -> None:
        self.item_id = str(item.get("id") or "")
        self.call_id = str(item.get("call_id") or self.item_id)
        self.name = str(item.get("name") or "")
        self.arguments: list[str] = []


class ResponsesInterpreter:
    """Responses stream events to core events. Output items are followed by
    `output_index`; a function call completes at its `output_item.done`, a reasoning
    item closes there with its id and encrypted content."""

    __slots__ = (
        "_called",
        "_calls",
        "_done",
        "_model",
        "_provider",
        "_refused",
        "_response_id",
        "_streamed",
    )

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._calls: dict[int, _Call] = {}
        self._streamed: set[int] = set()  # output items whose text came as deltas
        self._called = False
        self._refused = False
        self._response_id = ""
        self._model = ""
        self._done = False

    def feed(self, event: SSEEvent) -> list[ModelEvent]:
        if self._done:
            return []
        try:
            data = decode_json(event.data)
            return self._event(data.get("type") or event.event, data)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ProviderError(
                self._provider, f"malformed stream event: {event.data[:200]!r}", retryable=True
            ) from None

    def finish(self) -> list[ModelEvent]:
        if not self._done:
            raise ProviderError(
                self._provider,
                "the response stream ended before response.completed",
                retryable=True,
            )
        return []

    def _event(self, kind: str, data: dict[str, Any]) -> list[ModelEvent]:
        if kind in _TEXT_DELTAS:  # the hot path: one per token
            index = data.get("output_index", 0)
            self._streamed.add(index)
            if kind == "response.refusal.delta":
                self._refused = True
            delta = data["delta"]
            if kind in ("response.output_text.delta", "response.refusal.delta"):
                return [TextDelta(delta)] if delta else []
            return [ReasoningDelta(delta)] if delta else []
        if kind == "response.function_call_arguments.delta":
            call = self._calls.get(data.get("output_index", 0))
            if call is None or not data["delta"]:
                return []
            call.arguments.append(data["delta"])
            return [ToolCallDelta(call.call_id, "", data["delta"])]
        if kind == "response.reasoning_summary_part.added" and data.get("summary_index", 0):
            self._streamed.add(data.get("output_index", 0))
            return [ReasoningDelta(SUMMARY_JOINER)]
        if kind == "response.output_item.added":
            return self._item_added(data["output_index"], data["item"])
        if kind == "response.output_item.done":
            return self._item_done(data["output_index"], data["item"])
        if kind == "response.created":
            response = data["response"]
            self._response_id = str(response.get("id") or "")
            self._model = str(response.get("model") or "")
        elif kind in ("response.completed", "response.incomplete"):
            return [self._finished(data["response"])]
        elif kind == "response.failed":
            response = data.get("response") or {}
            raise stream_error(self._provider, response.get("error") or {"type": "failed"})
        elif kind == "error":
            raise stream_error(self._provider, data.get("error") or data)
        return []  # in_progress, content parts, *.done repeats, and newer event types

    def _item_added(self, index: int, item: dict[str, Any]) -> list[ModelEvent]:
        if item.get("type") != "function_call":
            return []
        call = _Call(item)
        self._calls[index] = call
        return [ToolCallDelta(call.call_id, call.name, "")]

    def _item_done(self, index: int, item: dict[str, Any]) -> list[ModelEvent]:
        kind = item.get("type")
        if kind == "function_call":
            call = self._calls.pop(index, None) or _Call(item)
            self._called = True
            arguments = item.get("arguments") or "".join(call.arguments) or "{}"
            return [ToolCall(call.call_id, call.name, arguments, call.item_id)]
        if kind == "reasoning":
            events: list[ModelEvent] = []
            summary = [s.get("text") or "" for s in item.get("summary") or []]
            if index not in self._streamed and any(summary):
                events.append(ReasoningDelta(SUMMARY_JOINER.join(summary)))
            encrypted = str(item.get("encrypted_content") or "")
            events.append(
                ReasoningEnd(signature=str(item.get("id") or ""), encrypted_content=encrypted)
            )
            return events
        if kind == "message" and index not in self._streamed:
            text = "".join(
                c.get("text") or c.get("refusal") or "" for c in item.get("content") or []
            )
            return [TextDelta(text)] if text else []
        return []

    def _finished(self, response: dict[str, Any]) -> TurnFinished:
        self._done = True
        status = response.get("status")
        reason = str((response.get("incomplete_details") or {}).get("reason"))
        if status == "incomplete":
            finish = _INCOMPLETE.get(reason, FinishReason.OTHER)
        elif self._called:
            finish = FinishReason.TOOL_CALLS
        elif self._refused:
            finish = FinishReason.CONTENT_FILTER
        else:
            finish = FinishReason.STOP
        usage = responses_usage(response.get("usage") or {})
        model = str(response.get("model") or self._model)
        return TurnFinished(usage, finish, str(response.get("id") or self._response_id), model)


_TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",  # open-weight models served with raw reasoning
    }
)

_INCOMPLETE = {
    "max_output_tokens": FinishReason.LENGTH,
    "content_filter": FinishReason.CONTENT_FILTER,
}


def responses_usage(usage: dict[str, Any]) -> Usage:
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    input_tokens = int(usage.get("input_tokens") or 0)
    output_tokens = int(usage.get("output_tokens") or 0)  # reasoning included
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=int(usage.get("total_tokens") or input_tokens + output_tokens),
        cache_read_input_tokens=int(input_details.get("cached_tokens") or 0),
        reasoning_tokens=int(output_details.get("reasoning_tokens") or 0),
    )


# ---------------------------------------------------------------- previous_response_id chaining


class ResponseChain:
    """Which stored response ends a conversation, so the next turn can send only what
    follows it. Keyed by a digest of the conversation's items as this adapter writes
    them, so a history edited by the caller simply misses and is sent whole."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, str] = OrderedDict()

    def remember(self, items: list[dict[str, Any]], response_id: str) -> None:
        key = _digest(items)
        self._ids[key] = response_id
        self._ids.move_to_end(key)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)

    def continue_from(self, preamble: str, history: list[Message]) -> tuple[str, int]:
        """The stored response the history continues and how many messages it covers,
        or ("", 0) when none is known."""
        for end in range(len(history), 0, -1):
            if history[end - 1].role is not Role.ASSISTANT:
                continue
            response_id = self._ids.get(_digest(input_items(preamble, history[:end])))
            if response_id:
                return response_id, end
        return "", 0


def _digest(items: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------- httpx glue


class OpenAIResponsesProvider(HttpProvider):
    def __init__(self, name: str, config: OpenAIResponsesProviderConfig) -> None:
        super().__init__(name, config)
        self._store = config.store
        self._strict_tools = config.strict_tools
        self._chain = ResponseChain() if config.previous_response_id else None

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        body = responses_body(request, store=self._store, strict_tools=self._strict_tools)
        if self._chain is None or "previous_response_id" in request.extra:
            return self.post_stream("responses", body, self._interpreter)
        return self._chained(request, body, self._chain)

    def _interpreter(self) -> ResponsesInterpreter:
        return ResponsesInterpreter(self.name)

    async def _chained(
        self,
        request: ModelRequest,
        body: dict[str, Any],
        chain: ResponseChain,
    ) -> AsyncGenerator[ModelEvent, None]:
        previous, covered = chain.continue_from(request.preamble, request.messages)
        if previous:
            body = {
                **body,
                "previous_response_id": previous,
                "input": input_items("", request.messages[covered:]),
            }
        builder = TurnBuilder()
        async with aclosing(self.post_stream("responses", body, self._interpreter)) as events:
            async for event in events:
                if isinstance(event, TurnFinished) and event.response_id:
                    conversation = [*request.messages, builder.message()]
                    chain.remember(input_items(request.preamble, conversation), event.response_id)
                else:
                    builder.add(event)
                yield event
