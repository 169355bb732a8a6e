"""Python client for the agentstream gRPC service.

`agentstream.v1` holds the generated protobuf and gRPC modules; `AgentClient`
is the async helper (runs, events, client tools, hooks, cancel).
"""

from ._codes import ErrorCode
from .client import (
    AgentClient,
    Cancel,
    HookAction,
    Proceed,
    Run,
    RunFailed,
    Skip,
    Tls,
    ToolOutput,
)
from .tools import ClientTool, Progress, ToolArgumentsError, tool

__all__ = [
    "AgentClient",
    "Cancel",
    "ClientTool",
    "ErrorCode",
    "HookAction",
    "Proceed",
    "Progress",
    "Run",
    "RunFailed",
    "Skip",
    "Tls",
    "ToolArgumentsError",
    "ToolOutput",
    "tool",
]
