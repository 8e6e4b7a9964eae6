//! The two-phase flow of today's Imua chain on a real Anvil with the precompile emulation: blst
//! signatures pass the precompile's per-operator verification (prepare, then commit with the same
//! signature), the windows are enforced by epoch ("devnet-1s"), and settlement through `challenge`
//! rewards the correct operator and slashes the one that committed a wrong sum.

use alloy::primitives::U256;
use exoavs::chain::{ChainError, Client, TxConfig};
use exoavs::crypto::bls::SecretKey;
use exoavs::crypto::messages::{task_response_bytes, task_response_digest};
use exoavs::devnet::anvil::{Anvil, AnvilOptions};
use exoavs::devnet::setup::{self, AvsSetup};
use exoavs::protocol::Flow;
use serde_json::json;
use std::time::Duration;

fn fast() -> TxConfig {
    TxConfig {
        poll_interval: Duration::from_millis(20),
        receipt_timeout: Duration::from_secs(20),
        ..TxConfig::default()
    }
}

/// Moves the chain clock forward by `secs` and mines a block at the new time.
fn advance(anvil: &Anvil, secs: u64) {
    anvil
        .rpc("evm_increaseTime", json!([secs]))
        .expect("evm_increaseTime");
    anvil.rpc("evm_mine", json!([])).expect("evm_mine");
}

#[tokio::test]
async fn two_phase_with_blst_signatures_and_settlement() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let admin = Client::http(&anvil.url(), anvil.signer(0).expect("dev key 0"), fast())
        .await
        .expect("admin client");
    let dep = setup::deploy_avs(&admin, &AvsSetup::for_flow(Flow::TwoPhase))
        .await
        .expect("deploy");
    let r = admin.reader().clone();
    let mut ops = Vec::new();
    for i in 1..=2u8 {
        let c = Client::from_reader(r.clone(), anvil.signer(i as usize).expect("dev key"));
        let key = SecretKey::from_ikm(&[i + 40; 32]).expect("ikm");
        setup::register_operator(&dep, &c, &key, 100)
            .await
            .expect("register operator");
        ops.push((c, key));
    }

    // Epochs are wall-clock seconds between the explicit jumps: windows of several seconds leave room
    // for a busy machine (each phase takes a few transactions).
    let (resp, stat) = (6u64, 8u64);
    let (task, _) = dep
        .avs
        .create_sum_task(&admin, 19, 23, 50, resp, 1, stat)
        .await
        .expect("task");
    let right = task_response_bytes(task.id, 42).to_vec();
    let wrong = task_response_bytes(task.id, 41).to_vec();
    let sig_right = ops[0]
        .1
        .sign(&task_response_digest(task.id, 42))
        .to_eip2537()
        .to_vec();
    let sig_wrong = ops[1]
        .1
        .sign(&task_response_digest(task.id, 41))
        .to_eip2537()
        .to_vec();

    // Phase 1 (prepare): signatures only. Revealing the response now is refused.
    let err = dep
        .avs
        .operator_submit(&ops[0].0, task.id, right.clone(), sig_right.clone(), 1)
        .await
        .expect_err("response revealed in phase 1");
    assert_eq!(err.revert_name(), Some("InvalidParams"), "{err}");
    dep.avs
        .operator_submit(&ops[0].0, task.id, vec![], sig_right.clone(), 1)
        .await
        .expect("prepare op0");
    dep.avs
        .operator_submit(&ops[1].0, task.id, vec![], sig_wrong.clone(), 1)
        .await
        .expect("prepare op1");
    // Committing inside the response window is too soon.
    let err = dep
        .avs
        .operator_submit(&ops[0].0, task.id, right.clone(), sig_right.clone(), 2)
        .await
        .expect_err("commit too soon");
    assert_eq!(err.revert_name(), Some("SubmitTooSoon"), "{err}");

    // Phase 2 (commit): after the response window, within the statistical window.
    advance(&anvil, resp + 2);
    // A commit whose signature is not the prepared one is refused.
    let err = dep
        .avs
        .operator_submit(&ops[0].0, task.id, right.clone(), sig_wrong.clone(), 2)
        .await
        .expect_err("different signature");
    assert_eq!(err.revert_name(), Some("InconsistentSignature"), "{err}");
    dep.avs
        .operator_submit(&ops[0].0, task.id, right, sig_right, 2)
        .await
        .expect("commit op0: blst signature verified by the precompile");
    dep.avs
        .operator_submit(&ops[1].0, task.id, wrong, sig_wrong, 2)
        .await
        .expect("commit op1 (wrong sum, but its own valid signature)");

    // Settlement is refused until the statistical window is over, then rewards op0 and slashes op1.
    let err = dep
        .avs
        .challenge(&admin, task.id, vec![])
        .await
        .expect_err("challenge too soon");
    assert_eq!(err.revert_name(), Some("SubmitTooSoon"), "{err}");
    advance(&anvil, stat + 1);
    dep.avs
        .challenge(&admin, task.id, vec![])
        .await
        .expect("challenge");
    let op0 = ops[0].0.address();
    let op1 = ops[1].0.address();
    // op0 alone holds 50 % >= 50 %: the task met its threshold; pool = 200 * 10 % = 20, all to op0.
    assert_eq!(
        dep.avs.reward_of(&r, op0).await.expect("reward"),
        U256::from(20)
    );
    assert_eq!(
        dep.avs.reward_of(&r, op1).await.expect("reward"),
        U256::ZERO
    );
    assert_eq!(
        dep.avs.slashed_of(&r, op0).await.expect("slashed"),
        U256::ZERO
    );
    assert_eq!(
        dep.avs.slashed_of(&r, op1).await.expect("slashed"),
        U256::from(10)
    );
    let err: ChainError = dep
        .avs
        .challenge(&admin, task.id, vec![])
        .await
        .expect_err("settled once");
    assert_eq!(err.revert_name(), Some("AlreadySettled"), "{err}");
}
