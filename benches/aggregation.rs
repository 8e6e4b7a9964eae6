//! Same-message BLS aggregation: what an AVS aggregator does per task.
//!
//! Full run:   `cargo bench --bench aggregation`
//! Smoke (CI): `EXOAVS_BENCH_QUICK=1 cargo bench --bench aggregation -- --quick`
//!             (N ∈ {10, 100}, few samples; a few minutes on a loaded 2-core machine).
//!
//! Every path starts from the bytes an operator sends, so decoding is part of the cost:
//! (a) naive: decode compressed + subgroup check + one pairing per signature, then aggregate;
//! (b) fast: decode uncompressed (on-curve only), sum, one subgroup check, one pairing
//!     (also with compressed input, to price the wire format);
//! (c) fast path with k ∈ {1, 10} invalid signatures (bisection);
//! (d) random-linear-combination batch verification.
//! Single-threaded throughout (blst's C functions; no thread pool), as under the simulator.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use exoavs::crypto::aggregate::{
    ApkCache, batch_verify_rlc, verify_aggregate, verify_each_then_aggregate,
};
use exoavs::crypto::bls::{
    PreparedMessage, PublicKey, SecretKey, Signature, aggregate_public_keys,
};
use exoavs::crypto::messages::task_response_digest;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn quick() -> bool {
    std::env::var_os("EXOAVS_BENCH_QUICK").is_some()
}

fn sizes() -> Vec<usize> {
    if quick() {
        vec![10, 100]
    } else {
        vec![10, 100, 1000, 10000]
    }
}

struct Fixture {
    digest: [u8; 32],
    pks: Vec<PublicKey>,
    sks: Vec<SecretKey>,
    compressed: Vec<[u8; 96]>,
    uncompressed: Vec<[u8; 192]>,
}

fn fixture(n: usize) -> Fixture {
    let mut rng = StdRng::seed_from_u64(n as u64);
    let digest = task_response_digest(7, 1234);
    let sks: Vec<SecretKey> = (0..n).map(|_| SecretKey::random(&mut rng)).collect();
    let pks = sks.iter().map(|s| s.public_key()).collect();
    let sigs: Vec<Signature> = sks.iter().map(|s| s.sign(&digest)).collect();
    Fixture {
        digest,
        pks,
        compressed: sigs.iter().map(|s| s.to_bytes()).collect(),
        uncompressed: sigs.iter().map(|s| s.to_uncompressed()).collect(),
        sks,
    }
}

/// Wire bytes with `k` signatures over another result, spread across the batch.
fn with_invalid(f: &Fixture, k: usize) -> Vec<[u8; 192]> {
    let mut out = f.uncompressed.clone();
    let wrong = task_response_digest(7, 4321);
    let n = out.len();
    for j in 0..k {
        let i = (j * n) / k + (n / (2 * k)).min(n - 1);
        out[i] = f.sks[i].sign(&wrong).to_uncompressed();
    }
    out
}

fn naive(f: &Fixture) -> usize {
    let prepared = PreparedMessage::new(&f.digest);
    let items: Vec<(PublicKey, Signature)> = f
        .compressed
        .iter()
        .zip(&f.pks)
        .filter_map(|(b, pk)| Signature::from_bytes_checked(b).ok().map(|s| (*pk, s)))
        .collect();
    verify_each_then_aggregate(&prepared, &items).valid.len()
}

fn fast(digest: &[u8; 32], pks: &[PublicKey], wire: &[[u8; 192]]) -> usize {
    let prepared = PreparedMessage::new(digest);
    let items: Vec<(PublicKey, Signature)> = wire
        .iter()
        .zip(pks)
        .filter_map(|(b, pk)| Signature::from_bytes(b).ok().map(|s| (*pk, s)))
        .collect();
    verify_aggregate(&prepared, &items).valid.len()
}

fn fast_compressed(f: &Fixture) -> usize {
    let prepared = PreparedMessage::new(&f.digest);
    let items: Vec<(PublicKey, Signature)> = f
        .compressed
        .iter()
        .zip(&f.pks)
        .filter_map(|(b, pk)| Signature::from_bytes(b).ok().map(|s| (*pk, s)))
        .collect();
    verify_aggregate(&prepared, &items).valid.len()
}

fn rlc(f: &Fixture, rng: &mut StdRng) -> bool {
    let prepared = PreparedMessage::new(&f.digest);
    let items: Vec<(PublicKey, Signature)> = f
        .uncompressed
        .iter()
        .zip(&f.pks)
        .filter_map(|(b, pk)| Signature::from_bytes(b).ok().map(|s| (*pk, s)))
        .collect();
    batch_verify_rlc(&prepared, &items, rng)
}

fn config() -> Criterion {
    let base = Criterion::default();
    if quick() {
        base.sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
    } else {
        base.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}

fn bench_primitives(c: &mut Criterion) {
    let f = fixture(1);
    let mut g = c.benchmark_group("primitives");
    g.bench_function("sign", |b| b.iter(|| f.sks[0].sign(&f.digest)));
    g.bench_function("decode_compressed_96", |b| {
        b.iter(|| Signature::from_bytes(&f.compressed[0]).unwrap())
    });
    g.bench_function("decode_uncompressed_192", |b| {
        b.iter(|| Signature::from_bytes(&f.uncompressed[0]).unwrap())
    });
    g.bench_function("decode_compressed_plus_subgroup_check", |b| {
        b.iter(|| Signature::from_bytes_checked(&f.compressed[0]).unwrap())
    });
    let sig = Signature::from_bytes(&f.uncompressed[0]).unwrap();
    g.bench_function("subgroup_check_g2", |b| b.iter(|| sig.in_subgroup()));
    g.bench_function("pubkey_validate_compressed_48", |b| {
        let bytes = f.pks[0].to_bytes();
        b.iter(|| PublicKey::from_bytes(&bytes).unwrap())
    });
    g.bench_function("hash_to_g2_with_lines", |b| {
        b.iter(|| PreparedMessage::new(&f.digest))
    });
    g.bench_function("verify_one_full", |b| {
        b.iter(|| f.pks[0].verify(&f.digest, &sig).unwrap())
    });
    g.finish();
}

fn bench_aggregation(c: &mut Criterion) {
    for n in sizes() {
        let f = fixture(n);
        let mut g = c.benchmark_group(format!("aggregate_n{n}"));
        g.throughput(Throughput::Elements(n as u64));
        // Naive at N=10000 is ~10 s per iteration; criterion's minimum of 10 samples is enough.
        g.bench_function("a_naive_verify_each", |b| {
            b.iter(|| assert_eq!(naive(&f), n))
        });
        g.bench_function("b_fast_uncompressed", |b| {
            b.iter(|| assert_eq!(fast(&f.digest, &f.pks, &f.uncompressed), n))
        });
        g.bench_function("b_fast_compressed_wire", |b| {
            b.iter(|| assert_eq!(fast_compressed(&f), n))
        });
        for k in [1usize, 10] {
            if k >= n {
                continue;
            }
            let wire = with_invalid(&f, k);
            g.bench_with_input(
                BenchmarkId::new("c_fast_bisect_invalid", k),
                &wire,
                |b, wire| b.iter(|| assert_eq!(fast(&f.digest, &f.pks, wire), n - k)),
            );
        }
        let mut rng = StdRng::seed_from_u64(99);
        g.bench_function("d_rlc_batch", |b| b.iter(|| assert!(rlc(&f, &mut rng))));
        g.finish();
    }
}

fn bench_apk(c: &mut Criterion) {
    let n = if quick() { 100 } else { 1000 };
    let f = fixture(n);
    let cache = ApkCache::new(&f.pks);
    let mut g = c.benchmark_group(format!("apk_n{n}"));
    let mut counts = vec![1usize, 10, n / 10];
    counts.dedup();
    for non in counts {
        let non_signers: Vec<PublicKey> = f.pks[..non].to_vec();
        let signers: Vec<PublicKey> = f.pks[non..].to_vec();
        g.bench_with_input(
            BenchmarkId::new("cached_total_minus_non_signers", non),
            &non_signers,
            |b, ns| b.iter(|| cache.minus(ns)),
        );
        g.bench_with_input(
            BenchmarkId::new("sum_signers_from_scratch", non),
            &signers,
            |b, s| b.iter(|| aggregate_public_keys(s)),
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_primitives, bench_aggregation, bench_apk
}
criterion_main!(benches);
