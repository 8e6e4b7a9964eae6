//! What every driver shares: the chain it talks to, the epoch clock read from block
//! timestamps, and the optional event sink the devnet display and the simulator listen on.

use crate::chain::avs::{Avs, Profile};
use crate::chain::{ChainError, Client, CursorConfig, EventCursor};
use crate::protocol::aggregator::ExpiryReason;
use crate::protocol::operator::RefuseReason;
use crate::protocol::{Epoch, RejectReason, TaskId};
use alloy::primitives::{Address, B256};
use std::time::Duration;

/// What a driver reports as it works. The devnet display prints these; the simulator's trace
/// records them; metrics count them by the reasons' slugs. Reasons stay typed, so no consumer
/// parses text. Sending never blocks and a closed sink is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    TaskCreated {
        task: TaskId,
        /// The AVS's payload bytes, as the contract emitted them.
        payload: Vec<u8>,
        block: u64,
        gas: u64,
    },
    ResponseSent {
        task: TaskId,
        operator: Address,
        /// The AVS's response bytes the operator signed.
        response: Vec<u8>,
    },
    ResponseSendFailed {
        task: TaskId,
        operator: Address,
        error: String,
    },
    ResponseReceived {
        task: TaskId,
        operator: Address,
    },
    ResponseRejected {
        task: TaskId,
        operator: Address,
        reason: RejectReason,
    },
    /// Responses accepted so far for the task, and how many operators it snapshotted.
    Progress {
        task: TaskId,
        responses: usize,
        operators: usize,
    },
    AggregateSubmitted {
        task: TaskId,
        signers: usize,
        non_signers: usize,
        /// The signers themselves, ascending.
        included: Vec<Address>,
        tx: B256,
        gas: u64,
    },
    SubmitFailed {
        task: TaskId,
        error: String,
    },
    TaskAccepted {
        task: TaskId,
        block: u64,
        /// The AVS's response bytes the accepted aggregate signed.
        response: Vec<u8>,
    },
    TaskExpired {
        task: TaskId,
        reason: ExpiryReason,
    },
    PhaseSubmitted {
        task: TaskId,
        operator: Address,
        phase: u8,
        gas: u64,
    },
    Settled {
        task: TaskId,
        rewarded: Vec<Address>,
        slashed: Vec<Address>,
        gas: u64,
    },
    Refused {
        task: TaskId,
        operator: Address,
        reason: RefuseReason,
    },
}

pub type Events = tokio::sync::mpsc::UnboundedSender<NodeEvent>;

/// Optional sink; `emit` is a no-op without one.
#[derive(Clone, Debug, Default)]
pub struct EventSink(Option<Events>);

impl EventSink {
    pub fn new(tx: Events) -> EventSink {
        EventSink(Some(tx))
    }

    pub fn none() -> EventSink {
        EventSink(None)
    }

    pub fn emit(&self, ev: NodeEvent) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(ev);
        }
    }
}

impl From<Option<Events>> for EventSink {
    fn from(v: Option<Events>) -> Self {
        EventSink(v)
    }
}

/// How a driver watches the chain.
#[derive(Clone, Debug)]
pub struct ChainWatch {
    /// First block to read events from (the AVS's deployment block is a good choice).
    pub start_block: u64,
    pub cursor: CursorConfig,
    /// Between two polls of the chain.
    pub poll_interval: Duration,
    /// A driver that persists its cursor (the operator) writes one `Record::Cursor` whenever
    /// its resume point has moved this many blocks: the journal grows by one record per that
    /// many blocks, and a restart re-reads at most that many blocks beyond the open windows.
    pub persist_cursor_every: u64,
}

impl Default for ChainWatch {
    fn default() -> Self {
        ChainWatch {
            start_block: 0,
            cursor: CursorConfig::default(),
            poll_interval: Duration::from_millis(250),
            persist_cursor_every: 64,
        }
    }
}

/// The AVS's epoch, numbered as its contract numbers it.
///
/// On exoavs's registry ([`Profile::Emulation`]) the epoch is the latest block's timestamp
/// divided by the epoch length (`epochDuration`, read once). On Imua ([`Profile::Imua`]) it is
/// x/epochs' counter, which no timestamp arithmetic reproduces: each reading asks the
/// precompile (`getCurrentEpoch`).
#[derive(Clone, Debug)]
pub enum EpochClock {
    Timestamp { seconds: u64 },
    Counter { avs: Avs, identifier: String },
}

impl EpochClock {
    pub async fn for_avs(chain: &Client, avs: &Avs) -> Result<EpochClock, ChainError> {
        match avs.profile {
            Profile::Emulation => {
                let seconds = avs.epoch_seconds(chain.reader()).await?.max(1);
                Ok(EpochClock::Timestamp { seconds })
            }
            Profile::Imua => Ok(EpochClock::Counter {
                avs: *avs,
                identifier: avs.epoch_identifier(chain.reader()).await?,
            }),
        }
    }

    /// The epoch of the chain's latest block.
    pub async fn now(&self, chain: &Client) -> Result<Epoch, ChainError> {
        match self {
            EpochClock::Timestamp { seconds } => {
                let head = chain.block_number().await?;
                let ts = chain
                    .block_hash(head)
                    .await?
                    .map(|(_, ts)| ts)
                    .unwrap_or_default();
                Ok(ts / seconds)
            }
            EpochClock::Counter { avs, identifier } => {
                avs.epoch_of(chain.reader(), identifier).await
            }
        }
    }
}

/// What a driver starts from: its journal, the AVS's epoch clock, and a cursor over `filter`:
/// after the journal's last `Record::Cursor` if it has one, else from the watch's start block.
/// (Operator and aggregator use it; the challenger can too.)
pub struct DriverStart {
    pub records: Vec<crate::protocol::Record>,
    pub clock: EpochClock,
    pub cursor: EventCursor,
}

impl DriverStart {
    pub async fn load(
        chain: &Client,
        avs: &Avs,
        store: &dyn crate::store::Store,
        watch: &ChainWatch,
        filter: alloy::rpc::types::Filter,
    ) -> Result<DriverStart, super::NodeError> {
        let records = store.load()?;
        let clock = EpochClock::for_avs(chain, avs).await?;
        let resume = records.iter().rev().find_map(|r| match r {
            crate::protocol::Record::Cursor { block, hash } => Some((*block, *hash)),
            _ => None,
        });
        let cursor = match resume {
            Some((block, hash)) if block >= watch.start_block => {
                tracing::info!(
                    block = block + 1,
                    "resuming the chain watch after the journal's cursor"
                );
                EventCursor::resume(filter, block, hash, watch.start_block, watch.cursor.clone())
            }
            _ => EventCursor::new(filter, watch.start_block, watch.cursor.clone()),
        };
        Ok(DriverStart {
            records,
            clock,
            cursor,
        })
    }
}
