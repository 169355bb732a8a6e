"""Points where something outside the loop may watch it, stop it, or answer tool calls.

The driver calls these at each step. `NO_HOOKS` does nothing; the Hooks RPC
provides a remote implementation. Any method may raise `RunCancelled`.
"""

from __future__ import annotations

from typing import Protocol

from .events import ReasoningDelta, TextDelta, ToolCallDelta, ToolProgress, TurnFinished
from .messages import Message, ToolCall, ToolResult


class RunHooks(Protocol):
    # Checked once per delta before calling `delta`, so a run with no observer
    # pays one attribute read per token.
    wants_deltas: bool

    async def start(self) -> None:
        """Called once the run has announced itself, before the first model call."""
        ...

    async def completion_call(self, turn: int, messages: list[Message]) -> None: ...

    async def delta(self, turn: int, event: TextDelta | ReasoningDelta | ToolCallDelta) -> None: ...

    async def completion_finished(self, turn: int, finished: TurnFinished, text: str) -> None: ...

    async def tool_call(self, turn: int, call: ToolCall, execute: bool) -> ToolResult | None:
        """Returns a result to use instead of running the tool (skip, or a client
        tool's output), or None to run it on the server."""
        ...

    async def tool_progress(self, turn: int, progress: ToolProgress) -> None: ...

    async def tool_result(self, turn: int, call: ToolCall, result: ToolResult) -> None: ...


class NoHooks:
    wants_deltas = False

    async def start(self) -> None:
        return None

    async def completion_call(self, turn: int, messages: list[Message]) -> None:
        return None

    async def delta(self, turn: int, event: TextDelta | ReasoningDelta | ToolCallDelta) -> None:
        return None

    async def completion_finished(self, turn: int, finished: TurnFinished, text: str) -> None:
        return None

    async def tool_call(self, turn: int, call: ToolCall, execute: bool) -> ToolResult | None:
        return None

    async def tool_progress(self, turn: int, progress: ToolProgress) -> None:
        return None

    async def tool_result(self, turn: int, call: ToolCall, result: ToolResult) -> None:
        return None


NO_HOOKS = NoHooks()
