//! `exoavs devnet`: start Anvil, provision the AVS and N operators, run generator, operators,
//! aggregator (aggregated flow) and challenger in this process, and show each task's life as it
//! happens, up to its settlement: who signed, who is in the aggregate, who is paid or slashed.

// Errors here end the command once; their size does not matter.
#![allow(clippy::result_large_err)]

use super::anvil::{Anvil, AnvilError, AnvilOptions};
use super::setup::{self, AvsSetup, Deployment, SetupError};
use crate::app::AvsApp;
use crate::avs::SumAvs;
use crate::chain::avs::Profile;
use crate::chain::{ChainError, Client, TxConfig};
use crate::crypto::bls::SecretKey;
use crate::metrics::health::{self, Health, HealthConfig};
use crate::metrics::{self, Metrics};
use crate::node::aggregator::{AggregatorNode, AggregatorNodeConfig};
use crate::node::challenger::{ChallengerNode, ChallengerNodeConfig};
use crate::node::generator::{GeneratorNode, GeneratorNodeConfig};
use crate::node::operator::{OperatorConfig, OperatorNode, ResponseHook};
use crate::node::{ChainWatch, EventSink, NodeError, NodeEvent};
use crate::protocol::{Flow, RejectReason, TaskId};
use crate::store::MemoryStore;
use alloy::primitives::Address;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Between two polls of the chain, for every devnet role (and the `/ready` probe).
const DEVNET_POLL: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowArg {
    Aggregated,
    TwoPhase,
}

impl From<FlowArg> for Flow {
    fn from(f: FlowArg) -> Flow {
        match f {
            FlowArg::Aggregated => Flow::Aggregated,
            FlowArg::TwoPhase => Flow::TwoPhase,
        }
    }
}

#[derive(Clone, Debug)]
pub struct DevnetOptions {
    pub operators: usize,
    pub tasks: Option<u64>,
    pub interval: Duration,
    pub flow: FlowArg,
    /// The registry's profile: exoavs's emulation, or the strict Imua one (two-phase only).
    pub profile: Profile,
    pub threshold: u8,
    pub wrong_operators: usize,
    pub anvil: Option<PathBuf>,
    pub timeout: Duration,
    /// Serve Prometheus metrics of the whole devnet here while it runs.
    pub metrics: Option<SocketAddr>,
    /// Once the run is done, keep Anvil (and the metrics endpoint) up until `shutdown`, so that
    /// the chain can be read back (`cast`).
    pub hold: bool,
}

impl Default for DevnetOptions {
    fn default() -> Self {
        DevnetOptions {
            operators: 4,
            tasks: None,
            interval: Duration::from_secs(2),
            flow: FlowArg::Aggregated,
            profile: Profile::Emulation,
            threshold: 67,
            wrong_operators: 0,
            anvil: None,
            timeout: Duration::from_secs(600),
            metrics: None,
            hold: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error("anvil: {0}")]
    Anvil(#[from] AnvilError),
    #[error("provisioning: {0}")]
    Setup(#[from] SetupError),
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("{role}: {source}")]
    Node {
        role: String,
        #[source]
        source: NodeError,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("metrics endpoint {0}: {1}")]
    Metrics(SocketAddr, std::io::Error),
    #[error("timed out after {0:?} with {1} task(s) accepted")]
    Timeout(Duration, u64),
}

/// What a devnet run achieved.
#[derive(Debug, Default)]
pub struct DevnetReport {
    pub rpc_url: String,
    pub avs: Address,
    /// Tasks accepted on chain and confirmed by reading the contract.
    pub accepted: u64,
    /// Tasks settled by the challenger (rewards and slashing).
    pub settled: u64,
    /// Per operator, what the run saw of it.
    pub operators: BTreeMap<Address, OperatorTally>,
}

/// One operator's part in a devnet run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorTally {
    /// Tasks it sent a response for.
    pub signed: u64,
    /// Tasks whose accepted aggregate holds its signature.
    pub included: u64,
    pub rewarded: u64,
    pub slashed: u64,
}

impl DevnetReport {
    /// The per-operator table printed under the summary.
    pub fn operator_table(&self) -> String {
        let mut out = format!(
            "{:<44}{:>8}{:>10}{:>10}{:>9}\n",
            "operators", "signed", "included", "rewarded", "slashed"
        );
        let mut total = OperatorTally::default();
        for (op, t) in &self.operators {
            out += &format!(
                "  {:<42}{:>8}{:>10}{:>10}{:>9}\n",
                op.to_string(),
                t.signed,
                t.included,
                t.rewarded,
                t.slashed
            );
            total.signed += t.signed;
            total.included += t.included;
            total.rewarded += t.rewarded;
            total.slashed += t.slashed;
        }
        out += &format!(
            "  {:<42}{:>8}{:>10}{:>10}{:>9}\n",
            "all", total.signed, total.included, total.rewarded, total.slashed
        );
        out
    }
}

/// One task as the display follows it.
#[derive(Default)]
struct TaskView {
    created_at: Option<Instant>,
    responses: usize,
    operators: usize,
    done: bool,
    settled: bool,
    /// Lines about the task that arrived before the generator saw its receipt (operators
    /// can be faster than the generator's receipt poll); printed right after "created".
    early: Vec<String>,
}

/// Print a line about `task`, or hold it until the task's "created" line is out.
fn say(views: &mut BTreeMap<TaskId, TaskView>, task: TaskId, line: String) {
    let v = views.entry(task).or_default();
    if v.created_at.is_some() {
        println!("{line}");
    } else {
        v.early.push(line);
    }
}

/// Run a devnet until `opts.tasks` tasks are created, accepted and settled (or `shutdown`
/// resolves).
pub async fn run(
    opts: DevnetOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<DevnetReport, DevnetError> {
    run_with(SumAvs::default(), opts, shutdown).await
}

/// [`run`] for any AVS: `app`'s contract is deployed, and its logic runs in every role.
pub async fn run_with<A: AvsApp>(
    app: A,
    opts: DevnetOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<DevnetReport, DevnetError> {
    if opts.operators == 0 {
        return Err(DevnetError::Invalid(
            "--operators must be at least 1".into(),
        ));
    }
    if opts.wrong_operators > opts.operators {
        return Err(DevnetError::Invalid(
            "--wrong-operators exceeds --operators".into(),
        ));
    }
    let flow: Flow = opts.flow.into();
    if opts.profile == Profile::Imua && flow != Flow::TwoPhase {
        return Err(DevnetError::Invalid(
            "--profile imua runs the two-phase flow only (Imua's EVM has no EIP-2537): add \
             --flow two-phase"
                .into(),
        ));
    }
    let accounts = u32::try_from(opts.operators + 2)
        .map_err(|_| DevnetError::Invalid("too many operators".into()))?;
    let anvil_opts = AnvilOptions {
        accounts: Some(accounts.max(10)),
        binary: opts.anvil.clone(),
        ..AnvilOptions::default()
    };
    eprintln!("starting Anvil…");
    // Blocking for the second Anvil takes to start is fine here: nothing else runs yet.
    let anvil = Anvil::start(anvil_opts)?;
    let url = anvil.url();
    println!(
        "Anvil RPC {url}  (chain id {}; try `cast block-number --rpc-url {url}`)",
        anvil.chain_id()
    );

    let cfg = TxConfig {
        poll_interval: Duration::from_millis(50),
        ..TxConfig::default()
    };
    let signer = |i: usize| {
        anvil
            .signer(i)
            .ok_or_else(|| DevnetError::Invalid(format!("anvil has no dev account {i}")))
    };
    let admin = Client::http(&url, signer(0)?, cfg.clone()).await?;
    // Every role's client shares the admin's reader, so its RPC counters cover the whole run.
    let metrics = Metrics::new("devnet");
    metrics.watch_rpc(admin.stats());
    if let Some(addr) = opts.metrics {
        let listener = metrics::bind(addr)
            .await
            .map_err(|e| DevnetError::Metrics(addr, e))?;
        let local = listener
            .local_addr()
            .map_err(|e| DevnetError::Metrics(addr, e))?;
        let health = Health::new(
            admin.reader().progress().clone(),
            HealthConfig {
                poll_interval: DEVNET_POLL,
                max_lag: health::DEFAULT_MAX_LAG,
                expects_cursor: true,
            },
        );
        tokio::spawn(health.clone().probe(admin.reader().clone()));
        tokio::spawn(metrics::serve(listener, metrics.clone(), health));
        println!("metrics on http://{local}/metrics (and /health, /ready)");
    }
    // One-second epochs in both flows, so a task's windows pass, and the challenger settles it,
    // within seconds.
    let avs_setup = AvsSetup {
        name: app.avs_name(),
        epoch_identifier: setup::EPOCH_DEVNET_1S.into(),
        service_code: Some(app.service_contract()),
        profile: opts.profile,
        ..AvsSetup::for_flow(flow)
    };
    let dep = setup::deploy_avs(&admin, &avs_setup).await?;
    println!(
        "AVS contract {} (precompile emulation at 0x0000000000000000000000000000000000000901, {} profile), flow {:?}",
        dep.avs.address, opts.profile, flow
    );

    for line in app.read_back_hint(dep.avs.address, &url) {
        println!("{line}");
    }
    let mut operators = Vec::new();
    for i in 0..opts.operators {
        let client = Client::from_reader(admin.reader().clone(), signer(i + 1)?);
        let mut ikm = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut ikm);
        let key =
            SecretKey::from_ikm(&ikm).map_err(|e| DevnetError::Invalid(format!("bls key: {e}")))?;
        setup::register_operator(&dep, &client, &key, 100).await?;
        println!(
            "operator {} registered: stake 100, BLS key {}",
            client.address(),
            hex::encode(key.public_key().to_bytes())
        );
        operators.push((client, key));
    }
    let challenger = Client::from_reader(admin.reader().clone(), signer(opts.operators + 1)?);
    // Provisioning ran on automine; the windows need time to pass without transactions (the
    // challenger settles a task once they have), so from now on a block comes every second.
    let _: serde_json::Value = admin.raw("evm_setIntervalMining", (1u64,)).await?;

    let (tx, mut rx) = mpsc::unbounded_channel::<NodeEvent>();
    let sink = EventSink::new(tx);
    let mut tasks = Roles::default();
    let watch = ChainWatch {
        start_block: dep.start_block,
        poll_interval: DEVNET_POLL,
        ..ChainWatch::default()
    };
    spawn_roles(
        &app, &mut tasks, &opts, flow, &dep, operators, challenger, watch, sink,
    )
    .await?;

    tokio::pin!(shutdown);
    let report = follow(
        &app,
        &opts,
        flow,
        &dep,
        &url,
        &mut rx,
        &mut tasks,
        &metrics,
        &mut shutdown,
    )
    .await;
    tasks.abort_all();
    // However the run ends (done, Ctrl-C, timeout, a role failing): what happened, in numbers.
    println!();
    print!("{}", metrics.summary());
    if let Ok(r) = &report {
        print!("{}", r.operator_table());
        // Only after a run that ended by finishing its tasks: a Ctrl-C already spent `shutdown`.
        if opts.hold && opts.tasks.is_some_and(|n| r.settled >= n) {
            println!(
                "holding Anvil at {url} (AVS contract {}) until Ctrl-C",
                dep.avs.address
            );
            shutdown.await;
        }
    }
    drop(anvil);
    report
}

/// The running roles: their tasks, and a channel on which each reports why it stopped.
struct Roles {
    handles: Vec<tokio::task::JoinHandle<()>>,
    exit_tx: mpsc::UnboundedSender<(String, Result<(), NodeError>)>,
    exit_rx: mpsc::UnboundedReceiver<(String, Result<(), NodeError>)>,
}

impl Default for Roles {
    fn default() -> Self {
        let (exit_tx, exit_rx) = mpsc::unbounded_channel();
        Roles {
            handles: Vec::new(),
            exit_tx,
            exit_rx,
        }
    }
}

impl Roles {
    fn spawn(
        &mut self,
        role: String,
        fut: impl Future<Output = Result<(), NodeError>> + Send + 'static,
    ) {
        let tx = self.exit_tx.clone();
        self.handles.push(tokio::spawn(async move {
            let r = fut.await;
            let _ = tx.send((role, r));
        }));
    }

    fn abort_all(&mut self) {
        for h in self.handles.drain(..) {
            h.abort();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn spawn_roles<A: AvsApp>(
    app: &A,
    tasks: &mut Roles,
    opts: &DevnetOptions,
    flow: Flow,
    dep: &Deployment,
    operators: Vec<(Client, SecretKey)>,
    challenger: Client,
    watch: ChainWatch,
    sink: EventSink,
) -> Result<(), DevnetError> {
    let node_err = |role: &str| {
        let role = role.to_owned();
        move |source| DevnetError::Node { role, source }
    };
    let mut aggregator_addr = None;
    if flow == Flow::Aggregated {
        let cfg = AggregatorNodeConfig {
            watch: watch.clone(),
            ..AggregatorNodeConfig::default()
        };
        let node = AggregatorNode::with_avs(
            app.clone(),
            dep.admin.clone(),
            dep.avs,
            Arc::new(MemoryStore::default()),
            cfg,
            sink.clone(),
        )
        .await
        .map_err(node_err("aggregator"))?;
        aggregator_addr = Some(node.local_addr());
        tasks.spawn("aggregator".to_owned(), node.run());
    }
    let n = operators.len();
    for (i, (client, key)) in operators.into_iter().enumerate() {
        let wrong = i >= n - opts.wrong_operators;
        let hook: Option<ResponseHook> = if wrong {
            let copy = SecretKey::from_bytes(&key.to_bytes()[..])
                .map_err(|e| DevnetError::Invalid(format!("bls key: {e}")))?;
            Some(wrong_response_hook(app.clone(), copy))
        } else {
            None
        };
        let cfg = OperatorConfig {
            flow,
            aggregator: aggregator_addr,
            watch: watch.clone(),
            hook,
            ..OperatorConfig::default()
        };
        let role = format!("operator {}", client.address());
        let rng = crate::node::operator::os_seeded_rng().map_err(node_err(&role))?;
        let node = OperatorNode::with_avs(
            app.clone(),
            rng,
            client,
            dep.avs,
            key,
            Arc::new(MemoryStore::default()),
            cfg,
            sink.clone(),
        )
        .await
        .map_err(node_err(&role))?;
        tasks.spawn(role, node.run());
    }
    // In 1 s epochs: the aggregated flow's answer lands within a block or two of the task, so
    // 5 s leave room for the linger window and a retry; the challenger settles after them.
    let (response_period, statistical_period) = match flow {
        Flow::Aggregated => (5, 0),
        Flow::TwoPhase => (3, 3),
    };
    let gen_cfg = GeneratorNodeConfig {
        interval: opts.interval,
        threshold: opts.threshold,
        response_period,
        challenge_period: 0,
        statistical_period,
        // With --tasks N, exactly N tasks: the run ends once all are settled.
        max_tasks: opts.tasks,
        ..GeneratorNodeConfig::default()
    };
    let gen_node = GeneratorNode::with_avs(
        app.clone(),
        dep.admin.clone(),
        dep.avs,
        Arc::new(MemoryStore::default()),
        gen_cfg,
        sink.clone(),
    )
    .map_err(node_err("generator"))?;
    tasks.spawn("generator".to_owned(), gen_node.run());
    {
        let cfg = ChallengerNodeConfig {
            watch,
            flow: Some(flow),
        };
        let node = ChallengerNode::with_avs(
            app.clone(),
            challenger,
            dep.avs,
            Arc::new(MemoryStore::default()),
            cfg,
            sink,
        )
        .await
        .map_err(node_err("challenger"))?;
        tasks.spawn("challenger".to_owned(), node.run());
    }
    Ok(())
}

/// An operator that signs the AVS's provably wrong variant of its answer
/// ([`AvsApp::wrong_response`]; for the sum, `a + b + 1`): the aggregator must reject it and
/// prove it wrong on chain.
fn wrong_response_hook<A: AvsApp>(app: A, key: SecretKey) -> ResponseHook {
    Arc::new(move |r: &mut crate::protocol::Response| {
        let Some(wrong) = app
            .decode_response(&r.response)
            .ok()
            .and_then(|honest| app.wrong_response(&honest))
        else {
            return;
        };
        r.response = app.encode_response(&wrong);
        let digest = r.digest();
        r.signature = key.sign(&digest).to_uncompressed().to_vec();
    })
}

/// Print each task's life and count accepted tasks (each checked by reading the contract).
#[allow(clippy::too_many_arguments)]
async fn follow<A: AvsApp>(
    app: &A,
    opts: &DevnetOptions,
    flow: Flow,
    dep: &Deployment,
    url: &str,
    rx: &mut mpsc::UnboundedReceiver<NodeEvent>,
    tasks: &mut Roles,
    metrics: &Metrics,
    shutdown: impl Future<Output = ()>,
) -> Result<DevnetReport, DevnetError> {
    let mut report = DevnetReport {
        rpc_url: url.to_owned(),
        avs: dep.avs.address,
        ..DevnetReport::default()
    };
    let mut signed: std::collections::HashSet<(TaskId, Address)> = Default::default();
    let mut views: BTreeMap<TaskId, TaskView> = BTreeMap::new();
    let mut phases: HashMap<(TaskId, u8), usize> = HashMap::new();
    let deadline = tokio::time::sleep(opts.timeout);
    tokio::pin!(deadline);
    tokio::pin!(shutdown);
    let reader = dep.admin.reader().clone();
    loop {
        let ev = tokio::select! {
            _ = &mut shutdown => {
                println!("stopping (Ctrl-C); {} task(s) accepted", report.accepted);
                return Ok(report);
            }
            _ = &mut deadline => return Err(DevnetError::Timeout(opts.timeout, report.accepted)),
            Some((role, result)) = tasks.exit_rx.recv() => {
                // With --tasks N the generator stops once it created N; the rest go on.
                if role == "generator" && result.is_ok() && opts.tasks.is_some() {
                    continue;
                }
                return Err(match result {
                    Err(source) => DevnetError::Node { role, source },
                    Ok(()) => DevnetError::Invalid(format!("{role} stopped")),
                });
            }
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => return Ok(report),
            },
        };
        metrics.observe(&ev);
        match ev {
            NodeEvent::TaskCreated {
                task,
                payload,
                block,
                gas,
            } => {
                let v = views.entry(task).or_default();
                v.created_at = Some(Instant::now());
                v.operators = opts.operators;
                let shown = crate::avs::show_payload_bytes(app, &payload);
                println!("task {task}: created  {shown}  (block {block}, gas {gas})");
                for line in std::mem::take(&mut v.early) {
                    println!("{line}");
                }
            }
            NodeEvent::Progress {
                task,
                responses,
                operators,
            } => {
                let v = views.entry(task).or_default();
                v.responses = responses;
                if operators > 0 {
                    v.operators = operators;
                }
                let line = format!("task {task}: {responses}/{} responses", v.operators);
                say(&mut views, task, line);
            }
            NodeEvent::ResponseRejected {
                task,
                operator,
                reason,
            } => {
                if reason == RejectReason::TaskClosed {
                    let line = format!(
                        "task {task}: late response from {operator} (aggregate already submitted)"
                    );
                    say(&mut views, task, line);
                } else if reason == RejectReason::UnknownTask {
                    let line = format!(
                        "task {task}: early response from {operator} (the aggregator has not read the task yet; it will be sent again)"
                    );
                    say(&mut views, task, line);
                } else {
                    let line = format!(
                        "task {task}: rejected response from {operator}: {} ({reason})",
                        reason.slug()
                    );
                    say(&mut views, task, line);
                }
            }
            NodeEvent::ResponseSent { task, operator, .. } if signed.insert((task, operator)) => {
                report.operators.entry(operator).or_default().signed += 1;
            }
            NodeEvent::AggregateSubmitted {
                task,
                signers,
                non_signers,
                included,
                tx,
                gas,
            } => {
                for op in included {
                    report.operators.entry(op).or_default().included += 1;
                }
                println!(
                    "task {task}: submitted aggregate of {signers} signatures ({non_signers} non-signers), gas {gas}, tx {tx}"
                );
            }
            NodeEvent::SubmitFailed { task, error } => {
                println!("task {task}: submission failed: {error}")
            }
            NodeEvent::TaskExpired { task, reason } => println!("task {task}: expired: {reason}"),
            NodeEvent::PhaseSubmitted { task, phase, .. } => {
                let n = phases.entry((task, phase)).or_default();
                *n += 1;
                let what = if phase == 1 { "prepared" } else { "committed" };
                let line = format!("task {task}: {n}/{} operators {what}", opts.operators);
                say(&mut views, task, line);
            }
            NodeEvent::TaskAccepted {
                task,
                block,
                response,
            } if flow == Flow::Aggregated => {
                let state = dep.avs.task(&reader, task).await?;
                let v = views.entry(task).or_default();
                if v.done {
                    continue;
                }
                if !state.responded {
                    println!(
                        "task {task}: event seen but the contract says not responded (reorg?)"
                    );
                    continue;
                }
                v.done = true;
                report.accepted += 1;
                let latency = v
                    .created_at
                    .map(|t| format!("{:.2}s", t.elapsed().as_secs_f64()))
                    .unwrap_or_default();
                let shown = crate::avs::show_response_bytes(app, &response);
                println!(
                    "task {task}: accepted in block {block}: taskState({task}).responded = true, response {shown} ({latency} after creation)"
                );
            }
            NodeEvent::Settled {
                task,
                rewarded,
                slashed,
                gas,
            } => {
                let state = dep.avs.task(&reader, task).await?;
                let v = views.entry(task).or_default();
                if v.settled || !state.settled {
                    continue;
                }
                v.settled = true;
                report.settled += 1;
                for op in &rewarded {
                    report.operators.entry(*op).or_default().rewarded += 1;
                }
                for op in &slashed {
                    report.operators.entry(*op).or_default().slashed += 1;
                }
                println!(
                    "task {task}: settled: {} rewarded, {} slashed, gas {gas}; taskState({task}).settled = true",
                    rewarded.len(),
                    slashed.len()
                );
                if flow == Flow::TwoPhase {
                    report.accepted += 1;
                }
            }
            _ => {}
        }
        if let Some(want) = opts.tasks
            && report.settled >= want
        {
            let then = if opts.hold { "stays up" } else { "stops now" };
            println!(
                "{want} task(s) settled on chain, {} accepted; done. (Anvil at {url} {then}.)",
                report.accepted
            );
            return Ok(report);
        }
    }
}
