#!/usr/bin/env bash
# The whole test suite, as the README says: contracts (forge), the Rust workspace, and the
# simulator. Installs what it needs (npm ci in contracts/) on a fresh machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "contracts toolchain (npm ci: forge, anvil, cast 1.7.1, solcjs)"
if [[ ! -x contracts/node_modules/.bin/forge || contracts/package-lock.json -nt contracts/node_modules/.package-lock.json ]]; then
  (cd contracts && npm ci --no-audit --no-fund)
fi

step "forge test (unit, fuzz, invariant)"
(cd contracts && npx forge test)

step "cargo test (protocol, crypto, chain against a real Anvil, CLI)"
cargo test --workspace --locked
