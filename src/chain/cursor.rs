//! A reorg-safe log cursor: reads logs by `eth_getLogs` over block ranges up to
//! `head - confirmations`, remembers the hash of every block it has read up to, and rewinds
//! when one of those hashes changes. Consumers must handle logs idempotently (a rewind
//! replays them); the protocol state machines dedupe by task id.

use super::client::Reader;
use super::error::ChainError;
use super::stats::CursorSlot;
use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct CursorConfig {
    /// Logs are read only from blocks at least this deep (0 = up to the head).
    pub confirmations: u64,
    /// At most this many blocks per `eth_getLogs`.
    pub max_range: u64,
    /// How many (number, hash) pairs to keep for reorg detection.
    pub history: usize,
}

impl Default for CursorConfig {
    fn default() -> Self {
        CursorConfig {
            confirmations: 0,
            max_range: 1_000,
            history: 256,
        }
    }
}

/// What one [`EventCursor::poll`] found.
#[derive(Debug, Default)]
pub struct Batch {
    pub logs: Vec<Log>,
    /// The cursor rewound to this block after a reorg (logs above it were replayed).
    pub rewound_to: Option<u64>,
    /// The last block covered (inclusive), if anything was read.
    pub through: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct EventCursor {
    filter: Filter,
    /// Next block to read.
    next: u64,
    /// Oldest first: blocks whose logs we have delivered, with their hashes.
    seen: VecDeque<(u64, B256)>,
    /// Where to re-read from when no remembered block survived a reorg: the start, or just
    /// past the newest block dropped from `seen` (reorgs deeper than the history are
    /// assumed not to happen).
    floor: u64,
    cfg: CursorConfig,
    /// This cursor's entry in its reader's [`CursorProgress`](super::CursorProgress), taken on
    /// the first poll (shared by clones: they continue one cursor).
    slot: Option<Arc<CursorSlot>>,
}

impl EventCursor {
    /// Read `filter`'s logs from `from_block` on. The filter's own block range is ignored.
    pub fn new(filter: Filter, from_block: u64, cfg: CursorConfig) -> EventCursor {
        EventCursor {
            filter,
            next: from_block,
            seen: VecDeque::new(),
            floor: from_block,
            cfg,
            slot: None,
        }
    }

    /// Resume after a restart: events through `block` (whose hash was `hash`) were handled.
    /// Reading goes on from the block after; if `block` has been reorganised away by then, from
    /// `floor` (the reader's start block).
    pub fn resume(
        filter: Filter,
        block: u64,
        hash: B256,
        floor: u64,
        cfg: CursorConfig,
    ) -> EventCursor {
        EventCursor {
            filter,
            next: block + 1,
            seen: VecDeque::from([(block, hash)]),
            floor: floor.min(block + 1),
            cfg,
            slot: None,
        }
    }

    /// The newest block read, with its hash.
    pub fn last_read(&self) -> Option<(u64, B256)> {
        self.seen.back().copied()
    }

    pub fn next_block(&self) -> u64 {
        self.next
    }

    /// Read what is newly confirmed; detect and undo reorgs first. Where the cursor stands
    /// afterwards goes to `chain`'s [`CursorProgress`](super::CursorProgress).
    pub async fn poll(&mut self, chain: &Reader) -> Result<Batch, ChainError> {
        let (next, confirmations) = (self.next, self.cfg.confirmations);
        let slot = self
            .slot
            .get_or_insert_with(|| Arc::new(chain.progress().register(next, confirmations)))
            .clone();
        let batch = self.read(chain).await;
        slot.record(self.next);
        batch
    }

    async fn read(&mut self, chain: &Reader) -> Result<Batch, ChainError> {
        let mut batch = Batch::default();
        if let Some(to) = self.check_reorg(chain).await? {
            batch.rewound_to = Some(to);
        }
        let head = chain.block_number().await?;
        let Some(safe) = head.checked_sub(self.cfg.confirmations) else {
            return Ok(batch);
        };
        if safe < self.next {
            return Ok(batch);
        }
        let to = safe.min(self.next + self.cfg.max_range.max(1) - 1);
        // The hash of `to` is read before the logs: if the range reorgs between the two
        // requests, the next poll sees a different hash and rewinds.
        let Some((to_hash, _)) = chain.block_hash(to).await? else {
            return Ok(batch);
        };
        let filter = self.filter.clone().from_block(self.next).to_block(to);
        let p = chain.provider().clone();
        let mut logs = chain
            .retry("eth_getLogs", "logs", || {
                let p = p.clone();
                let f = filter.clone();
                async move { p.get_logs(&f).await }
            })
            .await?;
        // A log whose block hash disagrees with `to`'s chain belongs to a fork we have not
        // settled on; drop the batch and let the next poll decide.
        if logs
            .iter()
            .any(|l| l.block_number == Some(to) && l.block_hash.is_some_and(|h| h != to_hash))
        {
            return Ok(batch);
        }
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        for l in &logs {
            if let (Some(n), Some(h)) = (l.block_number, l.block_hash)
                && n < to
                && self.seen.back().is_none_or(|&(bn, _)| bn < n)
            {
                self.remember(n, h);
            }
        }
        self.remember(to, to_hash);
        self.next = to + 1;
        batch.through = Some(to);
        batch.logs = logs;
        Ok(batch)
    }

    fn remember(&mut self, n: u64, h: B256) {
        self.seen.push_back((n, h));
        while self.seen.len() > self.cfg.history.max(1) {
            if let Some((n, _)) = self.seen.pop_front() {
                self.floor = n + 1;
            }
        }
    }

    /// If a remembered block's hash changed, rewind to just after the newest block that is
    /// still on the chain (or to the floor, if none is).
    async fn check_reorg(&mut self, chain: &Reader) -> Result<Option<u64>, ChainError> {
        let Some(&(n, h)) = self.seen.back() else {
            return Ok(None);
        };
        if chain.block_hash(n).await?.map(|x| x.0) == Some(h) {
            return Ok(None);
        }
        while let Some((bn, bh)) = self.seen.pop_back() {
            if chain.block_hash(bn).await?.map(|x| x.0) == Some(bh) {
                self.seen.push_back((bn, bh));
                self.next = bn + 1;
                tracing::warn!(block = bn + 1, "chain reorganised; re-reading logs");
                return Ok(Some(self.next));
            }
        }
        self.next = self.floor;
        tracing::warn!(
            block = self.floor,
            "chain reorganised below the remembered blocks; re-reading"
        );
        Ok(Some(self.floor))
    }
}
