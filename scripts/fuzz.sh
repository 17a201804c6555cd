#!/usr/bin/env bash
# Runs every fuzz target of the module, one after another, each for
# FUZZTIME (default 30s) with FUZZPARALLEL workers (default 1), and stops
# at the first finding: a target that failed and wrote its failing input
# to testdata/fuzz, or failed in any other way.
#
# One failure is not a finding. Go 1.26's fuzzing coordinator can end a
# target whose time ran out with a bare "context deadline exceeded",
# having found nothing and written nothing (golang/go#75804, fixed in Go
# 1.27; the bug: the coordinator compares the deadline's error with that
# of a child context that may not be cancelled yet). Such a run (no new
# input, no minimisation under way, the message alone before FAIL) is
# replayed over the target's corpus (go test -run) and, when that passes,
# reported at the end instead of failing the whole run.
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go} # may be several words (env GOTOOLCHAIN=… go): split on purpose
FUZZTIME=${FUZZTIME:-30s}
FUZZPARALLEL=${FUZZPARALLEL:-1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

inputs() { find "$1/testdata/fuzz/$2" -type f 2>/dev/null | sort; }

passed=0
raced=()
# bare LOG: the run failed with the coordinator's deadline and nothing
# else: one FAIL of a target, "context deadline exceeded" its only line,
# no input being minimised or written.
bare() {
  ! grep -q -e 'Failing input written to' -e '^fuzz: minimizing' "$1" &&
    [ "$(grep -c -- '--- FAIL' "$1")" = 1 ] &&
    grep -A1 -- '--- FAIL' "$1" | tail -1 | grep -qx '    context deadline exceeded' &&
    grep -A1 -x '    context deadline exceeded' "$1" | tail -1 | grep -qx 'FAIL'
}

while read -r dir; do
  for t in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$dir"/*_test.go); do
    echo "fuzz: $dir $t for $FUZZTIME"
    before=$(inputs "$dir" "$t")
    if $GO test "$dir" -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -parallel "$FUZZPARALLEL" </dev/null 2>&1 | tee "$log"; test "${PIPESTATUS[0]}" = 0; then
      passed=$((passed + 1))
      continue
    fi
    after=$(inputs "$dir" "$t")
    if [ "$before" = "$after" ] && bare "$log"; then
      echo "fuzz: $t ended with a bare \"context deadline exceeded\" and wrote no input (golang/go#75804); replaying its corpus"
      if $GO test "$dir" -run "^$t\$" -count 1 </dev/null; then
        raced+=("$dir $t")
        continue
      fi
    fi
    echo "fuzz: $dir $t FAILED" >&2
    exit 1
  done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)

echo "fuzz: $passed targets passed for $FUZZTIME each"
if [ ${#raced[@]} -gt 0 ]; then
  echo "fuzz: ${#raced[@]} ended by Go's fuzzing coordinator at their deadline (golang/go#75804), their corpus replayed clean:"
  printf '  %s\n' "${raced[@]}"
fi
