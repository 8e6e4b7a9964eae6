//! Counts of failed chain requests and of retries, kept by every [`Reader`](super::Reader)
//! (clones and the [`Client`](super::Client)s built on it share one set), so the metrics
//! endpoint can show how healthy the RPC connection is without the drivers reporting it.

use super::error::ChainError;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Shared, cheap to clone. A plain mutex: it is held for one map update, never across `.await`.
#[derive(Clone, Debug, Default)]
pub struct RpcStats(Arc<Mutex<RpcCounts>>);

/// A snapshot of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RpcCounts {
    /// Failed requests by (JSON-RPC method, error kind); every failed attempt counts.
    pub errors: BTreeMap<(&'static str, &'static str), u64>,
    /// Attempts repeated after a transient failure, by method.
    pub retries: BTreeMap<&'static str, u64>,
}

impl RpcCounts {
    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn total_retries(&self) -> u64 {
        self.retries.values().sum()
    }

    /// Add `other`'s counts to these (several clients in one process).
    pub fn merge(&mut self, other: &RpcCounts) {
        for (k, v) in &other.errors {
            *self.errors.entry(*k).or_default() += v;
        }
        for (k, v) in &other.retries {
            *self.retries.entry(*k).or_default() += v;
        }
    }
}

impl RpcStats {
    pub fn error(&self, method: &'static str, err: &ChainError) {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *c.errors.entry((method, err.kind())).or_default() += 1;
    }

    pub fn retry(&self, method: &'static str) {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *c.retries.entry(method).or_default() += 1;
    }

    pub fn snapshot(&self) -> RpcCounts {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Do two handles count into the same set?
    pub fn same_as(&self, other: &RpcStats) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Where the event cursors reading through a [`Reader`](super::Reader) (and its clones) have
/// got to, so the `/ready` endpoint can tell a role that keeps up with the chain from one that
/// falls behind, without the drivers reporting it. Each cursor registers on its first poll and
/// leaves when its last clone is dropped.
#[derive(Clone, Debug, Default)]
pub struct CursorProgress(Arc<Mutex<Cursors>>);

#[derive(Debug, Default)]
struct Cursors {
    next_id: u64,
    by_id: BTreeMap<u64, CursorSeen>,
}

/// One cursor's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CursorSeen {
    /// The next block it will read.
    pub next: u64,
    /// It reads only blocks at least this deep.
    pub confirmations: u64,
}

impl CursorSeen {
    /// Blocks the cursor could have read but has not, with the chain's head at `head`.
    pub fn lag(&self, head: u64) -> u64 {
        match head.checked_sub(self.confirmations) {
            Some(safe) => (safe + 1).saturating_sub(self.next),
            None => 0,
        }
    }
}

impl CursorProgress {
    /// A new cursor at `next`; its slot records where it goes from there.
    pub fn register(&self, next: u64, confirmations: u64) -> CursorSlot {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let id = c.next_id;
        c.next_id += 1;
        c.by_id.insert(
            id,
            CursorSeen {
                next,
                confirmations,
            },
        );
        CursorSlot {
            id,
            progress: self.clone(),
        }
    }

    /// Every live cursor's position, in registration order.
    pub fn snapshot(&self) -> Vec<CursorSeen> {
        let c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        c.by_id.values().copied().collect()
    }
}

/// A cursor's entry in a [`CursorProgress`]; removed when dropped.
#[derive(Debug)]
pub struct CursorSlot {
    id: u64,
    progress: CursorProgress,
}

impl CursorSlot {
    /// The cursor will read `next` next.
    pub fn record(&self, next: u64) {
        let mut c = self.progress.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(seen) = c.by_id.get_mut(&self.id) {
            seen.next = next;
        }
    }
}

impl Drop for CursorSlot {
    fn drop(&mut self) {
        let mut c = self.progress.0.lock().unwrap_or_else(|p| p.into_inner());
        c.by_id.remove(&self.id);
    }
}
