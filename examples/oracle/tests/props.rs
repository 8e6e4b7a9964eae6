//! The oracle's logic against its contract's conventions: codecs that equal Solidity's ABI and
//! refuse what the contract's `abi.decode` refuses, honest answers that always pass the
//! example's invariant, the slashing condition equal to the contract's rule, and (with
//! `--features planted-bugs`) a rounding bug that the invariant catches although the contract
//! accepts it.

use alloy::primitives::{Address, B256, FixedBytes, keccak256};
use alloy::sol_types::SolValue;
use exoavs::app::AvsApp;
use exoavs_core::avs::{Avs, ComputeCtx, response_digest};
use exoavs_oracle::{
    ACCEPT_BOUND, ASSETS, DECIMALS, OracleAvs, OraclePayload, OracleResponse, REFERENCE_MIN,
    REFERENCE_SPAN, TICK, TIMESTAMP_BASE, TIMESTAMP_SPAN, asset, check_accepted, reference_price,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn answer(avs: &OracleAvs, p: &OraclePayload, seed: u64) -> OracleResponse {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ctx = ComputeCtx {
        operator: Address::ZERO,
        task_id: 1,
        now: 0,
        rng: &mut rng,
    };
    avs.compute(p, &mut ctx)
        .expect("an honest oracle always answers")
}

fn nonzero_asset() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>().prop_filter("the zero asset", |a| a.iter().any(|b| *b != 0))
}

fn payload() -> impl Strategy<Value = OraclePayload> {
    (nonzero_asset(), any::<u64>())
        .prop_map(|(asset, timestamp)| OraclePayload { asset, timestamp })
}

/// What the contract's `followsRule` says.
fn rule(r: &OracleResponse) -> bool {
    r.decimals == 8 && r.price != 0 && r.price.is_multiple_of(1_000_000)
}

proptest! {
    #[test]
    fn codecs_round_trip(p in payload(), price: u128, decimals: u8) {
        let avs = OracleAvs::default();
        prop_assert_eq!(avs.decode_payload(&avs.encode_payload(&p)).unwrap(), p);
        let r = OracleResponse { price, decimals };
        prop_assert_eq!(avs.decode_response(&avs.encode_response(&r)).unwrap(), r);
        prop_assert_eq!(avs.encode_payload(&p).len(), 64);
        prop_assert_eq!(avs.encode_response(&r).len(), 64);
    }

    /// Untrusted bytes never panic and decode only when they re-encode to themselves.
    #[test]
    fn decoders_are_strict(bytes in proptest::collection::vec(any::<u8>(), 0..130)) {
        let avs = OracleAvs::default();
        if let Ok(p) = avs.decode_payload(&bytes) {
            prop_assert_eq!(avs.encode_payload(&p), bytes.clone());
            prop_assert!(p.asset != [0u8; 32]);
        }
        if let Ok(r) = avs.decode_response(&bytes) {
            prop_assert_eq!(avs.encode_response(&r), bytes);
        }
    }

    /// A valid encoding with one byte of a word's padding set is refused (the contract's
    /// `abi.decode` reverts on it), and so is any other length.
    #[test]
    fn dirty_padding_and_wrong_lengths_are_refused(
        p in payload(),
        price: u128,
        decimals: u8,
        pick in any::<prop::sample::Index>(),
        dirt in 1u8..,
        extra in 1usize..40,
    ) {
        let avs = OracleAvs::default();
        // Payload: word 1 (the uint64) has 24 bytes of padding.
        let mut pb = avs.encode_payload(&p);
        let i = 32 + pick.index(24);
        pb[i] = dirt;
        prop_assert!(avs.decode_payload(&pb).is_err());
        // Response: word 0 (uint128) has 16 bytes of padding, word 1 (uint8) has 31.
        let mut rb = avs.encode_response(&OracleResponse { price, decimals });
        let j = pick.index(16 + 31);
        let j = if j < 16 { j } else { 32 + (j - 16) };
        rb[j] = dirt;
        prop_assert!(avs.decode_response(&rb).is_err());

        let good = avs.encode_payload(&p);
        let mut longer = good.clone();
        longer.resize(64 + extra, 0);
        prop_assert!(avs.decode_payload(&longer).is_err());
        prop_assert!(avs.decode_payload(&good[..64 - extra.min(64)]).is_err());
        let good = avs.encode_response(&OracleResponse { price, decimals });
        let mut longer = good.clone();
        longer.resize(64 + extra, 0);
        prop_assert!(avs.decode_response(&longer).is_err());
        prop_assert!(avs.decode_response(&good[..64 - extra.min(64)]).is_err());
    }

    /// Whatever the operator's RNG, its answer follows the contract's rule and lies within
    /// ACCEPT_BOUND of the reference, so the example's invariant accepts it.
    #[test]
    fn honest_answers_are_on_the_grid_and_near_the_reference(p in payload(), seed: u64) {
        let avs = OracleAvs::default();
        let r = answer(&avs, &p, seed);
        let reference = reference_price(&p);
        prop_assert!((REFERENCE_MIN..REFERENCE_MIN + REFERENCE_SPAN).contains(&reference));
        prop_assert_eq!(r.decimals, DECIMALS);
        prop_assert!(r.price > 0 && r.price.is_multiple_of(TICK), "off the grid: {}", r.price);
        prop_assert!(r.price.abs_diff(reference) < ACCEPT_BOUND);
        prop_assert!(!avs.is_provably_wrong(&p, &r));
        let checked = check_accepted(&avs.encode_payload(&p), &avs.encode_response(&r));
        prop_assert!(checked.is_ok(), "{:?}", checked);
        // The answer is one of the two ticks around the reference.
        let below = reference / TICK * TICK;
        prop_assert!(r.price == below || r.price == below + TICK);
        // And the devnet's deliberately wrong response is one the contract proves wrong.
        let wrong = avs.wrong_response(&r).expect("a slashing condition exists");
        prop_assert!(avs.is_provably_wrong(&p, &wrong));
    }

    #[test]
    fn provably_wrong_is_the_contracts_rule(p in payload(), price: u128, decimals: u8, tick_mult in 0u128..1_000_000) {
        let avs = OracleAvs::default();
        for r in [
            OracleResponse { price, decimals },
            OracleResponse { price: tick_mult * TICK, decimals: 8 },
            OracleResponse { price: tick_mult * TICK, decimals },
        ] {
            prop_assert_eq!(avs.is_provably_wrong(&p, &r), !rule(&r), "{:?}", r);
            // check_accepted refuses every response that breaks the rule.
            if !rule(&r) {
                prop_assert!(check_accepted(&avs.encode_payload(&p), &avs.encode_response(&r)).is_err());
            }
        }
    }

    #[test]
    fn generated_tasks_are_valid_and_in_range(seed: u64) {
        let mut avs = OracleAvs::default();
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..8 {
            let p = avs.next_payload(&mut rng);
            prop_assert!(ASSETS.iter().any(|s| asset(s) == p.asset));
            prop_assert!((TIMESTAMP_BASE..TIMESTAMP_BASE + TIMESTAMP_SPAN).contains(&p.timestamp));
            prop_assert_eq!(avs.decode_payload(&avs.encode_payload(&p)).unwrap(), p);
        }
    }
}

/// The codecs are Solidity's `abi.encode` of the contract's types.
#[test]
fn encodings_equal_the_solidity_abi() {
    let avs = OracleAvs::default();
    let p = OraclePayload {
        asset: asset("ETH/USD"),
        timestamp: 1_700_000_000,
    };
    let mut sym = [0u8; 32];
    sym[..7].copy_from_slice(b"ETH/USD");
    let expected = (FixedBytes::<32>::from(sym), 1_700_000_000u64).abi_encode();
    assert_eq!(avs.encode_payload(&p), expected);
    // By hand: the symbol left-aligned in word 0, the timestamp right-aligned in word 1.
    assert_eq!(&expected[..7], b"ETH/USD");
    assert!(expected[7..56].iter().all(|b| *b == 0));
    assert_eq!(&expected[56..], &1_700_000_000u64.to_be_bytes());

    let r = OracleResponse {
        price: 314_159_000_000,
        decimals: 8,
    };
    let bytes = avs.encode_response(&r);
    let mut want = vec![0u8; 64];
    want[16..32].copy_from_slice(&314_159_000_000u128.to_be_bytes());
    want[63] = 8;
    assert_eq!(bytes, want);
    assert_eq!(
        (
            alloy::primitives::U256::from(314_159_000_000u128),
            alloy::primitives::U256::from(8u8)
        )
            .abi_encode(),
        want
    );
}

/// The digest operators BLS-sign is the contract's `priceMessage`:
/// `keccak256(abi.encodePacked(bytes32(uint256(taskId)), abi.encode(price, decimals)))`.
#[test]
fn signed_digest_is_the_contracts_price_message() {
    let avs = OracleAvs::default();
    for (task, price) in [(1u64, 314_159_000_000u128), (u64::MAX, 1), (7, u128::MAX)] {
        let response = avs.encode_response(&OracleResponse { price, decimals: 8 });
        let mut packed = B256::from(alloy::primitives::U256::from(task)).to_vec();
        packed.extend_from_slice(&response);
        assert_eq!(packed.len(), 96);
        assert_eq!(response_digest(task, &response), keccak256(&packed).0);
    }
}

#[test]
fn the_zero_asset_and_dirty_bytes_are_refused_with_a_reason() {
    let avs = OracleAvs::default();
    let zero = OraclePayload {
        asset: [0; 32],
        timestamp: 1,
    };
    let err = avs
        .decode_payload(&avs.encode_payload(&zero))
        .unwrap_err()
        .to_string();
    assert!(err.contains("zero"), "{err}");
    let mut r = avs.encode_response(&OracleResponse {
        price: 1,
        decimals: 8,
    });
    r[62] = 1;
    let err = avs.decode_response(&r).unwrap_err().to_string();
    assert!(err.contains("64 bytes"), "{err}");
}

#[test]
fn check_accepted_names_the_asset_reference_price_and_bound() {
    let avs = OracleAvs::default();
    let p = OraclePayload {
        asset: asset("BTC/USD"),
        timestamp: 1_700_000_123,
    };
    let reference = reference_price(&p);
    let far = (reference / TICK + 5) * TICK;
    let err = check_accepted(
        &avs.encode_payload(&p),
        &avs.encode_response(&OracleResponse {
            price: far,
            decimals: 8,
        }),
    )
    .unwrap_err();
    for part in [
        "BTC/USD @ 1700000123".to_owned(),
        reference.to_string(),
        far.to_string(),
        ACCEPT_BOUND.to_string(),
    ] {
        assert!(err.contains(&part), "{part:?} not in {err:?}");
    }
    assert!(
        check_accepted(
            &[0; 63],
            &avs.encode_response(&OracleResponse {
                price: far,
                decimals: 8
            })
        )
        .is_err()
    );
}

/// The reference is a pure function of the payload bytes (the same for everyone).
#[test]
fn reference_is_deterministic_and_depends_on_the_query() {
    let p = |s: &str, t| OraclePayload {
        asset: asset(s),
        timestamp: t,
    };
    assert_eq!(
        reference_price(&p("ETH/USD", 1_700_000_000)),
        reference_price(&p("ETH/USD", 1_700_000_000))
    );
    assert_ne!(
        reference_price(&p("ETH/USD", 1_700_000_000)),
        reference_price(&p("BTC/USD", 1_700_000_000))
    );
    assert_ne!(
        reference_price(&p("ETH/USD", 1_700_000_000)),
        reference_price(&p("ETH/USD", 1_700_000_001))
    );
}

/// The planted bug stays on the grid (the contract accepts it and cannot prove it wrong), but
/// the example's invariant catches it on a fixed input.
#[cfg(feature = "planted-bugs")]
#[test]
fn the_rounding_bug_is_caught_by_check_accepted() {
    let buggy = OracleAvs::with_rounding_bug();
    let honest = OracleAvs::default();
    let mut caught = None;
    for t in 0..1_000u64 {
        let p = OraclePayload {
            asset: asset("ETH/USD"),
            timestamp: TIMESTAMP_BASE + t,
        };
        let r = answer(&buggy, &p, t);
        assert!(rule(&r) && !buggy.is_provably_wrong(&p, &r), "{r:?}");
        assert!(
            check_accepted(
                &honest.encode_payload(&p),
                &honest.encode_response(&answer(&honest, &p, t))
            )
            .is_ok()
        );
        if let Err(e) = check_accepted(&buggy.encode_payload(&p), &buggy.encode_response(&r)) {
            caught = Some((t, e));
            break;
        }
    }
    let (t, e) = caught.expect("the rounding bug is caught within 1000 tasks");
    eprintln!("caught at timestamp offset {t}: {e}");
    assert!(e.contains("ETH/USD"), "{e}");
}
