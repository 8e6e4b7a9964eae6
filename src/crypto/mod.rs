//! BLS12-381 (blst, `min_pk`: public keys in G1, signatures in G2), the exact bytes that are
//! signed, and keystores. Pure: no I/O beyond what a keystore file read hands in.
//!
//! - [`bls`]: keys, signatures, EIP-2537 encodings, proof of possession.
//! - [`messages`]: task response bytes, signed digest, key-registration message.
//! - [`aggregate`]: the aggregator's same-message fast path (aggregate-then-verify + bisection).
//! - [`keystore`]: EIP-2335 keystores and import of the Imua SDK's BLS key files.

pub mod aggregate;
pub mod bls;
pub mod keystore;

pub mod messages;

pub use aggregate::{AggregateOutcome, ApkCache, verify_aggregate, verify_aggregate_digest};
pub use bls::{
    AggregatePublicKey, BlsError, DST, PreparedMessage, PublicKey, SecretKey, Signature,
    aggregate_public_keys, aggregate_signatures, pop_prove, pop_verify,
};
