//! The aggregator driver: responses from the wire, task events and acceptances from the chain,
//! and epoch ticks go into [`protocol::aggregator::Aggregator`]; its actions become store
//! appends, replies on the wire, and `respondToTask` transactions.
//!
//! One loop owns the state machine; connections hand their responses to it over a channel and
//! wait for the verdict, so the machine never sees two inputs at once. The loop never waits on
//! the chain: reads come from the [`feed`] task as news, writes go to the [`writer`] task as
//! jobs, and their outcomes come back as inputs. A chain that stops answering delays tasks,
//! never a verdict (the only wait on the loop's path is the journal append before a reply).

mod feed;
mod rejections;
mod writer;

use super::NodeError;
use super::common::{ChainWatch, DriverStart, EventSink, NodeEvent};
use crate::avs::{Avs as AvsLogic, SumAvs};
use crate::chain::Client;
use crate::chain::avs::Avs;
use crate::net;
use crate::protocol::aggregator::{
    Aggregator, AggregatorAction, AggregatorConfig, AggregatorInput,
};
use crate::protocol::{Epoch, RejectReason, Response, TaskId};
use crate::store::Store;
use feed::{Feed, News};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use writer::{Job, Writer, Written};

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

/// The aggregator of one AVS, whose logic (`A`) decodes responses and says which are provably
/// wrong; [`AggregatorNode::new`] runs the sum AVS, [`AggregatorNode::with_avs`] any other.
pub struct AggregatorNode<A: AvsLogic = SumAvs> {
    machine: Aggregator<A>,
    store: Arc<dyn Store>,
    events: EventSink,
    rx: mpsc::Receiver<Incoming>,
    news: mpsc::Receiver<News>,
    lookups: mpsc::Sender<TaskId>,
    jobs: mpsc::UnboundedSender<Job>,
    written: mpsc::UnboundedReceiver<Written>,
    local_addr: SocketAddr,
    /// The epoch of the last tick from the feed.
    now: Epoch,
    /// The machine's ms clock counts from here (monotonic; simulated under madsim).
    started: tokio::time::Instant,
    /// Operators per task (for "k/N" progress) and responses accepted so far.
    sizes: HashMap<TaskId, usize>,
    accepted: HashMap<TaskId, usize>,
    closed: HashSet<TaskId>,
    /// Rejections as a few lines and a summary per interval, not one line per frame.
    rejections: rejections::RejectLog,
    /// The acceptor, the feed and the writer; stopped with the node, so a restarted node can
    /// bind again and no stale task writes to the chain.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl<A: AvsLogic> Drop for AggregatorNode<A> {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl AggregatorNode<SumAvs> {
    /// The sum AVS's aggregator (see [`AggregatorNode::with_avs`]).
    pub async fn new(
        chain: Client,
        avs: Avs,
        store: Arc<dyn Store>,
        cfg: AggregatorNodeConfig,
        events: EventSink,
    ) -> Result<AggregatorNode<SumAvs>, NodeError> {
        AggregatorNode::with_avs(SumAvs::default(), chain, avs, store, cfg, events).await
    }
}

impl<A: AvsLogic> AggregatorNode<A> {
    /// Bind the listener, restore from `store`, and start serving connections, watching the
    /// chain and writing to it. The loop itself runs in [`AggregatorNode::run`].
    pub async fn with_avs(
        logic: A,
        chain: Client,
        avs: Avs,
        store: Arc<dyn Store>,
        cfg: AggregatorNodeConfig,
        events: EventSink,
    ) -> Result<AggregatorNode<A>, NodeError> {
        let DriverStart {
            records,
            clock,
            cursor,
        } = DriverStart::load(&chain, &avs, &*store, &cfg.watch, avs.all_events_filter()).await?;
        let machine = Aggregator::restore_with(logic, cfg.machine.clone(), records.iter());
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| NodeError::Io(format!("bind {}: {e}", cfg.listen)))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| NodeError::Io(format!("local address: {e}")))?;
        let (tx, rx) = mpsc::channel::<Incoming>(cfg.queue.max(1));
        // A few polls' worth: the feed waits when the loop is behind, the loop never waits.
        let (news_tx, news) = mpsc::channel::<News>(256);
        let lookup_depth = (cfg.machine.early_horizon as usize).max(1);
        let (lookups, lookups_rx) = mpsc::channel::<TaskId>(lookup_depth);
        let (jobs, jobs_rx) = mpsc::unbounded_channel::<Job>();
        let (written_tx, written) = mpsc::unbounded_channel::<Written>();
        let server = tokio::spawn(net::serve(listener, tx));
        let feed = tokio::spawn(
            Feed {
                chain: chain.clone(),
                avs,
                clock,
                cursor,
                poll_interval: cfg.watch.poll_interval,
                start_block: cfg.watch.start_block,
                confirmations: cfg.watch.cursor.confirmations,
                max_range: cfg.watch.cursor.max_range,
                lookups: lookups_rx,
                news: news_tx,
                waiting: Default::default(),
            }
            .run(),
        );
        let writer = tokio::spawn(
            Writer {
                chain,
                avs,
                jobs: jobs_rx,
                written: written_tx,
            }
            .run(),
        );
        tracing::info!(%local_addr, "aggregator listening");
        Ok(AggregatorNode {
            machine,
            store,
            events,
            rx,
            news,
            lookups,
            jobs,
            written,
            local_addr,
            now: 0,
            started: tokio::time::Instant::now(),
            sizes: HashMap::new(),
            accepted: HashMap::new(),
            closed: HashSet::new(),
            rejections: rejections::RejectLog::new(std::time::Duration::from_secs(10), 20),
            tasks: vec![server, feed, writer],
        })
    }

    /// Where operators connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Milliseconds on the machine's clock.
    fn ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Feed the machine one input at the current epoch and ms.
    fn feed(&mut self, input: AggregatorInput) -> Vec<AggregatorAction> {
        let ms = self.ms();
        self.machine.handle_at(self.now, ms, input)
    }

    /// Serve until dropped. Chain errors are the feed's and the writer's to retry; a store
    /// error ends the node.
    pub async fn run(mut self) -> Result<(), NodeError> {
        loop {
            // When a linger window ends, the machine wants a tick.
            let linger_end = self
                .machine
                .poll_timeout()
                .map(|ms| self.started + std::time::Duration::from_millis(ms));
            // `biased`: an unbiased select draws from tokio's own RNG, which the simulator
            // does not control (runs would diverge). Chain news goes first so a flood of
            // responses cannot starve it; it arrives at most once per poll.
            tokio::select! {
                biased;
                news = self.news.recv() => {
                    let Some(news) = news else {
                        return Err(NodeError::Io("the chain watch stopped".into()));
                    };
                    self.on_news(news)?;
                }
                written = self.written.recv() => {
                    let Some(written) = written else {
                        return Err(NodeError::Io("the chain writer stopped".into()));
                    };
                    self.on_written(written)?;
                }
                incoming = self.rx.recv() => {
                    let Some((response, reply)) = incoming else {
                        return Err(NodeError::Io("the response listener stopped".into()));
                    };
                    let verdict = self.on_response(response)?;
                    let _ = reply.send(verdict);
                }
                () = sleep_until(linger_end) => {
                    let actions = self.feed(AggregatorInput::Tick);
                    self.execute(actions)?;
                }
            }
        }
    }

    fn on_response(&mut self, response: Response) -> Result<Result<(), RejectReason>, NodeError> {
        let (task, operator) = (response.task_id, response.operator);
        self.events
            .emit(NodeEvent::ResponseReceived { task, operator });
        let actions = self.feed(AggregatorInput::Response(response));
        // The first verdict is the reply to this sender; later ones concern buffered responses.
        let verdict = actions
            .iter()
            .find_map(|a| match a {
                AggregatorAction::Accepted { .. } | AggregatorAction::Queued { .. } => Some(Ok(())),
                AggregatorAction::Rejected { reason, .. } => Some(Err(reason.clone())),
                _ => None,
            })
            .unwrap_or_else(|| Err(RejectReason::Malformed("no verdict".into())));
        self.execute(actions)?;
        Ok(verdict)
    }

    fn on_news(&mut self, news: News) -> Result<(), NodeError> {
        let actions = match news {
            News::Task { task, snapshot } => {
                self.sizes.insert(task.id, snapshot.len());
                self.feed(AggregatorInput::TaskCreated { task, snapshot })
            }
            News::Accepted(acc) => {
                if self.closed.insert(acc.task_id) {
                    self.events.emit(NodeEvent::TaskAccepted {
                        task: acc.task_id,
                        block: acc.block.unwrap_or_default(),
                        response: acc.response.clone(),
                    });
                }
                self.feed(AggregatorInput::ChainAccepted {
                    task_id: acc.task_id,
                })
            }
            News::Tick(now) => {
                self.now = now;
                self.log_rejection_summary(tokio::time::Instant::now());
                self.feed(AggregatorInput::Tick)
            }
        };
        self.execute(actions)
    }

    fn on_written(&mut self, written: Written) -> Result<(), NodeError> {
        match written {
            Written::Submitted {
                task_id,
                signers,
                non_signers,
                included,
                outcome,
            } => {
                tracing::info!(task = task_id, signers, non_signers, gas = outcome.gas_used, tx = %outcome.hash, "aggregate accepted");
                self.events.emit(NodeEvent::AggregateSubmitted {
                    task: task_id,
                    signers,
                    non_signers,
                    included,
                    tx: outcome.hash,
                    gas: outcome.gas_used,
                });
            }
            Written::AlreadyAccepted { task_id } => {
                tracing::info!(
                    task = task_id,
                    "an earlier submission was accepted; not resubmitting"
                );
            }
            Written::SubmitFailed { task_id, error } => {
                if error.is_retryable() {
                    tracing::warn!(
                        task = task_id,
                        "respondToTask did not land, will retry in the window: {error}"
                    );
                } else {
                    tracing::warn!(task = task_id, "respondToTask refused: {error}");
                    self.events.emit(NodeEvent::SubmitFailed {
                        task: task_id,
                        error: error.to_string(),
                    });
                }
                // Either way the machine decides: again while the window is open, then expire.
                let actions = self.feed(AggregatorInput::SubmitFailed { task_id });
                self.execute(actions)?;
            }
        }
        Ok(())
    }

    fn log_rejection_summary(&mut self, now: tokio::time::Instant) {
        if let Some(summary) = self.rejections.flush(now) {
            tracing::warn!(
                total = summary.total,
                suppressed = summary.suppressed,
                "{summary}"
            );
        }
    }

    fn execute(&mut self, actions: Vec<AggregatorAction>) -> Result<(), NodeError> {
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
                    // Late answers to a finished task and early ones are routine; everything
                    // else is suspect. Either way a flood is a few lines and a summary.
                    let now = tokio::time::Instant::now();
                    self.log_rejection_summary(now);
                    let line = self.rejections.record(now, reason.slug());
                    if line == rejections::Line::Each {
                        if matches!(reason, RejectReason::TaskClosed | RejectReason::UnknownTask) {
                            tracing::info!(task = task_id, %operator, reason = reason.slug(), "response rejected: {reason}");
                        } else {
                            tracing::warn!(task = task_id, %operator, reason = reason.slug(), "response rejected: {reason}");
                        }
                    } else {
                        tracing::debug!(task = task_id, %operator, reason = reason.slug(), "response rejected: {reason}");
                    }
                    self.events.emit(NodeEvent::ResponseRejected {
                        task: task_id,
                        operator,
                        reason,
                    });
                }
                AggregatorAction::Submit(sub) => {
                    if !self.closed.contains(&sub.task_id) {
                        let _ = self.jobs.send(Job::Submit(Box::new(sub)));
                    }
                }
                AggregatorAction::Expired { task_id, reason } => {
                    tracing::warn!(task = task_id, "task expired: {reason}");
                    self.sizes.remove(&task_id);
                    self.accepted.remove(&task_id);
                    self.events.emit(NodeEvent::TaskExpired {
                        task: task_id,
                        reason,
                    });
                }
                AggregatorAction::Queued { task_id, operator } => {
                    tracing::debug!(task = task_id, %operator, "response queued until the task is seen");
                }
                AggregatorAction::LookUp { task_id } => {
                    // Full means lookups are already pending; the watch finds the task anyway.
                    let _ = self.lookups.try_send(task_id);
                }
                AggregatorAction::Done { task_id } => {
                    self.closed.insert(task_id);
                    self.sizes.remove(&task_id);
                    self.accepted.remove(&task_id);
                }
                AggregatorAction::ProvablyWrong {
                    task_id,
                    operator,
                    response,
                    signature,
                } => {
                    // A valid signature over a provably wrong response is slashable: hand it
                    // to the base contract's fraud proof, which asks the AVS's own rule.
                    tracing::warn!(task = task_id, %operator, response = %hex::encode(&response), "operator signed a provably wrong response; submitting the fraud proof");
                    let _ = self.jobs.send(Job::ProveWrong {
                        task_id,
                        operator,
                        response,
                        signature: signature.to_eip2537().to_vec(),
                    });
                }
                AggregatorAction::Equivocation(e) => {
                    tracing::warn!(
                        task = e.task_id,
                        operator = %e.operator,
                        first = %hex::encode(&e.first.0),
                        second = %hex::encode(&e.second.0),
                        "operator signed two responses"
                    );
                }
            }
        }
        Ok(())
    }
}

/// Until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
