//! Registration, opt-in/out and task creation against a real Anvil with the precompile
//! emulation installed.

use exoavs::chain::avs::emulation;
use exoavs::chain::{Client, TxConfig};
use exoavs::crypto::bls::SecretKey;
use exoavs::devnet::anvil::{Anvil, AnvilOptions};
use exoavs::devnet::setup::{self, AvsSetup};
use exoavs::protocol::Flow;
use std::time::Duration;

fn fast() -> TxConfig {
    TxConfig {
        poll_interval: Duration::from_millis(20),
        receipt_timeout: Duration::from_secs(20),
        ..TxConfig::default()
    }
}

fn bls(i: u8) -> SecretKey {
    SecretKey::from_ikm(&[i; 32]).expect("ikm")
}

#[tokio::test]
async fn operators_register_opt_in_and_out() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let admin = Client::http(&anvil.url(), anvil.signer(0).expect("key"), fast())
        .await
        .expect("admin");
    let dep = setup::deploy_avs(&admin, &AvsSetup::for_flow(Flow::Aggregated))
        .await
        .expect("deploy");
    let r = admin.reader().clone();
    assert!(emulation::installed(&r).await.expect("probe"));

    let mut ops = Vec::new();
    for i in 1..=3u8 {
        let c = Client::from_reader(r.clone(), anvil.signer(i as usize).expect("key"));
        setup::register_operator(&dep, &c, &bls(i), 100)
            .await
            .expect("register operator");
        ops.push(c);
    }
    let opted = dep.avs.opted_in_operators(&r).await.expect("opted in");
    assert_eq!(opted.len(), 3);
    let key = dep
        .avs
        .registered_pubkey(&r, ops[0].address())
        .await
        .expect("key");
    assert_eq!(key.as_ref(), &bls(1).public_key().to_eip2537()[..]);

    // A second registration of a key already in use is refused with the decoded reason.
    let err = setup::register_bls_key(&dep, &ops[1], &bls(1))
        .await
        .expect_err("key reuse");
    let text = err.to_string();
    assert!(
        text.contains("PublicKey"),
        "decoded revert names the error: {text}"
    );

    // Tasks snapshot the opted-in set: opting out later does not change an old task.
    let (task, _) = dep
        .avs
        .create_sum_task(&admin, 3, 4, 67, 5, 5, 5)
        .await
        .expect("task");
    dep.avs.opt_out(&ops[2]).await.expect("opt out");
    let opted = dep.avs.opted_in_operators(&r).await.expect("opted in");
    assert_eq!(opted.len(), 2);
    assert!(!opted.contains(&ops[2].address()));
    let snap = dep.avs.snapshot(&r, task.id).await.expect("snapshot");
    assert_eq!(snap.len(), 3, "snapshot taken before the opt-out");
    assert!(snap.iter().all(|o| o.stake == 100 && o.pubkey.is_some()));
    let (task2, _) = dep
        .avs
        .create_sum_task(&admin, 1, 1, 67, 5, 5, 5)
        .await
        .expect("task 2");
    assert_eq!(
        dep.avs
            .snapshot(&r, task2.id)
            .await
            .expect("snapshot")
            .len(),
        2
    );
    let state = dep.avs.task(&r, task.id).await.expect("task state");
    assert!(state.exists && !state.responded);
    assert_eq!(task.payload, exoavs::avs::SumAvs::payload_bytes(3, 4));
    assert_eq!(
        dep.avs.sum_inputs(&r, task.id).await.expect("inputs"),
        (3, 4)
    );
}
