//! Values the protocol machines exchange: tasks as the chain announces them, the operators a task
//! snapshotted, responses as operators send them, and why a response was refused.

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::avs::{self, Avs, SumAvs, SumPayload};
use crate::crypto::bls::PublicKey;

pub type TaskId = u64;
pub type OperatorId = Address;
/// An operator's opted-in stake ("USD value"), as the emulation stores it (`uint128`).
pub type Stake = u128;
/// An epoch of the AVS's epoch identifier (`int64(block.timestamp / duration)` on the emulation).
pub type Epoch = u64;

/// Which of the two flows of the reference an AVS uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Flow {
    /// Operators send signed responses to an aggregator that submits one aggregate.
    #[default]
    Aggregated,
    /// Each operator calls `operatorSubmitTask` twice (prepare, then commit).
    TwoPhase,
}

/// A task as the AVS contract's `TaskCreated` event describes it. The payload stays the AVS's
/// ABI bytes, as the contract stored and emitted them: only the AVS ([`Avs::decode_payload`])
/// reads them, so the machines run any AVS and a payload that does not decode is a refusal, not
/// a decoding panic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    #[serde(with = "hex_bytes")]
    pub payload: Vec<u8>,
    pub threshold_percentage: u8,
    pub starting_epoch: Epoch,
    pub response_period: u64,
    pub challenge_period: u64,
    pub statistical_period: u64,
    /// Block that carried the creation (for cursors and logs; no rule depends on it).
    pub created_block: u64,
}

impl Task {
    /// The sum AVS's inputs, if the payload is its `abi.encode(uint64 a, uint64 b)`.
    pub fn sum_inputs(&self) -> Option<SumPayload> {
        SumAvs::default().decode_payload(&self.payload).ok()
    }

    /// Last epoch in which a response (or a two-phase prepare) is on time.
    pub fn response_deadline(&self) -> Epoch {
        self.starting_epoch.saturating_add(self.response_period)
    }

    /// Last epoch of the two-phase commit (statistical) window; challenges come after it.
    pub fn statistical_end(&self) -> Epoch {
        self.response_deadline()
            .saturating_add(self.statistical_period)
    }

    /// Whether `now` lies in the response / prepare window.
    pub fn in_response_window(&self, now: Epoch) -> bool {
        now <= self.response_deadline()
    }

    /// Whether `now` lies in the two-phase commit window.
    pub fn in_commit_window(&self, now: Epoch) -> bool {
        now > self.response_deadline() && now <= self.statistical_end()
    }
}

/// One member of a task's operator snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOperator {
    pub operator: OperatorId,
    pub stake: Stake,
    /// The operator's registered BLS key; an opted-in operator without one counts in the total
    /// stake but can never sign.
    pub pubkey: Option<PublicKey>,
}

/// A signed answer to a task, as an operator sends it: the AVS's response bytes (at most
/// `avs::MAX_RESPONSE_LEN`) and a signature over `avs::response_digest(task_id, response)`. Both
/// stay raw bytes until the aggregator decodes them, so that malformed input is a rejection
/// reason, not a decoding panic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub task_id: TaskId,
    #[serde(with = "hex_bytes")]
    pub response: Vec<u8>,
    pub operator: OperatorId,
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

impl Response {
    /// The 32 bytes the signature must cover.
    pub fn digest(&self) -> [u8; 32] {
        avs::response_digest(self.task_id, &self.response)
    }

    /// The sum this response carries, if its bytes are the sum AVS's `abi.encode(uint64)`.
    pub fn sum(&self) -> Option<u64> {
        SumAvs::decode_sum(&self.response).ok()
    }
}

/// Why the aggregator refused a response. `code()` travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RejectReason {
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("unknown task")]
    UnknownTask,
    #[error("task already closed (submitted, accepted or expired)")]
    TaskClosed,
    #[error("unknown operator")]
    UnknownOperator,
    #[error("operator not opted in for this task")]
    NotOptedIn,
    #[error("operator has no registered BLS key")]
    NoRegisteredKey,
    #[error("duplicate response")]
    Duplicate,
    #[error("conflicting response: operator already signed the response with digest {previous}")]
    Conflicting { previous: B256 },
    #[error("invalid signature")]
    InvalidSignature,
    #[error("provably wrong response (digest {digest})")]
    ProvablyWrong { digest: B256 },
    #[error("late: response window is over")]
    Late,
    #[error("overloaded: too many responses buffered for unknown tasks")]
    Overloaded,
}

impl RejectReason {
    /// Stable number for the wire.
    pub fn code(&self) -> u16 {
        match self {
            RejectReason::Malformed(_) => 1,
            RejectReason::UnknownTask => 2,
            RejectReason::TaskClosed => 3,
            RejectReason::UnknownOperator => 4,
            RejectReason::NotOptedIn => 5,
            RejectReason::NoRegisteredKey => 6,
            RejectReason::Duplicate => 7,
            RejectReason::Conflicting { .. } => 8,
            RejectReason::InvalidSignature => 9,
            RejectReason::ProvablyWrong { .. } => 10,
            RejectReason::Late => 11,
            RejectReason::Overloaded => 12,
        }
    }

    /// Whether the wire code says "not now" rather than a verdict: the aggregator has not seen
    /// the task (or the operator's key) yet, or its buffer is full. The operator keeps the
    /// response and sends it again while the task's window is open.
    pub fn code_asks_retry(code: u16) -> bool {
        code == RejectReason::UnknownTask.code() || code == RejectReason::Overloaded.code()
    }

    /// Short kebab-case name for logs and the simulator's trace.
    pub fn slug(&self) -> &'static str {
        match self {
            RejectReason::Malformed(_) => "malformed",
            RejectReason::UnknownTask => "unknown-task",
            RejectReason::TaskClosed => "task-closed",
            RejectReason::UnknownOperator => "unknown-operator",
            RejectReason::NotOptedIn => "not-opted-in",
            RejectReason::NoRegisteredKey => "no-registered-key",
            RejectReason::Duplicate => "duplicate",
            RejectReason::Conflicting { .. } => "conflicting",
            RejectReason::InvalidSignature => "invalid-signature",
            RejectReason::ProvablyWrong { .. } => "provably-wrong",
            RejectReason::Late => "late",
            RejectReason::Overloaded => "overloaded",
        }
    }
}

pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
