use super::*;
use crate::crypto::messages::{decode_task_response, task_response_bytes, task_response_digest};
use proptest::prelude::*;
use rand::SeedableRng;

proptest! {
    /// The fixed convention reproduces today's sum message byte for byte, so nothing on chain or
    /// in Imua compatibility changes for the sum.
    #[test]
    fn sum_signed_bytes_are_the_imua_message(task_id: u64, sum: u64) {
        let bytes = signed_bytes(task_id, &SumAvs::response_bytes(sum));
        prop_assert_eq!(&bytes[..], &task_response_bytes(task_id, sum)[..]);
        prop_assert_eq!(decode_task_response(&bytes).unwrap(), (task_id, sum));
        prop_assert_eq!(
            response_digest(task_id, &SumAvs::response_bytes(sum)),
            task_response_digest(task_id, sum)
        );
    }

    #[test]
    fn sum_codecs_round_trip(a: u64, b: u64, sum: u64) {
        let avs = SumAvs::default();
        let p = SumPayload { a, b };
        prop_assert_eq!(avs.decode_payload(&avs.encode_payload(&p)).unwrap(), p);
        prop_assert_eq!(avs.decode_response(&avs.encode_response(&sum)).unwrap(), sum);
        prop_assert_eq!(avs.is_provably_wrong(&p, &sum), a.checked_add(b) != Some(sum));
        // The right sum is never provably wrong (random `sum` almost never is the right one).
        if let Some(right) = a.checked_add(b) {
            prop_assert!(!avs.is_provably_wrong(&p, &right));
        }
    }

    /// Untrusted bytes never panic and decode only when they re-encode to themselves.
    #[test]
    fn sum_decoders_are_strict(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let avs = SumAvs::default();
        if let Ok(p) = avs.decode_payload(&bytes) {
            prop_assert_eq!(avs.encode_payload(&p), bytes.clone());
        }
        if let Ok(r) = avs.decode_response(&bytes) {
            prop_assert_eq!(avs.encode_response(&r), bytes);
        }
    }
}

#[test]
fn dirty_high_bytes_are_refused() {
    let avs = SumAvs::default();
    let mut r = SumAvs::response_bytes(5);
    r[0] = 1;
    assert!(matches!(
        avs.decode_response(&r),
        Err(CodecError::Abi { len: 32, .. })
    ));
    let mut p = avs.encode_payload(&SumPayload { a: 1, b: 2 });
    p[32] = 1;
    assert!(avs.decode_payload(&p).is_err());
    assert!(matches!(
        avs.decode_response(&[0u8; 31]),
        Err(CodecError::Invalid { .. })
    ));
}

#[test]
fn sum_compute_refuses_overflow_and_generator_stays_in_bounds() {
    let mut avs = SumAvs { max_addend: 10 };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut ctx = ComputeCtx {
        operator: OperatorId::ZERO,
        task_id: 1,
        now: 0,
        rng: &mut rng,
    };
    assert_eq!(avs.compute(&SumPayload { a: 2, b: 3 }, &mut ctx), Some(5));
    assert_eq!(
        avs.compute(&SumPayload { a: u64::MAX, b: 1 }, &mut ctx),
        None
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for _ in 0..100 {
        let p = avs.next_payload(&mut rng);
        assert!(p.a <= 10 && p.b <= 10);
    }
}

#[test]
fn reward_rule_defaults_to_signing_the_accepted_digest() {
    let avs = SumAvs::default();
    let x = response_digest(1, &SumAvs::response_bytes(3));
    let y = response_digest(1, &SumAvs::response_bytes(4));
    assert!(avs.earns_reward(&x, Some(&x)));
    assert!(!avs.earns_reward(&x, Some(&y)));
    assert!(!avs.earns_reward(&x, None));
}

/// An AVS that names no slashing condition: nothing it signs is provably wrong, so nothing of
/// it is ever slashed (slash only what is provable).
#[test]
fn without_a_slashing_condition_nothing_is_provably_wrong() {
    struct Echo;
    impl Avs for Echo {
        type Payload = u64;
        type Response = u64;
        fn encode_payload(&self, p: &u64) -> Vec<u8> {
            p.abi_encode()
        }
        fn decode_payload(&self, bytes: &[u8]) -> Result<u64, CodecError> {
            u64::abi_decode_validate(bytes).map_err(|e| CodecError::abi("echo payload", bytes, e))
        }
        fn encode_response(&self, r: &u64) -> Vec<u8> {
            r.abi_encode()
        }
        fn decode_response(&self, bytes: &[u8]) -> Result<u64, CodecError> {
            u64::abi_decode_validate(bytes).map_err(|e| CodecError::abi("echo response", bytes, e))
        }
        fn compute(&self, p: &u64, _ctx: &mut ComputeCtx<'_>) -> Option<u64> {
            Some(*p)
        }
        fn next_payload(&mut self, rng: &mut dyn rand::RngCore) -> u64 {
            rng.next_u64()
        }
    }
    let avs = Echo;
    assert!(!avs.is_provably_wrong(&1, &2));
    assert!(!avs.is_provably_wrong(&1, &1));
}
