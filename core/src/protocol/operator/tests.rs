use super::*;
use crate::crypto::bls::PublicKey;
use crate::crypto::messages;

fn key(n: u8) -> SecretKey {
    SecretKey::from_ikm(&[n; 32]).unwrap()
}

fn task(id: TaskId, a: u64, b: u64) -> Task {
    Task {
        id,
        payload: SumAvs::payload_bytes(a, b),
        threshold_percentage: 67,
        starting_epoch: 10,
        response_period: 2,
        challenge_period: 2,
        statistical_period: 2,
        created_block: 1,
    }
}

/// The sum AVS's response bytes for `sum`.
fn bytes(sum: u64) -> Vec<u8> {
    SumAvs::response_bytes(sum)
}

/// The ledger record of having signed `sum` for `t`.
fn signed(t: &Task, sum: u64) -> Record {
    Record::Signed {
        task_id: t.id,
        payload: keccak256(&t.payload),
        response: bytes(sum),
    }
}

fn verify(pk: &PublicKey, task_id: TaskId, result: u64, sig: &Signature) {
    pk.verify(&messages::task_response_digest(task_id, result), sig)
        .unwrap();
}

#[test]
fn aggregated_happy_path_persists_before_sending() {
    let sk = key(1);
    let pk = sk.public_key();
    let addr = Address::with_last_byte(1);
    let mut op = Operator::new(addr, sk, Flow::Aggregated);
    let out = op.handle(10, OperatorInput::TaskSeen(task(7, 2, 3)));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], OperatorAction::Persist(signed(&task(7, 2, 3), 5)));
    let OperatorAction::SendResponse(r) = &out[1] else {
        panic!("expected a response, got {out:?}")
    };
    assert_eq!((r.task_id, r.sum(), r.operator), (7, Some(5), addr));
    assert_eq!(r.signature.len(), 192);
    verify(&pk, 7, 5, &Signature::from_bytes(&r.signature).unwrap());
}

#[test]
fn overflowing_sum_is_refused_not_wrapped() {
    let mut op = Operator::new(Address::ZERO, key(1), Flow::Aggregated);
    let out = op.handle(10, OperatorInput::TaskSeen(task(1, u64::MAX, 1)));
    assert_eq!(
        out,
        vec![OperatorAction::Refused {
            task_id: 1,
            reason: RefuseReason::NoAnswer
        }]
    );
    assert_eq!(op.signed(1), None);
    // Exactly at the limit is fine.
    let out = op.handle(10, OperatorInput::TaskSeen(task(2, u64::MAX - 1, 1)));
    assert_eq!(
        out[0],
        OperatorAction::Persist(signed(&task(2, u64::MAX - 1, 1), u64::MAX))
    );
}

#[test]
fn late_task_is_not_signed() {
    let mut op = Operator::new(Address::ZERO, key(1), Flow::Aggregated);
    let out = op.handle(13, OperatorInput::TaskSeen(task(1, 1, 1)));
    assert_eq!(
        out,
        vec![OperatorAction::Refused {
            task_id: 1,
            reason: RefuseReason::Late
        }]
    );
}

#[test]
fn restart_resends_same_result_without_new_persist() {
    let addr = Address::with_last_byte(9);
    let mut op = Operator::new(addr, key(3), Flow::Aggregated);
    let first = op.handle(10, OperatorInput::TaskSeen(task(4, 20, 22)));
    let records: Vec<Record> = first
        .iter()
        .filter_map(|a| {
            if let OperatorAction::Persist(r) = a {
                Some(r.clone())
            } else {
                None
            }
        })
        .collect();
    let mut op2 = Operator::restore(addr, key(3), Flow::Aggregated, &records);
    // Seen again in its window (deadline 12): the same answer, no second ledger entry.
    let again = op2.handle(12, OperatorInput::TaskSeen(task(4, 20, 22)));
    assert_eq!(again, vec![first[1].clone()]);
}

#[test]
fn a_restart_with_a_long_ledger_sends_nothing_for_windows_that_have_passed() {
    let addr = Address::with_last_byte(9);
    let records: Vec<Record> = (1..=1_000).map(|id| signed(&task(id, 40, 2), 42)).collect();
    for flow in [Flow::Aggregated, Flow::TwoPhase] {
        let mut op = Operator::restore(addr, key(3), flow, &records);
        // The chain is re-read from the start: every task's windows are over (deadline 12,
        // statistical end 14), so nothing is sent, signed or recorded.
        for id in 1..=1_000 {
            let out = op.handle(15, OperatorInput::TaskSeen(task(id, 40, 2)));
            assert!(out.is_empty(), "{flow:?} task {id}: {out:?}");
        }
        assert!(op.handle(15, OperatorInput::Tick).is_empty());
    }
    // The last epoch of the window still counts: the recorded answer goes out again.
    let mut op = Operator::restore(addr, key(3), Flow::Aggregated, &records);
    let out = op.handle(12, OperatorInput::TaskSeen(task(7, 40, 2)));
    assert!(
        matches!(&out[..], [OperatorAction::SendResponse(r)] if r.task_id == 7 && r.sum() == Some(42))
    );
    // Two-phase: past the prepare window but inside the commit window, the commit is due.
    let mut op = Operator::restore(addr, key(3), Flow::TwoPhase, &records);
    let out = op.handle(14, OperatorInput::TaskSeen(task(7, 40, 2)));
    assert!(
        matches!(
            &out[..],
            [OperatorAction::SubmitCommit {
                task_id: 7,
                response,
                ..
            }] if *response == bytes(42)
        ),
        "{out:?}"
    );
}

#[test]
fn never_signs_a_different_result_for_a_task() {
    let addr = Address::with_last_byte(9);
    let records = vec![signed(&task(4, 20, 22), 42)];
    let mut op = Operator::restore(addr, key(3), Flow::Aggregated, &records);
    // The task event now says something else (e.g. a reorg replaced it).
    let out = op.handle(10, OperatorInput::TaskSeen(task(4, 1, 1)));
    assert_eq!(
        out,
        vec![OperatorAction::Refused {
            task_id: 4,
            reason: RefuseReason::LedgerConflict {
                signed_for: keccak256(&task(4, 20, 22).payload),
                now: keccak256(&task(4, 1, 1).payload),
            }
        }]
    );
    // Another payload that asks for the same answer: the same bytes and signature go out again,
    // with no second ledger entry.
    let out = op.handle(10, OperatorInput::TaskSeen(task(4, 2, 40)));
    assert!(
        matches!(&out[..], [OperatorAction::SendResponse(r)] if r.sum() == Some(42)),
        "{out:?}"
    );
    assert_eq!(op.signed(4), Some(&bytes(42)[..]));
}

#[test]
fn two_phase_prepare_then_commit_in_windows() {
    let sk = key(5);
    let pk = sk.public_key();
    let mut op = Operator::new(Address::with_last_byte(5), sk, Flow::TwoPhase);
    let t = task(3, 4, 5); // prepare ≤ 12, commit 13..=14
    let out = op.handle(11, OperatorInput::TaskSeen(t.clone()));
    assert_eq!(out[0], OperatorAction::Persist(signed(&t, 9)));
    let OperatorAction::SubmitPrepare {
        task_id: 3,
        signature,
    } = out[1]
    else {
        panic!("{out:?}")
    };
    verify(&pk, 3, 9, &signature);
    assert_eq!(out.len(), 2);
    assert!(op.handle(12, OperatorInput::Tick).is_empty());
    op.handle(
        12,
        OperatorInput::Confirmed {
            task_id: 3,
            phase: Phase::Prepare,
        },
    );
    let out = op.handle(13, OperatorInput::Tick);
    assert_eq!(
        out,
        vec![OperatorAction::SubmitCommit {
            task_id: 3,
            response: bytes(9),
            // For the sum the generic commit bytes are Imua's abi.encode(taskID, sum).
            response_bytes: messages::task_response_bytes(3, 9).to_vec(),
            signature
        }]
    );
    // Only once.
    assert!(op.handle(14, OperatorInput::Tick).is_empty());
    op.handle(
        14,
        OperatorInput::Confirmed {
            task_id: 3,
            phase: Phase::Commit,
        },
    );
    assert!(op.handle(15, OperatorInput::Tick).is_empty());
}

#[test]
fn two_phase_task_seen_in_commit_window_after_restart_commits() {
    let addr = Address::with_last_byte(5);
    let records = vec![signed(&task(3, 4, 5), 9)];
    let mut op = Operator::restore(addr, key(5), Flow::TwoPhase, &records);
    let out = op.handle(13, OperatorInput::TaskSeen(task(3, 4, 5)));
    assert_eq!(out.len(), 1);
    assert!(matches!(
        &out[0],
        OperatorAction::SubmitCommit {
            task_id: 3,
            response,
            ..
        } if *response == bytes(9)
    ));
}

#[test]
#[cfg(feature = "planted-bugs")]
fn planted_ignore_ledger_signs_a_second_result() {
    let addr = Address::with_last_byte(9);
    let records = vec![signed(&task(4, 20, 22), 42)];
    let mut op = Operator::restore(addr, key(3), Flow::Aggregated, &records);
    op.set_bugs(OperatorBugs {
        ignore_ledger: true,
    });
    let out = op.handle(10, OperatorInput::TaskSeen(task(4, 1, 1)));
    assert_eq!(out[0], OperatorAction::Persist(signed(&task(4, 1, 1), 2)));
    assert!(matches!(&out[1], OperatorAction::SendResponse(r) if r.sum() == Some(2)));
}

#[test]
fn a_commit_still_goes_out_in_the_last_epoch_of_its_window() {
    let mut op = Operator::new(Address::with_last_byte(5), key(5), Flow::TwoPhase);
    let t = task(3, 4, 5); // prepare ≤ 12, commit 13..=14
    op.handle(11, OperatorInput::TaskSeen(t));
    op.handle(
        12,
        OperatorInput::Confirmed {
            task_id: 3,
            phase: Phase::Prepare,
        },
    );
    // No tick in 13: the first one comes in 14, the window's last epoch.
    let out = op.handle(14, OperatorInput::Tick);
    assert!(
        matches!(
            out.as_slice(),
            [OperatorAction::SubmitCommit {
                task_id: 3,
                response,
                ..
            }] if *response == bytes(9)
        ),
        "{out:?}"
    );
    // After the window nothing more is sent.
    let mut late = Operator::new(Address::with_last_byte(5), key(5), Flow::TwoPhase);
    late.handle(11, OperatorInput::TaskSeen(task(3, 4, 5)));
    assert!(late.handle(15, OperatorInput::Tick).is_empty());
}

#[test]
fn accessors_and_refusal_messages() {
    let addr = Address::with_last_byte(77);
    let mut op = Operator::new(addr, key(7), Flow::Aggregated);
    assert_eq!(op.address(), addr);
    assert_eq!(op.signed(7), None);
    op.handle(10, OperatorInput::TaskSeen(task(7, 2, 3)));
    assert_eq!(op.signed(7), Some(&bytes(5)[..]));
    assert_eq!(op.signed(8), None);
    assert_eq!(
        RefuseReason::NoAnswer.to_string(),
        "the AVS has no answer to sign"
    );
    assert_eq!(RefuseReason::Late.to_string(), "response window is over");
    assert_eq!(
        RefuseReason::LedgerConflict {
            signed_for: B256::repeat_byte(5),
            now: B256::repeat_byte(6)
        }
        .to_string(),
        format!(
            "already signed for payload {}, task now carries payload {}",
            B256::repeat_byte(5),
            B256::repeat_byte(6)
        )
    );
    assert_eq!(
        RefuseReason::ResponseTooLong { len: 2000 }.to_string(),
        "response of 2000 bytes exceeds the limit of 1024"
    );
}

/// The planted bug signs a second result within one run too, and records each (the simulator
/// catches it on the wire, not from the ledger).
#[test]
#[cfg(feature = "planted-bugs")]
fn planted_ignore_ledger_signs_and_records_a_changed_task_again() {
    let mut op = Operator::new(Address::with_last_byte(9), key(3), Flow::Aggregated);
    op.set_bugs(OperatorBugs {
        ignore_ledger: true,
    });
    op.handle(10, OperatorInput::TaskSeen(task(4, 1, 1)));
    let out = op.handle(10, OperatorInput::TaskSeen(task(4, 1, 2)));
    assert_eq!(out[0], OperatorAction::Persist(signed(&task(4, 1, 2), 3)));
    assert!(matches!(&out[1], OperatorAction::SendResponse(r) if r.sum() == Some(3)));
}

#[test]
fn the_resume_point_stays_below_every_task_whose_window_is_open() {
    let at = |id: TaskId, block: u64, start: Epoch| Task {
        created_block: block,
        starting_epoch: start,
        ..task(id, 40, 2)
    };
    for flow in [Flow::Aggregated, Flow::TwoPhase] {
        let mut op = Operator::new(Address::with_last_byte(9), key(3), flow);
        assert_eq!(
            op.resume_after(50),
            Some(50),
            "nothing open: all read is done"
        );
        op.handle(10, OperatorInput::TaskSeen(at(1, 30, 10)));
        op.handle(10, OperatorInput::TaskSeen(at(2, 40, 12)));
        assert_eq!(
            op.resume_after(50),
            Some(29),
            "{flow:?}: task 1 must be read again"
        );
        assert_eq!(op.resume_after(20), Some(20), "never past what was read");
        // Task 1's last useful epoch: 12 (response deadline) or 14 (statistical end).
        let end1 = if flow == Flow::Aggregated { 12 } else { 14 };
        op.handle(end1, OperatorInput::Tick);
        assert_eq!(
            op.resume_after(50),
            Some(29),
            "{flow:?}: open through {end1}"
        );
        op.handle(end1 + 1, OperatorInput::Tick);
        assert_eq!(
            op.resume_after(50),
            Some(39),
            "{flow:?}: only task 2 is open"
        );
        op.handle(end1 + 3, OperatorInput::Tick);
        assert_eq!(op.resume_after(50), Some(50), "{flow:?}: all windows over");
        // A task refused as late is not held open.
        op.handle(100, OperatorInput::TaskSeen(at(3, 60, 10)));
        assert_eq!(op.resume_after(70), Some(70));
        // A task in the very first block: nothing may be skipped.
        op.handle(10, OperatorInput::TaskSeen(at(4, 0, 10)));
        assert_eq!(op.resume_after(70), None);
    }
}

/// An AVS whose honest answer depends on the operator's own inputs (here its RNG), as an oracle's
/// depends on its feed: computing again could give another answer, so only the ledger may be
/// trusted after the first signature. Payloads of 3 bytes are refused; payload `[9]` makes a
/// response longer than any aggregator takes.
struct Noisy;

impl Avs for Noisy {
    type Payload = Vec<u8>;
    type Response = Vec<u8>;

    fn encode_payload(&self, p: &Vec<u8>) -> Vec<u8> {
        p.clone()
    }
    fn decode_payload(&self, bytes: &[u8]) -> Result<Vec<u8>, avs::CodecError> {
        if bytes.len() == 3 {
            return Err(avs::CodecError::Invalid {
                what: "noisy payload",
                detail: "three bytes".into(),
            });
        }
        Ok(bytes.to_vec())
    }
    fn encode_response(&self, r: &Vec<u8>) -> Vec<u8> {
        r.clone()
    }
    fn decode_response(&self, bytes: &[u8]) -> Result<Vec<u8>, avs::CodecError> {
        Ok(bytes.to_vec())
    }
    fn compute(&self, p: &Vec<u8>, ctx: &mut ComputeCtx<'_>) -> Option<Vec<u8>> {
        if p.as_slice() == [9] {
            return Some(vec![0; MAX_RESPONSE_LEN + 1]);
        }
        Some(ctx.rng.next_u64().to_be_bytes().to_vec())
    }
    fn next_payload(&mut self, _: &mut dyn RngCore) -> Vec<u8> {
        Vec::new()
    }
}

fn noisy(seed: u64) -> Operator<Noisy> {
    Operator::with_avs(
        Noisy,
        Box::new(rand::rngs::StdRng::seed_from_u64(seed)),
        Address::with_last_byte(4),
        key(4),
        Flow::Aggregated,
    )
}

#[test]
fn an_answer_is_computed_once_and_the_ledger_answers_after_that() {
    let t = task(1, 2, 3);
    let mut op = noisy(1);
    let out = op.handle(10, OperatorInput::TaskSeen(t.clone()));
    let [
        OperatorAction::Persist(record),
        OperatorAction::SendResponse(first),
    ] = &out[..]
    else {
        panic!("{out:?}")
    };
    key(4)
        .public_key()
        .verify(
            &avs::response_digest(1, &first.response),
            &Signature::from_bytes(&first.signature).unwrap(),
        )
        .unwrap();
    // Seen again (a re-read), and after a restart with another RNG: the ledger's bytes, never a
    // second draw.
    let again = op.handle(11, OperatorInput::TaskSeen(t.clone()));
    assert_eq!(again, vec![OperatorAction::SendResponse(first.clone())]);
    let mut restarted = Operator::restore_with(
        Noisy,
        Box::new(rand::rngs::StdRng::seed_from_u64(99)),
        Address::with_last_byte(4),
        key(4),
        Flow::Aggregated,
        [record],
    );
    let again = restarted.handle(11, OperatorInput::TaskSeen(t));
    assert_eq!(again, vec![OperatorAction::SendResponse(first.clone())]);
    // Another operator's RNG answers otherwise: honest operators may disagree.
    let other = noisy(2).handle(10, OperatorInput::TaskSeen(task(1, 2, 3)));
    assert!(
        matches!(&other[1], OperatorAction::SendResponse(r) if r.response != first.response),
        "{other:?}"
    );
}

/// Tasks still carry the sum's payload, so these refusals are reached through `answer`, which
/// `on_task` turns into `Refused` (as the overflow test shows for `NoAnswer`).
#[test]
fn payloads_the_avs_refuses_and_responses_too_long_are_not_signed() {
    let mut op = noisy(1);
    assert_eq!(
        op.answer(2, &[9], 10),
        Err(RefuseReason::ResponseTooLong {
            len: MAX_RESPONSE_LEN + 1
        })
    );
    assert!(matches!(
        op.answer(3, &[1, 2, 3], 10),
        Err(RefuseReason::BadPayload(e)) if e.contains("three bytes")
    ));
}
