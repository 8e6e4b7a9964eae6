//! The operator driver: task events from the chain cursor and epoch ticks go into
//! [`protocol::operator::Operator`]; its actions become store appends, frames to the
//! aggregator (aggregated flow) or `operatorSubmitTask` transactions (two-phase flow).

use super::NodeError;
use super::common::{ChainWatch, DriverStart, EpochClock, EventSink, NodeEvent};
use crate::avs::{Avs as AvsLogic, SumAvs};
use crate::chain::avs::Avs;
use crate::chain::{Client, EventCursor};
use crate::crypto::bls::SecretKey;
use crate::net;
#[cfg(feature = "planted-bugs")]
use crate::protocol::operator::OperatorBugs;
use crate::protocol::operator::{Operator, OperatorAction, OperatorInput, Phase};
use crate::protocol::{Epoch, Flow, RejectReason, Response, TaskId};
use crate::store::Store;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Lets a test or the simulator alter a response before it is framed (byzantine operators).
pub type ResponseHook = Arc<dyn Fn(&mut Response) + Send + Sync>;

#[derive(Clone)]
pub struct OperatorConfig {
    pub flow: Flow,
    /// The aggregator (aggregated flow).
    pub aggregator: Option<SocketAddr>,
    /// Per attempt to deliver a response.
    pub send_timeout: Duration,
    pub watch: ChainWatch,
    pub hook: Option<ResponseHook>,
    /// Attempts per two-phase transaction before the operator gives up on that phase.
    pub tx_attempts: u32,
    /// Planted bugs (the simulator's `planted-bugs` feature only).
    #[cfg(feature = "planted-bugs")]
    pub bugs: OperatorBugs,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            flow: Flow::Aggregated,
            aggregator: None,
            send_timeout: Duration::from_secs(5),
            watch: ChainWatch::default(),
            hook: None,
            tx_attempts: 3,
            #[cfg(feature = "planted-bugs")]
            bugs: OperatorBugs::default(),
        }
    }
}

impl std::fmt::Debug for OperatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorConfig")
            .field("flow", &self.flow)
            .field("aggregator", &self.aggregator)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// A response not yet acknowledged by the aggregator; retried until its task's window closes.
struct Outgoing {
    response: Response,
    deadline: Epoch,
}

/// The operator of one AVS, whose logic (`A`) computes the answers; [`OperatorNode::new`] runs
/// the sum AVS, [`OperatorNode::with_avs`] any other.
pub struct OperatorNode<A: AvsLogic = SumAvs> {
    chain: Client,
    avs: Avs,
    clock: EpochClock,
    cursor: EventCursor,
    machine: Operator<A>,
    store: Arc<dyn Store>,
    cfg: OperatorConfig,
    events: EventSink,
    outgoing: Vec<Outgoing>,
    deadlines: HashMap<TaskId, Epoch>,
    /// The resume point last written as `Record::Cursor` (or loaded from the journal).
    cursor_persisted: Option<u64>,
}

impl OperatorNode<SumAvs> {
    /// The sum AVS's operator (see [`OperatorNode::with_avs`]).
    pub async fn new(
        chain: Client,
        avs: Avs,
        key: SecretKey,
        store: Arc<dyn Store>,
        cfg: OperatorConfig,
        events: EventSink,
    ) -> Result<OperatorNode<SumAvs>, NodeError> {
        let rng = os_seeded_rng()?;
        OperatorNode::with_avs(SumAvs::default(), rng, chain, avs, key, store, cfg, events).await
    }
}

/// An RNG seeded from the OS, for an AVS's compute context in production (the simulator passes
/// a seeded one instead).
pub fn os_seeded_rng() -> Result<Box<dyn rand::RngCore + Send + Sync>, NodeError> {
    use rand::SeedableRng;
    let rng = rand::rngs::StdRng::from_rng(rand::rngs::OsRng)
        .map_err(|e| NodeError::Io(format!("rng: {e}")))?;
    Ok(Box::new(rng))
}

impl<A: AvsLogic> OperatorNode<A> {
    /// Restore the operator's signing ledger from `store` and start watching from
    /// `cfg.watch.start_block` (tasks seen again are answered from the ledger). `logic` computes
    /// the answers, with `rng` as its compute context's source of randomness.
    #[allow(clippy::too_many_arguments)]
    pub async fn with_avs(
        logic: A,
        rng: Box<dyn rand::RngCore + Send + Sync>,
        chain: Client,
        avs: Avs,
        key: SecretKey,
        store: Arc<dyn Store>,
        cfg: OperatorConfig,
        events: EventSink,
    ) -> Result<OperatorNode<A>, NodeError> {
        if cfg.flow == Flow::Aggregated && cfg.aggregator.is_none() {
            return Err(NodeError::Config(
                "the aggregated flow needs the aggregator's address".into(),
            ));
        }
        let DriverStart {
            records,
            clock,
            cursor,
        } = DriverStart::load(&chain, &avs, &*store, &cfg.watch, avs.task_created_filter()).await?;
        #[cfg_attr(not(feature = "planted-bugs"), allow(unused_mut))]
        let mut machine =
            Operator::restore_with(logic, rng, chain.address(), key, cfg.flow, records.iter());
        #[cfg(feature = "planted-bugs")]
        machine.set_bugs(cfg.bugs);
        let cursor_persisted = cursor.next_block().checked_sub(1);
        Ok(OperatorNode {
            chain,
            avs,
            clock,
            cursor,
            machine,
            store,
            cfg,
            events,
            outgoing: Vec::new(),
            deadlines: HashMap::new(),
            cursor_persisted,
        })
    }

    pub fn address(&self) -> alloy::primitives::Address {
        self.chain.address()
    }

    /// The next block the chain watch reads (after a restart: the block after the journal's
    /// cursor, or the start block).
    pub fn next_block(&self) -> u64 {
        self.cursor.next_block()
    }

    /// Run until the task is dropped. Chain and network errors are logged and retried; a store
    /// error ends the node (it must not sign what it cannot record).
    pub async fn run(mut self) -> Result<(), NodeError> {
        loop {
            match self.step().await {
                Ok(()) => {}
                Err(NodeError::Chain(e)) => {
                    tracing::warn!(operator = %self.address(), "chain: {e}")
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(self.cfg.watch.poll_interval).await;
        }
    }

    /// One round: read new task events, tick, deliver pending responses.
    pub async fn step(&mut self) -> Result<(), NodeError> {
        let now = self.clock.now(&self.chain).await?;
        let batch = self.cursor.poll(self.chain.reader()).await?;
        for log in &batch.logs {
            if let Some(task) = self.avs.decode_task_created(log) {
                tracing::debug!(task = task.id, operator = %self.address(), "task seen");
                self.deadlines.insert(task.id, task.response_deadline());
                let actions = self.machine.handle(now, OperatorInput::TaskSeen(task));
                self.execute(now, actions).await?;
            }
        }
        // Submissions above may have taken blocks: decide commits on a fresh epoch.
        let now = if batch.logs.is_empty() {
            now
        } else {
            self.clock.now(&self.chain).await?
        };
        let actions = self.machine.handle(now, OperatorInput::Tick);
        self.execute(now, actions).await?;
        self.deliver(now).await;
        self.deadlines.retain(|_, &mut deadline| now <= deadline);
        if let Some(through) = batch.through {
            self.persist_cursor(through).await?;
        }
        Ok(())
    }

    /// Writes the machine's resume point once it has moved `persist_cursor_every` blocks, so a
    /// restart neither rescans from the start block nor skips a task whose window is open.
    async fn persist_cursor(&mut self, through: u64) -> Result<(), NodeError> {
        let Some(block) = self.machine.resume_after(through) else {
            return Ok(());
        };
        let every = self.cfg.watch.persist_cursor_every.max(1);
        if self
            .cursor_persisted
            .is_some_and(|last| block < last.saturating_add(every))
        {
            return Ok(());
        }
        let hash = match self.cursor.last_read() {
            Some((n, h)) if n == block => h,
            _ => match self.chain.block_hash(block).await? {
                Some((h, _)) => h,
                None => return Ok(()),
            },
        };
        self.store
            .append(&crate::protocol::Record::Cursor { block, hash })?;
        self.cursor_persisted = Some(block);
        tracing::debug!(operator = %self.address(), block, "cursor persisted");
        Ok(())
    }

    async fn execute(&mut self, now: Epoch, actions: Vec<OperatorAction>) -> Result<(), NodeError> {
        let mut queue: std::collections::VecDeque<OperatorAction> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                OperatorAction::Persist(record) => self.store.append(&record)?,
                OperatorAction::SendResponse(mut response) => {
                    if let Some(hook) = &self.cfg.hook {
                        hook(&mut response);
                    }
                    let deadline = self
                        .deadlines
                        .get(&response.task_id)
                        .copied()
                        .unwrap_or(now);
                    self.outgoing
                        .retain(|o| o.response.task_id != response.task_id);
                    self.outgoing.push(Outgoing { response, deadline });
                }
                OperatorAction::SubmitPrepare { task_id, signature } => {
                    if self
                        .submit(
                            task_id,
                            Vec::new(),
                            self.avs.profile.encode_signature(&signature),
                            Phase::Prepare,
                        )
                        .await
                    {
                        queue.extend(self.machine.handle(
                            now,
                            OperatorInput::Confirmed {
                                task_id,
                                phase: Phase::Prepare,
                            },
                        ));
                    }
                }
                OperatorAction::SubmitCommit {
                    task_id,
                    response_bytes,
                    signature,
                    ..
                } => {
                    if self
                        .submit(
                            task_id,
                            response_bytes.to_vec(),
                            self.avs.profile.encode_signature(&signature),
                            Phase::Commit,
                        )
                        .await
                    {
                        queue.extend(self.machine.handle(
                            now,
                            OperatorInput::Confirmed {
                                task_id,
                                phase: Phase::Commit,
                            },
                        ));
                    }
                }
                OperatorAction::Refused { task_id, reason } => {
                    tracing::info!(task = task_id, operator = %self.address(), "not signing: {reason}");
                    self.events.emit(NodeEvent::Refused {
                        task: task_id,
                        operator: self.address(),
                        reason,
                    });
                }
            }
        }
        Ok(())
    }

    /// A two-phase transaction, retried a few times. Returns whether it landed.
    async fn submit(&self, task_id: TaskId, response: Vec<u8>, sig: Vec<u8>, phase: Phase) -> bool {
        let phase_no = phase as u8;
        for attempt in 1..=self.cfg.tx_attempts.max(1) {
            match self
                .avs
                .operator_submit(
                    &self.chain,
                    task_id,
                    response.clone(),
                    sig.clone(),
                    phase_no,
                )
                .await
            {
                Ok(out) => {
                    tracing::info!(task = task_id, operator = %self.address(), phase = phase_no, gas = out.gas_used, "submitted");
                    self.events.emit(NodeEvent::PhaseSubmitted {
                        task: task_id,
                        operator: self.address(),
                        phase: phase_no,
                        gas: out.gas_used,
                    });
                    return true;
                }
                Err(e) if e.is_transient() && attempt < self.cfg.tx_attempts => {
                    tracing::debug!(task = task_id, "retrying phase {phase_no}: {e}");
                    tokio::time::sleep(self.cfg.watch.poll_interval).await;
                }
                Err(e) => {
                    tracing::warn!(task = task_id, operator = %self.address(), phase = phase_no, "operatorSubmitTask failed: {e}");
                    return false;
                }
            }
        }
        false
    }

    /// Try to hand every pending response to the aggregator once.
    async fn deliver(&mut self, now: Epoch) {
        let Some(addr) = self.cfg.aggregator else {
            return;
        };
        let mut keep = Vec::new();
        for o in std::mem::take(&mut self.outgoing) {
            let task = o.response.task_id;
            match net::send_response(addr, &o.response, self.cfg.send_timeout).await {
                Ok(net::Reply::Rejected { code, text })
                    if RejectReason::code_asks_retry(code) && now <= o.deadline =>
                {
                    tracing::debug!(task, operator = %self.address(), "aggregator not ready ({text}); will retry");
                    keep.push(o);
                }
                Ok(reply) => {
                    tracing::debug!(task, operator = %self.address(), ?reply, "response delivered");
                    self.events.emit(NodeEvent::ResponseSent {
                        task,
                        operator: self.address(),
                        response: o.response.response.clone(),
                    });
                }
                Err(e) => {
                    self.events.emit(NodeEvent::ResponseSendFailed {
                        task,
                        operator: self.address(),
                        error: e.to_string(),
                    });
                    if now <= o.deadline {
                        tracing::debug!(task, "aggregator unreachable ({e}); will retry");
                        keep.push(o);
                    } else {
                        tracing::warn!(task, "giving up on the response: window closed ({e})");
                    }
                }
            }
        }
        self.outgoing = keep;
    }
}
