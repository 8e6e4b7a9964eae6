//! exoavs: the Exocore/Imua AVS protocol.
//!
//! Layers (imports go downward only):
//! - `protocol`, `crypto`: pure state machines, message bytes, quorum math, BLS. No I/O. They
//!   live in the `exoavs-core` crate and are re-exported here; `crypto::keystore` is local.
//! - `chain`, `net`, `store`: the edges (alloy client, operator→aggregator wire, persistence).
//! - `node`: async drivers that feed state machines and carry out their actions.
//! - `cli`, `devnet`: the `exoavs` binary.

pub mod crypto;
pub use exoavs_core::{avs, protocol};

pub mod chain;
pub mod net;
pub mod store;

pub mod node;

pub mod app;

pub mod cli;
pub mod devnet;
pub mod metrics;
