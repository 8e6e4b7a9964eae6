//! Journal layout: a sequence of records, each
//! `len: u32 BE | checksum: first 8 bytes of SHA-256(payload) | payload (JSON of Record)`.
//! A crash can leave the last record half-written; `open` drops such a tail (and truncates the
//! file there so later appends stay readable). A bad record with valid data after it is not a
//! torn write but corruption, reported as an error rather than silently dropping history.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::{Store, StoreError};
use crate::protocol::Record;

const HEADER: usize = 12;
/// Far above any record we write; a length beyond it is garbage, not a record.
const MAX_RECORD: usize = 1 << 20;

pub struct FileStore {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    file: File,
    records: Vec<Record>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish()
    }
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let d = Sha256::digest(payload);
    let mut c = [0u8; 8];
    c.copy_from_slice(&d[..8]);
    c
}

/// Encode one record as it sits in the journal.
pub(crate) fn encode_record(record: &Record) -> Result<Vec<u8>, StoreError> {
    let payload = serde_json::to_vec(record).map_err(|e| StoreError::Encode(e.to_string()))?;
    let len =
        u32::try_from(payload.len()).map_err(|_| StoreError::Encode("record too large".into()))?;
    let mut buf = Vec::with_capacity(HEADER + payload.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&checksum(&payload));
    buf.extend_from_slice(&payload);
    Ok(buf)
}

/// Parse a journal image. Returns the records and the length of the valid prefix.
pub(crate) fn decode_journal(bytes: &[u8], path: &str) -> Result<(Vec<Record>, usize), StoreError> {
    let mut records = Vec::new();
    let mut off = 0usize;
    while off < bytes.len() {
        let rest = &bytes[off..];
        if rest.len() < HEADER {
            break; // torn header
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let end = HEADER.saturating_add(len);
        if end > rest.len() {
            break; // torn payload (or garbage length at the tail)
        }
        let corrupt = |what: String| StoreError::Corrupt {
            path: path.to_string(),
            offset: off as u64,
            what,
        };
        let payload = &rest[HEADER..end];
        let tail = end == rest.len();
        if len > MAX_RECORD || rest[4..HEADER] != checksum(payload) {
            if tail {
                break;
            }
            return Err(corrupt("checksum mismatch".into()));
        }
        let record: Record = serde_json::from_slice(payload).map_err(|e| corrupt(e.to_string()))?;
        records.push(record);
        off += end;
    }
    Ok((records, off))
}

impl FileStore {
    /// Open (or create) the journal at `path`, recovering from a torn last record.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        let io = |source| StoreError::Io {
            path: name.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (records, valid) = decode_journal(&bytes, &name)?;
        if valid < bytes.len() {
            tracing::warn!(path = %name, dropped = bytes.len() - valid, "journal: dropping a torn last record");
            file.set_len(valid as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::Start(valid as u64)).map_err(io)?;
        Ok(Self {
            path,
            inner: Mutex::new(Inner { file, records }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store for FileStore {
    fn append(&self, record: &Record) -> Result<(), StoreError> {
        let buf = encode_record(record)?;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let io = |source| StoreError::Io {
            path: self.path.display().to_string(),
            source,
        };
        inner.file.write_all(&buf).map_err(io)?;
        inner.file.sync_data().map_err(io)?;
        inner.records.push(record.clone());
        Ok(())
    }

    fn load(&self) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .records
            .clone())
    }
}

#[cfg(test)]
mod tests;
