//! The challenger driver: follows tasks, accepted aggregates and fraud proofs on the chain;
//! once a task's statistical window is over it reads the two-phase commits, hands
//! [`protocol::challenger::Challenger`] the task's report, and sends the `challenge` it computes.

use super::NodeError;
use super::common::{ChainWatch, EpochClock, EventSink, NodeEvent};
use crate::avs::{Avs as AvsLogic, SumAvs};
use crate::chain::avs::Avs;
use crate::chain::{Client, EventCursor};
use crate::protocol::challenger::{
    AcceptedAggregate, ChallengeCall, Challenger, ChallengerAction, ChallengerInput, TaskReport,
};
use crate::protocol::{Epoch, Flow, Task, TaskId};
use crate::store::Store;
use alloy::primitives::Address;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct ChallengerNodeConfig {
    pub watch: ChainWatch,
    /// The AVS's flow (decides what counts as an answer). `None`: per task, as the service
    /// contract judges it — a task with an accepted aggregate is of the aggregated flow, one with
    /// phase-2 commits and no aggregate of the two-phase flow, one with neither rewards and
    /// slashes nobody but the proven wrong.
    pub flow: Option<Flow>,
}

/// The challenger of one AVS, whose rule (`A`) says which responses are correct;
/// [`ChallengerNode::new`] runs the sum AVS, [`ChallengerNode::with_avs`] any other.
pub struct ChallengerNode<A: AvsLogic = SumAvs> {
    chain: Client,
    avs: Avs,
    clock: EpochClock,
    cursor: EventCursor,
    machine: Challenger<A>,
    store: Arc<dyn Store>,
    cfg: ChallengerNodeConfig,
    events: EventSink,
    tasks: BTreeMap<TaskId, Task>,
    aggregates: HashMap<TaskId, AcceptedAggregate>,
    proven_wrong: HashMap<TaskId, Vec<Address>>,
    reported: HashSet<TaskId>,
    /// Challenges whose transaction failed; retried at the next poll.
    retry: Vec<ChallengeCall>,
}

impl ChallengerNode<SumAvs> {
    /// The sum AVS's challenger (see [`ChallengerNode::with_avs`]).
    pub async fn new(
        chain: Client,
        avs: Avs,
        store: Arc<dyn Store>,
        cfg: ChallengerNodeConfig,
        events: EventSink,
    ) -> Result<ChallengerNode<SumAvs>, NodeError> {
        ChallengerNode::with_avs(SumAvs::default(), chain, avs, store, cfg, events).await
    }
}

impl<A: AvsLogic> ChallengerNode<A> {
    pub async fn with_avs(
        logic: A,
        chain: Client,
        avs: Avs,
        store: Arc<dyn Store>,
        cfg: ChallengerNodeConfig,
        events: EventSink,
    ) -> Result<ChallengerNode<A>, NodeError> {
        let records = store.load()?;
        let machine = Challenger::restore_with(logic, records.iter());
        let clock = EpochClock::for_avs(&chain, &avs).await?;
        let cursor = EventCursor::new(
            avs.all_events_filter(),
            cfg.watch.start_block,
            cfg.watch.cursor.clone(),
        );
        Ok(ChallengerNode {
            chain,
            avs,
            clock,
            cursor,
            machine,
            store,
            cfg,
            events,
            tasks: BTreeMap::new(),
            aggregates: HashMap::new(),
            proven_wrong: HashMap::new(),
            reported: HashSet::new(),
            retry: Vec::new(),
        })
    }

    pub async fn run(mut self) -> Result<(), NodeError> {
        loop {
            match self.step().await {
                Ok(()) => {}
                Err(NodeError::Chain(e)) => tracing::warn!("challenger chain: {e}"),
                Err(e) => return Err(e),
            }
            tokio::time::sleep(self.cfg.watch.poll_interval).await;
        }
    }

    pub async fn step(&mut self) -> Result<(), NodeError> {
        let now = self.clock.now(&self.chain).await?;
        let batch = self.cursor.poll(self.chain.reader()).await?;
        for log in &batch.logs {
            if let Some(task) = self.avs.decode_task_created(log) {
                self.tasks.insert(task.id, task);
            } else if let Some(acc) = self.avs.decode_task_responded(log) {
                self.aggregates.insert(
                    acc.task_id,
                    AcceptedAggregate {
                        response: acc.response,
                        non_signers: acc.non_signers,
                    },
                );
            } else if let Some((task, op)) = self.avs.decode_fault_proven(log) {
                self.proven_wrong.entry(task).or_default().push(op);
            } else if let Some((task_id, _, rewarded, slashed)) = self.avs.decode_task_settled(log)
            {
                self.tasks.remove(&task_id);
                let actions = self
                    .machine
                    .handle(now, ChallengerInput::Settled { task_id });
                self.execute(now, actions).await?;
                // The settling transaction's real gas, whoever sent it (0 if the node cannot
                // say: the event is what matters, the figure is for metrics).
                let gas = match log.transaction_hash {
                    Some(h) => match self.chain.reader().receipt(h).await {
                        Ok(Some(rc)) => rc.gas_used,
                        _ => 0,
                    },
                    None => 0,
                };
                self.events.emit(NodeEvent::Settled {
                    task: task_id,
                    rewarded,
                    slashed,
                    gas,
                });
            }
        }
        // Report each task once its statistical window is over, so the report is final.
        let due: Vec<Task> = self
            .tasks
            .values()
            .filter(|t| now > t.statistical_end() && !self.reported.contains(&t.id))
            .cloned()
            .collect();
        for task in due {
            let report = self.report(task).await?;
            self.reported.insert(report.task.id);
            let actions = self.machine.handle(now, ChallengerInput::Report(report));
            self.execute(now, actions).await?;
        }
        for call in std::mem::take(&mut self.retry) {
            self.challenge(now, call).await?;
        }
        let actions = self.machine.handle(now, ChallengerInput::Tick);
        self.execute(now, actions).await
    }

    async fn report(&self, task: Task) -> Result<TaskReport, NodeError> {
        let r = self.chain.reader();
        let snapshot = self.avs.snapshot(r, task.id).await?;
        let aggregate = self.aggregates.get(&task.id).cloned();
        let mut commits = Vec::new();
        // Commits cost a read per operator: only where they can decide the task.
        let read_commits = match self.cfg.flow {
            Some(f) => f == Flow::TwoPhase,
            None => aggregate.is_none(),
        };
        if read_commits {
            for m in &snapshot {
                let (phase, bytes) = self.avs.operator_response(r, m.operator, task.id).await?;
                if phase == 2
                    && let Some((tid, response)) = crate::avs::split_signed_bytes(&bytes)
                    && tid == task.id
                {
                    commits.push((m.operator, response.to_vec()));
                }
            }
        }
        let flow = self
            .cfg
            .flow
            .unwrap_or(if aggregate.is_none() && !commits.is_empty() {
                Flow::TwoPhase
            } else {
                Flow::Aggregated
            });
        Ok(TaskReport {
            snapshot,
            flow,
            aggregate,
            commits,
            proven_wrong: self.proven_wrong.get(&task.id).cloned().unwrap_or_default(),
            task,
        })
    }

    async fn execute(
        &mut self,
        now: Epoch,
        actions: Vec<ChallengerAction>,
    ) -> Result<(), NodeError> {
        for a in actions {
            match a {
                ChallengerAction::Persist(r) => self.store.append(&r)?,
                ChallengerAction::Challenge(call) => self.challenge(now, call).await?,
            }
        }
        Ok(())
    }

    /// Our `challenge` landed, or someone else's did first: either way the task is settled.
    /// Only the record matters here (a settled task asks for no further call).
    fn mark_settled(&mut self, now: Epoch, task_id: TaskId) -> Result<(), NodeError> {
        for a in self
            .machine
            .handle(now, ChallengerInput::Settled { task_id })
        {
            if let ChallengerAction::Persist(r) = a {
                self.store.append(&r)?;
            }
        }
        Ok(())
    }

    async fn challenge(&mut self, now: Epoch, call: ChallengeCall) -> Result<(), NodeError> {
        let task_id = call.task_id;
        // The contract checks the non-signers against the accepted aggregate's own list.
        let non_signers = self
            .aggregates
            .get(&task_id)
            .map(|a| a.non_signers.clone())
            .unwrap_or_default();
        match self.avs.challenge(&self.chain, task_id, non_signers).await {
            Ok(out) => {
                tracing::info!(
                    task = task_id,
                    actual = call.actual_threshold,
                    expected = call.is_expected,
                    rewarded = call.reward.len(),
                    slashed = call.slash.len(),
                    gas = out.gas_used,
                    "task settled"
                );
                self.mark_settled(now, task_id)?;
            }
            Err(e)
                if matches!(
                    e.revert_name(),
                    Some("AlreadySettled") | Some("AlreadyChallenged")
                ) =>
            {
                self.mark_settled(now, task_id)?;
            }
            Err(e) => {
                tracing::warn!(task = task_id, "challenge failed (will retry): {e}");
                self.retry.push(call);
            }
        }
        Ok(())
    }
}
