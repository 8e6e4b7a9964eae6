//! The task generator driver: wakes when [`protocol::generator::Generator`] asks (its
//! `poll_timeout`), signs a `createNewTask` transaction for each `CreateTask`, and sends the
//! bytes the machine hands back in `Broadcast` (after it persisted them). It reports what it saw;
//! when to retry, and with which bytes, is the machine's call.

use super::NodeError;
use super::common::{EventSink, NodeEvent};
use crate::avs::{Avs as AvsLogic, SumAvs};
use crate::chain::avs::Avs;
use crate::chain::{ChainError, Client, Landing};
use crate::protocol::generator::{
    AvsPayloads, Generator, GeneratorAction, GeneratorConfig, GeneratorInput, PayloadSource,
};
use crate::store::Store;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct GeneratorNodeConfig {
    pub interval: Duration,
    pub threshold: u8,
    pub response_period: u64,
    pub challenge_period: u64,
    pub statistical_period: u64,
    /// Created but unconfirmed tasks beyond which the generator waits (chain lag).
    pub max_pending: usize,
    /// Stop after this many tasks.
    pub max_tasks: Option<u64>,
}

impl Default for GeneratorNodeConfig {
    fn default() -> Self {
        let d = GeneratorConfig::default();
        GeneratorNodeConfig {
            interval: Duration::from_millis(d.interval_ms),
            threshold: d.threshold_percentage,
            response_period: d.response_period,
            challenge_period: d.challenge_period,
            statistical_period: d.statistical_period,
            max_pending: d.max_pending,
            max_tasks: d.max_tasks,
        }
    }
}

pub struct GeneratorNode {
    chain: Client,
    avs: Avs,
    machine: Generator,
    store: Arc<dyn Store>,
    events: EventSink,
    start: tokio::time::Instant,
}

impl GeneratorNode {
    /// A generator of the sum AVS's tasks (summands up to `avs::DEFAULT_MAX_ADDEND`, drawn from
    /// the OS's randomness).
    pub async fn new(
        chain: Client,
        avs: Avs,
        store: Arc<dyn Store>,
        cfg: GeneratorNodeConfig,
        events: EventSink,
    ) -> Result<GeneratorNode, NodeError> {
        GeneratorNode::with_avs(SumAvs::default(), chain, avs, store, cfg, events)
    }

    /// A generator of `logic`'s tasks ([`AvsLogic::next_payload`]), drawn with an RNG seeded
    /// from the OS.
    pub fn with_avs<A: AvsLogic>(
        logic: A,
        chain: Client,
        avs: Avs,
        store: Arc<dyn Store>,
        cfg: GeneratorNodeConfig,
        events: EventSink,
    ) -> Result<GeneratorNode, NodeError> {
        let source = AvsPayloads {
            avs: logic,
            rng: super::operator::os_seeded_rng()?,
        };
        GeneratorNode::with_source(chain, avs, store, cfg, Box::new(source), events)
    }

    /// A generator with the caller's payloads (the simulator passes a seeded source).
    pub fn with_source(
        chain: Client,
        avs: Avs,
        store: Arc<dyn Store>,
        cfg: GeneratorNodeConfig,
        source: Box<dyn PayloadSource>,
        events: EventSink,
    ) -> Result<GeneratorNode, NodeError> {
        let mcfg = GeneratorConfig {
            interval_ms: u64::try_from(cfg.interval.as_millis()).unwrap_or(u64::MAX),
            max_pending: cfg.max_pending,
            max_tasks: cfg.max_tasks,
            threshold_percentage: cfg.threshold,
            response_period: cfg.response_period,
            challenge_period: cfg.challenge_period,
            statistical_period: cfg.statistical_period,
            ..GeneratorConfig::default()
        };
        let records = store.load()?;
        let machine = Generator::restore(mcfg, source, records.iter());
        Ok(GeneratorNode {
            chain,
            avs,
            machine,
            store,
            events,
            start: tokio::time::Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Create tasks until `max_tasks` (forever without it).
    pub async fn run(mut self) -> Result<(), NodeError> {
        loop {
            let now = self.now_ms();
            let actions = self.machine.handle(now, GeneratorInput::Tick);
            if self.execute(actions).await? {
                return Ok(());
            }
            let wake = self.machine.poll_timeout().unwrap_or(now + 1_000);
            let wait = wake.saturating_sub(self.now_ms()).clamp(10, 1_000);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    /// Carry out actions in order; true once the generator is finished.
    async fn execute(&mut self, actions: Vec<GeneratorAction>) -> Result<bool, NodeError> {
        let mut queue: VecDeque<GeneratorAction> = actions.into();
        let mut finished = false;
        while let Some(a) = queue.pop_front() {
            match a {
                GeneratorAction::Persist(r) => self.store.append(&r)?,
                GeneratorAction::CreateTask(req) => {
                    let seq = req.seq;
                    let input = match self.avs.sign_create_task(&self.chain, &req).await {
                        Ok(raw) => GeneratorInput::Signed { seq, raw },
                        Err(e @ ChainError::Revert { .. }) => {
                            tracing::warn!(seq, "createNewTask would revert: {e}");
                            GeneratorInput::Rejected { seq }
                        }
                        Err(e) => {
                            tracing::warn!(seq, "could not sign createNewTask yet: {e}");
                            GeneratorInput::Unresolved { seq }
                        }
                    };
                    let now = self.now_ms();
                    queue.extend(self.machine.handle(now, input));
                }
                GeneratorAction::Broadcast { seq, raw } => {
                    let input = match self.chain.broadcast("createNewTask", &raw).await {
                        Ok(Landing::Mined(out)) => {
                            // A successful createNewTask without its event: the address is not
                            // our contract. Signing again would not help.
                            let task = self.avs.created_task(&out)?;
                            tracing::info!(
                                task = task.id,
                                seq,
                                payload = %hex::encode(&task.payload),
                                gas = out.gas_used,
                                "task created"
                            );
                            self.events.emit(NodeEvent::TaskCreated {
                                task: task.id,
                                payload: task.payload.clone(),
                                block: out.block,
                                gas: out.gas_used,
                            });
                            GeneratorInput::Confirmed {
                                seq,
                                task_id: task.id,
                            }
                        }
                        Ok(Landing::Reverted(out)) => {
                            tracing::warn!(seq, tx = %out.hash, block = out.block, "createNewTask reverted on chain");
                            GeneratorInput::Rejected { seq }
                        }
                        Ok(Landing::Superseded { hash, nonce }) => {
                            tracing::warn!(seq, tx = %hash, nonce, "another transaction of this key took the nonce of createNewTask");
                            GeneratorInput::Rejected { seq }
                        }
                        Err(e) => {
                            tracing::warn!(
                                seq,
                                "createNewTask not on chain yet (the same bytes go again): {e}"
                            );
                            GeneratorInput::Unresolved { seq }
                        }
                    };
                    let now = self.now_ms();
                    queue.extend(self.machine.handle(now, input));
                }
                GeneratorAction::Backpressure { pending } => {
                    tracing::warn!(pending, "chain lags: waiting before the next task");
                }
                GeneratorAction::Abandoned { seq } => {
                    tracing::warn!(seq, "task request given up: rejected on every attempt")
                }
                GeneratorAction::Finished => finished = true,
            }
        }
        Ok(finished)
    }
}
