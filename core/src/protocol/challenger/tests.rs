use super::*;
use alloy_primitives::Address;
use proptest::prelude::*;

use crate::crypto::bls::SecretKey;

fn op(i: u8) -> Address {
    Address::with_last_byte(i)
}

fn snapshot(stakes: &[u128]) -> Vec<TaskOperator> {
    let pk = SecretKey::from_ikm(&[1; 32]).unwrap().public_key();
    stakes
        .iter()
        .enumerate()
        .map(|(i, s)| TaskOperator {
            operator: op(i as u8 + 1),
            stake: *s,
            pubkey: Some(pk),
        })
        .collect()
}

fn task(threshold: u8) -> Task {
    Task {
        id: 5,
        payload: SumAvs::payload_bytes(1, 2),
        threshold_percentage: threshold,
        starting_epoch: 10,
        response_period: 2,
        challenge_period: 2,
        statistical_period: 2,
        created_block: 1,
    }
}

fn two_phase(commits: Vec<(Address, u64)>, stakes: &[u128], threshold: u8) -> TaskReport {
    let commits = commits
        .into_iter()
        .map(|(op, sum)| (op, SumAvs::response_bytes(sum)))
        .collect();
    TaskReport {
        task: task(threshold),
        snapshot: snapshot(stakes),
        flow: Flow::TwoPhase,
        aggregate: None,
        commits,
        proven_wrong: vec![],
    }
}

#[test]
fn two_phase_rewards_correct_slashes_wrong_and_silent() {
    let r = two_phase(
        vec![(op(1), 3), (op(2), 3), (op(3), 4)],
        &[10, 10, 10, 10],
        50,
    );
    let c = settle(&r);
    assert_eq!(c.reward, vec![op(1), op(2)]);
    assert_eq!(c.wrong, vec![op(3)]);
    assert_eq!(c.silent, vec![op(4)]);
    assert_eq!(c.slash, vec![op(3), op(4)]);
    assert_eq!(c.non_signers, vec![op(3), op(4)]);
    assert_eq!((c.actual_threshold, c.is_expected), (50, true));
    let c = settle(&two_phase(
        vec![(op(1), 3), (op(2), 3)],
        &[10, 10, 10, 10],
        51,
    ));
    assert_eq!((c.actual_threshold, c.is_expected), (50, false));
}

#[test]
fn two_phase_double_commit_is_wrong() {
    let c = settle(&two_phase(vec![(op(1), 3), (op(1), 9)], &[10, 10], 50));
    assert_eq!(c.wrong, vec![op(1)]);
    assert!(c.reward.is_empty());
}

#[test]
fn aggregated_flow_and_fraud_proofs() {
    let mut r = TaskReport {
        task: task(60),
        snapshot: snapshot(&[10, 10, 10]),
        flow: Flow::Aggregated,
        aggregate: Some(AcceptedAggregate {
            response: SumAvs::response_bytes(3),
            non_signers: vec![op(3)],
        }),
        commits: vec![],
        proven_wrong: vec![],
    };
    let c = settle(&r);
    assert_eq!(
        (
            c.reward.clone(),
            c.silent.clone(),
            c.actual_threshold,
            c.is_expected
        ),
        (vec![op(1), op(2)], vec![op(3)], 66, true)
    );
    // Absence alone never slashes in the aggregated flow (the contract's default rule).
    assert!(c.slash.is_empty());
    // op(3) signed a wrong sum elsewhere (fraud proof): wrong, not silent.
    r.proven_wrong = vec![op(3)];
    let c = settle(&r);
    assert_eq!((c.wrong.clone(), c.silent.clone()), (vec![op(3)], vec![]));
    assert_eq!(c.slash, vec![op(3)]);
    // Nothing accepted: all silent, nothing expected.
    r.aggregate = None;
    r.proven_wrong.clear();
    let c = settle(&r);
    assert_eq!(
        (c.silent.len(), c.actual_threshold, c.is_expected),
        (3, 0, false)
    );
    assert!(
        c.slash.is_empty(),
        "nobody answered, nobody proven wrong: nobody slashed"
    );
}

#[test]
fn waits_for_the_window_then_challenges_once() {
    let mut ch = Challenger::new();
    let r = two_phase(vec![(op(1), 3)], &[10], 50);
    assert!(ch.handle(14, ChallengerInput::Report(r.clone())).is_empty()); // statistical end = 14
    let out = ch.handle(15, ChallengerInput::Tick);
    assert_eq!(out.len(), 1);
    assert!(ch.handle(16, ChallengerInput::Tick).is_empty());
    assert!(ch.handle(16, ChallengerInput::Report(r.clone())).is_empty());
    let out = ch.handle(16, ChallengerInput::Settled { task_id: 5 });
    assert_eq!(
        out,
        vec![ChallengerAction::Persist(Record::Closed { task_id: 5 })]
    );
    // After a restart, settled tasks are not challenged again.
    let mut ch = Challenger::restore(&[Record::Closed { task_id: 5 }]);
    assert!(ch.handle(20, ChallengerInput::Report(r)).is_empty());
}

proptest! {
    /// `actual >= threshold` (the reference's isExpected) is the contract's quorum rule.
    #[test]
    fn is_expected_equals_quorum_rule(stakes in prop::collection::vec(0u128..=u128::MAX, 1..8), mask in any::<u8>(), t in 1u8..=100) {
        let snap = snapshot(&stakes);
        let commits: Vec<(Address, Vec<u8>)> = snap.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, m)| (m.operator, SumAvs::response_bytes(3))).collect();
        let r = TaskReport { task: task(t), snapshot: snap, flow: Flow::TwoPhase, aggregate: None, commits, proven_wrong: vec![] };
        let c = settle(&r);
        let rule = quorum::quorum_reached(t, c.signed_stake, c.total_stake).unwrap();
        prop_assert_eq!(c.is_expected, rule);
        prop_assert_eq!(c.reward.len() + c.slash.len(), r.snapshot.len());
    }
}

/// An AVS other than the sum: any `uint64` is an answer, and an odd one is provably wrong.
struct EvenOnly;

impl Avs for EvenOnly {
    type Payload = ();
    type Response = u64;
    fn encode_payload(&self, _: &()) -> Vec<u8> {
        vec![1]
    }
    fn decode_payload(&self, bytes: &[u8]) -> Result<(), crate::avs::CodecError> {
        (bytes == [1])
            .then_some(())
            .ok_or(crate::avs::CodecError::Invalid {
                what: "even payload",
                detail: "not [1]".into(),
            })
    }
    fn encode_response(&self, r: &u64) -> Vec<u8> {
        SumAvs::response_bytes(*r)
    }
    fn decode_response(&self, bytes: &[u8]) -> Result<u64, crate::avs::CodecError> {
        SumAvs::decode_sum(bytes)
    }
    fn compute(&self, _: &(), _: &mut crate::avs::ComputeCtx<'_>) -> Option<u64> {
        Some(2)
    }
    fn is_provably_wrong(&self, _: &(), r: &u64) -> bool {
        r % 2 == 1
    }
    fn next_payload(&mut self, _: &mut dyn rand::RngCore) {}
}

/// The challenger judges by the AVS's rule, not by the sum: two different even commits are both
/// correct, an odd one is wrong, and a payload the AVS cannot read makes every commit wrong.
#[test]
fn the_avs_rule_decides_who_is_correct() {
    let mut r = two_phase(
        vec![(op(1), 4), (op(2), 6), (op(3), 7)],
        &[10, 10, 10, 10],
        50,
    );
    r.task.payload = vec![1];
    let c = settle_with(&EvenOnly, &r);
    assert_eq!(c.reward, vec![op(1), op(2)]);
    assert_eq!(c.wrong, vec![op(3)]);
    assert_eq!(c.silent, vec![op(4)]);

    r.task.payload = vec![2];
    let c = settle_with(&EvenOnly, &r);
    assert!(c.reward.is_empty());
    assert_eq!(c.wrong, vec![op(1), op(2), op(3)]);

    // Through the machine: the same settlement once the statistical window is over.
    r.task.payload = vec![1];
    let mut ch = Challenger::with_avs(EvenOnly);
    let end = r.task.statistical_end();
    assert!(
        ch.handle(end, ChallengerInput::Report(r.clone()))
            .is_empty()
    );
    let out = ch.handle(end + 1, ChallengerInput::Tick);
    assert_eq!(
        out,
        vec![ChallengerAction::Challenge(settle_with(&EvenOnly, &r))]
    );
}
