#!/usr/bin/env bash
# Mutation testing of the core crate (issue 16): cargo-mutants injects one bug at a time into
# the protocol state machines (operator, aggregator, generator, challenger), the quorum math, the
# message types and the sum AVS, and runs a judge against each. A mutant the judge does not
# notice is "missed": either a test is missing or the mutant is equivalent, and then it is
# excluded, with its reason, in .cargo/mutants.toml.
#
# Three judges, the first argument (default --unit):
#   --unit      the core crate's own tests (seconds per mutant)
#   --with-sim  those plus a small simulator sweep: one seed of every scenarios/*.toml under
#               madsim with a real Anvil (sim/tests/scenarios.rs, EXOAVS_SIM_SEEDS=1), and the
#               simulator's own unit tests. Each mutant rebuilds the simulator (~1 min, 2 cores)
#   --sim-only  the simulator sweep alone, no unit test: what the harness catches by itself,
#               the bugs nobody planted (the auditor's measure)
#
#   bash scripts/mutants.sh                            # the whole set, unit judge (~340 mutants, ~30 min)
#   bash scripts/mutants.sh --shard 0/4                # one quarter, for a CI matrix
#   bash scripts/mutants.sh --re 'protocol/quorum'     # mutants whose name matches (file:line: what)
#   bash scripts/mutants.sh --sim-only --re 'protocol/generator'   # the harness alone on one file
#
# Extra arguments go to cargo-mutants. Results land in mutants.out/ (unit), or in
# target/mutants-with-sim/mutants.out and target/mutants-sim-only/mutants.out (outcomes.json,
# missed.txt, caught.txt, unviable.txt, timeout.txt; log/ has each mutant's build and test
# output). Not part of scripts/test.sh: like the benchmarks, it is a measurement, run on its own.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

judge=unit
case "${1:-}" in
  --unit) shift ;;
  --with-sim) judge=with-sim; shift ;;
  --sim-only) judge=sim-only; shift ;;
esac

version=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -q "$version"; then
  echo "==> installing cargo-mutants $version (crates.io)"
  cargo install cargo-mutants --locked --version "$version"
fi

# The set of files is the config's `examine_globs`; `--re` narrows it by mutant name.
if [[ $judge == unit ]]; then
  exec cargo mutants --package exoavs-core --output "$root" "$@"
fi

# The simulator judges. cargo-mutants builds in a copy of the tree without gitignored files, so
# contracts/node_modules (Anvil) is not there: point the simulator at this checkout's Anvil.
if [[ ! -d contracts/node_modules/@foundry-rs ]]; then
  echo "==> installing the contracts toolchain (npm ci in contracts/, for Anvil)"
  (cd contracts && npm ci --no-audit --no-fund)
fi
anvil="$(find "$root/contracts/node_modules/@foundry-rs" -path '*/anvil-*/bin/anvil' -type f | sort | head -1)"
if [[ -z $anvil ]]; then
  echo "error: no native anvil under contracts/node_modules/@foundry-rs (run npm ci in contracts/)" >&2
  exit 1
fi
export EXOAVS_ANVIL="$anvil"
export RUSTFLAGS="--cfg madsim"
# A lasting target directory: each cargo-mutants run copies the tree to a new temporary folder,
# and would otherwise rebuild every dependency of the simulated build (~8 min) before its
# baseline. Only the workspace's own crates are rebuilt per mutant.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/mutants-madsim}"
# One seed per scenario keeps a mutant's sweep to seconds; raise it for a stricter judge.
export EXOAVS_SIM_SEEDS="${EXOAVS_SIM_SEEDS:-1}"
# Two workers: the sweep then uses both cores, as `cargo sim --jobs 2` does.
export EXOAVS_SIM_JOBS="${EXOAVS_SIM_JOBS:-2}"
echo "==> judge: $judge; $EXOAVS_SIM_SEEDS seed(s) of every scenario; anvil $anvil"

if [[ $judge == with-sim ]]; then
  tests=(--test-package exoavs-core --test-package exoavs-sim --cargo-test-arg=--lib)
  packages=(-p exoavs-core -p exoavs-sim --lib)
else
  tests=(--test-package exoavs-sim)
  packages=(-p exoavs-sim)
fi
# cargo-mutants' own baseline runs only the mutated package's tests (exoavs-core), which has no
# `scenarios` target, so the script runs the baseline itself: the unmutated tree must pass the
# same judge, or every mutant would look caught. Then cargo-mutants skips its baseline and takes
# a fixed timeout per cargo command instead of one scaled from the baseline.
echo "==> baseline: the unmutated tree under the same judge"
cargo test --locked "${packages[@]}" --test scenarios -- --test-threads=1
# One test at a time (each runs its own Anvils, and the sweep already uses both cores); a
# mutant that stalls the world is cut off by the sweep's own simulated deadlines, and the
# timeout catches one that spins.
exec cargo mutants --package exoavs-core "${tests[@]}" \
  --cargo-test-arg=--test=scenarios --cargo-test-arg=-- --cargo-test-arg=--test-threads=1 \
  --baseline=skip --timeout "${EXOAVS_MUTANTS_TIMEOUT:-600}" \
  --output "$root/target/mutants-$judge" "$@"
