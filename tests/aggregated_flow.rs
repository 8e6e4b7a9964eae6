//! The aggregated flow end to end on a real Anvil, with the real drivers: round trip, a wrong
//! operator, hostile input to the aggregator, threshold not reached, and an aggregator crash.

mod common;

use alloy::primitives::Address;
use alloy::providers::Provider;
use common::*;
use exoavs::chain::avs::Accepted;
use exoavs::crypto::messages::task_response_digest;
use exoavs::net::{self, Message, Reply, codec};
use exoavs::node::NodeEvent;
use exoavs::protocol::{Flow, Response};
use exoavs::store::MemoryStore;
use std::sync::Arc;
use std::time::Duration;

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

#[tokio::test]
async fn round_trip_with_a_wrong_operator() {
    let mut w = world(4, "minute").await;
    let (task, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 20, 22, 67, 5, 0, 0)
        .await
        .expect("task");
    let (agg, h) = w
        .start_aggregator(LOOPBACK_ANY, Arc::new(MemoryStore::default()))
        .await;
    w.keep(h);
    // The wrong operator answers first, so its rejection is certain (not a late arrival).
    let wrong = w.ops[3].0.address();
    let key = exoavs::crypto::bls::SecretKey::from_bytes(&w.ops[3].1.to_bytes()[..]).expect("key");
    w.start_operator(3, Flow::Aggregated, Some(agg), Some(wrong_sum(key)))
        .await;
    let ev = w
        .wait_for(
            20,
            // "unknown-task" asks the operator to retry: the response came before the aggregator
            // read the task. The verdict that counts is the next one.
            |e| matches!(e, NodeEvent::ResponseRejected { operator, reason, .. } if *operator == wrong && *reason != exoavs::protocol::RejectReason::UnknownTask),
        )
        .await;
    let NodeEvent::ResponseRejected { reason, .. } = ev else {
        unreachable!()
    };
    assert!(
        matches!(reason, exoavs::protocol::RejectReason::ProvablyWrong { .. }),
        "rejected for the wrong reason: {reason}"
    );

    for i in 0..3 {
        w.start_operator(i, Flow::Aggregated, Some(agg), None).await;
    }
    w.wait_for(
        30,
        |e| matches!(e, NodeEvent::TaskAccepted { task: t, .. } if *t == task.id),
    )
    .await;
    let state = w
        .avs()
        .task(w.dep.admin.reader(), task.id)
        .await
        .expect("state");
    assert!(state.responded);
    let acc = accepted_logs(&w).await;
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].response, exoavs::avs::SumAvs::response_bytes(42));
    assert_eq!(
        acc[0].non_signers,
        vec![wrong],
        "the wrong operator is not counted"
    );
    assert_eq!(acc[0].signed_stake, alloy::primitives::U256::from(300));

    // Its signature over the wrong sum went to the contract as a fraud proof (slashable).
    let r = w.dep.admin.reader();
    let logs = r
        .provider()
        .get_logs(&w.avs().all_events_filter().from_block(0))
        .await
        .expect("logs");
    let proofs: Vec<_> = logs
        .iter()
        .filter_map(|l| w.avs().decode_fault_proven(l))
        .collect();
    assert_eq!(proofs, vec![(task.id, wrong)]);
}

/// Send one raw frame body, return the decoded reply (None if the server closed instead).
async fn raw_exchange(
    addr: std::net::SocketAddr,
    body: &[u8],
    declared_len: Option<u32>,
) -> Option<Message> {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    match declared_len {
        Some(n) => {
            s.write_all(&n.to_be_bytes()).await.expect("len");
            s.write_all(body).await.expect("body");
        }
        None => net::write_frame(&mut s, body).await.expect("frame"),
    }
    let reply = tokio::time::timeout(Duration::from_secs(5), net::read_frame(&mut s))
        .await
        .ok()?
        .ok()??;
    codec::decode(&reply).ok()
}

fn code_of(reply: &Reply) -> Option<u16> {
    match reply {
        Reply::Ack => None,
        Reply::Rejected { code, .. } => Some(*code),
    }
}

#[tokio::test]
async fn aggregator_rejects_hostile_responses_and_keeps_serving() {
    let mut w = world(3, "minute").await;
    let (task, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 1, 2, 100, 5, 0, 0)
        .await
        .expect("task");
    let (agg, h) = w
        .start_aggregator(LOOPBACK_ANY, Arc::new(MemoryStore::default()))
        .await;
    w.keep(h);
    // Let the aggregator learn the task before we talk to it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Duration::from_secs(5);
    let (op0, key0) = (&w.ops[0].0.address(), &w.ops[0].1);
    let sign = |task_id, result| {
        key0.sign(&task_response_digest(task_id, result))
            .to_uncompressed()
            .to_vec()
    };
    let good = Response {
        task_id: task.id,
        response: exoavs::avs::SumAvs::response_bytes(3),
        operator: *op0,
        signature: sign(task.id, 3),
    };

    // Malformed: not a message at all.
    let m = raw_exchange(agg, b"\x01\x09garbage", None).await;
    assert!(
        matches!(m, Some(Message::Reject { code: 1, .. })),
        "malformed: {m:?}"
    );
    // Oversized: a length prefix far beyond the limit; refused without reading it.
    let m = raw_exchange(agg, &[0u8; 16], Some(1 << 20)).await;
    assert!(
        !matches!(m, Some(Message::Ack)),
        "oversized frame was acknowledged"
    );
    // Unknown operator: a key and address nobody registered.
    let stranger = exoavs::crypto::bls::SecretKey::from_ikm(&[7u8; 32]).expect("ikm");
    let bad = Response {
        operator: Address::repeat_byte(0x77),
        signature: stranger
            .sign(&task_response_digest(task.id, 3))
            .to_uncompressed()
            .to_vec(),
        ..good.clone()
    };
    let r = net::send_response(agg, &bad, t).await.expect("reply");
    assert_eq!(code_of(&r), Some(4), "unknown operator: {r:?}");
    // Invalid signature: op0's address, someone else's signature. Signatures are checked in a
    // batch at quorum, so this claim is counted for now (acknowledged) ...
    let bad = Response {
        signature: stranger
            .sign(&task_response_digest(task.id, 3))
            .to_uncompressed()
            .to_vec(),
        ..good.clone()
    };
    let r = net::send_response(agg, &bad, t).await.expect("reply");
    assert_eq!(r, Reply::Ack, "a claim waits for the batch check: {r:?}");
    // ... until a second claim for op0 settles both: op0's genuine signature over another
    // task's message is refused (and the forgery with it, so it holds no place).
    let bad = Response {
        signature: sign(task.id + 1, 3),
        ..good.clone()
    };
    let r = net::send_response(agg, &bad, t).await.expect("reply");
    assert_eq!(code_of(&r), Some(9), "signature for another task: {r:?}");
    // A repeat of the forgery is now refused on receipt.
    let forged_again = Response {
        signature: stranger
            .sign(&task_response_digest(task.id, 3))
            .to_uncompressed()
            .to_vec(),
        ..good.clone()
    };
    let r = net::send_response(agg, &forged_again, t)
        .await
        .expect("reply");
    assert_eq!(code_of(&r), Some(9), "repeated forgery: {r:?}");
    // The genuine response, then its replay.
    let r = net::send_response(agg, &good, t).await.expect("reply");
    assert_eq!(r, Reply::Ack);
    let r = net::send_response(agg, &good, t).await.expect("reply");
    assert_eq!(code_of(&r), Some(7), "replay: {r:?}");

    // Still serving: the honest operators complete the task (threshold 100%: all three).
    for i in 0..3 {
        w.start_operator(i, Flow::Aggregated, Some(agg), None).await;
    }
    w.wait_for(
        30,
        |e| matches!(e, NodeEvent::TaskAccepted { task: x, .. } if *x == task.id),
    )
    .await;
    assert!(
        w.avs()
            .task(w.dep.admin.reader(), task.id)
            .await
            .expect("state")
            .responded
    );
}

#[tokio::test]
async fn threshold_not_reached_means_no_submission() {
    let mut w = world(3, "devnet-1s").await;
    let (agg, h) = w
        .start_aggregator(LOOPBACK_ANY, Arc::new(MemoryStore::default()))
        .await;
    w.keep(h);
    // 2 of 3 equal stakes = 66% < 67%.
    let (task, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 5, 6, 67, 2, 0, 0)
        .await
        .expect("task");
    w.start_operator(0, Flow::Aggregated, Some(agg), None).await;
    w.start_operator(1, Flow::Aggregated, Some(agg), None).await;
    let mut seen = Vec::new();
    let ev = w
        .wait_for(20, |e| {
            seen.push(e.clone());
            matches!(e, NodeEvent::TaskExpired { task: x, .. } if *x == task.id)
        })
        .await;
    assert!(matches!(ev, NodeEvent::TaskExpired { .. }));
    assert!(
        seen.iter()
            .filter(|e| matches!(e, NodeEvent::Progress { .. }))
            .count()
            == 2,
        "both responses were accepted: {seen:?}"
    );
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            NodeEvent::AggregateSubmitted { .. } | NodeEvent::SubmitFailed { .. }
        )),
        "nothing may be submitted below the threshold: {seen:?}"
    );
    assert!(
        !w.avs()
            .task(w.dep.admin.reader(), task.id)
            .await
            .expect("state")
            .responded
    );
    assert!(accepted_logs(&w).await.is_empty());
}

#[tokio::test]
async fn aggregator_killed_mid_task_restarts_and_submits_once() {
    let mut w = world(3, "minute").await;
    let store = MemoryStore::default();
    let (task, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 40, 2, 100, 5, 0, 0)
        .await
        .expect("task");
    let (addr, first) = w
        .start_aggregator(LOOPBACK_ANY, Arc::new(store.clone()))
        .await;
    w.start_operator(0, Flow::Aggregated, Some(addr), None)
        .await;
    w.start_operator(1, Flow::Aggregated, Some(addr), None)
        .await;
    w.wait_for(30, |e| {
        matches!(e, NodeEvent::Progress { responses: 2, .. })
    })
    .await;
    // Crash: the node is gone, its memory with it; only the store survives.
    first.abort();
    let _ = first.await;
    assert!(
        !w.avs()
            .task(w.dep.admin.reader(), task.id)
            .await
            .expect("state")
            .responded
    );

    let (addr2, second) = w.start_aggregator(addr, Arc::new(store)).await;
    assert_eq!(addr2, addr);
    w.keep(second);
    w.start_operator(2, Flow::Aggregated, Some(addr), None)
        .await;
    w.wait_for(
        30,
        |e| matches!(e, NodeEvent::TaskAccepted { task: x, .. } if *x == task.id),
    )
    .await;
    let acc = accepted_logs(&w).await;
    assert_eq!(acc.len(), 1, "submitted once");
    assert!(
        acc[0].non_signers.is_empty(),
        "all three signatures, two of them restored from the store"
    );
    // Nothing else gets submitted afterwards.
    let later = w.drain_for(Duration::from_secs(2)).await;
    assert!(
        !later
            .iter()
            .any(|e| matches!(e, NodeEvent::AggregateSubmitted { .. })),
        "{later:?}"
    );
    assert_eq!(accepted_logs(&w).await.len(), 1);
}

/// Issue 14: the operator persists its cursor, a restart resumes after it (not from the start
/// block), and nothing is sent for a task whose window has passed.
#[tokio::test]
async fn a_restarted_operator_resumes_at_its_cursor_and_resends_nothing_past_a_window() {
    use exoavs::node::operator::{OperatorConfig, OperatorNode};
    use exoavs::protocol::Record;
    use exoavs::store::Store;
    let mut w = world(1, "devnet-1s").await;
    let (agg, h) = w
        .start_aggregator(LOOPBACK_ANY, Arc::new(MemoryStore::default()))
        .await;
    w.keep(h);
    let store = MemoryStore::default();
    let start = |w: &World, store: MemoryStore| {
        let (client, key) = &w.ops[0];
        let key = exoavs::crypto::bls::SecretKey::from_bytes(&key.to_bytes()[..]).expect("key");
        let cfg = OperatorConfig {
            flow: Flow::Aggregated,
            aggregator: Some(agg),
            watch: exoavs::node::ChainWatch {
                persist_cursor_every: 1,
                ..w.watch()
            },
            send_timeout: Duration::from_secs(2),
            ..OperatorConfig::default()
        };
        OperatorNode::new(client.clone(), w.avs(), key, Arc::new(store), cfg, w.sink())
    };
    let sent = |events: &[NodeEvent], id: u64| {
        events
            .iter()
            .filter(|e| matches!(e, NodeEvent::ResponseSent { task, .. } if *task == id))
            .count()
    };
    // Task 1, a two-epoch window (two seconds): answered once, then its window passes.
    let (t1, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 1, 2, 100, 2, 0, 0)
        .await
        .expect("task");
    let mut op = start(&w, store.clone()).await.expect("operator");
    let first_from = op.next_block();
    for _ in 0..30 {
        op.step().await.expect("step");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events = w.drain_for(Duration::ZERO).await;
    assert_eq!(sent(&events, t1.id), 1, "{events:?}");
    let cursor = store
        .load()
        .expect("load")
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::Cursor { block, .. } => Some(*block),
            _ => None,
        })
        .expect("a cursor record");
    assert!(
        cursor >= t1.created_block,
        "the cursor passed task 1 ({}) once its window closed: {cursor}",
        t1.created_block
    );
    drop(op);

    // Restart on the same journal: the watch resumes after the cursor, past task 1's event.
    let mut op = start(&w, store.clone()).await.expect("operator");
    assert_eq!(op.next_block(), cursor + 1);
    assert!(op.next_block() > first_from);
    let (t2, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 3, 4, 100, 2, 0, 0)
        .await
        .expect("task");
    for _ in 0..15 {
        op.step().await.expect("step");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events = w.drain_for(Duration::ZERO).await;
    assert_eq!(sent(&events, t2.id), 1, "{events:?}");
    assert_eq!(sent(&events, t1.id), 0, "task 1 sent again: {events:?}");
}
