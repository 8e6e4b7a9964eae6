//! End-to-end throughput of the aggregator state machine (`protocol::aggregator`), one core: one
//! task, N operators of equal stake, every response fed before the single `Submit`. Each response
//! is the operator's uncompressed (192-byte) signature.
//! - `one_task_n{N}`: all honest, threshold 100 %: the real path (cheap checks on receipt, one
//!   batch check at quorum).
//! - `invalid{k}_n{N}`: k responses carry a valid curve point signed by another key; the threshold
//!   is what the honest ones carry, so the batch fails, bisects, and succeeds later.
//! - `verify_each_n{N}`: the baseline most aggregators use: one pairing per response on receipt
//!   (decode, subgroup check, verify), then the same state machine.
//!
//! Full: `cargo bench --bench aggregator`; smoke: `EXOAVS_BENCH_QUICK=1 cargo bench --bench aggregator -- --quick`.

use std::time::Duration;

use alloy::primitives::Address;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exoavs::crypto::bls::{SecretKey, Signature};
use exoavs::crypto::messages::task_response_digest;
use exoavs::protocol::aggregator::{
    Aggregator, AggregatorAction, AggregatorConfig, AggregatorInput,
};
use exoavs::protocol::{Response, Task, TaskOperator};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn quick() -> bool {
    std::env::var_os("EXOAVS_BENCH_QUICK").is_some()
}

fn setup(n: usize, invalid: usize) -> (Task, Vec<TaskOperator>, Vec<Response>) {
    let mut rng = StdRng::seed_from_u64(n as u64);
    let threshold = ((n - invalid) * 100 / n) as u8;
    let task = Task {
        id: 1,
        payload: exoavs::avs::SumAvs::payload_bytes(20, 22),
        threshold_percentage: threshold,
        starting_epoch: 10,
        response_period: 5,
        challenge_period: 5,
        statistical_period: 5,
        created_block: 1,
    };
    let digest = task_response_digest(1, 42);
    let mut snapshot = Vec::new();
    let mut responses = Vec::new();
    let stranger = SecretKey::random(&mut rng);
    for i in 0..n {
        let sk = SecretKey::random(&mut rng);
        // Spread the invalid ones over the set, so bisection has work on both sides.
        let bad = invalid > 0 && i % (n / invalid) == 0 && i / (n / invalid) < invalid;
        let signer = if bad { &stranger } else { &sk };
        let mut a = [0u8; 20];
        a[12..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        let operator = Address::from(a);
        snapshot.push(TaskOperator {
            operator,
            stake: 1,
            pubkey: Some(sk.public_key()),
        });
        responses.push(Response {
            task_id: 1,
            response: exoavs::avs::SumAvs::response_bytes(42),
            operator,
            signature: signer.sign(&digest).to_uncompressed().to_vec(),
        });
    }
    (task, snapshot, responses)
}

fn run(task: &Task, snapshot: &[TaskOperator], responses: &[Response], verify_each: bool) -> usize {
    // No linger window: the bench measures the machine's work, which is the same either way.
    let mut agg = Aggregator::new(AggregatorConfig {
        linger_ms: 0,
        ..AggregatorConfig::default()
    });
    agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task.clone(),
            snapshot: snapshot.to_vec(),
        },
    );
    let mut submits = 0;
    for (r, m) in responses.iter().zip(snapshot) {
        if verify_each {
            let ok = Signature::from_bytes(&r.signature)
                .ok()
                .zip(m.pubkey)
                .is_some_and(|(sig, pk)| pk.verify(&r.digest(), &sig).is_ok());
            if !ok {
                continue;
            }
        }
        for a in agg.handle(11, AggregatorInput::Response(r.clone())) {
            if matches!(a, AggregatorAction::Submit(_)) {
                submits += 1;
            }
        }
    }
    submits
}

fn bench(c: &mut Criterion) {
    let sizes: &[usize] = if quick() {
        &[10, 100]
    } else {
        &[10, 100, 1000]
    };
    let mut g = c.benchmark_group("aggregator_state_machine");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(if quick() { 200 } else { 1000 }));
    g.measurement_time(Duration::from_millis(if quick() { 500 } else { 3000 }));
    for &n in sizes {
        let (task, snapshot, responses) = setup(n, 0);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("one_task_n{n}"), |b| {
            b.iter(|| assert_eq!(run(&task, &snapshot, &responses, false), 1))
        });
        g.bench_function(format!("verify_each_n{n}"), |b| {
            b.iter(|| assert_eq!(run(&task, &snapshot, &responses, true), 1))
        });
        for k in [1, 10] {
            if k * 10 > n {
                continue;
            }
            let (task, snapshot, responses) = setup(n, k);
            g.bench_function(format!("invalid{k}_n{n}"), |b| {
                b.iter(|| assert_eq!(run(&task, &snapshot, &responses, false), 1))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
