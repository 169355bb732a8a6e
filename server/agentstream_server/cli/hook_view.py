"""How `agentstream attach` shows a run's hook events."""

from __future__ import annotations

import time

from agentstream.v1 import agent_pb2 as pb
from rich.text import Text

from .terminal import (
    ERROR,
    NOTE,
    REASONING,
    TOOL_CALL,
    TOOL_OK,
    Terminal,
    compact_json,
    duration,
    preview,
)


class ReadableHookView:
    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self._calls: dict[str, float] = {}

    def show(self, response: pb.HooksResponse) -> None:
        kind = response.WhichOneof("response")
        if kind == "attached":
            self.terminal.line(f"attached to run {response.attached.run_id}", NOTE)
        elif kind == "event":
            self._event(response.event)
        elif kind == "run_ended":
            self._ended(response.run_ended)
        elif kind == "error":
            self.terminal.line(f"the server could not use a reply: {response.error.message}", ERROR)

    def _event(self, event: pb.HookEvent) -> None:
        kind = event.WhichOneof("event")
        if kind == "completion_call":
            self.terminal.line(f"turn {event.turn}: calling the model", NOTE)
        elif kind == "text_delta":
            self.terminal.stream(event.text_delta.delta)
        elif kind == "reasoning_delta":
            self.terminal.stream(event.reasoning_delta.delta, REASONING, to_stderr=True)
        elif kind == "completion_finished":
            usage = event.completion_finished.usage
            self.terminal.line(
                f"turn {event.turn}: {usage.input_tokens} input + "
                f"{usage.output_tokens} output tokens",
                NOTE,
            )
        elif kind == "tool_call":
            call = event.tool_call
            self._calls[call.call_id] = time.monotonic()
            where = " (client tool)" if call.execute else ""
            self.terminal.line(f"→ {call.name} {compact_json(call.arguments)}{where}", TOOL_CALL)
        elif kind == "tool_result":
            self._tool_result(event.tool_result)
        elif kind == "tool_progress":
            progress = event.tool_progress
            fraction = f" {progress.fraction:.0%}" if progress.HasField("fraction") else ""
            self.terminal.line(f"  {progress.name}: {preview(progress.message)}{fraction}", NOTE)

    def _tool_result(self, result: pb.HookToolResult) -> None:
        started = self._calls.pop(result.call_id, None)
        took = f"  ({duration(time.monotonic() - started)})" if started is not None else ""
        line = Text(f"← {result.name} ", style=ERROR if result.is_error else TOOL_OK)
        line.append(("error: " if result.is_error else "") + preview(result.result))
        line.append(took, style=NOTE)
        self.terminal.line(line)

    def _ended(self, ended: pb.HookRunEnded) -> None:
        outcome = pb.RunOutcome.Name(ended.outcome).removeprefix("RUN_OUTCOME_")
        if ended.outcome == pb.RUN_OUTCOME_COMPLETED:
            self.terminal.line(f"run {ended.run_id} {outcome.lower()}", NOTE)
            return
        code = ""
        if ended.error_code:
            code = " " + pb.ErrorCode.Name(ended.error_code).removeprefix("ERROR_CODE_")
        message = f": {ended.message}" if ended.message else ""
        self.terminal.line(f"run {ended.run_id} {outcome.lower()}{code}{message}", ERROR)
