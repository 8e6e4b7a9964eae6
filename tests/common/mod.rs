//! A provisioned AVS on a fresh Anvil, and helpers to start the real node drivers on it.
#![allow(dead_code)]

pub mod rpc_proxy;

use exoavs::chain::avs::Avs;
use exoavs::chain::{Client, CursorConfig, TxConfig};
use exoavs::crypto::bls::SecretKey;
use exoavs::devnet::anvil::{Anvil, AnvilOptions};
use exoavs::devnet::setup::{self, AvsSetup, Deployment};
use exoavs::node::aggregator::{AggregatorNode, AggregatorNodeConfig};
use exoavs::node::operator::{OperatorConfig, OperatorNode, ResponseHook};
use exoavs::node::{ChainWatch, EventSink, NodeEvent};
use exoavs::protocol::Flow;
use exoavs::store::{MemoryStore, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub fn fast() -> TxConfig {
    TxConfig {
        poll_interval: Duration::from_millis(20),
        receipt_timeout: Duration::from_secs(30),
        ..TxConfig::default()
    }
}

pub fn bls(i: u8) -> SecretKey {
    SecretKey::from_ikm(&[i.wrapping_add(100); 32]).expect("ikm")
}

pub struct World {
    pub anvil: Anvil,
    pub dep: Deployment,
    /// Registered operators (client, key), in account order.
    pub ops: Vec<(Client, SecretKey)>,
    pub events_tx: mpsc::UnboundedSender<NodeEvent>,
    pub events: mpsc::UnboundedReceiver<NodeEvent>,
    handles: Vec<JoinHandle<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// `epoch`: the AVS's epoch identifier. With one-second epochs Anvil mines every second so
/// that windows pass without transactions.
pub async fn world(n_ops: usize, epoch: &str) -> World {
    let one_second = epoch.starts_with("devnet");
    let anvil = Anvil::start(AnvilOptions {
        accounts: Some((n_ops + 3) as u32),
        ..AnvilOptions::default()
    })
    .expect("anvil");
    let admin = Client::http(&anvil.url(), anvil.signer(0).expect("key"), fast())
        .await
        .expect("admin client");
    let mut s = AvsSetup::for_flow(Flow::Aggregated);
    s.epoch_identifier = epoch.into();
    let dep = setup::deploy_avs(&admin, &s).await.expect("deploy");
    let mut ops = Vec::new();
    for i in 0..n_ops {
        let c = Client::from_reader(admin.reader().clone(), anvil.signer(i + 1).expect("key"));
        let k = bls(i as u8);
        setup::register_operator(&dep, &c, &k, 100)
            .await
            .expect("register operator");
        ops.push((c, k));
    }
    if one_second {
        // Provisioning ran on automine (fast); from now on blocks come every second, so
        // epoch windows pass without transactions.
        anvil
            .rpc("evm_setIntervalMining", serde_json::json!([1]))
            .expect("interval mining");
    }
    // Sorted by address: the contract's order, handy for assertions.
    ops.sort_by_key(|(c, _)| c.address());
    let (events_tx, events) = mpsc::unbounded_channel();
    World {
        anvil,
        dep,
        ops,
        events_tx,
        events,
        handles: Vec::new(),
    }
}

impl World {
    pub fn avs(&self) -> Avs {
        self.dep.avs
    }

    pub fn watch(&self) -> ChainWatch {
        ChainWatch {
            start_block: self.dep.start_block,
            cursor: CursorConfig::default(),
            poll_interval: Duration::from_millis(100),
            ..ChainWatch::default()
        }
    }

    pub fn sink(&self) -> EventSink {
        EventSink::new(self.events_tx.clone())
    }

    /// Start an aggregator (admin's account) on `listen` with `store`; returns its address and task.
    pub async fn start_aggregator(
        &mut self,
        listen: SocketAddr,
        store: Arc<dyn Store>,
    ) -> (SocketAddr, JoinHandle<()>) {
        let chain = self.dep.admin.clone();
        self.start_aggregator_on(chain, listen, store).await
    }

    /// Start an aggregator that reaches the chain through `chain` (e.g. a proxy to Anvil).
    pub async fn start_aggregator_on(
        &mut self,
        chain: Client,
        listen: SocketAddr,
        store: Arc<dyn Store>,
    ) -> (SocketAddr, JoinHandle<()>) {
        let cfg = AggregatorNodeConfig {
            listen,
            watch: self.watch(),
            ..AggregatorNodeConfig::default()
        };
        let node = AggregatorNode::new(chain, self.avs(), store, cfg, self.sink())
            .await
            .expect("aggregator");
        let addr = node.local_addr();
        let h = tokio::spawn(async move {
            if let Err(e) = node.run().await {
                panic!("aggregator stopped: {e}");
            }
        });
        (addr, h)
    }

    /// Start operator `i` of `self.ops` against `aggregator`.
    pub async fn start_operator(
        &mut self,
        i: usize,
        flow: Flow,
        aggregator: Option<SocketAddr>,
        hook: Option<ResponseHook>,
    ) {
        let (client, key) = &self.ops[i];
        let key = SecretKey::from_bytes(&key.to_bytes()[..]).expect("key copy");
        let cfg = OperatorConfig {
            flow,
            aggregator,
            watch: self.watch(),
            hook,
            send_timeout: Duration::from_secs(2),
            ..OperatorConfig::default()
        };
        let node = OperatorNode::new(
            client.clone(),
            self.avs(),
            key,
            Arc::new(MemoryStore::default()),
            cfg,
            self.sink(),
        )
        .await
        .expect("operator");
        self.handles.push(tokio::spawn(async move {
            if let Err(e) = node.run().await {
                panic!("operator stopped: {e}");
            }
        }));
    }

    pub fn keep(&mut self, h: JoinHandle<()>) {
        self.handles.push(h);
    }

    /// Wait (up to `secs`) for an event matching `f`.
    pub async fn wait_for(
        &mut self,
        secs: u64,
        mut f: impl FnMut(&NodeEvent) -> bool,
    ) -> NodeEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) if f(&ev) => return ev,
                Ok(Some(_)) => {}
                Ok(None) => panic!("event channel closed"),
                Err(_) => panic!("no matching event within {secs} s"),
            }
        }
    }

    /// Every event that arrives within `d`.
    pub async fn drain_for(&mut self, d: Duration) -> Vec<NodeEvent> {
        let deadline = tokio::time::Instant::now() + d;
        let mut out = Vec::new();
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            out.push(ev);
        }
        out
    }
}

pub fn wrong_sum(key: SecretKey) -> ResponseHook {
    Arc::new(move |r: &mut exoavs::protocol::Response| {
        r.response = exoavs::avs::SumAvs::response_bytes(r.sum().expect("a sum response") + 1);
        let d = r.digest();
        r.signature = key.sign(&d).to_uncompressed().to_vec();
    })
}

pub const LOOPBACK_ANY: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
