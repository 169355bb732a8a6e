# agentstream: `make run` serves the default agent on localhost:50051; `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= python3
# Empty: the built-in default config (server/agentstream_server/default_config.yaml).
CONFIG ?=
ADDR ?= localhost:50051
WORKERS ?= 1

VENV := .venv
BIN := $(VENV)/bin
TOOLS := $(CURDIR)/.tools
BUF_VERSION := 1.75.0
BUF := $(TOOLS)/npm/node_modules/.bin/buf
# Go code generators and grpcurl, installed with `go install` into $(TOOLS)/bin.
PROTOC_GEN_GO_VERSION := v1.36.11
PROTOC_GEN_GO_GRPC_VERSION := v1.6.1
GRPCURL_VERSION := v1.9.3
STAMPS := $(TOOLS)/stamps
GO_DIR := clients/go
TS_DIR := clients/typescript
JAVA_DIR := clients/java
RUST_DIR := clients/rust
# Maven and Cargo keep every download and build under .tools, so CI caches one folder.
MVN := mvn -B -q -Dmaven.repo.local=$(TOOLS)/m2
CARGO := CARGO_HOME=$(TOOLS)/cargo CARGO_TARGET_DIR=$(TOOLS)/cargo-target cargo
# The Maven and Cargo stamps are named after a hash of what they depend on, not its time: a
# rebase or a fresh clone with a warm .tools rebuilds nothing, a real change rebuilds.
content_hash = $(shell cat $(1) 2>/dev/null | sha256sum | cut -c1-16)
JAVA_DEPS := $(STAMPS)/java-deps-$(call content_hash,$(JAVA_DIR)/pom.xml)
RUST_DEPS := $(STAMPS)/rust-deps-$(call content_hash,$(RUST_DIR)/Cargo.toml $(RUST_DIR)/Cargo.lock)
# The Rust crate builds from its own copy of the proto, so that it can be packaged.
PROTO := proto/agentstream/v1/agent.proto
RUST_PROTO := $(RUST_DIR)/$(PROTO)
GO_TOOLS := $(STAMPS)/protoc-gen-go@$(PROTOC_GEN_GO_VERSION) \
	$(STAMPS)/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION) $(STAMPS)/grpcurl@$(GRPCURL_VERSION)

.PHONY: help setup run test lint gen gen-check breaking conformance example-python example-go \
	example-typescript example-java example-rust bench dist clean

help:
	@echo "make run [CONFIG=path] [ADDR=host:port] [WORKERS=n]  serve agents (default: the built-in config on $(ADDR))"
	@echo "make test                                lint, generated-code check, all tests"
	@echo "make bench                               benchmarks"
	@echo "make dist                                the server and client wheels, in dist/"
	@echo "make gen                                 regenerate code from proto/ (Python, Go, TypeScript; the Rust crate's copy)"
	@echo "make conformance                         the conformance suite in Python, Go, TypeScript, Java, Rust"
	@echo "make example-{python,go,typescript,java,rust}  run a client example against ADDR (make run's server)"

setup: $(VENV)/.installed $(BUF) $(GO_TOOLS) $(STAMPS)/go-mod $(STAMPS)/go-otel-mod $(TS_DIR)/node_modules/.package-lock.json \
	redis-server $(JAVA_DEPS) $(RUST_DEPS)

# The Redis run bus's tests start a real redis-server (from Debian's packages when missing).
.PHONY: redis-server
redis-server:
	@command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)

# The virtual environment is rebuilt when a dependency list changes.
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The server pulls in the client from clients/python (setup.py); the second step makes
	# that client editable too, so changes to the helper apply without reinstalling.
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps -e clients/python
	touch $@

$(BUF):
	mkdir -p $(TOOLS)/npm
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/npm @bufbuild/buf@$(BUF_VERSION)

$(STAMPS)/protoc-gen-go@%:
	GOBIN=$(TOOLS)/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@$*
	mkdir -p $(STAMPS) && touch $@

$(STAMPS)/protoc-gen-go-grpc@%:
	GOBIN=$(TOOLS)/bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$*
	mkdir -p $(STAMPS) && touch $@

$(STAMPS)/grpcurl@%:
	GOBIN=$(TOOLS)/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$*
	mkdir -p $(STAMPS) && touch $@

# The Go client's modules, from the Go module proxy.
$(STAMPS)/go-mod: $(GO_DIR)/go.mod $(GO_DIR)/go.sum
	cd $(GO_DIR) && go mod download
	mkdir -p $(STAMPS) && touch $@

# The Go helper's OpenTelemetry module (clients/go/otel, a module of its own).
$(STAMPS)/go-otel-mod: $(GO_DIR)/otel/go.mod $(GO_DIR)/otel/go.sum
	cd $(GO_DIR)/otel && go mod download
	mkdir -p $(STAMPS) && touch $@

# The TypeScript client's packages (protoc-gen-es, tsc, Connect-ES), from the npm registry.
$(TS_DIR)/node_modules/.package-lock.json: $(TS_DIR)/package-lock.json
	cd $(TS_DIR) && npm ci --silent --no-audit --no-fund

# The Java client's build: protoc, protoc-gen-grpc-java and the jars, from Maven Central.
# Maven itself comes from Debian when the machine has none.
$(JAVA_DEPS):
	command -v mvn >/dev/null || { apt-get update -qq && apt-get install -y -qq maven; }
	cd $(JAVA_DIR) && $(MVN) test-compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
	mkdir -p $(STAMPS) && rm -f $(STAMPS)/java-deps* && touch $@

# The Rust client's crates (tonic, prost, a vendored protoc), from crates.io.
$(RUST_DEPS):
	cd $(RUST_DIR) && $(CARGO) fetch --locked
	mkdir -p $(STAMPS) && rm -f $(STAMPS)/rust-deps* && touch $@

run: $(VENV)/.installed
	$(BIN)/agentstream serve $(if $(CONFIG),--config $(CONFIG)) --addr $(ADDR) --workers $(WORKERS)

# pytest includes tests/conformance: the scenarios run by the Python, Go, TypeScript, Java and Rust
# runners (the Java and Rust ones are built there, with the caches under .tools).
test: setup lint gen-check breaking
	cd $(GO_DIR) && go test ./agentstream/
	$(BIN)/pytest

conformance: setup
	$(BIN)/pytest tests/conformance

lint: setup
	$(BUF) lint
	$(BIN)/ruff check server tests bench clients/python/src clients/python/examples setup.py
	$(BIN)/ruff format --check server tests bench clients/python/src clients/python/examples setup.py
	$(BIN)/mypy
	cd $(GO_DIR) && test -z "$$(gofmt -l .)" || { gofmt -l .; echo "Go code is not gofmt-ed"; exit 1; }
	cd $(GO_DIR) && go vet ./...
	cd $(GO_DIR)/otel && go vet ./...
	cd $(TS_DIR) && node_modules/.bin/tsc -p . --noEmit
	cd $(RUST_DIR) && $(CARGO) fmt --check

gen: setup
	scripts/gen_python.sh
	scripts/gen_go_ts.sh
	cp $(PROTO) $(RUST_PROTO)

# Generated code is committed; fail when it differs from what proto/ generates now.
gen-check: setup
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	scripts/gen_python.sh $$tmp/python && \
	diff -r -x __init__.py -x __pycache__ $$tmp/python/agentstream/v1 clients/python/src/agentstream/v1 \
	    || { echo "generated code is stale: run 'make gen' and commit"; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	scripts/gen_go_ts.sh $$tmp && \
	diff -r $$tmp/$(GO_DIR)/gen $(GO_DIR)/gen && diff -r $$tmp/$(TS_DIR)/src/gen $(TS_DIR)/src/gen \
	    || { echo "generated code is stale: run 'make gen' and commit"; exit 1; }
	@cmp -s $(PROTO) $(RUST_PROTO) \
	    || { echo "$(RUST_PROTO) differs from $(PROTO): run 'make gen' and commit"; exit 1; }
	@echo "generated code is fresh"

# Breaking changes to proto/ against the main branch (skipped when there is none to compare).
breaking: setup
	@if git rev-parse --verify --quiet main >/dev/null; then \
	    $(BUF) breaking proto --against '.git#branch=main,subdir=proto' && echo "no breaking change against main"; \
	else echo "no main branch to compare with: skipping buf breaking"; fi

example-python: setup
	$(BIN)/python clients/python/examples/run_prompt.py --target $(ADDR)

example-go: setup
	cd $(GO_DIR) && go run ./examples/run_prompt -target $(ADDR)

example-typescript: setup
	cd $(TS_DIR) && npm run --silent build && node dist/examples/run_prompt.js --target $(ADDR)

example-java: setup
	cd $(JAVA_DIR) && $(MVN) test-compile && \
	    java -cp target/classes:target/test-classes:$$(cat target/classpath.txt) \
	    io.github.agentstream.examples.RunPrompt --target $(ADDR)

example-rust: setup
	cd $(RUST_DIR) && $(CARGO) run --quiet --locked --example run_prompt -- --target $(ADDR)

bench: setup
	$(BIN)/python -m bench

# Wheels for installing elsewhere: `pip install --find-links dist agentstream-server`. The
# server's wheel is built from its sdist, so it requires the client by name, not by path.
dist: $(VENV)/.installed
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m build --wheel --outdir dist clients/python

clean:
	rm -rf $(VENV) $(TOOLS)
