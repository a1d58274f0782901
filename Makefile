# One entry point for people and CI. The venv lives in .venv so a second run is fast.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-unit lint bench bench-ingest soak pg-up pg-down kafka-up kafka-down services-up services-down clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## make run: the whole system on the embedded default (SQLite, in-process fan-out, API, demo data)
run: $(STAMP)
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

## make bench-ingest: ingest and projection apply beside their baselines (SQLite; DATABASE_URL=postgresql://... for PostgreSQL)
bench-ingest: $(STAMP)
	$(BIN)/python -m bench.ingest --events 10000 --rounds 3 $(if $(DATABASE_URL),--database-url '$(DATABASE_URL)')
	$(BIN)/python -m bench.project --events 10000 --rounds 3 $(if $(DATABASE_URL),--database-url '$(DATABASE_URL)')

## make soak: the long fault run (~100,000 events, 24 SIGKILLs, PostgreSQL and the broker restarted once), on services of its own
soak: $(STAMP)
	LEDGER_FAULT_LICENSES=$${LEDGER_FAULT_LICENSES:-13000} LEDGER_FAULT_KILLS=$${LEDGER_FAULT_KILLS:-24} \
	  $(BIN)/pytest -q -s -p no:cacheprovider tests/faults

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

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
