//! Imua's two-phase flow on a real Anvil: prepare and commit in their epoch windows, then a
//! challenge that rewards the correct operators and slashes the wrong and the silent ones.

mod common;

use common::*;
use exoavs::crypto::messages::{task_response_bytes, task_response_digest};
use exoavs::node::NodeEvent;
use exoavs::node::challenger::{ChallengerNode, ChallengerNodeConfig};
use exoavs::protocol::Flow;
use exoavs::store::MemoryStore;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn prepare_commit_then_challenge_rewards_and_slashes() {
    // ops[0], ops[1]: honest drivers; ops[2]: commits a wrong sum by hand; ops[3]: silent.
    let mut w = world(4, "devnet-1s").await;
    let r = w.dep.admin.reader().clone();
    let challenger = exoavs::chain::Client::from_reader(r.clone(), w.anvil.signer(6).expect("key"));
    let cfg = ChallengerNodeConfig {
        watch: w.watch(),
        flow: Some(Flow::TwoPhase),
    };
    let node = ChallengerNode::new(
        challenger,
        w.avs(),
        Arc::new(MemoryStore::default()),
        cfg,
        w.sink(),
    )
    .await
    .expect("challenger");
    w.keep(tokio::spawn(async move {
        if let Err(e) = node.run().await {
            panic!("challenger stopped: {e}");
        }
    }));
    w.start_operator(0, Flow::TwoPhase, None, None).await;
    w.start_operator(1, Flow::TwoPhase, None, None).await;

    let (task, _) = w
        .avs()
        .create_sum_task(&w.dep.admin, 30, 12, 50, 3, 0, 3)
        .await
        .expect("task");
    // The wrong operator: prepare in the response window, commit 43 in the commit window.
    let (wrong_client, wrong_key) = (&w.ops[2].0, &w.ops[2].1);
    let sig = wrong_key
        .sign(&task_response_digest(task.id, 43))
        .to_eip2537()
        .to_vec();
    w.avs()
        .operator_submit(wrong_client, task.id, Vec::new(), sig.clone(), 1)
        .await
        .expect("wrong prepare");
    loop {
        let now = w.avs().current_epoch(&r).await.expect("epoch");
        if now > task.response_deadline() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.avs()
        .operator_submit(
            wrong_client,
            task.id,
            task_response_bytes(task.id, 43).to_vec(),
            sig,
            2,
        )
        .await
        .expect("wrong commit");

    let ev = w
        .wait_for(
            30,
            |e| matches!(e, NodeEvent::Settled { task: t, .. } if *t == task.id),
        )
        .await;
    let NodeEvent::Settled {
        mut rewarded,
        mut slashed,
        ..
    } = ev
    else {
        unreachable!()
    };
    rewarded.sort();
    slashed.sort();
    let addr = |i: usize| w.ops[i].0.address();
    let mut want_slashed = vec![addr(2), addr(3)];
    want_slashed.sort();
    assert_eq!(
        rewarded,
        vec![addr(0), addr(1)],
        "the two correct committers are rewarded"
    );
    assert_eq!(
        slashed, want_slashed,
        "the wrong and the silent operator are slashed"
    );
    assert!(w.avs().task(&r, task.id).await.expect("state").settled);
    assert!(
        !w.avs()
            .reward_of(&r, addr(0))
            .await
            .expect("reward")
            .is_zero()
    );
    assert!(
        !w.avs()
            .slashed_of(&r, addr(2))
            .await
            .expect("slash")
            .is_zero()
    );
    assert!(
        !w.avs()
            .slashed_of(&r, addr(3))
            .await
            .expect("slash")
            .is_zero()
    );
    assert!(
        w.avs()
            .slashed_of(&r, addr(0))
            .await
            .expect("slash")
            .is_zero()
    );
}
