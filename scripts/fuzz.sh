#!/usr/bin/env bash
# Runs every fuzz target of the module, one after another, each for
# FUZZTIME (default 30s) with FUZZPARALLEL workers (default 1), and stops
# at the first finding: a target that failed and wrote its failing input
# to testdata/fuzz, or failed in any other way.
#
# One failure is not a finding. Go 1.26's fuzzing coordinator can end a
# target whose time ran out with a bare "context deadline exceeded",
# having found nothing and written nothing (golang/go#75804, fixed in Go
# 1.27: the coordinator compares the deadline's error with a child
# context's that may not be cancelled yet). Such a run is replayed over
# the target's corpus (go test -run) and, when that passes, reported at
# the end instead of failing the whole run.
set -uo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZPARALLEL=${FUZZPARALLEL:-1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

inputs() { find "$1/testdata/fuzz/$2" -type f 2>/dev/null | sort; }

passed=0
raced=()
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for t in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$dir"/*_test.go); do
    echo "fuzz: $dir $t for $FUZZTIME"
    before=$(inputs "$dir" "$t")
    if "$GO" test "$dir" -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -parallel "$FUZZPARALLEL" 2>&1 | tee "$log"; test "${PIPESTATUS[0]}" = 0; then
      passed=$((passed + 1))
      continue
    fi
    after=$(inputs "$dir" "$t")
    if [ "$before" = "$after" ] && ! grep -q 'Failing input written to' "$log" &&
      grep -q '^    context deadline exceeded$' "$log" &&
      [ "$(grep -c -- '--- FAIL' "$log")" = 1 ]; then
      echo "fuzz: $t ended with a bare \"context deadline exceeded\" and wrote no input (golang/go#75804); replaying its corpus"
      if "$GO" test "$dir" -run "^$t\$" -count 1; then
        raced+=("$dir $t")
        continue
      fi
    fi
    echo "fuzz: $dir $t FAILED" >&2
    exit 1
  done
done

echo "fuzz: $passed targets passed for $FUZZTIME each"
if [ ${#raced[@]} -gt 0 ]; then
  echo "fuzz: ${#raced[@]} ended by Go's fuzzing coordinator at their deadline (golang/go#75804), their corpus replayed clean:"
  printf '  %s\n' "${raced[@]}"
fi
