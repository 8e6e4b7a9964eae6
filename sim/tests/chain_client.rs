//! The crate's own chain client (`exoavs::chain::Client`, the production code) inside the
//! simulation, through the chain gateway, with RPC errors, lost answers, delays and duplicated
//! requests injected: every transaction still lands exactly once, and one seed gives one digest.
#![cfg(madsim)]

use alloy::network::TransactionBuilder;
use alloy::primitives::U256;
use alloy::rpc::types::TransactionRequest;
use exoavs::chain::{Client, TxConfig};
use exoavs_sim::anvil::ChainSlot;
use exoavs_sim::gateway::{
    GATEWAY_IP, Gateway, GatewayTransport, RpcFaultRates, SimClock, gateway_addr,
};
use exoavs_sim::trace::{EventKind, Trace};
use exoavs_sim::txs;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

fn run(
    slot: &mut ChainSlot,
    seed: u64,
    faults: RpcFaultRates,
) -> (String, Trace, Vec<Result<u64, String>>) {
    slot.reset().expect("reset");
    let anvil = slot.addr();
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let trace = Trace::new();
    let t = trace.clone();
    let results = rt.block_on(async move {
        let clock = SimClock::start();
        let gw = Gateway::new(anvil, t.clone(), clock);
        let h = madsim::runtime::Handle::current();
        let g = gw.clone();
        h.create_node()
            .name("gateway")
            .ip(IpAddr::V4(GATEWAY_IP))
            .init(move || {
                let g = g.clone();
                async move {
                    tokio::spawn(g.clone().run_miner(Duration::from_secs(2)));
                    g.serve().await
                }
            })
            .build();
        gw.set_faults(faults);
        let mut joins = Vec::new();
        for i in 0..4u8 {
            let key = txs::derived_key(seed, "operator", i as u64);
            gw.admin(
                "anvil_setBalance",
                json!([key.address(), "0x3635C9ADC5DEA00000"]),
            )
            .unwrap();
            let node = h
                .create_node()
                .name(format!("n{i}"))
                .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, i + 1)))
                .build();
            joins.push(node.spawn(async move {
                let to = key.address();
                let rpc = GatewayTransport::client(gateway_addr(), Duration::from_secs(5));
                let c = Client::new(rpc, key, TxConfig::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let mut ok = 0;
                for j in 0..10u64 {
                    let tx = TransactionRequest::default()
                        .with_to(to)
                        .with_value(U256::from(j + 1));
                    c.send("transfer", tx).await.map_err(|e| e.to_string())?;
                    ok += 1;
                }
                Ok::<u64, String>(ok)
            }));
        }
        let mut out = Vec::new();
        for j in joins {
            out.push(j.await.map_err(|e| format!("{e:?}")).and_then(|r| r));
        }
        out
    });
    (trace.digest(), trace, results)
}

#[test]
fn production_chain_client_survives_chain_faults_deterministically() {
    let mut slot = ChainSlot::start().expect("anvil");
    // JSON-RPC error answers are left out here: this test is about the transport (resets,
    // timeouts, delays, duplicates); `ChainError::is_transient` decides which error answers are
    // retried, and src/chain/tests.rs tests that.
    let faults = RpcFaultRates {
        error: 0.0,
        reset: 0.05,
        timeout: 0.03,
        delay: 0.1,
        delay_max: Duration::from_millis(1500),
        duplicate: 0.05,
    };
    let (d1, trace, results) = run(&mut slot, 42, faults.clone());
    for r in &results {
        assert_eq!(
            r.as_ref().ok(),
            Some(&10),
            "every node sent its 10 transfers: {results:?}"
        );
    }
    let events = trace.events();
    let mined = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TxMined { status: true, .. }))
        .count();
    assert_eq!(
        mined, 40,
        "each transfer mined exactly once despite duplicated and lost requests"
    );
    let faults_seen = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Fault { .. }))
        .count();
    assert!(faults_seen > 10, "faults were injected ({faults_seen})");
    let (d2, _, _) = run(&mut slot, 42, faults);
    assert_eq!(d1, d2, "same seed, same digest");
}
