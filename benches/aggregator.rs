//! End-to-end throughput of the aggregator state machine (H3's `protocol::aggregator`), one core:
//! one task, N operators of equal stake, threshold 100 % so every response is processed before
//! the single `Submit`. Each response is the operator's uncompressed (192-byte) signature.
//!
//! Full: `cargo bench --bench aggregator`; smoke: `EXOAVS_BENCH_QUICK=1 cargo bench --bench aggregator -- --quick`.

use std::time::Duration;

use alloy::primitives::Address;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exoavs::crypto::bls::SecretKey;
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

fn setup(n: usize) -> (Task, Vec<TaskOperator>, Vec<Response>) {
    let mut rng = StdRng::seed_from_u64(n as u64);
    let task = Task {
        id: 1,
        a: 20,
        b: 22,
        threshold_percentage: 100,
        starting_epoch: 10,
        response_period: 5,
        challenge_period: 5,
        statistical_period: 5,
        created_block: 1,
    };
    let digest = task_response_digest(1, 42);
    let mut snapshot = Vec::new();
    let mut responses = Vec::new();
    for i in 0..n {
        let sk = SecretKey::random(&mut rng);
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
            result: 42,
            operator,
            signature: sk.sign(&digest).to_uncompressed().to_vec(),
        });
    }
    (task, snapshot, responses)
}

fn run(task: &Task, snapshot: &[TaskOperator], responses: &[Response]) -> usize {
    let mut agg = Aggregator::new(AggregatorConfig::default());
    agg.handle(
        10,
        AggregatorInput::TaskCreated {
            task: task.clone(),
            snapshot: snapshot.to_vec(),
        },
    );
    let mut submits = 0;
    for r in responses {
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
        let (task, snapshot, responses) = setup(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("one_task_n{n}"), |b| {
            b.iter(|| assert_eq!(run(&task, &snapshot, &responses), 1))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
