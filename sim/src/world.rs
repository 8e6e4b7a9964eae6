//! One madsim world per seed: the chain gateway node (the only path to the real Anvil), the
//! frame proxy, and the protocol nodes of the scenario, each built with
//! `create_node().name().ip().init(..)` so that a restart re-runs its init with the state it
//! persisted (the store lives outside the node). Then: a safety phase with faults, a heal, and
//! a liveness phase that must settle every task within the bound.
//!
//! The protocol nodes come from the crate under test through [`Roles`]; the sim never
//! implements the protocol itself.

use crate::anvil::ChainSlot;
use crate::faults::{FaultDriver, FaultMix, FrameProxy, Nodes};
use crate::gateway::{GATEWAY_IP, Gateway, GatewayTransport, SimClock, gateway_addr};
use crate::invariants::{Checker, Kind, Violation};
use crate::scenario::{Behaviour, Scenario, Scheduled};
use crate::trace::{EventKind, Trace};
use alloy::signers::local::PrivateKeySigner;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Which protocol node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Generator,
    Aggregator,
    Challenger,
    Operator { index: usize, behaviour: Behaviour },
}

impl Role {
    pub fn name(&self) -> String {
        match self {
            Role::Generator => "generator".into(),
            Role::Aggregator => "aggregator".into(),
            Role::Challenger => "challenger".into(),
            Role::Operator { index, .. } => format!("operator-{index}"),
        }
    }
}

/// Where the aggregator listens and where operators send (the frame proxy in front of it).
pub const AGGREGATOR_PORT: u16 = 7000;
pub const PROXY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
pub const PROXY_BASE_PORT: u16 = 9000;

pub fn node_ip(role: &Role) -> Ipv4Addr {
    match role {
        Role::Generator => Ipv4Addr::new(10, 0, 0, 10),
        Role::Aggregator => Ipv4Addr::new(10, 0, 0, 11),
        Role::Challenger => Ipv4Addr::new(10, 0, 0, 12),
        Role::Operator { index, .. } => operator_ip(*index),
    }
}

/// Operator `i`'s address: 10.0.1.1 – 10.0.1.254 for the first 254 (as before larger worlds),
/// then 10.1.1.x, 10.2.1.x, … — never 10.0.0.x (the other roles) or 10.0.2.1 (the frame proxy).
/// Scenario validation keeps `i` below [`crate::scenario::MAX_OPERATORS`].
pub fn operator_ip(i: usize) -> Ipv4Addr {
    let hi = u8::try_from(i / 254).expect("operator index within MAX_OPERATORS");
    Ipv4Addr::new(10, hi, 1, (i % 254) as u8 + 1)
}

/// Records what a node did into the run's trace (and so through the invariant checker).
#[derive(Clone)]
pub struct Reporter {
    pub node: String,
    trace: Trace,
    clock: SimClock,
}

impl Reporter {
    pub fn event(&self, kind: EventKind) {
        self.trace
            .record(self.clock.elapsed(), self.node.clone(), kind);
    }
}

/// Everything a node needs from the world, handed to its init at every (re)start.
pub struct NodeCtx<D, S> {
    pub role: Role,
    pub seed: u64,
    pub scenario: Arc<Scenario>,
    /// secp256k1 key of this node's chain account (funded at setup).
    pub chain_key: PrivateKeySigner,
    /// Where the aggregator listens (aggregator) or where to send responses (operators).
    pub aggregator_listen: SocketAddr,
    pub aggregator_addr: SocketAddr,
    pub deployment: D,
    /// Survives crashes: the same store is handed to every restart of this node.
    pub store: S,
    pub report: Reporter,
}

impl<D, S> NodeCtx<D, S> {
    /// A fresh alloy `RpcClient` over the chain gateway.
    pub fn rpc(&self) -> alloy::rpc::client::RpcClient {
        GatewayTransport::client(gateway_addr(), RPC_TIMEOUT)
    }
}

/// How long a node waits for one chain RPC answer (virtual time).
pub const RPC_TIMEOUT: Duration = Duration::from_millis(crate::scenario::RPC_TIMEOUT_MS);

/// What the sim needs at setup (before faults): the funded deployer and the node keys.
pub struct SetupCtx {
    pub seed: u64,
    pub scenario: Arc<Scenario>,
    pub deployer: PrivateKeySigner,
    pub keys: Vec<(Role, PrivateKeySigner)>,
    pub report: Reporter,
}

impl SetupCtx {
    pub fn rpc(&self) -> alloy::rpc::client::RpcClient {
        GatewayTransport::client(gateway_addr(), RPC_TIMEOUT)
    }
}

/// The protocol under test, as the crate's node drivers offer it.
pub trait Roles: Send + Sync + 'static {
    type Deployment: Clone + Send + Sync + 'static;
    type Store: Clone + Send + Sync + 'static;

    /// Deploy and register through the gateway (runs on a setup node, before faults start).
    fn setup(&self, ctx: SetupCtx) -> LocalFuture<Result<Self::Deployment, String>>;
    fn new_store(&self, role: Role) -> Self::Store;
    /// What the chain observer (the auditor's eyes) must know about the deployment.
    fn chain_view(&self, deployment: &Self::Deployment) -> crate::observer::ChainView;
    /// Whether this protocol has the role at all in `scenario` (a node is created only for those).
    fn has(&self, _scenario: &Scenario, _role: &Role) -> bool {
        true
    }
    /// The node's main future; it is dropped on crash and started again on restart.
    fn node(&self, ctx: NodeCtx<Self::Deployment, Self::Store>) -> LocalFuture<()>;
    /// The one command that reruns `seed` of `scenario` with these roles. By default the
    /// simulator's own, which runs the scenarios of `scenarios/`.
    fn repro(&self, scenario: &str, seed: u64) -> String {
        format!("cargo sim --scenario {scenario} --seed {seed}")
    }
    /// The AVS under test, as the auditor judges it (the sum by default).
    fn judge(&self) -> Arc<dyn crate::judge::Judge> {
        crate::judge::sum_judge()
    }
}

/// The result of one seed.
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub digest: String,
    pub mix: String,
    pub violation: Option<Violation>,
    pub trace: Trace,
    pub simulated: Duration,
    pub wall: Duration,
    pub tasks_created: usize,
    /// The one command that reproduces this run ([`Roles::repro`]).
    pub repro: String,
}

impl Report {
    /// The one command that reproduces this run.
    pub fn repro(&self) -> String {
        self.repro.clone()
    }

    pub fn ok(&self) -> bool {
        self.violation.is_none()
    }

    pub fn exit_code(&self) -> i32 {
        self.violation
            .as_ref()
            .map(|v| v.kind.exit_code())
            .unwrap_or(0)
    }

    /// One line: verdict, and for a failure what broke and how to reproduce it.
    pub fn line(&self) -> String {
        match &self.violation {
            None => format!(
                "ok   {} seed {} digest {} ({} tasks, {:.0} s simulated in {:.2} s, {} RPC calls)",
                self.scenario,
                self.seed,
                &self.digest[..16],
                self.tasks_created,
                self.simulated.as_secs_f64(),
                self.wall.as_secs_f64(),
                self.trace.rpc_calls()
            ),
            Some(v) => format!(
                "FAIL {} seed {}: {v} — reproduce: {}",
                self.scenario,
                self.seed,
                self.repro()
            ),
        }
    }
}

static WARM: std::sync::Once = std::sync::Once::new();

/// Run one seed of a scenario against the Anvil in `slot` (reset first).
///
/// The first run of a process initialises process-wide lazy state (ABI tables, error
/// registries, …) inside the simulation; where that draws randomness it shifts the seeded
/// RNG and so the schedule. A discarded warm-up run makes every real run — the first one of a
/// `cargo sim --seed N` repro included — start from the same process state.
pub fn run<R: Roles>(
    roles: Arc<R>,
    scenario: Arc<Scenario>,
    seed: u64,
    slot: &mut ChainSlot,
) -> Report {
    WARM.call_once(|| {
        let _ = run_once(roles.clone(), scenario.clone(), seed, slot);
    });
    run_once(roles, scenario, seed, slot)
}

fn run_once<R: Roles>(
    roles: Arc<R>,
    scenario: Arc<Scenario>,
    seed: u64,
    slot: &mut ChainSlot,
) -> Report {
    let wall = std::time::Instant::now();
    let repro = roles.repro(&scenario.name, seed);
    let trace = Trace::new();
    if std::env::var_os("EXOAVS_SIM_RPC_LOG").is_some() {
        trace.keep_rpc_log();
    }
    let checker = Arc::new(Mutex::new(Checker::for_run_of(
        &scenario,
        seed,
        roles.judge(),
    )));
    let c = checker.clone();
    // Violations go into the trace where they are found, so a timeline can mark them.
    trace.add_recording_listener(move |ev, t| {
        let mut ch = c.lock().unwrap_or_else(|p| p.into_inner());
        let before = ch.violations().len();
        ch.observe(ev);
        let new: Vec<Violation> = ch.violations()[before..].to_vec();
        drop(ch);
        for v in new {
            record_violation(t, &v, &ev.node);
        }
    });
    let (simulated, mix, violation) = match slot.reset() {
        Err(e) => (
            Duration::ZERO,
            String::new(),
            Some(Violation {
                kind: Kind::Lost,
                invariant: "the chain starts",
                detail: e.to_string(),
                at_ms: 0,
            }),
        ),
        Ok(()) => {
            let t = trace.clone();
            let ch = checker.clone();
            let sc = scenario.clone();
            let anvil = slot.addr();
            // A fresh thread per run, as madsim's own test builder does: std's HashMap keys are
            // drawn once per thread (inside the simulation, from the seeded RNG), so a second
            // run on the same thread would iterate maps in another order.
            let joined = std::thread::Builder::new()
                .name(format!("sim-{}-{seed}", scenario.name))
                .spawn(move || {
                    let rt = madsim::runtime::Runtime::with_seed_and_config(
                        seed,
                        madsim::Config::default(),
                    );
                    rt.block_on(async move { world(roles, sc, seed, anvil, t, ch).await })
                })
                .map_err(|e| e.to_string())
                .and_then(|h| h.join().map_err(|p| panic_text(&p)));
            match joined {
                Ok(r) => r,
                Err(e) => (
                    Duration::ZERO,
                    String::new(),
                    Some(Violation {
                        kind: Kind::Safety,
                        invariant: "no node panics",
                        detail: e,
                        at_ms: 0,
                    }),
                ),
            }
        }
    };
    let first = checker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .first_violation()
        .cloned();
    let tasks_created = checker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .created_tasks();
    Report {
        scenario: scenario.name.clone(),
        seed,
        digest: trace.digest(),
        mix,
        violation: violation.or(first),
        trace,
        simulated,
        wall: wall.elapsed(),
        tasks_created,
        repro,
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a simulated node panicked".into())
}

fn violated(checker: &Arc<Mutex<Checker>>) -> bool {
    !checker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .violations()
        .is_empty()
}

pub async fn world<R: Roles>(
    roles: Arc<R>,
    scenario: Arc<Scenario>,
    seed: u64,
    anvil: SocketAddr,
    trace: Trace,
    checker: Arc<Mutex<Checker>>,
) -> (Duration, String, Option<Violation>) {
    let clock = SimClock::start();
    let handle = madsim::runtime::Handle::current();
    let mut rng = madsim::rand::thread_rng();
    let mix = FaultMix::draw(&scenario.faults.random, &mut rng);
    trace.record(
        clock.elapsed(),
        "sim",
        EventKind::Note {
            text: format!("scenario {} seed {seed}: {}", scenario.name, mix.describe()),
        },
    );
    let block_time = Duration::from_millis(scenario.chain.block_time_ms);

    // The chain gateway: never crashed, only cut off from nodes by partitions.
    let gw = Gateway::new(anvil, trace.clone(), clock);
    let g = gw.clone();
    handle
        .create_node()
        .name("chain-gateway")
        .ip(IpAddr::V4(GATEWAY_IP))
        .init(move || {
            let g = g.clone();
            async move {
                tokio::spawn(g.clone().run_miner(block_time));
                g.serve().await
            }
        })
        .build();

    // Keys and funding, outside the simulation's fault plan.
    let mut roles_list = vec![Role::Generator, Role::Aggregator, Role::Challenger];
    roles_list.extend((0..scenario.operators.count).map(|i| Role::Operator {
        index: i,
        behaviour: scenario.operators.behaviour(i),
    }));
    roles_list.retain(|r| roles.has(&scenario, r));
    let deployer = crate::txs::derived_key(seed, "deployer", 0);
    let keys: Vec<(Role, PrivateKeySigner)> = roles_list
        .iter()
        .map(|r| (*r, crate::txs::derived_key(seed, &r.name(), 0)))
        .collect();
    for k in std::iter::once(&deployer).chain(keys.iter().map(|(_, k)| k)) {
        if let Err(e) = gw.admin(
            "anvil_setBalance",
            serde_json::json!([k.address(), "0x56BC75E2D63100000"]),
        ) {
            return (
                clock.elapsed(),
                mix.describe(),
                Some(Violation {
                    kind: Kind::Lost,
                    invariant: "setup",
                    detail: e.to_string(),
                    at_ms: 0,
                }),
            );
        }
    }
    for r in &roles_list {
        gw.name_ip(IpAddr::V4(node_ip(r)), &r.name());
    }

    // Setup (deploy, register) on its own node, before any fault.
    let setup_ip = Ipv4Addr::new(10, 0, 0, 2);
    gw.name_ip(IpAddr::V4(setup_ip), "setup");
    let ctx = SetupCtx {
        seed,
        scenario: scenario.clone(),
        deployer,
        keys: keys.clone(),
        report: Reporter {
            node: "setup".into(),
            trace: trace.clone(),
            clock,
        },
    };
    // The setup future need not be Send: run it as a node's init and hand the result back.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let once = Arc::new(Mutex::new(Some((ctx, done_tx))));
    let r2 = roles.clone();
    handle
        .create_node()
        .name("setup")
        .ip(IpAddr::V4(setup_ip))
        .init(move || {
            let job = once.lock().unwrap_or_else(|p| p.into_inner()).take();
            let r2 = r2.clone();
            async move {
                if let Some((ctx, tx)) = job {
                    let _ = tx.send(r2.setup(ctx).await);
                }
            }
        })
        .build();
    let deployment = match done_rx.await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            return (
                clock.elapsed(),
                mix.describe(),
                Some(Violation {
                    kind: Kind::Lost,
                    invariant: "setup",
                    detail: e,
                    at_ms: clock.elapsed().as_millis() as u64,
                }),
            );
        }
        Err(_) => {
            return (
                clock.elapsed(),
                mix.describe(),
                Some(Violation {
                    kind: Kind::Lost,
                    invariant: "setup",
                    detail: "setup node ended without a result".into(),
                    at_ms: 0,
                }),
            );
        }
    };

    // The auditor reads the chain from the supervisor, outside the fault plan, a few blocks
    // behind the head so that no reorg can take back what it saw.
    let mut view = roles.chain_view(&deployment);
    view.confirmations = confirmations(&scenario);
    view.two_phase = scenario.flow == crate::scenario::Flow::TwoPhase;
    view.stakes = (0..scenario.operators.count)
        .map(|i| scenario.operators.weight(i))
        .collect();
    let c = checker.clone();
    let operators = view.operators.clone();
    gw.set_request_tap(Arc::new(move |node, req| {
        if let Some((task, _sum, non)) = crate::observer::respond_to_task_in(req) {
            let non: Vec<usize> = non
                .iter()
                .filter_map(|a| operators.iter().position(|o| o == a))
                .collect();
            c.lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe_submission(clock.elapsed().as_millis() as u64, node, task, &non);
        }
    }));
    let c = checker.clone();
    let observer = crate::observer::Observer::new(view).with_settlement_tap(Arc::new(move |s| {
        c.lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe_settlement(s)
    }));
    tokio::spawn(observer.run(gw.clone(), block_time));

    // The frame proxy in front of the aggregator.
    let proxy = FrameProxy::new(trace.clone(), clock);
    for l in &scenario.operators.slow_links {
        proxy.set_link_delay(
            &format!("operator-{}", l.index),
            Duration::from_millis(l.delay_ms),
        );
    }
    let c = checker.clone();
    proxy.set_wire_tap(Arc::new(move |operator, r| {
        c.lock().unwrap_or_else(|p| p.into_inner()).observe_wire(
            clock.elapsed().as_millis() as u64,
            operator,
            r.task_id,
            &r.response,
            &r.signature,
        )
    }));
    let aggregator_listen =
        SocketAddr::new(IpAddr::V4(node_ip(&Role::Aggregator)), AGGREGATOR_PORT);
    let n_ops = scenario.operators.count;
    let p = proxy.clone();
    let proxy_node = handle
        .create_node()
        .name("frame-proxy")
        .ip(IpAddr::V4(PROXY_IP))
        .init(move || {
            let p = p.clone();
            async move {
                for i in 0..n_ops {
                    let listen = SocketAddr::new(IpAddr::V4(PROXY_IP), PROXY_BASE_PORT + i as u16);
                    tokio::spawn(p.clone().serve(
                        listen,
                        aggregator_listen,
                        format!("operator-{i}"),
                    ));
                }
                std::future::pending::<()>().await
            }
        })
        .build();

    // The protocol nodes.
    let nodes = Arc::new(Mutex::new(Nodes::default()));
    for (role, key) in keys {
        let name = role.name();
        let store = roles.new_store(role);
        let aggregator_addr = match role {
            Role::Operator { index, .. } => {
                SocketAddr::new(IpAddr::V4(PROXY_IP), PROXY_BASE_PORT + index as u16)
            }
            _ => aggregator_listen,
        };
        let r = roles.clone();
        let sc = scenario.clone();
        let dep = deployment.clone();
        let report = Reporter {
            node: name.clone(),
            trace: trace.clone(),
            clock,
        };
        let node = handle
            .create_node()
            .name(name.clone())
            .ip(IpAddr::V4(node_ip(&role)))
            .init(move || {
                let ctx = NodeCtx {
                    role,
                    seed,
                    scenario: sc.clone(),
                    chain_key: key.clone(),
                    aggregator_listen,
                    aggregator_addr,
                    deployment: dep.clone(),
                    store: store.clone(),
                    report: report.clone(),
                };
                r.node(ctx)
            })
            .build();
        nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ids
            .insert(name, node.id());
    }
    let _ = proxy_node;

    // Faults during the safety phase.
    let driver = Arc::new(FaultDriver {
        nodes: nodes.clone(),
        gateway: gw.clone(),
        proxy: proxy.clone(),
        trace: trace.clone(),
        mix: mix.clone(),
        healed: Arc::new(AtomicBool::new(false)),
    });
    let safety = Duration::from_millis(scenario.faults.safety_phase_ms);
    if !safety.is_zero() {
        driver.start_random(&scenario, block_time);
        driver.start_scheduled(&scenario.faults.scheduled);
        // Operators that crash by habit: down every ~10 s for 3 s while faults last.
        let habitual: Vec<Scheduled> = (0..scenario.operators.count)
            .filter(|&i| scenario.operators.behaviour(i) == Behaviour::CrashRestart)
            .flat_map(|i| {
                let every = 10_000u64;
                (1..=scenario.faults.safety_phase_ms / every).map(move |k| Scheduled::Crash {
                    node: format!("operator-{i}"),
                    at_ms: k * every - 3_000 + (i as u64 * 700) % 2_000,
                    restart_after_ms: Some(3_000),
                })
            })
            .collect();
        driver.start_scheduled(&habitual);
        for f in &scenario.faults.scheduled {
            match f {
                Scheduled::CrashOnQuorum {
                    node,
                    restart_after_ms,
                } => arm_crash_on(
                    &trace,
                    &driver,
                    Trigger::Quorum(&scenario),
                    node.clone(),
                    Duration::from_millis(*restart_after_ms),
                ),
                Scheduled::CrashOnAcks {
                    node,
                    acks,
                    restart_after_ms,
                } => arm_crash_on(
                    &trace,
                    &driver,
                    Trigger::Acks(*acks),
                    node.clone(),
                    Duration::from_millis(*restart_after_ms),
                ),
                _ => {}
            }
        }
    }
    // Fault times and the phases count from here, after setup.
    let started = clock.elapsed();
    trace.record(
        started,
        "sim",
        EventKind::PhaseChanged {
            phase: "safety".into(),
        },
    );

    // Run: heal after the safety phase, stop at the first violation, when every planned task
    // is settled, or at the liveness deadline.
    let tasks_span = Duration::from_millis(scenario.tasks.interval_ms * (scenario.tasks.count + 1));
    let end = started
        + safety.max(tasks_span)
        + Duration::from_millis(scenario.faults.liveness_bound_ms)
        + Duration::from_millis(scenario.tasks.response_window_ms);
    let mut healed = safety.is_zero();
    if healed {
        trace.record(
            started,
            "sim",
            EventKind::PhaseChanged {
                phase: "liveness".into(),
            },
        );
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = clock.elapsed();
        if !healed && now >= started + safety {
            driver.heal();
            healed = true;
        }
        if violated(&checker) {
            break;
        }
        let (created, open) = {
            let c = checker.lock().unwrap_or_else(|p| p.into_inner());
            (c.created_tasks() as u64, c.open_tasks())
        };
        if healed && created >= scenario.tasks.count && open == 0 {
            break;
        }
        if now >= end {
            break;
        }
    }
    let now = clock.elapsed();
    let found_at_end: Vec<Violation> = {
        let mut ch = checker.lock().unwrap_or_else(|p| p.into_inner());
        let before = ch.violations().len();
        ch.finish(now.as_millis() as u64, scenario.tasks.count);
        ch.violations()[before..].to_vec()
    };
    for v in found_at_end {
        record_violation(&trace, &v, "sim");
    }
    (now, mix.describe(), None)
}

fn record_violation(trace: &Trace, v: &Violation, node: &str) {
    trace.record(
        Duration::from_millis(v.at_ms),
        node.to_string(),
        EventKind::Violation {
            invariant: v.invariant.into(),
            detail: v.detail.clone(),
        },
    );
}

/// Deeper than any reorg the scenario can cause.
pub fn confirmations(s: &Scenario) -> u64 {
    let scheduled = s.faults.scheduled.iter().filter_map(|f| match f {
        Scheduled::Reorg { depth, .. } => Some(*depth),
        _ => None,
    });
    let random = if s.faults.random.reorg > 0.0 {
        s.faults.random.reorg_max_depth
    } else {
        0
    };
    scheduled.chain(std::iter::once(random)).max().unwrap_or(0) + 1
}

/// What makes [`arm_crash_on`] kill its node.
enum Trigger<'a> {
    /// The aggregator has received a quorum of responses for a task (before it submits).
    Quorum(&'a Scenario),
    /// This many operators hold the aggregator's acknowledgement for one task (their
    /// `ResponseSent`), while it has received no other response for that task.
    Acks(usize),
}

/// Kill `node` the first time `trigger` holds for a task; restart it after `restart_after`.
fn arm_crash_on(
    trace: &Trace,
    driver: &Arc<FaultDriver>,
    trigger: Trigger,
    node: String,
    restart_after: Duration,
) {
    type PerTask = std::collections::BTreeMap<u64, std::collections::BTreeSet<usize>>;
    let (quorum_scenario, acks) = match trigger {
        Trigger::Quorum(s) => (Some(s), None),
        Trigger::Acks(n) => (None, Some(n)),
    };
    let weights: Vec<u64> = quorum_scenario
        .map(|s| {
            (0..s.operators.count)
                .map(|i| s.operators.weight(i))
                .collect()
        })
        .unwrap_or_default();
    let total = crate::scenario::weight_of(&weights, 0..weights.len());
    let threshold = quorum_scenario.map_or(0, |s| s.threshold_percent as u64);
    let has_quorum = move |set: &std::collections::BTreeSet<usize>| {
        let w = crate::scenario::weight_of(&weights, set.iter().copied());
        total > 0 && crate::scenario::reaches_threshold(w, total, threshold)
    };
    let received: Arc<Mutex<PerTask>> = Default::default();
    let acked: Arc<Mutex<PerTask>> = Default::default();
    let fired = Arc::new(AtomicBool::new(false));
    // The listener runs inside whichever node records the event (the aggregator itself), so
    // the kill and the restart are carried out by a task on the supervisor.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let d = driver.clone();
    let why = if acks.is_some() { "acks" } else { "quorum" };
    tokio::spawn(async move {
        if let Some(task) = rx.recv().await {
            d.crash(&node);
            d.trace.record(
                d.gateway.clock().elapsed(),
                "faults",
                EventKind::Note {
                    text: format!("crashed {node} at {why} of task {task}"),
                },
            );
            tokio::time::sleep(restart_after).await;
            d.restart(&node);
        }
    });
    trace.add_listener(move |ev| {
        if fired.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut r = received.lock().unwrap_or_else(|p| p.into_inner());
        let fire = match (&ev.kind, acks) {
            (EventKind::ResponseReceived { task, operator }, None) => {
                let set = r.entry(*task).or_default();
                set.insert(*operator);
                has_quorum(set).then_some(*task)
            }
            (EventKind::ResponseReceived { task, operator }, Some(_)) => {
                r.entry(*task).or_default().insert(*operator);
                None
            }
            (EventKind::ResponseSent { task, operator, .. }, Some(n)) => {
                let mut a = acked.lock().unwrap_or_else(|p| p.into_inner());
                let set = a.entry(*task).or_default();
                set.insert(*operator);
                let only_these = r.get(task).map_or(0, |s| s.len()) <= n;
                (set.len() == n && only_these).then_some(*task)
            }
            _ => None,
        };
        if let Some(task) = fire {
            fired.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = tx.send(task);
        }
    });
}
