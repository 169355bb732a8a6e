"""How `agentstream attach` shows a run's hook events."""

from __future__ import annotations

from agentstream.v1 import agent_pb2 as pb

from .terminal import ERROR, NOTE, REASONING, Terminal, ToolLines


class ReadableHookView:
    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self._tools = ToolLines(terminal)

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
            where = " (client tool)" if call.execute else ""
            self._tools.call(call.call_id, call.name, call.arguments, where)
        elif kind == "tool_result":
            result = event.tool_result
            self._tools.result(result.call_id, result.name, result.result, result.is_error)
        elif kind == "tool_progress":
            progress = event.tool_progress
            fraction = progress.fraction if progress.HasField("fraction") else None
            self._tools.progress(progress.name, progress.message, fraction)

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
