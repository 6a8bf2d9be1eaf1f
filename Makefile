# Everything runs from the virtual environment in .venv, made with `python3` (3.11 or newer) on first
# use; the project and its test extras are (re)installed only when pyproject.toml changes.
#
#   make run     the service on http://127.0.0.1:8000 (development profile, unauthenticated calls allowed)
#   make test    the test suite
#   make lint    ruff (lint and format check) and mypy --strict
#
# Overrides: make run PORT=9000 CDS_ALLOW_UNAUTHENTICATED=false, make test PYTEST_ARGS='-k feedback'.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-pyproject

HOST ?= 127.0.0.1
PORT ?= 8000
CDS_PROFILE ?= development
CDS_ALLOW_UNAUTHENTICATED ?= true
# The CDS Hooks Sandbox always sends its JWT, which is then verified: trust it in development.
CDS_TRUSTED_CLIENTS_FILE ?= $(wildcard deploy/trusted-clients.development.yaml)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench

help:
	@echo "make run    start the service on http://$(HOST):$(PORT) (CDS_PROFILE=$(CDS_PROFILE))"
	@echo "make test   run the tests"
	@echo "make lint   ruff check, ruff format --check, mypy --strict, import-linter (clinical core layering)"
	@echo "make bench  the performance benchmark (about 2 minutes; writes docs/performance.md)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; $(PYTHON) is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	@touch $@

install: $(STAMP)

run: $(STAMP)
	CDS_PROFILE=$(CDS_PROFILE) CDS_ALLOW_UNAUTHENTICATED=$(CDS_ALLOW_UNAUTHENTICATED) \
		$(if $(CDS_TRUSTED_CLIENTS_FILE),CDS_TRUSTED_CLIENTS_FILE=$(CDS_TRUSTED_CLIENTS_FILE)) \
		$(BIN)/uvicorn service.app:app --host $(HOST) --port $(PORT)

# pytest exits 5 when it collected no tests: that fails here like any other non-zero status.
test: $(STAMP)
	@status=0; $(BIN)/python -m pytest -q $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict service clinical
	$(BIN)/lint-imports
	$(BIN)/immuno-cds check-knowledge

# Not part of `make test`: timings are measured, never asserted. `wrk` (apt-get install wrk) is used for
# the load test when installed, else an httpx load loop.
bench: $(STAMP)
	$(BIN)/python -m bench.run
