"""The last event of a run whose replica died without ending it."""

from __future__ import annotations

from agentstream.v1 import agent_pb2 as pb

LOST_MESSAGE = (
    "the server process running this run stopped before it finished; "
    "send the error's history with an empty prompt to continue"
)


def lost_run_event(run_id: str, seq: int, checkpoint: bytes | None) -> pb.StreamPromptResponse:
    """An ERROR_CODE_RUN_LOST error carrying the history as of the run's last finished turn
    (`checkpoint`, a serialised RunError), made sendable: a tool call with no result gets
    an error result saying it never ran."""
    saved = pb.RunError.FromString(checkpoint) if checkpoint else pb.RunError()
    history = list(saved.history)
    pending = _unanswered_calls(history)
    if pending:
        results = [
            pb.ContentPart(
                tool_result=pb.ToolResult(
                    id=call.id,
                    call_id=call.call_id,
                    name=call.name,
                    content="not run: the server running the run stopped",
                    is_error=True,
                )
            )
            for call in pending
        ]
        history.append(pb.Message(role=pb.ROLE_USER, parts=results))
    error = pb.RunError(
        code=pb.ERROR_CODE_RUN_LOST, message=LOST_MESSAGE, retryable=True, history=history
    )
    return pb.StreamPromptResponse(run_id=run_id, seq=seq, error=error)


def _unanswered_calls(history: list[pb.Message]) -> list[pb.ToolCall]:
    if not history or history[-1].role != pb.ROLE_ASSISTANT:
        return []
    return [p.tool_call for p in history[-1].parts if p.WhichOneof("part") == "tool_call"]
