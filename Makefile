# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is installed on its own first so that pip takes the pinned CPU wheel.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(STAMP)
	$(BIN)/labelkit demo --workspace demo-workspace

test: $(DEV_STAMP)
	$(BIN)/ruff check labelkit labeling_functions tests benchmarks scripts
	$(BIN)/ruff format --check labelkit labeling_functions tests benchmarks scripts
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check labelkit labeling_functions tests benchmarks scripts

format: $(DEV_STAMP)
	$(BIN)/ruff format labelkit labeling_functions tests benchmarks scripts
	$(BIN)/ruff check --fix labelkit labeling_functions tests benchmarks scripts

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache .ruff_cache
