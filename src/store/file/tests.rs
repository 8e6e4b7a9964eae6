use super::*;
use crate::protocol::Response;
use alloy::primitives::{Address, B256};

/// An operator's ledger record: `sum` signed for `task_id` (the payload hash is arbitrary here).
fn signed(task_id: u64, sum: u64) -> Record {
    Record::Signed {
        task_id,
        payload: B256::repeat_byte(task_id as u8),
        response: crate::avs::SumAvs::response_bytes(sum),
    }
}

fn sample() -> Vec<Record> {
    vec![
        signed(1, 3),
        Record::Accepted {
            response: Response {
                task_id: 1,
                response: crate::avs::SumAvs::response_bytes(3),
                operator: Address::with_last_byte(7),
                signature: vec![0xab; 192],
            },
        },
        Record::Submitted {
            task_id: 1,
            response: crate::avs::SumAvs::response_bytes(3),
        },
        Record::Closed { task_id: 1 },
        Record::Created {
            seq: 0,
            payload: crate::avs::SumAvs::payload_bytes(1, 2),
        },
        // The generator's signed createNewTask (raw EIP-2718 bytes), and a rejection of it.
        Record::TxSigned {
            seq: 0,
            raw: vec![0x02, 0xf8, 0x6c, 0x00, 0xff].into(),
        },
        Record::TxRejected { seq: 0 },
        Record::Confirmed {
            seq: 0,
            task_id: Some(1),
        },
        Record::Cursor {
            block: 99,
            hash: B256::repeat_byte(5),
        },
    ]
}

#[test]
fn round_trip_and_reopen_appends_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let s = FileStore::open(&path).unwrap();
    for r in sample() {
        s.append(&r).unwrap();
    }
    assert_eq!(s.load().unwrap(), sample());
    drop(s);
    let s = FileStore::open(&path).unwrap();
    assert_eq!(s.load().unwrap(), sample());
    s.append(&Record::Closed { task_id: 2 }).unwrap();
    drop(s);
    let s = FileStore::open(&path).unwrap();
    assert_eq!(s.load().unwrap().len(), sample().len() + 1);
}

/// A crash can stop a write at any byte: every truncation recovers a prefix of the records,
/// never panics, and the recovered file takes new appends.
#[test]
fn truncation_at_every_offset_recovers_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = Vec::new();
    let mut boundaries = vec![0];
    for r in sample() {
        image.extend(encode_record(&r).unwrap());
        boundaries.push(image.len());
    }
    for cut in 0..=image.len() {
        let path = dir.path().join(format!("j{cut}"));
        std::fs::write(&path, &image[..cut]).unwrap();
        let s = FileStore::open(&path).unwrap();
        let got = s.load().unwrap();
        let whole = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
        assert_eq!(got, sample()[..whole].to_vec(), "cut at {cut}");
        s.append(&Record::Closed { task_id: 42 }).unwrap();
        drop(s);
        let again = FileStore::open(&path).unwrap().load().unwrap();
        assert_eq!(again.len(), whole + 1, "cut at {cut}");
        assert_eq!(again.last(), Some(&Record::Closed { task_id: 42 }));
    }
}

#[test]
fn corruption_before_the_tail_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut image = Vec::new();
    for r in sample() {
        image.extend(encode_record(&r).unwrap());
    }
    image[HEADER + 2] ^= 0x01; // inside the first payload
    std::fs::write(&path, &image).unwrap();
    assert!(matches!(
        FileStore::open(&path),
        Err(StoreError::Corrupt { offset: 0, .. })
    ));
}

#[test]
fn garbage_tail_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut image = encode_record(&signed(5, 6)).unwrap();
    image.extend([0xff; 7]);
    std::fs::write(&path, &image).unwrap();
    assert_eq!(
        FileStore::open(&path).unwrap().load().unwrap(),
        vec![signed(5, 6)]
    );
}

#[test]
fn memory_store_clones_share_records() {
    let a = crate::store::MemoryStore::new();
    let b = a.clone();
    a.append(&signed(1, 2)).unwrap();
    assert_eq!(b.load().unwrap(), vec![signed(1, 2)]);
    b.truncate(0);
    assert!(a.is_empty());
}

fn image_of(records: &[Record]) -> (Vec<u8>, Vec<usize>) {
    let mut image = Vec::new();
    let mut starts = Vec::new();
    for r in records {
        starts.push(image.len());
        image.extend(encode_record(r).unwrap());
    }
    (image, starts)
}

/// The attack from issue 14: one bit flipped in a length field in the middle of the journal.
/// The claimed record runs past the end of the file, which used to be read as a torn tail and
/// dropped everything after it. It must be an error naming that record's offset, and the file
/// must be left byte for byte as it was.
#[test]
fn flipped_length_in_the_middle_is_corruption_and_the_file_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let (mut image, starts) = image_of(&sample());
    let at = starts[2];
    image[at + 1] ^= 0x08; // length += 2048: past the end of this small file
    std::fs::write(&path, &image).unwrap();
    match FileStore::open(&path) {
        Err(StoreError::Corrupt { offset, .. }) => assert_eq!(offset, at as u64),
        other => panic!("expected corruption at {at}, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), image);
    // A length shrunk instead lands on a bad checksum, also at that offset.
    let (mut image, starts) = image_of(&sample());
    let at = starts[3];
    image[at + 3] ^= 0x01;
    std::fs::write(&path, &image).unwrap();
    match FileStore::open(&path) {
        Err(StoreError::Corrupt { offset, .. }) => assert_eq!(offset, at as u64),
        other => panic!("expected corruption at {at}, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), image);
}

/// Every single-bit flip in any length field of a record before the last is corruption at that
/// record's offset (never a silently shorter history), and the file is unchanged.
#[test]
fn every_length_bit_flip_before_the_last_record_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let (clean, starts) = image_of(&sample());
    for &at in &starts[..starts.len() - 1] {
        for byte in 0..4 {
            for bit in 0..8 {
                let mut image = clean.clone();
                image[at + byte] ^= 1 << bit;
                std::fs::write(&path, &image).unwrap();
                match FileStore::open(&path) {
                    Err(StoreError::Corrupt { offset, .. }) => {
                        assert_eq!(offset, at as u64, "byte {byte} bit {bit}")
                    }
                    other => panic!("record at {at} byte {byte} bit {bit}: {other:?}"),
                }
                assert_eq!(std::fs::read(&path).unwrap(), image);
            }
        }
    }
}

/// A complete last record with a bad checksum was fully written: that is corruption, not a
/// torn write.
#[test]
fn complete_last_record_with_a_bad_checksum_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let (mut image, starts) = image_of(&sample());
    let last = *starts.last().unwrap();
    let n = image.len();
    image[n - 2] ^= 0x01;
    std::fs::write(&path, &image).unwrap();
    assert!(matches!(
        FileStore::open(&path),
        Err(StoreError::Corrupt { offset, .. }) if offset == last as u64
    ));
    assert_eq!(std::fs::read(&path).unwrap(), image);
}

#[test]
fn a_second_open_is_refused_while_the_first_lives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let first = FileStore::open(&path).unwrap();
    first.append(&Record::Closed { task_id: 1 }).unwrap();
    let second = FileStore::open(&path);
    assert!(
        matches!(&second, Err(StoreError::Locked { path: p }) if p.contains("journal")),
        "{second:?}"
    );
    assert!(second.unwrap_err().to_string().contains("already open"));
    drop(first);
    let again = FileStore::open(&path).unwrap();
    assert_eq!(again.load().unwrap(), vec![Record::Closed { task_id: 1 }]);
}

/// Another process is refused too: `flock` from a child (`flock -n`, util-linux) fails while
/// we hold the journal, and succeeds once we drop it.
#[test]
fn another_process_cannot_lock_an_open_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let try_lock = || {
        std::process::Command::new("flock")
            .args(["-n", path.to_str().unwrap(), "true"])
            .status()
    };
    let Ok(free) = try_lock() else {
        eprintln!("no `flock` binary here; the in-process test covers the lock");
        return;
    };
    assert!(free.success(), "nothing holds the lock yet");
    let s = FileStore::open(&path).unwrap();
    assert!(
        !try_lock().unwrap().success(),
        "a child process took our lock"
    );
    drop(s);
    assert!(try_lock().unwrap().success());
}

#[test]
fn journals_are_created_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let s = FileStore::open(&path).unwrap();
    s.append(&Record::Closed { task_id: 1 }).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}
