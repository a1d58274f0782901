# One entry point for people and CI. The venv lives in .venv so a second run is fast.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: install run test test-unit test-security lint bench bench-ingest bench-check bench-proofs bench-replay bench-pipeline soak pg-up pg-down kafka-up kafka-down services-up services-down browser-up clean

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

## make test-security: the attacks of tests/security alone (needs the services, as `make test` starts them)
test-security: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/security

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy ledger consumers projections schemas
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

## make bench-proofs: the verifiable log's costs (ingest without vs with the tree, proofs at 1,000,000 leaves, in a stored tree and in a real tenant; DATABASE_URL=postgresql://... for PostgreSQL, a fresh schema)
bench-proofs: $(STAMP)
	$(BIN)/python -m bench.proofs --rounds 8 $(if $(DATABASE_URL),--database-url '$(DATABASE_URL)')

## make bench-ingest: ingest and projection apply beside their baselines (SQLite; DATABASE_URL=postgresql://... for PostgreSQL)
bench-ingest: $(STAMP)
	$(BIN)/python -m bench.ingest --events 10000 --rounds 3 --path both $(if $(DATABASE_URL),--database-url '$(DATABASE_URL)')
	$(BIN)/python -m bench.project --events 10000 --rounds 3 $(if $(DATABASE_URL),--database-url '$(DATABASE_URL)')

## make bench-replay: replay and verify at audit scale beside a SELECT + decode baseline (SQLite; DATABASE_URL=postgresql://... for PostgreSQL)
bench-replay: $(STAMP)
	$(BIN)/python -m bench.replay --rounds 3 $(if $(DATABASE_URL),--database-url '$(DATABASE_URL)')

## make bench-pipeline: end to end through Kafka (needs PostgreSQL and a broker: DATABASE_URL, KAFKA):
## a backlog of PIPELINE_EVENTS (default 1,000,000) usage-heavy events, then 2,000 events/s offered
## for a minute with the publication-to-read-model lag (docs/benchmarks.md, "End to end through Kafka")
bench-pipeline: $(STAMP)
	$(BIN)/python -m bench.pipeline --database-url '$(or $(DATABASE_URL),postgresql://ledger:ledger@127.0.0.1:15432/ledger)' \
	  --bootstrap '$(or $(KAFKA),127.0.0.1:19092)' --events $(or $(PIPELINE_EVENTS),1000000)
	$(BIN)/python -m bench.pipeline --database-url '$(or $(DATABASE_URL),postgresql://ledger:ledger@127.0.0.1:15432/ledger)' \
	  --bootstrap '$(or $(KAFKA),127.0.0.1:19092)' --events 120000 --rate 2000

## make soak: the long fault run (~100,000 events, 24 SIGKILLs, PostgreSQL and the broker restarted once), on services of its own
soak: $(STAMP)
	LEDGER_FAULT_LICENSES=$${LEDGER_FAULT_LICENSES:-13000} LEDGER_FAULT_KILLS=$${LEDGER_FAULT_KILLS:-24} \
	  $(BIN)/pytest -q -s -p no:cacheprovider tests/faults
## make bench-check: the check under wrk beside a constant-JSON FastAPI app, and the cache's
## hit rate with usage for other customers flowing through Kafka (needs wrk and a broker:
## LEDGER_KAFKA_BOOTSTRAP; BENCH_CHECK_FLAGS=--no-kafka skips that part)
bench-check: $(STAMP)
	$(BIN)/python -m bench.check $(BENCH_CHECK_FLAGS)

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
