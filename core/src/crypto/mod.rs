//! BLS12-381 (blst, `min_pk`: public keys in G1, signatures in G2) and the exact bytes that are
//! signed. Pure: no I/O.
//!
//! - [`bls`]: keys, signatures, EIP-2537 encodings, proof of possession.
//! - [`messages`]: task response bytes, signed digest, key-registration message.
//! - [`aggregate`]: the aggregator's same-message fast path (aggregate-then-verify + bisection).

pub mod aggregate;
pub mod bls;

pub mod messages;

pub use aggregate::{AggregateOutcome, ApkCache, verify_aggregate, verify_aggregate_digest};
pub use bls::{
    AggregatePublicKey, BlsError, DST, PreparedMessage, PublicKey, SecretKey, Signature,
    aggregate_public_keys, aggregate_signatures, pop_prove, pop_verify,
};
