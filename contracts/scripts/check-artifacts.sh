#!/usr/bin/env bash
# Fails if contracts/artifacts/ differ from a fresh build (the Rust side binds the committed files).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
npx forge build --force >/dev/null
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node scripts/export-artifacts.mjs "$tmp" >/dev/null
if ! diff -r artifacts "$tmp" >/dev/null; then
  echo "check-artifacts: contracts/artifacts/ differ from a fresh build; run: cd contracts && npx forge build && node scripts/export-artifacts.mjs" >&2
  diff -r artifacts "$tmp" | head -20 >&2 || true
  exit 1
fi
echo "check-artifacts: artifacts match a fresh build"
