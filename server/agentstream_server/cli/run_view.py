"""How `agentstream prompt` shows a run: readable lines, or one proto JSON event per line."""

from __future__ import annotations

import sys
import time

from agentstream.v1 import agent_pb2 as pb
from google.protobuf import json_format

from .terminal import ERROR, NOTE, REASONING, Terminal, ToolLines, duration


class JsonView:
    """One StreamPromptResponse per line, in proto JSON (as grpcurl prints them)."""

    def show(self, event: pb.StreamPromptResponse) -> None:
        sys.stdout.write(
            json_format.MessageToJson(event, indent=None, preserving_proto_field_name=True) + "\n"
        )
        sys.stdout.flush()


class ReadableView:
    """Text as it comes, reasoning dimmed, tool calls and results as timed lines, and a
    summary line (turns, tokens, time, run id) or the error in red with its code."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self._started = time.monotonic()
        self._tools = ToolLines(terminal)

    def show(self, event: pb.StreamPromptResponse) -> None:
        kind = event.WhichOneof("event")
        if kind == "text_delta":
            self.terminal.stream(event.text_delta.text)
        elif kind == "reasoning_delta":
            self.terminal.stream(event.reasoning_delta.text, REASONING, to_stderr=True)
        elif kind == "tool_call":
            call = event.tool_call
            self._tools.call(call.id, call.name, call.arguments)
        elif kind == "tool_result":
            result = event.tool_result
            self._tools.result(result.id, result.name, result.content, result.is_error)
        elif kind == "final_response":
            self._final(event.run_id, event.final_response)
        elif kind == "error":
            self._error(event.error)
        elif kind == "tool_progress":
            progress = event.tool_progress
            fraction = progress.fraction if progress.HasField("fraction") else None
            self._tools.progress(progress.name, progress.message, fraction)
        elif kind == "turn_finished" and event.turn_finished.finish_reason not in _USUAL_FINISH:
            reason = pb.FinishReason.Name(event.turn_finished.finish_reason)
            self.terminal.line(f"turn {event.turn} ended: {reason.removeprefix('FINISH_REASON_')}")

    def interrupted(self, message: str) -> None:
        self.terminal.line(message, ERROR)

    def _final(self, run_id: str, final: pb.FinalResponse) -> None:
        self.terminal.end_line()
        usage = final.usage
        turns = f"{final.turns} turn" + ("s" if final.turns != 1 else "")
        self.terminal.line(
            f"{turns} · {usage.input_tokens} input + {usage.output_tokens} output tokens · "
            f"{duration(time.monotonic() - self._started)} · run {run_id}",
            NOTE,
        )

    def _error(self, error: pb.RunError) -> None:
        code = pb.ErrorCode.Name(error.code).removeprefix("ERROR_CODE_")
        retry = " (retryable)" if error.retryable else ""
        self.terminal.line(f"error {code}: {error.message}{retry}", ERROR)


_USUAL_FINISH = (pb.FINISH_REASON_STOP, pb.FINISH_REASON_TOOL_CALLS)
