# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LISTEN ?= 127.0.0.1:8000
DATA ?= ./data

.PHONY: run test test-s3 lint typecheck unit conformance conformance-reference bench screenshots clean

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

# The conformance suite runs against one Weir and against three gateways on one PostgreSQL and
# one SeaweedFS behind a round-robin load balancer (tests/support/cluster.py), then once more
# with Weir's blobs on SeaweedFS.
test: lint typecheck
	WEIR_CONFORMANCE_TARGETS=weir,weir-cluster $(BIN)/pytest -q -p no:cacheprovider
	WEIR_TEST_BLOB_BACKEND=s3 $(BIN)/pytest -q -p no:cacheprovider conformance

# The functional, CLI and conformance suites against Weir keeping its blobs on a real SeaweedFS
# (storage.backend = "s3"), started by the tests.
test-s3: $(STAMP)
	WEIR_TEST_BLOB_BACKEND=s3 $(BIN)/pytest -q -p no:cacheprovider tests/functional tests/cli conformance

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The S3 conformance suite against Weir (started by the suite) and against a reference server.
conformance: $(STAMP)
	WEIR_CONFORMANCE_TARGETS=weir,weir-cluster $(BIN)/pytest -q conformance

conformance-reference: $(STAMP)
	WEIR_CONFORMANCE_TARGET=seaweedfs $(BIN)/pytest -q conformance

# The README's screenshots of the web UI (a real server, the demo lake, headless Chromium).
screenshots: $(STAMP)
	$(BIN)/python -m tests.ui.screenshots docs/screenshots

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
