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

if [ ! -d internal/e2e/node/node_modules ] || [ internal/e2e/node/package-lock.json -nt internal/e2e/node/node_modules ]; then
  echo "test-deps: npm ci (eventsource, ws)"
  (cd internal/e2e/node && npm ci --no-audit --no-fund --loglevel=error)
fi
