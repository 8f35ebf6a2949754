#!/usr/bin/env bash
# The tests drive real tools: Prometheus's promtool and a headless Chromium.
# Installs them from Debian's packages when they are missing (needs root).
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "The tests need: ${need[*]} (Debian packages). Install them: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]} for the tests..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
