#!/usr/bin/env bash
# Builds the release binaries of the four Linux platform packages on one Linux
# x64 machine, through napi's zig cross-compile option (`napi build -x`, which
# runs cargo-zigbuild), and copies each into npm/<platform>/:
#
#   linux-x64-gnu, linux-arm64-gnu    glibc 2.17 symbols only (checked below)
#   linux-x64-musl, linux-arm64-musl  dynamically linked musl (-crt-static)
#
# Needs: rustup, Python's pip (zig and cargo-zigbuild come from PyPI).
#   scripts/build-release.sh              the four Linux targets
#   scripts/build-release.sh TRIPLE...    only these (e.g. x86_64-apple-darwin;
#                                         darwin does not build here, see docs/releasing.md)
# CI (.github/workflows/CI.yml) builds darwin and Windows natively instead.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_GLIBC=2.17
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=(
    "x86_64-unknown-linux-gnu.$MAX_GLIBC"
    "aarch64-unknown-linux-gnu.$MAX_GLIBC"
    x86_64-unknown-linux-musl
    aarch64-unknown-linux-musl
  )
fi

ensure_tools() {
  if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! { command -v zig >/dev/null 2>&1 || python3 -m ziglang version >/dev/null 2>&1; }; then
    echo "installing zig and cargo-zigbuild from PyPI..."
    python3 -m pip install --quiet ziglang cargo-zigbuild
  fi
  # cargo-zigbuild runs `python3 -m ziglang` when zig itself is not on PATH.
  local installed
  installed=$(rustup target list --installed)
  for target in "${targets[@]}"; do
    local triple=${target%%.*}
    grep -qx "$triple" <<<"$installed" || rustup target add "$triple"
  done
}

# The newest GLIBC_x.y version a shared object asks for.
newest_glibc() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1
}

check_glibc() {
  local file=$1 newest
  newest=$(newest_glibc "$file")
  if [ "$(printf '%s\n%s\n' "$newest" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then
    echo "FAIL: $file needs GLIBC_$newest (more than $MAX_GLIBC)" >&2
    exit 1
  fi
  echo "  $file: newest glibc symbol GLIBC_$newest (<= $MAX_GLIBC)"
}

ensure_tools
out=target/release-artifacts
rm -rf "$out"
mkdir -p "$out"
for target in "${targets[@]}"; do
  echo "== $target"
  start=$SECONDS
  # --dts into the scratch dir: the typegen must not overwrite index.d.ts.
  npx napi build --platform --release --no-js --dts binding.d.ts -x --target "$target" -o "$out"
  echo "  built in $((SECONDS - start)) s"
done
rm -f "$out/binding.d.ts"

# Into the platform packages (napi artifacts would insist on all seven targets).
for file in "$out"/handle-ledger.*.node; do
  key=${file##*/handle-ledger.}
  cp "$file" "npm/${key%.node}/"
done

echo "== binaries"
for dir in npm/*/; do
  for file in "$dir"*.node; do
    [ -e "$file" ] || continue
    echo "  $(file -b "$file" | cut -d, -f1-2)  $(du -h "$file" | cut -f1)  $file"
    case "$file" in *-gnu.node) check_glibc "$file" ;; esac
  done
done
