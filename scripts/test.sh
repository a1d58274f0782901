#!/usr/bin/env bash
# `make test`: start the real services, lint, then every test layer. In CI nothing is skipped:
# a test that needs PostgreSQL or Kafka fails if it cannot reach them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

echo "==> starting PostgreSQL and Kafka (scripts/services.sh up)"
bash scripts/services.sh up
set -a
# shellcheck disable=SC1091
. .cache/services.env
set +a

echo "==> lint (ruff), types (mypy) and layering (import-linter)"
$BIN/ruff check .
$BIN/mypy ledger consumers projections schemas
$BIN/lint-imports

echo "==> tests: unit, integration (real PostgreSQL + Kafka), end-to-end"
status=0
$BIN/pytest -q -p no:cacheprovider tests "$@" || status=$?

if [ "${CI:-}" = "true" ]; then
  bash scripts/services.sh down || true
fi
exit "$status"
