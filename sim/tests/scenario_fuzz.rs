//! Scenario-level fuzz: random scenarios from `exoavs_sim::fuzz` (operators, weights, threshold,
//! byzantine share and kinds, fault rates) run under the simulator with exoavs's real drivers and
//! a real Anvil. The simulator checks safety at every event and the expected outcome, which the
//! generator computed from the parameters; this test adds the outcome's trace-level consequences.
//!
//! `EXOAVS_SIM_FUZZ_CASES` (default 8), `EXOAVS_SIM_FUZZ_SEED` (default fixed),
//! `EXOAVS_SIM_FUZZ_FIRST` (first case index), `EXOAVS_SIM_JOBS` (workers, default 2).
//! A failure writes the scenario to `EXOAVS_SIM_FUZZ_OUT` (default `target/scenario-fuzz/`) and
//! prints how to rerun it and how to keep it as a regression in `scenarios/`.
#![cfg(madsim)]

use exoavs_sim::fuzz::{self, FuzzCase};
use exoavs_sim::protocol_roles::Exoavs;
use exoavs_sim::runner::{Plan, sweep};
use exoavs_sim::scenario::{Outcome, Scenario};
use exoavs_sim::sweep::Shard;
use exoavs_sim::trace::EventKind;
use exoavs_sim::world::Report;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

fn out_dir() -> PathBuf {
    std::env::var_os("EXOAVS_SIM_FUZZ_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let sim = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            sim.parent().unwrap_or(&sim).join("target/scenario-fuzz")
        })
}

/// What the expected outcome implies for the trace, beyond the simulator's own checks.
fn outcome_problems(s: &Scenario, r: &Report) -> Vec<String> {
    let events = r.trace.events();
    let mut created = BTreeSet::new();
    let mut accepted = BTreeSet::new();
    let mut expired = BTreeSet::new();
    for e in &events {
        match &e.kind {
            EventKind::TaskCreated { task, .. } | EventKind::TaskSubmitted { task, .. } => {
                created.insert(*task);
            }
            EventKind::TaskAccepted { task, .. } => {
                accepted.insert(*task);
            }
            EventKind::TaskExpired { task, .. } => {
                expired.insert(*task);
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    if created.is_empty() {
        problems.push("no task was created".to_string());
    }
    match s.expect.outcome {
        Outcome::NoneAccepted => {
            if !accepted.is_empty() {
                problems.push(format!(
                    "tasks {accepted:?} accepted below the honest threshold"
                ));
            }
            let open: Vec<_> = created.difference(&expired).collect();
            if !open.is_empty() {
                problems.push(format!("tasks {open:?} neither accepted nor expired"));
            }
        }
        Outcome::AllAccepted => {
            // Without faults nothing excuses an expiry.
            if s.faults.safety_phase_ms == 0 && accepted != created {
                problems.push(format!(
                    "no faults, but only {accepted:?} of {created:?} accepted"
                ));
            }
        }
        Outcome::EachEnds => {
            let open: Vec<_> = created
                .iter()
                .filter(|t| !accepted.contains(*t) && !expired.contains(*t))
                .collect();
            if !open.is_empty() {
                problems.push(format!("tasks {open:?} neither accepted nor expired"));
            }
        }
    }
    problems
}

fn describe(s: &Scenario) -> String {
    let o = &s.operators;
    let special: Vec<String> = o
        .special
        .iter()
        .map(|x| format!("{}:{:?}", x.index, x.behaviour))
        .collect();
    format!(
        "{} ops weights {:?} threshold {}% byzantine [{}] tasks {} faults {} → {:?}",
        o.count,
        o.weights,
        s.threshold_percent,
        special.join(" "),
        s.tasks.count,
        if s.faults.safety_phase_ms == 0 {
            "none".to_string()
        } else {
            format!("{} ms", s.faults.safety_phase_ms)
        },
        s.expect.outcome
    )
}

#[test]
fn random_scenarios_keep_the_invariants() {
    let (seed, first, count) = fuzz::plan_from_env(8).expect("EXOAVS_SIM_FUZZ_*");
    let jobs = std::env::var("EXOAVS_SIM_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(2);
    println!(
        "scenario_fuzz: seed {seed}, cases {first}..{} (EXOAVS_SIM_FUZZ_SEED / _FIRST / _CASES)",
        first + count
    );
    let cases: Vec<FuzzCase> = (first..first + count)
        .map(|i| fuzz::case(seed, i))
        .collect();
    let scenarios: Vec<Arc<Scenario>> = cases
        .iter()
        .map(|c| Arc::new(c.scenario().unwrap_or_else(|e| panic!("{e}\n{}", c.toml))))
        .collect();
    for (c, s) in cases.iter().zip(&scenarios) {
        println!("case {}: {}", c.index, describe(s));
    }
    let plan = Plan {
        scenarios: scenarios.clone(),
        seed: None,
        // Each generated scenario lists its one simulator seed.
        count: 1,
        shard: Shard::default(),
        jobs,
    };
    let reports = sweep(Arc::new(Exoavs::default()), &plan, |r| {
        println!("{}", r.line())
    })
    .expect("anvil");
    assert_eq!(reports.len(), cases.len());

    let mut failures = Vec::new();
    for ((c, s), r) in cases.iter().zip(&scenarios).zip(&reports) {
        assert_eq!(r.scenario, c.name);
        let mut problems: Vec<String> = r.violation.iter().map(|v| v.to_string()).collect();
        if problems.is_empty() {
            problems = outcome_problems(s, r);
        }
        if problems.is_empty() {
            continue;
        }
        let kept = match c.write_to(&out_dir()) {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("(could not write the scenario: {e})"),
        };
        failures.push(format!(
            "fuzz case {} ({}): {}\n  scenario written to {kept}\n  rerun: cargo sim --scenario-file {kept} --seed {}\n  \
             regenerate: {}\n  keep as a regression: cp {kept} scenarios/\n{}",
            c.index,
            describe(s),
            problems.join("; "),
            c.sim_seed,
            c.repro(),
            c.toml
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} fuzz scenarios failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
