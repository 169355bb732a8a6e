#!/usr/bin/env bash
# Generate the Python protobuf and gRPC modules from proto/ into $1
# (default: the Python client's source tree, where they are committed).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-clients/python/src}"
bin="$(pwd)/.venv/bin"
mkdir -p "$out"
PATH="$bin:$PATH" "$bin/python" -m grpc_tools.protoc -I proto \
  --python_out="$out" --mypy_out="$out" \
  --grpc_python_out="$out" --mypy_grpc_out="$out" \
  $(find proto -name "*.proto" | sort)
