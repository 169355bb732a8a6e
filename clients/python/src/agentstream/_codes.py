"""The run error codes as an IntEnum: `RunFailed.error_code is ErrorCode.MAX_TURNS_EXCEEDED`."""

from __future__ import annotations

import enum

from .v1 import agent_pb2 as pb


class ErrorCode(enum.IntEnum):
    """agentstream.v1.ErrorCode without its prefix; equal to the generated ints. A code this
    client does not know yet (from a newer server) is still an ErrorCode, named UNKNOWN_<n>."""

    UNSPECIFIED = int(pb.ERROR_CODE_UNSPECIFIED)
    INVALID_ARGUMENT = int(pb.ERROR_CODE_INVALID_ARGUMENT)
    AGENT_NOT_FOUND = int(pb.ERROR_CODE_AGENT_NOT_FOUND)
    MAX_TURNS_EXCEEDED = int(pb.ERROR_CODE_MAX_TURNS_EXCEEDED)
    CANCELLED = int(pb.ERROR_CODE_CANCELLED)
    PROVIDER_UNAVAILABLE = int(pb.ERROR_CODE_PROVIDER_UNAVAILABLE)
    PROVIDER_REJECTED = int(pb.ERROR_CODE_PROVIDER_REJECTED)
    HOOKS_FAILED = int(pb.ERROR_CODE_HOOKS_FAILED)
    SHUTTING_DOWN = int(pb.ERROR_CODE_SHUTTING_DOWN)
    INTERNAL = int(pb.ERROR_CODE_INTERNAL)
    DEADLINE_EXCEEDED = int(pb.ERROR_CODE_DEADLINE_EXCEEDED)
    RUN_ID_IN_USE = int(pb.ERROR_CODE_RUN_ID_IN_USE)
    TOO_MANY_RUNS = int(pb.ERROR_CODE_TOO_MANY_RUNS)
    RUN_LOST = int(pb.ERROR_CODE_RUN_LOST)
    RUN_STORE_UNAVAILABLE = int(pb.ERROR_CODE_RUN_STORE_UNAVAILABLE)

    @classmethod
    def _missing_(cls, value: object) -> ErrorCode | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        unknown = int.__new__(cls, value)
        unknown._name_ = f"UNKNOWN_{value}"
        unknown._value_ = value
        return unknown

    @property
    def proto_name(self) -> str:
        """The generated name, e.g. "ERROR_CODE_MAX_TURNS_EXCEEDED"."""
        return f"ERROR_CODE_{self.name}"
