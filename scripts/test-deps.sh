#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: curl, wrk,
# Chromium (browser tests) and the npm test clients. Idempotent: installs
# only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "test-deps: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The npm clients of cmd/streamd's end-to-end tests.
node=cmd/streamd/internal/e2e/node
if [ ! -d "$node/node_modules" ] || [ "$node/package-lock.json" -nt "$node/node_modules" ]; then
  echo "test-deps: npm ci in $node (eventsource, ws)"
  (cd "$node" && npm ci --no-audit --no-fund --loglevel=error)
fi
