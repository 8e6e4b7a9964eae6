//! Faults, all injected from outside the code under test: node kill/restart through madsim's
//! `Handle`, partitions through `NetSim` clogs, frame loss/duplication/reordering/delay in a
//! proxy on the operator→aggregator path (madsim TCP itself is reliable), and chain faults in
//! the gateway.

use crate::gateway::{Gateway, RpcFaultRates, read_frame, write_frame};
use crate::scenario::{Random, Scenario, Scheduled};
use crate::trace::{EventKind, Trace};
use madsim::rand::Rng;
use madsim::runtime::Handle;
use madsim::task::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Per-frame fault probabilities of the operator→aggregator proxy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameRates {
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub delay: f64,
    pub delay_max: Duration,
}

/// The fault mix of one seed: the scenario's rates, or with `swarm` a draw below them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultMix {
    pub crash: f64,
    pub restart_after: Duration,
    pub partition: f64,
    pub partition_for: Duration,
    pub frame: FrameRates,
    pub rpc: RpcFaultRates,
    pub reorg: f64,
    pub reorg_max_depth: u64,
}

impl FaultMix {
    pub fn draw(r: &Random, rng: &mut impl Rng) -> FaultMix {
        let mut p = |max: f64| {
            if r.swarm && max > 0.0 {
                rng.gen_range(0.0..=max)
            } else {
                max
            }
        };
        FaultMix {
            crash: p(r.crash),
            restart_after: Duration::from_millis(r.restart_after_ms),
            partition: p(r.partition),
            partition_for: Duration::from_millis(r.partition_ms),
            frame: FrameRates {
                loss: p(r.frame_loss),
                duplicate: p(r.frame_duplicate),
                reorder: p(r.frame_reorder),
                delay: p(r.frame_delay),
                delay_max: Duration::from_millis(r.frame_delay_max_ms),
            },
            rpc: RpcFaultRates {
                error: p(r.rpc_error),
                reset: p(r.rpc_reset),
                timeout: p(r.rpc_timeout),
                delay: p(r.rpc_delay),
                delay_max: Duration::from_millis(r.rpc_delay_max_ms),
                duplicate: p(r.rpc_duplicate),
            },
            reorg: p(r.reorg),
            reorg_max_depth: r.reorg_max_depth.max(1),
        }
    }

    /// One line for the run header, so a report shows the world the seed drew.
    pub fn describe(&self) -> String {
        format!(
            "crash {:.3}/s partition {:.3}/s frame loss {:.2} dup {:.2} reorder {:.2} delay {:.2} rpc error {:.2} reset {:.2} timeout {:.2} delay {:.2} dup {:.2} reorg {:.3}/block",
            self.crash,
            self.partition,
            self.frame.loss,
            self.frame.duplicate,
            self.frame.reorder,
            self.frame.delay,
            self.rpc.error,
            self.rpc.reset,
            self.rpc.timeout,
            self.rpc.delay,
            self.rpc.duplicate,
            self.reorg
        )
    }
}

/// A proxy on the operator→aggregator path: cuts the byte stream into length-prefixed frames
/// and loses, duplicates, reorders or delays them. Frames from the aggregator back to the
/// operator pass untouched.
pub struct FrameProxy {
    pub rates: Arc<Mutex<FrameRates>>,
    trace: Trace,
    clock: crate::gateway::SimClock,
    wire: Mutex<Option<WireTap>>,
    /// Fixed delay per operator link ("operator-i"): the scenario's slow links.
    slow: Mutex<std::collections::HashMap<String, Duration>>,
}

/// Sees every response an operator puts on the wire (operator index, the decoded response),
/// before any frame fault: the auditor's view of what each operator's key signed.
pub type WireTap = Arc<dyn Fn(usize, &exoavs::protocol::Response) + Send + Sync>;

impl FrameProxy {
    pub fn new(trace: Trace, clock: crate::gateway::SimClock) -> Arc<Self> {
        Arc::new(FrameProxy {
            rates: Arc::new(Mutex::new(FrameRates::default())),
            trace,
            clock,
            wire: Mutex::new(None),
            slow: Mutex::new(Default::default()),
        })
    }

    /// Every frame from `name` waits `delay` before it goes on (in order).
    pub fn set_link_delay(&self, name: &str, delay: Duration) {
        lock(&self.slow).insert(name.to_string(), delay);
    }

    pub fn set_wire_tap(&self, tap: WireTap) {
        *lock(&self.wire) = Some(tap);
    }

    /// Hand a frame from operator `name` ("operator-i") to the wire tap, if it decodes.
    fn tap(&self, name: &str, frame: &[u8]) {
        let Some(tap) = lock(&self.wire).clone() else {
            return;
        };
        let Some(index) = name
            .strip_prefix("operator-")
            .and_then(|i| i.parse::<usize>().ok())
        else {
            return;
        };
        if let Ok(exoavs::net::Message::Response(r)) = exoavs::net::codec::decode(frame) {
            tap(index, &r);
        }
    }

    pub fn set_rates(&self, r: FrameRates) {
        *lock(&self.rates) = r;
    }

    /// Listen on `listen` for operator `name` and forward each connection to `upstream`.
    pub async fn serve(self: Arc<Self>, listen: SocketAddr, upstream: SocketAddr, name: String) {
        let Ok(listener) = TcpListener::bind(listen).await else {
            self.note(&name, format!("proxy cannot bind {listen}"));
            return;
        };
        while let Ok((down, _)) = listener.accept().await {
            let me = self.clone();
            let name = name.clone();
            tokio::spawn(async move {
                let Ok(up) = TcpStream::connect(upstream).await else {
                    // Closing the operator's connection tells it the aggregator is unreachable.
                    return;
                };
                me.pipe(down, up, name).await;
            });
        }
    }

    fn note(&self, node: &str, text: String) {
        self.trace
            .record(self.clock.elapsed(), node, EventKind::Note { text });
    }

    fn fault(&self, node: &str, fault: String) {
        self.trace
            .record(self.clock.elapsed(), node, EventKind::Fault { fault });
    }

    async fn pipe(self: Arc<Self>, down: TcpStream, up: TcpStream, name: String) {
        let (mut down_r, mut down_w) = tokio::io::split(down);
        let (mut up_r, mut up_w) = tokio::io::split(up);
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        // Writer: frames reach the aggregator in the order they enter the channel.
        let writer = tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                if write_frame(&mut up_w, &f).await.is_err() {
                    break;
                }
            }
        });
        let back = tokio::spawn(async move {
            while let Ok(Some(f)) = read_frame(&mut up_r).await {
                if write_frame(&mut down_w, &f).await.is_err() {
                    break;
                }
            }
        });
        let mut held: Option<Vec<u8>> = None;
        loop {
            let frame = match held {
                // A held (reordered) frame goes out after the next one, or after a pause.
                Some(_) => {
                    match tokio::time::timeout(Duration::from_millis(500), read_frame(&mut down_r))
                        .await
                    {
                        Ok(r) => r,
                        Err(_) => {
                            if let Some(h) = held.take() {
                                let _ = tx.send(h);
                            }
                            continue;
                        }
                    }
                }
                None => read_frame(&mut down_r).await,
            };
            let Ok(Some(frame)) = frame else { break };
            self.tap(&name, &frame);
            let slow = lock(&self.slow).get(&name).copied();
            if let Some(d) = slow {
                tokio::time::sleep(d).await;
            }
            let r = lock(&self.rates).clone();
            let x: f64 = madsim::rand::thread_rng().r#gen();
            let mut acc = r.loss;
            if x < acc {
                self.fault(&name, "frame lost".into());
                continue;
            }
            acc += r.duplicate;
            let dup = x < acc;
            acc += r.reorder;
            let reorder = !dup && x < acc;
            acc += r.delay;
            let delay = !dup && !reorder && x < acc;
            if dup {
                self.fault(&name, "frame duplicated".into());
                let _ = tx.send(frame.clone());
                let _ = tx.send(frame);
            } else if reorder && held.is_none() {
                self.fault(&name, "frame reordered".into());
                held = Some(frame);
                continue;
            } else if delay {
                let max = r.delay_max.as_millis().max(1) as u64;
                let d = Duration::from_millis(madsim::rand::thread_rng().gen_range(1..=max));
                self.fault(&name, format!("frame delayed {} ms", d.as_millis()));
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    let _ = tx.send(frame);
                });
            } else {
                let _ = tx.send(frame);
            }
            if let Some(h) = held.take() {
                let _ = tx.send(h);
            }
        }
        drop(tx);
        back.abort();
        let _ = writer.await;
    }
}

/// Node ids by name, and which nodes are down or cut off right now.
#[derive(Default)]
pub struct Nodes {
    pub ids: BTreeMap<String, NodeId>,
    down: BTreeSet<String>,
    cut: BTreeSet<String>,
}

/// Carries out the fault plan of one run from the supervisor.
pub struct FaultDriver {
    pub nodes: Arc<Mutex<Nodes>>,
    pub gateway: Arc<Gateway>,
    pub proxy: Arc<FrameProxy>,
    pub trace: Trace,
    pub mix: FaultMix,
    pub healed: Arc<std::sync::atomic::AtomicBool>,
}

impl FaultDriver {
    fn now(&self) -> Duration {
        self.gateway.clock().elapsed()
    }

    fn record(&self, kind: EventKind) {
        self.trace.record(self.now(), "faults", kind);
    }

    fn is_healed(&self) -> bool {
        self.healed.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn crash(&self, name: &str) {
        if self.is_healed() {
            return;
        }
        let mut n = lock(&self.nodes);
        let Some(&id) = n.ids.get(name) else { return };
        if !n.down.insert(name.to_string()) {
            return;
        }
        drop(n);
        Handle::current().kill(id);
        self.record(EventKind::Fault {
            fault: format!("crash {name}"),
        });
    }

    pub fn restart(&self, name: &str) {
        let mut n = lock(&self.nodes);
        let Some(&id) = n.ids.get(name) else { return };
        if !n.down.remove(name) {
            return;
        }
        drop(n);
        Handle::current().restart(id);
        self.record(EventKind::FaultHealed {
            fault: format!("restart {name}"),
        });
    }

    pub fn partition(&self, name: &str) {
        if self.is_healed() {
            return;
        }
        let mut n = lock(&self.nodes);
        let Some(&id) = n.ids.get(name) else { return };
        if !n.cut.insert(name.to_string()) {
            return;
        }
        drop(n);
        madsim::net::NetSim::current().clog_node(id);
        self.record(EventKind::Fault {
            fault: format!("partition {name}"),
        });
    }

    pub fn unpartition(&self, name: &str) {
        let mut n = lock(&self.nodes);
        let Some(&id) = n.ids.get(name) else { return };
        if !n.cut.remove(name) {
            return;
        }
        drop(n);
        madsim::net::NetSim::current().unclog_node(id);
        self.record(EventKind::FaultHealed {
            fault: format!("heal partition {name}"),
        });
    }

    pub fn reorg(&self, depth: u64) {
        if self.is_healed() {
            return;
        }
        if let Err(e) = self.gateway.reorg(depth) {
            self.record(EventKind::Note {
                text: format!("reorg failed: {e}"),
            });
        }
    }

    /// Start the random faults of the mix.
    pub fn start_random(self: &Arc<Self>, scenario: &Scenario, block_time: Duration) {
        self.gateway.set_faults(self.mix.rpc.clone());
        self.proxy.set_rates(self.mix.frame.clone());
        let victims: Vec<String> = scenario.node_names();
        let operators: Vec<String> = (0..scenario.operators.count)
            .map(|i| format!("operator-{i}"))
            .collect();
        if self.mix.crash > 0.0 || self.mix.partition > 0.0 {
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if me.is_healed() {
                        return;
                    }
                    for v in &victims {
                        if madsim::rand::thread_rng().gen_bool(me.mix.crash) {
                            me.crash(v);
                            let me2 = me.clone();
                            let v = v.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(me2.mix.restart_after).await;
                                me2.restart(&v);
                            });
                        }
                    }
                    for v in &operators {
                        if madsim::rand::thread_rng().gen_bool(me.mix.partition) {
                            me.partition(v);
                            let me2 = me.clone();
                            let v = v.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(me2.mix.partition_for).await;
                                me2.unpartition(&v);
                            });
                        }
                    }
                }
            });
        }
        if self.mix.reorg > 0.0 {
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(block_time).await;
                    if me.is_healed() {
                        return;
                    }
                    let mut rng = madsim::rand::thread_rng();
                    if rng.gen_bool(me.mix.reorg) {
                        let depth = rng.gen_range(1..=me.mix.reorg_max_depth);
                        me.reorg(depth);
                    }
                }
            });
        }
    }

    /// Start the scheduled faults (those not triggered by events).
    pub fn start_scheduled(self: &Arc<Self>, plan: &[Scheduled]) {
        for f in plan.iter().cloned() {
            let me = self.clone();
            tokio::spawn(async move {
                match f {
                    Scheduled::Crash {
                        node,
                        at_ms,
                        restart_after_ms,
                    } => {
                        tokio::time::sleep(Duration::from_millis(at_ms)).await;
                        me.crash(&node);
                        if let Some(after) = restart_after_ms {
                            tokio::time::sleep(Duration::from_millis(after)).await;
                            me.restart(&node);
                        }
                    }
                    Scheduled::CrashOntoFork {
                        node,
                        at_ms,
                        restart_after_ms,
                    } => {
                        tokio::time::sleep(Duration::from_millis(at_ms)).await;
                        if me.is_healed() {
                            return;
                        }
                        me.crash(&node);
                        match me.gateway.head() {
                            Ok(head) => {
                                me.gateway.fork_view(&node, head);
                                me.record(EventKind::Fault {
                                    fault: format!(
                                        "{node} will read a fork: task events up to block {head} carry another a"
                                    ),
                                });
                            }
                            Err(e) => me.record(EventKind::Note {
                                text: format!("fork view not set: {e}"),
                            }),
                        }
                        tokio::time::sleep(Duration::from_millis(restart_after_ms)).await;
                        me.restart(&node);
                    }
                    Scheduled::Partition {
                        nodes,
                        at_ms,
                        duration_ms,
                    } => {
                        tokio::time::sleep(Duration::from_millis(at_ms)).await;
                        for n in &nodes {
                            me.partition(n);
                        }
                        tokio::time::sleep(Duration::from_millis(duration_ms)).await;
                        for n in &nodes {
                            me.unpartition(n);
                        }
                    }
                    Scheduled::Reorg { at_ms, depth } => {
                        tokio::time::sleep(Duration::from_millis(at_ms)).await;
                        me.reorg(depth);
                    }
                    Scheduled::RpcOutage { at_ms, duration_ms } => {
                        tokio::time::sleep(Duration::from_millis(at_ms)).await;
                        if me.is_healed() {
                            return;
                        }
                        let before = me.gateway.faults();
                        me.gateway.set_faults(RpcFaultRates {
                            reset: 1.0,
                            ..RpcFaultRates::default()
                        });
                        me.record(EventKind::Fault {
                            fault: "rpc outage".into(),
                        });
                        tokio::time::sleep(Duration::from_millis(duration_ms)).await;
                        if !me.is_healed() {
                            me.gateway.set_faults(before);
                        }
                        me.record(EventKind::FaultHealed {
                            fault: "rpc outage over".into(),
                        });
                    }
                    // Triggered by the trace (see `world`), not by time.
                    Scheduled::CrashOnQuorum { .. } | Scheduled::CrashOnAcks { .. } => {}
                }
            });
        }
    }

    /// End of the safety phase: every fault stops, every node is up and connected.
    pub fn heal(&self) {
        self.healed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.gateway.set_faults(RpcFaultRates::default());
        self.gateway.unfork_all();
        self.proxy.set_rates(FrameRates::default());
        let (down, cut): (Vec<String>, Vec<String>) = {
            let n = lock(&self.nodes);
            (
                n.down.iter().cloned().collect(),
                n.cut.iter().cloned().collect(),
            )
        };
        for c in cut {
            self.unpartition(&c);
        }
        for d in down {
            self.restart(&d);
        }
        self.record(EventKind::PhaseChanged {
            phase: "liveness".into(),
        });
    }
}
