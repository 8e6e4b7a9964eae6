//! Differential test: the Rust quorum decision (`exoavs::protocol::quorum`) and the contract's
//! (`contracts/src/Quorum.sol`, the library `AvsServiceContract.respondToTask` calls, with the
//! precompile's uint128 stake sums) agree on thousands of random cases, evaluated on a real Anvil
//! through the test-only `QuorumHarness` in a few batched `eth_call`s.
//!
//! Cases come from a seeded `StdRng`: `EXOAVS_DIFF_SEED` (default fixed) and `EXOAVS_DIFF_CASES`
//! (default 10000, half raw (signed, total, threshold) triples near uint256 limits, half operator
//! sets with weights zero/one/equal/skewed/near u128::MAX, keyless members, signer subsets exactly
//! at and one operator below the threshold). A mismatch prints the seed and the case.

use alloy::primitives::{Address, U256, U512};
use alloy::sol_types::SolCall;
use exoavs::devnet::anvil::{Anvil, AnvilOptions, contracts_dir};
use exoavs::protocol::quorum::{QuorumError, quorum_reached, signed_stake, total_stake};
use exoavs::protocol::types::TaskOperator;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

alloy::sol! {
    interface IQuorumHarness {
        function decideRaw(uint256[] signed, uint256[] total, uint8[] threshold) external view returns (uint8[] v);
        function decideWeighted(uint128[] stakes, uint256[] offsets, uint256[] keyless, uint256[] signers, uint8[] threshold) external view returns (uint8[] v);
    }
}

const REJECT: u8 = 0;
const ACCEPT: u8 = 1;
const BAD_THRESHOLD: u8 = 2;
const ARITH: u8 = 3;
const DEFAULT_SEED: u64 = 0x5eed_0005;
const HARNESS: Address = Address::new([0x5a; 20]);
/// Cases per eth_call: keeps each call well inside the RPC timeout and the gas cap below.
const BATCH: usize = 500;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not an integer")),
        Err(_) => default,
    }
}

/// Anvil with a huge block gas limit (batched eth_calls) and the harness's runtime code installed.
fn harness() -> Anvil {
    let anvil = Anvil::start(AnvilOptions {
        extra_args: vec!["--gas-limit".into(), "4000000000".into()],
        ..AnvilOptions::default()
    })
    .expect("anvil");
    let path = contracts_dir()
        .expect("contracts dir")
        .join("artifacts/QuorumHarness.json");
    let art: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("harness artifact"))
            .expect("artifact json");
    let code = art["deployedBytecode"].as_str().expect("deployedBytecode");
    anvil
        .rpc("anvil_setCode", json!([HARNESS.to_string(), code]))
        .expect("anvil_setCode");
    anvil
}

fn eth_call(anvil: &Anvil, data: Vec<u8>) -> Vec<u8> {
    let out = anvil
        .rpc(
            "eth_call",
            json!([{"to": HARNESS.to_string(), "data": format!("0x{}", hex::encode(data)), "gas": "0xee6b2800"}, "latest"]),
        )
        .expect("eth_call");
    hex::decode(out.as_str().expect("hex result").trim_start_matches("0x")).expect("hex")
}

fn verdict(r: Result<bool, QuorumError>) -> u8 {
    match r {
        Ok(true) => ACCEPT,
        Ok(false) => REJECT,
        Err(QuorumError::InvalidThreshold(_)) => BAD_THRESHOLD,
        Err(QuorumError::Overflow) => ARITH,
        // Unreachable from the generators (signed <= total, signers distinct members): make it loud.
        Err(e) => panic!("unexpected quorum error {e}"),
    }
}

fn threshold(rng: &mut StdRng) -> u8 {
    const PICKS: [u8; 11] = [0, 1, 2, 33, 50, 66, 67, 99, 100, 101, 255];
    match rng.gen_range(0..4) {
        0 => rng.r#gen(),
        1 => rng.gen_range(1..=100),
        _ => *PICKS.choose(rng).expect("non-empty"),
    }
}

fn u256(rng: &mut StdRng) -> U256 {
    U256::from_limbs(rng.r#gen())
}

/// The smallest signed stake meeting `t` percent of `total` (ceil(t*total/100)), computed in 512
/// bits independently of the rule under test; saturates to U256::MAX.
fn min_signed(t: u8, total: U256) -> U256 {
    let m = (U512::from(t) * U512::from(total) + U512::from(99u8)) / U512::from(100u8);
    if m > U512::from(U256::MAX) {
        U256::MAX
    } else {
        U256::from(m)
    }
}

#[derive(Debug)]
struct Raw {
    signed: U256,
    total: U256,
    t: u8,
}

fn raw_case(rng: &mut StdRng) -> Raw {
    let t = threshold(rng);
    let k = U256::from(rng.gen_range(0u64..1000));
    let total = match rng.gen_range(0..9) {
        0 => U256::ZERO,
        1 => U256::from(rng.gen_range(1u64..1000)),
        2 => U256::from(rng.r#gen::<u64>()),
        3 => U256::from(u128::MAX) - k,
        4 => U256::from(rng.r#gen::<u128>()),
        // Around the points where signed*100 and t*total start to overflow.
        5 => (U256::MAX / U256::from(100u8) - U256::from(500u16)).saturating_add(k),
        6 => (U256::MAX / U256::from(t.max(1)) - U256::from(500u16)).saturating_add(k),
        7 => U256::MAX - k,
        _ => u256(rng),
    };
    let min = min_signed(t, total);
    let pick = match rng.gen_range(0..7) {
        0 => U256::ZERO,
        1 => total,
        2 => min,
        3 => min.saturating_sub(U256::from(1u8)),
        4 => min.saturating_add(U256::from(1u8)),
        5 => U256::from(1u8),
        _ if total.is_zero() => U256::ZERO,
        _ => u256(rng) % total,
    };
    // Stakes come from uint128 sums on chain: signed never exceeds total.
    Raw {
        signed: pick.min(total),
        total,
        t,
    }
}

#[derive(Debug)]
struct Weighted {
    stakes: Vec<u128>,
    keyless: u64,
    signers: u64,
    t: u8,
}

fn weights(rng: &mut StdRng, n: usize) -> Vec<u128> {
    let equal: u128 = match rng.gen_range(0..4) {
        0 => 1,
        1 => rng.gen_range(1..1_000_000),
        2 => u128::MAX / (n.max(1) as u128),
        _ => rng.r#gen(),
    };
    let profile = rng.gen_range(0..7);
    (0..n)
        .map(|i| match profile {
            0 => 0,
            1 => 1,
            2 => equal,
            // Skewed: one whale, the rest tiny.
            3 if i == 0 => rng.gen_range(u128::MAX / 4..=u128::MAX / 2),
            3 => rng.gen_range(0..10),
            // Near the per-operator limit: the uint128 running sum may overflow (chain: set-up reverts).
            4 => u128::MAX - rng.gen_range(0..3),
            5 => rng.r#gen::<u64>() as u128,
            _ => match rng.gen_range(0..4) {
                0 => 0,
                1 => 1,
                2 => rng.gen_range(0..1000),
                _ => rng.gen_range(0..u128::MAX >> 8),
            },
        })
        .collect()
}

fn weighted_case(rng: &mut StdRng) -> Weighted {
    let n = match rng.gen_range(0..4) {
        0 => rng.gen_range(0..=3),
        1 => rng.gen_range(4..=16),
        _ => rng.gen_range(1..=64),
    };
    let stakes = weights(rng, n);
    let t = threshold(rng);
    let keyless = if rng.gen_bool(0.3) {
        rng.r#gen::<u64>() & rng.r#gen::<u64>() & mask(n)
    } else {
        0
    };
    let keyed: Vec<usize> = (0..n).filter(|j| keyless >> j & 1 == 0).collect();
    let signers = match rng.gen_range(0..5) {
        0 => rng.r#gen::<u64>() & mask(n),
        1 => mask(n),
        2 => 0,
        // Crossing point: signers added in random order until the threshold is first met (exactly
        // at / just above), or that set minus its last signer (just below).
        _ => {
            let total: U256 = stakes.iter().map(|s| U256::from(*s)).sum();
            let need = if (1..=100).contains(&t) {
                min_signed(t, total)
            } else {
                U256::ZERO
            };
            let mut order = keyed.clone();
            order.shuffle(rng);
            let (mut m, mut sum, mut last) = (0u64, U256::ZERO, None);
            for j in order {
                if sum >= need && sum > U256::ZERO {
                    break;
                }
                m |= 1 << j;
                sum += U256::from(stakes[j]);
                last = Some(j);
            }
            match (rng.gen_bool(0.5), last) {
                (true, Some(j)) => m & !(1 << j),
                _ => m,
            }
        }
    };
    Weighted {
        stakes,
        keyless,
        signers: signers & !keyless,
        t,
    }
}

fn mask(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// Rust's verdict on a weighted case, through the same functions the aggregator uses.
fn rust_weighted(c: &Weighted) -> u8 {
    let snapshot: Vec<TaskOperator> = c
        .stakes
        .iter()
        .enumerate()
        .map(|(j, s)| TaskOperator {
            operator: Address::with_last_byte(j as u8 + 1),
            stake: *s,
            // signed_stake only reads stakes; keylessness is carried by the signer set below.
            pubkey: None,
        })
        .collect();
    let signers: Vec<Address> = snapshot
        .iter()
        .enumerate()
        .filter(|(j, _)| c.signers >> j & 1 == 1)
        .map(|(_, o)| o.operator)
        .collect();
    let total = total_stake(&snapshot);
    let signed = signed_stake(&snapshot, &signers).expect("distinct members");
    if !(1..=100).contains(&c.t) {
        return verdict(quorum_reached(c.t, signed, total));
    }
    // The precompile keeps opted-in stake as a uint128 running sum: a set whose total does not fit
    // cannot exist on chain (setOperatorStake reverts), and the harness reverts the same way.
    if total > U256::from(u128::MAX) {
        return ARITH;
    }
    verdict(quorum_reached(c.t, signed, total))
}

fn fail(seed: u64, what: &str, i: usize, case: &dyn std::fmt::Debug, rust: u8, chain: u8) -> ! {
    panic!(
        "{what} case {i} differs: rust verdict {rust}, contract verdict {chain} (0 reject, 1 accept, \
         2 bad threshold, 3 overflow)\n  case: {case:?}\n  repro: EXOAVS_DIFF_SEED={seed} \
         cargo test -p exoavs --test differential_quorum"
    )
}

#[test]
fn rust_and_contract_quorum_agree() {
    let seed = env_u64("EXOAVS_DIFF_SEED", DEFAULT_SEED);
    let cases = env_u64("EXOAVS_DIFF_CASES", 10_000) as usize;
    eprintln!(
        "differential_quorum: seed {seed}, {cases} cases (EXOAVS_DIFF_SEED / EXOAVS_DIFF_CASES)"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let anvil = harness();
    let started = std::time::Instant::now();

    let raw: Vec<Raw> = (0..cases / 2).map(|_| raw_case(&mut rng)).collect();
    let mut seen = [0usize; 4];
    for (b, chunk) in raw.chunks(BATCH).enumerate() {
        let call = IQuorumHarness::decideRawCall {
            signed: chunk.iter().map(|c| c.signed).collect(),
            total: chunk.iter().map(|c| c.total).collect(),
            threshold: chunk.iter().map(|c| c.t).collect(),
        };
        let got =
            IQuorumHarness::decideRawCall::abi_decode_returns(&eth_call(&anvil, call.abi_encode()))
                .expect("decode verdicts");
        assert_eq!(got.len(), chunk.len());
        for (k, (c, chain)) in chunk.iter().zip(got).enumerate() {
            let rust = verdict(quorum_reached(c.t, c.signed, c.total));
            if rust != chain {
                fail(seed, "raw", b * BATCH + k, c, rust, chain);
            }
            seen[rust as usize] += 1;
        }
    }

    let weighted: Vec<Weighted> = (0..cases - cases / 2)
        .map(|_| weighted_case(&mut rng))
        .collect();
    for (b, chunk) in weighted.chunks(BATCH).enumerate() {
        let mut offsets = vec![U256::ZERO];
        let mut stakes = Vec::new();
        for c in chunk {
            stakes.extend_from_slice(&c.stakes);
            offsets.push(U256::from(stakes.len()));
        }
        let call = IQuorumHarness::decideWeightedCall {
            stakes,
            offsets,
            keyless: chunk.iter().map(|c| U256::from(c.keyless)).collect(),
            signers: chunk.iter().map(|c| U256::from(c.signers)).collect(),
            threshold: chunk.iter().map(|c| c.t).collect(),
        };
        let got = IQuorumHarness::decideWeightedCall::abi_decode_returns(&eth_call(
            &anvil,
            call.abi_encode(),
        ))
        .expect("decode verdicts");
        assert_eq!(got.len(), chunk.len());
        for (k, (c, chain)) in chunk.iter().zip(got).enumerate() {
            let rust = rust_weighted(c);
            if rust != chain {
                fail(seed, "weighted", b * BATCH + k, c, rust, chain);
            }
            seen[rust as usize] += 1;
        }
    }
    eprintln!(
        "differential_quorum: {cases} cases agree in {:.1?} (reject {}, accept {}, bad threshold {}, overflow {})",
        started.elapsed(),
        seen[0],
        seen[1],
        seen[2],
        seen[3]
    );
    // The generators must reach every verdict, or the comparison proves little.
    if cases >= 1000 {
        assert!(
            seen.iter().all(|&n| n > cases / 100),
            "verdict mix too thin: {seen:?}"
        );
    }
}
