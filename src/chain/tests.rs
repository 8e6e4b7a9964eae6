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
