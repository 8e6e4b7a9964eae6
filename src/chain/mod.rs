//! The chain edge: alloy bindings from the contracts' build output, one Provider, transactions
//! by build + sign + send_raw_transaction + receipt polling, and a reorg-safe event cursor.

pub mod avs;
pub mod bindings;
pub mod client;
pub mod cursor;
pub mod error;
pub mod stats;

pub use client::{Client, Landing, Reader, TxConfig, TxOutcome};
pub use cursor::{Batch, CursorConfig, EventCursor};
pub use error::{ChainError, Revert_};
pub use stats::{CursorProgress, CursorSeen, CursorSlot, RpcCounts, RpcStats};

#[cfg(test)]
mod tests;
