//! The price oracle under exoavs's deterministic simulator: the production roles running
//! `OracleAvs`, a real Anvil with `OracleService`, and the faults of `scenarios/*.toml` (a crash
//! of operators, aggregator and generator; partitions; byzantine operators). The auditor judges
//! every run by the generic invariants and by the oracle's own, `check_accepted`.
//!
//!   RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/madsim \
//!     cargo test -p exoavs-oracle --features sim,planted-bugs --test sim
//!
//! `EXOAVS_SIM_SEEDS=n` runs n seeds per scenario. A failure prints the one line that reruns it
//! (`one_seed`, with `EXOAVS_SIM_SCENARIO` and `EXOAVS_SIM_SEED`).
#![cfg(madsim)]

use exoavs_oracle::OracleAvs;
use exoavs_sim::anvil::ChainSlot;
use exoavs_sim::protocol_roles::Exoavs;
use exoavs_sim::runner::{Plan, sweep};
use exoavs_sim::scenario::Scenario;
use exoavs_sim::sweep::{Shard, seed_count};
use exoavs_sim::world::{Report, run};
use std::path::PathBuf;
use std::sync::Arc;

fn scenarios() -> Vec<Arc<Scenario>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| Arc::new(Scenario::load(f).unwrap_or_else(|e| panic!("{e}"))))
        .collect()
}

fn scenario(name: &str) -> Arc<Scenario> {
    scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name:?} in examples/oracle/scenarios"))
}

/// The oracle the runs use: with `EXOAVS_ORACLE_BUG=rounding` (a repro line of the planted bug)
/// the one with the wrong rounding.
fn oracle() -> OracleAvs {
    #[cfg(feature = "planted-bugs")]
    if std::env::var("EXOAVS_ORACLE_BUG").as_deref() == Ok("rounding") {
        return OracleAvs::with_rounding_bug();
    }
    OracleAvs::default()
}

fn failures(reports: &[Report]) -> Vec<String> {
    reports
        .iter()
        .filter(|r| !r.ok())
        .map(|r| r.line())
        .collect()
}

#[test]
fn every_oracle_scenario_over_its_seeds() {
    let scenarios = scenarios();
    assert!(scenarios.len() >= 4, "{} scenarios", scenarios.len());
    let count = scenarios
        .iter()
        .map(|s| seed_count(s.seeds.len()))
        .max()
        .unwrap_or(1);
    let plan = Plan {
        scenarios,
        seed: None,
        count,
        shard: Shard::default(),
        jobs: 2,
    };
    let reports = sweep(Arc::new(Exoavs::with_app(oracle())), &plan, |r| {
        println!("{}", r.line())
    })
    .expect("anvil");
    let failed = failures(&reports);
    assert!(
        failed.is_empty(),
        "{} of {} runs failed:\n{}",
        failed.len(),
        reports.len(),
        failed.join("\n")
    );
    // The oracle's honest operators agree on most tasks: a sweep where none was accepted
    // would prove nothing about the accepted prices.
    let accepted = reports
        .iter()
        .flat_map(|r| r.trace.events())
        .filter(|e| matches!(e.kind, exoavs_sim::trace::EventKind::TaskAccepted { .. }))
        .count();
    let created: usize = reports.iter().map(|r| r.tasks_created).sum();
    assert!(
        accepted * 2 > created,
        "only {accepted} of {created} tasks accepted"
    );
}

/// The repro entry point: one seed of one scenario, from the environment.
#[test]
fn one_seed() {
    let (Ok(name), Ok(seed)) = (
        std::env::var("EXOAVS_SIM_SCENARIO"),
        std::env::var("EXOAVS_SIM_SEED"),
    ) else {
        return;
    };
    let seed: u64 = seed.parse().expect("EXOAVS_SIM_SEED is a number");
    let mut slot = ChainSlot::start().expect("anvil");
    let r = run(
        Arc::new(Exoavs::with_app(oracle())),
        scenario(&name),
        seed,
        &mut slot,
    );
    println!("{}", r.line());
    assert!(r.ok(), "{}", r.line());
}

/// The planted rounding bug stays on the tick grid, so the contract accepts its prices and no
/// generic invariant can object; the oracle's own invariant catches it, and the failure names
/// the command that reruns it.
#[cfg(feature = "planted-bugs")]
#[test]
fn the_planted_rounding_bug_is_caught_by_the_oracles_own_invariant() {
    let s = scenario("oracle-standard");
    let mut slot = ChainSlot::start().expect("anvil");
    let buggy = Arc::new(Exoavs::with_app(OracleAvs::with_rounding_bug()));
    let clean = Arc::new(Exoavs::with_app(OracleAvs::default()));
    let mut caught = None;
    for seed in 1..=4u64 {
        let honest = run(clean.clone(), s.clone(), seed, &mut slot);
        assert!(honest.ok(), "the clean oracle fails: {}", honest.line());
        let r = run(buggy.clone(), s.clone(), seed, &mut slot);
        if let Some(v) = &r.violation {
            assert_eq!(v.invariant, "accepted results are correct", "{}", r.line());
            assert!(v.detail.contains("reference"), "{}", r.line());
            caught = Some(r.line());
            break;
        }
    }
    let line = caught.expect("the rounding bug escaped seeds 1..=4");
    println!("{line}");
    assert!(
        line.contains("EXOAVS_ORACLE_BUG=rounding") && line.contains("--test sim"),
        "no repro line: {line}"
    );
}
