#!/usr/bin/env bash
# Generate the Go and TypeScript clients' code from proto/ with buf.gen.yaml.
# With an argument, generate under that directory instead (for `make gen-check`):
# the Go code lands in $1/clients/go/gen, the TypeScript code in $1/clients/typescript/src/gen.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
export PATH="$root/.tools/bin:$root/clients/typescript/node_modules/.bin:$PATH"
buf="$root/.tools/npm/node_modules/.bin/buf"
if [ $# -gt 0 ]; then
  "$buf" generate --template buf.gen.yaml -o "$1"
else
  rm -rf clients/go/gen clients/typescript/src/gen
  "$buf" generate --template buf.gen.yaml
fi
