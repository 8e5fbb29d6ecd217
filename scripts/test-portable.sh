#!/usr/bin/env bash
# Checks the code paths that the host's own build never compiles:
#
#   - internal/goroutine's fallbacks for architectures without its
#     assembly: the thread id on Linux (chosen by GOARCH, so the tests of
#     internal/goroutine and loop run as GOARCH=386 binaries, which
#     linux/amd64 executes natively; no race detector on 386), and the
#     runtime.Stack parser elsewhere (selected here with -tags
#     goroutine_stack), and the purego build tag, which turns the
#     assembly off on amd64 too;
#   - gnet's other platforms: the library, commands and tests must build
#     and vet for darwin/arm64 and freebsd/amd64 (kqueue instead of epoll,
#     loop's *_other.go files), in each module, and build the library for freebsd/386
#     directory given (default: the library, ".");
#   - the oldest Go the library claims: its tests and code must build and
#     vet with the toolchain its go line names (fetched by the go command
#     through GOTOOLCHAIN), which the newer Go in use here would not show.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
root=$PWD
failed=()

if [ $# -eq 0 ]; then
  set -- .
fi

ONLOOP_TESTS='OffLoop|TakeOver|Deferred|Outcome|Ownership|Pipelined|Queue|Hub'
host="$($GO env GOHOSTOS)/$($GO env GOHOSTARCH)"
if [ "$host" = linux/amd64 ]; then
  echo "test-portable: internal/goroutine and loop as GOARCH=386 (the non-assembly goroutine ID)"
  # loop: the tests that lean on the goroutine ID (on-loop checks, posts,
  # sends from goroutines); its load tests are for the real architecture.
  GOARCH=386 $GO test -count=1 -timeout 10m ./internal/goroutine/ || failed+=("GOARCH=386 tests")
  GOARCH=386 $GO test -count=1 -timeout 10m -run "$ONLOOP_TESTS" ./loop/ || failed+=("GOARCH=386 loop tests")
  echo "test-portable: internal/goroutine with -tags purego (no assembly: the thread id on amd64)"
  $GO test -count=1 -tags purego ./internal/goroutine/ || failed+=("purego tests")
elif [ "${CI:-}" = true ]; then
  echo "test-portable: CI must run on linux/amd64 to test the GOARCH=386 fallback (host is $host)" >&2
  exit 1
else
  echo "test-portable: skipping the GOARCH=386 run: it needs a linux/amd64 host (this is $host)"
fi

echo "test-portable: internal/goroutine and loop with -tags goroutine_stack (the portable runtime.Stack goroutine ID)"
$GO test -count=1 -timeout 10m -tags goroutine_stack ./internal/goroutine/ || failed+=("goroutine_stack tests")
$GO test -count=1 -timeout 10m -tags goroutine_stack -run "$ONLOOP_TESTS" ./loop/ || failed+=("goroutine_stack loop tests")

min=$($GO mod edit -print | awk '$1 == "go" { print $2 }')
case "$min" in *.*.*) ;; *) min="$min.0" ;; esac
echo "test-portable: the library with go$min, the Go its go line names"
(GOTOOLCHAIN="go$min" $GO build ./... && GOTOOLCHAIN="go$min" $GO vet ./...) || failed+=("go$min build and vet")

# 32-bit, no assembly, no gettid: the library only (nats-server, in the
# modules that test against it, does not build for freebsd/386).
echo "test-portable: .: build for freebsd/386 (32-bit, no assembly, no gettid)"
(cd "$root" && GOOS=freebsd GOARCH=386 $GO build ./...) || failed+=(". freebsd/386 build")

for mod in "$@"; do

  for target in darwin/arm64 freebsd/amd64; do
    echo "test-portable: $mod: build and vet for $target"
    (cd "$root/$mod" && GOOS=${target%/*} GOARCH=${target#*/} $GO build ./...) || failed+=("$mod $target build")
    (cd "$root/$mod" && GOOS=${target%/*} GOARCH=${target#*/} $GO vet ./...) || failed+=("$mod $target vet")
  done
done

# Every step runs; the failures are summed up at the end.
if [ ${#failed[@]} -gt 0 ]; then
  printf 'test-portable: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
