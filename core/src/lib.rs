//! exoavs-core: what an AVS developer depends on. The protocol state machines (operator,
//! aggregator, generator, challenger), quorum math, BLS12-381 and the exact bytes that are signed.
//!
//! Pure: no I/O, no async runtime, no RPC client, no CLI. Time, randomness and inputs come in as
//! arguments; effects go out as actions that a driver (the `exoavs` crate's `node` module, or the
//! simulator) carries out.

pub mod avs;
pub mod crypto;
pub mod protocol;
