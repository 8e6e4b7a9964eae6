//! Wire fuzz of the aggregator through its public API: arbitrary bytes and mutated frames go
//! through the wire decoder (`net::codec::decode`) and whatever decodes into the aggregator's
//! state machine, interleaved with honest responses. Nothing panics; garbage never produces a
//! submission, never produces slashing evidence against an operator (evidence always carries that
//! operator's own valid signatures) and never keeps the honest operators from reaching the quorum:
//! the one submission verifies, over the correct sum, with only operators that really signed.
//! `PROPTEST_CASES` raises the case count (default 64).

use alloy::primitives::Address;
use exoavs::crypto::bls::{PublicKey, SecretKey, Signature};
use exoavs::crypto::messages::task_response_digest;
use exoavs::net::codec::{self, Message};
use exoavs::protocol::aggregator::{
    Aggregator, AggregatorAction, AggregatorConfig, AggregatorInput,
};
use exoavs::protocol::quorum::quorum_reached;
use exoavs::protocol::{Response, Task, TaskOperator};
use proptest::prelude::*;
use std::collections::BTreeSet;

const N: usize = 4;
const TASK: u64 = 1;
const A: u64 = 40;
const B: u64 = 2;

fn op(i: usize) -> Address {
    Address::with_last_byte(i as u8 + 1)
}

fn keys() -> Vec<SecretKey> {
    (0..N)
        .map(|i| SecretKey::from_ikm(&[i as u8 + 9; 32]).expect("ikm"))
        .collect()
}

fn task(threshold: u8) -> Task {
    Task {
        id: TASK,
        payload: exoavs::avs::SumAvs::payload_bytes(A, B),
        threshold_percentage: threshold,
        starting_epoch: 10,
        response_period: 5,
        challenge_period: 2,
        statistical_period: 2,
        created_block: 1,
    }
}

fn signed(keys: &[SecretKey], i: usize, task_id: u64, result: u64) -> Response {
    Response {
        task_id,
        response: exoavs::avs::SumAvs::response_bytes(result),
        operator: op(i),
        signature: keys[i]
            .sign(&task_response_digest(task_id, result))
            .to_uncompressed()
            .to_vec(),
    }
}

/// One frame on the wire.
#[derive(Debug, Clone)]
enum Frame {
    Bytes(Vec<u8>),
    /// An honest encoded response with bytes XORed and possibly truncated.
    Mutated {
        from: usize,
        flips: Vec<(usize, u8)>,
        cut: usize,
    },
    /// A well-formed response that claims operator `claims` but is signed by `signer`, over
    /// (task, result).
    Forged {
        claims: usize,
        signer: usize,
        task_id: u64,
        result: u64,
    },
    /// Operator `i`'s honest response.
    Honest(usize),
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400).prop_map(Frame::Bytes),
        (
            0..N,
            prop::collection::vec((0usize..260, 1u8..=255), 1..6),
            0usize..260
        )
            .prop_map(|(from, flips, cut)| Frame::Mutated { from, flips, cut }),
        (0..N, 0..N, 0u64..3, 40u64..44).prop_map(|(claims, signer, task_id, result)| {
            Frame::Forged {
                claims,
                signer,
                task_id,
                result,
            }
        }),
        (0..N).prop_map(Frame::Honest),
    ]
}

fn bytes_of(keys: &[SecretKey], f: &Frame) -> Vec<u8> {
    let enc = |r: Response| codec::encode(&Message::Response(r)).expect("encodable");
    match f {
        Frame::Bytes(b) => b.clone(),
        Frame::Mutated { from, flips, cut } => {
            let mut b = enc(signed(keys, *from, TASK, A + B));
            for (i, x) in flips {
                let n = b.len();
                b[i % n] ^= x;
            }
            b.truncate(*cut);
            b
        }
        Frame::Forged {
            claims,
            signer,
            task_id,
            result,
        } => {
            let mut r = signed(keys, *signer, *task_id, *result);
            r.operator = op(*claims);
            enc(r)
        }
        Frame::Honest(i) => enc(signed(keys, *i, TASK, A + B)),
    }
}

/// Whether `r` carries the claimed operator's own valid signature over its (task, result).
fn authentic(pks: &[PublicKey], r: &Response) -> bool {
    let Some(i) = (0..N).find(|&i| op(i) == r.operator) else {
        return false;
    };
    Signature::from_bytes(&r.signature)
        .and_then(|s| pks[i].verify(&r.digest(), &s))
        .is_ok()
}

fn verifies(
    pks: &[PublicKey],
    who: Address,
    task_id: u64,
    response: &[u8],
    sig: &Signature,
) -> bool {
    (0..N).find(|&i| op(i) == who).is_some_and(|i| {
        pks[i]
            .verify(&exoavs::avs::response_digest(task_id, response), sig)
            .is_ok()
    })
}

proptest! {
    // Explicit count, but PROPTEST_CASES still wins for long runs (a literal `cases` would not).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn garbage_on_the_wire_never_counts_nor_frames_anyone(
        stakes in prop::collection::vec(1u128..1_000, N),
        threshold in 1u8..=100,
        frames in prop::collection::vec(frame(), 0..24),
    ) {
        let keys = keys();
        let pks: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let snapshot: Vec<TaskOperator> = (0..N)
            .map(|i| TaskOperator { operator: op(i), stake: stakes[i], pubkey: Some(pks[i]) })
            .collect();
        // No linger window: the properties are about what is submitted, at the threshold.
        let mut agg = Aggregator::new(AggregatorConfig { linger_ms: 0, ..AggregatorConfig::default() });
        let now = 11;
        agg.handle(now, AggregatorInput::TaskCreated { task: task(threshold), snapshot: snapshot.clone() });

        // Garbage and some honest responses, then every operator's honest response and a tick:
        // the task's whole stake signs, so the quorum must be reached whatever came before.
        let mut all: Vec<Frame> = frames;
        all.extend((0..N).map(Frame::Honest));
        let mut honest_senders = BTreeSet::new();
        let mut first_signed = BTreeSet::new();
        let mut spoiled = BTreeSet::new();
        let mut submissions = Vec::new();
        let mut outputs = Vec::new();
        for f in &all {
            let bytes = bytes_of(&keys, f);
            let Ok(Message::Response(r)) = codec::decode(&bytes) else { continue };
            // What decodes re-encodes to the very same bytes: one reading per frame.
            prop_assert_eq!(codec::encode(&Message::Response(r.clone())).expect("encode"), bytes);
            if authentic(&pks, &r) && r.task_id == TASK && first_signed.insert(r.operator) {
                // An operator's first own signature for the task decides: over a wrong sum, its
                // correct answer can never count (it would be equivocating).
                if r.sum() == Some(A + B) {
                    honest_senders.insert(r.operator);
                } else {
                    spoiled.insert(r.operator);
                }
            }
            outputs.extend(agg.handle(now, AggregatorInput::Response(r)));
        }
        outputs.extend(agg.handle(now, AggregatorInput::Tick));

        for a in &outputs {
            match a {
                AggregatorAction::Submit(s) => submissions.push(s.clone()),
                AggregatorAction::Equivocation(e) => {
                    prop_assert!(verifies(&pks, e.operator, e.task_id, &e.first.0, &e.first.1), "forged equivocation evidence {e:?}");
                    prop_assert!(verifies(&pks, e.operator, e.task_id, &e.second.0, &e.second.1), "forged equivocation evidence {e:?}");
                }
                AggregatorAction::ProvablyWrong { task_id, operator, response, signature } => {
                    prop_assert!(verifies(&pks, *operator, *task_id, response, signature), "forged provably-wrong evidence against {operator}");
                }
                _ => {}
            }
        }
        // Every operator that did not sign a wrong sum first ends up signing the right one.
        let able: u128 = snapshot.iter().filter(|m| !spoiled.contains(&m.operator)).map(|m| m.stake).sum();
        let total_stake: u128 = stakes.iter().sum();
        let expected = quorum_reached(threshold, alloy::primitives::U256::from(able), alloy::primitives::U256::from(total_stake)) == Ok(true);
        if !expected {
            prop_assert!(submissions.is_empty(), "submitted without the stake of {spoiled:?}");
            return Ok(());
        }
        prop_assert_eq!(submissions.len(), 1, "exactly one submission once every operator signed");
        let s = &submissions[0];
        prop_assert_eq!(s.task_id, TASK);
        prop_assert_eq!(&s.response, &exoavs::avs::SumAvs::response_bytes(A + B));
        let signers: BTreeSet<Address> = s.signers.iter().copied().collect();
        prop_assert!(signers.is_subset(&honest_senders), "signers {signers:?} beyond honest senders {honest_senders:?}");
        let apk = s.aggregate_pubkey.to_public_key().expect("non-empty aggregate");
        prop_assert!(apk.verify(&task_response_digest(TASK, A + B), &s.aggregate_signature).is_ok());
        let signed_stake: u128 = snapshot.iter().filter(|m| signers.contains(&m.operator)).map(|m| m.stake).sum();
        let total: u128 = stakes.iter().sum();
        prop_assert_eq!(
            quorum_reached(threshold, alloy::primitives::U256::from(signed_stake), alloy::primitives::U256::from(total)),
            Ok(true)
        );
    }
}
