"""The conversation history: messages made of ordered content parts.

These types are the loop's own; providers and the gRPC servicer convert to and
from them at their edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True, frozen=True)
class ToolCall:
    """A complete call the model asked for. `id` is what results refer to."""

    id: str
    name: str
    arguments: str
    call_id: str = ""


@dataclass(slots=True, frozen=True)
class ToolResult:
    """The outcome of the tool call whose `id` it carries."""

    id: str
    content: str
    is_error: bool = False
    name: str = ""
    call_id: str = ""


@dataclass(slots=True)
class Reasoning:
    """Model thinking, with what its provider needs to accept it back unchanged."""

    text: str = ""
    signature: str = ""
    encrypted_content: str = ""


Part = Text | ToolCall | ToolResult | Reasoning


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(Role.USER, [Text(text)])

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, Text))

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [p for p in self.parts if isinstance(p, ToolCall)]

    @property
    def tool_results(self) -> list[ToolResult]:
        return [p for p in self.parts if isinstance(p, ToolResult)]


@dataclass(slots=True, frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )
