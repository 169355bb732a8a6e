"""agentstream server: runs LLM agent loops and streams their events over gRPC."""
