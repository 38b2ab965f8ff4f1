# memberhub developer and CI entry points. Every tool runs from the project virtualenv (.venv).
#
#   make venv           create/refresh .venv (uv==0.13.9, `uv sync --frozen`, main + dev) and
#                       node_modules (`npm ci`: openapi-typescript, which the tests run)
#   make run            migrate, bootstrap the demo brand, serve on 127.0.0.1:8000 (HOST=, PORT= override;
#                       the sandbox and the demo's URLs follow them)
#   make test           pytest on the embedded defaults (SQLite, in-process cache), then again
#                       on PostgreSQL + Redis (scripts/test-services); stops at the first failure
#   make browser        Debian's chromium (and a CJK font) for the H5 browser test, when missing
#   make test-sqlite    the first suite alone
#   make test-services  the second suite alone
#   make lint           ruff check, ruff format --check, mypy
#   make fmt            ruff format, ruff check --fix
#   make worker         the job worker
#   make bench          the wrk benchmarks (installs wrk when missing)
#   make clean          remove .venv, node_modules, caches and build output (var/ is kept)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON3 ?= python3
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
SYNC_STAMP := $(VENV)/.synced
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)

HOST ?= $(or $(MEMBERHUB_HOST),127.0.0.1)
PORT ?= $(or $(MEMBERHUB_PORT),8000)

MYPY_TARGETS := $(wildcard config api/core api/web api/org api/member_center api/payments api/coupons api/wechat_callbacks api/mall sandbox workers)

# Root needs no sudo; anyone else uses it when present.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || ! command -v sudo >/dev/null 2>&1 || echo sudo)

# Python writes its bytecode caches even where the environment asks it not to: without them
# every process of the suite (servers, workers, commands) compiles everything it imports again.
unexport PYTHONDONTWRITEBYTECODE

# The embedded suite must not pick up service URLs from the caller's environment.
PYTEST_EMBEDDED := env -u MEMBERHUB_TEST_DATABASE_URL -u MEMBERHUB_TEST_REDIS_URL \
	$(BIN)/python -m pytest
PYTEST_SERVICES := scripts/test-services run -- $(BIN)/python -m pytest

# package-lock.json pins the npm packages the tests run; npm ci records them here.
NODE_STAMP := node_modules/.package-lock.json

.PHONY: help venv node-tools browser run test test-sqlite test-services lint fmt worker bench clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# --- virtualenv ------------------------------------------------------------------------------

# The npm packages come along: the tests run openapi-typescript over the OpenAPI document.
venv: $(SYNC_STAMP) node-tools

$(BIN)/python:
	$(PYTHON3) -m venv $(VENV)

# The stamp names the uv version, so changing UV_VERSION reinstalls uv.
$(UV_STAMP): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	rm -f $(VENV)/.uv-*
	touch $@

# Re-sync only when the lock or the project metadata is newer than the last sync.
$(SYNC_STAMP): pyproject.toml uv.lock $(UV_STAMP)
	$(BIN)/uv sync --frozen
	touch $@

# --- npm packages for the tests --------------------------------------------------------------
# Without npm the generated-client test skips, except under CI=true, where it fails.

node-tools: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the generated TypeScript client test will not run" >&2; \
	fi

# --- a browser for the H5 test ----------------------------------------------------------------
# tests/integration/test_h5_browser.py drives Debian's chromium (never a downloaded build) with
# Playwright; without it the test skips, except under CI=true, where it fails.

CHROMIUM := /usr/bin/chromium

browser:
	@if [ ! -x $(CHROMIUM) ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "chromium or a CJK font not found: installing them with apt-get"; \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update; \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-wqy-microhei; \
		else \
			echo "chromium not found and no apt-get: the H5 browser test will not run" >&2; \
		fi; \
	fi

# --- running ---------------------------------------------------------------------------------

# Every step sees the address, so the demo's summary names the URLs the server answers on.
run: export MEMBERHUB_HOST := $(HOST)
run: export MEMBERHUB_PORT := $(PORT)
run: venv
	$(BIN)/memberhub migrate
	$(BIN)/memberhub bootstrap-demo --once
	$(BIN)/memberhub serve --host $(HOST) --port $(PORT)

worker: venv
	$(BIN)/memberhub worker

# --- tests -----------------------------------------------------------------------------------
# pytest exits 5 when it collects no tests; like every other non-zero status, that fails make.
# The two suites are separate processes, run side by side by scripts/test-both (each to its own
# log); `make test-sqlite` and `make test-services` run one of them with its output live.

test: venv browser
	scripts/test-both

test-sqlite: venv browser
	$(PYTEST_EMBEDDED)

test-services: venv
	$(PYTEST_SERVICES)

# --- code quality ----------------------------------------------------------------------------

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --config-file pyproject.toml $(MYPY_TARGETS)

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# --- benchmarks ------------------------------------------------------------------------------

bench: venv
	@if ! command -v wrk >/dev/null 2>&1; then \
		echo "wrk not found: installing it with apt-get"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; \
	fi
	$(BIN)/python -m bench

# --- housekeeping ----------------------------------------------------------------------------

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache build dist *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
