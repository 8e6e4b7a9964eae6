//! The chain gateway against a real Anvil: transactions from simulated nodes land in blocks
//! mined at simulated times, and one seed run twice gives the same digest (tx and block hashes
//! included).
#![cfg(madsim)]

use alloy::network::TransactionBuilder;
use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::Signer;
use exoavs_sim::anvil::ChainSlot;
use exoavs_sim::gateway::{GATEWAY_IP, Gateway, RpcFaultRates, SimClock, gateway_addr};
use exoavs_sim::trace::{EventKind, Trace};
use exoavs_sim::txs;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

struct Run {
    digest: String,
    trace: Trace,
    simulated: Duration,
}

/// Three nodes each send `n` transfers through the gateway; blocks every 2 simulated seconds.
fn run(slot: &mut ChainSlot, seed: u64, n: u64, faults: RpcFaultRates) -> Run {
    run_clients(slot, seed, 3, n, faults)
}

fn run_clients(
    slot: &mut ChainSlot,
    seed: u64,
    clients: u64,
    n: u64,
    faults: RpcFaultRates,
) -> Run {
    slot.reset().expect("reset anvil");
    let anvil = slot.addr();
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let trace = Trace::new();
    trace.keep_rpc_log();
    let t = trace.clone();
    let simulated = rt.block_on(async move {
        let clock = SimClock::start();
        let gw = Gateway::new(anvil, t.clone(), clock);
        let handle = madsim::runtime::Handle::current();
        let g = gw.clone();
        handle
            .create_node()
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
        let keys: Vec<_> = (0..clients)
            .map(|i| txs::derived_key(seed, "client", i))
            .collect();
        for k in &keys {
            gw.admin(
                "anvil_setBalance",
                json!([k.address(), "0x3635C9ADC5DEA00000"]),
            )
            .expect("fund");
        }
        gw.set_faults(faults);
        let mut joins = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 1, i as u8 + 1));
            gw.name_ip(ip, &format!("client-{i}"));
            let node = handle
                .create_node()
                .name(format!("client-{i}"))
                .ip(ip)
                .build();
            let t = t.clone();
            joins.push(node.spawn(async move {
                let key = key.with_chain_id(Some(31337));
                let to = key.address();
                let p = txs::provider(gateway_addr(), key, Duration::from_secs(5));
                let mut mined = 0;
                for j in 0..n {
                    let tx = TransactionRequest::default()
                        .with_to(to)
                        .with_value(U256::from(seed * 1000 + j));
                    let Ok(hash) = txs::send(&p, tx).await else {
                        continue;
                    };
                    t.record(
                        clock.elapsed(),
                        format!("client-{i}"),
                        EventKind::TxSent {
                            from: to.to_string(),
                            hash: hash.to_string(),
                        },
                    );
                    if txs::wait_receipt(
                        &p,
                        hash,
                        Duration::from_millis(500),
                        Duration::from_secs(30),
                    )
                    .await
                    .is_ok()
                    {
                        mined += 1;
                    }
                }
                let _ = p.get_block_number().await;
                mined
            }));
        }
        let mut mined = 0;
        for j in joins {
            mined += j.await.expect("client task");
        }
        t.record(
            clock.elapsed(),
            "test",
            EventKind::Note {
                text: format!("{mined} mined"),
            },
        );
        clock.elapsed()
    });
    Run {
        digest: trace.digest(),
        trace,
        simulated,
    }
}

#[test]
fn same_seed_same_digest_with_real_anvil() {
    let mut slot = ChainSlot::start().expect("anvil");
    let a = run(&mut slot, 7, 4, RpcFaultRates::default());
    let b = run(&mut slot, 7, 4, RpcFaultRates::default());
    let events = a.trace.events();
    let sent = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TxSent { .. }))
        .count();
    let mined = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TxMined { status: true, .. }))
        .count();
    assert_eq!(sent, 12, "every transfer sent");
    assert_eq!(mined, 12, "every transfer mined in a simulated block");
    if a.digest != b.digest {
        let (la, lb) = (a.trace.rpc_log(), b.trace.rpc_log());
        for (i, (x, y)) in la.iter().zip(lb.iter()).enumerate() {
            if x != y {
                panic!("runs part at rpc {i}:\n{x:?}\n{y:?}");
            }
        }
    }
    assert_eq!(a.digest, b.digest, "same seed, same digest");
    assert_eq!(a.trace.events(), b.trace.events());
    let c = run(&mut slot, 8, 4, RpcFaultRates::default());
    assert_ne!(a.digest, c.digest, "another seed, another run");
}

#[test]
fn faulty_gateway_is_deterministic_too() {
    let mut slot = ChainSlot::start().expect("anvil");
    let faults = RpcFaultRates {
        error: 0.05,
        reset: 0.03,
        timeout: 0.03,
        delay: 0.1,
        delay_max: Duration::from_millis(800),
        duplicate: 0.05,
    };
    let a = run(&mut slot, 11, 5, faults.clone());
    let b = run(&mut slot, 11, 5, faults);
    let injected = a
        .trace
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Fault { .. }))
        .count();
    assert!(injected > 0, "faults were injected");
    assert_eq!(a.digest, b.digest);
}

/// Speed of the simulation infrastructure alone: 4 nodes × 10 transactions each through the
/// gateway, blocks every 2 s, the real Anvil answering every call. Numbers go to sim/RESULTS.md.
#[test]
fn gateway_speed() {
    let mut slot = ChainSlot::start().expect("anvil");
    let seeds = 20;
    let wall = std::time::Instant::now();
    let mut simulated = Duration::ZERO;
    let mut calls = 0;
    for seed in 0..seeds {
        let r = run_clients(&mut slot, 100 + seed, 4, 10, RpcFaultRates::default());
        let mined = r
            .trace
            .events()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::TxMined { status: true, .. }))
            .count();
        assert_eq!(mined, 40);
        simulated += r.simulated;
        calls += r.trace.rpc_calls();
    }
    let wall = wall.elapsed();
    println!(
        "gateway speed: {seeds} seeds in {:.2} s = {:.0} seeds/min; {:.0} simulated s per wall s; {} rpc calls ({:.0}/s)",
        wall.as_secs_f64(),
        seeds as f64 * 60.0 / wall.as_secs_f64(),
        simulated.as_secs_f64() / wall.as_secs_f64(),
        calls,
        calls as f64 / wall.as_secs_f64()
    );
    assert!(
        simulated > wall,
        "the simulation runs faster than real time"
    );
}

/// A reorg replaces the last blocks (new hashes) and their transactions come back in later
/// blocks; two runs of one seed reorg identically.
#[test]
fn reorg_replaces_blocks_and_reincludes_their_transactions() {
    let mut slot = ChainSlot::start().expect("anvil");
    let go = |slot: &mut ChainSlot| {
        slot.reset().expect("reset");
        let anvil = slot.addr();
        let rt = madsim::runtime::Runtime::with_seed_and_config(21, madsim::Config::default());
        let trace = Trace::new();
        let t = trace.clone();
        let out = rt.block_on(async move {
            let gw = Gateway::new(anvil, t.clone(), SimClock::start());
            let key = txs::derived_key(21, "client", 0).with_chain_id(Some(31337));
            gw.admin(
                "anvil_setBalance",
                json!([key.address(), "0x3635C9ADC5DEA00000"]),
            )
            .unwrap();
            let g = gw.clone();
            madsim::runtime::Handle::current()
                .create_node()
                .name("gateway")
                .ip(IpAddr::V4(GATEWAY_IP))
                .init(move || g.clone().serve())
                .build();
            let node = madsim::runtime::Handle::current()
                .create_node()
                .name("c")
                .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)))
                .build();
            // One transaction per block.
            let mut hashes = Vec::new();
            let mut before = Vec::new();
            for j in 0..3u64 {
                let key = key.clone();
                let h = node
                    .spawn(async move {
                        let to = key.address();
                        let p = txs::provider(gateway_addr(), key, Duration::from_secs(5));
                        txs::send(
                            &p,
                            TransactionRequest::default()
                                .with_to(to)
                                .with_value(U256::from(j + 1)),
                        )
                        .await
                        .unwrap()
                    })
                    .await
                    .unwrap();
                hashes.push(h);
                before.push(gw.mine().unwrap());
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            gw.reorg(2).unwrap();
            let after: Vec<_> = (2..=3)
                .map(|n| {
                    gw.admin("eth_getBlockByNumber", json!([format!("0x{n:x}"), false]))
                        .unwrap()["hash"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            (hashes, before, after)
        });
        (out, trace)
    };
    let ((hashes, before, after), trace) = go(&mut slot);
    assert_eq!(before.iter().map(|b| b.txs.len()).sum::<usize>(), 3);
    assert_ne!(before[1].hash, after[0], "block 2 replaced");
    assert_ne!(before[2].hash, after[1], "block 3 replaced");
    for (i, h) in hashes.iter().enumerate() {
        let mined = trace
            .events()
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::TxMined { hash, status: true, .. } if *hash == h.to_string()))
            .count();
        // The first transaction sits below the reorg; the other two are mined again.
        assert_eq!(mined, if i == 0 { 1 } else { 2 }, "tx {i}");
    }
    let ((_, before2, after2), _) = go(&mut slot);
    assert_eq!(
        before.iter().map(|b| &b.hash).collect::<Vec<_>>(),
        before2.iter().map(|b| &b.hash).collect::<Vec<_>>()
    );
    assert_eq!(after, after2, "the reorg is deterministic");
}
