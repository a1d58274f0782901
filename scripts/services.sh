#!/usr/bin/env bash
# The real services the integration tests need: PostgreSQL and Kafka, on this machine.
#
#   scripts/services.sh up      start both (each is a no-op if already running), write .cache/services.env
#   scripts/services.sh down    stop both
#   scripts/services.sh status  exit 0 if both answer
#
# .cache/services.env holds LEDGER_TEST_POSTGRES_URL=... and LEDGER_TEST_KAFKA_BOOTSTRAP=...;
# `set -a; . .cache/services.env; set +a` exports them for pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

ENV_FILE=.cache/services.env

say() { printf 'services.sh: %s\n' "$*" >&2; }

cmd_up() {
  local started=$SECONDS pg_url kafka_bootstrap
  bash scripts/postgres.sh up >/dev/null
  pg_url="$(bash scripts/postgres.sh url)"
  bash scripts/kafka.sh up >/dev/null
  kafka_bootstrap="$(bash scripts/kafka.sh bootstrap)"
  mkdir -p .cache
  printf 'LEDGER_TEST_POSTGRES_URL=%s\nLEDGER_TEST_KAFKA_BOOTSTRAP=%s\n' "$pg_url" "$kafka_bootstrap" \
    >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  say "up in $((SECONDS - started))s; wrote $ENV_FILE:"
  cat "$ENV_FILE"
}

cmd_down() {
  local rc=0
  bash scripts/kafka.sh down || rc=$?
  bash scripts/postgres.sh down || rc=$?
  rm -f "$ENV_FILE"
  return "$rc"
}

cmd_status() {
  local rc=0
  bash scripts/postgres.sh status || rc=$?
  bash scripts/kafka.sh status || rc=$?
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
