# `make run` and `make test` are the README's quick start; both set up .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench chaos clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip==26.3"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tether run --demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m tests.perf

chaos: $(STAMP)
	$(BIN)/python -m tests.chaos
	$(BIN)/python -m tests.chaos.slack
	$(BIN)/python -m tests.chaos.matrix
	$(BIN)/python -m tests.chaos.webhook

clean:
	rm -rf $(VENV) .tether .pytest_cache .mypy_cache .ruff_cache
