//! The seam for an AVS's own logic. An AVS developer implements [`Avs`], and [`SumAvs`] is the
//! default. The operator, aggregator, generator and challenger machines in `protocol` are generic
//! over it, and the conventions below are the ones the base service contract checks.
//!
//! Wire and contract convention, fixed for every AVS (the base service contract checks the same):
//! the bytes an operator signs are `abi.encodePacked(bytes32(uint256(taskId)), responseBytes)`,
//! where `responseBytes` is the AVS's ABI encoding of its response ([`Avs::encode_response`]),
//! and the BLS message is their `keccak256` ([`response_digest`]). For the sum AVS
//! (`responseBytes = abi.encode(uint64 sum)`) this is byte for byte `abi.encode(uint64 taskId,
//! uint64 sum)`, the message Imua's `x/avs` checks (see `crypto::messages`).
//!
//! Under this trait the aggregator never computes an answer: it groups signatures by
//! (task, response digest) and submits the first digest whose signers reach the threshold, so
//! honest operators may disagree (an oracle whose feeds differ a little) and only the majority
//! digest counts.

use std::fmt::Debug;

use alloy_primitives::keccak256;
use alloy_sol_types::SolValue;
use rand::RngCore;

use crate::protocol::types::{OperatorId, TaskId};

/// The largest response encoding accepted on the wire and signed. Bounded because the aggregator
/// is a public server that keeps the bytes of every claim it counts.
pub const MAX_RESPONSE_LEN: usize = 1024;

/// Why payload or response bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{what}: {len} bytes exceed the limit of {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what}: not a valid ABI encoding ({detail}) of {len} bytes")]
    Abi {
        what: &'static str,
        len: usize,
        detail: String,
    },
    #[error("{what}: {detail}")]
    Invalid { what: &'static str, detail: String },
}

impl CodecError {
    /// Wrap an `alloy_sol_types` decoding error, naming what was decoded and its length.
    pub fn abi(what: &'static str, bytes: &[u8], e: alloy_sol_types::Error) -> Self {
        CodecError::Abi {
            what,
            len: bytes.len(),
            detail: e.to_string(),
        }
    }
}

/// What the driver hands to [`Avs::compute`]: who computes, for which task, when, and a source
/// of randomness. Under the simulator the RNG is seeded per operator, so a seeded price feed (for
/// example) differs per operator yet every run of a seed is the same.
pub struct ComputeCtx<'a> {
    pub operator: OperatorId,
    pub task_id: TaskId,
    /// The epoch at which the operator saw the task.
    pub now: u64,
    pub rng: &'a mut dyn RngCore,
}

/// One AVS's business logic.
pub trait Avs: Send + Sync + 'static {
    /// A task's input, as the contract stores and emits it once ABI-encoded.
    type Payload: Clone + Debug + PartialEq + Send + Sync + 'static;
    /// An operator's answer to a task; its ABI encoding is what is signed (with the task id).
    type Response: Clone + Debug + PartialEq + Send + Sync + 'static;

    /// The payload's bytes, as `createNewTask` stores them and `NewTaskCreated` emits them.
    fn encode_payload(&self, payload: &Self::Payload) -> Vec<u8>;
    /// Strict inverse of [`Avs::encode_payload`]: bytes from the chain are untrusted.
    fn decode_payload(&self, bytes: &[u8]) -> Result<Self::Payload, CodecError>;

    /// The response's ABI bytes (`responseBytes` of the signed message); at most
    /// [`MAX_RESPONSE_LEN`] long.
    fn encode_response(&self, response: &Self::Response) -> Vec<u8>;
    /// Strict inverse of [`Avs::encode_response`]: bytes from the wire are untrusted.
    fn decode_response(&self, bytes: &[u8]) -> Result<Self::Response, CodecError>;

    /// An honest operator's answer, or `None` when it must not sign anything (no correct answer
    /// exists, or its inputs are unavailable). Deterministic given `payload` and `ctx`.
    fn compute(&self, payload: &Self::Payload, ctx: &mut ComputeCtx<'_>) -> Option<Self::Response>;

    /// The slashing condition: whether signing `response` for `payload` is provably wrong (a
    /// fraud proof the contract can check). Slash only what is provable, so by default nothing.
    fn is_provably_wrong(&self, payload: &Self::Payload, response: &Self::Response) -> bool {
        let _ = (payload, response);
        false
    }

    /// The reward rule: whether an operator that signed `signed` (the digest of its response, if
    /// any is known) earns the reward for a task whose accepted digest is `accepted`. By default:
    /// it signed the accepted digest. Being slow or absent costs a reward, never stake.
    fn earns_reward(&self, accepted: &[u8; 32], signed: Option<&[u8; 32]>) -> bool {
        signed == Some(accepted)
    }

    /// The task generator's next task.
    fn next_payload(&mut self, rng: &mut dyn RngCore) -> Self::Payload;

    /// How logs and the devnet display show a payload; by default its `Debug` form.
    fn show_payload(&self, payload: &Self::Payload) -> String {
        format!("{payload:?}")
    }

    /// How logs and the devnet display show a response; by default its `Debug` form.
    fn show_response(&self, response: &Self::Response) -> String {
        format!("{response:?}")
    }
}

/// Payload bytes from the chain as the AVS shows them, or why they do not decode.
pub fn show_payload_bytes<A: Avs>(avs: &A, bytes: &[u8]) -> String {
    match avs.decode_payload(bytes) {
        Ok(p) => avs.show_payload(&p),
        Err(e) => format!("0x{} ({e})", hex::encode(bytes)),
    }
}

/// Response bytes as the AVS shows them, or why they do not decode.
pub fn show_response_bytes<A: Avs>(avs: &A, bytes: &[u8]) -> String {
    match avs.decode_response(bytes) {
        Ok(r) => avs.show_response(&r),
        Err(e) => format!("0x{} ({e})", hex::encode(bytes)),
    }
}

/// The bytes an operator signs for `task_id`: `abi.encodePacked(bytes32(uint256(taskId)),
/// responseBytes)`.
pub fn signed_bytes(task_id: TaskId, response: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + response.len());
    out.extend_from_slice(&[0u8; 24]);
    out.extend_from_slice(&task_id.to_be_bytes());
    out.extend_from_slice(response);
    out
}

/// The inverse of [`signed_bytes`] (a two-phase commit as the precompile stores it): the task id
/// and the response bytes, or `None` when the first word is not a `uint64` task id.
pub fn split_signed_bytes(bytes: &[u8]) -> Option<(TaskId, &[u8])> {
    if bytes.len() < 32 || bytes[..24].iter().any(|b| *b != 0) {
        return None;
    }
    let id = u64::from_be_bytes(bytes[24..32].try_into().ok()?);
    Some((id, &bytes[32..]))
}

/// The 32-byte BLS message: `keccak256(signed_bytes(task_id, response))`.
pub fn response_digest(task_id: TaskId, response: &[u8]) -> [u8; 32] {
    keccak256(signed_bytes(task_id, response)).0
}

/// The sum of two `uint64`, the reference AVS: payload `abi.encode(uint64 a, uint64 b)`, response
/// `abi.encode(uint64 sum)`. A sum that overflows `uint64` has no correct answer, so honest
/// operators refuse; any signed value other than `a + b` is provably wrong (the contract's fraud
/// proof recomputes the sum).
#[derive(Debug, Clone, Copy, Default)]
pub struct SumAvs {
    /// Largest addend the generator draws (inclusive); 0 means `DEFAULT_MAX_ADDEND`.
    pub max_addend: u64,
}

/// The generator's default addend bound: small numbers, so sums never overflow.
pub const DEFAULT_MAX_ADDEND: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SumPayload {
    pub a: u64,
    pub b: u64,
}

impl SumPayload {
    /// The only correct answer, `None` when `a + b` does not fit the contract's `uint64`.
    pub fn sum(&self) -> Option<u64> {
        self.a.checked_add(self.b)
    }
}

impl SumAvs {
    /// `abi.encode(uint64 a, uint64 b)`, the payload bytes of the task `a + b`.
    pub fn payload_bytes(a: u64, b: u64) -> Vec<u8> {
        (a, b).abi_encode()
    }

    /// `abi.encode(uint64 sum)`, the response bytes of the sum.
    pub fn response_bytes(sum: u64) -> Vec<u8> {
        sum.abi_encode()
    }

    /// Strict decoding of `abi.encode(uint64)`: exactly one word, high bytes zero (the contract's
    /// `abi.decode` reverts on dirty high bytes, so we reject them too).
    pub fn decode_sum(bytes: &[u8]) -> Result<u64, CodecError> {
        if bytes.len() != 32 {
            return Err(CodecError::Invalid {
                what: "sum response",
                detail: format!("expected 32 bytes, got {}", bytes.len()),
            });
        }
        u64::abi_decode_validate(bytes).map_err(|e| CodecError::abi("sum response", bytes, e))
    }
}

impl Avs for SumAvs {
    type Payload = SumPayload;
    type Response = u64;

    fn encode_payload(&self, p: &SumPayload) -> Vec<u8> {
        Self::payload_bytes(p.a, p.b)
    }

    fn decode_payload(&self, bytes: &[u8]) -> Result<SumPayload, CodecError> {
        if bytes.len() != 64 {
            return Err(CodecError::Invalid {
                what: "sum payload",
                detail: format!("expected 64 bytes, got {}", bytes.len()),
            });
        }
        let (a, b) = <(u64, u64)>::abi_decode_validate(bytes)
            .map_err(|e| CodecError::abi("sum payload", bytes, e))?;
        Ok(SumPayload { a, b })
    }

    fn encode_response(&self, sum: &u64) -> Vec<u8> {
        Self::response_bytes(*sum)
    }

    fn decode_response(&self, bytes: &[u8]) -> Result<u64, CodecError> {
        Self::decode_sum(bytes)
    }

    fn compute(&self, payload: &SumPayload, _ctx: &mut ComputeCtx<'_>) -> Option<u64> {
        payload.sum()
    }

    /// `proveWrongSum`: the contract recomputes `a + b`.
    fn is_provably_wrong(&self, payload: &SumPayload, response: &u64) -> bool {
        payload.sum() != Some(*response)
    }

    fn show_payload(&self, p: &SumPayload) -> String {
        format!("{} + {}", p.a, p.b)
    }

    fn show_response(&self, sum: &u64) -> String {
        sum.to_string()
    }

    fn next_payload(&mut self, rng: &mut dyn RngCore) -> SumPayload {
        let max = if self.max_addend == 0 {
            DEFAULT_MAX_ADDEND
        } else {
            self.max_addend
        };
        let draw = |rng: &mut dyn RngCore| rng.next_u64() % max.saturating_add(1);
        SumPayload {
            a: draw(rng),
            b: draw(rng),
        }
    }
}

#[cfg(test)]
mod tests;
