#!/bin/sh
# Kernel memory per idle TCP socket: opens N idle loopback connections and
# reports the growth of /proc/meminfo Slab, /proc/net/sockstat and (as root)
# /proc/slabinfo per socket; the figure SCALING.md uses. Flags go to
# cmd/sockmem (-n 10000 -rounds 3 -settle 2s -json -addr host:port); the
# output format is documented in benchmarks/README.md.
set -eu
cd "$(dirname "$0")/.."
exec go run ./cmd/sockmem "$@"
