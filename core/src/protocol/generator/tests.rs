use super::*;
use rand::SeedableRng;

fn cfg() -> GeneratorConfig {
    GeneratorConfig {
        interval_ms: 1000,
        max_pending: 2,
        pending_timeout_ms: 10_000,
        ..Default::default()
    }
}

fn created(out: &[GeneratorAction]) -> Vec<TaskRequest> {
    out.iter()
        .filter_map(|a| {
            if let GeneratorAction::CreateTask(t) = a {
                Some(t.clone())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn creates_on_interval_and_persists_first() {
    let mut g = Generator::new(cfg(), Box::new(CounterPairs::default()));
    let out = g.handle(0, GeneratorInput::Tick);
    assert_eq!(
        out[0],
        GeneratorAction::Persist(Record::Created { seq: 0, a: 0, b: 1 })
    );
    assert_eq!(created(&out)[0].seq, 0);
    assert!(created(&g.handle(999, GeneratorInput::Tick)).is_empty());
    assert_eq!(g.poll_timeout(), Some(1000));
    assert_eq!(created(&g.handle(1000, GeneratorInput::Tick))[0].a, 2);
}

#[test]
fn backpressure_holds_new_tasks_until_confirmed() {
    let mut g = Generator::new(cfg(), Box::new(CounterPairs::default()));
    g.handle(0, GeneratorInput::Tick);
    g.handle(1000, GeneratorInput::Tick);
    let out = g.handle(2000, GeneratorInput::Tick);
    assert_eq!(out, vec![GeneratorAction::Backpressure { pending: 2 }]);
    assert!(g.handle(3000, GeneratorInput::Tick).is_empty()); // reported once per stall
    let out = g.handle(3500, GeneratorInput::Confirmed { seq: 0, task_id: 1 });
    assert_eq!(
        out[0],
        GeneratorAction::Persist(Record::Confirmed {
            seq: 0,
            task_id: Some(1)
        })
    );
    assert_eq!(created(&out)[0].seq, 2);
}

#[test]
fn unconfirmed_tasks_are_abandoned_after_timeout() {
    let mut g = Generator::new(cfg(), Box::new(CounterPairs::default()));
    g.handle(0, GeneratorInput::Tick);
    let out = g.handle(10_000, GeneratorInput::Tick);
    assert!(out.contains(&GeneratorAction::Abandoned { seq: 0 }));
}

#[test]
fn max_tasks_then_finished() {
    let mut g = Generator::new(
        GeneratorConfig {
            max_tasks: Some(1),
            ..cfg()
        },
        Box::new(CounterPairs::default()),
    );
    g.handle(0, GeneratorInput::Tick);
    assert!(created(&g.handle(5000, GeneratorInput::Tick)).is_empty());
    let out = g.handle(5000, GeneratorInput::Confirmed { seq: 0, task_id: 9 });
    assert!(out.contains(&GeneratorAction::Finished));
    assert_eq!(g.poll_timeout(), None);
}

#[test]
fn restore_continues_sequence_and_keeps_pending() {
    let records = vec![
        Record::Created { seq: 0, a: 1, b: 2 },
        Record::Created { seq: 1, a: 3, b: 4 },
        Record::Confirmed {
            seq: 0,
            task_id: Some(5),
        },
    ];
    let mut g = Generator::restore(cfg(), Box::new(CounterPairs::default()), &records);
    assert_eq!(g.pending().collect::<Vec<_>>(), vec![1]);
    let out = g.handle(0, GeneratorInput::Tick);
    assert_eq!(created(&out)[0].seq, 2);
}

#[test]
fn seeded_inputs_are_reproducible() {
    let run = || {
        let src = RngPairs {
            rng: rand::rngs::StdRng::seed_from_u64(7),
            max: 1000,
        };
        let mut g = Generator::new(
            GeneratorConfig {
                max_pending: 10,
                ..cfg()
            },
            Box::new(src),
        );
        (0..5)
            .flat_map(|i| created(&g.handle(i * 1000, GeneratorInput::Tick)))
            .map(|t| (t.a, t.b))
            .collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a.len(), 5);
    assert!(a.iter().all(|(x, y)| *x <= 1000 && *y <= 1000));
    assert_eq!(a, run());
}
