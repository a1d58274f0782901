# shellcheck shell=bash
# Shared by our service scripts; sourced after they set NAME and ROOT.

say() { printf '%s: %s\n' "$NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$NAME" "$*" >&2; exit 1; }

# One `up`/`down` at a time per checkout (parallel test runs share the services).
lock() {
  mkdir -p "$ROOT"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$ROOT/.lock"
  flock -w 600 9 || die "another '$NAME' still holds $ROOT/.lock after 600s"
}
