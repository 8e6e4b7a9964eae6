use std::sync::{Arc, Mutex};

use super::{Store, StoreError};
use crate::protocol::Record;

/// In-memory store. Clones share the same records, so a simulator can hand the same value to a
/// node after each simulated restart.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    records: Arc<Mutex<Vec<Record>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keep only the first `n` records: what a crash between two appends would leave.
    pub fn truncate(&self, n: usize) {
        self.lock().truncate(n);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Record>> {
        // A panic while holding the lock cannot leave a half-pushed Vec; keep going.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemoryStore {
    fn append(&self, record: &Record) -> Result<(), StoreError> {
        self.lock().push(record.clone());
        Ok(())
    }

    fn load(&self) -> Result<Vec<Record>, StoreError> {
        Ok(self.lock().clone())
    }
}
