"""The loop's decisions, with no I/O: what to do next, and the history it builds.

`RunState.next_step()` answers "call the model", "run these tools", "finished" or
"failed"; the driver does the step and feeds back what happened. Everything
here is unit-tested turn by turn with made-up model output.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AgentError, MaxTurnsExceeded
from .events import FinalResponse, TurnFinished
from .messages import Message, Role, ToolCall, ToolResult, Usage


@dataclass(slots=True, frozen=True)
class CallModel:
    turn: int
    messages: list[Message]


@dataclass(slots=True, frozen=True)
class RunTools:
    calls: list[ToolCall]


@dataclass(slots=True, frozen=True)
class Finished:
    response: FinalResponse


@dataclass(slots=True, frozen=True)
class Failed:
    error: AgentError


Step = CallModel | RunTools | Finished | Failed


class RunState:
    """`history` starts as the request's messages (prompt last) and grows each step."""

    def __init__(self, history: list[Message], max_turns: int) -> None:
        if max_turns < 1:
            raise ValueError("max_turns must be at least 1")
        self.history = list(history)
        self.max_turns = max_turns
        self.turn = 0
        self.usage = Usage()
        self._pending_calls: list[ToolCall] = []
        self._final_text: str | None = None

    def next_step(self) -> Step:
        if self._pending_calls:
            return RunTools(list(self._pending_calls))
        if self._final_text is not None:
            return Finished(FinalResponse(self._final_text, self.usage, self.turn, self.history))
        if self.turn >= self.max_turns:
            return Failed(MaxTurnsExceeded(self.max_turns))
        self.turn += 1
        return CallModel(self.turn, self.history)

    def record_turn(self, message: Message, finished: TurnFinished) -> None:
        """A turn with tool calls is always followed by its tools and another turn,
        whatever text, reasoning or finish reason came with it."""
        if message.parts:
            self.history.append(message)
        self.usage = self.usage + finished.usage
        calls = message.tool_calls
        if calls:
            self._pending_calls = calls
        else:
            self._final_text = message.text

    def record_tool_results(self, results: list[ToolResult]) -> None:
        """`results` must answer the pending calls, in call order."""
        expected = [c.id for c in self._pending_calls]
        if [r.id for r in results] != expected:
            raise ValueError(f"tool results {[r.id for r in results]} do not answer {expected}")
        self.history.append(Message(Role.USER, list(results)))
        self._pending_calls = []
