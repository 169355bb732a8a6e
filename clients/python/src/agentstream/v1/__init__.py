"""Generated protobuf and gRPC modules for agentstream.v1 (see proto/)."""
