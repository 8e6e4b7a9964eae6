//! The protocol under test: `exoavs`'s own setup (`devnet::setup`), node drivers
//! (`node::operator`, `node::aggregator`) and stores, adapted to the world's [`Roles`].
//! Byzantine operators are the honest driver with a response hook; silent ones never start.

use crate::judge::{Judge, SimAvs};
use crate::observer::ChainView;
use crate::scenario::{Behaviour, Flow as ScenarioFlow};
use crate::trace::EventKind;
use crate::world::{LocalFuture, NodeCtx, Reporter, Role, Roles, SetupCtx};
use alloy::primitives::Address;
use exoavs::avs::SumAvs;
use exoavs::avs::response_digest;
use exoavs::chain::avs::Avs;
use exoavs::chain::{Client, CursorConfig, TxConfig};
use exoavs::crypto::bls::SecretKey;
use exoavs::devnet::setup::{AvsSetup, deploy_avs, register_operator};
use exoavs::node::aggregator::{AggregatorNode, AggregatorNodeConfig};
use exoavs::node::challenger::{ChallengerNode, ChallengerNodeConfig};
use exoavs::node::generator::{GeneratorNode, GeneratorNodeConfig};
use exoavs::node::operator::{OperatorConfig, OperatorNode, ResponseHook};
use exoavs::node::{ChainWatch, EventSink, NodeEvent};
use exoavs::protocol::aggregator::AggregatorBugs;
use exoavs::protocol::generator::{AvsPayloads, PayloadSource};
use exoavs::protocol::operator::OperatorBugs;
use exoavs::protocol::{Flow, Response};
use exoavs::store::{MemoryStore, Store};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::scenario::EPOCH_SECONDS;

#[derive(Clone)]
pub struct Deployed {
    pub avs: Avs,
    pub start_block: u64,
    pub operators: Vec<Address>,
    pub admin: alloy::signers::local::PrivateKeySigner,
    /// The run's seed: the auditor re-derives the generator's summands from it.
    pub seed: u64,
    /// The imua profile's epoch origin (see `Deployment::epoch_origin`).
    pub epoch_origin: Option<u64>,
}

/// The operator's BLS key material, derived from the seed (the sim hands it to the node and
/// re-signs with it for byzantine behaviours).
pub use crate::scenario::operator_bls_ikm as bls_ikm;

fn flow(f: ScenarioFlow) -> Flow {
    match f {
        ScenarioFlow::Aggregated => Flow::Aggregated,
        ScenarioFlow::TwoPhase => Flow::TwoPhase,
    }
}

fn tx_config() -> TxConfig {
    TxConfig {
        poll_interval: Duration::from_millis(500),
        ..TxConfig::default()
    }
}

fn watch(start_block: u64) -> ChainWatch {
    ChainWatch {
        start_block,
        cursor: CursorConfig::default(),
        poll_interval: Duration::from_millis(500),
        // A simulated run mines a few hundred blocks: a small step makes restarts resume from
        // a persisted cursor in most runs, so the crash scenarios exercise it.
        persist_cursor_every: 8,
    }
}

/// Planted generator bugs (issue 16), switched at the sim's generator role, never by a
/// production config: each breaks one thing the auditor derives from the scenario alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeneratorBugs {
    /// The first task is created a second time (same summands, a new id).
    pub create_twice: bool,
    /// One planned task is never created.
    pub skip_one: bool,
    /// Tasks carry a threshold one point below the configured one.
    pub threshold_one_below: bool,
    /// Tasks carry a challenge period other than the configured one.
    pub other_period: bool,
    /// Tasks come at twice the configured rate (half the interval).
    pub double_rate: bool,
    /// Summands drawn from another seed than the run's (a source the auditor cannot re-derive).
    pub other_source: bool,
}

/// Bugs in how the world the scenario describes is built (issue 16: the auditor checks the
/// registrations and behaviours against the scenario, not against what the set-up did).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldBugs {
    /// Operator 1 registers (with a valid proof of possession) a key other than the one it signs
    /// with.
    pub other_key: bool,
    /// The last operator's stake is one more than the scenario's weight.
    pub stake_off_by_one: bool,
    /// Silent operators answer like honest ones.
    pub silent_answers: bool,
    /// Operator 0 is wired to the aggregator directly, past the frame proxy, so neither the
    /// network faults nor the auditor's wire tap see its frames.
    pub bypass_proxy: bool,
    /// The AVS contract deployed is `SlashNonSignersAvs` (contracts/src/harness): it slashes every
    /// opted-in operator that is not in the accepted aggregate, absence included (issue 12).
    pub slash_non_signers: bool,
}

// The planted "slash every non-signer" contract, bound from its exported artifact (generated
// code: argument counts follow the contract's functions).
#[allow(clippy::too_many_arguments)]
mod planted {
    alloy::sol!(
        #[allow(missing_docs)]
        SlashNonSignersAvs,
        "../contracts/artifacts/SlashNonSignersAvs.json"
    );
}

/// The real protocol, running the AVS `app` (the sum by default, as the scenarios of `scenarios/`
/// have it). `bugs` plants the aggregator's test-only bugs, `operator_bugs` the operators'
/// (issue 4: the sim must catch each of them) and `generator_bugs` the generator's (issue 16);
/// all off by default.
#[derive(Clone, Copy, Debug)]
pub struct Exoavs<A: SimAvs = SumAvs> {
    pub app: A,
    pub bugs: AggregatorBugs,
    pub operator_bugs: OperatorBugs,
    pub generator_bugs: GeneratorBugs,
    pub world_bugs: WorldBugs,
}

impl Default for Exoavs<SumAvs> {
    fn default() -> Self {
        Exoavs::with_app(crate::judge::sum_avs())
    }
}

impl<A: SimAvs> Exoavs<A> {
    /// Any AVS's roles under the simulator, with no planted bug.
    pub fn with_app(app: A) -> Self {
        Exoavs {
            app,
            bugs: AggregatorBugs::default(),
            operator_bugs: OperatorBugs::default(),
            generator_bugs: GeneratorBugs::default(),
            world_bugs: WorldBugs::default(),
        }
    }
}

/// A payload source that repeats its first payload once (the `create_twice` planted bug).
struct RepeatFirst<S> {
    inner: S,
    first: Option<Vec<u8>>,
    repeated: bool,
}

impl<S: PayloadSource> PayloadSource for RepeatFirst<S> {
    fn next_payload(&mut self) -> Vec<u8> {
        match &self.first {
            Some(p) if !self.repeated => {
                self.repeated = true;
                p.clone()
            }
            Some(_) => self.inner.next_payload(),
            None => {
                let p = self.inner.next_payload();
                self.first = Some(p.clone());
                p
            }
        }
    }
}

impl<A: SimAvs> Roles for Exoavs<A> {
    type Deployment = Deployed;
    type Store = MemoryStore;

    fn judge(&self) -> Arc<dyn Judge> {
        Arc::new(self.app.clone())
    }

    fn repro(&self, scenario: &str, seed: u64) -> String {
        self.app.repro(scenario, seed)
    }

    fn setup(&self, ctx: SetupCtx) -> LocalFuture<Result<Deployed, String>> {
        let bugs = self.world_bugs;
        let app = self.app.clone();
        Box::pin(async move {
            let admin = Client::new(ctx.rpc(), ctx.deployer.clone(), tx_config())
                .await
                .map_err(|e| e.to_string())?;
            let mut setup = AvsSetup::for_flow(flow(ctx.scenario.flow));
            setup.name = app.avs_name();
            setup.service_code = Some(app.service_contract());
            setup.epoch_identifier = exoavs::devnet::setup::EPOCH_DEVNET_1S.into();
            setup.profile = ctx.scenario.profile;
            setup.ordinary_registry = ctx.scenario.registry == crate::scenario::Registry::Ordinary;
            if bugs.slash_non_signers {
                setup.service_code = Some((
                    "SlashNonSignersAvs".into(),
                    planted::SlashNonSignersAvs::BYTECODE.clone(),
                ));
            }
            let dep = deploy_avs(&admin, &setup)
                .await
                .map_err(|e| e.to_string())?;
            if setup.ordinary_registry == (dep.avs.registry == exoavs::chain::avs::PRECOMPILE) {
                return Err(format!(
                    "the registry is at {} where the scenario asks for registry = {:?}",
                    dep.avs.registry, ctx.scenario.registry
                ));
            }
            let mut operators = Vec::new();
            for (role, key) in &ctx.keys {
                let Role::Operator { index, behaviour } = role else {
                    continue;
                };
                operators.push(key.address());
                let op = Client::new(ctx.rpc(), key.clone(), tx_config())
                    .await
                    .map_err(|e| e.to_string())?;
                let key_seed = if bugs.other_key && *index == 1 {
                    ctx.seed ^ 0xbeef
                } else {
                    ctx.seed
                };
                let bls =
                    SecretKey::from_ikm(&bls_ikm(key_seed, *index)).map_err(|e| e.to_string())?;
                let stake = ctx.scenario.operators.weight(*index) as u128
                    + u128::from(
                        bugs.stake_off_by_one && *index + 1 == ctx.scenario.operators.count,
                    );
                let registered = if *behaviour == Behaviour::RogueKey {
                    // A rogue key comes without a valid proof of possession: registering it
                    // must fail, and the operator then signs with a key the chain does not know.
                    let rogue = SecretKey::from_ikm(&bls_ikm(ctx.seed ^ 0xdead, *index))
                        .map_err(|e| e.to_string())?;
                    let pop =
                        exoavs::crypto::bls::pop_prove(&bls, &dep.chain_id_string, key.address());
                    use exoavs::chain::avs::emulation;
                    let joined = async {
                        let registry = dep.avs.registry;
                        emulation::register_operator(&op, registry).await?;
                        emulation::set_stake(
                            &dep.admin,
                            registry,
                            dep.avs.address,
                            key.address(),
                            stake,
                        )
                        .await?;
                        dep.avs.opt_in(&op).await
                    }
                    .await;
                    let rogue_reg = dep
                        .avs
                        .register_bls_key(
                            &op,
                            &dep.avs.profile.encode_key(&rogue.public_key()),
                            &dep.avs.profile.encode_signature(&pop),
                        )
                        .await;
                    ctx.report.event(EventKind::Note {
                        text: format!(
                            "operator-{index} rogue key registration: {}",
                            if rogue_reg.is_ok() {
                                "ACCEPTED"
                            } else {
                                "refused"
                            }
                        ),
                    });
                    joined.map(|_| ()).map_err(|e| e.to_string())
                } else {
                    register_operator(&dep, &op, &bls, stake)
                        .await
                        .map_err(|e| e.to_string())
                };
                registered?;
            }
            Ok(Deployed {
                avs: dep.avs,
                start_block: dep.start_block,
                operators,
                admin: ctx.deployer.clone(),
                seed: ctx.seed,
                epoch_origin: dep.epoch_origin,
            })
        })
    }

    /// The challenger settles two-phase tasks, and aggregated ones where the scenario asks.
    fn has(&self, scenario: &crate::scenario::Scenario, role: &Role) -> bool {
        !matches!(role, Role::Challenger) || scenario.has_challenger()
    }

    fn new_store(&self, _role: Role) -> MemoryStore {
        MemoryStore::default()
    }

    fn chain_view(&self, d: &Deployed) -> ChainView {
        ChainView {
            service: d.avs.address,
            epoch_seconds: EPOCH_SECONDS,
            epoch_origin: d.epoch_origin,
            operators: d.operators.clone(),
            confirmations: 1,
            two_phase: false,
            stakes: Vec::new(),
            seed: Some(d.seed),
            judge: Arc::new(self.app.clone()),
        }
    }

    fn node(&self, ctx: NodeCtx<Deployed, MemoryStore>) -> LocalFuture<()> {
        let bugs = self.bugs;
        let operator_bugs = self.operator_bugs;
        let generator_bugs = self.generator_bugs;
        let silent_answers = self.world_bugs.silent_answers;
        let bypass_proxy = self.world_bugs.bypass_proxy;
        let app = self.app.clone();
        Box::pin(async move {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(forward(
                rx,
                ctx.report.clone(),
                ctx.deployment.operators.clone(),
                Arc::new(app.clone()),
            ));
            let events = EventSink::new(tx);
            let store: Arc<dyn Store> = Arc::new(ctx.store.clone());
            // Like a process under a service manager: a node whose driver gives up (a chain
            // call failed for good, say) starts again a second later from its store.
            loop {
                let result = match ctx.role {
                    Role::Generator => {
                        generator(&app, &ctx, store.clone(), events.clone(), generator_bugs).await
                    }
                    Role::Aggregator => {
                        aggregator(&app, &ctx, store.clone(), events.clone(), bugs).await
                    }
                    Role::Operator {
                        behaviour: Behaviour::Silent,
                        ..
                    } if !silent_answers => {
                        std::future::pending::<()>().await;
                        Ok(())
                    }
                    Role::Operator { index, behaviour } => {
                        operator(
                            &app,
                            &ctx,
                            index,
                            behaviour,
                            store.clone(),
                            events.clone(),
                            operator_bugs,
                            bypass_proxy && index == 0,
                        )
                        .await
                    }
                    Role::Challenger => challenger(&app, &ctx, store.clone(), events.clone()).await,
                };
                match result {
                    Ok(()) => return,
                    Err(e) => ctx.report.event(EventKind::Note {
                        text: format!("node stopped, restarting in 1 s: {e}"),
                    }),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}

/// Driver events into the trace, operators named by index.
async fn forward(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<NodeEvent>,
    report: Reporter,
    operators: Vec<Address>,
    judge: Arc<dyn Judge>,
) {
    let idx = |a: &Address| operators.iter().position(|o| o == a).unwrap_or(usize::MAX);
    while let Some(ev) = rx.recv().await {
        let kind = match ev {
            NodeEvent::ResponseSent {
                task,
                operator,
                response,
            } => EventKind::ResponseSent {
                task,
                operator: idx(&operator),
                shown: judge.show_response(&response),
                response: crate::judge::hex0x(&response),
            },
            NodeEvent::ResponseReceived { task, operator } => EventKind::ResponseReceived {
                task,
                operator: idx(&operator),
            },
            NodeEvent::ResponseRejected {
                task,
                operator,
                reason,
            } => EventKind::ResponseRejected {
                task,
                operator: idx(&operator),
                reason: reason.slug().to_string(),
            },
            NodeEvent::AggregateSubmitted {
                task,
                signers,
                non_signers,
                tx,
                gas,
                ..
            } => EventKind::AggregateSubmitted {
                task,
                signers,
                non_signers,
                tx: tx.to_string(),
                gas,
            },
            NodeEvent::TaskCreated {
                task,
                payload,
                block,
                gas,
            } => EventKind::TaskSubmitted {
                task,
                shown: judge.show_payload(&payload),
                block,
                gas,
            },
            other => EventKind::Note {
                text: format!("{other:?}"),
            },
        };
        report.event(kind);
    }
}

async fn generator<A: SimAvs>(
    app: &A,
    ctx: &NodeCtx<Deployed, MemoryStore>,
    store: Arc<dyn Store>,
    events: EventSink,
    bugs: GeneratorBugs,
) -> Result<(), String> {
    use rand::SeedableRng;
    let admin = Client::new(ctx.rpc(), ctx.deployment.admin.clone(), tx_config())
        .await
        .map_err(|e| e.to_string())?;
    let s = &ctx.scenario;
    let plan = s.task_plan();
    let mut max_tasks = s.tasks.count;
    if bugs.create_twice {
        max_tasks += 1;
    }
    if bugs.skip_one {
        max_tasks = max_tasks.saturating_sub(1);
    }
    let cfg = GeneratorNodeConfig {
        interval: Duration::from_millis(s.tasks.interval_ms >> u8::from(bugs.double_rate)),
        threshold: plan.threshold - u8::from(bugs.threshold_one_below),
        response_period: plan.response_period,
        challenge_period: plan.challenge_period + u64::from(bugs.other_period),
        statistical_period: plan.statistical_period,
        max_tasks: Some(max_tasks),
        ..GeneratorNodeConfig::default()
    };
    // Payloads from the AVS's own rule over the seed, so that a run is reproducible (the
    // auditor re-derives them: `Judge::planned_payloads`).
    let rng = AvsPayloads {
        avs: app.clone(),
        rng: rand::rngs::StdRng::seed_from_u64(ctx.seed.wrapping_add(u64::from(bugs.other_source))),
    };
    let source: Box<dyn PayloadSource> = if bugs.create_twice {
        Box::new(RepeatFirst {
            inner: rng,
            first: None,
            repeated: false,
        })
    } else {
        Box::new(rng)
    };
    let node = GeneratorNode::with_source(admin, ctx.deployment.avs, store, cfg, source, events)
        .map_err(|e| e.to_string())?;
    node.run().await.map_err(|e| e.to_string())?;
    // All tasks created: the node idles (returning would end the node).
    std::future::pending::<()>().await;
    Ok(())
}

async fn aggregator<A: SimAvs>(
    app: &A,
    ctx: &NodeCtx<Deployed, MemoryStore>,
    store: Arc<dyn Store>,
    events: EventSink,
    bugs: AggregatorBugs,
) -> Result<(), String> {
    let chain = Client::new(ctx.rpc(), ctx.chain_key.clone(), tx_config())
        .await
        .map_err(|e| e.to_string())?;
    let mut cfg = AggregatorNodeConfig {
        listen: ctx.aggregator_listen,
        watch: watch(ctx.deployment.start_block),
        ..AggregatorNodeConfig::default()
    };
    cfg.machine.bugs = bugs;
    let node = AggregatorNode::with_avs(app.clone(), chain, ctx.deployment.avs, store, cfg, events)
        .await
        .map_err(|e| e.to_string())?;
    node.run().await.map_err(|e| e.to_string())
}

async fn challenger<A: SimAvs>(
    app: &A,
    ctx: &NodeCtx<Deployed, MemoryStore>,
    store: Arc<dyn Store>,
    events: EventSink,
) -> Result<(), String> {
    let chain = Client::new(ctx.rpc(), ctx.chain_key.clone(), tx_config())
        .await
        .map_err(|e| e.to_string())?;
    let cfg = ChallengerNodeConfig {
        watch: watch(ctx.deployment.start_block),
        flow: Some(flow(ctx.scenario.flow)),
    };
    let node = ChallengerNode::with_avs(app.clone(), chain, ctx.deployment.avs, store, cfg, events)
        .await
        .map_err(|e| e.to_string())?;
    node.run().await.map_err(|e| e.to_string())
}

#[allow(clippy::too_many_arguments)]
async fn operator<A: SimAvs>(
    app: &A,
    ctx: &NodeCtx<Deployed, MemoryStore>,
    index: usize,
    behaviour: Behaviour,
    store: Arc<dyn Store>,
    events: EventSink,
    bugs: OperatorBugs,
    bypass_proxy: bool,
) -> Result<(), String> {
    let chain = Client::new(ctx.rpc(), ctx.chain_key.clone(), tx_config())
        .await
        .map_err(|e| e.to_string())?;
    let key = SecretKey::from_ikm(&bls_ikm(ctx.seed, index)).map_err(|e| e.to_string())?;
    let cfg = OperatorConfig {
        flow: flow(ctx.scenario.flow),
        aggregator: Some(if bypass_proxy {
            ctx.aggregator_listen
        } else {
            ctx.aggregator_addr
        }),
        watch: watch(ctx.deployment.start_block),
        hook: byzantine_hook(app.clone(), ctx.seed, index, behaviour)?,
        bugs,
        ..OperatorConfig::default()
    };
    // The AVS's compute context draws from the seed, per operator: a seeded feed differs per
    // operator, and a restarted operator draws the same again.
    let rng = {
        use rand::SeedableRng;
        let mixed = ctx.seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Box::new(rand::rngs::StdRng::seed_from_u64(mixed))
    };
    let node = OperatorNode::with_avs(
        app.clone(),
        rng,
        chain,
        ctx.deployment.avs,
        key,
        store,
        cfg,
        events,
    )
    .await
    .map_err(|e| e.to_string())?;
    node.run().await.map_err(|e| e.to_string())
}

/// The AVS's provably wrong variant of an honest response's bytes
/// ([`exoavs::app::AvsApp::wrong_response`]; for the sum, `a + b + 1`); the bytes unchanged when
/// the AVS has none.
fn wrong_bytes<A: SimAvs>(app: &A, honest: &[u8]) -> Vec<u8> {
    app.decode_response(honest)
        .ok()
        .and_then(|r| app.wrong_response(&r))
        .map_or_else(|| honest.to_vec(), |w| app.encode_response(&w))
}

/// The byzantine behaviours, as alterations of the honest operator's signed response.
fn byzantine_hook<A: SimAvs>(
    app: A,
    seed: u64,
    index: usize,
    behaviour: Behaviour,
) -> Result<Option<ResponseHook>, String> {
    let own = SecretKey::from_ikm(&bls_ikm(seed, index)).map_err(|e| e.to_string())?;
    let stranger =
        SecretKey::from_ikm(&bls_ikm(seed ^ 0xdead, index)).map_err(|e| e.to_string())?;
    let sign = move |k: &SecretKey, task: u64, response: &[u8]| {
        k.sign(&response_digest(task, response))
            .to_uncompressed()
            .to_vec()
    };
    let hook: ResponseHook = match behaviour {
        Behaviour::Honest | Behaviour::CrashRestart | Behaviour::Silent => return Ok(None),
        Behaviour::WrongSum => Arc::new(move |r: &mut Response| {
            r.response = wrong_bytes(&app, &r.response);
            r.signature = sign(&own, r.task_id, &r.response);
        }),
        Behaviour::InvalidSignature => {
            Arc::new(move |r: &mut Response| r.signature = sign(&stranger, r.task_id, &r.response))
        }
        Behaviour::SignsAnotherTask => Arc::new(move |r: &mut Response| {
            r.signature = sign(&own, r.task_id.wrapping_add(1), &r.response)
        }),
        Behaviour::RogueKey => {
            Arc::new(move |r: &mut Response| r.signature = sign(&stranger, r.task_id, &r.response))
        }
        Behaviour::Replay => {
            let last: Arc<Mutex<Option<Response>>> = Arc::default();
            Arc::new(move |r: &mut Response| {
                let mut l = last.lock().unwrap_or_else(|p| p.into_inner());
                let current = r.clone();
                if let Some(prev) = l.as_ref()
                    && prev.task_id != r.task_id
                {
                    *r = prev.clone();
                }
                *l = Some(current);
            })
        }
        Behaviour::Equivocate => {
            let flip: Arc<Mutex<bool>> = Arc::default();
            Arc::new(move |r: &mut Response| {
                let mut f = flip.lock().unwrap_or_else(|p| p.into_inner());
                if *f {
                    // A second, different response signed by the operator's own key.
                    r.response = wrong_bytes(&app, &r.response);
                    r.signature = sign(&own, r.task_id, &r.response);
                }
                *f = !*f;
            })
        }
    };
    Ok(Some(hook))
}
