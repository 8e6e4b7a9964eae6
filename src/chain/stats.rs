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
