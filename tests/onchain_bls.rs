//! blst (the Rust side, `exoavs::crypto`) and the contracts (EIP-2537 on a real Anvil) agree on BLS:
//! keys made and messages signed by blst verify on chain — as a proof of possession at registration and
//! as an aggregate response — while a tampered signature, a missing signer and a rogue key without a
//! proof of possession are refused with the contract's custom errors.

use alloy::primitives::Address;
use exoavs::chain::{ChainError, Client, TxConfig};
use exoavs::crypto::bls::{AggregatePublicKey, SecretKey, Signature, aggregate_signatures};
use exoavs::crypto::messages::{registration_digest, task_response_digest};
use exoavs::devnet::anvil::{Anvil, AnvilOptions};
use exoavs::devnet::setup::{self, AvsSetup, Deployment};
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
    SecretKey::from_ikm(&[i.wrapping_mul(7).wrapping_add(1); 32]).expect("ikm of 32 bytes")
}

fn reverted_with(err: &ChainError, name: &str) -> bool {
    err.revert_name() == Some(name)
}

struct Op {
    client: Client,
    key: SecretKey,
}

/// Anvil + emulation + AVS + `n` registered operators (stake 100 each, blst keys with their PoP).
async fn world(anvil: &Anvil, n: usize) -> (Deployment, Vec<Op>) {
    let admin = Client::http(&anvil.url(), anvil.signer(0).expect("dev key 0"), fast())
        .await
        .expect("admin client");
    let dep = setup::deploy_avs(&admin, &AvsSetup::for_flow(Flow::Aggregated))
        .await
        .expect("deploy");
    let mut ops = Vec::new();
    for i in 1..=n {
        let client = Client::from_reader(admin.reader().clone(), anvil.signer(i).expect("dev key"));
        let key = bls(i as u8);
        setup::register_operator(&dep, &client, &key, 100)
            .await
            .expect("register operator with blst PoP");
        ops.push(Op { client, key });
    }
    // ascending addresses, the order the contract wants non-signers in
    ops.sort_by_key(|o| o.client.address());
    (dep, ops)
}

/// Non-signer list and their EIP-2537 keys (ascending), and the aggregate of the signers' blst signatures.
fn response(ops: &[Op], signers: &[bool], digest: &[u8; 32]) -> (Vec<Address>, Vec<u8>, Signature) {
    let mut non_signers = Vec::new();
    let mut keys = Vec::new();
    let mut sigs = Vec::new();
    for (op, &signs) in ops.iter().zip(signers) {
        if signs {
            sigs.push(op.key.sign(digest));
        } else {
            non_signers.push(op.client.address());
            keys.extend_from_slice(&op.key.public_key().to_eip2537());
        }
    }
    (non_signers, keys, aggregate_signatures(&sigs))
}

#[tokio::test]
async fn blst_keys_and_signatures_verify_on_chain() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let (dep, ops) = world(&anvil, 4).await;
    let r = dep.admin.reader().clone();
    // Registration went through: the chain accepted four blst proofs of possession.
    for op in &ops {
        let key = dep
            .avs
            .registered_pubkey(&r, op.client.address())
            .await
            .expect("key");
        assert_eq!(key.as_ref(), &op.key.public_key().to_eip2537()[..]);
    }

    let (task, _) = dep
        .avs
        .create_sum_task(&dep.admin, 20, 22, 67, 5, 5, 5)
        .await
        .expect("task");
    let digest = task_response_digest(task.id, 42);
    let three = [true, true, true, false];
    // The response bytes of the right answer, which every call below submits.
    let sum42 = exoavs::avs::SumAvs::response_bytes(42);

    // Tampered: one bit of the (valid) aggregate flipped — no longer a curve point.
    let (ns, keys, agg) = response(&ops, &three, &digest);
    let mut tampered = agg.to_eip2537().to_vec();
    tampered[255] ^= 1;
    let err = dep
        .avs
        .respond(
            &dep.admin,
            task.id,
            &sum42,
            ns.clone(),
            keys.clone(),
            tampered,
        )
        .await
        .expect_err("tampered signature");
    assert!(reverted_with(&err, "InvalidAggregateSignature"), "{err}");

    // Tampered differently: a valid signature, but over another sum.
    let (_, _, other) = response(&ops, &three, &task_response_digest(task.id, 43));
    let err = dep
        .avs
        .respond(
            &dep.admin,
            task.id,
            &sum42,
            ns.clone(),
            keys.clone(),
            other.to_eip2537().to_vec(),
        )
        .await
        .expect_err("signature over another message");
    assert!(reverted_with(&err, "InvalidAggregateSignature"), "{err}");

    // Missing signer: only two signed, but the response names one non-signer (claims three signers).
    let (_, _, two) = response(&ops, &[true, true, false, false], &digest);
    let err = dep
        .avs
        .respond(
            &dep.admin,
            task.id,
            &sum42,
            ns.clone(),
            keys.clone(),
            two.to_eip2537().to_vec(),
        )
        .await
        .expect_err("missing signer");
    assert!(reverted_with(&err, "InvalidAggregateSignature"), "{err}");

    // The honest aggregate of three blst signatures (75 % >= 67 %) is accepted.
    let out = dep
        .avs
        .respond(
            &dep.admin,
            task.id,
            &sum42,
            ns,
            keys,
            agg.to_eip2537().to_vec(),
        )
        .await
        .expect("valid aggregate accepted");
    let accepted = out
        .receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| dep.avs.decode_task_responded(l))
        .expect("TaskResponded event");
    assert_eq!(accepted.task_id, task.id);
    assert!(dep.avs.task(&r, task.id).await.expect("task").responded);

    // A single blst signature (one signer, all others non-signers) verifies too, on a 25 % task.
    let (task2, _) = dep
        .avs
        .create_sum_task(&dep.admin, 1, 2, 25, 5, 5, 5)
        .await
        .expect("task 2");
    let (ns, keys, one) = response(
        &ops,
        &[false, false, true, false],
        &task_response_digest(task2.id, 3),
    );
    dep.avs
        .respond(
            &dep.admin,
            task2.id,
            &exoavs::avs::SumAvs::response_bytes(3),
            ns,
            keys,
            one.to_eip2537().to_vec(),
        )
        .await
        .expect("single blst signature accepted");
}

#[tokio::test]
async fn rogue_key_without_proof_of_possession_is_refused() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let (dep, ops) = world(&anvil, 1).await;
    let victim = &ops[0];
    let chain_id = dep.chain_id_string.clone();

    // The attacker knows x and publishes rogue = x·G − pk_victim: then pk_victim + rogue = x·G, so the
    // attacker alone could produce "both" signatures — unless registration demands a proof of possession.
    let attacker = Client::from_reader(
        dep.admin.reader().clone(),
        anvil.signer(5).expect("dev key 5"),
    );
    exoavs::chain::avs::emulation::register_operator(&attacker, dep.avs.registry)
        .await
        .expect("imua operator");
    dep.avs.opt_in(&attacker).await.expect("opt in");
    let x = bls(99);
    let mut rogue = AggregatePublicKey::identity();
    rogue.add(&x.public_key());
    rogue.sub(&victim.key.public_key());
    let mut both = AggregatePublicKey::identity();
    both.add(&victim.key.public_key());
    both.add(&rogue.to_public_key().expect("rogue key is a valid point"));
    assert_eq!(
        both.to_eip2537(),
        x.public_key().to_eip2537(),
        "the attack works off chain"
    );

    // Its best "proof": x signing the attacker's registration message. Refused.
    let fake_pop = x.sign(&registration_digest(&chain_id, attacker.address()));
    let err = dep
        .avs
        .register_bls_key(&attacker, &rogue.to_eip2537(), &fake_pop.to_eip2537())
        .await
        .expect_err("rogue key without PoP");
    assert!(reverted_with(&err, "InvalidPopSignature"), "{err}");

    // A replayed proof (the victim's own, for the victim's address) does not register the victim's key
    // for the attacker either: the key is taken, and the message names another operator.
    let replay = victim
        .key
        .sign(&registration_digest(&chain_id, victim.client.address()));
    let err = dep
        .avs
        .register_bls_key(
            &attacker,
            &victim.key.public_key().to_eip2537(),
            &replay.to_eip2537(),
        )
        .await
        .expect_err("replayed PoP");
    assert!(reverted_with(&err, "InvalidPopSignature"), "{err}");

    // The same attacker with a real key and its real proof of possession is accepted.
    setup::register_bls_key(&dep, &attacker, &x)
        .await
        .expect("honest registration");
}

/// The bytes of `contracts/test/fixtures/blst.json`, which the forge test `BlstFixtureTest` verifies with
/// the EVM code (offline, without Anvil): keys, single and aggregate signatures and proofs of possession,
/// all made by blst. Deterministic (fixed IKMs), so the committed file can be checked against blst here.
fn blst_fixture() -> serde_json::Value {
    let chain_id = exoavs::chain::avs::DEVNET_CHAIN_ID;
    let (task_id, sum) = (7u64, 42u64);
    let digest = task_response_digest(task_id, sum);
    let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
    let keys: Vec<SecretKey> = (1..=3u8).map(bls).collect();
    let operators: Vec<Address> = (1..=3u8).map(|i| Address::from([i; 20])).collect();
    let sigs: Vec<Signature> = keys.iter().map(|k| k.sign(&digest)).collect();
    serde_json::json!({
        "chainId": chain_id,
        "taskId": task_id,
        "sum": sum,
        "message": hex0x(&digest),
        "keys": keys.iter().map(|k| hex0x(&k.public_key().to_eip2537())).collect::<Vec<_>>(),
        "keysCompressed": keys.iter().map(|k| hex0x(&k.public_key().to_bytes())).collect::<Vec<_>>(),
        "signatures": sigs.iter().map(|s| hex0x(&s.to_eip2537())).collect::<Vec<_>>(),
        "aggregateSignature": hex0x(&aggregate_signatures(&sigs).to_eip2537()),
        "operators": operators.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "pops": keys
            .iter()
            .zip(&operators)
            .map(|(k, a)| hex0x(&k.sign(&registration_digest(chain_id, *a)).to_eip2537()))
            .collect::<Vec<_>>(),
    })
}

#[test]
fn forge_fixture_is_what_blst_produces() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/test/fixtures/blst.json");
    let expected = blst_fixture();
    if std::env::var_os("EXOAVS_WRITE_FIXTURES").is_some() {
        let text = serde_json::to_string_pretty(&expected).expect("json") + "\n";
        std::fs::write(&path, text).expect("write fixture");
    }
    let text = std::fs::read_to_string(&path)
        .expect("contracts/test/fixtures/blst.json (EXOAVS_WRITE_FIXTURES=1 writes it)");
    let committed: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    assert_eq!(
        committed, expected,
        "the forge fixture differs from what blst produces now"
    );
}
