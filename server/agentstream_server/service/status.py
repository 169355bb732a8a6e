"""The one place where a run's error becomes a gRPC status."""

from __future__ import annotations

import grpc

from ..bus import BusError, BusUnavailable, EventsGone, RunExists, RunNotFound
from ..core.errors import ErrorCode
from .convert import ERROR_CODES_PB

STATUS_OF: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.AGENT_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    # The run used up its turn budget, a per-run quota; the error's history resumes it.
    ErrorCode.MAX_TURNS_EXCEEDED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.CANCELLED: grpc.StatusCode.CANCELLED,
    ErrorCode.PROVIDER_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.PROVIDER_REJECTED: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.HOOKS_FAILED: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.SHUTTING_DOWN: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
    ErrorCode.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorCode.RUN_ID_IN_USE: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.RUN_LOST: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.RUN_STORE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    # A concurrency limit: retryable, answered at once rather than queued.
    ErrorCode.TOO_MANY_RUNS: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

# The same, keyed by the protobuf code a run's `error` event carries (WatchRun).
STATUS_OF_PB: dict[int, grpc.StatusCode] = {
    ERROR_CODES_PB[code]: status for code, status in STATUS_OF.items()
}

BUS_STATUS: dict[type[BusError], grpc.StatusCode] = {
    RunNotFound: grpc.StatusCode.NOT_FOUND,
    RunExists: grpc.StatusCode.ALREADY_EXISTS,
    # The log no longer holds the events asked for: replaying would leave a gap.
    EventsGone: grpc.StatusCode.OUT_OF_RANGE,
    BusUnavailable: grpc.StatusCode.UNAVAILABLE,
}
