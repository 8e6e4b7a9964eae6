//! Deterministic simulation of exoavs (madsim + a real Anvil).
//!
//! The pieces that need the simulator (`gateway`, `world`, `faults`) only exist under
//! `--cfg madsim`; the scenario schema, the trace and the Anvil process helpers build anywhere.

pub mod anvil;
pub mod fuzz;
pub mod invariants;
pub mod judge;
pub mod scenario;
pub mod sweep;
pub mod timeline;
pub mod trace;

#[cfg(madsim)]
pub mod faults;
#[cfg(madsim)]
pub mod gateway;
#[cfg(madsim)]
pub mod observer;
#[cfg(madsim)]
pub mod protocol_roles;
#[cfg(madsim)]
pub mod roles;
#[cfg(madsim)]
pub mod runner;
#[cfg(madsim)]
pub mod txs;
#[cfg(madsim)]
pub mod world;
