"""What the loop needs from a model: one streamed call per turn."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from .events import ModelEvent
from .messages import Message


@dataclass(slots=True, frozen=True)
class ToolSpec:
    """A tool as the model sees it."""

    name: str
    description: str
    parameters: dict[str, Any]


class ToolChoiceMode(Enum):
    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"
    TOOL = "tool"


@dataclass(slots=True, frozen=True)
class ToolChoice:
    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    tool_name: str = ""


@dataclass(slots=True)
class ModelRequest:
    model: str
    messages: list[Message]
    preamble: str = ""
    tools: list[ToolSpec] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    extra: dict[str, Any] = field(default_factory=dict)


class ModelProvider(Protocol):
    """One configured model endpoint.

    `stream` yields the events of one model call and must end with `TurnFinished`;
    it raises `ProviderError` when the call fails. Closing the iterator early
    (cancellation) must release the underlying request at once.
    """

    name: str

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]: ...

    async def aclose(self) -> None: ...
