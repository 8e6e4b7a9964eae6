//! Prometheus metrics for the production roles (operator, aggregator, generator, challenger).
//!
//! The drivers stay free of metrics code: [`Metrics`] consumes the [`NodeEvent`] stream they
//! already emit (the devnet display and the simulator read the same stream) and reads the
//! RPC error and retry counters that every [`chain::Reader`](crate::chain::Reader) keeps.
//! [`Metrics::render`] writes text exposition format 0.0.4; [`serve`] answers `GET /metrics`,
//! `GET /health` and `GET /ready` ([`health`]) over plain HTTP. The responder is hand-written on `tokio::net` (a few dozen lines instead of
//! an HTTP stack), so it also builds under `--cfg madsim`, where `tokio` is the simulator.

pub mod health;

use crate::chain::{RpcCounts, RpcStats};
use crate::node::NodeEvent;
use crate::protocol::TaskId;
use health::Health;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Upper bounds of the latency histograms, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Upper bounds of the gas histogram.
pub const GAS_BUCKETS: &[f64] = &[
    50_000.0,
    100_000.0,
    150_000.0,
    200_000.0,
    250_000.0,
    300_000.0,
    400_000.0,
    500_000.0,
    1_000_000.0,
    2_000_000.0,
    5_000_000.0,
];
/// Samples kept for the devnet summary's percentiles (the newest ones).
const KEEP_SAMPLES: usize = 10_000;

/// A cumulative histogram plus min/max and the latest samples (for percentiles in the summary).
#[derive(Clone, Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations ≤ each bound (not cumulative here; summed when rendered).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
    min: f64,
    max: f64,
    samples: VecDeque<f64>,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            samples: VecDeque::new(),
        }
    }

    pub fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if self.samples.len() == KEEP_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(v);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Smallest and largest observation, None before the first.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        (self.count > 0).then_some((self.min, self.max))
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Nearest-rank percentile (`q` in 0..=1) of the kept samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.samples.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = self.samples.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize;
        Some(v[rank.clamp(1, v.len()) - 1])
    }
}

/// Counters and histograms of one process.
#[derive(Debug)]
struct State {
    tasks_created: u64,
    tasks_accepted: u64,
    tasks_expired: u64,
    tasks_settled: u64,
    responses_sent: u64,
    response_send_failures: u64,
    responses_received: u64,
    responses_accepted: u64,
    /// Signatures in accepted aggregates.
    responses_included: u64,
    rejected: BTreeMap<String, u64>,
    refused: BTreeMap<String, u64>,
    aggregates_submitted: u64,
    submit_failures: u64,
    aggregation_latency: Histogram,
    acceptance_latency: Histogram,
    /// Gas by transaction kind (create_task, respond, phase1, phase2, challenge).
    gas: BTreeMap<&'static str, Histogram>,
    /// When this process first heard of each open task, and of its first response. A role that
    /// never sees a task's end (operator, generator) would grow these forever: capped, oldest
    /// task ids (they increase) dropped first.
    first_seen: BTreeMap<TaskId, Instant>,
    first_response: BTreeMap<TaskId, Instant>,
}

impl State {
    fn new() -> State {
        State {
            tasks_created: 0,
            tasks_accepted: 0,
            tasks_expired: 0,
            tasks_settled: 0,
            responses_sent: 0,
            response_send_failures: 0,
            responses_received: 0,
            responses_accepted: 0,
            responses_included: 0,
            rejected: BTreeMap::new(),
            refused: BTreeMap::new(),
            aggregates_submitted: 0,
            submit_failures: 0,
            aggregation_latency: Histogram::new(LATENCY_BUCKETS),
            acceptance_latency: Histogram::new(LATENCY_BUCKETS),
            gas: BTreeMap::new(),
            first_seen: BTreeMap::new(),
            first_response: BTreeMap::new(),
        }
    }

    fn gas(&mut self, kind: &'static str, gas: u64) {
        self.gas
            .entry(kind)
            .or_insert_with(|| Histogram::new(GAS_BUCKETS))
            .observe(gas as f64);
    }

    fn seen(&mut self, task: TaskId, at: Instant) {
        first(&mut self.first_seen, task, at);
    }

    fn forget(&mut self, task: TaskId) {
        self.first_seen.remove(&task);
        self.first_response.remove(&task);
    }
}

/// Tasks whose start times are kept (see `State::first_seen`).
const KEEP_TASKS: usize = 10_000;

/// Remember when `task` was first seen, keeping at most [`KEEP_TASKS`] tasks.
fn first(m: &mut BTreeMap<TaskId, Instant>, task: TaskId, at: Instant) {
    m.entry(task).or_insert(at);
    while m.len() > KEEP_TASKS {
        m.pop_first();
    }
}

/// The metrics of one process (one role, or all of them in `exoavs devnet`).
#[derive(Debug)]
pub struct Metrics {
    role: String,
    state: Mutex<State>,
    rpc: Mutex<Vec<RpcStats>>,
}

impl Metrics {
    /// `role` becomes the `role` label of every series.
    pub fn new(role: impl Into<String>) -> Arc<Metrics> {
        Arc::new(Metrics {
            role: role.into(),
            state: Mutex::new(State::new()),
            rpc: Mutex::new(Vec::new()),
        })
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Count the RPC errors and retries of this reader (and its clones) too.
    pub fn watch_rpc(&self, stats: &RpcStats) {
        let mut v = self.rpc.lock().unwrap_or_else(|p| p.into_inner());
        if !v.iter().any(|s| s.same_as(stats)) {
            v.push(stats.clone());
        }
    }

    pub fn rpc_counts(&self) -> RpcCounts {
        let mut total = RpcCounts::default();
        for s in self.rpc.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            total.merge(&s.snapshot());
        }
        total
    }

    /// Record an event as of now (the runtime's clock: virtual under the simulator).
    pub fn observe(&self, ev: &NodeEvent) {
        self.observe_at(ev, Instant::now());
    }

    /// Record an event that happened at `at`. Latencies are measured between events this
    /// process saw: aggregation = first response received → aggregate submitted; acceptance =
    /// first sight of the task (its creation, or else its first response) → accepted on chain.
    pub fn observe_at(&self, ev: &NodeEvent, at: Instant) {
        let mut s = self.state();
        match ev {
            NodeEvent::TaskCreated { task, gas, .. } => {
                s.tasks_created += 1;
                s.seen(*task, at);
                s.gas("create_task", *gas);
            }
            NodeEvent::ResponseSent { task, .. } => {
                s.responses_sent += 1;
                s.seen(*task, at);
            }
            NodeEvent::ResponseSendFailed { .. } => s.response_send_failures += 1,
            // Any peer can claim any task id, so a frame only counts here; latencies start at
            // the first response the aggregator accepted (`Progress`), or a flood of made-up
            // ids would push real tasks out of the bounded start-time maps.
            NodeEvent::ResponseReceived { .. } => s.responses_received += 1,
            NodeEvent::ResponseRejected { reason, .. } => {
                *s.rejected.entry(reason.slug().to_owned()).or_default() += 1;
            }
            NodeEvent::Progress { task, .. } => {
                s.responses_accepted += 1;
                s.seen(*task, at);
                first(&mut s.first_response, *task, at);
            }
            NodeEvent::AggregateSubmitted {
                task, gas, signers, ..
            } => {
                s.aggregates_submitted += 1;
                s.responses_included += *signers as u64;
                s.gas("respond", *gas);
                // The chain watch and the writer run apart, so the acceptance may be seen
                // before the submission's receipt: the first response is kept until here.
                if let Some(t0) = s.first_response.remove(task) {
                    s.aggregation_latency
                        .observe(at.saturating_duration_since(t0).as_secs_f64());
                }
            }
            NodeEvent::SubmitFailed { .. } => s.submit_failures += 1,
            NodeEvent::TaskAccepted { task, .. } => {
                s.tasks_accepted += 1;
                if let Some(t0) = s.first_seen.get(task).copied() {
                    s.acceptance_latency
                        .observe(at.saturating_duration_since(t0).as_secs_f64());
                }
                s.first_seen.remove(task);
            }
            NodeEvent::TaskExpired { task, .. } => {
                s.tasks_expired += 1;
                s.forget(*task);
            }
            NodeEvent::PhaseSubmitted {
                task, phase, gas, ..
            } => {
                s.seen(*task, at);
                s.gas(if *phase == 1 { "phase1" } else { "phase2" }, *gas);
            }
            NodeEvent::Settled { task, gas, .. } => {
                s.tasks_settled += 1;
                s.gas("challenge", *gas);
                s.forget(*task);
            }
            NodeEvent::Refused { reason, .. } => {
                *s.refused.entry(reason.slug().to_owned()).or_default() += 1;
            }
        }
    }

    /// The text exposition format 0.0.4 (`Content-Type: text/plain; version=0.0.4`).
    pub fn render(&self) -> String {
        let s = self.state();
        let role = escape_label(&self.role);
        let mut out = String::new();
        // Counters with the role label only: (name, help, value).
        let plain: [(&str, &str, u64); 11] = [
            (
                "exoavs_tasks_created_total",
                "Tasks this process created on chain (generator).",
                s.tasks_created,
            ),
            (
                "exoavs_tasks_accepted_total",
                "Tasks seen accepted on chain (TaskResponded).",
                s.tasks_accepted,
            ),
            (
                "exoavs_tasks_expired_total",
                "Tasks that expired without an accepted aggregate.",
                s.tasks_expired,
            ),
            (
                "exoavs_tasks_settled_total",
                "Tasks settled by the challenger (two-phase flow).",
                s.tasks_settled,
            ),
            (
                "exoavs_responses_sent_total",
                "Signed responses this operator sent to the aggregator.",
                s.responses_sent,
            ),
            (
                "exoavs_response_send_failures_total",
                "Responses this operator could not deliver.",
                s.response_send_failures,
            ),
            (
                "exoavs_responses_received_total",
                "Responses the aggregator received from operators.",
                s.responses_received,
            ),
            (
                "exoavs_responses_accepted_total",
                "Responses the aggregator accepted (valid, counted toward the threshold).",
                s.responses_accepted,
            ),
            (
                "exoavs_responses_included_total",
                "Signatures in the aggregates submitted and mined: with the accepted and the late (task-closed) responses, the share of valid responses that made it in.",
                s.responses_included,
            ),
            (
                "exoavs_aggregates_submitted_total",
                "Aggregates submitted and mined (respondToTask).",
                s.aggregates_submitted,
            ),
            (
                "exoavs_submit_failures_total",
                "Aggregate submissions that failed for good.",
                s.submit_failures,
            ),
        ];
        for (name, help, v) in plain {
            counter(&mut out, name, help, &role, [(String::new(), v)]);
        }
        let by_reason = |m: &BTreeMap<String, u64>| -> Vec<(String, u64)> {
            m.iter()
                .map(|(r, v)| (format!(",reason=\"{}\"", escape_label(r)), *v))
                .collect()
        };
        counter(
            &mut out,
            "exoavs_responses_rejected_total",
            "Responses the aggregator rejected, by reason.",
            &role,
            by_reason(&s.rejected),
        );
        counter(
            &mut out,
            "exoavs_tasks_refused_total",
            "Tasks an operator refused to answer, by reason.",
            &role,
            by_reason(&s.refused),
        );

        let role_only = format!("role=\"{role}\"");
        for (name, help, h) in [
            (
                "exoavs_aggregation_latency_seconds",
                "From the first response received to the aggregate mined.",
                &s.aggregation_latency,
            ),
            (
                "exoavs_acceptance_latency_seconds",
                "From this process's first sight of a task (creation, else first response) to its acceptance on chain.",
                &s.acceptance_latency,
            ),
        ] {
            family(&mut out, name, help, "histogram");
            histogram(&mut out, name, &role_only, h);
        }
        family(
            &mut out,
            "exoavs_gas_used",
            "Gas used per transaction, by kind (create_task, respond, phase1, phase2, challenge).",
            "histogram",
        );
        for (kind, h) in &s.gas {
            let labels = format!("{role_only},tx=\"{kind}\"");
            histogram(&mut out, "exoavs_gas_used", &labels, h);
        }
        drop(s);

        let rpc = self.rpc_counts();
        counter(
            &mut out,
            "exoavs_rpc_errors_total",
            "Failed chain JSON-RPC requests, by method and kind (transport, rpc, revert, ...).",
            &role,
            rpc.errors.iter().map(|((method, kind), v)| {
                let labels = format!(
                    ",method=\"{}\",kind=\"{}\"",
                    escape_label(method),
                    escape_label(kind)
                );
                (labels, *v)
            }),
        );
        counter(
            &mut out,
            "exoavs_rpc_retries_total",
            "Chain JSON-RPC requests repeated after a transient failure, by method.",
            &role,
            rpc.retries
                .iter()
                .map(|(method, v)| (format!(",method=\"{}\"", escape_label(method)), *v)),
        );
        out
    }

    /// The table `exoavs devnet` prints at the end of a run.
    pub fn summary(&self) -> String {
        let s = self.state();
        let rpc = self.rpc_counts();
        let mut rows: Vec<(String, String)> = vec![
            ("tasks created".into(), s.tasks_created.to_string()),
            ("tasks accepted".into(), s.tasks_accepted.to_string()),
            ("tasks expired".into(), s.tasks_expired.to_string()),
        ];
        if s.tasks_settled > 0 {
            rows.push(("tasks settled".into(), s.tasks_settled.to_string()));
        }
        rows.push((
            "responses received".into(),
            s.responses_received.to_string(),
        ));
        let rejected: u64 = s.rejected.values().sum();
        rows.push(("responses rejected".into(), rejected.to_string()));
        for (reason, n) in &s.rejected {
            rows.push((format!("  {reason}"), n.to_string()));
        }
        if s.aggregates_submitted > 0 {
            // Accepted responses plus those refused only because the aggregate was already out:
            // every response that could have been in it (a forged one is refused otherwise).
            let late = s.rejected.get("task-closed").copied().unwrap_or(0);
            let could = s.responses_accepted + late;
            let pct = if could == 0 {
                100.0
            } else {
                s.responses_included as f64 * 100.0 / could as f64
            };
            rows.push((
                "responses in an aggregate".into(),
                format!(
                    "{} of {could} accepted or late ({pct:.0}%; {late} late)",
                    s.responses_included
                ),
            ));
        }
        let secs = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2} s"));
        for (name, h) in [
            ("aggregation latency", &s.aggregation_latency),
            ("acceptance latency", &s.acceptance_latency),
        ] {
            rows.push((
                format!("{name} p50 / p95"),
                format!(
                    "{} / {}  (n={})",
                    secs(h.quantile(0.5)),
                    secs(h.quantile(0.95)),
                    h.count()
                ),
            ));
        }
        let submissions: Vec<(&str, &Histogram)> = s
            .gas
            .iter()
            .filter(|(k, _)| matches!(**k, "respond" | "phase1" | "phase2" | "challenge"))
            .map(|(k, h)| (*k, h))
            .collect();
        if submissions.is_empty() {
            rows.push(("gas per submission min / avg / max".into(), "-".into()));
        }
        for (kind, h) in submissions {
            let (min, max) = h.min_max().unwrap_or_default();
            let what = if kind == "challenge" {
                "settlement"
            } else {
                "submission"
            };
            rows.push((
                format!("gas per {what} ({kind}) min / avg / max"),
                format!(
                    "{min:.0} / {:.0} / {max:.0}  (n={})",
                    h.mean().unwrap_or_default(),
                    h.count()
                ),
            ));
        }
        rows.push((
            "chain RPC errors / retries".into(),
            format!("{} / {}", rpc.total_errors(), rpc.total_retries()),
        ));
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::from("summary\n");
        for (k, v) in rows {
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        out
    }

    /// Feed every event from `rx` into these metrics until the channel closes.
    pub async fn consume(self: Arc<Self>, mut rx: tokio::sync::mpsc::UnboundedReceiver<NodeEvent>) {
        while let Some(ev) = rx.recv().await {
            self.observe(&ev);
        }
    }
}

/// A counter family: one series per entry, each labelled `role` plus the entry's extra labels
/// (`,key="value"…`, already escaped).
fn counter(
    out: &mut String,
    name: &str,
    help: &str,
    role: &str,
    series: impl IntoIterator<Item = (String, u64)>,
) {
    family(out, name, help, "counter");
    for (labels, v) in series {
        let _ = writeln!(out, "{name}{{role=\"{role}\"{labels}}} {v}");
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let mut cum = 0;
    for (b, c) in h.bounds.iter().zip(&h.counts) {
        cum += c;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"{}\"}} {cum}",
            fmt_f64(*b)
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", fmt_f64(h.sum));
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

/// Go-style float text: integers without a fraction, others in the shortest form.
fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{v}")
    }
}

/// Label values escape backslash, double quote and newline.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// HELP text escapes backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

/// Longest request head we read; anything longer is answered 431 and closed.
const MAX_REQUEST: usize = 8 * 1024;
/// A client that sends no complete request head within this time is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Bind `addr` for [`serve`] (separate, so callers learn the port and report bind errors).
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Answer `GET /metrics` (text format 0.0.4), `GET /health` and `GET /ready` on `listener`
/// forever, one task per connection. Anything else gets 404 (another path) or 405 (another
/// method).
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, health: Arc<Health>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (m, h) = (metrics.clone(), health.clone());
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &m, &h).await {
                tracing::debug!(%peer, "metrics request: {e}");
            }
        });
    }
}

async fn answer(
    mut stream: tokio::net::TcpStream,
    metrics: &Metrics,
    health: &Health,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(512);
    let head_end = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(Some(i));
            }
            if buf.len() > MAX_REQUEST {
                return Ok(None);
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before the request head ended",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head too slow"))??;
    let (status, content_type, body) = match head_end {
        None => ("431 Request Header Fields Too Large", TEXT, String::new()),
        Some(end) => route(&buf[..end], metrics, health, Instant::now()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The content type of `/metrics`.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of everything else.
const TEXT: &str = "text/plain; charset=utf-8";

/// Status line, content type and body for a request head, at `now`.
fn route(
    head: &[u8],
    metrics: &Metrics,
    health: &Health,
    now: Instant,
) -> (&'static str, &'static str, String) {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => ("200 OK", EXPOSITION, metrics.render()),
        ("GET", "/health") => ("200 OK", TEXT, "ok\n".into()),
        ("GET", "/ready") => match health.ready(now) {
            Ok(why) => ("200 OK", TEXT, why + "\n"),
            Err(why) => ("503 Service Unavailable", TEXT, why + "\n"),
        },
        ("GET", _) => (
            "404 Not Found",
            TEXT,
            "served here: /metrics, /health, /ready\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            TEXT,
            "GET /metrics, /health or /ready\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests;
