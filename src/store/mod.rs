//! Persistence of what a node must not lose across a crash: the operator's signed-task ledger,
//! the aggregator's accepted responses and submissions, the generator's created tasks, chain
//! cursors. Everything is a `protocol::Record` appended in order and read back in order.
//!
//! Two backends with one trait: `FileStore` (append-only journal, checksum per record, fsync
//! before `append` returns, only a torn final record dropped on open, any other bad byte an
//! error, locked while open, created 0600) for production, and `MemoryStore` for tests and the
//! simulator, which keeps it outside the node so it survives a simulated crash.

mod file;
mod memory;

pub use file::FileStore;
pub use memory::MemoryStore;

use crate::protocol::Record;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("journal {path} is corrupt at byte {offset}: {what}")]
    Corrupt {
        path: String,
        offset: u64,
        what: String,
    },
    #[error("journal {path} is already open (locked by this or another process)")]
    Locked { path: String },
    #[error("record does not encode: {0}")]
    Encode(String),
}

/// An ordered, durable list of records.
pub trait Store: Send + Sync {
    /// Append one record. When this returns `Ok`, the record survives a crash.
    fn append(&self, record: &Record) -> Result<(), StoreError>;
    /// Every record appended so far, in order.
    fn load(&self) -> Result<Vec<Record>, StoreError>;
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn append(&self, record: &Record) -> Result<(), StoreError> {
        (**self).append(record)
    }
    fn load(&self) -> Result<Vec<Record>, StoreError> {
        (**self).load()
    }
}
