//! BLS12-381, the exact bytes that are signed (both from `exoavs_core::crypto`, re-exported so
//! `exoavs::crypto::bls` and friends keep their paths) and keystores, which read files and so
//! stay in this crate.
//!
//! - [`bls`]: keys, signatures, EIP-2537 encodings, proof of possession.
//! - [`messages`]: task response bytes, signed digest, key-registration message.
//! - [`aggregate`]: the aggregator's same-message fast path (aggregate-then-verify + bisection).
//! - [`keystore`]: EIP-2335 keystores and import of the Imua SDK's BLS key files.

pub use exoavs_core::crypto::*;

pub mod keystore;
