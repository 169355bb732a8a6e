"""The gRPC edge: converts between protobuf and the core, and serves it."""
