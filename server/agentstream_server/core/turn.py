"""Assembles one assistant message from a model call's events, in the order produced."""

from __future__ import annotations

from .events import ModelEvent, ReasoningDelta, ReasoningEnd, TextDelta
from .messages import Message, Part, Reasoning, Role, Text, ToolCall


class TurnBuilder:
    """Collects text and reasoning deltas into parts; a part closes when another kind starts.

    Deltas are kept as lists of strings and joined once, so each delta costs an append.
    """

    __slots__ = ("_open_kind", "_open_pieces", "_parts")

    def __init__(self) -> None:
        self._parts: list[Part] = []
        self._open_kind: type[Text] | type[Reasoning] | None = None
        self._open_pieces: list[str] = []

    def add(self, event: ModelEvent) -> None:
        """Takes one event of the model call; `TurnFinished` carries no part."""
        if isinstance(event, TextDelta):
            self.text(event.text)
        elif isinstance(event, ReasoningDelta):
            self.reasoning(event.text)
        elif isinstance(event, ToolCall):
            self.tool_call(event)
        elif isinstance(event, ReasoningEnd):
            self.end_reasoning(event)

    def text(self, delta: str) -> None:
        if self._open_kind is not Text:
            self._close()
            self._open_kind = Text
        self._open_pieces.append(delta)

    def reasoning(self, delta: str) -> None:
        if self._open_kind is not Reasoning:
            self._close()
            self._open_kind = Reasoning
        self._open_pieces.append(delta)

    def end_reasoning(self, end: ReasoningEnd) -> None:
        text = "".join(self._open_pieces) if self._open_kind is Reasoning else ""
        if self._open_kind is Reasoning:
            self._open_kind = None
            self._open_pieces = []
        else:
            self._close()
        self._parts.append(Reasoning(text, end.signature, end.encrypted_content))

    def tool_call(self, call: ToolCall) -> None:
        self._close()
        self._parts.append(call)

    def message(self) -> Message:
        self._close()
        return Message(Role.ASSISTANT, list(self._parts))

    def _close(self) -> None:
        if self._open_kind is None:
            return
        joined = "".join(self._open_pieces)
        self._parts.append(Text(joined) if self._open_kind is Text else Reasoning(joined))
        self._open_kind = None
        self._open_pieces = []
