#!/usr/bin/env bash
# Fails if examples/oracle/contracts/artifacts/ differ from a fresh build (a client binds the committed file).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
forge="$here/../../../contracts/node_modules/.bin/forge"
"$forge" build --force >/dev/null
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node scripts/export.mjs "$tmp" >/dev/null
if ! diff -r artifacts "$tmp" >/dev/null; then
  echo "check-artifacts: examples/oracle/contracts/artifacts/ differ from a fresh build; run: ../../../contracts/node_modules/.bin/forge build && node scripts/export.mjs" >&2
  diff -r artifacts "$tmp" | head -20 >&2 || true
  exit 1
fi
echo "check-artifacts: oracle artifacts match a fresh build"
