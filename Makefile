# agentstream: `make run` serves the default agent on localhost:50051; `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= python3
CONFIG ?= config/default.yaml
ADDR ?= localhost:50051

VENV := .venv
BIN := $(VENV)/bin
TOOLS := $(CURDIR)/.tools
BUF_VERSION := 1.75.0
BUF := $(TOOLS)/npm/node_modules/.bin/buf

.PHONY: help setup run test lint gen gen-check bench clean

help:
	@echo "make run [CONFIG=path] [ADDR=host:port]  serve agents (default: $(CONFIG) on $(ADDR))"
	@echo "make test                                lint, generated-code check, all tests"
	@echo "make bench                               benchmarks"
	@echo "make gen                                 regenerate code from proto/"

setup: $(VENV)/.installed $(BUF)

# The virtual environment is rebuilt when a dependency list changes.
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e clients/python -e '.[dev]'
	touch $@

$(BUF):
	mkdir -p $(TOOLS)/npm
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/npm @bufbuild/buf@$(BUF_VERSION)

run: $(VENV)/.installed
	$(BIN)/python -m agentstream_server --config $(CONFIG) --addr $(ADDR)

test: setup lint gen-check
	$(BIN)/pytest

lint: setup
	$(BUF) lint
	$(BIN)/ruff check server tests bench clients/python/src
	$(BIN)/ruff format --check server tests bench clients/python/src
	$(BIN)/mypy

gen: setup
	scripts/gen_python.sh

# Generated code is committed; fail when it differs from what proto/ generates now.
gen-check: setup
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	scripts/gen_python.sh $$tmp/python && \
	diff -r -x __init__.py -x __pycache__ $$tmp/python/agentstream/v1 clients/python/src/agentstream/v1 \
	    || { echo "generated code is stale: run 'make gen' and commit"; exit 1; }
	@echo "generated code is fresh"

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS)
