use super::*;
use crate::crypto::bls::tests::{non_subgroup_g2, torsion_g2};
use crate::crypto::bls::{SecretKey, aggregate_signatures};
use crate::crypto::messages::task_response_digest;
use proptest::prelude::*;

fn setup(n: usize, digest: &[u8; 32]) -> (Vec<SecretKey>, Vec<(PublicKey, Signature)>) {
    let sks: Vec<SecretKey> = (0..n)
        .map(|i| {
            let mut ikm = [0u8; 32];
            ikm[..8].copy_from_slice(&(i as u64).to_le_bytes());
            SecretKey::from_ikm(&ikm).unwrap()
        })
        .collect();
    let items = sks
        .iter()
        .map(|sk| (sk.public_key(), sk.sign(digest)))
        .collect();
    (sks, items)
}

fn check_outcome(
    out: &AggregateOutcome,
    digest: &[u8; 32],
    items: &[(PublicKey, Signature)],
    bad: &[usize],
) {
    assert_eq!(out.invalid, bad);
    let expect_valid: Vec<usize> = (0..items.len()).filter(|i| !bad.contains(i)).collect();
    assert_eq!(out.valid, expect_valid);
    if expect_valid.is_empty() {
        assert!(out.signature.is_none() && out.public_key.is_none());
        return;
    }
    let apk = out.public_key.unwrap().to_public_key().unwrap();
    let sig = out.signature.unwrap();
    // The aggregate handed on must pass a full, independent check (subgroup included).
    apk.verify(digest, &sig).unwrap();
    let pks: Vec<PublicKey> = expect_valid.iter().map(|&i| items[i].0).collect();
    assert_eq!(apk, aggregate_public_keys(&pks).to_public_key().unwrap());
}

#[test]
fn all_honest_costs_one_pairing() {
    let d = task_response_digest(1, 42);
    let (_, items) = setup(64, &d);
    let out = verify_aggregate_digest(&d, &items);
    check_outcome(&out, &d, &items, &[]);
    assert_eq!(out.pairing_checks, 1);
}

#[test]
fn one_invalid_is_isolated_in_log_checks() {
    let d = task_response_digest(2, 5);
    let (sks, mut items) = setup(64, &d);
    items[37].1 = sks[37].sign(&task_response_digest(2, 6)); // signed another result
    let out = verify_aggregate_digest(&d, &items);
    check_outcome(&out, &d, &items, &[37]);
    // One pairing at the root and one per level for the left half; right halves are derived.
    assert_eq!(out.pairing_checks, 1 + 6);
}

#[test]
fn several_invalid_kinds() {
    let d = task_response_digest(3, 9);
    let (sks, mut items) = setup(40, &d);
    items[0].1 = sks[1].sign(&d); // someone else's signature
    items[5].1 = non_subgroup_g2(3); // outside the subgroup
    items[6].1 = aggregate_signatures(&[items[6].1, torsion_g2(4)]); // valid + torsion
    let mut inf = [0u8; 96];
    inf[0] = 0xc0;
    items[20].1 = Signature::from_bytes(&inf).unwrap(); // infinity
    items[39].1 = sks[39].sign(&[0u8; 32]); // other message
    let out = verify_aggregate_digest(&d, &items);
    check_outcome(&out, &d, &items, &[0, 5, 6, 20, 39]);
    // Naive path agrees.
    let naive = verify_each_then_aggregate(&PreparedMessage::new(&d), &items);
    assert_eq!(naive.valid, out.valid);
    assert_eq!(naive.invalid, out.invalid);
    assert_eq!(naive.signature, out.signature);
}

#[test]
fn single_torsion_component_never_passes() {
    // The soundness argument in the module doc: a lone signature with a torsion part can never
    // ride along in an otherwise honest aggregate.
    let d = task_response_digest(4, 1);
    let (_, mut items) = setup(16, &d);
    for j in [0usize, 7, 15] {
        let orig = items[j].1;
        items[j].1 = aggregate_signatures(&[orig, torsion_g2(j as u8)]);
        let out = verify_aggregate_digest(&d, &items);
        check_outcome(&out, &d, &items, &[j]);
        items[j].1 = orig;
    }
}

#[test]
fn cancelling_torsion_between_colluders_yields_the_honest_aggregate() {
    // Two colluders add +T and -T: individually invalid, together their sum is exactly the sum
    // of their real signatures, which is a valid G2 aggregate. We accept them (as aggregate
    // verification must); the aggregate we output equals the honest one and is in G2.
    let d = task_response_digest(5, 1);
    let (_, items) = setup(8, &d);
    let honest = aggregate_signatures(&items.iter().map(|x| x.1).collect::<Vec<_>>());
    let t = torsion_g2(9);
    let mut neg_t = t;
    unsafe {
        let mut p = blst::blst_p2::default();
        blst::blst_p2_from_affine(&mut p, &t.point);
        blst::blst_p2_cneg(&mut p, true);
        blst::blst_p2_to_affine(&mut neg_t.point, &p);
    }
    let mut evil = items.clone();
    evil[2].1 = aggregate_signatures(&[items[2].1, t]);
    evil[3].1 = aggregate_signatures(&[items[3].1, neg_t]);
    assert!(!evil[2].1.in_subgroup() && !evil[3].1.in_subgroup());
    let out = verify_aggregate_digest(&d, &evil);
    assert_eq!(out.invalid, Vec::<usize>::new());
    let sig = out.signature.unwrap();
    assert!(sig.in_subgroup());
    assert_eq!(sig, honest);
}

#[test]
fn everything_invalid_and_empty() {
    let d = task_response_digest(6, 1);
    let (_, items) = setup(9, &d);
    let wrong: Vec<(PublicKey, Signature)> =
        items.iter().map(|(pk, _)| (*pk, items[0].1)).collect();
    let out = verify_aggregate_digest(&d, &wrong);
    check_outcome(&out, &d, &wrong, &[1, 2, 3, 4, 5, 6, 7, 8]);
    let out = verify_aggregate_digest(&d, &[]);
    assert!(out.valid.is_empty() && out.invalid.is_empty() && out.signature.is_none());
    assert_eq!(out.pairing_checks, 0);
}

#[test]
fn apk_cache_minus_non_signers() {
    let d = task_response_digest(7, 1);
    let (_, items) = setup(20, &d);
    let pks: Vec<PublicKey> = items.iter().map(|x| x.0).collect();
    let mut cache = ApkCache::new(&pks);
    assert_eq!(cache.len(), 20);
    let non = [pks[3], pks[11], pks[19]];
    let signers: Vec<PublicKey> = pks
        .iter()
        .enumerate()
        .filter(|(i, _)| ![3, 11, 19].contains(i))
        .map(|(_, p)| *p)
        .collect();
    assert_eq!(cache.minus(&non), aggregate_public_keys(&signers));
    assert_eq!(cache.minus(&[]), cache.total());
    cache.remove(&pks[0]);
    assert_eq!(cache.total(), aggregate_public_keys(&pks[1..]));
    cache.insert(&pks[0]);
    assert_eq!(cache.total(), aggregate_public_keys(&pks));
}

proptest! {
    // PROPTEST_CASES raises the count for long runs; the default keeps `cargo test` fast.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(16)
    ))]

    /// Whatever subset is corrupted, the fast path finds exactly it and agrees with the naive
    /// path, and its aggregate verifies on its own.
    #[test]
    fn prop_bisection_finds_exactly_the_bad(n in 1usize..24, bad_mask in any::<u32>(), kind in 0u8..3) {
        let d = task_response_digest(8, n as u64);
        let (sks, mut items) = setup(n, &d);
        let bad: Vec<usize> = (0..n).filter(|i| bad_mask & (1 << i) != 0).collect();
        for &i in &bad {
            items[i].1 = match kind {
                0 => sks[i].sign(&task_response_digest(8, 1000)),
                1 => non_subgroup_g2(i as u8),
                _ => aggregate_signatures(&[items[i].1, torsion_g2(i as u8)]),
            };
        }
        let out = verify_aggregate_digest(&d, &items);
        check_outcome(&out, &d, &items, &bad);
        let naive = verify_each_then_aggregate(&PreparedMessage::new(&d), &items);
        prop_assert_eq!(naive.valid, out.valid);
        prop_assert_eq!(naive.signature, out.signature);
    }
}

#[test]
fn rlc_batch_accepts_honest_rejects_any_bad() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let d = task_response_digest(9, 1);
    let (sks, mut items) = setup(33, &d);
    let prepared = PreparedMessage::new(&d);
    assert!(batch_verify_rlc(&prepared, &items, &mut rng));
    assert!(batch_verify_rlc(&prepared, &items[..1], &mut rng));
    items[4].1 = sks[4].sign(&[0u8; 32]);
    assert!(!batch_verify_rlc(&prepared, &items, &mut rng));
    items[4].1 = aggregate_signatures(&[sks[4].sign(&d), torsion_g2(1)]);
    assert!(!batch_verify_rlc(&prepared, &items, &mut rng));
    assert!(!batch_verify_rlc(&prepared, &[], &mut rng));
}
