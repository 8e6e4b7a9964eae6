//! The aggregator as a public server (issue 14): each attack class of the table, on
//! loopback, against a real aggregator node, real operator nodes and a real Anvil. In every test
//! the honest operators keep working: each task created during or after the attack is accepted
//! on chain within its window, and the test process's resident memory (aggregator, operators and
//! attackers together) grows by less than [`MEMORY_BOUND_KIB`].

mod common;

use alloy::providers::Provider;
use common::*;
use exoavs::chain::Client;
use exoavs::chain::avs::Accepted;
use exoavs::crypto::bls::SecretKey;
use exoavs::crypto::messages::task_response_digest;
use exoavs::net::{self, Reply};
use exoavs::node::NodeEvent;
use exoavs::protocol::{Flow, Record, Response, TaskId};
use exoavs::store::{MemoryStore, Store};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Stated bound on memory growth during one attack (the README reports the measured figures).
const MEMORY_BOUND_KIB: u64 = 256 * 1024;

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn check_memory(attack: &str, before: u64) {
    let after = rss_kib();
    let grew = after.saturating_sub(before);
    eprintln!("abuse [{attack}]: RSS {before} KiB before, {after} KiB after (+{grew} KiB)");
    assert!(
        grew < MEMORY_BOUND_KIB,
        "{attack}: memory grew by {grew} KiB (bound {MEMORY_BOUND_KIB} KiB)"
    );
}

/// A connection from another loopback address than the honest operators' (127.0.0.1), as an
/// attacker on another host would come.
async fn connect_from(n: u8, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n % 8)),
        0,
    ))?;
    s.connect(to).await
}

#[derive(Debug, Default)]
struct FloodStats {
    acked: AtomicU64,
    rejected: AtomicU64,
    /// The server closed the connection or did not answer in time (the sender reconnects).
    dropped: AtomicU64,
}

/// Send `frames` over `conns` persistent connections (reconnecting when closed); returns the
/// server's answers.
async fn flood(agg: SocketAddr, frames: Vec<Response>, conns: usize) -> Arc<FloodStats> {
    let stats = Arc::new(FloodStats::default());
    flood_into(agg, frames, conns, stats.clone()).await;
    stats
}

/// [`flood`], counting into `stats` as it goes (for a flood that runs beside the honest side).
async fn flood_into(agg: SocketAddr, frames: Vec<Response>, conns: usize, stats: Arc<FloodStats>) {
    let frames = Arc::new(frames);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (stats, frames) = (stats.clone(), frames.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = None;
            for r in frames.iter().skip(c).step_by(conns) {
                if stream.is_none() {
                    stream = connect_from(c as u8, agg).await.ok();
                }
                let Some(s) = stream.as_mut() else {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                match net::exchange(s, r, Duration::from_secs(5)).await {
                    Ok(Reply::Ack) => {
                        stats.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Reply::Rejected { .. }) => {
                        stats.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        stream = None;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("flood task");
    }
}

/// Operator `i`'s genuine response to `task_id` (as an attacker could capture it).
fn genuine(w: &World, i: usize, task_id: TaskId, result: u64) -> Response {
    Response {
        task_id,
        response: exoavs::avs::SumAvs::response_bytes(result),
        operator: w.ops[i].0.address(),
        signature: w.ops[i]
            .1
            .sign(&task_response_digest(task_id, result))
            .to_uncompressed()
            .to_vec(),
    }
}

/// Sends `probe` until the aggregator acknowledges it, as an operator retries "unknown task":
/// then the aggregator has read the probe's task and the keys of its snapshot.
async fn until_acknowledged(agg: SocketAddr, probe: &Response) {
    for _ in 0..200 {
        if matches!(
            net::send_response(agg, probe, Duration::from_secs(5)).await,
            Ok(Reply::Ack)
        ) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task {} never known to the aggregator", probe.task_id);
}

async fn accepted_logs(w: &World) -> Vec<Accepted> {
    let r = w.dep.admin.reader();
    let logs = r
        .provider()
        .get_logs(&w.avs().task_responded_filter().from_block(0))
        .await
        .expect("logs");
    logs.iter()
        .filter_map(|l| w.avs().decode_task_responded(l))
        .collect()
}

/// Create a task (5-minute window: one-minute epochs) and wait until it is accepted on chain.
async fn honest_task(w: &mut World, a: u64) -> TaskId {
    let (task, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, a, 22, 67, 5, 0, 0)
        .await
        .expect("task");
    w.wait_for(
        90,
        |e| matches!(e, NodeEvent::TaskAccepted { task: t, .. } if *t == task.id),
    )
    .await;
    let state = w
        .avs()
        .task(w.dep.admin.reader(), task.id)
        .await
        .expect("state");
    assert!(state.responded, "task {} not accepted", task.id);
    task.id
}

fn stranger() -> SecretKey {
    SecretKey::from_ikm(&[7u8; 32]).expect("ikm")
}

/// "10,000 responses for tasks that do not exist yet, in 1.6 s": every registered operator's
/// address, the next 10,000 ids (the next tasks among them), a key nobody registered. None is held
/// or acknowledged, and the tasks created afterwards are accepted.
#[tokio::test]
async fn responses_for_tasks_not_created_yet_do_not_stop_honest_tasks() {
    let mut w = world(3, "minute").await;
    let (agg, h) = w
        .start_aggregator(LOOPBACK_ANY, Arc::new(MemoryStore::default()))
        .await;
    w.keep(h);
    // Task 1 first, so that the aggregator knows every operator's key: forgeries within its
    // horizon then cost it a signature check each, the expensive case.
    let (t1, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 20, 22, 67, 5, 0, 0)
        .await
        .expect("task");
    until_acknowledged(agg, &genuine(&w, 0, t1.id, 42)).await;
    let before = rss_kib();
    let forged = stranger()
        .sign(&task_response_digest(2, 42))
        .to_uncompressed()
        .to_vec();
    let frames: Vec<Response> = (2..10_002u64)
        .map(|id| Response {
            task_id: id,
            response: exoavs::avs::SumAvs::response_bytes(42),
            operator: w.ops[id as usize % 3].0.address(),
            signature: forged.clone(),
        })
        .collect();
    let started = std::time::Instant::now();
    let stats = flood(agg, frames, 8).await;
    eprintln!(
        "abuse [future tasks]: 10,000 frames in {:?}: {stats:?}",
        started.elapsed()
    );
    assert_eq!(stats.acked.load(Ordering::Relaxed), 0, "a forgery was held");
    for i in 0..3 {
        w.start_operator(i, Flow::Aggregated, Some(agg), None).await;
    }
    w.wait_for(
        90,
        |e| matches!(e, NodeEvent::TaskAccepted { task: t, .. } if *t == t1.id),
    )
    .await;
    for k in 1..4 {
        honest_task(&mut w, 20 + k).await;
    }
    check_memory("future tasks", before);
}

/// "260 connections, each sending a 2-byte bad frame" and "500 idle connections", each
/// reconnecting a second after the server closes it, while tasks are created and answered.
#[tokio::test]
async fn junk_and_idle_connection_floods_do_not_stop_honest_tasks() {
    let mut w = world(3, "minute").await;
    let (agg, h) = w
        .start_aggregator(LOOPBACK_ANY, Arc::new(MemoryStore::default()))
        .await;
    w.keep(h);
    let before = rss_kib();
    let closed = Arc::new(AtomicU64::new(0));
    for i in 0..760u32 {
        let closed = closed.clone();
        let junk = i < 260;
        w.keep(tokio::spawn(async move {
            loop {
                let Ok(mut s) = connect_from(i as u8, agg).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                if junk {
                    while net::write_frame(&mut s, &[0x01, 0x09]).await.is_ok() {
                        if !matches!(net::read_frame(&mut s).await, Ok(Some(_))) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                } else {
                    // Idle until the server closes it.
                    let _ = net::read_frame(&mut s).await;
                }
                closed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    // Let the floods fill every slot before the honest side starts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for i in 0..3 {
        w.start_operator(i, Flow::Aggregated, Some(agg), None).await;
    }
    for k in 0..3 {
        honest_task(&mut w, 20 + k).await;
    }
    let closed = closed.load(Ordering::Relaxed);
    eprintln!("abuse [connection floods]: the server closed {closed} attacker connections");
    assert!(closed > 0, "the server never closed an attacker connection");
    check_memory("connection floods", before);
}

/// "The same valid frame (unknown task, real operator) ×1000": a captured genuine response for
/// the next task, replayed before the task exists. It is held and journaled once; the replays
/// are duplicates. When the task comes, it counts once, beside the other operators'.
#[tokio::test]
async fn a_replayed_genuine_frame_is_held_and_journaled_once() {
    let mut w = world(3, "minute").await;
    let store = MemoryStore::default();
    let (agg, h) = w
        .start_aggregator(LOOPBACK_ANY, Arc::new(store.clone()))
        .await;
    w.keep(h);
    // Task 1 makes the operators' keys known: only then is an early response held at all.
    let (t1, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 20, 22, 67, 5, 0, 0)
        .await
        .expect("task");
    until_acknowledged(agg, &genuine(&w, 0, t1.id, 42)).await;
    let before = rss_kib();
    // Operator 0's genuine answer to the next task (2: a = 21, b = 22), captured.
    let captured = genuine(&w, 0, t1.id + 1, 43);
    until_acknowledged(agg, &captured).await;
    let stats = flood(agg, vec![captured.clone(); 1_000], 4).await;
    assert_eq!(stats.acked.load(Ordering::Relaxed), 0, "a replay was held");
    assert_eq!(stats.rejected.load(Ordering::Relaxed), 1_000, "{stats:?}");
    let journaled = |store: &MemoryStore| {
        store
            .load()
            .expect("load")
            .iter()
            .filter(|r| matches!(r, Record::Accepted { response } if *response == captured))
            .count()
    };
    assert_eq!(journaled(&store), 1, "journaled once, not per replay");
    for i in 0..3 {
        w.start_operator(i, Flow::Aggregated, Some(agg), None).await;
    }
    w.wait_for(
        90,
        |e| matches!(e, NodeEvent::TaskAccepted { task: t, .. } if *t == t1.id),
    )
    .await;
    let id = honest_task(&mut w, 21).await;
    assert_eq!(id, captured.task_id);
    let acc = accepted_logs(&w).await;
    assert_eq!(acc.len(), 2);
    assert_eq!(journaled(&store), 1);
    check_memory("replayed frame", before);
}

/// "38,000 wrong-sum forgeries on an open task", and 2,000 forgeries of the right result under
/// the operators' addresses, sent while the honest operators answer: none is held, and the task
/// is accepted, with every honest signer, before the flood is over.
#[tokio::test]
async fn forgeries_on_an_open_task_do_not_stop_it_or_take_an_honest_place() {
    let mut w = world(3, "minute").await;
    let (task, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 20, 22, 100, 5, 0, 0)
        .await
        .expect("task");
    let (agg, h) = w
        .start_aggregator(LOOPBACK_ANY, Arc::new(MemoryStore::default()))
        .await;
    w.keep(h);
    let before = rss_kib();
    let s = stranger();
    let wrong = s
        .sign(&task_response_digest(task.id, 41))
        .to_uncompressed()
        .to_vec();
    let right = s
        .sign(&task_response_digest(task.id, 42))
        .to_uncompressed()
        .to_vec();
    let mut frames: Vec<Response> = (0..38_000u64)
        .map(|i| Response {
            task_id: task.id,
            response: exoavs::avs::SumAvs::response_bytes(43 + i),
            operator: w.ops[i as usize % 3].0.address(),
            signature: wrong.clone(),
        })
        .collect();
    frames.extend((0..2_000u64).map(|i| Response {
        task_id: task.id,
        response: exoavs::avs::SumAvs::response_bytes(42),
        operator: w.ops[i as usize % 3].0.address(),
        signature: right.clone(),
    }));
    // The right-result forgeries first, interleaved with the wrong sums, all while the honest
    // operators answer.
    frames.rotate_right(2_000);
    let stats = Arc::new(FloodStats::default());
    let attack = tokio::spawn(flood_into(agg, frames, 16, stats.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..3 {
        w.start_operator(i, Flow::Aggregated, Some(agg), None).await;
    }
    w.wait_for(
        90,
        |e| matches!(e, NodeEvent::TaskAccepted { task: t, .. } if *t == task.id),
    )
    .await;
    eprintln!("abuse [forgeries]: task accepted with the flood under way: {stats:?}");
    assert!(
        !attack.is_finished(),
        "the flood ended before the task was accepted: not a test of serving under it"
    );
    attack.abort();
    // A right-result claim is acknowledged and checked in the batch at quorum (the design the
    // hostile-responses test in aggregated_flow.rs shows): at most one such claim per operator
    // at a time, and none of them signs.
    assert!(stats.acked.load(Ordering::Relaxed) <= 3, "{stats:?}");
    let acc = accepted_logs(&w).await;
    assert_eq!(acc.len(), 1);
    assert!(
        acc[0].non_signers.is_empty(),
        "threshold 100 %: every honest operator signed, none displaced by a forgery"
    );
    check_memory("forgeries", before);
}

/// A TCP forwarder to Anvil that can stop answering (it holds every byte while paused).
struct Proxy {
    addr: SocketAddr,
    paused: Arc<AtomicBool>,
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    paused: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while paused.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn proxy(upstream: SocketAddr) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let paused = Arc::new(AtomicBool::new(false));
    let p = paused.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let p = p.clone();
            tokio::spawn(async move {
                let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (ur, uw) = up.into_split();
                tokio::join!(pipe(cr, uw, p.clone()), pipe(ur, cw, p));
            });
        }
    });
    Proxy { addr, paused }
}

/// "A chain RPC that stops answering for 25 s": the aggregator's RPC goes through a proxy that
/// goes silent once the aggregator knows the task. Every operator still gets its verdict while
/// the chain is silent; a task created meanwhile is refused as not-yet-known (retried), and both
/// tasks are accepted once the RPC answers again.
#[tokio::test]
async fn a_silent_chain_rpc_does_not_stop_verdicts_to_operators() {
    let mut w = world(3, "minute").await;
    let (t1, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 20, 22, 67, 5, 0, 0)
        .await
        .expect("task");
    let rpc = proxy(w.anvil.addr()).await;
    // The aggregator's own account (not the admin's: two clients must not share a nonce).
    let chain = Client::http(
        &format!("http://{}", rpc.addr),
        w.anvil.signer(4).expect("spare account"),
        exoavs::chain::TxConfig {
            request_timeout: Duration::from_secs(2),
            ..fast()
        },
    )
    .await
    .expect("aggregator client");
    let (agg, h) = w
        .start_aggregator_on(chain, LOOPBACK_ANY, Arc::new(MemoryStore::default()))
        .await;
    w.keep(h);
    let before = rss_kib();
    // Probe with operator 0's genuine answer until the aggregator has read the task.
    until_acknowledged(agg, &genuine(&w, 0, t1.id, 42)).await;

    rpc.paused.store(true, Ordering::Relaxed);
    let silent_from = std::time::Instant::now();
    let (t2, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 21, 22, 67, 5, 0, 0)
        .await
        .expect("task");
    for i in 0..3 {
        w.start_operator(i, Flow::Aggregated, Some(agg), None).await;
    }
    // Every operator's response to task 1 is answered while the chain is silent.
    let mut answered = std::collections::BTreeSet::new();
    while answered.len() < 3 {
        if let NodeEvent::ResponseSent { task, operator, .. } = w
            .wait_for(
                20,
                |e| matches!(e, NodeEvent::ResponseSent { task, .. } if *task == t1.id),
            )
            .await
        {
            assert_eq!(task, t1.id);
            answered.insert(operator);
        }
    }
    let silent_for = silent_from.elapsed();
    assert!(
        rpc.paused.load(Ordering::Relaxed),
        "still silent when every verdict came"
    );
    eprintln!("abuse [silent rpc]: every operator answered {silent_for:?} into the silence");
    // Stay silent a while longer (the 25 s), then answer again.
    tokio::time::sleep(Duration::from_secs(25).saturating_sub(silent_for)).await;
    rpc.paused.store(false, Ordering::Relaxed);
    for t in [t1.id, t2.id] {
        let mut polls = 0;
        while !w
            .avs()
            .task(w.dep.admin.reader(), t)
            .await
            .expect("state")
            .responded
        {
            polls += 1;
            assert!(polls < 600, "task {t} not accepted after the RPC came back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    check_memory("silent rpc", before);
}
