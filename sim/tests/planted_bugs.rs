//! The aggregator's planted bugs (test-only switches in `protocol::aggregator::AggregatorBugs`):
//! with each one on, a scenario that passes with the honest code fails, with a repro line.
#![cfg(madsim)]

use exoavs::protocol::aggregator::AggregatorBugs;
use exoavs_sim::anvil::ChainSlot;
use exoavs_sim::protocol_roles::Exoavs;
use exoavs_sim::scenario;
use exoavs_sim::world::run;
use std::sync::Arc;

fn caught(name: &str, bugs: AggregatorBugs) -> String {
    let s = Arc::new(scenario::by_name(name).expect("scenario"));
    let mut slot = ChainSlot::start().expect("anvil");
    let clean = run(Arc::new(Exoavs::default()), s.clone(), 1, &mut slot);
    assert!(clean.ok(), "without the bug: {}", clean.line());
    let r = run(Arc::new(Exoavs { bugs }), s, 1, &mut slot);
    assert!(!r.ok(), "the planted bug went unnoticed in {name}");
    assert!(
        r.line()
            .contains(&format!("reproduce: cargo sim --scenario {name} --seed 1"))
    );
    r.line()
}

#[test]
fn aggregator_skipping_signature_checks_is_caught() {
    let line = caught(
        "byzantine",
        AggregatorBugs {
            skip_signature_checks: true,
            ..Default::default()
        },
    );
    println!("{line}");
}

#[test]
fn aggregator_forgetting_tasks_on_crash_is_caught() {
    let line = caught(
        "aggregator-crash",
        AggregatorBugs {
            forget_on_restart: true,
            ..Default::default()
        },
    );
    println!("{line}");
}

#[test]
fn aggregator_submitting_below_threshold_is_caught() {
    let line = caught(
        "no-quorum",
        AggregatorBugs {
            submit_below_threshold: true,
            ..Default::default()
        },
    );
    println!("{line}");
}
