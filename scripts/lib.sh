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

# apt_install WHAT_TO_DO_OTHERWISE PACKAGE...: Debian packages, as root or through sudo.
apt_install() {
  local otherwise="$1"; shift
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: $otherwise"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run 'apt-get install -y $*' as root"
    sudo=(sudo)
  fi
  say "running: apt-get update"
  "${sudo[@]}" apt-get update >&2
  say "running: apt-get install -y $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2
}
