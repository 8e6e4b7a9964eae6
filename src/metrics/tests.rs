use super::health::{HealthConfig, Probe};
use super::*;
use crate::chain::CursorProgress;
use crate::protocol::RejectReason;
use crate::protocol::aggregator::ExpiryReason;
use alloy::primitives::{Address, B256};
use std::collections::{HashMap, HashSet};

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Every line is a HELP, a TYPE, or `name{labels} value`; each sample's family was announced
/// by HELP and TYPE before it, each family once; label values are quoted.
fn check_exposition(text: &str) {
    let mut helped = HashSet::new();
    let mut typed: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("name");
            assert!(helped.insert(name.to_owned()), "HELP twice for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut p = rest.split(' ');
            let name = p.next().expect("name").to_owned();
            let kind = p.next().expect("kind");
            assert!(["counter", "gauge", "histogram", "summary"].contains(&kind));
            assert!(helped.contains(&name), "TYPE before HELP for {name}");
            assert!(typed.insert(name, kind.to_owned()).is_none());
        } else {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            assert!(
                value.parse::<f64>().is_ok() || value == "+Inf",
                "value in {line}"
            );
            let name = series.split('{').next().expect("name");
            assert!(name.starts_with("exoavs_"), "{line}");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(name);
            assert!(typed.contains_key(family), "sample before TYPE: {line}");
            if let Some(labels) = series.strip_prefix(name) {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                for pair in labels[1..labels.len() - 1].split("\",") {
                    let (k, v) = pair.split_once('=').expect("k=v");
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                    assert!(v.starts_with('"'), "{line}");
                }
            }
        }
    }
    assert!(text.ends_with('\n'));
}

#[test]
fn exposition_format_and_counters_follow_events() {
    let m = Metrics::new("aggregator");
    let empty = m.render();
    check_exposition(&empty);
    for name in [
        "exoavs_tasks_created_total",
        "exoavs_tasks_accepted_total",
        "exoavs_tasks_expired_total",
        "exoavs_responses_received_total",
        "exoavs_responses_rejected_total",
        "exoavs_aggregation_latency_seconds",
        "exoavs_acceptance_latency_seconds",
        "exoavs_gas_used",
        "exoavs_rpc_errors_total",
        "exoavs_rpc_retries_total",
    ] {
        assert!(empty.contains(&format!("# HELP {name} ")), "{name}");
        assert!(empty.contains(&format!("# TYPE {name} ")), "{name}");
    }
    assert_eq!(
        sample(&empty, "exoavs_tasks_accepted_total{role=\"aggregator\"}"),
        Some(0.0)
    );

    let t0 = Instant::now();
    let op = Address::repeat_byte(7);
    let at = |ms| t0 + Duration::from_millis(ms);
    m.observe_at(
        &NodeEvent::ResponseReceived {
            task: 1,
            operator: op,
        },
        at(0),
    );
    m.observe_at(
        &NodeEvent::Progress {
            task: 1,
            responses: 1,
            operators: 4,
        },
        at(0),
    );
    m.observe_at(
        &NodeEvent::ResponseReceived {
            task: 1,
            operator: op,
        },
        at(100),
    );
    m.observe_at(
        &NodeEvent::ResponseRejected {
            task: 1,
            operator: op,
            reason: RejectReason::ProvablyWrong {
                digest: B256::repeat_byte(5),
            },
        },
        at(100),
    );
    m.observe_at(
        &NodeEvent::AggregateSubmitted {
            task: 1,
            signers: 3,
            non_signers: 1,
            included: Vec::new(),
            tx: B256::ZERO,
            gas: 267_421,
        },
        at(300),
    );
    m.observe_at(
        &NodeEvent::TaskAccepted {
            task: 1,
            block: 9,
            response: vec![],
        },
        at(700),
    );
    m.observe_at(
        &NodeEvent::TaskExpired {
            task: 2,
            reason: ExpiryReason::InvalidThreshold(0),
        },
        at(800),
    );
    let text = m.render();
    check_exposition(&text);
    let r = "role=\"aggregator\"";
    assert_eq!(
        sample(&text, &format!("exoavs_tasks_accepted_total{{{r}}}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("exoavs_tasks_expired_total{{{r}}}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("exoavs_responses_received_total{{{r}}}")),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("exoavs_responses_rejected_total{{{r},reason=\"provably-wrong\"}}")
        ),
        Some(1.0)
    );
    // 0.3 s from the first response to the submission: in the 0.5 bucket, not in 0.25.
    let agg = "exoavs_aggregation_latency_seconds";
    assert_eq!(
        sample(&text, &format!("{agg}_bucket{{{r},le=\"0.25\"}}")),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &format!("{agg}_bucket{{{r},le=\"0.5\"}}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("{agg}_bucket{{{r},le=\"+Inf\"}}")),
        Some(1.0)
    );
    assert_eq!(sample(&text, &format!("{agg}_count{{{r}}}")), Some(1.0));
    let sum = sample(&text, &format!("{agg}_sum{{{r}}}")).expect("sum");
    assert!((sum - 0.3).abs() < 1e-9, "{sum}");
    let acc = sample(
        &text,
        &format!("exoavs_acceptance_latency_seconds_sum{{{r}}}"),
    )
    .expect("sum");
    assert!((acc - 0.7).abs() < 1e-9, "{acc}");
    let gas = "exoavs_gas_used";
    assert_eq!(
        sample(
            &text,
            &format!("{gas}_bucket{{{r},tx=\"respond\",le=\"250000\"}}")
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("{gas}_bucket{{{r},tx=\"respond\",le=\"300000\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("{gas}_sum{{{r},tx=\"respond\"}}")),
        Some(267_421.0)
    );
}

#[test]
fn histogram_buckets_are_cumulative_and_end_with_inf() {
    let m = Metrics::new("generator");
    let t0 = Instant::now();
    for (i, gas) in [40_000u64, 120_000, 120_000, 9_000_000]
        .into_iter()
        .enumerate()
    {
        m.observe_at(
            &NodeEvent::TaskCreated {
                task: i as u64 + 1,
                payload: vec![1, 2],
                block: 1,
                gas,
            },
            t0,
        );
    }
    let text = m.render();
    check_exposition(&text);
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("exoavs_gas_used_bucket{role=\"generator\",tx=\"create_task\""))
        .map(|l| {
            l.rsplit_once(' ')
                .expect("value")
                .1
                .parse()
                .expect("number")
        })
        .collect();
    assert_eq!(buckets.len(), GAS_BUCKETS.len() + 1);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(buckets[0], 1.0);
    // 9M exceeds every finite bound: counted in +Inf only.
    assert_eq!(buckets[buckets.len() - 2], 3.0);
    assert_eq!(buckets[buckets.len() - 1], 4.0);
    assert_eq!(
        sample(&text, "exoavs_tasks_created_total{role=\"generator\"}"),
        Some(4.0)
    );
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape_label("x\ny"), r"x\ny");
    let m = Metrics::new("we\"ird");
    m.observe(&NodeEvent::ResponseRejected {
        task: 1,
        operator: Address::ZERO,
        reason: RejectReason::Duplicate,
    });
    let text = m.render();
    check_exposition(&text);
    assert!(
        text.contains(r#"exoavs_responses_rejected_total{role="we\"ird",reason="duplicate"} 1"#),
        "{text}"
    );
}

#[test]
fn rpc_counters_come_from_the_readers_stats() {
    let m = Metrics::new("operator");
    let stats = RpcStats::default();
    m.watch_rpc(&stats);
    m.watch_rpc(&stats.clone()); // the same set is counted once
    let err = crate::chain::ChainError::Transport("reset".into());
    stats.error("eth_call", &err);
    stats.error("eth_call", &err);
    stats.retry("eth_call");
    let text = m.render();
    check_exposition(&text);
    assert_eq!(
        sample(
            &text,
            "exoavs_rpc_errors_total{role=\"operator\",method=\"eth_call\",kind=\"transport\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "exoavs_rpc_retries_total{role=\"operator\",method=\"eth_call\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn quantiles_and_summary_table() {
    let mut h = Histogram::new(LATENCY_BUCKETS);
    assert_eq!(h.quantile(0.5), None);
    for v in 1..=100 {
        h.observe(v as f64);
    }
    assert_eq!(h.quantile(0.5), Some(50.0));
    assert_eq!(h.quantile(0.95), Some(95.0));
    assert_eq!(h.min_max(), Some((1.0, 100.0)));

    let m = Metrics::new("devnet");
    let t0 = Instant::now();
    m.observe_at(
        &NodeEvent::TaskCreated {
            task: 1,
            payload: vec![1, 2],
            block: 1,
            gas: 400_000,
        },
        t0,
    );
    for gas in [200_000, 300_000] {
        m.observe_at(
            &NodeEvent::AggregateSubmitted {
                task: 1,
                signers: 3,
                non_signers: 0,
                included: Vec::new(),
                tx: B256::ZERO,
                gas,
            },
            t0,
        );
    }
    m.observe_at(
        &NodeEvent::TaskAccepted {
            task: 1,
            block: 2,
            response: vec![],
        },
        t0 + Duration::from_millis(1500),
    );
    let table = m.summary();
    let row = |k: &str| {
        table
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(k).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {k} row:\n{table}"))
    };
    assert_eq!(row("tasks created"), "1");
    assert_eq!(row("tasks accepted"), "1");
    assert_eq!(row("tasks expired"), "0");
    assert_eq!(
        row("acceptance latency p50 / p95"),
        "1.50 s / 1.50 s  (n=1)"
    );
    assert_eq!(
        row("gas per submission (respond) min / avg / max"),
        "200000 / 250000 / 300000  (n=2)"
    );
    assert_eq!(row("chain RPC errors / retries"), "0 / 0");
}

/// A generator's health (no cursor expected), probed by hand.
fn health() -> Arc<Health> {
    Health::new(
        CursorProgress::default(),
        HealthConfig {
            poll_interval: Duration::from_millis(100),
            max_lag: 8,
            expects_cursor: false,
        },
    )
}

#[tokio::test]
async fn routes() {
    let (m, h) = (Metrics::new("x"), health());
    let now = Instant::now();
    let status = |req: &[u8]| route(req, &m, &h, now).0;
    assert_eq!(status(b"GET /metrics HTTP/1.1\r\nHost: a"), "200 OK");
    assert_eq!(status(b"GET /metrics?x=1 HTTP/1.0"), "200 OK");
    assert_eq!(status(b"GET /health HTTP/1.1"), "200 OK");
    assert_eq!(status(b"GET / HTTP/1.1"), "404 Not Found");
    assert_eq!(status(b"POST /metrics HTTP/1.1"), "405 Method Not Allowed");
    assert_eq!(status(b"POST /ready HTTP/1.1"), "405 Method Not Allowed");
    // Not probed yet, then probed fine, then the chain gone.
    let (s, ct, body) = route(b"GET /ready HTTP/1.1", &m, &h, now);
    assert_eq!((s, ct), ("503 Service Unavailable", TEXT));
    assert!(body.contains("not been probed"), "{body}");
    h.record(Probe {
        at: now,
        head: Ok(7),
    });
    let (s, _, body) = route(b"GET /ready HTTP/1.1", &m, &h, now);
    assert_eq!((s, body.as_str()), ("200 OK", "ready: chain head 7\n"));
    h.record(Probe {
        at: now,
        head: Err("connection refused".into()),
    });
    let (s, _, body) = route(b"GET /ready HTTP/1.1", &m, &h, now);
    assert_eq!(s, "503 Service Unavailable");
    assert!(body.contains("unreachable"), "{body}");
    assert_eq!(route(b"GET /metrics HTTP/1.1", &m, &h, now).1, EXPOSITION);
}

#[cfg(not(madsim))]
#[tokio::test]
async fn serves_get_metrics_over_http() {
    let m = Metrics::new("aggregator");
    m.observe(&NodeEvent::TaskAccepted {
        task: 1,
        block: 1,
        response: vec![],
    });
    let listener = bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(serve(listener, m.clone(), health()));
    let get = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    };
    let reply = get("/metrics").await;
    let (head, body) = reply.split_once("\r\n\r\n").expect("head");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    check_exposition(body);
    assert_eq!(
        sample(body, "exoavs_tasks_accepted_total{role=\"aggregator\"}"),
        Some(1.0)
    );
    assert!(get("/").await.starts_with("HTTP/1.1 404"));
    let health = get("/health").await;
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    let ready = get("/ready").await;
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    server.abort();
}

#[test]
fn task_start_times_are_bounded() {
    let m = Metrics::new("operator");
    let t0 = Instant::now();
    for task in 0..(KEEP_TASKS as u64 + 50) {
        m.observe_at(
            &NodeEvent::ResponseSent {
                task,
                operator: Address::ZERO,
                response: vec![1],
            },
            t0,
        );
    }
    let s = m.state();
    assert_eq!(s.first_seen.len(), KEEP_TASKS);
    assert_eq!(s.first_seen.keys().next(), Some(&50));
}

/// A flood of frames for made-up task ids (anyone can send them) leaves the start time of a
/// real task alone: only accepted responses start the clock.
#[test]
fn unvalidated_task_ids_do_not_evict_real_tasks() {
    let m = Metrics::new("aggregator");
    let t0 = Instant::now();
    m.observe_at(
        &NodeEvent::Progress {
            task: 5,
            responses: 1,
            operators: 4,
        },
        t0,
    );
    for task in 1_000..(1_000 + 2 * KEEP_TASKS as u64) {
        m.observe_at(
            &NodeEvent::ResponseReceived {
                task,
                operator: Address::ZERO,
            },
            t0,
        );
    }
    let s = m.state();
    assert_eq!(s.first_seen.keys().collect::<Vec<_>>(), [&5]);
    assert_eq!(s.first_response.keys().collect::<Vec<_>>(), [&5]);
    assert_eq!(s.responses_received, 2 * KEEP_TASKS as u64);
}

/// Refusals are counted by their reason's slug. The label once came from the first word of the
/// reason's text, which named a refusal `the` or `task`.
#[test]
fn refusals_are_counted_by_slug() {
    use crate::protocol::operator::RefuseReason;
    let m = Metrics::new("operator");
    for reason in [
        RefuseReason::NoAnswer,
        RefuseReason::NoAnswer,
        RefuseReason::Late,
        RefuseReason::BadPayload("3 bytes".into()),
    ] {
        m.observe(&NodeEvent::Refused {
            task: 1,
            operator: Address::ZERO,
            reason,
        });
    }
    let text = m.render();
    check_exposition(&text);
    for want in [
        r#"exoavs_tasks_refused_total{role="operator",reason="no-answer"} 2"#,
        r#"exoavs_tasks_refused_total{role="operator",reason="late"} 1"#,
        r#"exoavs_tasks_refused_total{role="operator",reason="bad-payload"} 1"#,
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
}
