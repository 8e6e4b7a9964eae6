use super::*;
use rand::SeedableRng;

/// Any AVS's `next_payload` feeds the generator, encoded: here the sum's own rule.
#[test]
fn an_avs_rule_is_a_payload_source() {
    let mut src = AvsPayloads {
        avs: SumAvs { max_addend: 9 },
        rng: rand::rngs::StdRng::seed_from_u64(3),
    };
    let mut same = rand::rngs::StdRng::seed_from_u64(3);
    let mut avs = SumAvs { max_addend: 9 };
    for _ in 0..20 {
        let want = avs.next_payload(&mut same);
        assert!(want.a <= 9 && want.b <= 9);
        assert_eq!(src.next_payload(), avs.encode_payload(&want));
    }
}

fn cfg() -> GeneratorConfig {
    GeneratorConfig {
        interval_ms: 1000,
        max_pending: 2,
        retry_ms: 500,
        max_attempts: 3,
        ..Default::default()
    }
}

/// The sum's inputs of a request.
fn ab(r: &TaskRequest) -> (u64, u64) {
    let p = SumAvs::default().decode_payload(&r.payload).unwrap();
    (p.a, p.b)
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
        GeneratorAction::Persist(Record::Created {
            seq: 0,
            payload: SumAvs::payload_bytes(0, 1)
        })
    );
    assert_eq!(created(&out)[0].seq, 0);
    assert!(created(&g.handle(999, GeneratorInput::Tick)).is_empty());
    assert_eq!(g.poll_timeout(), Some(1000));
    assert_eq!(ab(&created(&g.handle(1000, GeneratorInput::Tick))[0]).0, 2);
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

fn broadcasts(out: &[GeneratorAction]) -> Vec<(u64, Bytes)> {
    out.iter()
        .filter_map(|a| match a {
            GeneratorAction::Broadcast { seq, raw } => Some((*seq, raw.clone())),
            _ => None,
        })
        .collect()
}

fn raw(n: u8) -> Bytes {
    Bytes::from(vec![n; 4])
}

#[test]
fn signed_bytes_are_persisted_before_they_are_sent() {
    let mut g = Generator::new(cfg(), Box::new(CounterPairs::default()));
    g.handle(0, GeneratorInput::Tick);
    let out = g.handle(
        10,
        GeneratorInput::Signed {
            seq: 0,
            raw: raw(1),
        },
    );
    assert_eq!(
        out,
        vec![
            GeneratorAction::Persist(Record::TxSigned {
                seq: 0,
                raw: raw(1)
            }),
            GeneratorAction::Broadcast {
                seq: 0,
                raw: raw(1)
            },
        ]
    );
}

#[test]
fn unresolved_is_sent_again_with_the_same_bytes_never_signed_anew() {
    let mut g = Generator::new(cfg(), Box::new(CounterPairs::default()));
    g.handle(0, GeneratorInput::Tick);
    g.handle(
        10,
        GeneratorInput::Signed {
            seq: 0,
            raw: raw(1),
        },
    );
    // Many unanswered tries: always the same bytes, never a new signature or request.
    let mut t = 20;
    for _ in 0..10 {
        let out = g.handle(t, GeneratorInput::Unresolved { seq: 0 });
        assert!(broadcasts(&out).is_empty(), "not before retry_ms");
        assert!(g.poll_timeout().is_some_and(|w| w <= t + 500));
        t += 500;
        let out = g.handle(t, GeneratorInput::Tick);
        assert_eq!(broadcasts(&out), vec![(0, raw(1))]);
        assert!(created(&out).iter().all(|r| r.seq != 0));
    }
    assert!(
        !g.handle(t, GeneratorInput::Confirmed { seq: 0, task_id: 4 })
            .is_empty()
    );
    assert!(g.pending().all(|s| s != 0));
}

/// A later nonce cannot land before an earlier one, so signed bytes go out in sequence order:
/// while request 0's send is unresolved, request 1's bytes wait (a driver that sent them would
/// wait out its receipt timeout for nothing), and the wait for a retry is request 0's alone.
#[test]
fn signed_bytes_go_out_one_nonce_at_a_time() {
    let mut g = Generator::new(cfg(), Box::new(CounterPairs::default()));
    g.handle(0, GeneratorInput::Tick);
    g.handle(
        10,
        GeneratorInput::Signed {
            seq: 0,
            raw: raw(1),
        },
    );
    // The send is lost. At 1000 request 0 is retried and request 1 comes due.
    assert!(broadcasts(&g.handle(20, GeneratorInput::Unresolved { seq: 0 })).is_empty());
    let out = g.handle(1000, GeneratorInput::Tick);
    assert_eq!(broadcasts(&out), vec![(0, raw(1))]);
    assert_eq!(created(&out).iter().map(|r| r.seq).collect::<Vec<_>>(), [1]);
    // Lost again; request 1 is signed, persisted, and held back behind request 0.
    assert!(broadcasts(&g.handle(1005, GeneratorInput::Unresolved { seq: 0 })).is_empty());
    let out = g.handle(
        1010,
        GeneratorInput::Signed {
            seq: 1,
            raw: raw(2),
        },
    );
    assert_eq!(
        out,
        vec![GeneratorAction::Persist(Record::TxSigned {
            seq: 1,
            raw: raw(2)
        })]
    );
    // The next wake-up is request 0's retry, never the held-back send.
    assert_eq!(g.poll_timeout(), Some(1505));
    assert!(broadcasts(&g.handle(1300, GeneratorInput::Tick)).is_empty());
    assert_eq!(
        broadcasts(&g.handle(1505, GeneratorInput::Tick)),
        vec![(0, raw(1))]
    );
    // Once request 0 is on chain, request 1's bytes go at once.
    let out = g.handle(1600, GeneratorInput::Confirmed { seq: 0, task_id: 1 });
    assert_eq!(broadcasts(&out), vec![(1, raw(2))]);
    // And a rejection of the first signed request frees the next one too.
    let mut g = Generator::restore(
        cfg(),
        Box::new(CounterPairs::default()),
        &[
            Record::Created {
                seq: 0,
                payload: SumAvs::payload_bytes(0, 1),
            },
            Record::TxSigned {
                seq: 0,
                raw: raw(1),
            },
            Record::Created {
                seq: 1,
                payload: SumAvs::payload_bytes(2, 3),
            },
            Record::TxSigned {
                seq: 1,
                raw: raw(2),
            },
        ],
    );
    assert_eq!(
        broadcasts(&g.handle(0, GeneratorInput::Tick)),
        vec![(0, raw(1))]
    );
    let out = g.handle(10, GeneratorInput::Rejected { seq: 0 });
    assert_eq!(broadcasts(&out), vec![(1, raw(2))]);
}

/// Signing order, not sequence order, decides: request 0 could not be signed at first, so
/// request 1 took the lower nonce. Its bytes go first, and request 0's (the higher nonce) wait
/// for them; ordering by sequence held the lower nonce back for good.
#[test]
fn signed_bytes_go_out_in_signing_order_when_a_signing_failed() {
    let mut g = Generator::new(cfg(), Box::new(CounterPairs::default()));
    g.handle(0, GeneratorInput::Tick);
    // Request 0's signing fails (the node is unreachable): nothing was signed, no nonce taken.
    g.handle(10, GeneratorInput::Unresolved { seq: 0 });
    // At 1000 request 1 comes due and request 0's retry too; request 1 is signed first.
    let out = g.handle(1000, GeneratorInput::Tick);
    let mut seqs: Vec<u64> = created(&out).iter().map(|r| r.seq).collect();
    seqs.sort();
    assert_eq!(seqs, [0, 1]);
    let out = g.handle(
        1010,
        GeneratorInput::Signed {
            seq: 1,
            raw: raw(2),
        },
    );
    assert_eq!(broadcasts(&out), vec![(1, raw(2))]);
    // Request 0 signed after it, at the next nonce: held back while request 1 is unsettled.
    let out = g.handle(
        1020,
        GeneratorInput::Signed {
            seq: 0,
            raw: raw(1),
        },
    );
    assert!(broadcasts(&out).is_empty());
    assert!(broadcasts(&g.handle(1030, GeneratorInput::Unresolved { seq: 1 })).is_empty());
    assert_eq!(
        broadcasts(&g.handle(1530, GeneratorInput::Tick)),
        vec![(1, raw(2))]
    );
    let out = g.handle(1600, GeneratorInput::Confirmed { seq: 1, task_id: 1 });
    assert_eq!(broadcasts(&out), vec![(0, raw(1))]);
    // A restart keeps the journal's signing order.
    let mut g = Generator::restore(
        cfg(),
        Box::new(CounterPairs::default()),
        &[
            Record::Created {
                seq: 0,
                payload: SumAvs::payload_bytes(0, 1),
            },
            Record::Created {
                seq: 1,
                payload: SumAvs::payload_bytes(2, 3),
            },
            Record::TxSigned {
                seq: 1,
                raw: raw(2),
            },
            Record::TxSigned {
                seq: 0,
                raw: raw(1),
            },
        ],
    );
    assert_eq!(
        broadcasts(&g.handle(0, GeneratorInput::Tick)),
        vec![(1, raw(2))]
    );
}

#[test]
fn rejected_is_signed_anew_with_the_same_inputs_then_given_up() {
    let mut g = Generator::new(
        GeneratorConfig {
            max_tasks: Some(1),
            ..cfg()
        },
        Box::new(CounterPairs { next: 40 }),
    );
    g.handle(0, GeneratorInput::Tick);
    g.handle(
        1,
        GeneratorInput::Signed {
            seq: 0,
            raw: raw(1),
        },
    );
    let out = g.handle(2, GeneratorInput::Rejected { seq: 0 });
    assert_eq!(
        out,
        vec![GeneratorAction::Persist(Record::TxRejected { seq: 0 })]
    );
    let out = g.handle(502, GeneratorInput::Tick);
    let again = created(&out);
    assert_eq!((again[0].seq, ab(&again[0])), (0, (40, 41)));
    g.handle(503, GeneratorInput::Rejected { seq: 0 });
    g.handle(1003, GeneratorInput::Tick);
    let out = g.handle(1004, GeneratorInput::Rejected { seq: 0 });
    assert!(out.contains(&GeneratorAction::Abandoned { seq: 0 }));
    assert!(out.contains(&GeneratorAction::Persist(Record::Confirmed {
        seq: 0,
        task_id: None
    })));
    assert!(out.contains(&GeneratorAction::Finished));
}

#[test]
fn restore_resumes_each_request_where_it_stood() {
    let records = vec![
        Record::Created {
            seq: 0,
            payload: SumAvs::payload_bytes(0, 1),
        },
        Record::Created {
            seq: 1,
            payload: SumAvs::payload_bytes(2, 3),
        },
        Record::TxSigned {
            seq: 1,
            raw: raw(7),
        },
        Record::Created {
            seq: 2,
            payload: SumAvs::payload_bytes(4, 5),
        },
        Record::TxSigned {
            seq: 2,
            raw: raw(8),
        },
        Record::TxRejected { seq: 2 },
        Record::Confirmed {
            seq: 0,
            task_id: Some(3),
        },
    ];
    let mut g = Generator::restore(
        GeneratorConfig {
            max_pending: 10,
            ..cfg()
        },
        Box::new(CounterPairs::default()),
        &records,
    );
    let out = g.handle(0, GeneratorInput::Tick);
    // seq 1: its bytes may have left the node, so exactly those are sent again.
    assert_eq!(broadcasts(&out), vec![(1, raw(7))]);
    // seq 2 was rejected: signed anew, same inputs; seq 3 is new and gets the source's fourth
    // pair, as without the restart.
    let reqs: Vec<_> = created(&out)
        .iter()
        .map(|r| (r.seq, ab(r).0, ab(r).1))
        .collect();
    assert_eq!(reqs, vec![(2, 4, 5), (3, 6, 7)]);
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
        Record::Created {
            seq: 0,
            payload: SumAvs::payload_bytes(1, 2),
        },
        Record::Created {
            seq: 1,
            payload: SumAvs::payload_bytes(3, 4),
        },
        Record::Confirmed {
            seq: 0,
            task_id: Some(5),
        },
    ];
    let mut g = Generator::restore(cfg(), Box::new(CounterPairs::default()), &records);
    assert_eq!(g.pending().collect::<Vec<_>>(), vec![1]);
    let out = g.handle(0, GeneratorInput::Tick);
    // seq 1 never got signed bytes persisted, so it is signed now; then seq 2 is due.
    let seqs: Vec<_> = created(&out).iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![1, 2]);
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
            .map(|t| {
                let p = SumAvs::default().decode_payload(&t.payload).unwrap();
                (p.a, p.b)
            })
            .collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a.len(), 5);
    assert!(a.iter().all(|(x, y)| *x <= 1000 && *y <= 1000));
    assert_eq!(a, run());
}

#[test]
fn rng_pairs_are_the_rng_draws_reduced_into_range() {
    use rand::RngCore;
    let mut src = RngPairs {
        rng: rand::rngs::StdRng::seed_from_u64(11),
        max: 1_000,
    };
    let mut same = rand::rngs::StdRng::seed_from_u64(11);
    for _ in 0..50 {
        let want = (same.next_u64() % 1_001, same.next_u64() % 1_001);
        assert_eq!(src.next_pair(), want);
    }
    // The full range: the draws themselves.
    let mut src = RngPairs {
        rng: rand::rngs::StdRng::seed_from_u64(12),
        max: u64::MAX,
    };
    let mut same = rand::rngs::StdRng::seed_from_u64(12);
    assert_eq!(src.next_pair(), (same.next_u64(), same.next_u64()));
}

#[test]
fn restored_rejections_count_towards_giving_up() {
    // Two rejections on record, three allowed: the next rejection gives the request up.
    let records = vec![
        Record::Created {
            seq: 0,
            payload: SumAvs::payload_bytes(0, 1),
        },
        Record::TxSigned {
            seq: 0,
            raw: raw(1),
        },
        Record::TxRejected { seq: 0 },
        Record::TxSigned {
            seq: 0,
            raw: raw(2),
        },
        Record::TxRejected { seq: 0 },
    ];
    let mut g = Generator::restore(
        GeneratorConfig {
            max_tasks: Some(1),
            ..cfg()
        },
        Box::new(CounterPairs::default()),
        &records,
    );
    assert_eq!(g.pending().collect::<Vec<_>>(), vec![0]);
    let out = g.handle(0, GeneratorInput::Tick);
    assert_eq!(
        created(&out).len(),
        1,
        "re-signed after the restart: {out:?}"
    );
    let out = g.handle(1, GeneratorInput::Rejected { seq: 0 });
    assert!(
        out.contains(&GeneratorAction::Abandoned { seq: 0 }),
        "{out:?}"
    );
    assert!(out.contains(&GeneratorAction::Finished), "{out:?}");
    assert_eq!(g.pending().count(), 0);
}

#[test]
fn a_confirmation_alone_moves_the_sequence_on() {
    // A journal whose `Created` records were lost still never reuses a confirmed seq.
    let records = vec![Record::Confirmed {
        seq: 4,
        task_id: Some(9),
    }];
    let mut g = Generator::restore(cfg(), Box::new(CounterPairs::default()), &records);
    let reqs: Vec<_> = created(&g.handle(0, GeneratorInput::Tick))
        .iter()
        .map(|r| (r.seq, ab(r).0))
        .collect();
    // seq 5, with the sixth pair of the source (0, 2, 4, 6, 8, then 10).
    assert_eq!(reqs, vec![(5, 10)]);
}
