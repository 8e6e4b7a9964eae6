use super::*;
use alloy_primitives::Address;
use proptest::prelude::*;

fn u(x: u128) -> U256 {
    U256::from(x)
}

fn snapshot(stakes: &[u128]) -> Vec<TaskOperator> {
    stakes
        .iter()
        .enumerate()
        .map(|(i, s)| TaskOperator {
            operator: Address::with_last_byte(i as u8 + 1),
            stake: *s,
            pubkey: None,
        })
        .collect()
}

#[test]
fn boundaries() {
    assert_eq!(quorum_reached(67, u(67), u(100)), Ok(true));
    assert_eq!(quorum_reached(67, u(66), u(100)), Ok(false));
    assert_eq!(quorum_reached(100, u(100), u(100)), Ok(true));
    assert_eq!(quorum_reached(100, u(99), u(100)), Ok(false));
    assert_eq!(quorum_reached(1, u(1), u(100)), Ok(true));
    // 2 of 3 equal stakes is 66.66…%: meets 66, misses 67.
    assert_eq!(quorum_reached(66, u(2), u(3)), Ok(true));
    assert_eq!(quorum_reached(67, u(2), u(3)), Ok(false));
    assert_eq!(
        quorum_reached(0, u(1), u(1)),
        Err(QuorumError::InvalidThreshold(0))
    );
    assert_eq!(
        quorum_reached(101, u(1), u(1)),
        Err(QuorumError::InvalidThreshold(101))
    );
    assert_eq!(
        quorum_reached(255, u(1), u(1)),
        Err(QuorumError::InvalidThreshold(255))
    );
    // Zero total stake: nothing can be signed, and zero signed never passes.
    assert_eq!(quorum_reached(50, U256::ZERO, U256::ZERO), Ok(false));
    assert!(matches!(
        quorum_reached(50, u(2), u(1)),
        Err(QuorumError::SignedAboveTotal { .. })
    ));
    // Near the limits of the per-operator type and of uint256.
    assert_eq!(quorum_reached(100, u(u128::MAX), u(u128::MAX)), Ok(true));
    assert_eq!(
        quorum_reached(50, U256::MAX / u(100), U256::MAX / u(100)),
        Ok(true)
    );
    assert_eq!(
        quorum_reached(50, U256::MAX, U256::MAX),
        Err(QuorumError::Overflow)
    );
    // Zero signed stake rejects before any multiplication, as the contract's `signedStake != 0 && …`
    // does (regression found by tests/differential_quorum.rs: Rust used to report Overflow here).
    assert_eq!(quorum_reached(33, U256::ZERO, U256::MAX), Ok(false));
}

#[test]
fn signed_stake_rejects_duplicates_and_strangers() {
    let snap = snapshot(&[10, 20, 30]);
    let a = snap[0].operator;
    let b = snap[1].operator;
    assert_eq!(signed_stake(&snap, &[a, b]), Ok(u(30)));
    assert_eq!(
        signed_stake(&snap, &[a, a]),
        Err(QuorumError::DuplicateSigner(a))
    );
    let stranger = Address::with_last_byte(0xee);
    assert_eq!(
        signed_stake(&snap, &[stranger]),
        Err(QuorumError::UnknownSigner(stranger))
    );
    assert_eq!(total_stake(&snap), u(60));
}

#[test]
fn actual_threshold_rounds_down() {
    assert_eq!(actual_threshold(u(2), u(3)), 66);
    assert_eq!(actual_threshold(u(3), u(3)), 100);
    assert_eq!(actual_threshold(u(0), u(0)), 0);
    assert_eq!(actual_threshold(u(u128::MAX), u(u128::MAX)), 100);
}

fn stake() -> impl Strategy<Value = u128> {
    prop_oneof![
        Just(0u128),
        Just(1u128),
        1u128..1_000,
        any::<u64>().prop_map(u128::from),
        (u128::MAX - 1000)..=u128::MAX,
        any::<u128>(),
    ]
}

fn threshold() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(1u8),
        Just(50),
        Just(66),
        Just(67),
        Just(99),
        Just(100),
        1u8..=100
    ]
}

proptest! {
    /// The smallest signed stake meeting the threshold is accepted and one unit less is not.
    #[test]
    fn exactly_at_threshold_accepts_one_below_rejects(total in 1u128..=u128::MAX, t in threshold()) {
        let total = u(total);
        // ceil(t * total / 100), computed independently of the rule under test.
        let min = (U256::from(t) * total + u(99)) / u(100);
        prop_assert_eq!(quorum_reached(t, min, total), Ok(true));
        if min > U256::ZERO {
            prop_assert_eq!(quorum_reached(t, min - u(1), total), Ok(false));
        }
    }

    /// More signers never turn an accept into a reject.
    #[test]
    fn monotone_in_signers(stakes in prop::collection::vec(stake(), 1..12), t in threshold(), mask in any::<u16>(), extra in any::<u16>()) {
        let snap = snapshot(&stakes);
        let total = total_stake(&snap);
        let pick = |m: u16| -> Vec<Address> {
            snap.iter().enumerate().filter(|(i, _)| m & (1 << i) != 0).map(|(_, o)| o.operator).collect()
        };
        let small = pick(mask);
        let big = pick(mask | extra);
        let small_ok = quorum_reached(t, signed_stake(&snap, &small).unwrap(), total).unwrap();
        let big_ok = quorum_reached(t, signed_stake(&snap, &big).unwrap(), total).unwrap();
        prop_assert!(!small_ok || big_ok);
    }

    /// No panic and no overflow for any stakes near the limits; result equals a wide-integer oracle.
    #[test]
    fn matches_oracle_without_overflow(stakes in prop::collection::vec(stake(), 0..12), t in any::<u8>(), mask in any::<u16>()) {
        let snap = snapshot(&stakes);
        let total = total_stake(&snap);
        let signers: Vec<Address> = snap.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, o)| o.operator).collect();
        let signed = signed_stake(&snap, &signers).unwrap();
        let got = quorum_reached(t, signed, total);
        if !(1..=100).contains(&t) {
            prop_assert_eq!(got, Err(QuorumError::InvalidThreshold(t)));
        } else {
            // Oracle: compare fractions by cross-multiplying in 512 bits.
            let lhs = alloy_primitives::U512::from(signed) * alloy_primitives::U512::from(100u8);
            let rhs = alloy_primitives::U512::from(t) * alloy_primitives::U512::from(total);
            prop_assert_eq!(got, Ok(signed > U256::ZERO && lhs >= rhs));
        }
    }

    /// The decision does not depend on the order signers are listed in; duplicates are refused.
    #[test]
    fn order_independent_and_duplicates_rejected(stakes in prop::collection::vec(stake(), 2..10), t in threshold(), seed in any::<u64>()) {
        let snap = snapshot(&stakes);
        let mut signers: Vec<Address> = snap.iter().map(|o| o.operator).collect();
        let total = total_stake(&snap);
        let fwd = quorum_reached(t, signed_stake(&snap, &signers).unwrap(), total);
        // Deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..signers.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            signers.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(fwd, quorum_reached(t, signed_stake(&snap, &signers).unwrap(), total));
        let dup = signers[0];
        signers.push(dup);
        prop_assert_eq!(signed_stake(&snap, &signers), Err(QuorumError::DuplicateSigner(dup)));
    }
}

proptest! {
    /// Equal weights: k of n signers pass iff k*100 >= t*n, whatever the common weight (1 up to
    /// u128::MAX), so the rule depends on counts alone.
    #[test]
    fn equal_weights_count_signers(n in 1usize..40, k_frac in 0.0f64..=1.0, w in prop_oneof![Just(1u128), 1u128..1_000_000, Just(u128::MAX), any::<u128>().prop_map(|x| x.max(1))], t in threshold()) {
        let k = ((n as f64) * k_frac).round() as usize;
        let snap = snapshot(&vec![w; n]);
        let signers: Vec<Address> = snap.iter().take(k).map(|o| o.operator).collect();
        let got = quorum_reached(t, signed_stake(&snap, &signers).unwrap(), total_stake(&snap)).unwrap();
        prop_assert_eq!(got, k > 0 && k * 100 >= t as usize * n);
    }

    /// Skewed weights: a whale holding at least t% passes alone; everyone but the whale passes iff
    /// their (tiny) share meets t.
    #[test]
    fn skewed_weights(whale in (u128::MAX / 4)..=(u128::MAX / 2), small in prop::collection::vec(0u128..1_000, 1..20), t in threshold()) {
        let mut stakes = vec![whale];
        stakes.extend(&small);
        let snap = snapshot(&stakes);
        let total = total_stake(&snap);
        let alone = quorum_reached(t, u(whale), total).unwrap();
        let rest: u128 = small.iter().sum();
        prop_assert_eq!(alone, U256::from(whale) * u(100) >= U256::from(t) * total);
        let without = quorum_reached(t, u(rest), total).unwrap();
        prop_assert_eq!(without, rest > 0 && U256::from(rest) * u(100) >= U256::from(t) * total);
        // The whale's share is ≥ 99.99…%, so with t ≤ 99 it always passes alone.
        if t <= 99 { prop_assert!(alone); }
    }
}
