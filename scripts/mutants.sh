#!/usr/bin/env bash
# Mutation testing of the core crate (issue 16): cargo-mutants injects one bug at a time into
# the protocol state machines (operator, aggregator, generator, challenger), the quorum math, the
# message types and the sum AVS, and runs the core crate's tests against each. A mutant no test
# notices is "missed": either a test is missing or the mutant is equivalent, and then it is
# excluded, with its reason, in .cargo/mutants.toml.
#
#   bash scripts/mutants.sh                  # the whole set (about 270 mutants; ~25 min, 2 cores)
#   bash scripts/mutants.sh --shard 0/4      # one quarter, for a CI matrix
#   bash scripts/mutants.sh --re 'protocol/quorum'   # mutants whose name matches (file:line: what)
#
# Extra arguments go to cargo-mutants. Results land in mutants.out/ (outcomes.json, missed.txt,
# caught.txt, unviable.txt, timeout.txt). Not part of scripts/test.sh: like the benchmarks, it is
# a measurement, run on its own.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

version=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -q "$version"; then
  echo "==> installing cargo-mutants $version (crates.io)"
  cargo install cargo-mutants --locked --version "$version"
fi

# The set of files is the config's `examine_globs`; `--re` narrows it by mutant name.
exec cargo mutants --package exoavs-core --output "$root" "$@"
