//! What the machines ask the driver to persist (`Persist(Record)` actions), and what they are
//! rebuilt from after a restart (`restore(records)`). The store (the `exoavs` crate's `store`
//! module) keeps these records in order and returns them unchanged.

use alloy_primitives::{B256, Bytes};
use serde::{Deserialize, Serialize};

use super::types::{Response, TaskId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// Operator: it signed `response` (the AVS's response bytes) for `task_id`, answering the
    /// payload whose keccak256 is `payload`. Written before the signature leaves the node, so that
    /// no restart can make it sign a different response for the same task.
    Signed {
        task_id: TaskId,
        payload: B256,
        #[serde(with = "super::types::hex_bytes")]
        response: Vec<u8>,
    },
    /// Aggregator: a response passed every check (signature included).
    Accepted { response: Response },
    /// Aggregator: it decided to submit `response` (the AVS's response bytes) for `task_id`
    /// (before the transaction is sent).
    Submitted {
        task_id: TaskId,
        #[serde(with = "super::types::hex_bytes")]
        response: Vec<u8>,
    },
    /// Aggregator / challenger: the task needs no more work (accepted on chain, expired, or challenged).
    Closed { task_id: TaskId },
    /// Generator: it asked for task number `seq` with this payload (the AVS's ABI bytes).
    Created {
        seq: u64,
        #[serde(with = "super::types::hex_bytes")]
        payload: Vec<u8>,
    },
    /// Generator: the signed transaction for request `seq` (EIP-2718 bytes), written before it
    /// is first broadcast. A restart sends these same bytes again: one nonce, so the request
    /// lands at most once however often it is sent.
    TxSigned { seq: u64, raw: Bytes },
    /// Generator: the transaction for `seq` can never land (it reverted, or its nonce went to
    /// another transaction); the next attempt signs afresh.
    TxRejected { seq: u64 },
    /// Generator: request `seq` landed on chain as `task_id` (or was given up, `task_id = None`).
    Confirmed { seq: u64, task_id: Option<TaskId> },
    /// Any chain reader: events up to and including this block were handled.
    Cursor { block: u64, hash: B256 },
}
