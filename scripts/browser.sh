#!/usr/bin/env bash
# The headless browser of the portal's browser test: Debian's Chromium and its WebDriver.
#
#   scripts/browser.sh up      install (apt) `chromium` and `chromium-driver` if missing
#   scripts/browser.sh status  exit 0 if both are on PATH, 3 if not
#
# Playwright's own browser download is not reachable from every machine; Debian's packages are.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=browser.sh
ROOT="$PWD/.cache/browser"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

present() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

cmd_up() {
  if present; then return 0; fi
  lock
  if present; then return 0; fi
  say "no chromium/chromedriver on PATH; installing Debian's 'chromium' and 'chromium-driver'"
  apt_install "install Chromium and its chromedriver yourself (both on PATH)" chromium chromium-driver
  present || die "installed chromium and chromium-driver but 'chromium' or 'chromedriver' is still not on PATH"
}

case "${1:-}" in
  up) cmd_up ;;
  status) present || exit 3 ;;
  *) printf 'usage: %s up|status\n' "$0" >&2; exit 2 ;;
esac
