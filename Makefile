# One entry point for people and CI. The venv lives in .venv so a second run is fast.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: install run test test-unit lint bench pg-up pg-down kafka-up kafka-down services-up services-down browser-up clean

# What running needs (make run); the dev tools (pytest, ruff, mypy, selenium, ...) only for
# make install / make test. A venv with the dev tools also serves make run.
$(RUN_STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## make run: the whole system on the embedded default (SQLite, in-process fan-out, API, demo data)
run: $(RUN_STAMP)
	$(BIN)/ledger up

## make test: lint, unit, integration (real PostgreSQL + Kafka started here) and end-to-end tests
test: $(STAMP)
	bash scripts/test.sh

test-unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy ledger consumers projections schemas
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

pg-up:
	bash scripts/postgres.sh up

pg-down:
	bash scripts/postgres.sh down

kafka-up:
	bash scripts/kafka.sh up

kafka-down:
	bash scripts/kafka.sh down

services-up:
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

## make browser-up: Debian's chromium + chromium-driver for the portal's browser test (make test runs it)
browser-up:
	bash scripts/browser.sh up

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
