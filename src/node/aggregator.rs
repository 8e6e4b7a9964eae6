//! The aggregator driver: responses from the wire, task events and acceptances from the chain,
//! and epoch ticks go into [`protocol::aggregator::Aggregator`]; its actions become store
//! appends, replies on the wire, and `respondToTask` transactions.
//!
//! One loop owns the state machine; connections hand their responses to it over a channel and
//! wait for the verdict, so the machine never sees two inputs at once.

use super::NodeError;
use super::common::{ChainWatch, DriverStart, EpochClock, EventSink, NodeEvent, reject_text};
use crate::chain::avs::Avs;
use crate::chain::{Client, EventCursor};
use crate::net;
use crate::protocol::aggregator::{
    Aggregator, AggregatorAction, AggregatorConfig, AggregatorInput, Submission,
};
use crate::protocol::{Epoch, RejectReason, Response, TaskId};
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Clone, Debug)]
pub struct AggregatorNodeConfig {
    pub listen: SocketAddr,
    pub watch: ChainWatch,
    pub machine: AggregatorConfig,
    /// Responses waiting for the loop; beyond this, connections wait (backpressure).
    pub queue: usize,
}

impl Default for AggregatorNodeConfig {
    fn default() -> Self {
        AggregatorNodeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            watch: ChainWatch::default(),
            machine: AggregatorConfig::default(),
            queue: 1024,
        }
    }
}

pub use net::Incoming;

pub struct AggregatorNode {
    chain: Client,
    avs: Avs,
    clock: EpochClock,
    cursor: EventCursor,
    machine: Aggregator,
    store: Arc<dyn Store>,
    cfg: AggregatorNodeConfig,
    events: EventSink,
    rx: mpsc::Receiver<Incoming>,
    local_addr: SocketAddr,
    /// Operators per task (for "k/N" progress) and responses accepted so far.
    sizes: HashMap<TaskId, usize>,
    accepted: HashMap<TaskId, usize>,
    closed: HashSet<TaskId>,
    /// The connection acceptor; stopped with the node, so a restarted node can bind again.
    server: tokio::task::JoinHandle<()>,
    /// Submissions that failed on a transient error.
    retry_submits: Vec<Submission>,
}

impl Drop for AggregatorNode {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl AggregatorNode {
    /// Bind the listener, restore from `store`, and start serving connections. The loop
    /// itself runs in [`AggregatorNode::run`].
    pub async fn new(
        chain: Client,
        avs: Avs,
        store: Arc<dyn Store>,
        cfg: AggregatorNodeConfig,
        events: EventSink,
    ) -> Result<AggregatorNode, NodeError> {
        let DriverStart {
            records,
            clock,
            cursor,
        } = DriverStart::load(&chain, &avs, &*store, &cfg.watch, avs.all_events_filter()).await?;
        let machine = Aggregator::restore(cfg.machine.clone(), records.iter());
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| NodeError::Io(format!("bind {}: {e}", cfg.listen)))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| NodeError::Io(format!("local address: {e}")))?;
        let (tx, rx) = mpsc::channel::<Incoming>(cfg.queue.max(1));
        let server = tokio::spawn(net::serve(listener, tx));
        tracing::info!(%local_addr, "aggregator listening");
        Ok(AggregatorNode {
            chain,
            avs,
            clock,
            cursor,
            machine,
            store,
            cfg,
            events,
            rx,
            local_addr,
            sizes: HashMap::new(),
            accepted: HashMap::new(),
            closed: HashSet::new(),
            server,
            retry_submits: Vec::new(),
        })
    }

    /// Where operators connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serve until dropped. Chain errors are logged and retried; a store error ends the node.
    pub async fn run(mut self) -> Result<(), NodeError> {
        let mut next_poll = tokio::time::Instant::now();
        let mut now: Epoch = 0;
        loop {
            // `biased`: an unbiased select draws from tokio's own RNG, which the simulator
            // does not control (runs would diverge). The timer goes first, so a flood of
            // responses cannot starve the chain; it only fires when due.
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(next_poll) => {
                    match self.poll_chain().await {
                        Ok(e) => now = e,
                        Err(NodeError::Chain(e)) => tracing::warn!("chain: {e}"),
                        Err(e) => return Err(e),
                    }
                    next_poll = tokio::time::Instant::now() + self.cfg.watch.poll_interval;
                }
                incoming = self.rx.recv() => {
                    let Some((response, reply)) = incoming else {
                        return Err(NodeError::Io("the response listener stopped".into()));
                    };
                    let verdict = self.on_response(now, response).await?;
                    let _ = reply.send(verdict);
                }
            }
        }
    }

    async fn on_response(
        &mut self,
        now: Epoch,
        response: Response,
    ) -> Result<Result<(), RejectReason>, NodeError> {
        let (task, operator) = (response.task_id, response.operator);
        self.events
            .emit(NodeEvent::ResponseReceived { task, operator });
        let actions = self
            .machine
            .handle(now, AggregatorInput::Response(response));
        // The first verdict is the reply to this sender; later ones concern buffered responses.
        let verdict = actions
            .iter()
            .find_map(|a| match a {
                AggregatorAction::Accepted { .. } | AggregatorAction::Queued { .. } => Some(Ok(())),
                AggregatorAction::Rejected { reason, .. } => Some(Err(reason.clone())),
                _ => None,
            })
            .unwrap_or_else(|| Err(RejectReason::Malformed("no verdict".into())));
        self.execute(actions).await?;
        Ok(verdict)
    }

    /// Read new events, tick; returns the current epoch.
    async fn poll_chain(&mut self) -> Result<Epoch, NodeError> {
        let now = self.clock.now(&self.chain).await?;
        let batch = self.cursor.poll(self.chain.reader()).await?;
        for log in &batch.logs {
            if let Some(task) = self.avs.decode_task_created(log) {
                let snapshot = self.avs.snapshot(self.chain.reader(), task.id).await?;
                self.sizes.insert(task.id, snapshot.len());
                let actions = self
                    .machine
                    .handle(now, AggregatorInput::TaskCreated { task, snapshot });
                self.execute(actions).await?;
            } else if let Some(acc) = self.avs.decode_task_responded(log) {
                if self.closed.insert(acc.task_id) {
                    self.events.emit(NodeEvent::TaskAccepted {
                        task: acc.task_id,
                        block: acc.block.unwrap_or_default(),
                    });
                }
                let actions = self.machine.handle(
                    now,
                    AggregatorInput::ChainAccepted {
                        task_id: acc.task_id,
                    },
                );
                self.execute(actions).await?;
            }
        }
        let actions = self.machine.handle(now, AggregatorInput::Tick);
        self.execute(actions).await?;
        for sub in std::mem::take(&mut self.retry_submits) {
            self.submit(sub).await;
        }
        Ok(now)
    }

    async fn execute(&mut self, actions: Vec<AggregatorAction>) -> Result<(), NodeError> {
        for action in actions {
            match action {
                AggregatorAction::Persist(record) => self.store.append(&record)?,
                AggregatorAction::Accepted { task_id, operator } => {
                    let n = self.accepted.entry(task_id).or_default();
                    *n += 1;
                    tracing::info!(task = task_id, %operator, "response accepted");
                    self.events.emit(NodeEvent::Progress {
                        task: task_id,
                        responses: *n,
                        operators: self.sizes.get(&task_id).copied().unwrap_or_default(),
                    });
                }
                AggregatorAction::Rejected {
                    task_id,
                    operator,
                    reason,
                } => {
                    // Late answers to a finished task are routine; everything else is suspect.
                    if matches!(reason, RejectReason::TaskClosed) {
                        tracing::info!(task = task_id, %operator, reason = reason.slug(), "response rejected: {reason}");
                    } else {
                        tracing::warn!(task = task_id, %operator, reason = reason.slug(), "response rejected: {reason}");
                    }
                    self.events.emit(NodeEvent::ResponseRejected {
                        task: task_id,
                        operator,
                        reason: reject_text(&reason),
                    });
                }
                AggregatorAction::Submit(sub) => self.submit(sub).await,
                AggregatorAction::Expired { task_id, reason } => {
                    tracing::warn!(task = task_id, "task expired: {reason}");
                    self.events.emit(NodeEvent::TaskExpired {
                        task: task_id,
                        reason: reason.to_string(),
                    });
                }
                AggregatorAction::Queued { task_id, operator } => {
                    tracing::debug!(task = task_id, %operator, "response queued until the task is seen");
                }
                AggregatorAction::Done { task_id } => {
                    self.closed.insert(task_id);
                }
                AggregatorAction::WrongResult {
                    task_id,
                    operator,
                    result,
                    signature,
                } => {
                    // A valid signature over a wrong sum is slashable: hand it to the contract.
                    tracing::warn!(task = task_id, %operator, result, "operator signed a wrong sum; submitting the fraud proof");
                    if let Err(e) = self
                        .avs
                        .prove_wrong_sum(
                            &self.chain,
                            task_id,
                            operator,
                            result,
                            signature.to_eip2537().to_vec(),
                        )
                        .await
                    {
                        tracing::warn!(task = task_id, %operator, "proveWrongSum failed: {e}");
                    }
                }
                AggregatorAction::Equivocation(e) => {
                    tracing::warn!(task = e.task_id, operator = %e.operator, "operator signed two results: {} and {}", e.first.0, e.second.0);
                }
            }
        }
        Ok(())
    }

    /// Send the aggregate. A resubmission after a restart first asks the chain whether an
    /// earlier attempt already landed, so a task is accepted (and paid for) once.
    async fn submit(&mut self, sub: Submission) {
        let task_id = sub.task_id;
        if self.closed.contains(&task_id) {
            return;
        }
        if sub.resubmit {
            match self.avs.task(self.chain.reader(), task_id).await {
                Ok(t) if t.responded => {
                    tracing::info!(
                        task = task_id,
                        "already accepted on chain; not resubmitting"
                    );
                    return;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    task = task_id,
                    "cannot read the task before resubmitting: {e}"
                ),
            }
        }
        let signers = sub.signers.len();
        let non_signers = sub.non_signers.len();
        let pubkeys: Vec<u8> = sub
            .non_signer_pubkeys
            .iter()
            .flat_map(|k| k.to_eip2537())
            .collect();
        let sig = sub.aggregate_signature.to_eip2537().to_vec();
        match self
            .avs
            .respond(
                &self.chain,
                task_id,
                sub.result,
                sub.non_signers.clone(),
                pubkeys,
                sig,
            )
            .await
        {
            Ok(out) => {
                tracing::info!(task = task_id, signers, non_signers, gas = out.gas_used, tx = %out.hash, "aggregate accepted");
                self.events.emit(NodeEvent::AggregateSubmitted {
                    task: task_id,
                    signers,
                    non_signers,
                    tx: out.hash,
                    gas: out.gas_used,
                });
            }
            Err(e) if e.revert_name() == Some("AlreadyResponded") => {
                tracing::info!(task = task_id, "an earlier submission was accepted");
            }
            Err(e) if e.is_transient() => {
                // The transaction may or may not have landed: try again at the next poll,
                // checking the chain first (the contract accepts a task once anyway).
                tracing::warn!(task = task_id, "respondToTask failed, will retry: {e}");
                self.retry_submits.push(Submission {
                    resubmit: true,
                    ..sub
                });
            }
            Err(e) => {
                tracing::warn!(task = task_id, "respondToTask failed: {e}");
                self.events.emit(NodeEvent::SubmitFailed {
                    task: task_id,
                    error: e.to_string(),
                });
            }
        }
    }
}
