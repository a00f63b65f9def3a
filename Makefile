# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LISTEN ?= 127.0.0.1:8000
DATA ?= ./data

.PHONY: run test lint typecheck unit conformance conformance-reference bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/weir serve --listen $(LISTEN) --data-dir $(DATA)

lint: $(STAMP)
	$(BIN)/ruff check gateway tests conformance bench
	$(BIN)/ruff format --check gateway tests conformance bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict gateway

# The conformance suite runs twice: against one Weir, and against three gateways on one
# PostgreSQL and one SeaweedFS behind a round-robin load balancer (tests/support/cluster.py).
test: lint typecheck
	WEIR_CONFORMANCE_TARGETS=weir,weir-cluster $(BIN)/pytest -q -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The S3 conformance suite against Weir (started by the suite) and against a reference server.
conformance: $(STAMP)
	WEIR_CONFORMANCE_TARGETS=weir,weir-cluster $(BIN)/pytest -q conformance

conformance-reference: $(STAMP)
	WEIR_CONFORMANCE_TARGET=seaweedfs $(BIN)/pytest -q conformance

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
