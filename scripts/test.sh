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

echo "==> the portal's headless browser (scripts/browser.sh up: Debian's chromium + chromium-driver)"
bash scripts/browser.sh up

echo "==> lint (ruff), types (mypy) and layering (import-linter)"
$BIN/ruff check .
$BIN/mypy ledger consumers projections schemas
$BIN/lint-imports

status=0
if [ "$#" -gt 0 ]; then  # paths or options given: one run of exactly those
  echo "==> tests: $*"
  $BIN/pytest -q -p no:cacheprovider "$@" || status=$?
  set -- done
fi
for layer in unit integration e2e security faults; do
  [ "${1:-}" = done ] && break
  case "$layer" in
    unit) echo "==> tests, layer 1 of 5: unit (pure domain, no services)" ;;
    integration) echo "==> tests, layer 2 of 5: integration (real PostgreSQL + Kafka)" ;;
    e2e) echo "==> tests, layer 3 of 5: end-to-end (the ledger processes, the portal in Chromium)" ;;
    security) echo "==> tests, layer 4 of 5: security (access, tenants, malformed input, the tamper sweep, fuzz)" ;;
    faults) echo "==> tests, layer 5 of 5: faults (SIGKILLs and restarts of services of its own; make soak for the long run)" ;;
  esac
  $BIN/pytest -q -p no:cacheprovider "tests/$layer" || status=$?
done

if [ "${CI:-}" = "true" ]; then
  bash scripts/services.sh down || true
fi
exit "$status"
