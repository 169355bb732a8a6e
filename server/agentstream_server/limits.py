"""Every limit the server enforces, in one place: the `limits:` config section, and the
checks that hold requests, runs and hooks streams to it.

A request over a size limit gets INVALID_ARGUMENT naming the field and the limit (the
request has to change); a caller over a concurrency limit gets a retryable
RESOURCE_EXHAUSTED at once (waiting helps); a run over its time gets DEADLINE_EXCEEDED
with its history. Sizes are checked on the protobuf message before anything is
converted, so an oversized request costs almost nothing to refuse.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from dataclasses import dataclass

from agentstream.v1 import agent_pb2 as pb
from google.protobuf import struct_pb2
from pydantic import BaseModel, ConfigDict, Field

from .core.errors import AgentError, ErrorCode, InvalidRequest

KIB = 1024
MIB = 1024 * KIB


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # gRPC message sizes, set on the server; the helpers accept this much by default.
    max_request_bytes: int = Field(16 * MIB, ge=64 * KIB)
    # A final_response or error larger than this is sent without its history
    # (`history_omitted`), so a result is never lost to a receive limit.
    max_response_bytes: int = Field(16 * MIB, ge=64 * KIB)
    max_prompt_bytes: int = Field(1 * MIB, ge=1)
    max_history_messages: int = Field(4096, ge=1)
    max_history_bytes: int = Field(8 * MIB, ge=1)
    max_client_tools: int = Field(128, ge=0)
    max_tool_schema_bytes: int = Field(64 * KIB, ge=1)
    # A tool result (server or client tool) larger than this reaches the model as an error.
    max_tool_output_bytes: int = Field(1 * MIB, ge=1)
    max_extra_params_bytes: int = Field(256 * KIB, ge=1)
    # JSON nesting levels; protobuf itself refuses Structs nested past ~33 levels.
    max_extra_params_depth: int = Field(16, ge=1, le=30)
    max_concurrent_runs: int = Field(256, ge=1)
    max_runs_per_principal: int = Field(64, ge=1)
    # Past this, the server is over its capacity whatever the count: new runs are refused
    # (TOO_MANY_RUNS) while its event loop runs its callbacks this late; 0: no such limit.
    # Without it a saturated process accepts calls so slowly that gRPC cancels those not
    # taken within 30 s, and the runs it has fall behind their tokens.
    max_loop_lag_ms: float = Field(0.0, ge=0)
    max_run_seconds: float = Field(900.0, gt=0)
    # Replies a hooks stream may send per second (bursts of as many are fine); the
    # surplus is refused with a HookError and changes nothing.
    max_hook_replies_per_second: float = Field(200.0, gt=0)
    # A hooks text delta carries its turn's text so far in `aggregated` while that text is
    # at most this long, and nothing past it: each event repeats the whole text, so an
    # unbounded one costs bytes quadratic in the answer's length.
    max_hook_aggregated_chars: int = Field(32 * KIB, ge=0)


def grpc_options(limits: Limits) -> list[tuple[str, int]]:
    """Server channel options: message sizes set explicitly, not left to gRPC's default."""
    return [
        ("grpc.max_receive_message_length", limits.max_request_bytes),
        ("grpc.max_send_message_length", limits.max_response_bytes),
    ]


def _over(field: str, size: int, limit: int, name: str, unit: str = "bytes") -> InvalidRequest:
    return InvalidRequest(field, f"{size} {unit} is over the limit of {limit} (limits.{name})")


# --- request sizes -------------------------------------------------------------------------


def check_request(request: pb.StreamPromptRequest, limits: Limits) -> None:
    """Raises InvalidRequest naming the first field over its limit."""
    prompt_bytes = len(request.prompt.encode())
    if prompt_bytes > limits.max_prompt_bytes:
        raise _over("prompt", prompt_bytes, limits.max_prompt_bytes, "max_prompt_bytes")
    history = request.history
    if len(history) > limits.max_history_messages:
        raise _over(
            "history", len(history), limits.max_history_messages, "max_history_messages", "messages"
        )
    history_bytes = sum(m.ByteSize() for m in history)
    if history_bytes > limits.max_history_bytes:
        raise _over("history", history_bytes, limits.max_history_bytes, "max_history_bytes")
    if len(request.tools) > limits.max_client_tools:
        raise _over(
            "tools", len(request.tools), limits.max_client_tools, "max_client_tools", "tools"
        )
    for i, tool in enumerate(request.tools):
        schema_bytes = tool.parameters.ByteSize()
        if schema_bytes > limits.max_tool_schema_bytes:
            raise _over(
                f"tools[{i}].parameters",
                schema_bytes,
                limits.max_tool_schema_bytes,
                "max_tool_schema_bytes",
            )
    extra_bytes = request.extra_params.ByteSize()
    if extra_bytes > limits.max_extra_params_bytes:
        raise _over(
            "extra_params", extra_bytes, limits.max_extra_params_bytes, "max_extra_params_bytes"
        )
    depth = struct_depth(request.extra_params, limits.max_extra_params_depth)
    if depth > limits.max_extra_params_depth:
        raise InvalidRequest(
            "extra_params",
            f"nested deeper than the limit of {limits.max_extra_params_depth} levels "
            "(limits.max_extra_params_depth)",
        )


def struct_depth(struct: struct_pb2.Struct, stop_after: int) -> int:
    """Nesting levels of a Struct (1 for a flat one), counting no further than one past
    `stop_after`; iterative, so no input can exhaust the stack."""
    deepest = 0
    pending = [(v, 1) for v in struct.fields.values()]
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        if deepest > stop_after:
            return deepest
        kind = value.WhichOneof("kind")
        if kind == "struct_value":
            pending.extend((v, depth + 1) for v in value.struct_value.fields.values())
        elif kind == "list_value":
            pending.extend((v, depth + 1) for v in value.list_value.values)
    return deepest


# --- concurrency -------------------------------------------------------------------------------


class TooManyRuns(AgentError):
    code = ErrorCode.TOO_MANY_RUNS
    retryable = True


@dataclass(slots=True)
class RunSlot:
    """One admitted run; `release` it when the run ends (twice is harmless)."""

    slots: RunSlots
    principal: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.slots.release(self.principal)


class RunSlots:
    """Admission: at most `max_concurrent_runs` runs, and `max_runs_per_principal` for any
    one caller. A run over either is refused at once rather than queued, so a saturated
    server answers quickly and honestly instead of stalling every call."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._running = 0
        self._by_principal: Counter[str] = Counter()
        self._lag = LoopLag() if limits.max_loop_lag_ms else None

    def acquire(self, principal: str) -> RunSlot:
        limits = self._limits
        lag = self._lag
        if lag is not None and lag.late_ms() > limits.max_loop_lag_ms:
            raise TooManyRuns(
                f"the server is overloaded: it runs {lag.late_ms():.0f} ms behind, over "
                f"its limit of {limits.max_loop_lag_ms:g} ms (limits.max_loop_lag_ms); "
                "retry later"
            )
        if self._running >= limits.max_concurrent_runs:
            raise TooManyRuns(
                f"the server already has {self._running} run(s) going, its limit "
                "(limits.max_concurrent_runs); retry later"
            )
        if self._by_principal[principal] >= limits.max_runs_per_principal:
            raise TooManyRuns(
                f"this caller already has {self._by_principal[principal]} run(s) going, "
                "its limit (limits.max_runs_per_principal); retry later"
            )
        self._running += 1
        self._by_principal[principal] += 1
        return RunSlot(self, principal)

    def release(self, principal: str) -> None:
        self._running -= 1
        self._by_principal[principal] -= 1
        if self._by_principal[principal] <= 0:
            del self._by_principal[principal]

    @property
    def running(self) -> int:
        return self._running

    def close(self) -> None:
        if self._lag is not None:
            self._lag.close()


class LoopLag:
    """How far behind the event loop runs: a timer every `every_s` notes how late it fired;
    the lag is the most it was late over the last `ticks` (a second when on time), so one
    timer that happens to fire on time in a flood does not read as all clear. Started by the first
    look, on the loop that looks."""

    def __init__(self, every_s: float = 0.05, ticks: int = 20) -> None:
        self._every_s = every_s
        self._late_s: deque[float] = deque([0.0], maxlen=ticks)
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def late_ms(self) -> float:
        if self._timer is None:
            self._arm(asyncio.get_running_loop())
        return max(self._late_s) * 1000

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = loop.time() + self._every_s
        self._timer = loop.call_at(self._due, self._fired, loop)

    def _fired(self, loop: asyncio.AbstractEventLoop) -> None:
        self._late_s.append(loop.time() - self._due)
        self._arm(loop)


# --- run time ---------------------------------------------------------------------------------


class RunTooLong(AgentError):
    code = ErrorCode.DEADLINE_EXCEEDED

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the run took longer than {seconds:g} s (limits.max_run_seconds); "
            "send the returned history with an empty prompt to continue"
        )


# --- hooks replies -------------------------------------------------------------------------------


class ReplyRate:
    """A token bucket: `per_second` replies on average, bursts of as many."""

    def __init__(self, per_second: float) -> None:
        self._rate = per_second
        self._tokens = per_second
        self._last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def problem(self) -> str:
        return (
            f"reply: ignored, more than {self._rate:g} replies per second "
            "(limits.max_hook_replies_per_second); send it again later"
        )
