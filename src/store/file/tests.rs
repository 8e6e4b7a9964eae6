use super::*;
use crate::protocol::Response;
use alloy::primitives::{Address, B256};

fn sample() -> Vec<Record> {
    vec![
        Record::Signed {
            task_id: 1,
            result: 3,
        },
        Record::Accepted {
            response: Response {
                task_id: 1,
                result: 3,
                operator: Address::with_last_byte(7),
                signature: vec![0xab; 192],
            },
        },
        Record::Submitted {
            task_id: 1,
            result: 3,
        },
        Record::Closed { task_id: 1 },
        Record::Created { seq: 0, a: 1, b: 2 },
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
    let mut image = encode_record(&Record::Signed {
        task_id: 5,
        result: 6,
    })
    .unwrap();
    image.extend([0xff; 7]);
    std::fs::write(&path, &image).unwrap();
    assert_eq!(
        FileStore::open(&path).unwrap().load().unwrap(),
        vec![Record::Signed {
            task_id: 5,
            result: 6
        }]
    );
}

#[test]
fn memory_store_clones_share_records() {
    let a = crate::store::MemoryStore::new();
    let b = a.clone();
    a.append(&Record::Signed {
        task_id: 1,
        result: 2,
    })
    .unwrap();
    assert_eq!(
        b.load().unwrap(),
        vec![Record::Signed {
            task_id: 1,
            result: 2
        }]
    );
    b.truncate(0);
    assert!(a.is_empty());
}
