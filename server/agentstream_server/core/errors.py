"""Why a run can fail. The servicer turns each code into a gRPC status in one place."""

from __future__ import annotations

from enum import Enum

# How much of a caller's own input an error message repeats. Status messages travel as
# gRPC metadata (8 KiB at most), so a 20 KB name must not be copied whole.
QUOTE_LIMIT = 64


def quote(value: str, limit: int = QUOTE_LIMIT) -> str:
    """`value` as repr(), cut to `limit` characters with a note of its full length."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


class ErrorCode(Enum):
    INVALID_ARGUMENT = "invalid_argument"
    AGENT_NOT_FOUND = "agent_not_found"
    MAX_TURNS_EXCEEDED = "max_turns_exceeded"
    CANCELLED = "cancelled"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_REJECTED = "provider_rejected"
    HOOKS_FAILED = "hooks_failed"
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    RUN_ID_IN_USE = "run_id_in_use"
    RUN_LOST = "run_lost"
    RUN_STORE_UNAVAILABLE = "run_store_unavailable"
    TOO_MANY_RUNS = "too_many_runs"


class AgentError(Exception):
    """A failure the caller is told about: a code, a message and whether to retry."""

    code: ErrorCode = ErrorCode.INTERNAL
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(AgentError):
    code = ErrorCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class AgentNotFound(AgentError):
    code = ErrorCode.AGENT_NOT_FOUND

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"agent: no agent named {quote(name)} (configured: {', '.join(known)})")


class MaxTurnsExceeded(AgentError):
    code = ErrorCode.MAX_TURNS_EXCEEDED

    def __init__(self, max_turns: int) -> None:
        super().__init__(
            f"the model still called tools after {max_turns} model call(s) (max_turns); "
            "send the returned history with an empty prompt to continue"
        )


class RunCancelled(AgentError):
    code = ErrorCode.CANCELLED

    def __init__(self, reason: str) -> None:
        super().__init__(f"run cancelled: {reason}" if reason else "run cancelled")
        self.reason = reason


class ProviderError(AgentError):
    """The model provider failed. `retryable` tells whether the same request may pass later."""

    def __init__(self, provider: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.retryable = retryable
        self.code = ErrorCode.PROVIDER_UNAVAILABLE if retryable else ErrorCode.PROVIDER_REJECTED


class HooksFailed(AgentError):
    code = ErrorCode.HOOKS_FAILED


class RunIdInUse(AgentError):
    code = ErrorCode.RUN_ID_IN_USE

    def __init__(self, run_id: str, detail: str = "is already running") -> None:
        super().__init__(f"run_id: a run with id {quote(run_id)} {detail}")


class ShuttingDown(AgentError):
    code = ErrorCode.SHUTTING_DOWN
    retryable = True


class RunLost(AgentError):
    """The process running the run stopped without finishing it."""

    code = ErrorCode.RUN_LOST
    retryable = True


class RunStoreUnavailable(AgentError):
    code = ErrorCode.RUN_STORE_UNAVAILABLE
    retryable = True
