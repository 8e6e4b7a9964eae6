//! The chain client and cursor against a real Anvil.

use super::*;
use crate::devnet::anvil::{Anvil, AnvilOptions};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionRequest};
use std::time::Duration;

fn fast() -> TxConfig {
    TxConfig {
        poll_interval: Duration::from_millis(20),
        receipt_timeout: Duration::from_secs(10),
        ..TxConfig::default()
    }
}

fn transfer(to: Address, wei: u64) -> TransactionRequest {
    TransactionRequest::default()
        .with_to(to)
        .with_value(U256::from(wei))
}

#[tokio::test]
async fn sends_in_order_and_resyncs_a_stale_nonce() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let signer = anvil.signer(0).expect("key");
    let a = Client::http(&anvil.url(), signer.clone(), fast())
        .await
        .expect("client");
    let b = Client::http(&anvil.url(), signer, fast())
        .await
        .expect("client");
    let to = Address::repeat_byte(0x42);
    let out = a.send("first", transfer(to, 1)).await.expect("first");
    assert!(out.gas_used >= 21_000);
    // `b` uses the same key behind `a`'s back; `a`'s cached nonce is now stale.
    b.send("interloper", transfer(to, 2))
        .await
        .expect("interloper");
    a.send("after resync", transfer(to, 3))
        .await
        .expect("a resyncs its nonce");
    let bal = a.provider().get_balance(to).await.expect("balance");
    assert_eq!(bal, U256::from(6));
}

#[tokio::test]
async fn cursor_rewinds_after_a_reorg() {
    let anvil = Anvil::start(AnvilOptions {
        no_mining: true,
        ..Default::default()
    })
    .expect("anvil");
    let r = Reader::http(&anvil.url(), fast()).await.expect("reader");
    let mut cursor = EventCursor::new(
        Filter::new().address(Address::repeat_byte(1)),
        0,
        CursorConfig {
            confirmations: 1,
            ..Default::default()
        },
    );
    // Poll after each block, so the cursor remembers every block's hash.
    for _ in 0..5 {
        anvil.rpc("evm_mine", serde_json::json!([])).expect("mine");
        cursor.poll(&r).await.expect("poll");
    }
    assert_eq!(cursor.next_block(), 5, "reads up to head - confirmations");
    // The reader knows where its cursor is: nothing readable is unread (head 5, 1 confirmation).
    let seen = r.progress().snapshot();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].next, seen[0].lag(5)), (5, 0));
    assert_eq!(seen[0].lag(9), 4, "head 9: blocks 5..=8 readable, unread");
    // Replace blocks 3..=5 with a different history (a transaction changes the hashes).
    anvil
        .rpc("anvil_reorg", serde_json::json!([3, []]))
        .expect("reorg");
    let b = cursor.poll(&r).await.expect("poll after reorg");
    assert_eq!(
        b.rewound_to,
        Some(3),
        "blocks 3.. were replaced, 2 survived"
    );
    assert_eq!(b.through, Some(4));
    // A clone continues the same cursor; the entry goes with the last of them.
    let twin = cursor.clone();
    drop(cursor);
    assert_eq!(r.progress().snapshot().len(), 1);
    drop(twin);
    assert!(r.progress().snapshot().is_empty());
}

#[tokio::test]
async fn reverted_call_is_a_typed_error() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let c = Client::http(&anvil.url(), anvil.signer(0).expect("key"), fast())
        .await
        .expect("client");
    // More value than the account holds: the node refuses at estimation.
    let err = c
        .send(
            "overdraw",
            transfer(Address::repeat_byte(9), u64::MAX).with_value(U256::MAX),
        )
        .await
        .expect_err("must fail");
    assert!(!err.is_transient(), "{err}");
}

/// A reorg takes back an earlier transaction of ours while a later one waits in the pool; the
/// node re-adds the earlier one after it and Anvil drops the later one as it no longer fits.
/// `send` must still see its transaction mined (it sends the same bytes again), not time out.
#[tokio::test]
async fn send_survives_a_reorg_that_drops_it_from_the_pool() {
    let anvil = Anvil::start(AnvilOptions {
        no_mining: true,
        order_fifo: true,
        ..Default::default()
    })
    .expect("anvil");
    let cfg = TxConfig {
        rebroadcast_interval: Duration::from_millis(500),
        ..fast()
    };
    let a = Client::http(&anvil.url(), anvil.signer(0).expect("key"), cfg)
        .await
        .expect("client");
    let to = Address::repeat_byte(0x43);
    let first = a.submit("first", transfer(to, 1)).await.expect("first");
    anvil.rpc("evm_mine", serde_json::json!([])).expect("mine");
    let raw_first = anvil
        .rpc("eth_getRawTransactionByHash", serde_json::json!([first]))
        .expect("raw of the first");

    let sender = a.clone();
    let second = tokio::spawn(async move { sender.send("second", transfer(to, 2)).await });
    // Wait until the second transaction sits in the pool.
    let mut pooled = false;
    for _ in 0..200 {
        let status = anvil
            .rpc("txpool_status", serde_json::json!([]))
            .expect("pool");
        if status.get("pending").and_then(|v| v.as_str()) == Some("0x1") {
            pooled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(pooled, "the second transaction never reached the pool");

    // The reorg: the first transaction's block goes, the first comes back after the second.
    anvil
        .rpc("anvil_rollback", serde_json::json!([1]))
        .expect("rollback");
    anvil
        .rpc("eth_sendRawTransaction", serde_json::json!([raw_first]))
        .expect("first back to the pool");
    anvil.rpc("evm_mine", serde_json::json!([])).expect("mine");
    let status = anvil
        .rpc("txpool_status", serde_json::json!([]))
        .expect("pool");
    assert_eq!(
        status.get("pending").and_then(|v| v.as_str()),
        Some("0x0"),
        "precondition: Anvil dropped the second transaction"
    );

    // Keep mining until `send` returns (bounded: its receipt timeout is 10 s).
    let outcome = loop {
        if second.is_finished() {
            break second.await.expect("join");
        }
        anvil.rpc("evm_mine", serde_json::json!([])).expect("mine");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    outcome.expect("the second transaction is mined after being sent again");
    let bal = a.provider().get_balance(to).await.expect("balance");
    assert_eq!(bal, U256::from(3));
}

/// Failed requests and retries are counted per method and error kind, shared by clones: a
/// reverting estimate is one `revert` error and no retry; a node that went away gives one
/// `transport` error per attempt and a retry between attempts.
#[tokio::test]
async fn rpc_errors_and_retries_are_counted() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let cfg = TxConfig {
        attempts: 3,
        backoff: Duration::from_millis(1),
        ..fast()
    };
    let c = Client::http(&anvil.url(), anvil.signer(0).expect("key"), cfg)
        .await
        .expect("client");
    let seen_by_clone = c.reader().clone();
    assert_eq!(c.stats().snapshot(), RpcCounts::default());
    // Calling code that reverts: PUSH1 0, PUSH1 0, REVERT.
    let _: serde_json::Value = c
        .raw(
            "anvil_setCode",
            (Address::repeat_byte(0x99), "0x60006000fd"),
        )
        .await
        .expect("setCode");
    let err = c
        .send("invalid", transfer(Address::repeat_byte(0x99), 0))
        .await
        .expect_err("reverts");
    let counts = seen_by_clone.stats().snapshot();
    assert_eq!(
        counts.errors.get(&("eth_estimateGas", err.kind())),
        Some(&1),
        "{err}: {counts:?}"
    );
    assert_eq!(counts.total_retries(), 0);

    drop(anvil);
    c.block_number().await.expect_err("the node is gone");
    let counts = c.stats().snapshot();
    assert_eq!(
        counts.errors.get(&("eth_blockNumber", "transport")),
        Some(&3),
        "{counts:?}"
    );
    assert_eq!(
        counts.retries.get("eth_blockNumber"),
        Some(&2),
        "{counts:?}"
    );
}

#[test]
fn profiles_encode_points_as_their_registry_takes_them() {
    use crate::chain::avs::Profile;
    use crate::crypto::bls::SecretKey;
    let sk = SecretKey::from_ikm(&[7u8; 32]).expect("key");
    let pk = sk.public_key();
    let sig = sk.sign(&[1u8; 32]);
    assert_eq!(Profile::Emulation.encode_key(&pk).len(), 128);
    assert_eq!(Profile::Imua.encode_key(&pk).len(), 48);
    assert_eq!(Profile::Emulation.encode_signature(&sig).len(), 256);
    assert_eq!(Profile::Imua.encode_signature(&sig).len(), 96);
    for p in [Profile::Emulation, Profile::Imua] {
        let back = p.decode_key(&p.encode_key(&pk)).expect("decodes");
        assert_eq!(back.to_bytes(), pk.to_bytes(), "{p}");
        assert_eq!(p.to_string().parse::<Profile>(), Ok(p));
    }
    // A key in the other profile's encoding is refused, not misread.
    assert!(
        Profile::Imua
            .decode_key(&Profile::Emulation.encode_key(&pk))
            .is_err()
    );
    assert!(
        Profile::Emulation
            .decode_key(&Profile::Imua.encode_key(&pk))
            .is_err()
    );
    let err = "strict".parse::<Profile>().expect_err("unknown");
    assert!(err.contains("emulation") && err.contains("imua"), "{err}");
}

#[test]
fn a_precompile_failed_revert_names_the_call_that_returned_false() {
    let e = ChainError::Revert {
        what: "registerAVS".into(),
        reason: Revert_::Custom {
            name: "PrecompileFailed".into(),
            args: vec!["\"registerAVS\"".into()],
        },
    }
    .precompile_false();
    let text = e.to_string();
    assert!(
        matches!(&e, ChainError::ReturnedFalse { call, .. } if call == "registerAVS"),
        "{e:?}"
    );
    assert!(text.contains("returned false for registerAVS"), "{text}");
    assert_eq!(e.kind(), "returned-false");
    // Any other revert stays what it was.
    let other = ChainError::Revert {
        what: "x".into(),
        reason: Revert_::Custom {
            name: "ThresholdNotMet".into(),
            args: vec![],
        },
    }
    .precompile_false();
    assert_eq!(other.revert_name(), Some("ThresholdNotMet"));
}
