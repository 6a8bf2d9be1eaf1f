# Everything runs from the virtual environment in .venv, made with `python3` (3.11 or newer) on first
# use. Dependencies come from the lock (requirements/test.txt, exported from uv.lock: exact versions,
# hashes checked); they are reinstalled when the lock or pyproject.toml changes.
#
#   make run         the service on http://127.0.0.1:8000 (development profile, unauthenticated calls allowed);
#                    installs the runtime dependencies only
#   make test        the test suite
#   make lint        ruff (lint and format check), mypy --strict, import-linter, the knowledge check, the link
#                    and reference check (tools/check_references.py), and lock-check
#   make lock        after changing dependencies in pyproject.toml: re-resolve uv.lock, export requirements/
#   make lock-check  fail when uv.lock or requirements/*.txt is not current with pyproject.toml
#
# Overrides: make run PORT=9000 CDS_ALLOW_UNAUTHENTICATED=false, make test PYTEST_ARGS='-k feedback'.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock
RUNTIME_STAMP := $(VENV)/.installed-runtime-from-lock
UV := $(BIN)/uv
LOCKED_RUNTIME := requirements/runtime.txt
LOCKED_TEST := requirements/test.txt
LOCKED_COMPILE := requirements/compile.txt
# One export command for `lock` and `lock-check`: runtime only (the image), or with the test extras (CI).
EXPORT := $(UV) export --frozen --no-emit-project --no-header --format requirements-txt --quiet

HOST ?= 127.0.0.1
PORT ?= 8000
CDS_PROFILE ?= development
CDS_ALLOW_UNAUTHENTICATED ?= true
# The CDS Hooks Sandbox always sends its JWT, which is then verified: trust it in development.
CDS_TRUSTED_CLIENTS_FILE ?= $(wildcard deploy/trusted-clients.development.yaml)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench bench-burden lock lock-check

help:
	@echo "make run         start the service on http://$(HOST):$(PORT) (CDS_PROFILE=$(CDS_PROFILE)); runtime dependencies only"
	@echo "make install     the virtual environment .venv with the runtime and development dependencies, and the compiled walk"
	@echo "make test        run the tests"
	@echo "make lint        ruff check, ruff format --check, mypy --strict, import-linter (clinical core layering),"
	@echo "                 the knowledge check, the link and reference check, lock-check"
	@echo "make lock        re-resolve uv.lock and export requirements/*.txt after a dependency change in pyproject.toml"
	@echo "make lock-check  fail when uv.lock or requirements/*.txt is not current with pyproject.toml"
	@echo "make bench       the performance benchmark (about 2 minutes; writes docs/performance.md)"
	@echo "make bench-burden  burden at scale: wall time and peak PSS (PATIENTS=20000, several minutes)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; $(PYTHON) is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

# The locked dependencies, hashes required and nothing else (--no-deps), then the project itself.
$(STAMP): pyproject.toml $(LOCKED_TEST) | $(BIN)/python
	$(BIN)/python -m pip install --require-hashes --no-deps --requirement $(LOCKED_TEST)
	$(BIN)/python -m pip install --no-deps --editable .
	@touch $@

# `make run` needs only what the service runs with: the runtime lock, then the project. A later
# `make install` / `make test` adds the development tools on top.
$(RUNTIME_STAMP): pyproject.toml $(LOCKED_RUNTIME) | $(BIN)/python
	$(BIN)/python -m pip install --require-hashes --no-deps --requirement $(LOCKED_RUNTIME)
	$(BIN)/python -m pip install --no-deps --editable .
	@touch $@

# The fast reject's walk compiled with mypyc (tools/compile_walk.py), again whenever its source changes.
# Without a C compiler the Python walk is used (the same answers, about half as fast) and the next make
# tries again; the tests fail under CI=true when the compiled walk is missing or stale.
WALK_STAMP := $(VENV)/.compiled-walk
$(WALK_STAMP): clinical/timeline/relevance_walk.py tools/compile_walk.py $(STAMP)
	@if $(BIN)/python tools/compile_walk.py --require; then touch $@; fi

install: $(STAMP) $(WALK_STAMP)

run: $(RUNTIME_STAMP)
	CDS_PROFILE=$(CDS_PROFILE) CDS_ALLOW_UNAUTHENTICATED=$(CDS_ALLOW_UNAUTHENTICATED) \
		$(if $(CDS_TRUSTED_CLIENTS_FILE),CDS_TRUSTED_CLIENTS_FILE=$(CDS_TRUSTED_CLIENTS_FILE)) \
		$(BIN)/uvicorn service.app:app --host $(HOST) --port $(PORT)

# pytest exits 5 when it collected no tests: that fails here like any other non-zero status.
test: $(STAMP) $(WALK_STAMP)
	@status=0; $(BIN)/python -m pytest -q $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

lint: $(STAMP) lock-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict service clinical workbench timeline_view smart_app
	$(BIN)/lint-imports
	$(BIN)/immuno-cds check-knowledge
	$(BIN)/python tools/check_references.py

# Re-resolves only what pyproject.toml changed (uv keeps the other pins); `uv lock --upgrade` moves all.
lock: $(STAMP)
	$(UV) lock
	$(EXPORT) --output-file $(LOCKED_RUNTIME)
	$(EXPORT) --extra test --output-file $(LOCKED_TEST)
	$(EXPORT) --only-group compile --output-file $(LOCKED_COMPILE)

lock-check: $(STAMP)
	@$(UV) lock --locked || { echo "make lock-check: uv.lock is not current with pyproject.toml: run make lock" >&2; exit 1; }
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(EXPORT) --output-file "$$tmp/runtime.txt" && $(EXPORT) --extra test --output-file "$$tmp/test.txt" && \
	$(EXPORT) --only-group compile --output-file "$$tmp/compile.txt" && \
	diff -q "$$tmp/runtime.txt" $(LOCKED_RUNTIME) >/dev/null && diff -q "$$tmp/test.txt" $(LOCKED_TEST) >/dev/null && \
	diff -q "$$tmp/compile.txt" $(LOCKED_COMPILE) >/dev/null \
	|| { echo "make lock-check: requirements/*.txt differ from uv.lock: run make lock" >&2; exit 1; }

# Not part of `make test`: timings are measured, never asserted. `wrk` (apt-get install wrk) is used for
# the load test when installed, else an httpx load loop.
bench: $(STAMP) $(WALK_STAMP)
	$(BIN)/python -m bench.run

# The alert burden at scale (issue 18): wall time and peak PSS across the process tree, PATIENTS=20000.
PATIENTS ?= 20000
bench-burden: $(STAMP)
	$(BIN)/python -m bench.burden_scale --patients $(PATIENTS) --workers 2
