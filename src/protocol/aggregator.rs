//! The aggregator of the aggregated flow: per task, checks each response against the task, the
//! task's operator snapshot and the operator's registered key; keeps the valid ones; and once the
//! signers of the correct result reach the threshold, emits one `Submit` with the aggregate
//! signature and the (ascending) non-signers the contract wants.
//!
//! Signatures are verified on receipt, one pairing each, because the sender's verdict (ack or
//! reject) is sent back right away and because a response held unverified would let anyone who
//! forges an operator's address occupy that operator's slot. H2's aggregate-then-verify path
//! (`crypto::aggregate::verify_aggregate`) is used at submission: one pairing re-checks the whole
//! set and yields the aggregate. Batching verification across responses is the next step if the
//! per-response pairing shows up in profiles (see /work/coord/H3.md).
//!
//! Restart: every accepted response is persisted (`Record::Accepted`) before it is acknowledged,
//! the decision to submit (`Record::Submitted`) before the submission is handed out, and a finished
//! task as `Record::Closed`. `restore` rebuilds from those records; a task that had been submitted
//! is submitted again with `resubmit: true`, and the driver checks the chain first.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use alloy::primitives::U256;

use super::quorum::{self, QuorumError};
use super::record::Record;
use super::types::{Epoch, OperatorId, RejectReason, Response, Task, TaskId, TaskOperator};
use crate::crypto::aggregate::verify_aggregate_digest;
use crate::crypto::bls::{AggregatePublicKey, PublicKey, Signature};

/// Switches that plant known bugs, so the simulator can prove it catches them. All off by default;
/// never turn them on outside tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggregatorBugs {
    /// Submit as soon as any valid response arrives, ignoring the threshold.
    pub submit_below_threshold: bool,
    /// Accept responses without checking their signatures.
    pub skip_signature_checks: bool,
    /// Ignore accepted responses and submissions when restoring from the store.
    pub forget_on_restart: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// Responses held for tasks the aggregator has not seen yet (all tasks together).
    pub early_buffer: usize,
    pub bugs: AggregatorBugs,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            early_buffer: 1024,
            bugs: AggregatorBugs::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum AggregatorInput {
    /// A task and its operator snapshot, read from the chain (repeats are ignored).
    TaskCreated {
        task: Task,
        snapshot: Vec<TaskOperator>,
    },
    /// An operator's BLS key became known (registration event), so that an operator outside a
    /// task's snapshot is told `NotOptedIn` rather than `UnknownOperator`.
    OperatorRegistered {
        operator: OperatorId,
        pubkey: PublicKey,
    },
    /// A response from the wire.
    Response(Response),
    /// Time moved: tasks whose window is over without a quorum expire.
    Tick,
    /// The chain accepted a response for the task.
    ChainAccepted { task_id: TaskId },
}

/// What is handed to the chain: `respondToTask(taskId, result, nonSigners, nonSignerPubKeys, aggSig)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub task_id: TaskId,
    pub result: u64,
    /// Ascending.
    pub signers: Vec<OperatorId>,
    /// Snapshot members with a registered key that did not sign, ascending (the contract's order).
    pub non_signers: Vec<OperatorId>,
    /// Same order as `non_signers`.
    pub non_signer_pubkeys: Vec<PublicKey>,
    pub aggregate_signature: Signature,
    pub aggregate_pubkey: AggregatePublicKey,
    pub signed_stake: U256,
    pub total_stake: U256,
    /// Emitted again after a restart: the first submission may or may not have landed.
    pub resubmit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiryReason {
    ThresholdNotReached {
        signed: U256,
        total: U256,
        threshold: u8,
    },
    InvalidThreshold(u8),
}

impl std::fmt::Display for ExpiryReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpiryReason::ThresholdNotReached {
                signed,
                total,
                threshold,
            } => {
                write!(
                    f,
                    "window over: signed stake {signed} of {total} is below {threshold}%"
                )
            }
            ExpiryReason::InvalidThreshold(t) => write!(f, "threshold {t}% can never be met"),
        }
    }
}

/// Two valid signatures by one operator over different results of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    pub task_id: TaskId,
    pub operator: OperatorId,
    pub first: (u64, Signature),
    pub second: (u64, Signature),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggregatorAction {
    /// Make durable before carrying out any later action.
    Persist(Record),
    /// Verdicts. For a `Response` input exactly one of `Accepted`, `Queued`, `Rejected` comes
    /// first (after a `Persist`, if any) and is the reply to the sender; verdicts on responses
    /// replayed from the early buffer are for logs only.
    Accepted {
        task_id: TaskId,
        operator: OperatorId,
    },
    Queued {
        task_id: TaskId,
        operator: OperatorId,
    },
    Rejected {
        task_id: TaskId,
        operator: OperatorId,
        reason: RejectReason,
    },
    Submit(Submission),
    Expired {
        task_id: TaskId,
        reason: ExpiryReason,
    },
    /// Evidence for slashing (`proveWrongSum` takes the wrong-result one).
    Equivocation(Equivocation),
    WrongResult {
        task_id: TaskId,
        operator: OperatorId,
        result: u64,
        signature: Signature,
    },
    /// The task is finished (accepted on chain).
    Done {
        task_id: TaskId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Open,
    Submitted { result: u64 },
}

#[derive(Debug)]
struct TaskState {
    task: Task,
    snapshot: Vec<TaskOperator>,
    total: U256,
    /// Valid signatures by operator (correct or wrong result).
    signed: BTreeMap<OperatorId, (u64, Signature)>,
    status: Status,
}

pub struct Aggregator {
    cfg: AggregatorConfig,
    tasks: BTreeMap<TaskId, TaskState>,
    closed: BTreeSet<TaskId>,
    known: HashMap<OperatorId, PublicKey>,
    early: VecDeque<Response>,
    /// From the store, waiting for their task to be seen again.
    restored: BTreeMap<TaskId, Vec<Response>>,
    restored_submitted: BTreeSet<TaskId>,
}

impl Aggregator {
    pub fn new(cfg: AggregatorConfig) -> Self {
        Self {
            cfg,
            tasks: BTreeMap::new(),
            closed: BTreeSet::new(),
            known: HashMap::new(),
            early: VecDeque::new(),
            restored: BTreeMap::new(),
            restored_submitted: BTreeSet::new(),
        }
    }

    /// Rebuild from the store's records (other record kinds are ignored). Tasks come back when
    /// the chain reader feeds `TaskCreated` again.
    pub fn restore<'a>(
        cfg: AggregatorConfig,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Self {
        let forget = cfg.bugs.forget_on_restart;
        let mut agg = Self::new(cfg);
        for r in records {
            match r {
                Record::Accepted { response } if !forget => agg
                    .restored
                    .entry(response.task_id)
                    .or_default()
                    .push(response.clone()),
                Record::Submitted { task_id, .. } if !forget => {
                    agg.restored_submitted.insert(*task_id);
                }
                Record::Closed { task_id } => {
                    agg.closed.insert(*task_id);
                    agg.restored.remove(task_id);
                    agg.restored_submitted.remove(task_id);
                }
                _ => {}
            }
        }
        agg
    }

    /// Whether the task is finished or unknown-and-closed.
    pub fn is_closed(&self, task_id: TaskId) -> bool {
        self.closed.contains(&task_id)
    }

    /// Tasks being worked on (open or submitted, not yet accepted).
    pub fn open_tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.tasks.keys().copied()
    }

    pub fn handle(&mut self, now: Epoch, input: AggregatorInput) -> Vec<AggregatorAction> {
        let mut out = Vec::new();
        match input {
            AggregatorInput::TaskCreated { task, snapshot } => {
                self.on_task(now, task, snapshot, &mut out)
            }
            AggregatorInput::OperatorRegistered { operator, pubkey } => {
                self.known.insert(operator, pubkey);
            }
            AggregatorInput::Response(r) => self.on_response(now, r, Origin::Wire, &mut out),
            AggregatorInput::Tick => self.on_tick(now, &mut out),
            AggregatorInput::ChainAccepted { task_id } => {
                if !self.closed.contains(&task_id) {
                    self.tasks.remove(&task_id);
                    self.closed.insert(task_id);
                    out.push(AggregatorAction::Persist(Record::Closed { task_id }));
                    out.push(AggregatorAction::Done { task_id });
                }
            }
        }
        out
    }

    fn on_task(
        &mut self,
        now: Epoch,
        task: Task,
        snapshot: Vec<TaskOperator>,
        out: &mut Vec<AggregatorAction>,
    ) {
        let task_id = task.id;
        if self.closed.contains(&task_id) || self.tasks.contains_key(&task_id) {
            return;
        }
        for m in &snapshot {
            if let Some(pk) = m.pubkey {
                self.known.insert(m.operator, pk);
            }
        }
        let total = quorum::total_stake(&snapshot);
        self.tasks.insert(
            task_id,
            TaskState {
                task,
                snapshot,
                total,
                signed: BTreeMap::new(),
                status: Status::Open,
            },
        );
        if let Some(restored) = self.restored.remove(&task_id) {
            for r in restored {
                self.on_response(now, r, Origin::Store, out);
            }
        }
        let early: Vec<Response> = {
            let (mine, rest): (Vec<_>, Vec<_>) =
                self.early.drain(..).partition(|r| r.task_id == task_id);
            self.early = rest.into();
            mine
        };
        for r in early {
            self.on_response(now, r, Origin::Buffer, out);
        }
        // A task restored as submitted whose responses did not all come back still has to be
        // settled by the chain; if quorum was not rebuilt, the window rule applies as usual.
        self.on_tick(now, out);
    }

    fn on_response(
        &mut self,
        now: Epoch,
        r: Response,
        origin: Origin,
        out: &mut Vec<AggregatorAction>,
    ) {
        let task_id = r.task_id;
        let operator = r.operator;
        match self.check(now, &r, origin) {
            Err((reason, evidence)) => {
                out.extend(evidence);
                if origin != Origin::Store {
                    out.push(AggregatorAction::Rejected {
                        task_id,
                        operator,
                        reason,
                    });
                }
            }
            Ok(Verdict::Queue) => {
                if self.early.len() >= self.cfg.early_buffer {
                    out.push(AggregatorAction::Rejected {
                        task_id,
                        operator,
                        reason: RejectReason::Overloaded,
                    });
                } else {
                    self.early.push_back(r);
                    out.push(AggregatorAction::Queued { task_id, operator });
                }
            }
            Ok(Verdict::Accept(sig)) => {
                let Some(st) = self.tasks.get_mut(&task_id) else {
                    return;
                };
                st.signed.insert(operator, (r.result, sig));
                if origin != Origin::Store {
                    out.push(AggregatorAction::Persist(Record::Accepted { response: r }));
                    out.push(AggregatorAction::Accepted { task_id, operator });
                }
                self.try_submit(task_id, out);
            }
        }
    }

    /// Every check a response goes through, cheapest first.
    fn check(
        &self,
        now: Epoch,
        r: &Response,
        origin: Origin,
    ) -> Result<Verdict, (RejectReason, Vec<AggregatorAction>)> {
        let reject = |reason| Err((reason, Vec::new()));
        let sig = match Signature::from_bytes(&r.signature) {
            Ok(s) => s,
            Err(e) => return reject(RejectReason::Malformed(format!("signature: {e}"))),
        };
        if self.closed.contains(&r.task_id) {
            return reject(RejectReason::TaskClosed);
        }
        let Some(st) = self.tasks.get(&r.task_id) else {
            return if self.known.is_empty() || self.known.contains_key(&r.operator) {
                Ok(Verdict::Queue)
            } else {
                reject(RejectReason::UnknownOperator)
            };
        };
        if matches!(st.status, Status::Submitted { .. }) && origin != Origin::Store {
            return reject(RejectReason::TaskClosed);
        }
        // Stored responses were on time when they were accepted.
        if origin != Origin::Store && !st.task.in_response_window(now) {
            return reject(RejectReason::Late);
        }
        let Some(member) = st.snapshot.iter().find(|m| m.operator == r.operator) else {
            return reject(if self.known.contains_key(&r.operator) {
                RejectReason::NotOptedIn
            } else {
                RejectReason::UnknownOperator
            });
        };
        let Some(pk) = member.pubkey else {
            return reject(RejectReason::NoRegisteredKey);
        };
        if let Some(&(prev_result, prev_sig)) = st.signed.get(&r.operator) {
            if prev_result == r.result {
                // BLS signatures are unique: another point for the same message cannot be valid.
                return reject(if prev_sig == sig {
                    RejectReason::Duplicate
                } else {
                    RejectReason::InvalidSignature
                });
            }
            if !self.signature_ok(&pk, r, &sig) {
                return reject(RejectReason::InvalidSignature);
            }
            let ev = AggregatorAction::Equivocation(Equivocation {
                task_id: r.task_id,
                operator: r.operator,
                first: (prev_result, prev_sig),
                second: (r.result, sig),
            });
            return Err((
                RejectReason::Conflicting {
                    previous: prev_result,
                },
                vec![ev],
            ));
        }
        if !self.signature_ok(&pk, r, &sig) {
            return reject(RejectReason::InvalidSignature);
        }
        let expected = st.task.expected_result();
        if expected != Some(r.result) {
            let ev = AggregatorAction::WrongResult {
                task_id: r.task_id,
                operator: r.operator,
                result: r.result,
                signature: sig,
            };
            return Err((
                RejectReason::WrongResult {
                    expected,
                    got: r.result,
                },
                vec![ev],
            ));
        }
        Ok(Verdict::Accept(sig))
    }

    fn signature_ok(&self, pk: &PublicKey, r: &Response, sig: &Signature) -> bool {
        self.cfg.bugs.skip_signature_checks || pk.verify(&r.digest(), sig).is_ok()
    }

    fn try_submit(&mut self, task_id: TaskId, out: &mut Vec<AggregatorAction>) {
        let resubmit = self.restored_submitted.contains(&task_id);
        let bugs = self.cfg.bugs;
        let Some(st) = self.tasks.get_mut(&task_id) else {
            return;
        };
        if st.status != Status::Open {
            return;
        }
        let Some(result) = st.task.expected_result() else {
            return;
        };
        let signers: Vec<OperatorId> = st
            .signed
            .iter()
            .filter(|(_, (res, _))| *res == result)
            .map(|(op, _)| *op)
            .collect();
        let Ok(signed) = quorum::signed_stake(&st.snapshot, &signers) else {
            return;
        };
        let reached = match quorum::quorum_reached(st.task.threshold_percentage, signed, st.total) {
            Ok(r) => r,
            Err(QuorumError::InvalidThreshold(_)) | Err(_) => false,
        };
        if !(reached || (bugs.submit_below_threshold && !signers.is_empty())) {
            return;
        }
        let items: Vec<(PublicKey, Signature)> = signers
            .iter()
            .filter_map(|op| {
                let pk = st.snapshot.iter().find(|m| m.operator == *op)?.pubkey?;
                Some((pk, st.signed.get(op)?.1))
            })
            .collect();
        let digest = crate::crypto::messages::task_response_digest(task_id, result);
        let outcome = verify_aggregate_digest(&digest, &items);
        let (Some(aggregate_signature), Some(aggregate_pubkey)) =
            (outcome.signature, outcome.public_key)
        else {
            return;
        };
        if !outcome.invalid.is_empty() && !bugs.skip_signature_checks {
            // Only reachable if a stored response was corrupted: drop the bad ones, decide again.
            for i in outcome.invalid {
                st.signed.remove(&signers[i]);
            }
            return self.try_submit(task_id, out);
        }
        let signer_set: BTreeSet<OperatorId> = signers.iter().copied().collect();
        let mut non: Vec<(OperatorId, PublicKey)> = st
            .snapshot
            .iter()
            .filter(|m| !signer_set.contains(&m.operator))
            .filter_map(|m| Some((m.operator, m.pubkey?)))
            .collect();
        non.sort_by_key(|(op, _)| *op);
        non.dedup_by_key(|(op, _)| *op);
        st.status = Status::Submitted { result };
        if !resubmit {
            out.push(AggregatorAction::Persist(Record::Submitted {
                task_id,
                result,
            }));
        }
        out.push(AggregatorAction::Submit(Submission {
            task_id,
            result,
            signers,
            non_signers: non.iter().map(|(op, _)| *op).collect(),
            non_signer_pubkeys: non.iter().map(|(_, pk)| *pk).collect(),
            aggregate_signature,
            aggregate_pubkey,
            signed_stake: signed,
            total_stake: st.total,
            resubmit,
        }));
    }

    fn on_tick(&mut self, now: Epoch, out: &mut Vec<AggregatorAction>) {
        let mut expired = Vec::new();
        for (id, st) in &self.tasks {
            if st.status != Status::Open {
                continue;
            }
            let t = st.task.threshold_percentage;
            if !quorum::valid_threshold(t) {
                expired.push((*id, ExpiryReason::InvalidThreshold(t)));
            } else if !st.task.in_response_window(now) {
                let result = st.task.expected_result();
                let signers: Vec<OperatorId> = st
                    .signed
                    .iter()
                    .filter(|(_, (res, _))| Some(*res) == result)
                    .map(|(op, _)| *op)
                    .collect();
                let signed = quorum::signed_stake(&st.snapshot, &signers).unwrap_or(U256::ZERO);
                expired.push((
                    *id,
                    ExpiryReason::ThresholdNotReached {
                        signed,
                        total: st.total,
                        threshold: t,
                    },
                ));
            }
        }
        for (task_id, reason) in expired {
            self.tasks.remove(&task_id);
            self.closed.insert(task_id);
            out.push(AggregatorAction::Persist(Record::Closed { task_id }));
            out.push(AggregatorAction::Expired { task_id, reason });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Wire,
    Buffer,
    Store,
}

enum Verdict {
    Queue,
    Accept(Signature),
}

#[cfg(test)]
mod tests;
