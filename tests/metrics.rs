//! `exoavs aggregator run --metrics …` as a real process on a real Anvil, scraped over HTTP the
//! way `curl http://HOST:PORT/metrics` would: the counters start at zero and move as a task is
//! created, answered by three operators (in-process drivers), aggregated and accepted; a
//! malformed response shows up under its reason label; the latency and gas histograms count.

mod common;

use common::{World, world};
use exoavs::net::{self, Reply};
use exoavs::protocol::{Flow, Response};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// Kills the aggregator however the test ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET /metrics` over a raw TCP connection; returns the status line and the body.
fn scrape(addr: SocketAddr) -> (String, String) {
    get_path(addr, "/metrics")
}

/// `GET path` over a raw TCP connection; returns the head and the body.
fn get_path(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n").as_bytes(),
    )
    .expect("request");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("HTTP head");
    (head.to_owned(), body.to_owned())
}

/// The value of one series (`name{labels}`), if present.
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn get(body: &str, series: &str) -> f64 {
    value(body, series).unwrap_or_else(|| panic!("no series {series} in:\n{body}"))
}

/// Start `exoavs aggregator run` with `--metrics 127.0.0.1:0`; returns the process, its
/// metrics and listen addresses (both read from its stdout), and the stdout to keep open.
fn start_aggregator(
    w: &World,
    dir: &std::path::Path,
    poll: Duration,
) -> (Proc, SocketAddr, SocketAddr, BufReader<ChildStdout>) {
    // Its own account: the test creates tasks with the admin's, nonces must not collide.
    let key = dir.join("aggregator.key");
    std::fs::write(&key, w.anvil.keys()[5].to_string()).expect("write key");
    let child = Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .args([
            "aggregator",
            "run",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ])
        .args([
            "--rpc-url",
            &w.anvil.url(),
            "--avs",
            &w.avs().address.to_string(),
        ])
        .args(["--ecdsa-key-file", key.to_str().expect("utf8")])
        .arg("--insecure-plaintext-key")
        .args(["--start-block", &w.dep.start_block.to_string()])
        .args(["--confirmations", "0"])
        .args(["--poll-interval", &format!("{}ms", poll.as_millis())])
        .args([
            "--store",
            dir.join("aggregator.journal").to_str().expect("utf8"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn exoavs aggregator run");
    let mut proc = Proc(child);
    let mut out = BufReader::new(proc.0.stdout.take().expect("stdout"));
    let (mut metrics, mut listen) = (None, None);
    while metrics.is_none() || listen.is_none() {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).expect("read stdout") > 0,
            "the aggregator exited before it listened"
        );
        if let Some(rest) = line.trim().strip_prefix("metrics on http://") {
            metrics = rest.strip_suffix("/metrics").and_then(|a| a.parse().ok());
        } else if let Some(rest) = line.trim().strip_prefix("aggregator listening on ") {
            listen = rest.parse().ok();
        }
    }
    (
        proc,
        metrics.expect("metrics"),
        listen.expect("listen"),
        out,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_metrics_move_as_a_task_runs() {
    let mut w = world(3, "minute").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut agg, metrics, listen, _stdout) =
        start_aggregator(&w, dir.path(), Duration::from_millis(100));
    let r = "role=\"aggregator\"";

    let (head, before) = scrape(metrics);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    for name in [
        "exoavs_tasks_accepted_total",
        "exoavs_responses_received_total",
        "exoavs_responses_rejected_total",
        "exoavs_acceptance_latency_seconds",
        "exoavs_gas_used",
        "exoavs_rpc_errors_total",
        "exoavs_rpc_retries_total",
    ] {
        assert!(
            before.contains(&format!("# HELP {name} ")),
            "{name}:\n{before}"
        );
        assert!(
            before.contains(&format!("# TYPE {name} ")),
            "{name}:\n{before}"
        );
    }
    assert_eq!(
        get(&before, &format!("exoavs_tasks_accepted_total{{{r}}}")),
        0.0
    );
    assert_eq!(
        get(&before, &format!("exoavs_responses_received_total{{{r}}}")),
        0.0
    );
    assert_eq!(
        get(
            &before,
            &format!("exoavs_acceptance_latency_seconds_count{{{r}}}")
        ),
        0.0
    );

    for i in 0..3 {
        w.start_operator(i, Flow::Aggregated, Some(listen), None)
            .await;
    }
    let admin = w.dep.admin.clone();
    w.avs()
        .create_sum_task(&admin, 20, 22, 67, 5, 0, 0)
        .await
        .expect("create task");

    // Scrape until the aggregator has seen the task accepted on chain and counted its own
    // mined submission: the chain watch (TaskResponded) and the submitter (its receipt) record
    // these in no fixed order (a CI run once read the first without the second).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let after = loop {
        let (_, body) = scrape(metrics);
        if value(&body, &format!("exoavs_tasks_accepted_total{{{r}}}")) >= Some(1.0)
            && value(&body, &format!("exoavs_aggregates_submitted_total{{{r}}}")) >= Some(1.0)
        {
            break body;
        }
        assert!(
            agg.0.try_wait().expect("wait").is_none(),
            "the aggregator exited"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no task accepted within 60 s:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // 3 equal operators at 67 %: all three signatures were needed.
    assert!(
        get(&after, &format!("exoavs_responses_received_total{{{r}}}")) >= 3.0,
        "{after}"
    );
    assert!(
        get(&after, &format!("exoavs_responses_accepted_total{{{r}}}")) >= 3.0,
        "{after}"
    );
    assert_eq!(
        get(&after, &format!("exoavs_aggregates_submitted_total{{{r}}}")),
        1.0,
        "{after}"
    );
    assert_eq!(
        get(
            &after,
            &format!("exoavs_acceptance_latency_seconds_count{{{r}}}")
        ),
        1.0
    );
    assert_eq!(
        get(
            &after,
            &format!("exoavs_aggregation_latency_seconds_count{{{r}}}")
        ),
        1.0
    );
    assert_eq!(
        get(
            &after,
            &format!("exoavs_acceptance_latency_seconds_bucket{{{r},le=\"+Inf\"}}")
        ),
        1.0
    );
    let gas = get(
        &after,
        &format!("exoavs_gas_used_sum{{{r},tx=\"respond\"}}"),
    );
    assert!(
        (150_000.0..500_000.0).contains(&gas),
        "respondToTask gas {gas}"
    );
    assert_eq!(
        get(
            &after,
            &format!("exoavs_gas_used_count{{{r},tx=\"respond\"}}")
        ),
        1.0
    );
    assert!(!after.contains("reason=\"malformed\""), "{after}");

    // A response whose signature is not a curve point: rejected, counted under its reason.
    let bad = Response {
        task_id: 1,
        response: exoavs::avs::SumAvs::response_bytes(42),
        operator: w.ops[0].0.address(),
        signature: vec![0xab; 192],
    };
    let reply = net::send_response(listen, &bad, Duration::from_secs(5))
        .await
        .expect("send");
    assert!(matches!(reply, Reply::Rejected { .. }), "{reply:?}");
    let (_, last) = scrape(metrics);
    assert_eq!(
        get(
            &last,
            &format!("exoavs_responses_rejected_total{{{r},reason=\"malformed\"}}")
        ),
        1.0,
        "{last}"
    );
    let received = |b: &str| get(b, &format!("exoavs_responses_received_total{{{r}}}"));
    assert_eq!(received(&last), received(&after) + 1.0);
}

/// `GET /ready` until its status line starts with `want` (checked every 20 ms, at most
/// `limit`); returns how long that took and the body.
fn ready_turns(addr: SocketAddr, want: &str, limit: Duration) -> (Duration, String) {
    let start = std::time::Instant::now();
    loop {
        let (head, body) = get_path(addr, "/ready");
        if head.starts_with(want) {
            return (start.elapsed(), body);
        }
        assert!(
            start.elapsed() < limit,
            "/ready still {head:?} ({body:?}) after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to Anvil's process; SIGCONT again however the test ends.
struct Paused(u32);

impl Paused {
    fn stop(pid: u32) -> Paused {
        // SAFETY: kill(2) on a child we own; no memory is touched.
        assert_eq!(
            unsafe { libc::kill(pid as i32, libc::SIGSTOP) },
            0,
            "SIGSTOP"
        );
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

/// `/health` answers 200 throughout; `/ready` is 200 while the chain answers and the event
/// cursor keeps up, 503 within three poll intervals of Anvil being stopped (SIGSTOP: a hung
/// node, which answers nothing, is the slower case to detect; a dead one refuses at once), and
/// 200 again once it runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_chain() {
    // Three operators registered (none run): the aggregator's key is account 5.
    let w = world(3, "minute").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let poll = Duration::from_millis(500);
    let (mut agg, metrics, _listen, _stdout) = start_aggregator(&w, dir.path(), poll);

    let (head, body) = get_path(metrics, "/health");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(body, "ok\n");
    let (_, body) = ready_turns(metrics, "HTTP/1.1 200", Duration::from_secs(30));
    assert!(body.starts_with("ready: chain head"), "{body}");
    assert!(body.contains("blocks behind (bound 64)"), "{body}");

    let paused = Paused::stop(w.anvil.pid());
    let (took, body) = ready_turns(metrics, "HTTP/1.1 503", poll * 10);
    println!("/ready turned 503 {took:?} after Anvil stopped (poll interval {poll:?})");
    assert!(
        took <= poll * 3,
        "/ready took {took:?} to turn 503 (more than 3 poll intervals of {poll:?}): {body}"
    );
    assert!(body.contains("unreachable"), "{body}");
    let (head, _) = get_path(metrics, "/health");
    assert!(
        head.starts_with("HTTP/1.1 200 OK"),
        "alive while the chain is not: {head}"
    );

    drop(paused);
    let (took, body) = ready_turns(metrics, "HTTP/1.1 200", Duration::from_secs(30));
    println!("/ready back to 200 {took:?} after Anvil resumed: {body}");
    assert!(
        agg.0.try_wait().expect("wait").is_none(),
        "the aggregator exited while the chain was away"
    );
}
