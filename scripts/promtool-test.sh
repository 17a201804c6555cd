#!/usr/bin/env bash
# Checks the Prometheus alerting rules (deploy/prometheus/alerts.yaml) and
# runs their unit tests (deploy/prometheus/alerts_test.yaml) with promtool,
# installing Debian's prometheus package (which ships promtool) when it is
# missing. The install never starts a Prometheus server: services are
# forbidden to start (policy-rc.d) while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

install_promtool() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "promtool is missing and cannot be installed here: install Debian's 'prometheus' package (or put promtool on PATH)" >&2
    exit 1
  fi
  echo "promtool is missing; installing Debian's prometheus package for it (no server is started)" >&2
  # Forbid every service start while the package installs (Debian's
  # policy-rc.d protocol: exit 101), then put back whatever policy there was.
  local policy=/usr/sbin/policy-rc.d saved=/usr/sbin/policy-rc.d.wagw-saved
  [ -e "$policy" ] && mv "$policy" "$saved"
  trap 'rm -f "'"$policy"'"; [ -e "'"$saved"'" ] && mv "'"$saved"'" "'"$policy"'"; trap - EXIT' EXIT
  printf '#!/bin/sh\n# wagw scripts/promtool-test.sh: no service starts while prometheus installs\nexit 101\n' >"$policy"
  chmod +x "$policy"
  local rc=0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null || rc=$?
  rm -f "$policy"
  if [ -e "$saved" ]; then mv "$saved" "$policy"; fi
  trap - EXIT
  if [ "$rc" != 0 ]; then
    echo "installing prometheus failed (apt-get exit $rc)" >&2
    exit "$rc"
  fi
  command -v promtool >/dev/null || { echo "the prometheus package installed no promtool" >&2; exit 1; }
}

command -v promtool >/dev/null || install_promtool

promtool check rules deploy/prometheus/alerts.yaml
promtool test rules deploy/prometheus/alerts_test.yaml
