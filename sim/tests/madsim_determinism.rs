//! madsim's own determinism check (it logs every draw of the seeded RNG in a first run and
//! panics at the first draw that differs in a second) over the standard scenario with the real
//! drivers. It caught an unbiased `tokio::select!` in the aggregator driver (tokio draws the
//! branch order from its own thread-local RNG, seeded from a process-wide counter).
#![cfg(madsim)]
use exoavs_sim::anvil::ChainSlot;
use exoavs_sim::invariants::Checker;
use std::sync::{Arc, Mutex};

// `check_determinism` takes a plain `fn`, so the Anvil lives in a static; taken out (and so
// stopped) at the end of the test.
static SLOT: Mutex<Option<ChainSlot>> = Mutex::new(None);
#[test]
fn standard_scenario_under_madsim_check_determinism() {
    *SLOT.lock().unwrap() = Some(ChainSlot::start().expect("anvil"));
    madsim::runtime::Runtime::check_determinism(77, madsim::Config::default(), || async {
        let addr = {
            let mut guard = SLOT.lock().unwrap();
            let s = guard.as_mut().expect("anvil started");
            s.reset().expect("reset");
            s.addr()
        };
        let sc = Arc::new(exoavs_sim::scenario::by_name("standard").unwrap());
        let trace = exoavs_sim::trace::Trace::new();
        let ch = Arc::new(Mutex::new(Checker::new(&sc)));
        let _ = exoavs_sim::world::world(
            Arc::new(exoavs_sim::protocol_roles::Exoavs::default()),
            sc,
            77,
            addr,
            trace,
            ch,
        )
        .await;
    });
    drop(SLOT.lock().unwrap().take());
}
