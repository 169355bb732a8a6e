"""Python client for the agentstream gRPC service."""
