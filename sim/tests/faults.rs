//! The fault machinery on its own: the frame proxy really loses, duplicates, reorders and
//! delays frames (deterministically per seed), partitions cut a node off the gateway, and a
//! killed node restarts from its init with the state kept outside it.
#![cfg(madsim)]

use exoavs_sim::faults::{FrameProxy, FrameRates};
use exoavs_sim::gateway::{SimClock, read_frame, write_frame};
use exoavs_sim::trace::{EventKind, Trace};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// 200 numbered frames through the proxy; returns what arrived, in order, and the trace digest.
fn through_proxy(seed: u64, rates: FrameRates) -> (Vec<u32>, String, Trace) {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let trace = Trace::new();
    let t = trace.clone();
    let got = rt.block_on(async move {
        let h = madsim::runtime::Handle::current();
        let clock = SimClock::start();
        let proxy = FrameProxy::new(t.clone(), clock);
        proxy.set_rates(rates);
        let rx_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), 7000);
        let px_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 9000);
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        h.create_node()
            .name("receiver")
            .ip(rx_addr.ip())
            .build()
            .spawn(async move {
                let l = tokio::net::TcpListener::bind(rx_addr).await.unwrap();
                let (mut s, _) = l.accept().await.unwrap();
                while let Ok(Some(f)) = read_frame(&mut s).await {
                    g.lock()
                        .unwrap()
                        .push(u32::from_be_bytes(f[..4].try_into().unwrap()));
                }
            });
        let p = proxy.clone();
        h.create_node()
            .name("proxy")
            .ip(px_addr.ip())
            .build()
            .spawn(async move { p.serve(px_addr, rx_addr, "sender".into()).await });
        let sender = h
            .create_node()
            .name("sender")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 4)))
            .build();
        sender
            .spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let mut s = tokio::net::TcpStream::connect(px_addr).await.unwrap();
                for i in 0..200u32 {
                    write_frame(&mut s, &i.to_be_bytes()).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
            })
            .await
            .unwrap();
        got.lock().unwrap().clone()
    });
    (got, trace.digest(), trace)
}

#[test]
fn proxy_without_faults_is_transparent() {
    let (got, _, _) = through_proxy(1, FrameRates::default());
    assert_eq!(got, (0..200).collect::<Vec<u32>>());
}

#[test]
fn proxy_loses_duplicates_reorders_and_delays_deterministically() {
    let rates = FrameRates {
        loss: 0.1,
        duplicate: 0.1,
        reorder: 0.1,
        delay: 0.1,
        delay_max: Duration::from_millis(300),
    };
    let (got, digest, trace) = through_proxy(5, rates.clone());
    let mut sorted = got.clone();
    sorted.sort();
    let mut unique = sorted.clone();
    unique.dedup();
    assert!(unique.len() < 200, "some frames lost");
    assert!(unique.len() > 150, "most frames arrive");
    assert!(sorted.len() > unique.len(), "some frames duplicated");
    assert!(
        got.windows(2).any(|w| w[0] > w[1]),
        "some frames out of order"
    );
    assert!(unique.iter().all(|&i| i < 200));
    let faults = trace
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Fault { .. }))
        .count();
    assert!(faults > 20);
    let (got2, digest2, _) = through_proxy(5, rates.clone());
    assert_eq!(got, got2);
    assert_eq!(digest, digest2);
    let (got3, _, _) = through_proxy(6, rates);
    assert_ne!(got, got3, "another seed, another fault pattern");
}

#[test]
fn kill_and_restart_rerun_init_with_state_kept_outside_the_node() {
    let rt = madsim::runtime::Runtime::with_seed_and_config(3, madsim::Config::default());
    let (starts, ticks) = rt.block_on(async {
        let h = madsim::runtime::Handle::current();
        let starts = Arc::new(AtomicU64::new(0));
        let ticks = Arc::new(AtomicU64::new(0));
        let (s, t) = (starts.clone(), ticks.clone());
        let node = h
            .create_node()
            .name("n")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)))
            .init(move || {
                let (s, t) = (s.clone(), t.clone());
                async move {
                    s.fetch_add(1, Ordering::SeqCst);
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        t.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
            .build();
        tokio::time::sleep(Duration::from_millis(5500)).await;
        h.kill(node.id());
        let at_kill = ticks.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            at_kill,
            "a killed node does nothing"
        );
        h.restart(node.id());
        tokio::time::sleep(Duration::from_millis(3500)).await;
        (
            starts.load(Ordering::SeqCst),
            ticks.load(Ordering::SeqCst) - at_kill,
        )
    });
    assert_eq!(starts, 2, "init ran again on restart");
    assert_eq!(ticks, 3);
}

#[test]
fn partition_cuts_a_node_off_and_healing_reconnects_it() {
    let rt = madsim::runtime::Runtime::with_seed_and_config(4, madsim::Config::default());
    rt.block_on(async {
        let h = madsim::runtime::Handle::current();
        let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 8000);
        h.create_node()
            .name("server")
            .ip(server.ip())
            .build()
            .spawn(async move {
                let l = tokio::net::TcpListener::bind(server).await.unwrap();
                while let Ok((mut s, _)) = l.accept().await {
                    tokio::spawn(async move {
                        while let Ok(Some(f)) = read_frame(&mut s).await {
                            let _ = write_frame(&mut s, &f).await;
                        }
                    });
                }
            });
        let client = h
            .create_node()
            .name("client")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)))
            .build();
        let ask = move || async move {
            let r = tokio::time::timeout(Duration::from_secs(2), async {
                let mut s = tokio::net::TcpStream::connect(server).await?;
                write_frame(&mut s, b"ping").await?;
                read_frame(&mut s).await
            })
            .await;
            matches!(r, Ok(Ok(Some(_))))
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            client.spawn(ask()).await.unwrap(),
            "connected before the partition"
        );
        let net = madsim::net::NetSim::current();
        net.clog_node(client.id());
        assert!(
            !client.spawn(ask()).await.unwrap(),
            "cut off during the partition"
        );
        net.unclog_node(client.id());
        assert!(
            client.spawn(ask()).await.unwrap(),
            "connected again after healing"
        );
    });
}
