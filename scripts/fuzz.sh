#!/usr/bin/env bash
# Runs every FuzzXxx target for a short time (default 15s each).
#
# go test -fuzz can end a clean run with "context deadline exceeded" when
# the fuzz time runs out while a worker is still busy (a failure of the
# runner, not of the target: nothing is written to testdata/fuzz). Such a
# run is repeated once; a found crasher ("Failing input written to") or a
# second runner failure fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-15s}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fuzz() { go test -run '^$' -fuzz "^${2}\$" -fuzztime "$t" "$1" 2>&1 | tee "$log"; }
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz: $pkg $target ($t)"
    if ! fuzz "$pkg" "$target"; then
      if grep -q 'Failing input written to' "$log" || ! grep -q 'context deadline exceeded' "$log"; then
        exit 1
      fi
      echo "fuzz: $pkg $target: the fuzz runner timed out with no failing input; running it once more"
      fuzz "$pkg" "$target"
    fi
  done
done
