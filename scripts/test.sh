#!/usr/bin/env bash
# The whole test suite, as the README says: contracts (forge), the Rust workspace against real
# Anvils, the benches in smoke mode, and the simulator (a separate `--cfg madsim` build).
# Installs what it needs (npm ci in contracts/) on a fresh machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n==> %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "contracts toolchain (npm ci: forge, anvil, cast 1.7.1, solcjs 0.8.30)"
if [[ ! -x contracts/node_modules/.bin/forge || contracts/package-lock.json -nt contracts/node_modules/.package-lock.json ]]; then
  (cd contracts && npm ci --no-audit --no-fund)
fi

step "forge test (unit, fuzz, invariant, RFC 9380 vectors)"
(cd contracts && npx forge test --no-match-contract GasTest)

step "forge gas test, one real transaction per call (--isolate: cold slots, as on a chain; see contracts/GAS.md)"
(cd contracts && npx forge test --match-contract GasTest --isolate -vv)

step "contract artifacts the Rust side binds equal a fresh build"
bash contracts/scripts/check-artifacts.sh

step "examples/oracle/contracts: forge test of the price-oracle AVS, its artifact equals a fresh build"
(cd examples/oracle/contracts && ../../../contracts/node_modules/.bin/forge test)
bash examples/oracle/contracts/scripts/check-artifacts.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo test (protocol, crypto, chain and nodes against real Anvils, CLI, devnet)"
cargo test --workspace --locked

step "benches, smoke (each criterion benchmark runs once, debug profile)"
EXOAVS_BENCH_QUICK=1 cargo test --locked --benches

step "headless Chromium for the timeline browser test (apt, only when missing)"
bash scripts/install-chromium.sh

if [[ "${CI:-}" == true ]]; then
  # The simulated build is a second full build of the workspace. On CI nothing reads the plain
  # one again, so give its disk back first (a CI run once failed with "No space left on device"
  # linking the simulator's tests).
  step "CI: free the plain build's disk before the simulated build ($(du -sh target/debug 2>/dev/null | cut -f1))"
  rm -rf target/debug
  df -h . | tail -1
fi

step "simulator: every scenario over its seeds, determinism, planted bugs (--cfg madsim)"
# One test at a time: each test runs its own Anvils (the sweep already uses both cores), and
# Anvil answers some calls from background tasks that lag under overload (see the README).
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$root/target/madsim" cargo test -p exoavs-sim --locked -- --test-threads=1

step "the price-oracle example under the simulator: its scenarios, its own invariant, its planted bug (--cfg madsim)"
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$root/target/madsim" cargo test -p exoavs-oracle --locked --features sim,planted-bugs --test sim -- --test-threads=1

step "all green"
