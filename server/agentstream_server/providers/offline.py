"""The built-in offline model: a deterministic stand-in for a real LLM.

It needs no network and no key. Unscripted, it behaves like a small tool-using
assistant: asked something while tools are available, it reasons briefly and
calls every tool (arguments built from each tool's JSON schema); given tool
results, it answers from them; otherwise it echoes the prompt. Scripted (a
`script` list in the request's extra parameters), it plays the given turns:
turn k of the script answers the request whose history holds k assistant
messages, so one script spans a run and its continuation.

Script: a list of turns, each a list of steps:
  {"text": "..."}                      streamed a word at a time
  {"reasoning": "...", "signature": "..."}
  {"redacted_reasoning": "opaque"}
  {"tool_call": {"name": "...", "arguments": {...}, "id": "..."}}
  {"usage": {"input_tokens": 1, "output_tokens": 2}}
  {"finish_reason": "stop"}
  {"delay_ms": 5}                      pause before the next step
  {"at_ms": 250}                       pause until 250 ms after the turn began (a
                                       schedule that does not drift, for benchmarks)
  {"paced_text": {"text": "word ", "count": 500, "mean_ms": 50, "jitter": 0.5, "seed": 7}}
                                       `count` deltas of `text` on a jittered pace that
                                       does not drift (pacing.py; bench/concurrency.py)
  {"hang": true}                       wait until the call is cancelled
  {"error": {"message": "...", "retryable": true}}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncGenerator, Iterator
from typing import Any

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
from ..core.messages import Message, Role, ToolCall, Usage
from ..core.model import ModelRequest, ToolChoiceMode, ToolSpec
from .pacing import paced_at_ms

_WORDS = re.compile(r"\S+\s*|\s+")
_ARGUMENT_FRAGMENT = 8  # characters per streamed tool-argument fragment


class OfflineProvider:
    def __init__(self, name: str = "offline") -> None:
        self.name = name
        # Calls in flight, so tests can prove a cancelled run closed its model call.
        self.open_streams = 0

    async def aclose(self) -> None:
        return None

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        self.open_streams += 1
        try:
            turn_index = sum(1 for m in request.messages if m.role is Role.ASSISTANT)
            script = request.extra.get("script")
            if script is not None:
                steps = _scripted_turn(self.name, script, turn_index)
            else:
                steps = _unscripted_turn(request)
            async for event in _play(self.name, steps, request, turn_index):
                yield event
        finally:
            self.open_streams -= 1


def _scripted_turn(provider: str, script: Any, turn_index: int) -> list[dict[str, Any]]:
    if not isinstance(script, list) or not all(isinstance(t, list) for t in script):
        raise ProviderError(
            provider, "extra_params.script must be a list of turns", retryable=False
        )
    if turn_index >= len(script):
        raise ProviderError(
            provider, f"script has {len(script)} turn(s), no turn {turn_index + 1}", retryable=False
        )
    steps = list(script[turn_index])
    for i, step in enumerate(steps):
        problem = _step_problem(step)
        if problem is not None:
            where = f"extra_params.script[{turn_index}][{i}]"
            raise ProviderError(provider, f"{where}: {problem}", retryable=False)
    return steps


_FINISH_REASONS = {reason.value for reason in FinishReason}


def _step_problem(step: Any) -> str | None:
    """What is wrong with a scripted step, checked before any of its turn plays."""
    if not isinstance(step, dict):
        return "a step must be an object"
    for key in ("delay_ms", "at_ms"):
        if key in step and not _is_number(step[key]):
            return f"{key} must be a number"
    if "error" in step and not isinstance(step["error"], dict):
        return "error must be an object"
    if "paced_text" in step and (problem := _pace_problem(step["paced_text"])) is not None:
        return problem
    usage = step.get("usage", {})
    if not isinstance(usage, dict) or not all(
        k in Usage.__dataclass_fields__ and _is_number(v) for k, v in usage.items()
    ):
        return "usage must map Usage fields to numbers"
    if "finish_reason" in step and (
        not isinstance(step["finish_reason"], str) or step["finish_reason"] not in _FINISH_REASONS
    ):
        return f"finish_reason must be one of {', '.join(sorted(_FINISH_REASONS))}"
    call = step.get("tool_call", {"name": "-"})
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return "tool_call must be an object with a name"
    return None


def _pace_problem(pace: Any) -> str | None:
    if not isinstance(pace, dict):
        return "paced_text must be an object"
    for key in ("count", "mean_ms", "jitter", "seed"):
        if not _is_number(pace.get(key, 0)) or pace.get(key, 0) < 0:
            return f"paced_text.{key} must be a number, at least 0"
    if pace.get("jitter", 0) > 1:
        return "paced_text.jitter must be at most 1"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unscripted_turn(request: ModelRequest) -> list[dict[str, Any]]:
    last = request.messages[-1] if request.messages else Message.user("")
    results = last.tool_results
    if results:
        answer = "; ".join(
            f"{r.name or r.id} {'failed: ' if r.is_error else 'returned '}{r.content}"
            for r in results
        )
        return [{"text": f"Here is what the tools said: {answer}."}]
    tools = [] if request.tool_choice.mode is ToolChoiceMode.NONE else request.tools
    if request.tool_choice.mode is ToolChoiceMode.TOOL:
        tools = [t for t in tools if t.name == request.tool_choice.tool_name]
    if tools:
        names = ", ".join(t.name for t in tools)
        plan = f"The user asks: {last.text!r}. I will call {names} and answer from the results."
        steps: list[dict[str, Any]] = [{"reasoning": plan, "signature": _signature(plan)}]
        steps += [{"tool_call": {"name": t.name, "arguments": example_arguments(t)}} for t in tools]
        return steps
    return [{"text": f"You said: {last.text}" if last.text else "Hello from the offline model."}]


async def _play(
    provider: str, steps: list[dict[str, Any]], request: ModelRequest, turn_index: int
) -> AsyncGenerator[ModelEvent, None]:
    usage: Usage | None = None
    finish: FinishReason | None = None
    output_words = reasoning_words = 0
    calls = 0
    loop = asyncio.get_running_loop()
    began = loop.time()
    for step in steps:
        if "delay_ms" in step:
            await asyncio.sleep(float(step["delay_ms"]) / 1000)
        if "at_ms" in step:
            await asyncio.sleep(began + float(step["at_ms"]) / 1000 - loop.time())
        if step.get("hang"):
            await asyncio.Event().wait()
        if "error" in step:
            error = step["error"]
            raise ProviderError(
                provider,
                str(error.get("message", "scripted error")),
                retryable=bool(error.get("retryable", True)),
            )
        if "reasoning" in step:
            for piece in _words(str(step["reasoning"])):
                output_words += 1
                reasoning_words += 1
                yield ReasoningDelta(piece)
            yield ReasoningEnd(signature=str(step.get("signature", "")))
        if "redacted_reasoning" in step:
            yield ReasoningEnd(encrypted_content=str(step["redacted_reasoning"]))
        if "text" in step:
            for piece in _words(str(step["text"])):
                output_words += 1
                yield TextDelta(piece)
        if "paced_text" in step:
            pace = step["paced_text"]
            text = str(pace.get("text", "word "))
            due = paced_at_ms(
                float(pace.get("mean_ms", 0)),
                float(pace.get("jitter", 0)),
                int(pace.get("seed", 0)),
            )
            for _ in range(int(pace.get("count", 0))):
                await asyncio.sleep(began + next(due) / 1000 - loop.time())
                output_words += 1
                yield TextDelta(text)
        if "tool_call" in step:
            calls += 1
            call = _tool_call(step["tool_call"], f"call_{turn_index + 1}_{calls}")
            for event in _stream_call(call):
                yield event
        if "usage" in step:
            usage = Usage(**{k: int(v) for k, v in step["usage"].items()})
        if "finish_reason" in step:
            finish = FinishReason(step["finish_reason"])
    if usage is None:
        input_words = sum(len(_words(_message_text(m))) for m in request.messages)
        total = input_words + output_words
        usage = Usage(input_words, output_words, total, reasoning_tokens=reasoning_words)
    if finish is None:
        finish = FinishReason.TOOL_CALLS if calls else FinishReason.STOP
    yield TurnFinished(usage, finish, f"offline-{turn_index + 1}", request.model)


def _tool_call(spec: dict[str, Any], default_id: str) -> ToolCall:
    arguments = spec.get("arguments", {})
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(str(spec.get("id", default_id)), str(spec["name"]), text)


def _stream_call(call: ToolCall) -> Iterator[ModelEvent]:
    fragments = [
        call.arguments[i : i + _ARGUMENT_FRAGMENT]
        for i in range(0, len(call.arguments), _ARGUMENT_FRAGMENT)
    ] or [""]
    yield ToolCallDelta(call.id, call.name, fragments[0])
    for fragment in fragments[1:]:
        yield ToolCallDelta(call.id, "", fragment)
    yield call


def _words(text: str) -> list[str]:
    return _WORDS.findall(text)


def _message_text(message: Message) -> str:
    return " ".join(
        getattr(p, "text", "") or getattr(p, "content", "") or getattr(p, "arguments", "")
        for p in message.parts
    )


def _signature(text: str) -> str:
    return "offline-sig-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def example_arguments(tool: ToolSpec) -> dict[str, Any]:
    """Arguments valid for the tool's schema: each required property (all when none
    are listed) from its `default`, first `examples` or `enum` entry, else by type."""
    value = _example_value(tool.parameters)
    return value if isinstance(value, dict) else {}


def _example_value(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return None
    if "default" in schema:
        return schema["default"]
    for key in ("examples", "enum"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema[key][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = schema.get("required", list(properties))
        return {name: _example_value(properties.get(name, {})) for name in required}
    return {
        "string": "example",
        "integer": 1,
        "number": 1,
        "boolean": True,
        "array": [],
        "null": None,
    }.get(str(kind), "example")
