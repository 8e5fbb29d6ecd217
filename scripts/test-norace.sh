#!/usr/bin/env bash
# Runs, without the race detector, the tests that `go test -race` never
# sees, plus every Example, in each module directory given (default: the
# library, "."):
#
#   - the tests in files built only without -race (the zero-allocation
#     tests are `//go:build !race`, because the race detector allocates);
#     found with `go list`, so a new such file needs no change here;
#   - every Example function (those with an `// Output:` comment run).
#
# A file counts as race-only-excluded when `go list -race` ignores it and
# plain `go list` does not (files for other platforms are ignored by both).
# A module with neither is skipped. Every module runs; failures are summed
# up at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
root=$PWD

if [ $# -eq 0 ]; then
  set -- .
fi
failed=()
for mod in "$@"; do
  cd "$root/$mod"
  names=()
  examples=0
  while read -r dir; do
    raceIgnored=$($GO list -race -f '{{join .IgnoredGoFiles " "}}' "$dir")
    plainIgnored=" $($GO list -f '{{join .IgnoredGoFiles " "}}' "$dir") "
    for f in $raceIgnored; do
      case "$f" in *_test.go) ;; *) continue ;; esac
      case "$plainIgnored" in *" $f "*) continue ;; esac
      while read -r name; do
        [ -n "$name" ] && names+=("$name")
      done < <(sed -n 's/^func \(\(Test\|Example\)[A-Za-z0-9_]*\)(.*/\1/p' "$dir/$f")
    done
    n=$({ find "$dir" -maxdepth 1 -name '*_test.go' -exec grep -h '^func Example' {} + || true; } | wc -l)
    examples=$((examples + n))
  done < <($GO list -f '{{.Dir}}' ./...)

  if [ ${#names[@]} -eq 0 ] && [ "$examples" -eq 0 ]; then
    echo "test-norace: $mod: no Examples and no tests built only without -race"
    continue
  fi
  pattern='Example.*'
  for n in ${names[@]+"${names[@]}"}; do
    pattern="$pattern|$n"
  done
  echo "test-norace: $mod: $examples Examples and ${#names[@]} tests built only without -race: ${names[*]-}"
  $GO test -count=1 -timeout 10m -run "^($pattern)\$" ./... || failed+=("$mod")
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'test-norace: FAILED in module %s\n' "${failed[@]}" >&2
  exit 1
fi
