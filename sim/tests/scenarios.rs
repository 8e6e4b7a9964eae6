//! Every `scenarios/*.toml` over its seeds, with exoavs's real drivers and a real Anvil.
//! `EXOAVS_SIM_SEEDS=n` runs n seeds per scenario, `EXOAVS_SIM_SHARD=k/n` one slice of them,
//! `EXOAVS_SIM_JOBS` worker threads (default 2). A failure prints its repro line.
#![cfg(madsim)]

use exoavs_sim::anvil::ChainSlot;
use exoavs_sim::invariants::Kind;
use exoavs_sim::protocol_roles::Exoavs;
use exoavs_sim::runner::{Plan, sweep};
use exoavs_sim::scenario::{self, Outcome, Scenario};
use exoavs_sim::sweep::{seed_count, shard_from_env};
use exoavs_sim::world::run;
use std::sync::Arc;

#[test]
fn every_scenario_over_its_seeds() {
    let files = scenario::all_files().expect("scenarios/");
    let scenarios: Vec<Arc<Scenario>> = files
        .iter()
        .map(|f| Arc::new(Scenario::load(f).unwrap_or_else(|e| panic!("{e}"))))
        .collect();
    assert!(scenarios.len() >= 8);
    let count = scenarios
        .iter()
        .map(|s| seed_count(s.seeds.len()))
        .max()
        .unwrap_or(1);
    let jobs = std::env::var("EXOAVS_SIM_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(2);
    let plan = Plan {
        scenarios,
        seed: None,
        count,
        shard: shard_from_env().expect("EXOAVS_SIM_SHARD"),
        jobs,
    };
    let reports = sweep(Arc::new(Exoavs::default()), &plan, |r| {
        println!("{}", r.line())
    })
    .expect("anvil");
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.ok())
        .map(|r| r.line())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} runs failed:\n{}",
        failed.len(),
        reports.len(),
        failed.join("\n")
    );
}

/// One seed of the standard scenario twice: the same digest, Anvil's tx and block hashes
/// included, and the same event log.
#[test]
fn same_seed_same_run() {
    let s = Arc::new(scenario::by_name("standard").expect("standard"));
    let mut slot = ChainSlot::start().expect("anvil");
    let a = run(Arc::new(Exoavs::default()), s.clone(), 77, &mut slot);
    let b = run(Arc::new(Exoavs::default()), s, 77, &mut slot);
    assert!(a.ok(), "{}", a.line());
    assert!(a.tasks_created >= 10);
    first_divergence(&a, &b);
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.trace.events(), b.trace.events());
}

/// A deliberately failing seed: the standard run judged against the opposite expectation.
/// The failure names its kind and prints a repro line, and running that seed again fails the
/// same way at the same simulated instant with the same digest.
#[test]
fn a_failing_seed_prints_a_repro_line_that_reproduces_it() {
    let mut s = scenario::by_name("standard").expect("standard");
    s.expect.outcome = Outcome::NoneAccepted;
    let s = Arc::new(s);
    let mut slot = ChainSlot::start().expect("anvil");
    let a = run(Arc::new(Exoavs::default()), s.clone(), 5, &mut slot);
    let va = a.violation.clone().expect("the run fails");
    assert_eq!(va.kind, Kind::Expectation);
    assert!(
        a.line()
            .contains("reproduce: cargo sim --scenario standard --seed 5"),
        "{}",
        a.line()
    );
    assert_eq!(a.exit_code(), 13);
    let b = run(Arc::new(Exoavs::default()), s, 5, &mut slot);
    assert_eq!(
        b.violation,
        Some(va),
        "the same failure at the same simulated instant"
    );
    first_divergence(&a, &b);
    assert_eq!(a.digest, b.digest);
}

/// With EXOAVS_SIM_RPC_LOG set, show where two runs of one seed part.
fn first_divergence(a: &exoavs_sim::world::Report, b: &exoavs_sim::world::Report) {
    for (i, (x, y)) in a
        .trace
        .events()
        .iter()
        .zip(b.trace.events().iter())
        .enumerate()
    {
        if x != y {
            println!("events part at {i}:\n{x:?}\n{y:?}");
            break;
        }
    }
    for (i, (x, y)) in a
        .trace
        .rpc_log()
        .iter()
        .zip(b.trace.rpc_log().iter())
        .enumerate()
    {
        if x != y {
            println!("rpc part at {i}:\n{x:?}\n{y:?}");
            break;
        }
    }
}
