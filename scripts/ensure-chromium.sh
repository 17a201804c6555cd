#!/usr/bin/env bash
# Makes sure headless Chromium is there for the console's browser test
# (cmd/wagw/console_test.go), installing Debian's chromium when missing. A
# test tool's own browser download does not work on closed networks; the
# distribution's package does.
set -euo pipefail

bin="${WAGW_CHROMIUM:-/usr/bin/chromium}"
[ -x "$bin" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Chromium is not installed; installing Debian's chromium for the console's browser test" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "Chromium is not installed at $bin and cannot be installed here: install chromium, or set WAGW_CHROMIUM" >&2
  exit 1
fi
[ -x "$bin" ] || { echo "chromium installed but $bin is missing; set WAGW_CHROMIUM" >&2; exit 1; }
