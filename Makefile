# Quick start: `make demo` and `make test` each work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all lint typecheck check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo needs the package and the embedded PostgreSQL only, not the development tools.
DEMO_STAMP := $(VENV)/.demo-installed
$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/schema-monitor demo --drift

# The fast suite (no end-to-end runs of Prometheus, the demo or long property runs),
# in two processes.
test: $(STAMP)
	$(BIN)/pytest -m 'not slow' -n 2

# Everything, as CI runs it (property tests at their full number of examples), one at a time.
test-all: $(STAMP)
	HYPOTHESIS_PROFILE=full $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test-all

bench: $(STAMP)
	$(BIN)/python benchmarks/catalog_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
