"""Python client for the agentstream gRPC service.

`agentstream.v1` holds the generated protobuf and gRPC modules; `AgentClient`
is the async helper (runs, events, client tools, hooks, cancel).
"""

from .client import (
    AgentClient,
    Cancel,
    ClientTool,
    HookAction,
    Proceed,
    Run,
    RunFailed,
    Skip,
    Tls,
    ToolOutput,
    tool,
)

__all__ = [
    "AgentClient",
    "Cancel",
    "ClientTool",
    "HookAction",
    "Proceed",
    "Run",
    "RunFailed",
    "Skip",
    "Tls",
    "ToolOutput",
    "tool",
]
