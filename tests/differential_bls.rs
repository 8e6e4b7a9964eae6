//! Differential test: blst (`exoavs::crypto::bls`) and the contracts' BLS library
//! (`contracts/src/BLS.sol`, EIP-2537 on a real Anvil) give the same verdict on random aggregate
//! responses, honest and tampered, and on random public-key encodings, evaluated through the
//! test-only `BlsHarness` (the shape of `AvsPrecompile.verifyTaskAggregate`: snapshot aggregate minus
//! non-signers, then `BLS.verify`) in batched `eth_call`s.
//!
//! Seeded `StdRng`: `EXOAVS_DIFF_SEED` (default fixed), `EXOAVS_DIFF_BLS_CASES` (default 512
//! aggregate cases and as many key encodings; pairings cost ~0.3 M gas each, so batches are small
//! and the calls carry a high gas limit). A mismatch prints the seed and the case.

use alloy::primitives::{Address, B256, Bytes, U512};
use alloy::sol_types::SolCall;
use exoavs::crypto::bls::{
    AggregatePublicKey, PublicKey, SecretKey, Signature, aggregate_signatures,
};
use exoavs::devnet::anvil::{Anvil, AnvilOptions, contracts_dir};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

alloy::sol! {
    interface IBlsHarness {
        function verifyMany(bytes[] keys, bytes[] nonSignerKeys, bytes32[] messages, bytes[] signatures) external view returns (uint8[] v);
        function validKeys(bytes[] pks) external view returns (bool[] ok);
    }
}

const DEFAULT_SEED: u64 = 0x5eed_0b15;
const HARNESS: Address = Address::new([0xb1; 20]);
const BATCH: usize = 32;
/// The BLS12-381 base field modulus, big-endian.
const P_HEX: &str = "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab";

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not an integer")),
        Err(_) => default,
    }
}

fn harness() -> Anvil {
    let anvil = Anvil::start(AnvilOptions {
        extra_args: vec!["--gas-limit".into(), "4000000000".into()],
        ..AnvilOptions::default()
    })
    .expect("anvil");
    let path = contracts_dir()
        .expect("contracts dir")
        .join("artifacts/BlsHarness.json");
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

fn p() -> U512 {
    U512::from_be_slice(&hex::decode(P_HEX).expect("hex"))
}

/// Adds p to the 48-byte field element at `bytes[off+16..off+64]` (an EIP-2537 Fp): the same
/// number mod p, but a non-canonical encoding every implementation must refuse.
fn non_canonical(bytes: &mut [u8], off: usize) {
    let x = U512::from_be_slice(&bytes[off + 16..off + 64]) + p();
    let be = x.to_be_bytes::<64>();
    bytes[off + 16..off + 64].copy_from_slice(&be[16..]);
}

/// A G1 point on the curve y² = x³ + 4 but (with overwhelming probability, the cofactor being
/// ~2^126) outside the prime-order subgroup, EIP-2537 encoded. p ≡ 3 mod 4: sqrt = a^((p+1)/4).
fn off_subgroup_g1(rng: &mut StdRng) -> Vec<u8> {
    let p = p();
    loop {
        let mut raw = [0u8; 48];
        rng.fill(&mut raw[..]);
        let x = U512::from_be_slice(&raw) % p;
        let rhs = x.mul_mod(x, p).mul_mod(x, p).add_mod(U512::from(4u8), p);
        let y = rhs.pow_mod((p + U512::from(1u8)) >> 2, p);
        if y.mul_mod(y, p) != rhs {
            continue;
        }
        let mut out = vec![0u8; 128];
        out[16..64].copy_from_slice(&x.to_be_bytes::<64>()[16..]);
        out[80..128].copy_from_slice(&y.to_be_bytes::<64>()[16..]);
        return out;
    }
}

/// A G2 point on the curve but outside G2: decompress random x-coordinates (blst's
/// decompression does not check the subgroup) until one is on the curve and off the subgroup.
fn off_subgroup_g2(rng: &mut StdRng) -> Signature {
    loop {
        let mut b = [0u8; 96];
        rng.fill(&mut b[..]);
        b[0] = 0x80 | (b[0] & 0x1f);
        if let Ok(s) = Signature::from_bytes(&b)
            && !s.in_subgroup()
        {
            return s;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Honest,
    /// Everyone signed another task's message.
    OtherMessage,
    /// A claimed signer's signature is missing from the aggregate.
    MissingSigner,
    /// A non-signer's signature is in the aggregate too.
    ExtraSigner,
    BitFlip,
    InfinitySignature,
    NonCanonicalSignature,
    /// Top padding byte of an Fp element set.
    DirtyPadding,
    /// Rogue key (attacker − victim) in the snapshot, attacker signs alone: verifies on both sides,
    /// which is why registration demands a proof of possession (tests/onchain_bls.rs).
    RogueKey,
    NoSigners,
    /// A point on the G2 curve outside the prime-order subgroup.
    OffSubgroupSignature,
}

const KINDS: [Kind; 11] = [
    Kind::Honest,
    Kind::OtherMessage,
    Kind::MissingSigner,
    Kind::ExtraSigner,
    Kind::BitFlip,
    Kind::InfinitySignature,
    Kind::NonCanonicalSignature,
    Kind::DirtyPadding,
    Kind::RogueKey,
    Kind::NoSigners,
    Kind::OffSubgroupSignature,
];

struct Case {
    kind: Kind,
    keys: Vec<u8>,
    non_signer_keys: Vec<u8>,
    message: [u8; 32],
    signature: Vec<u8>,
    /// blst's verdict: the snapshot's apk minus the non-signers', then full verification.
    rust: bool,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("kind", &self.kind)
            .field("keys", &hex::encode(&self.keys))
            .field("non_signer_keys", &hex::encode(&self.non_signer_keys))
            .field("message", &hex::encode(self.message))
            .field("signature", &hex::encode(&self.signature))
            .finish()
    }
}

/// What the Rust side decides for these bytes: decode, aggregate, verify (any error = reject).
fn blst_verdict(keys: &[u8], non_signer_keys: &[u8], message: &[u8; 32], sig: &[u8]) -> bool {
    let decode = |b: &[u8]| -> Option<Vec<PublicKey>> {
        b.chunks(128)
            .map(|c| PublicKey::from_eip2537(c).ok())
            .collect()
    };
    let (Some(all), Some(non)) = (decode(keys), decode(non_signer_keys)) else {
        return false;
    };
    let mut apk = AggregatePublicKey::identity();
    all.iter().for_each(|k| apk.add(k));
    non.iter().for_each(|k| apk.sub(k));
    let Ok(pk) = apk.to_public_key() else {
        return false;
    };
    let Ok(sig) = Signature::from_eip2537(sig) else {
        return false;
    };
    pk.verify(message, &sig).is_ok()
}

fn aggregate_case(rng: &mut StdRng, kind: Kind) -> Case {
    let n = rng.gen_range(1..=8);
    let sks: Vec<SecretKey> = (0..n).map(|_| SecretKey::random(rng)).collect();
    let mut signs: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.7)).collect();
    if kind == Kind::NoSigners {
        signs.iter_mut().for_each(|s| *s = false);
    } else if !signs.iter().any(|s| *s) {
        signs[0] = true;
    }
    let message: [u8; 32] = rng.r#gen();
    let other: [u8; 32] = rng.r#gen();
    let mut keys: Vec<u8> = sks
        .iter()
        .flat_map(|k| k.public_key().to_eip2537())
        .collect();
    let mut non_signer_keys = Vec::new();
    let mut sigs = Vec::new();
    for (k, &s) in sks.iter().zip(&signs) {
        if s {
            let m = if kind == Kind::OtherMessage {
                &other
            } else {
                &message
            };
            sigs.push(k.sign(m));
        } else {
            non_signer_keys.extend_from_slice(&k.public_key().to_eip2537());
            if kind == Kind::ExtraSigner && sigs.len() < n {
                sigs.push(k.sign(&message));
            }
        }
    }
    if kind == Kind::ExtraSigner && non_signer_keys.is_empty() {
        // Everyone signed: the "extra" signature is an outsider's.
        sigs.push(SecretKey::random(rng).sign(&message));
    }
    if kind == Kind::MissingSigner {
        let i = rng.gen_range(0..sigs.len());
        sigs.remove(i);
    }
    if kind == Kind::RogueKey {
        let attacker = SecretKey::random(rng);
        let victim = sks[0].public_key();
        let mut rogue = AggregatePublicKey::identity();
        rogue.add(&attacker.public_key());
        rogue.sub(&victim);
        // Snapshot = victim + rogue, nobody absent: the apk is the attacker's key alone.
        keys = victim.to_eip2537().to_vec();
        keys.extend_from_slice(&rogue.to_eip2537());
        non_signer_keys.clear();
        sigs = vec![attacker.sign(&message)];
    }
    let mut signature = if sigs.is_empty() {
        vec![0u8; 256]
    } else {
        aggregate_signatures(&sigs).to_eip2537().to_vec()
    };
    match kind {
        Kind::BitFlip => {
            // A bit of one of the four 48-byte field elements.
            let limb = rng.gen_range(0..4) * 64 + 16;
            let bit = rng.gen_range(0..48 * 8);
            signature[limb + bit / 8] ^= 1 << (bit % 8);
        }
        Kind::InfinitySignature => signature = vec![0u8; 256],
        Kind::NonCanonicalSignature => non_canonical(&mut signature, 64 * rng.gen_range(0..4)),
        Kind::DirtyPadding => signature[64 * rng.gen_range(0..4) + rng.gen_range(0..16)] = 1,
        Kind::OffSubgroupSignature => signature = off_subgroup_g2(rng).to_eip2537().to_vec(),
        _ => {}
    }
    let rust = blst_verdict(&keys, &non_signer_keys, &message, &signature);
    Case {
        kind,
        keys,
        non_signer_keys,
        message,
        signature,
        rust,
    }
}

/// Random key encodings: valid, infinity, off curve, off subgroup, non-canonical, dirty padding,
/// wrong lengths. Rust's verdict is `PublicKey::from_eip2537` (which refuses infinity).
fn key_case(rng: &mut StdRng) -> (String, Vec<u8>) {
    let valid = SecretKey::random(rng).public_key().to_eip2537().to_vec();
    match rng.gen_range(0..8) {
        0 => ("valid".into(), valid),
        1 => ("infinity".into(), vec![0u8; 128]),
        2 => {
            let mut k = valid;
            k[127] ^= 1;
            ("off curve".into(), k)
        }
        3 => ("off subgroup".into(), off_subgroup_g1(rng)),
        4 => {
            let mut k = valid;
            non_canonical(&mut k, 64 * rng.gen_range(0..2));
            ("non-canonical".into(), k)
        }
        5 => {
            let mut k = valid;
            k[64 * rng.gen_range(0..2) + rng.gen_range(0..16)] = 0x80;
            ("dirty padding".into(), k)
        }
        6 => {
            let mut k = valid;
            let len = *[0usize, 48, 96, 127, 129, 256]
                .choose(rng)
                .expect("non-empty");
            k.resize(len, 0);
            (format!("length {len}"), k)
        }
        _ => (
            "random bytes".into(),
            (0..128).map(|_| rng.r#gen()).collect(),
        ),
    }
}

#[test]
fn blst_and_contract_bls_agree() {
    let seed = env_u64("EXOAVS_DIFF_SEED", DEFAULT_SEED);
    let cases = env_u64("EXOAVS_DIFF_BLS_CASES", 512) as usize;
    eprintln!(
        "differential_bls: seed {seed}, {cases} aggregate cases + {cases} keys (EXOAVS_DIFF_SEED / EXOAVS_DIFF_BLS_CASES)"
    );
    let repro = format!("EXOAVS_DIFF_SEED={seed} cargo test -p exoavs --test differential_bls");
    let mut rng = StdRng::seed_from_u64(seed);
    let anvil = harness();
    let started = std::time::Instant::now();

    // Every kind appears; the rest are drawn at random.
    let all: Vec<Case> = (0..cases)
        .map(|i| {
            let kind = if i < KINDS.len() {
                KINDS[i]
            } else {
                *KINDS.choose(&mut rng).expect("non-empty")
            };
            aggregate_case(&mut rng, kind)
        })
        .collect();
    let mut accepted = 0;
    for (b, chunk) in all.chunks(BATCH).enumerate() {
        let call = IBlsHarness::verifyManyCall {
            keys: chunk.iter().map(|c| Bytes::from(c.keys.clone())).collect(),
            nonSignerKeys: chunk
                .iter()
                .map(|c| Bytes::from(c.non_signer_keys.clone()))
                .collect(),
            messages: chunk.iter().map(|c| B256::from(c.message)).collect(),
            signatures: chunk
                .iter()
                .map(|c| Bytes::from(c.signature.clone()))
                .collect(),
        };
        let got =
            IBlsHarness::verifyManyCall::abi_decode_returns(&eth_call(&anvil, call.abi_encode()))
                .expect("decode verdicts");
        assert_eq!(got.len(), chunk.len());
        for (k, (c, chain)) in chunk.iter().zip(got).enumerate() {
            // 2 = the harness reverted (a malformed key in G1ADD): a reject, as on chain.
            if c.rust != (chain == 1) {
                panic!(
                    "aggregate case {} differs: blst {}, contract verdict {chain} (0 reject, 1 accept, 2 revert)\n  {c:?}\n  repro: {repro}",
                    b * BATCH + k,
                    c.rust
                );
            }
            let must_accept = matches!(c.kind, Kind::Honest | Kind::RogueKey);
            assert_eq!(
                c.rust,
                must_accept,
                "case {} ({:?}): blst verdict {} is not what the tamper implies; repro: {repro}",
                b * BATCH + k,
                c.kind,
                c.rust
            );
            accepted += usize::from(c.rust);
        }
    }
    let agg_time = started.elapsed();

    let keys: Vec<(String, Vec<u8>)> = (0..cases).map(|_| key_case(&mut rng)).collect();
    let mut valid = 0;
    for (b, chunk) in keys.chunks(256).enumerate() {
        let call = IBlsHarness::validKeysCall {
            pks: chunk.iter().map(|(_, k)| Bytes::from(k.clone())).collect(),
        };
        let got =
            IBlsHarness::validKeysCall::abi_decode_returns(&eth_call(&anvil, call.abi_encode()))
                .expect("decode verdicts");
        for (k, ((what, key), chain)) in chunk.iter().zip(got).enumerate() {
            let rust = PublicKey::from_eip2537(key).is_ok();
            if rust != chain {
                panic!(
                    "key case {} ({what}) differs: blst {rust}, contract {chain}\n  key 0x{}\n  repro: {repro}",
                    b * 256 + k,
                    hex::encode(key)
                );
            }
            assert_eq!(
                rust,
                what == "valid",
                "key case {} ({what}): blst says {rust}; repro: {repro}",
                b * 256 + k
            );
            valid += usize::from(rust);
        }
    }
    eprintln!(
        "differential_bls: {cases} aggregates ({accepted} verified) in {agg_time:.1?}, {cases} keys ({valid} valid), total {:.1?}",
        started.elapsed()
    );
}
