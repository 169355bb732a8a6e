"""The one event vocabulary.

Providers emit `ModelEvent`s for a single model call; the loop forwards them and
adds its own, and the result, `RunEvent`, is all the servicer ever sees. A
complete tool call and a tool result travel as the history's own `ToolCall` and
`ToolResult` parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .errors import AgentError
from .messages import Message, ToolCall, ToolResult, Usage


class FinishReason(Enum):
    UNSPECIFIED = "unspecified"
    STOP = "stop"
    TOOL_CALLS = "tool_calls"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    OTHER = "other"


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class ReasoningEnd:
    """Closes the current reasoning block; with no open block it is a block of its own
    (redacted reasoning arrives whole)."""

    signature: str = ""
    encrypted_content: str = ""


@dataclass(slots=True)
class ToolCallDelta:
    id: str
    name: str  # set on the call's first delta only
    arguments_delta: str


@dataclass(slots=True, frozen=True)
class TurnFinished:
    usage: Usage = field(default_factory=Usage)
    finish_reason: FinishReason = FinishReason.UNSPECIFIED
    response_id: str = ""
    model: str = ""


ModelEvent = TextDelta | ReasoningDelta | ReasoningEnd | ToolCallDelta | ToolCall | TurnFinished


@dataclass(slots=True, frozen=True)
class ToolProgress:
    """How far a running tool has got; `id` is its call's id."""

    id: str
    name: str
    message: str
    fraction: float | None = None


@dataclass(slots=True, frozen=True)
class RunStarted:
    agent: str
    model: str
    max_turns: int
    provider: str


@dataclass(slots=True)
class FinalResponse:
    text: str
    usage: Usage
    turns: int
    history: list[Message]


@dataclass(slots=True)
class RunFailed:
    error: AgentError
    history: list[Message]


RunEvent = (
    RunStarted
    | TextDelta
    | ReasoningDelta
    | ToolCallDelta
    | ToolCall
    | ToolResult
    | ToolProgress
    | TurnFinished
    | FinalResponse
    | RunFailed
)
