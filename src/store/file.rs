//! Journal layout: a sequence of records, each
//! `len: u32 BE | checksum: first 8 bytes of SHA-256(payload) | payload (JSON of Record)`.
//! A crash can leave the last record half-written; `open` drops such a tail (and truncates the
//! file there so later appends stay readable). A bad record with valid data after it is not a
//! torn write but corruption, reported as an error rather than silently dropping history.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
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

/// Take an exclusive, non-blocking `flock` on `file`. The lock belongs to this open file
/// description, so it is released when the `File` is dropped (or the process dies), and a
/// second `open` of the same path in the same process is refused like one from another process.
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    // SAFETY: `flock` only reads the descriptor, which `file` keeps open for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// fsync the directory holding `path`, so a newly created entry is durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
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

/// Whether a whole, checksummed record starts at `bytes[0]`.
fn record_starts_at(bytes: &[u8]) -> bool {
    if bytes.len() < HEADER {
        return false;
    }
    let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    // Our payloads are JSON objects: checking the first byte before hashing keeps the scan
    // linear in practice (JSON text read as a length is almost always above `MAX_RECORD`).
    len <= MAX_RECORD
        && HEADER + len <= bytes.len()
        && bytes.get(HEADER) == Some(&b'{')
        && bytes[4..HEADER] == checksum(&bytes[HEADER..HEADER + len])
}

/// Parse a journal image. Returns the records and the length of the valid prefix.
///
/// Appends are single `write_all`s followed by fsync, so a crash leaves at most the last record
/// incomplete: a prefix of exactly the bytes we wrote. Only that is a torn tail. Anything else —
/// a length beyond `MAX_RECORD`, a complete record whose checksum or JSON is wrong, or a length
/// that runs past the end while a whole record still starts somewhere after it (a flipped length
/// bit in the middle) — is corruption, reported with the offset of the bad record.
pub(crate) fn decode_journal(bytes: &[u8], path: &str) -> Result<(Vec<Record>, usize), StoreError> {
    let mut records = Vec::new();
    let mut off = 0usize;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let corrupt = |what: String| StoreError::Corrupt {
            path: path.to_string(),
            offset: off as u64,
            what,
        };
        if rest.len() < HEADER {
            break; // torn header
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len > MAX_RECORD {
            return Err(corrupt(format!(
                "record length {len} exceeds the limit of {MAX_RECORD}"
            )));
        }
        let end = HEADER + len;
        if end > rest.len() {
            // The file ends inside this record. It is a torn write only if what is there could
            // be the start of it and no whole record follows.
            if rest.len() > HEADER && rest[HEADER] != b'{' {
                return Err(corrupt(
                    "incomplete record that is not a record's start".into(),
                ));
            }
            if let Some(at) = (1..rest.len()).find(|&i| record_starts_at(&rest[i..])) {
                return Err(corrupt(format!(
                    "record length {len} runs past the end of the file, but a whole record starts {at} bytes later"
                )));
            }
            break; // torn payload
        }
        let payload = &rest[HEADER..end];
        if rest[4..HEADER] != checksum(payload) {
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
    ///
    /// The journal is locked exclusively (`flock`) for as long as this `FileStore` lives: a
    /// second open, in this process or another, fails with `StoreError::Locked` — two writers
    /// on one journal would interleave records and lose acknowledged history. A new journal is
    /// created 0600 (for an operator it is the signing ledger), and the file and its directory
    /// are fsync'd so that the new directory entry survives a crash too.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        let io = |source| StoreError::Io {
            path: name.clone(),
            source,
        };
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        lock_exclusive(&file).map_err(|source| {
            if source.kind() == std::io::ErrorKind::WouldBlock {
                StoreError::Locked { path: name.clone() }
            } else {
                StoreError::Io {
                    path: name.clone(),
                    source,
                }
            }
        })?;
        if !existed {
            file.sync_all().map_err(io)?;
            sync_parent(&path).map_err(io)?;
        }
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
