#!/usr/bin/env bash
# Checks the shape of the repository's Go modules, given as directories
# (the Makefile's MODULES, the library "." first):
#
#   - every go.mod in the tree is one of them, so no module escapes
#     `make test` (and there is no go.work: each module is tested with its
#     own requirements, as its users build it);
#   - each go.mod and go.sum is tidy (`go mod tidy -diff`);
#   - each `go` line names a release (1.N or 1.N.0), not a patch release:
#     it is the lowest Go the module needs, not the toolchain at hand;
#   - the library module requires directly only what library packages
#     import, plus goleak for its tests (see README, "Modules"); everything
#     else it lists is an indirect requirement of those;
#   - no non-test .go file of the library module (the tree outside the
#     nested modules, testdata and node_modules) is over 600 lines: split
#     it by concern, as loop/nethttp*.go are.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"

# The direct requirements the library may have.
allowed=(
  github.com/panjf2000/gnet/v2
  golang.org/x/sys
  github.com/klauspost/compress
  go.uber.org/goleak
)

if [ $# -eq 0 ]; then
  echo "usage: $0 MODULE_DIR..." >&2
  exit 2
fi
failed=()

# goline prints the go line of the module in directory $1.
goline() { (cd "$1" && $GO mod edit -print | awk '$1 == "go" { print $2 }'); }

# Every go.mod outside node_modules and testdata is a listed module.
while read -r mod; do
  dir=$(dirname "$mod")
  dir=${dir#./}
  [ -z "$dir" ] && dir=.
  found=false
  for m in "$@"; do
    [ "${m%/}" = "$dir" ] && found=true
  done
  if ! $found; then
    echo "check-modules: $mod is not in the Makefile's MODULES: its tests would never run" >&2
    failed+=("$dir not listed")
  fi
done < <(find . \( -name node_modules -o -name testdata -o -name .git \) -prune -o -name go.mod -print | sort)

if [ -e go.work ]; then
  echo "check-modules: go.work is checked in: each module must build with its own go.mod" >&2
  failed+=("go.work")
fi

for m in "$@"; do
  if ! out=$(cd "$m" && $GO mod tidy -diff 2>&1); then
    echo "check-modules: $m/go.mod is not tidy (run make tidy):" >&2
    echo "$out" >&2
    failed+=("$m tidy")
  fi
  v=$(goline "$m")
  if ! [[ "$v" =~ ^1\.[0-9]+(\.0)?$ ]]; then
    echo "check-modules: $m/go.mod says go $v: name the lowest release the module needs (1.N or 1.N.0), not a patch release" >&2
    failed+=("$m go line")
  fi
done

# The library's direct requirements.
while read -r path; do
  ok=false
  for a in "${allowed[@]}"; do
    [ "$path" = "$a" ] && ok=true
  done
  if ! $ok; then
    echo "check-modules: the library module requires $path directly; only library imports (and goleak) belong there: move the code that needs it to a nested module" >&2
    failed+=("library requires $path")
  fi
done < <(awk '/^require \(/ { inreq = 1; next }
              inreq && /^\)/ { inreq = 0; next }
              inreq && !/\/\/ indirect/ { print $1 }
              /^require [^(]/ && !/\/\/ indirect/ { print $2 }' go.mod)

# No library file over maxlines lines, tests aside. A go.mod below the
# root marks a nested module: its files are not the library's.
maxlines=600
prune=(-name node_modules -o -name testdata -o -name .git)
while read -r mod; do
  dir=$(dirname "$mod")
  [ "$dir" = . ] || prune+=(-o -path "$dir")
done < <(find . \( -name node_modules -o -name testdata -o -name .git \) -prune -o -name go.mod -print)
long=$(find . \( "${prune[@]}" \) -prune -o -type f -name '*.go' ! -name '*_test.go' -print0 |
  xargs -0 -r wc -l |
  awk -v max="$maxlines" '$2 != "total" && $1 > max { sub(/^\.\//, "", $2); printf "  %s: %d lines\n", $2, $1 }' |
  sort)
if [ -n "$long" ]; then
  echo "check-modules: library files over $maxlines lines (tests aside); split them by concern:" >&2
  echo "$long" >&2
  failed+=("library files over $maxlines lines")
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf 'check-modules: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
summary=()
for m in "$@"; do
  summary+=("$m: go $(goline "$m")")
done
echo "check-modules: ${#summary[@]} modules, all tidy; the library requires only its own imports and goleak, and no library file is over $maxlines lines"
printf '  %s\n' "${summary[@]}"
