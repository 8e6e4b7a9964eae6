use super::*;
use crate::crypto::bls::SecretKey;
use crate::crypto::messages::task_response_digest;
use alloy_primitives::Address;

struct World {
    keys: Vec<SecretKey>,
    snapshot: Vec<TaskOperator>,
}

fn world(stakes: &[u128]) -> World {
    let keys: Vec<SecretKey> = (0..stakes.len())
        .map(|i| SecretKey::from_ikm(&[i as u8 + 1; 32]).unwrap())
        .collect();
    let snapshot = stakes
        .iter()
        .enumerate()
        .map(|(i, s)| TaskOperator {
            operator: op(i),
            stake: *s,
            pubkey: Some(keys[i].public_key()),
        })
        .collect();
    World { keys, snapshot }
}

/// The machine's defaults without the linger window: these tests are about what is submitted,
/// and submit the moment the threshold is reached (the linger tests set it).
fn no_linger() -> AggregatorConfig {
    AggregatorConfig {
        linger_ms: 0,
        ..AggregatorConfig::default()
    }
}

/// The sum AVS's response bytes for `sum`.
fn bytes(sum: u64) -> Vec<u8> {
    SumAvs::response_bytes(sum)
}

/// The digest operators sign for `sum` on `task_id`.
fn dg(task_id: TaskId, sum: u64) -> B256 {
    B256::from(task_response_digest(task_id, sum))
}

fn op(i: usize) -> Address {
    // Descending addresses so that ascending order is a real sort, not insertion order.
    Address::with_last_byte(200 - i as u8)
}

fn task(id: TaskId, threshold: u8) -> Task {
    Task {
        id,
        payload: SumAvs::payload_bytes(40, 2),
        threshold_percentage: threshold,
        starting_epoch: 10,
        response_period: 2,
        challenge_period: 2,
        statistical_period: 2,
        created_block: 1,
    }
}

impl World {
    fn response(&self, i: usize, task_id: TaskId, result: u64) -> Response {
        let sig = self.keys[i].sign(&task_response_digest(task_id, result));
        Response {
            task_id,
            response: bytes(result),
            operator: op(i),
            signature: sig.to_uncompressed().to_vec(),
        }
    }

    /// Feed every operator's key, as registration events would.
    fn register(&self, agg: &mut Aggregator) {
        for (i, k) in self.keys.iter().enumerate() {
            let out = agg.handle(
                0,
                AggregatorInput::OperatorRegistered {
                    operator: op(i),
                    pubkey: k.public_key(),
                },
            );
            assert!(out.is_empty());
        }
    }

    fn aggregator(&self, t: Task) -> Aggregator {
        let mut a = Aggregator::new(no_linger());
        assert!(
            a.handle(
                10,
                AggregatorInput::TaskCreated {
                    task: t,
                    snapshot: self.snapshot.clone()
                }
            )
            .is_empty()
        );
        a
    }
}

fn verdict(actions: &[AggregatorAction]) -> Result<(), RejectReason> {
    for a in actions {
        match a {
            AggregatorAction::Accepted { .. } | AggregatorAction::Queued { .. } => return Ok(()),
            AggregatorAction::Rejected { reason, .. } => return Err(reason.clone()),
            _ => {}
        }
    }
    panic!("no verdict in {actions:?}")
}

fn submissions(actions: &[AggregatorAction]) -> Vec<Submission> {
    actions
        .iter()
        .filter_map(|a| {
            if let AggregatorAction::Submit(s) = a {
                Some(s.clone())
            } else {
                None
            }
        })
        .collect()
}

fn persisted(actions: &[AggregatorAction]) -> Vec<Record> {
    actions
        .iter()
        .filter_map(|a| {
            if let AggregatorAction::Persist(r) = a {
                Some(r.clone())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn happy_path_submits_once_at_exact_threshold() {
    // 4 equal stakes, threshold 75: the third signer reaches exactly 75%.
    let w = world(&[10, 10, 10, 10]);
    let mut agg = w.aggregator(task(1, 75));
    let mut log = Vec::new();
    for i in 0..2 {
        let out = agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42)));
        assert_eq!(verdict(&out), Ok(()));
        // Persist comes before the verdict that acknowledges it.
        assert!(matches!(
            out[0],
            AggregatorAction::Persist(Record::Accepted { .. })
        ));
        assert!(submissions(&out).is_empty());
        log.extend(out);
    }
    let out = agg.handle(11, AggregatorInput::Response(w.response(2, 1, 42)));
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1);
    let s = &subs[0];
    assert_eq!(
        (s.task_id, &s.response, s.digest, s.resubmit),
        (1, &bytes(42), dg(1, 42), false)
    );
    assert_eq!(s.signers, vec![op(2), op(1), op(0)]);
    assert_eq!(s.non_signers, vec![op(3)]);
    assert_eq!(s.non_signer_pubkeys, vec![w.keys[3].public_key()]);
    assert_eq!(
        (s.signed_stake, s.total_stake),
        (U256::from(30), U256::from(40))
    );
    // The aggregate verifies under the signers' aggregate key.
    let apk = s.aggregate_pubkey.to_public_key().unwrap();
    apk.verify(&task_response_digest(1, 42), &s.aggregate_signature)
        .unwrap();
    // Submitted is persisted before the submission is handed out.
    let p = out
        .iter()
        .position(|a| matches!(a, AggregatorAction::Persist(Record::Submitted { .. })))
        .unwrap();
    let q = out
        .iter()
        .position(|a| matches!(a, AggregatorAction::Submit(_)))
        .unwrap();
    assert!(p < q);
    // A fourth response does not cause a second submission.
    let out = agg.handle(11, AggregatorInput::Response(w.response(3, 1, 42)));
    assert_eq!(verdict(&out), Err(RejectReason::TaskClosed));
    assert!(submissions(&out).is_empty());
    // Chain accepted: done, closed.
    let out = agg.handle(12, AggregatorInput::ChainAccepted { task_id: 1 });
    assert_eq!(
        out,
        vec![
            AggregatorAction::Persist(Record::Closed { task_id: 1 }),
            AggregatorAction::Done { task_id: 1 }
        ]
    );
    assert!(agg.is_closed(1));
}

#[test]
fn one_unit_below_threshold_does_not_submit() {
    // 2 of 3 equal stakes = 66.66…%: threshold 67 is not met.
    let w = world(&[1, 1, 1]);
    let mut agg = w.aggregator(task(1, 67));
    for i in 0..2 {
        assert!(
            submissions(&agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42))))
                .is_empty()
        );
    }
    // Window ends: expired with the numbers.
    let out = agg.handle(13, AggregatorInput::Tick);
    assert_eq!(
        out[1],
        AggregatorAction::Expired {
            task_id: 1,
            reason: ExpiryReason::ThresholdNotReached {
                signed: U256::from(2),
                total: U256::from(3),
                threshold: 67
            }
        }
    );
    assert_eq!(
        out[0],
        AggregatorAction::Persist(Record::Closed { task_id: 1 })
    );
    assert_eq!(
        verdict(&agg.handle(13, AggregatorInput::Response(w.response(2, 1, 42)))),
        Err(RejectReason::TaskClosed)
    );
}

#[test]
fn every_rejection_reason() {
    let mut w = world(&[10, 10, 10, 10]);
    // Operator 3 is opted in without a key.
    w.snapshot[3].pubkey = None;
    let mut agg = w.aggregator(task(1, 100));
    let outsider = SecretKey::from_ikm(&[99; 32]).unwrap();
    let outsider_addr = Address::with_last_byte(1);
    agg.handle(
        10,
        AggregatorInput::OperatorRegistered {
            operator: outsider_addr,
            pubkey: outsider.public_key(),
        },
    );
    let r = |agg: &mut Aggregator, now, resp| {
        verdict(&agg.handle(now, AggregatorInput::Response(resp)))
    };

    let mut bad = w.response(0, 1, 42);
    bad.signature = vec![1, 2, 3];
    assert!(matches!(
        r(&mut agg, 10, bad),
        Err(RejectReason::Malformed(_))
    ));
    let mut bad = w.response(0, 1, 42);
    bad.signature[5] ^= 0xff; // off the curve
    assert!(matches!(
        r(&mut agg, 10, bad),
        Err(RejectReason::Malformed(_))
    ));

    let mut stranger = w.response(0, 1, 42);
    stranger.operator = Address::with_last_byte(2);
    assert_eq!(
        r(&mut agg, 10, stranger),
        Err(RejectReason::UnknownOperator)
    );

    let sig = outsider.sign(&task_response_digest(1, 42));
    let not_in = Response {
        task_id: 1,
        response: bytes(42),
        operator: outsider_addr,
        signature: sig.to_uncompressed().to_vec(),
    };
    assert_eq!(r(&mut agg, 10, not_in), Err(RejectReason::NotOptedIn));

    assert_eq!(
        r(&mut agg, 10, w.response(3, 1, 42).clone()),
        Err(RejectReason::NoRegisteredKey)
    );

    // Signed by someone else's key: counted for now (the signature waits for the batch) ...
    let mut forged = w.response(1, 1, 42);
    forged.operator = op(0);
    assert_eq!(r(&mut agg, 10, forged), Ok(()));
    // ... until another claim for operator 0 settles both: a signature over another task is
    // invalid, and so was the forgery (rejected after the reply, for the log).
    let mut other_task = w.response(0, 2, 42);
    other_task.task_id = 1;
    let out = agg.handle(10, AggregatorInput::Response(other_task));
    assert_eq!(verdict(&out), Err(RejectReason::InvalidSignature));
    let rejected: Vec<_> = out
        .iter()
        .filter(|a| matches!(a, AggregatorAction::Rejected { operator, reason: RejectReason::InvalidSignature, .. } if *operator == op(0)))
        .collect();
    assert_eq!(rejected.len(), 2, "{out:?}");

    // Wrong sum, validly signed: rejected, and kept as evidence.
    let out = agg.handle(10, AggregatorInput::Response(w.response(2, 1, 41)));
    assert_eq!(
        verdict(&out),
        Err(RejectReason::ProvablyWrong { digest: dg(1, 41) })
    );
    assert!(out.iter().any(|a| matches!(a, AggregatorAction::ProvablyWrong { operator, response, .. } if *operator == op(2) && *response == bytes(41))));

    assert_eq!(r(&mut agg, 10, w.response(0, 1, 42)), Ok(()));
    assert_eq!(
        r(&mut agg, 10, w.response(0, 1, 42)),
        Err(RejectReason::Duplicate)
    );
    // The same point compressed is still a duplicate.
    let mut compressed = w.response(0, 1, 42);
    compressed.signature = w.keys[0]
        .sign(&task_response_digest(1, 42))
        .to_bytes()
        .to_vec();
    assert_eq!(r(&mut agg, 10, compressed), Err(RejectReason::Duplicate));

    // Unknown task from a known operator is queued; from an operator whose key is not known
    // (yet) it is refused as an unknown task, which the operator retries.
    assert_eq!(r(&mut agg, 10, w.response(0, 9, 42)), Ok(()));
    let mut unknown = w.response(0, 9, 42);
    unknown.operator = Address::with_last_byte(3);
    assert_eq!(r(&mut agg, 10, unknown), Err(RejectReason::UnknownTask));

    // Late.
    assert_eq!(
        r(&mut agg, 13, w.response(1, 1, 42)),
        Err(RejectReason::Late)
    );
}

#[test]
fn equivocation_is_evidence_and_does_not_count_twice() {
    let w = world(&[10, 10]);
    let mut agg = w.aggregator(task(1, 100));
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)))),
        Ok(())
    );
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 1, 7)));
    assert_eq!(
        verdict(&out),
        Err(RejectReason::Conflicting {
            previous: dg(1, 42)
        })
    );
    let ev = out
        .iter()
        .find_map(|a| {
            if let AggregatorAction::Equivocation(e) = a {
                Some(e.clone())
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(
        (ev.operator, ev.first.0, ev.second.0),
        (op(0), bytes(42), bytes(7))
    );
    // A conflicting claim with a bad signature is not evidence (anyone could forge it).
    let mut forged = w.response(1, 1, 7);
    forged.operator = op(0);
    let out = agg.handle(10, AggregatorInput::Response(forged));
    assert_eq!(verdict(&out), Err(RejectReason::InvalidSignature));
    assert!(
        !out.iter()
            .any(|a| matches!(a, AggregatorAction::Equivocation(_)))
    );
}

#[test]
fn responses_before_the_task_are_buffered_and_bounded() {
    let w = world(&[10, 10]);
    let mut agg = Aggregator::new(AggregatorConfig {
        early_buffer: 2,
        ..no_linger()
    });
    w.register(&mut agg);
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)))),
        Ok(())
    );
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)))),
        Ok(())
    );
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(w.response(1, 2, 42)))),
        Err(RejectReason::Overloaded)
    );
    let out = agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task(1, 100),
            snapshot: w.snapshot.clone(),
        },
    );
    assert_eq!(submissions(&out).len(), 1);
    // Only the submission: the two buffered responses were persisted when queued.
    assert_eq!(persisted(&out).len(), 1);
}

#[test]
fn restart_from_store_resubmits_idempotently() {
    let w = world(&[10, 10, 10]);
    let mut agg = w.aggregator(task(1, 60));
    let mut records = Vec::new();
    for i in 0..2 {
        records.extend(persisted(
            &agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42))),
        ));
    }
    assert!(records.contains(&Record::Submitted {
        task_id: 1,
        response: bytes(42)
    }));
    let first = submissions(&[]);
    assert!(first.is_empty());

    // Crash, restart from the records, chain reader replays the task.
    let mut agg = Aggregator::restore(no_linger(), &records);
    let out = agg.handle(
        11,
        AggregatorInput::TaskCreated {
            task: task(1, 60),
            snapshot: w.snapshot.clone(),
        },
    );
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1);
    assert!(subs[0].resubmit);
    assert_eq!(subs[0].signers.len(), 2);
    // Nothing re-persisted, no verdicts replayed to anyone.
    assert!(persisted(&out).is_empty());
    assert!(!out.iter().any(|a| matches!(
        a,
        AggregatorAction::Accepted { .. } | AggregatorAction::Rejected { .. }
    )));
    // The replayed duplicate of an operator that had already answered is a duplicate.
    assert_eq!(
        verdict(&agg.handle(11, AggregatorInput::Response(w.response(0, 1, 42)))),
        Err(RejectReason::TaskClosed)
    );

    // Restart with accepted responses but no Submitted record: submits once, as new.
    let partial: Vec<Record> = records
        .iter()
        .filter(|r| matches!(r, Record::Accepted { .. }))
        .cloned()
        .collect();
    let mut agg = Aggregator::restore(no_linger(), &partial);
    let out = agg.handle(
        11,
        AggregatorInput::TaskCreated {
            task: task(1, 60),
            snapshot: w.snapshot.clone(),
        },
    );
    assert_eq!(submissions(&out).len(), 1);
    assert!(!submissions(&out)[0].resubmit);
    assert_eq!(
        persisted(&out),
        vec![Record::Submitted {
            task_id: 1,
            response: bytes(42)
        }]
    );

    // A closed task stays closed after restart.
    let mut closed = records.clone();
    closed.push(Record::Closed { task_id: 1 });
    let mut agg = Aggregator::restore(no_linger(), &closed);
    assert!(
        agg.handle(
            11,
            AggregatorInput::TaskCreated {
                task: task(1, 60),
                snapshot: w.snapshot.clone()
            }
        )
        .is_empty()
    );
}

#[test]
fn zero_total_stake_and_invalid_threshold_expire() {
    let w = world(&[0, 0]);
    let mut agg = w.aggregator(task(1, 50));
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    assert_eq!(verdict(&out), Ok(()));
    assert!(submissions(&out).is_empty());
    let w2 = world(&[1]);
    let mut agg = Aggregator::new(no_linger());
    let out = agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task(2, 101),
            snapshot: w2.snapshot.clone(),
        },
    );
    assert!(out.contains(&AggregatorAction::Expired {
        task_id: 2,
        reason: ExpiryReason::InvalidThreshold(101)
    }));
}

#[test]
#[cfg(feature = "planted-bugs")]
fn planted_bugs_change_behaviour() {
    let w = world(&[10, 10, 10]);
    let mut agg = Aggregator::new(AggregatorConfig {
        bugs: AggregatorBugs {
            submit_below_threshold: true,
            ..Default::default()
        },
        ..no_linger()
    });
    agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task(1, 100),
            snapshot: w.snapshot.clone(),
        },
    );
    assert_eq!(
        submissions(&agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)))).len(),
        1
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// A forged or garbled response: random fields, signatures that are random bytes, valid
    /// signatures by the wrong key, or over another (task, result).
    fn mangled() -> impl Strategy<Value = (usize, u64, u64, u8, Vec<u8>)> {
        (
            0usize..4,
            0u64..3,
            40u64..44,
            0u8..4,
            prop::collection::vec(any::<u8>(), 0..200),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)))]
        /// Garbage never panics, never gets submitted and never takes an honest operator's
        /// place: after any mix of forged and garbled responses, the real responses of all
        /// operators reach quorum and exactly one valid aggregate is submitted (unless an
        /// operator validly signed a wrong sum, which rules its answer out).
        #[test]
        fn garbage_never_counts(inputs in prop::collection::vec(mangled(), 1..12)) {
            let w = world(&[10, 10, 10, 10]);
            let mut agg = w.aggregator(task(1, 100));
            let mut all = Vec::new();
            let mut spoiled = std::collections::BTreeSet::new();
            let mut first_valid = std::collections::BTreeSet::new();
            for (i, task_id, result, how, bytes) in inputs {
                let mut r = w.response(i, task_id, result);
                match how {
                    0 => r.signature = bytes,                         // random bytes
                    1 => r.operator = op((i + 1) % 4),                // someone else's signature
                    2 => { let n = r.signature.len().min(bytes.len()); r.signature[..n].copy_from_slice(&bytes[..n]); }
                    _ => {}                                           // honest (may be wrong task/sum)
                }
                // Validly signed by the claimed operator (a mangling may leave it intact).
                let intact = r == w.response(i, task_id, result);
                if intact && task_id == 1 && !first_valid.contains(&i) {
                    // The operator's first valid signature for the task decides: over a wrong
                    // sum, its correct answer can no longer count (it would equivocate).
                    first_valid.insert(i);
                    if result != 42 {
                        spoiled.insert(i);
                    }
                }
                let out = agg.handle(10, AggregatorInput::Response(r.clone()));
                all.extend(out);
            }
            // Then every operator sends its real response: forgeries held nobody's place.
            for i in 0..4 {
                all.extend(agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42))));
            }
            let subs = submissions(&all);
            prop_assert!(subs.len() <= 1, "submitted twice: {subs:?}");
            for s in &subs {
                let apk = s.aggregate_pubkey.to_public_key().unwrap();
                prop_assert!(apk.verify(&task_response_digest(1, 42), &s.aggregate_signature).is_ok());
            }
            if spoiled.is_empty() {
                prop_assert_eq!(subs.len(), 1, "honest quorum did not submit");
                prop_assert_eq!(subs[0].signers.len(), 4);
            } else {
                prop_assert!(subs.is_empty(), "submitted without operators {spoiled:?}");
            }
        }
    }
}

/// A response claiming operator `victim`, signed with someone else's key.
fn forged(w: &World, victim: usize, signer: usize, task_id: TaskId, result: u64) -> Response {
    let mut r = w.response(signer, task_id, result);
    r.operator = op(victim);
    r
}

fn rejected_for(actions: &[AggregatorAction], who: usize) -> usize {
    actions
        .iter()
        .filter(|a| {
            matches!(a, AggregatorAction::Rejected { operator, reason: RejectReason::InvalidSignature, .. } if *operator == op(who))
        })
        .count()
}

#[test]
fn a_forgery_that_comes_first_does_not_take_the_operators_place() {
    let w = world(&[10, 10, 10]);
    let mut agg = w.aggregator(task(1, 100));
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(forged(&w, 0, 1, 1, 42)))),
        Ok(())
    );
    // The real response from operator 0 settles both: it is accepted, the forgery is dropped.
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    assert_eq!(verdict(&out), Ok(()));
    assert_eq!(rejected_for(&out, 0), 1);
    let mut all = Vec::new();
    for i in 1..3 {
        all.extend(agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42))));
    }
    let subs = submissions(&all);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers.len(), 3);
}

#[test]
fn a_forgery_after_the_real_response_is_refused() {
    let w = world(&[10, 10, 10]);
    let mut agg = w.aggregator(task(1, 100));
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)))),
        Ok(())
    );
    let out = agg.handle(10, AggregatorInput::Response(forged(&w, 0, 2, 1, 42)));
    assert_eq!(verdict(&out), Err(RejectReason::InvalidSignature));
    // The real one stays counted: the other two complete the quorum.
    let mut all = Vec::new();
    for i in 1..3 {
        all.extend(agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42))));
    }
    assert_eq!(submissions(&all)[0].signers.len(), 3);
}

#[test]
fn forgeries_that_fake_a_quorum_are_bisected_out_and_never_submitted() {
    // Operator 0 is honest; forgeries for 1..4 would carry the 67 % threshold on their own.
    let w = world(&[10, 10, 10, 10, 10]);
    let mut agg = w.aggregator(task(1, 67));
    let mut all = agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    for victim in 1..4 {
        let out = agg.handle(10, AggregatorInput::Response(forged(&w, victim, 0, 1, 42)));
        assert_eq!(verdict(&out), Ok(()), "cheap checks pass");
        all.extend(out);
    }
    // The claims reached 4 of 5 at the third forgery: the batch check failed and bisection
    // dropped exactly the three forgeries.
    assert!(submissions(&all).is_empty(), "{all:?}");
    for victim in 1..4 {
        assert_eq!(rejected_for(&all, victim), 1, "victim {victim}");
    }
    assert_eq!(rejected_for(&all, 0), 0);
    // A repeat of a refused forgery is refused on receipt, and the victims' real responses
    // count.
    let out = agg.handle(10, AggregatorInput::Response(forged(&w, 1, 0, 1, 42)));
    assert_eq!(verdict(&out), Err(RejectReason::InvalidSignature));
    let mut all = Vec::new();
    for i in 1..4 {
        let out = agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42)));
        assert_eq!(verdict(&out), Ok(()), "operator {i}");
        all.extend(out);
    }
    let subs = submissions(&all);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers.len(), 4);
    let apk = subs[0].aggregate_pubkey.to_public_key().unwrap();
    assert!(
        apk.verify(&task_response_digest(1, 42), &subs[0].aggregate_signature)
            .is_ok()
    );
}

#[test]
fn a_stored_forgery_is_dropped_at_the_batch_check_after_restart() {
    let w = world(&[10, 10]);
    let t = task(1, 100);
    let records = [
        Record::Accepted {
            response: w.response(0, 1, 42),
        },
        Record::Accepted {
            response: forged(&w, 1, 0, 1, 42),
        },
    ];
    let mut agg = Aggregator::restore(no_linger(), records.iter());
    let out = agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: t,
            snapshot: w.snapshot.clone(),
        },
    );
    assert!(submissions(&out).is_empty(), "{out:?}");
    assert_eq!(rejected_for(&out, 1), 1);
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)));
    assert_eq!(submissions(&out).len(), 1);
}

#[test]
fn a_queued_response_survives_a_restart() {
    // The operator saw the task first; the aggregator answers `Queued` and then crashes.
    let w = world(&[10, 10]);
    let mut agg = Aggregator::new(no_linger());
    w.register(&mut agg);
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    assert_eq!(verdict(&out), Ok(()));
    let records = persisted(&out);
    assert_eq!(
        records.len(),
        1,
        "queued responses are persisted before the reply"
    );
    let mut agg = Aggregator::restore(no_linger(), records.iter());
    agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task(1, 100),
            snapshot: w.snapshot.clone(),
        },
    );
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)));
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers.len(), 2);
}

fn evidence_against(actions: &[AggregatorAction], who: usize) -> usize {
    actions
        .iter()
        .filter(|a| match a {
            AggregatorAction::Equivocation(e) => e.operator == op(who),
            AggregatorAction::ProvablyWrong { operator, .. } => *operator == op(who),
            _ => false,
        })
        .count()
}

#[test]
fn many_forgeries_for_one_operator_never_block_or_accuse_it() {
    // Forgeries for operator 0 before and after its real response, some for the right result,
    // one for a wrong result (which would be evidence if it were really signed by operator 0).
    let w = world(&[10, 10, 10, 10]);
    let mut agg = w.aggregator(task(1, 100));
    let mut all = Vec::new();
    for signer in 1..4 {
        all.extend(agg.handle(10, AggregatorInput::Response(forged(&w, 0, signer, 1, 42))));
    }
    all.extend(agg.handle(10, AggregatorInput::Response(forged(&w, 0, 1, 1, 43))));
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    assert_eq!(verdict(&out), Ok(()), "the real response is accepted");
    all.extend(out);
    for signer in 1..4 {
        let out = agg.handle(10, AggregatorInput::Response(forged(&w, 0, signer, 1, 42)));
        assert_eq!(verdict(&out), Err(RejectReason::InvalidSignature));
        all.extend(out);
    }
    assert_eq!(
        evidence_against(&all, 0),
        0,
        "no evidence from forgeries: {all:?}"
    );
    assert!(submissions(&all).is_empty());
    let mut all = Vec::new();
    for i in 1..4 {
        all.extend(agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42))));
    }
    let subs = submissions(&all);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers.len(), 4);
    assert!(subs[0].signers.contains(&op(0)));
}

#[test]
fn bisection_drops_exactly_the_invalid_claims_among_many() {
    // 40 operators; 5 spread over the set are impersonated with valid curve points signed by
    // another key. The claims reach 100 %, the batch check fails, bisection must drop exactly
    // those 5 and keep the 35 honest claims (verified, not re-sent), and the victims' real
    // responses then complete the quorum.
    let n = 40;
    let w = world(&vec![10; n]);
    let victims = [0usize, 9, 17, 26, 39];
    let mut agg = w.aggregator(task(1, 100));
    let mut all = Vec::new();
    for i in 0..n {
        let r = if victims.contains(&i) {
            forged(&w, i, (i + 1) % n, 1, 42)
        } else {
            w.response(i, 1, 42)
        };
        let out = agg.handle(10, AggregatorInput::Response(r));
        assert_eq!(verdict(&out), Ok(()), "cheap checks pass for {i}");
        all.extend(out);
    }
    assert!(submissions(&all).is_empty());
    for i in 0..n {
        let expected = usize::from(victims.contains(&i));
        assert_eq!(rejected_for(&all, i), expected, "operator {i}");
        assert_eq!(evidence_against(&all, i), 0);
    }
    let mut all = Vec::new();
    for &v in &victims {
        let out = agg.handle(10, AggregatorInput::Response(w.response(v, 1, 42)));
        assert_eq!(verdict(&out), Ok(()), "victim {v}");
        all.extend(out);
    }
    let subs = submissions(&all);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers.len(), n);
    assert!(subs[0].non_signers.is_empty());
    let apk = subs[0].aggregate_pubkey.to_public_key().unwrap();
    assert!(
        apk.verify(&task_response_digest(1, 42), &subs[0].aggregate_signature)
            .is_ok()
    );
}

#[test]
fn a_genuine_signature_replayed_over_another_result_does_not_taint_it() {
    // Someone takes operator 0's genuine signature (over 42) and sends it with result 41: that
    // claim is invalid, but operator 0's real response with the same signature must count.
    let w = world(&[10, 10]);
    let mut agg = w.aggregator(task(1, 100));
    let mut replayed = w.response(0, 1, 42);
    replayed.response = bytes(41);
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(replayed))),
        Err(RejectReason::InvalidSignature)
    );
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)))),
        Ok(())
    );
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)));
    assert_eq!(submissions(&out).len(), 1);
}

#[test]
fn open_and_closed_tasks_are_reported_and_a_task_fed_again_keeps_its_claims() {
    let w = world(&[10, 10, 10, 10]);
    let created = |agg: &mut Aggregator| {
        agg.handle(
            10,
            AggregatorInput::TaskCreated {
                task: task(1, 75),
                snapshot: w.snapshot.clone(),
            },
        )
    };
    let mut agg = w.aggregator(task(1, 75));
    assert_eq!(agg.open_tasks().collect::<Vec<_>>(), vec![1]);
    assert!(!agg.is_closed(1));
    for i in 0..2 {
        let out = agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42)));
        assert_eq!(verdict(&out), Ok(()));
    }
    // The chain reader reports the task again (a range read twice, a watch restarted): the two
    // claims so far still count, so the third reaches the threshold.
    assert!(created(&mut agg).is_empty());
    let out = agg.handle(11, AggregatorInput::Response(w.response(2, 1, 42)));
    assert_eq!(submissions(&out).len(), 1, "{out:?}");
    // Submitted, not yet accepted: still open.
    assert_eq!(agg.open_tasks().collect::<Vec<_>>(), vec![1]);
    agg.handle(12, AggregatorInput::ChainAccepted { task_id: 1 });
    assert!(agg.is_closed(1));
    assert_eq!(agg.open_tasks().count(), 0);
    // A closed task reported again stays closed.
    assert!(created(&mut agg).is_empty());
    assert!(agg.is_closed(1));
    assert_eq!(agg.open_tasks().count(), 0);
}

/// The planted `forget_on_restart` bug (the simulator must catch it) really forgets: what the
/// store holds counts after a restart without it and not with it.
#[test]
#[cfg(feature = "planted-bugs")]
fn the_planted_forgetting_bug_drops_the_stored_responses_and_submission() {
    let w = world(&[10, 10]);
    let restart = |records: &[Record], forget: bool| {
        let cfg = AggregatorConfig {
            bugs: AggregatorBugs {
                forget_on_restart: forget,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut agg = Aggregator::restore(cfg, records.iter());
        let out = agg.handle(
            10,
            AggregatorInput::TaskCreated {
                task: task(1, 100),
                snapshot: w.snapshot.clone(),
            },
        );
        (agg, out)
    };
    // One stored response: with the second, the task submits, unless it was forgotten.
    let one = [Record::Accepted {
        response: w.response(0, 1, 42),
    }];
    for (forget, want) in [(false, 1), (true, 0)] {
        let (mut agg, _) = restart(&one, forget);
        let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)));
        assert_eq!(submissions(&out).len(), want, "forget = {forget}: {out:?}");
    }
    // Both stored and submitted: the restart resubmits, unless it forgot.
    let both = [
        one[0].clone(),
        Record::Accepted {
            response: w.response(1, 1, 42),
        },
        Record::Submitted {
            task_id: 1,
            response: bytes(42),
        },
    ];
    let (_, out) = restart(&both, false);
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1, "{out:?}");
    assert!(subs[0].resubmit);
    let (mut agg, out) = restart(&both, true);
    assert!(submissions(&out).is_empty(), "{out:?}");
    // Forgotten entirely: the responses sent again make a first submission, not a resubmission.
    agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)));
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1, "{out:?}");
    assert!(!subs[0].resubmit);
}

/// An expiry's reason counts only the stake that signed the right result: a wrong sum with a
/// valid signature is evidence, not support.
#[test]
fn an_expiry_counts_only_the_stake_behind_the_right_result() {
    let w = world(&[10, 30, 60]);
    let mut agg = w.aggregator(task(1, 100));
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)))),
        Ok(())
    );
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 41)));
    assert!(matches!(
        verdict(&out),
        Err(RejectReason::ProvablyWrong { .. })
    ));
    let out = agg.handle(20, AggregatorInput::Tick);
    let reason = ExpiryReason::ThresholdNotReached {
        signed: U256::from(10),
        total: U256::from(100),
        threshold: 100,
    };
    assert_eq!(
        reason.to_string(),
        "window over: signed stake 10 of 100 is below 100%"
    );
    assert!(
        out.contains(&AggregatorAction::Expired { task_id: 1, reason }),
        "{out:?}"
    );
    assert_eq!(
        ExpiryReason::InvalidThreshold(101).to_string(),
        "threshold 101% can never be met"
    );
}

/// A waiting claim's signature replayed with another result is not a duplicate: it is a
/// signature that does not cover what it claims.
#[test]
fn a_waiting_signature_replayed_with_another_result_is_invalid_not_a_duplicate() {
    let w = world(&[10, 10, 10]);
    let mut agg = w.aggregator(task(1, 100));
    let real = w.response(0, 1, 42);
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(real.clone()))),
        Ok(())
    );
    let replayed = Response {
        response: bytes(41),
        ..real.clone()
    };
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(replayed))),
        Err(RejectReason::InvalidSignature)
    );
    // The real one, sent again, is the duplicate.
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(real))),
        Err(RejectReason::Duplicate)
    );
}

fn lookups(actions: &[AggregatorAction]) -> Vec<TaskId> {
    actions
        .iter()
        .filter_map(|a| match a {
            AggregatorAction::LookUp { task_id } => Some(*task_id),
            _ => None,
        })
        .collect()
}

#[test]
fn the_early_buffer_holds_only_authentic_responses_within_the_horizon_once_each() {
    let w = world(&[10, 10, 10]);
    let mut agg = Aggregator::new(AggregatorConfig {
        early_horizon: 4,
        ..no_linger()
    });
    w.register(&mut agg);
    // Beyond the horizon (nothing seen yet: ids 1..=4 are plausible): refused, no lookup.
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 5, 42)));
    assert_eq!(verdict(&out), Err(RejectReason::UnknownTask));
    assert!(lookups(&out).is_empty() && persisted(&out).is_empty());
    // A forgery for a future task is refused on arrival and held nowhere.
    let out = agg.handle(10, AggregatorInput::Response(forged(&w, 0, 1, 2, 42)));
    assert_eq!(verdict(&out), Err(RejectReason::InvalidSignature));
    assert!(persisted(&out).is_empty());
    // The real one is held, persisted once, and its task looked up once.
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 2, 42)));
    assert_eq!(verdict(&out), Ok(()));
    assert_eq!(persisted(&out).len(), 1);
    assert_eq!(lookups(&out), vec![2]);
    // The same frame again: a duplicate, not a second journal entry or lookup.
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 2, 42)));
    assert_eq!(verdict(&out), Err(RejectReason::Duplicate));
    assert!(persisted(&out).is_empty() && lookups(&out).is_empty());
    // Another result signed by the same operator for the same task is not held beside it.
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 2, 7)));
    assert_eq!(
        verdict(&out),
        Err(RejectReason::Conflicting {
            previous: dg(2, 42)
        })
    );
    // A second operator's response for the task needs no second lookup.
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 2, 42)));
    assert_eq!(verdict(&out), Ok(()));
    assert!(lookups(&out).is_empty());
    // Seeing task 3 moves the horizon: id 7 is now plausible.
    agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task(3, 100),
            snapshot: w.snapshot.clone(),
        },
    );
    let out = agg.handle(10, AggregatorInput::Response(w.response(2, 7, 42)));
    assert_eq!(verdict(&out), Ok(()));
    assert_eq!(lookups(&out), vec![7]);
    // Task 2 arrives: both held responses count, 20 of 30 stake at 60 % submits.
    let out = agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task(2, 60),
            snapshot: w.snapshot.clone(),
        },
    );
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers, vec![op(1), op(0)]);
    assert!(
        persisted(&out)
            .iter()
            .all(|r| matches!(r, Record::Submitted { .. })),
        "held responses were persisted when queued: {out:?}"
    );
}

#[test]
fn an_operator_whose_key_is_not_known_yet_is_told_to_retry_and_the_task_is_looked_up() {
    let w = world(&[10, 10]);
    let mut agg = Aggregator::new(no_linger());
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    assert_eq!(verdict(&out), Err(RejectReason::UnknownTask));
    assert_eq!(lookups(&out), vec![1]);
    assert!(
        persisted(&out).is_empty(),
        "nothing unauthenticated is journaled"
    );
    // The lookup feeds the task and its snapshot; the retried responses then count.
    agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task(1, 100),
            snapshot: w.snapshot.clone(),
        },
    );
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)))),
        Ok(())
    );
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)));
    assert_eq!(submissions(&out).len(), 1);
}

#[test]
fn a_flood_of_future_ids_neither_grows_the_buffer_nor_the_lookups() {
    let w = world(&[10, 10]);
    let mut agg = Aggregator::new(AggregatorConfig {
        early_horizon: 8,
        ..no_linger()
    });
    w.register(&mut agg);
    let mut looked = 0;
    for id in 1..2_000u64 {
        // Unknown operator (key not known): refused, at most one lookup per id in the horizon.
        let mut junk = w.response(0, id, 42);
        junk.operator = Address::with_last_byte(7);
        let out = agg.handle(10, AggregatorInput::Response(junk));
        assert_eq!(verdict(&out), Err(RejectReason::UnknownTask));
        looked += lookups(&out).len();
        // Forged for a known operator: refused, never held.
        let out = agg.handle(10, AggregatorInput::Response(forged(&w, 1, 0, id, 42)));
        assert!(verdict(&out).is_err());
        assert!(persisted(&out).is_empty());
    }
    assert_eq!(looked, 8);
    assert!(agg.early.is_empty());
    assert!(agg.looked_up.len() <= 8);
}

#[test]
fn a_failed_submission_is_sent_again_in_the_window_and_expires_after_it() {
    let w = world(&[10, 10]);
    let mut agg = w.aggregator(task(1, 100));
    agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)));
    let first = submissions(&out);
    assert_eq!(first.len(), 1);
    assert!(!first[0].resubmit);
    // Nothing to do on a tick while the submission is in flight.
    assert!(agg.handle(11, AggregatorInput::Tick).is_empty());
    agg.handle(11, AggregatorInput::SubmitFailed { task_id: 1 });
    let out = agg.handle(11, AggregatorInput::Tick);
    let again = submissions(&out);
    assert_eq!(again.len(), 1);
    assert!(
        again[0].resubmit,
        "the driver checks the chain before sending again"
    );
    assert_eq!(
        Submission {
            resubmit: false,
            ..again[0].clone()
        },
        first[0]
    );
    // Once per failure, not once per tick.
    assert!(agg.handle(11, AggregatorInput::Tick).is_empty());
    // Fails again after the window (10 + 2): the task expires, closed and persisted.
    agg.handle(13, AggregatorInput::SubmitFailed { task_id: 1 });
    let out = agg.handle(13, AggregatorInput::Tick);
    assert!(submissions(&out).is_empty());
    assert!(out.iter().any(|a| matches!(
        a,
        AggregatorAction::Expired {
            task_id: 1,
            reason: ExpiryReason::SubmissionFailed { digest }
        } if *digest == dg(1, 42)
    )));
    assert!(persisted(&out).contains(&Record::Closed { task_id: 1 }));
    assert!(agg.is_closed(1));
    // A failure reported for a task that is not in flight changes nothing.
    let mut other = w.aggregator(task(2, 100));
    other.handle(10, AggregatorInput::SubmitFailed { task_id: 2 });
    assert!(other.handle(10, AggregatorInput::Tick).is_empty());
}

#[test]
fn a_lookup_is_asked_once_per_id_and_its_slot_freed_when_the_task_is_seen() {
    let w = world(&[10, 10, 10]);
    let mut agg = Aggregator::new(AggregatorConfig {
        early_horizon: 2,
        ..no_linger()
    });
    // Keys not known yet: each response is refused, the task looked up once, not per sender.
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    assert_eq!(lookups(&out), vec![1]);
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)));
    assert!(lookups(&out).is_empty(), "a second lookup of 1: {out:?}");
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 2, 42)));
    assert_eq!(lookups(&out), vec![2]);
    // Both slots taken; task 1 arriving frees its own and keeps 2's.
    agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task(1, 100),
            snapshot: w.snapshot.clone(),
        },
    );
    assert_eq!(agg.looked_up.iter().copied().collect::<Vec<_>>(), vec![2]);
    // Keys are known now: 2 is held without a second lookup; 3 is plausible and looked up.
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 2, 42)));
    assert_eq!(verdict(&out), Ok(()));
    assert!(lookups(&out).is_empty(), "a second lookup of 2: {out:?}");
    let out = agg.handle(10, AggregatorInput::Response(w.response(0, 3, 42)));
    assert_eq!(verdict(&out), Ok(()));
    assert_eq!(lookups(&out), vec![3]);
    // The chain settling 3 frees both slots without the aggregator seeing 2 or 3 as tasks.
    agg.handle(10, AggregatorInput::ChainAccepted { task_id: 3 });
    assert!(agg.looked_up.is_empty());
}

#[test]
fn an_early_response_with_the_same_result_and_another_signature_is_a_conflict() {
    let w = world(&[10, 10]);
    let mut agg = Aggregator::new(no_linger());
    w.register(&mut agg);
    let held = w.response(0, 2, 42);
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(held.clone()))),
        Ok(())
    );
    // Same result, another operator's valid signature bytes: not the frame already held.
    let mut other = held.clone();
    other.signature = w.response(1, 2, 42).signature;
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(other))),
        Err(RejectReason::Conflicting {
            previous: dg(2, 42)
        })
    );
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(held))),
        Err(RejectReason::Duplicate)
    );
}

#[test]
fn tasks_missed_below_the_newest_are_looked_up_within_the_horizon_s_budget() {
    // The chain settled task 5 while this aggregator never saw 1..=4 (it was down, or its
    // RPC failed): responses for them are looked up, but no more ids than the horizon at once.
    let w = world(&[10, 10]);
    for keys_known in [false, true] {
        let mut agg = Aggregator::new(AggregatorConfig {
            early_horizon: 2,
            ..Default::default()
        });
        if keys_known {
            w.register(&mut agg);
        }
        agg.handle(10, AggregatorInput::ChainAccepted { task_id: 5 });
        let mut looked = Vec::new();
        for id in 1..=4 {
            looked.extend(lookups(
                &agg.handle(10, AggregatorInput::Response(w.response(0, id, 42))),
            ));
        }
        assert_eq!(looked, vec![1, 2], "keys known: {keys_known}");
    }
}

#[test]
fn a_response_held_for_a_task_not_seen_yet_costs_one_pairing_each() {
    let w = world(&[10, 10]);
    let mut agg = Aggregator::new(no_linger());
    w.register(&mut agg);
    for (i, pairings) in [(0, 1), (1, 2)] {
        agg.handle(10, AggregatorInput::Response(w.response(i, 1, 42)));
        assert_eq!(agg.receipt_pairings(), pairings);
    }
}

#[test]
fn the_refused_forgeries_of_an_operator_are_remembered_in_a_bounded_set() {
    let w = world(&[10, 10]);
    let mut agg = w.aggregator(task(1, 100));
    // 300 distinct forgeries under operator 0's name (operator 1's genuine signatures over
    // wrong sums): each refused, the set never above its cap.
    for result in 0..300u64 {
        let out = agg.handle(
            10,
            AggregatorInput::Response(forged(&w, 0, 1, 1, 1_000 + result)),
        );
        assert_eq!(verdict(&out), Err(RejectReason::InvalidSignature));
        assert!(agg.tasks[&1].refused[&op(0)].len() <= Refused::CAP);
    }
    assert_eq!(agg.tasks[&1].refused[&op(0)].len(), Refused::CAP);
    // The most recent one repeated is refused from the set, without a pairing; the first, long
    // forgotten, costs a pairing again and is refused all the same.
    for (result, pairings) in [(1_299, 0), (1_000, 1)] {
        let before = agg.receipt_pairings();
        let out = agg.handle(10, AggregatorInput::Response(forged(&w, 0, 1, 1, result)));
        assert_eq!(verdict(&out), Err(RejectReason::InvalidSignature));
        assert_eq!(
            agg.receipt_pairings() - before,
            pairings,
            "forged sum {result}"
        );
    }
    // The operator's real answer still counts.
    agg.handle(10, AggregatorInput::Response(w.response(0, 1, 42)));
    let out = agg.handle(10, AggregatorInput::Response(w.response(1, 1, 42)));
    assert_eq!(submissions(&out).len(), 1);
    assert_eq!(submissions(&out)[0].signers.len(), 2);
}

fn lingering(w: &World, t: Task, linger_ms: u64) -> Aggregator {
    let mut a = Aggregator::new(AggregatorConfig {
        linger_ms,
        ..AggregatorConfig::default()
    });
    a.handle_at(
        10,
        0,
        AggregatorInput::TaskCreated {
            task: t,
            snapshot: w.snapshot.clone(),
        },
    );
    a
}

#[test]
fn the_linger_window_takes_in_a_late_honest_operator() {
    // 4 equal stakes, threshold 67: the third response reaches it at t = 100 ms; the fourth
    // comes 300 ms later, inside a 1 s window, and joins the aggregate.
    let w = world(&[10, 10, 10, 10]);
    let mut agg = lingering(&w, task(1, 67), 1_000);
    for (i, ms) in [(0, 10), (1, 50), (2, 100)] {
        let out = agg.handle_at(10, ms, AggregatorInput::Response(w.response(i, 1, 42)));
        assert_eq!(verdict(&out), Ok(()));
        assert!(submissions(&out).is_empty(), "submitted inside the window");
    }
    assert_eq!(agg.poll_timeout(), Some(1_100));
    // A tick before the window ends submits nothing, and the window stays open.
    assert!(submissions(&agg.handle_at(10, 1_099, AggregatorInput::Tick)).is_empty());
    assert_eq!(agg.poll_timeout(), Some(1_100));
    // The fourth one arrives late but inside: everyone is in, so no need to wait any more.
    let out = agg.handle_at(10, 400, AggregatorInput::Response(w.response(3, 1, 42)));
    assert_eq!(verdict(&out), Ok(()));
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers.len(), 4);
    assert!(subs[0].non_signers.is_empty());
    assert_eq!(agg.poll_timeout(), None);
}

#[test]
fn the_window_ends_early_when_every_keyed_operator_has_a_claim() {
    // A verified claim for the result counts as "in" (operator 0 was targeted by a forgery, so
    // its real claim is checked on receipt, not left pending) ...
    let w = world(&[10, 10, 10, 10]);
    let mut agg = lingering(&w, task(1, 67), 1_000);
    agg.handle_at(10, 0, AggregatorInput::Response(forged(&w, 0, 1, 1, 42)));
    let out = agg.handle_at(10, 1, AggregatorInput::Response(w.response(0, 1, 42)));
    assert_eq!(verdict(&out), Ok(()));
    for i in 1..3 {
        agg.handle_at(10, 10, AggregatorInput::Response(w.response(i, 1, 42)));
    }
    let out = agg.handle_at(10, 20, AggregatorInput::Response(w.response(3, 1, 42)));
    let subs = submissions(&out);
    assert_eq!(
        subs.len(),
        1,
        "all four are in: no need to wait for the window"
    );
    assert_eq!(subs[0].signers.len(), 4);
    // ... and so does a claim for another digest, even a provably wrong one: its operator cannot
    // sign the leading digest too without equivocating, so there is nobody left to wait for.
    let mut agg = lingering(&w, task(2, 67), 1_000);
    let out = agg.handle_at(10, 0, AggregatorInput::Response(w.response(3, 2, 41)));
    assert!(matches!(
        verdict(&out),
        Err(RejectReason::ProvablyWrong { .. })
    ));
    for i in 0..2 {
        let out = agg.handle_at(10, 10, AggregatorInput::Response(w.response(i, 2, 42)));
        assert!(submissions(&out).is_empty(), "below the threshold");
    }
    let out = agg.handle_at(10, 10, AggregatorInput::Response(w.response(2, 2, 42)));
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1, "everyone has a claim: {out:?}");
    assert_eq!(subs[0].non_signers, vec![op(3)]);
    assert_eq!(agg.poll_timeout(), None);
}

#[test]
fn the_linger_window_ends_on_time_without_the_absent() {
    let w = world(&[10, 10, 10, 10]);
    let mut agg = lingering(&w, task(1, 67), 1_000);
    for (i, ms) in [(0, 10), (1, 50), (2, 100)] {
        agg.handle_at(10, ms, AggregatorInput::Response(w.response(i, 1, 42)));
    }
    let out = agg.handle_at(10, 1_100, AggregatorInput::Tick);
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers.len(), 3);
    assert_eq!(subs[0].non_signers, vec![op(3)]);
    // Once submitted, the latecomer is told the task is closed, and no timeout is left.
    let out = agg.handle_at(10, 1_200, AggregatorInput::Response(w.response(3, 1, 42)));
    assert_eq!(verdict(&out), Err(RejectReason::TaskClosed));
    assert_eq!(agg.poll_timeout(), None);
}

#[test]
fn the_linger_window_never_outlasts_the_response_period() {
    // The response period's last epoch (10 + 2): a task at the threshold goes out at once,
    // whatever is left of the window, so the submission can still land in time.
    let w = world(&[10, 10, 10, 10]);
    let mut agg = lingering(&w, task(1, 67), 60_000);
    for i in 0..2 {
        agg.handle_at(11, 10, AggregatorInput::Response(w.response(i, 1, 42)));
    }
    let out = agg.handle_at(11, 20, AggregatorInput::Response(w.response(2, 1, 42)));
    assert!(submissions(&out).is_empty());
    // The epoch turns to the last one of the period: the tick submits.
    let subs = submissions(&agg.handle_at(12, 30, AggregatorInput::Tick));
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers.len(), 3);
    // A task reaching the threshold in the last epoch does not wait at all.
    let mut agg = lingering(&w, task(2, 67), 60_000);
    for i in 0..2 {
        agg.handle_at(12, 10, AggregatorInput::Response(w.response(i, 2, 42)));
    }
    let out = agg.handle_at(12, 20, AggregatorInput::Response(w.response(2, 2, 42)));
    assert_eq!(submissions(&out).len(), 1);
}

#[test]
fn a_forgery_that_fakes_the_threshold_does_not_leave_a_window_open() {
    // Two real responses and a forgery carry the threshold; at the window's end the batch check
    // drops the forgery, the quorum is gone, and the task asks for no more ticks until a new
    // response brings it back (then the window runs again from there).
    let w = world(&[10, 10, 10, 10]);
    let mut agg = lingering(&w, task(1, 67), 500);
    agg.handle_at(10, 0, AggregatorInput::Response(w.response(0, 1, 42)));
    agg.handle_at(10, 0, AggregatorInput::Response(w.response(1, 1, 42)));
    agg.handle_at(10, 0, AggregatorInput::Response(forged(&w, 2, 3, 1, 42)));
    assert_eq!(agg.poll_timeout(), Some(500));
    let out = agg.handle_at(10, 500, AggregatorInput::Tick);
    assert!(submissions(&out).is_empty());
    assert_eq!(rejected_for(&out, 2), 1);
    assert_eq!(agg.poll_timeout(), None);
    let out = agg.handle_at(10, 700, AggregatorInput::Response(w.response(2, 1, 42)));
    assert!(submissions(&out).is_empty());
    assert_eq!(agg.poll_timeout(), Some(1_200));
    let subs = submissions(&agg.handle_at(10, 1_200, AggregatorInput::Tick));
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signers.len(), 3);
}

#[test]
fn a_restored_submission_does_not_linger_again() {
    let w = world(&[10, 10, 10, 10]);
    let mut first = lingering(&w, task(1, 67), 1_000);
    let mut records = Vec::new();
    for i in 0..3 {
        records.extend(persisted(&first.handle_at(
            10,
            0,
            AggregatorInput::Response(w.response(i, 1, 42)),
        )));
    }
    records.extend(persisted(&first.handle_at(
        10,
        1_000,
        AggregatorInput::Tick,
    )));
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Submitted { task_id: 1, .. }))
    );
    let mut again = Aggregator::restore(
        AggregatorConfig {
            linger_ms: 1_000,
            ..AggregatorConfig::default()
        },
        &records,
    );
    let out = again.handle_at(
        10,
        0,
        AggregatorInput::TaskCreated {
            task: task(1, 67),
            snapshot: w.snapshot.clone(),
        },
    );
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1);
    assert!(subs[0].resubmit);
}

/// An AVS whose honest operators may disagree: any `uint64` is an answer, nothing is provably
/// wrong (an oracle whose feeds differ, say). The aggregator must then count digests, not judge
/// answers.
struct AnyAnswer;

impl Avs for AnyAnswer {
    type Payload = Vec<u8>;
    type Response = u64;

    fn encode_payload(&self, p: &Vec<u8>) -> Vec<u8> {
        p.clone()
    }
    fn decode_payload(&self, bytes: &[u8]) -> Result<Vec<u8>, crate::avs::CodecError> {
        Ok(bytes.to_vec())
    }
    fn encode_response(&self, r: &u64) -> Vec<u8> {
        SumAvs::response_bytes(*r)
    }
    fn decode_response(&self, bytes: &[u8]) -> Result<u64, crate::avs::CodecError> {
        SumAvs::decode_sum(bytes)
    }
    fn compute(&self, _: &Vec<u8>, _: &mut crate::avs::ComputeCtx<'_>) -> Option<u64> {
        None
    }
    fn next_payload(&mut self, _: &mut dyn rand::RngCore) -> Vec<u8> {
        Vec::new()
    }
}

fn any_answer(w: &World, t: Task) -> Aggregator<AnyAnswer> {
    let mut a = Aggregator::with_avs(AnyAnswer, no_linger());
    a.handle(
        10,
        AggregatorInput::TaskCreated {
            task: t,
            snapshot: w.snapshot.clone(),
        },
    );
    a
}

#[test]
fn the_digest_that_carries_the_threshold_is_submitted_and_a_minority_is_a_non_signer() {
    let w = world(&[10, 10, 10, 10]);
    let mut agg = any_answer(&w, task(1, 67));
    // A minority answer first: valid, counted for its own digest, no evidence of anything.
    let out = agg.handle(10, AggregatorInput::Response(w.response(3, 1, 7)));
    assert_eq!(verdict(&out), Ok(()));
    assert!(!out.iter().any(|a| matches!(
        a,
        AggregatorAction::ProvablyWrong { .. } | AggregatorAction::Equivocation(_)
    )));
    for i in 0..2 {
        let out = agg.handle(10, AggregatorInput::Response(w.response(i, 1, 99)));
        assert!(submissions(&out).is_empty());
    }
    let out = agg.handle(10, AggregatorInput::Response(w.response(2, 1, 99)));
    let subs = submissions(&out);
    assert_eq!(subs.len(), 1, "{out:?}");
    let s = &subs[0];
    assert_eq!((&s.response, s.digest), (&bytes(99), dg(1, 99)));
    assert_eq!(s.signers, vec![op(2), op(1), op(0)]);
    assert_eq!(s.non_signers, vec![op(3)]);
    assert_eq!(s.signed_stake, U256::from(30));
    let apk = s.aggregate_pubkey.to_public_key().unwrap();
    apk.verify(&dg(1, 99).0, &s.aggregate_signature).unwrap();
    assert!(persisted(&out).contains(&Record::Submitted {
        task_id: 1,
        response: bytes(99)
    }));
}

#[test]
fn a_split_vote_submits_nothing_and_expires_with_the_largest_digest_s_stake() {
    let w = world(&[10, 10, 10, 10]);
    let mut agg = any_answer(&w, task(1, 67));
    for (i, answer) in [(0, 1), (1, 1), (2, 2), (3, 3)] {
        let out = agg.handle(10, AggregatorInput::Response(w.response(i, 1, answer)));
        assert_eq!(verdict(&out), Ok(()));
        assert!(submissions(&out).is_empty(), "{out:?}");
    }
    let out = agg.handle(13, AggregatorInput::Tick);
    assert!(out.iter().any(|a| matches!(
        a,
        AggregatorAction::Expired {
            task_id: 1,
            reason: ExpiryReason::ThresholdNotReached { signed, .. }
        } if *signed == U256::from(20)
    )));
}

#[test]
fn response_bytes_that_are_no_response_of_the_avs_are_malformed() {
    let w = world(&[10, 10]);
    let mut agg = w.aggregator(task(1, 100));
    let good = w.response(0, 1, 42);
    for response in [
        Vec::new(),
        vec![0u8; 31],
        // Dirty high bytes: the contract's abi.decode would revert on them.
        [[0xffu8; 24].as_slice(), &42u64.to_be_bytes()].concat(),
        vec![0u8; MAX_RESPONSE_LEN + 1],
    ] {
        let bad = Response {
            response,
            ..good.clone()
        };
        let out = agg.handle(10, AggregatorInput::Response(bad));
        assert!(
            matches!(verdict(&out), Err(RejectReason::Malformed(_))),
            "{out:?}"
        );
    }
    assert_eq!(
        agg.receipt_pairings(),
        0,
        "no pairing spent on undecodable bytes"
    );
    assert_eq!(
        verdict(&agg.handle(10, AggregatorInput::Response(good))),
        Ok(())
    );
}
