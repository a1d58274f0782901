#!/usr/bin/env bash
# A private PostgreSQL server for the tests, on this machine, no Docker.
#
#   scripts/postgres.sh up      install (apt) if needed, init .cache/pg/data once, start, create ledger/ledger
#   scripts/postgres.sh down    stop it (pg_ctl stop -m fast)
#   scripts/postgres.sh url     print the connection URL
#   scripts/postgres.sh status  exit 0 if it answers, 3 if not
#
# Settings: LEDGER_PG_PORT (default 15432, below the kernel's ephemeral range 32768-60999 so that
# no client socket can hold it when the server starts), LEDGER_PG_TIMEOUT seconds (default 60),
# LEDGER_PG_BINDIR (default: the newest /usr/lib/postgresql/*/bin), LEDGER_PG_DIR (default
# .cache/pg: where the cluster, its socket and its log live; the fault suite runs its own).
# The cluster is tuned for tests (fsync=off): never put data you care about in it.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${LEDGER_PG_PORT:-15432}"
TIMEOUT="${LEDGER_PG_TIMEOUT:-60}"
HOST=127.0.0.1
DB_USER=ledger
DB_PASSWORD=ledger
DB_NAME=ledger
SUPERUSER=postgres

ROOT="${LEDGER_PG_DIR:-$PWD/.cache/pg}"
DATA="$ROOT/data"
LOG="$ROOT/postgres.log"
SOCK="$ROOT/run"
# A unix socket path must fit in 107 bytes; fall back to /tmp for a deeply nested checkout.
if [ "${#SOCK}" -gt 90 ]; then
  SOCK="/tmp/ledger-pg-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
fi

NAME=postgres.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

url() { printf 'postgresql://%s:%s@%s:%s/%s\n' "$DB_USER" "$DB_PASSWORD" "$HOST" "$PORT" "$DB_NAME"; }

find_bindir() {
  if [ -n "${LEDGER_PG_BINDIR:-}" ]; then
    [ -x "$LEDGER_PG_BINDIR/postgres" ] || die "LEDGER_PG_BINDIR=$LEDGER_PG_BINDIR has no postgres binary"
    printf '%s\n' "$LEDGER_PG_BINDIR"
    return
  fi
  local found
  found="$(printf '%s\n' /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n 1)"
  if [ -x "$found" ]; then dirname "$found"; fi
}

install_server() {
  say "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; installing Debian's 'postgresql' package"
  command -v apt-get >/dev/null 2>&1 \
    || die "apt-get not found: install a PostgreSQL server (>= 13) yourself, or set LEDGER_PG_BINDIR"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run 'apt-get install -y postgresql' as root"
    sudo=(sudo)
  fi
  say "running: apt-get update"
  "${sudo[@]}" apt-get update >&2
  say "running: apt-get install -y postgresql"
  # The package also creates (and may start) a system cluster on port 5432; we do not use it.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
}

BINDIR=""
ensure_bindir() {
  BINDIR="$(find_bindir)"
  if [ -z "$BINDIR" ]; then
    install_server
    BINDIR="$(find_bindir)"
    [ -n "$BINDIR" ] || die "installed 'postgresql' but still no /usr/lib/postgresql/*/bin/postgres"
  fi
}

# The server refuses to run as root: run its tools as the 'postgres' OS user then.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u "$SUPERUSER" -- "$@"
    else
      su -s /bin/sh "$SUPERUSER" -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

answers() {
  # pg_isready exits 0 only when the server accepts connections.
  local isready
  isready="$(find_bindir)/pg_isready"
  [ -x "$isready" ] || isready="$(command -v pg_isready || true)"
  [ -n "$isready" ] || return 1
  "$isready" -q -h "$HOST" -p "$PORT" -t 2 >/dev/null 2>&1
}

ours_running() {
  # Our cluster's postmaster is alive (not just *something* on the port).
  [ -f "$DATA/postmaster.pid" ] || return 1
  local pid
  pid="$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

psql_super() {
  "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U "$SUPERUSER" -d postgres
}

init_cluster() {
  if [ "$(id -u)" -eq 0 ]; then
    id "$SUPERUSER" >/dev/null 2>&1 \
      || die "running as root but there is no '$SUPERUSER' OS user to run the server as (apt-get install postgresql creates it)"
  fi
  mkdir -p "$ROOT" "$SOCK"
  if [ "$(id -u)" -eq 0 ]; then
    chown "$SUPERUSER": "$ROOT" "$SOCK"
    as_owner test -w "$ROOT" \
      || die "the '$SUPERUSER' OS user cannot write $ROOT (is a parent directory closed to other users?)"
  fi
  if [ -f "$DATA/PG_VERSION" ]; then
    local have want
    have="$(cat "$DATA/PG_VERSION")"
    want="$("$BINDIR/postgres" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')"
    [ "$have" = "$want" ] \
      || die "$DATA was made by PostgreSQL $have but the server is $want: rm -rf .cache/pg and run 'up' again"
    return
  fi
  say "initialising a new cluster in .cache/pg/data ($("$BINDIR/postgres" --version))"
  rm -rf "$DATA"
  as_owner "$BINDIR/initdb" -D "$DATA" -U "$SUPERUSER" --encoding=UTF8 --no-locale \
    --auth-local=trust --auth-host=trust --no-instructions >"$ROOT/initdb.log" 2>&1 \
    || { tail -n 20 "$ROOT/initdb.log" >&2; die "initdb failed (full log: .cache/pg/initdb.log)"; }
  as_owner sh -c "cat >> '$DATA/postgresql.conf'" <<'CONF'

# --- scripts/postgres.sh: a throwaway server for tests, speed over durability ---
listen_addresses = '127.0.0.1'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
log_min_messages = warning
log_statement = 'none'
CONF
  # Trust only loopback and the private socket (initdb wrote these; restate them to be explicit).
  as_owner sh -c "cat > '$DATA/pg_hba.conf'" <<'HBA'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
host    all       all   ::1/128        trust
HBA
}

start_server() {
  if [ -n "$(ss -ltnH "sport = :$PORT" 2>/dev/null || true)" ]; then
    die "something else already listens on $HOST:$PORT; stop it or set LEDGER_PG_PORT"
  fi
  say "starting the server on $HOST:$PORT (socket dir $SOCK, log .cache/pg/postgres.log)"
  mkdir -p "$SOCK"
  if [ "$(id -u)" -eq 0 ]; then
    touch "$LOG"
    chown "$SUPERUSER": "$SOCK" "$LOG"
  fi
  # 9>&-: the server must not inherit (and so keep holding) this script's lock.
  if ! as_owner "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG" -w -t "$TIMEOUT" -s \
      -o "-p $PORT -k $SOCK -c listen_addresses=$HOST" 9>&-; then
    tail -n 20 "$LOG" >&2 || true
    die "the server did not start within ${TIMEOUT}s (log: .cache/pg/postgres.log)"
  fi
}

wait_ready() {
  local deadline=$((SECONDS + TIMEOUT))
  until answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$LOG" >&2 || true
      die "pg_isready got no answer from $HOST:$PORT within ${TIMEOUT}s (log: .cache/pg/postgres.log)"
    fi
    sleep 0.2
  done
}

ensure_database() {
  psql_super <<SQL
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$DB_USER', '$DB_PASSWORD')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER')\gexec
ALTER ROLE "$DB_USER" LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
SELECT format('CREATE DATABASE %I OWNER %I', '$DB_NAME', '$DB_USER')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME')\gexec
SQL
}

cmd_up() {
  if ours_running && answers; then
    say "already running on $HOST:$PORT"
    url
    return
  fi
  ensure_bindir
  init_cluster
  ours_running || start_server
  wait_ready
  ensure_database
  say "ready"
  url
}

cmd_down() {
  if ! ours_running; then
    say "not running"
    return
  fi
  ensure_bindir
  say "stopping (pg_ctl stop -m fast)"
  as_owner "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w -t "$TIMEOUT" -s
  say "stopped"
}

cmd_status() {
  if ours_running && answers; then
    say "running on $HOST:$PORT (pid $(head -n 1 "$DATA/postmaster.pid"))"
    return 0
  fi
  if ours_running; then
    say "process alive but not answering on $HOST:$PORT"
  else
    say "not running"
  fi
  return 3
}

case "${1:-}" in
  up) lock; cmd_up ;;
  down) lock; cmd_down ;;
  url) url ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|url|status" >&2; exit 2 ;;
esac
