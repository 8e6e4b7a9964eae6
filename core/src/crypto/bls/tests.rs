use super::*;
use alloy_primitives::address;
use blst::{blst_p2_from_affine, blst_p2_mult};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(char::is_whitespace, "")).unwrap()
}

// EIP-2537 vectors (ethereum/bls12-381-tests, eip-2537 branch: add_G1_bls.json "bls_g1add_g1+p1",
// add_G2_bls.json "bls_g2add_g2+p2", "bls_g2add_g2_wrong_order+g2", fail-msm_G1_bls.json
// "bls_g1msm_g1_not_in_correct_subgroup").
const G1: &str = "0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb\
                  0000000000000000000000000000000008b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1";
const P1: &str = "00000000000000000000000000000000112b98340eee2777cc3c14163dea3ec97977ac3dc5c70da32e6e87578f44912e902ccef9efe28d4a78b8999dfbca9426\
                  00000000000000000000000000000000186b28d92356c4dfec4b5201ad099dbdede3781f8998ddf929b4cd7756192185ca7b8f4ef7088f813270ac3d48868a21";
const G1_PLUS_P1: &str = "000000000000000000000000000000000a40300ce2dec9888b60690e9a41d3004fda4886854573974fab73b046d3147ba5b7a5bde85279ffede1b45b3918d82d\
                          0000000000000000000000000000000006d3d887e9f53b9ec4eb6cedf5607226754b07c01ace7834f57f3e7315faefb739e59018e22c492006190fba4a870025";
const G1_NOT_IN_SUBGROUP: &str = "000000000000000000000000000000000123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
                                  00000000000000000000000000000000193fb7cedb32b2c3adc06ec11a96bc0d661869316f5e4a577a9f7c179593987beb4fb2ee424dbb2f5dd891e228b46c4a";
const G2: &str = "00000000000000000000000000000000024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8\
                  0000000000000000000000000000000013e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e\
                  000000000000000000000000000000000ce5d527727d6e118cc9cdc6da2e351aadfd9baa8cbdd3a76d429a695160d12c923ac9cc3baca289e193548608b82801\
                  000000000000000000000000000000000606c4a02ea734cc32acd2b02bc28b99cb3e287e85a763af267492ab572e99ab3f370d275cec1da1aaa9075ff05f79be";
const P2: &str = "00000000000000000000000000000000103121a2ceaae586d240843a398967325f8eb5a93e8fea99b62b9f88d8556c80dd726a4b30e84a36eeabaf3592937f27\
                  00000000000000000000000000000000086b990f3da2aeac0a36143b7d7c824428215140db1bb859338764cb58458f081d92664f9053b50b3fbd2e4723121b68\
                  000000000000000000000000000000000f9e7ba9a86a8f7624aa2b42dcc8772e1af4ae115685e60abc2c9b90242167acef3d0be4050bf935eed7c3b6fc7ba77e\
                  000000000000000000000000000000000d22c3652d0dc6f0fc9316e14268477c2049ef772e852108d269d9c38dba1d4802e8dae479818184c08f9a569d878451";
const G2_PLUS_P2: &str = "000000000000000000000000000000000b54a8a7b08bd6827ed9a797de216b8c9057b3a9ca93e2f88e7f04f19accc42da90d883632b9ca4dc38d013f71ede4db\
                          00000000000000000000000000000000077eba4eecf0bd764dce8ed5f45040dd8f3b3427cb35230509482c14651713282946306247866dfe39a8e33016fcbe52\
                          0000000000000000000000000000000014e60a76a29ef85cbd69f251b9f29147b67cfe3ed2823d3f9776b3a0efd2731941d47436dc6d2b58d9e65f8438bad073\
                          000000000000000000000000000000001586c3c910d95754fef7a732df78e279c3d37431c6a2b77e67a00c7c130a8fcd4d19f159cbeb997a178108fffffcbd20";
const G2_WRONG_ORDER: &str = "00000000000000000000000000000000197bfd0342bbc8bee2beced2f173e1a87be576379b343e93232d6cef98d84b1d696e5612ff283ce2cfdccb2cfb65fa0c\
                              00000000000000000000000000000000184e811f55e6f9d84d77d2f79102fd7ea7422f4759df5bf7f6331d550245e3f1bcf6a30e3b29110d85e0ca16f9f6ae7a\
                              000000000000000000000000000000000f10e1eb3c1e53d2ad9cf2d398b2dc22c5842fab0a74b174f691a7e914975da3564d835cd7d2982815b8ac57f507348f\
                              000000000000000000000000000000000767d1c453890f1b9110fda82f5815c27281aba3f026ee868e4176a0654feea41a96575e0c4d58a14dbfbcc05b5010b1";
/// BLS12-381 field modulus p, big-endian.
const P_HEX: &str = "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab";

fn key(i: u8) -> SecretKey {
    SecretKey::from_ikm(&[i; 32]).unwrap()
}

#[test]
fn eip2537_generators_round_trip() {
    let g1 = PublicKey::from_eip2537(&h(G1)).unwrap();
    assert_eq!(g1.to_eip2537().to_vec(), h(G1));
    let g2 = Signature::from_eip2537(&h(G2)).unwrap();
    assert!(g2.in_subgroup());
    assert_eq!(g2.to_eip2537().to_vec(), h(G2));
    // The G1 generator is blst's.
    let mut gen_bytes = [0u8; 48];
    unsafe {
        blst::blst_p1_affine_compress(gen_bytes.as_mut_ptr(), blst::blst_p1_affine_generator())
    };
    assert_eq!(g1.to_bytes(), gen_bytes);
}

#[test]
fn eip2537_add_vectors_match() {
    let a = PublicKey::from_eip2537(&h(G1)).unwrap();
    let b = PublicKey::from_eip2537(&h(P1)).unwrap();
    assert_eq!(
        aggregate_public_keys(&[a, b]).to_eip2537().to_vec(),
        h(G1_PLUS_P1)
    );
    let a = Signature::from_eip2537(&h(G2)).unwrap();
    let b = Signature::from_eip2537(&h(P2)).unwrap();
    assert_eq!(
        aggregate_signatures(&[a, b]).to_eip2537().to_vec(),
        h(G2_PLUS_P2)
    );
}

#[test]
fn eip2537_rejects_bad_inputs() {
    // Wrong length.
    assert!(matches!(
        PublicKey::from_eip2537(&h(G1)[..127]),
        Err(BlsError::InvalidLength { .. })
    ));
    assert!(matches!(
        Signature::from_eip2537(&h(G2)[1..]),
        Err(BlsError::InvalidLength { .. })
    ));
    // Non-zero padding ("violate top bytes").
    let mut bad = h(G2);
    bad[0] = 0x10;
    assert_eq!(Signature::from_eip2537(&bad), Err(BlsError::NotCanonical));
    let mut bad = h(G1);
    bad[70] = 1;
    assert_eq!(PublicKey::from_eip2537(&bad), Err(BlsError::NotCanonical));
    // A coordinate equal to p (non-canonical zero).
    let mut bad = h(G1);
    bad[16..64].copy_from_slice(&h(P_HEX));
    assert!(matches!(
        PublicKey::from_eip2537(&bad),
        Err(BlsError::BadEncoding | BlsError::NotCanonical)
    ));
    // Not on the curve: swap y coordinates of two points.
    let mut bad = h(G1);
    bad[64..].copy_from_slice(&h(P1)[64..]);
    assert_eq!(PublicKey::from_eip2537(&bad), Err(BlsError::NotOnCurve));
    let mut bad = h(G2);
    bad[64..128].copy_from_slice(&h(P2)[64..128]);
    assert_eq!(Signature::from_eip2537(&bad), Err(BlsError::NotOnCurve));
    // On the curve, outside the subgroup.
    assert_eq!(
        PublicKey::from_eip2537(&h(G1_NOT_IN_SUBGROUP)),
        Err(BlsError::NotInSubgroup)
    );
    let wrong = Signature::from_eip2537(&h(G2_WRONG_ORDER)).unwrap();
    assert!(!wrong.in_subgroup());
    // Infinity: all zeros decodes as a G2 point but is not a public key.
    assert_eq!(
        PublicKey::from_eip2537(&[0u8; 128]),
        Err(BlsError::Infinity)
    );
    assert!(Signature::from_eip2537(&[0u8; 256]).unwrap().is_infinity());
}

#[test]
fn sign_verify_round_trip_and_encodings() {
    let sk = key(1);
    let pk = sk.public_key();
    let msg = [7u8; 32];
    let sig = sk.sign(&msg);
    pk.verify(&msg, &sig).unwrap();
    assert_eq!(
        pk.verify(&[8u8; 32], &sig),
        Err(BlsError::VerificationFailed)
    );
    assert_eq!(
        key(2).public_key().verify(&msg, &sig),
        Err(BlsError::VerificationFailed)
    );

    assert_eq!(PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
    assert_eq!(PublicKey::from_bytes(&pk.to_uncompressed()).unwrap(), pk);
    assert_eq!(PublicKey::from_eip2537(&pk.to_eip2537()).unwrap(), pk);
    assert_eq!(Signature::from_bytes(&sig.to_bytes()).unwrap(), sig);
    assert_eq!(Signature::from_bytes(&sig.to_uncompressed()).unwrap(), sig);
    assert_eq!(Signature::from_bytes_checked(&sig.to_bytes()).unwrap(), sig);
    assert_eq!(Signature::from_eip2537(&sig.to_eip2537()).unwrap(), sig);
}

#[test]
fn matches_blst_min_pk_high_level_api() {
    // Our raw-FFI signing must equal blst's own min_pk signing with the same DST.
    let ikm = [9u8; 32];
    let ours = SecretKey::from_ikm(&ikm).unwrap();
    let theirs = blst::min_pk::SecretKey::key_gen(&ikm, &[]).unwrap();
    assert_eq!(*ours.to_bytes(), theirs.to_bytes());
    assert_eq!(ours.public_key().to_bytes(), theirs.sk_to_pk().to_bytes());
    let msg = [3u8; 32];
    assert_eq!(
        ours.sign(&msg).to_bytes(),
        theirs.sign(&msg, DST, &[]).to_bytes()
    );
    let sig = blst::min_pk::Signature::from_bytes(&ours.sign(&msg).to_bytes()).unwrap();
    assert_eq!(
        sig.verify(true, &msg, DST, &[], &theirs.sk_to_pk(), true),
        blst::BLST_ERROR::BLST_SUCCESS
    );
}

#[test]
fn secret_key_bytes() {
    let sk = key(5);
    assert_eq!(
        *SecretKey::from_bytes(sk.to_bytes().as_ref())
            .unwrap()
            .to_bytes(),
        *sk.to_bytes()
    );
    assert_eq!(
        SecretKey::from_bytes(&[0u8; 32]).unwrap_err(),
        BlsError::InvalidSecretKey
    );
    assert_eq!(
        SecretKey::from_bytes(&[0xffu8; 32]).unwrap_err(),
        BlsError::InvalidSecretKey
    );
    assert!(matches!(
        SecretKey::from_bytes(&[1u8; 31]),
        Err(BlsError::InvalidLength { .. })
    ));
    assert_eq!(
        SecretKey::from_ikm(&[1u8; 31]).unwrap_err(),
        BlsError::IkmTooShort(31)
    );
    assert_eq!(format!("{sk:?}"), "SecretKey(<redacted>)");
    let mut rng = StdRng::seed_from_u64(1);
    let a = SecretKey::random(&mut rng);
    let mut rng = StdRng::seed_from_u64(1);
    assert_eq!(
        *a.to_bytes(),
        *SecretKey::random(&mut rng).to_bytes(),
        "deterministic from the seed"
    );
}

#[test]
fn public_key_decoding_edge_cases() {
    let pk = key(1).public_key();
    // Wrong lengths.
    for n in [0, 1, 47, 49, 95, 97, 128] {
        assert!(
            matches!(
                PublicKey::from_bytes(&vec![0x80; n]),
                Err(BlsError::InvalidLength { .. })
            ),
            "{n}"
        );
    }
    // Compression flag that does not match the length.
    let mut c = pk.to_bytes();
    c[0] &= 0x7f;
    assert_eq!(PublicKey::from_bytes(&c), Err(BlsError::BadEncoding));
    let mut u = pk.to_uncompressed();
    u[0] |= 0x80;
    assert_eq!(PublicKey::from_bytes(&u), Err(BlsError::BadEncoding));
    // Infinity, both encodings.
    let mut inf = [0u8; 48];
    inf[0] = 0xc0;
    assert_eq!(PublicKey::from_bytes(&inf), Err(BlsError::Infinity));
    let mut inf_u = [0u8; 96];
    inf_u[0] = 0x40;
    assert_eq!(PublicKey::from_bytes(&inf_u), Err(BlsError::Infinity));
    // Infinity flag with garbage after it.
    inf[47] = 1;
    assert_eq!(PublicKey::from_bytes(&inf), Err(BlsError::BadEncoding));
    // Non-canonical x (x = p) in the compressed form.
    let mut nc = [0u8; 48];
    nc.copy_from_slice(&h(P_HEX));
    nc[0] |= 0x80;
    assert_eq!(PublicKey::from_bytes(&nc), Err(BlsError::BadEncoding));
    // Not on the curve (uncompressed with y altered).
    let mut off = pk.to_uncompressed();
    off[95] ^= 1;
    assert_eq!(PublicKey::from_bytes(&off), Err(BlsError::NotOnCurve));
    // Not in the subgroup.
    let nis = h(G1_NOT_IN_SUBGROUP);
    let mut zc = [0u8; 96];
    zc[..48].copy_from_slice(&nis[16..64]);
    zc[48..].copy_from_slice(&nis[80..128]);
    assert_eq!(PublicKey::from_bytes(&zc), Err(BlsError::NotInSubgroup));
}

/// A point on E2 outside G2: decompress x-coordinates until one is on the curve (blst's
/// decompression does not check the subgroup).
pub(crate) fn non_subgroup_g2(seed: u8) -> Signature {
    for i in 0u8..=255 {
        let mut b = [0u8; 96];
        b[0] = 0x80;
        b[47] = seed;
        b[95] = i;
        if let Ok(s) = Signature::from_bytes(&b)
            && !s.in_subgroup()
        {
            return s;
        }
    }
    unreachable!("half of all x are on the curve")
}

/// r·Q for Q outside G2: a non-zero point of the cofactor (torsion) part.
pub(crate) fn torsion_g2(seed: u8) -> Signature {
    // The group order r, little-endian.
    let r = h("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001");
    let r_le: Vec<u8> = r.into_iter().rev().collect();
    let q = non_subgroup_g2(seed);
    let mut p = blst_p2::default();
    let mut out = blst_p2::default();
    let mut aff = blst_p2_affine::default();
    unsafe {
        blst_p2_from_affine(&mut p, &q.point);
        blst_p2_mult(&mut out, &p, r_le.as_ptr(), 255);
        blst_p2_to_affine(&mut aff, &out);
    }
    let t = Signature { point: aff };
    assert!(!t.is_infinity() && !t.in_subgroup());
    t
}

#[test]
fn signature_decoding_edge_cases() {
    let sig = key(1).sign(&[1u8; 32]);
    for n in [0, 95, 97, 191, 193, 256] {
        assert!(
            matches!(
                Signature::from_bytes(&vec![0x80; n]),
                Err(BlsError::InvalidLength { .. })
            ),
            "{n}"
        );
    }
    let mut c = sig.to_bytes();
    c[0] &= 0x7f;
    assert_eq!(Signature::from_bytes(&c), Err(BlsError::BadEncoding));
    let mut off = sig.to_uncompressed();
    off[191] ^= 1;
    assert_eq!(Signature::from_bytes(&off), Err(BlsError::NotOnCurve));
    let mut inf = [0u8; 96];
    inf[0] = 0xc0;
    assert!(Signature::from_bytes(&inf).unwrap().is_infinity());
    assert_eq!(Signature::from_bytes_checked(&inf), Err(BlsError::Infinity));
    let pk = key(1).public_key();
    assert_eq!(
        pk.verify(&[1u8; 32], &Signature::from_bytes(&inf).unwrap()),
        Err(BlsError::Infinity)
    );
    // Outside the subgroup: decodes (by design), but checked decoding and verify refuse it.
    let bad = non_subgroup_g2(1);
    let bytes = bad.to_uncompressed();
    assert!(Signature::from_bytes(&bytes).is_ok());
    assert_eq!(
        Signature::from_bytes_checked(&bytes),
        Err(BlsError::NotInSubgroup)
    );
    assert_eq!(pk.verify(&[1u8; 32], &bad), Err(BlsError::NotInSubgroup));
    // A valid signature plus a torsion point: same pairing projection, still refused.
    let tainted = aggregate_signatures(&[sig, torsion_g2(2)]);
    assert_eq!(
        pk.verify(&[1u8; 32], &tainted),
        Err(BlsError::NotInSubgroup)
    );
}

#[test]
fn aggregate_of_same_message_verifies() {
    let msg = [4u8; 32];
    let sks: Vec<SecretKey> = (1..=5).map(key).collect();
    let pks: Vec<PublicKey> = sks.iter().map(|s| s.public_key()).collect();
    let sigs: Vec<Signature> = sks.iter().map(|s| s.sign(&msg)).collect();
    let apk = aggregate_public_keys(&pks).to_public_key().unwrap();
    let asig = aggregate_signatures(&sigs);
    apk.verify(&msg, &asig).unwrap();
    // Missing one signer.
    let partial = aggregate_signatures(&sigs[..4]);
    assert_eq!(
        apk.verify(&msg, &partial),
        Err(BlsError::VerificationFailed)
    );
    // One signature over another message.
    let mut mixed = sigs.clone();
    mixed[2] = sks[2].sign(&[5u8; 32]);
    assert_eq!(
        apk.verify(&msg, &aggregate_signatures(&mixed)),
        Err(BlsError::VerificationFailed)
    );
    // Duplicate signer: key and signature counted twice still verifies (doubling path of the
    // batched addition), which is why the aggregator must reject duplicates by operator.
    let dup_pk = aggregate_public_keys(&[pks[0], pks[0]])
        .to_public_key()
        .unwrap();
    dup_pk
        .verify(&msg, &aggregate_signatures(&[sigs[0], sigs[0]]))
        .unwrap();
    // Empty aggregates are the identity.
    assert!(aggregate_public_keys(&[]).is_identity());
    assert!(aggregate_signatures(&[]).is_infinity());
}

#[test]
fn rogue_key_attack_needs_pop() {
    // Attacker picks pk_rogue = x·G − pk_honest; then pk_honest + pk_rogue = x·G and the
    // attacker alone "aggregates" for both. The aggregate verifies — which is why keys are only
    // accepted with a proof of possession, which the attacker cannot produce for pk_rogue.
    let honest = key(1).public_key();
    let x = key(9);
    let mut rogue = AggregatePublicKey {
        point: blst_p1::default(),
    };
    rogue.add(&x.public_key());
    rogue.sub(&honest);
    let rogue = rogue.to_public_key().unwrap();
    let msg = [6u8; 32];
    let forged = x.sign(&msg);
    let apk = aggregate_public_keys(&[honest, rogue])
        .to_public_key()
        .unwrap();
    apk.verify(&msg, &forged).unwrap();
    // Proof of possession for the rogue key: the attacker has no secret for it; signing with x
    // does not verify under pk_rogue.
    let op = address!("0x1111111111111111111111111111111111111111");
    let fake_pop = pop_prove(&x, "imuachainlocalnet_232-1", op);
    assert_eq!(
        pop_verify(&rogue, "imuachainlocalnet_232-1", op, &fake_pop),
        Err(BlsError::VerificationFailed)
    );
}

#[test]
fn proof_of_possession_binds_chain_and_operator() {
    let sk = key(3);
    let pk = sk.public_key();
    let op = address!("0x2222222222222222222222222222222222222222");
    let other = address!("0x3333333333333333333333333333333333333333");
    let pop = pop_prove(&sk, "imuachainlocalnet_232-1", op);
    pop_verify(&pk, "imuachainlocalnet_232-1", op, &pop).unwrap();
    pop_verify(&pk, "imuachainlocalnet_232-7", op, &pop).unwrap();
    assert!(pop_verify(&pk, "imuachaintestnet_233-1", op, &pop).is_err());
    assert!(pop_verify(&pk, "imuachainlocalnet_232-1", other, &pop).is_err());
    // A task signature is not a proof of possession.
    let task_sig = sk.sign(&messages::task_response_digest(1, 2));
    assert!(pop_verify(&pk, "imuachainlocalnet_232-1", op, &task_sig).is_err());
}

#[test]
fn apk_add_sub_round_trip() {
    let a = key(1).public_key();
    let b = key(2).public_key();
    let mut s = AggregatePublicKey::identity();
    s.add(&a);
    s.add(&b);
    assert_eq!(s, aggregate_public_keys(&[a, b]));
    s.sub(&b);
    assert_eq!(s.to_public_key().unwrap(), a);
    s.sub(&a);
    assert!(s.is_identity());
    assert_eq!(s.to_eip2537(), [0u8; 128]);
    assert_eq!(s.to_public_key(), Err(BlsError::Infinity));
}

proptest! {
    // PROPTEST_CASES raises the count for long runs; the default keeps `cargo test` fast.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
    ))]

    #[test]
    fn prop_encodings_round_trip(ikm in proptest::array::uniform32(any::<u8>()), msg in proptest::array::uniform32(any::<u8>())) {
        let sk = SecretKey::from_ikm(&ikm).unwrap();
        let pk = sk.public_key();
        let sig = sk.sign(&msg);
        prop_assert_eq!(PublicKey::from_eip2537(&pk.to_eip2537()).unwrap(), pk);
        prop_assert_eq!(Signature::from_eip2537(&sig.to_eip2537()).unwrap(), sig);
        prop_assert_eq!(Signature::from_bytes(&sig.to_uncompressed()).unwrap(), sig);
        prop_assert!(pk.verify(&msg, &sig).is_ok());
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = PublicKey::from_bytes(&bytes);
        let _ = PublicKey::from_eip2537(&bytes);
        let _ = Signature::from_bytes(&bytes);
        let _ = Signature::from_bytes_checked(&bytes);
        let _ = Signature::from_eip2537(&bytes);
        let _ = SecretKey::from_bytes(&bytes);
    }

    #[test]
    fn prop_single_bit_flip_never_verifies(bit in 0usize..(192 * 8)) {
        let sk = key(7);
        let msg = [1u8; 32];
        let mut b = sk.sign(&msg).to_uncompressed();
        b[bit / 8] ^= 1 << (bit % 8);
        if let Ok(s) = Signature::from_bytes(&b) {
            prop_assert!(sk.public_key().verify(&msg, &s).is_err());
        }
    }
}
