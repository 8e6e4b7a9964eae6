//! Async drivers: feed a state machine events from chain, network, timers and store; carry out
//! the actions it returns. The only place where protocol meets I/O; the same code runs in
//! production (real tokio, HTTP to the node) and under madsim (simulated runtime, the
//! simulator's RpcClient and store).

pub mod aggregator;
pub mod challenger;
pub mod common;
pub mod generator;
pub mod operator;

pub use common::{ChainWatch, EpochClock, EventSink, Events, NodeEvent};

use crate::chain::ChainError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Io(String),
    #[error("configuration: {0}")]
    Config(String),
}
