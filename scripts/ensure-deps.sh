#!/usr/bin/env bash
# `npm run demo` and `npm test` work from a fresh clone: install the locked
# dev dependencies first when there are none yet (npm ci), otherwise do nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f node_modules/.package-lock.json ] && exit 0
echo "node_modules missing: npm ci first..."
npm ci --no-audit --no-fund
