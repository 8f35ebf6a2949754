#!/usr/bin/env bash
# The tests drive real tools: Prometheus's promtool and a headless Chromium.
#
# promtool: taken out of Debian's prometheus package into the tool cache
# (scripts/tool-cache.js; __test__/support/prometheus.js looks there) with
# `apt-get download` and `dpkg -x`, so no Prometheus server is installed or
# enabled. Needs no root when apt's package lists are there.
# chromium: /usr/bin/chromium, installed with apt-get as root (CI, .ci/run);
# otherwise the tests stop and print the command that installs it.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=$(node scripts/tool-cache.js test-tools)
promtool="$cache/promtool"

install_promtool() {
  local work
  work=$(mktemp -d)
  echo "fetching promtool (Debian package prometheus, unpacked into $cache; nothing installed)..."
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
    if [ "$(id -u)" != 0 ]; then
      echo "apt-get download prometheus failed: apt's package lists are missing. Run: sudo apt-get update (then npm test again)" >&2
      return 1
    fi
    apt-get update -qq
    (cd "$work" && apt-get download prometheus >/dev/null)
  fi
  dpkg -x "$work"/prometheus_*.deb "$work/unpacked"
  mkdir -p "$cache"
  install -m 755 "$work/unpacked/usr/bin/promtool" "$promtool.tmp"
  mv "$promtool.tmp" "$promtool"
  rm -rf "$work"
}

[ -x "$promtool" ] || install_promtool
"$promtool" --version >/dev/null

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "The tests need Chromium (/usr/bin/chromium). Install it: sudo apt-get install -y --no-install-recommends chromium" >&2
    exit 1
  fi
  echo "installing chromium for the tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
