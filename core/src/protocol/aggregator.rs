//! The aggregator of the aggregated flow: per task, checks each response against the task, the
//! task's operator snapshot and the operator's registered key; keeps the valid ones; and once the
//! signers of the correct result reach the threshold, emits one `Submit` with the aggregate
//! signature and the (ascending) non-signers the contract wants.
//!
//! Verification is batched. On receipt a response gets only the cheap checks (decoding with the
//! on-curve check, task, window, snapshot membership, registered key, one claim per operator);
//! once the claims for the correct result carry the threshold, one aggregate-then-verify
//! (`crypto::aggregate::verify_aggregate_digest`: one pairing when all are valid, bisection
//! otherwise) checks them all and yields the aggregate. Invalid ones are dropped with a
//! `Rejected` for the log and the quorum is decided again: nothing unverified is submitted.
//!
//! Framing. Anyone can send a response that claims an honest operator's address. Such a forgery
//! must not take the operator's place, so a second claim for an operator who has one waiting
//! settles both at once (one pairing each; BLS signatures are unique, so at most one is valid).
//! Once an operator has been forged, its later claims are checked on receipt, so a stream of
//! forgeries costs one pairing each instead of a bisection each. A forgery costs the forged
//! operator nothing: it is never recorded against them. Wrong results are checked on receipt,
//! because their signature is evidence (`WrongResult`, `Equivocation`).
//!
//! Restart: every accepted response is persisted (`Record::Accepted`) before it is acknowledged,
//! the decision to submit (`Record::Submitted`) before the submission is handed out, and a finished
//! task as `Record::Closed`. `restore` rebuilds from those records; a task that had been submitted
//! is submitted again with `resubmit: true`, and the driver checks the chain first.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use alloy_primitives::{B256, U256, keccak256};

use super::quorum::{self, QuorumError};
use super::record::Record;
use super::types::{Epoch, OperatorId, RejectReason, Response, Task, TaskId, TaskOperator};
use crate::crypto::aggregate::verify_aggregate_digest;
use crate::crypto::bls::{AggregatePublicKey, PublicKey, Signature};
use crate::crypto::messages::task_response_digest;

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
    /// Responses held for tasks the aggregator has not seen yet (all tasks together). Only
    /// responses whose signature checks out against the operator's known key are held, one per
    /// (task, operator), so honest operators fill it at most `early_horizon` times over.
    pub early_buffer: usize,
    /// How far past the newest task it has seen the aggregator holds or looks up responses. A
    /// task id beyond it is refused as `UnknownTask`, which the operator retries, so an attacker
    /// cannot fill the buffer or the lookups with ids that will never exist.
    pub early_horizon: u64,
    /// How long, in ms, the aggregator keeps collecting once the claims for a task first carry
    /// the threshold, before it submits (the linger window). Every valid response that comes in
    /// the meantime joins the aggregate, so an honest operator a poll interval or a slow link
    /// behind the others is still in it, and paid. The window ends early once every operator
    /// of the snapshot with a key has a claim, and never outlasts the response period: in the
    /// period's last epoch a task at the threshold is submitted at once. 0 submits the moment
    /// the threshold is reached.
    pub linger_ms: u64,
    pub bugs: AggregatorBugs,
}

/// The default linger window: longer than an operator's chain poll interval (250 ms by default,
/// so honest operators see a task up to one interval apart) plus a slow honest link's delay
/// (300 ms in the `late-honest` scenario, which the simulator's 500 ms polls add to).
pub const DEFAULT_LINGER_MS: u64 = 1_000;

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            early_buffer: 1024,
            early_horizon: 32,
            linger_ms: DEFAULT_LINGER_MS,
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
    /// The last `Submit` for the task did not land and may be tried again (the node did not
    /// answer, the transaction was not mined, the retries ran out). While the task's response
    /// window is open, the next `Tick` submits it again with `resubmit: true`; after that it
    /// expires. A submission the contract refused for good is reported as `Done` instead.
    SubmitFailed { task_id: TaskId },
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
    /// A quorum was reached, but no submission landed before the response window closed.
    SubmissionFailed {
        result: u64,
    },
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
            ExpiryReason::SubmissionFailed { result } => write!(
                f,
                "window over: the aggregate for result {result} reached the threshold but no submission landed"
            ),
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
    /// replayed from the early buffer are for logs only. `Accepted` means "counted": its
    /// signature may still be checked in the batch at quorum, and a later `Rejected` for the
    /// same operator (log only) says it was forged.
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
    /// A response came for a task id the aggregator has not seen, within the horizon: read the
    /// chain for it now instead of waiting for the event watch (which may be behind or failing)
    /// and feed `TaskCreated` if it exists. Emitted once per task id.
    LookUp {
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
    /// Signatures known valid, by operator (correct or wrong result).
    verified: BTreeMap<OperatorId, (u64, Signature)>,
    /// Correct-result claims that passed every cheap check (decoding with the on-curve check,
    /// membership, key, window, uniqueness), waiting for the one batch check at quorum.
    pending: BTreeMap<OperatorId, Signature>,
    /// (result, signature) pairs found invalid, by the operator they claimed: a repeat costs no
    /// pairing, and an operator someone forged is checked on receipt from then on. Keyed by the
    /// result too: the operator's genuine signature replayed over another result is invalid
    /// there, and must not taint the genuine response (found by tests/fuzz_wire.rs).
    refused: BTreeMap<OperatorId, Refused>,
    /// Snapshot position by operator (lookups are per response; the snapshot can be large).
    index: HashMap<OperatorId, usize>,
    /// Stake of the claims for the correct result (verified and pending), kept as they come and
    /// go, so that a response below the threshold costs no pass over the claims.
    claimed: U256,
    status: Status,
    /// The last submission handed out, kept so a failed one can be sent again.
    submission: Option<Submission>,
    /// Set by `SubmitFailed`: the next `Tick` resubmits (in the window) or expires the task.
    retry: bool,
    /// When (ms) the claims first carried the threshold: the linger window runs from here.
    quorum_at: Option<u64>,
    /// Distinct snapshot members with a registered key: once all have a claim for the correct
    /// result there is nobody left to wait for.
    keyed: usize,
}

impl TaskState {
    fn member(&self, op: &OperatorId) -> Option<&TaskOperator> {
        self.snapshot.get(*self.index.get(op)?)
    }

    /// Claims for the correct result (verified and pending).
    fn claims(&self) -> usize {
        let expected = self.task.expected_result();
        self.pending.len()
            + self
                .verified
                .values()
                .filter(|(res, _)| Some(*res) == expected)
                .count()
    }

    fn stake(&self, op: &OperatorId) -> U256 {
        self.member(op).map_or(U256::ZERO, |m| U256::from(m.stake))
    }

    fn add_pending(&mut self, op: OperatorId, sig: Signature) {
        self.claimed += self.stake(&op);
        self.pending.insert(op, sig);
    }

    fn add_verified(&mut self, op: OperatorId, result: u64, sig: Signature) {
        if self.task.expected_result() == Some(result) {
            self.claimed += self.stake(&op);
        }
        self.verified.insert(op, (result, sig));
    }

    /// A pending claim whose signature proved valid.
    fn promote(&mut self, op: &OperatorId) {
        if let Some(sig) = self.pending.remove(op) {
            let result = self.task.expected_result().unwrap_or_default();
            self.verified.insert(*op, (result, sig));
        }
    }

    /// A claim whose signature proved invalid.
    fn drop_claim(&mut self, op: &OperatorId) {
        let counted = self.pending.remove(op).is_some()
            || self
                .verified
                .remove(op)
                .is_some_and(|(res, _)| self.task.expected_result() == Some(res));
        if counted {
            self.claimed -= self.stake(op);
        }
    }
}

/// The invalid (result, signature) pairs seen for one operator of a task, as digests: a repeat
/// is refused without a pairing, and the operator counts as targeted (its later claims are
/// checked on receipt). Bounded, oldest forgotten first: a forgotten forgery sent again costs one
/// pairing, never memory (38,000 forgeries once made a list, and a linear scan, of 38,000).
#[derive(Debug, Default)]
struct Refused {
    order: VecDeque<B256>,
    set: HashSet<B256>,
}

impl Refused {
    /// Pairs remembered per operator and task.
    const CAP: usize = 64;

    fn digest(result: u64, sig: &Signature) -> B256 {
        let mut bytes = Vec::with_capacity(8 + 192);
        bytes.extend_from_slice(&result.to_be_bytes());
        bytes.extend_from_slice(&sig.to_uncompressed());
        keccak256(bytes)
    }

    fn contains(&self, result: u64, sig: &Signature) -> bool {
        self.set.contains(&Self::digest(result, sig))
    }

    fn insert(&mut self, result: u64, sig: &Signature) {
        let d = Self::digest(result, sig);
        if self.set.insert(d) {
            self.order.push_back(d);
            if self.order.len() > Self::CAP
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

pub struct Aggregator {
    cfg: AggregatorConfig,
    tasks: BTreeMap<TaskId, TaskState>,
    closed: BTreeSet<TaskId>,
    known: HashMap<OperatorId, PublicKey>,
    /// Responses for tasks not seen yet, one per (task, operator), each with a signature valid
    /// under the operator's known key.
    early: BTreeMap<(TaskId, OperatorId), Response>,
    /// The highest task id seen (created, or closed in the store): the horizon's base.
    newest: TaskId,
    /// Task ids above `newest` already handed out as `LookUp` (at most `early_horizon`).
    looked_up: BTreeSet<TaskId>,
    /// From the store, waiting for their task to be seen again.
    restored: BTreeMap<TaskId, Vec<Response>>,
    restored_submitted: BTreeSet<TaskId>,
    /// The time of the last input: its epoch and ms on the driver's monotonic clock.
    now: Epoch,
    now_ms: u64,
    /// Signatures checked one by one on receipt (one pairing each), as opposed to the batch
    /// check at quorum. A Cell: `check` counts inside its verify closure while it holds a task.
    receipt_pairings: Cell<u64>,
}

impl Aggregator {
    pub fn new(cfg: AggregatorConfig) -> Self {
        Self {
            cfg,
            tasks: BTreeMap::new(),
            closed: BTreeSet::new(),
            known: HashMap::new(),
            early: BTreeMap::new(),
            newest: 0,
            looked_up: BTreeSet::new(),
            restored: BTreeMap::new(),
            restored_submitted: BTreeSet::new(),
            now: 0,
            now_ms: 0,
            receipt_pairings: Cell::new(0),
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
                    agg.newest = agg.newest.max(*task_id);
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

    /// [`Aggregator::handle_at`] with the ms clock where the last call left it (time in ms
    /// does not move, so a linger window only ends when everyone is in or the period's last
    /// epoch comes).
    pub fn handle(&mut self, now: Epoch, input: AggregatorInput) -> Vec<AggregatorAction> {
        self.handle_at(now, self.now_ms, input)
    }

    /// Feed one input at epoch `now` and `now_ms` on the driver's monotonic clock (an earlier
    /// ms than the last call's counts as the last call's). The driver also feeds `Tick` at
    /// every new epoch and when [`Aggregator::poll_timeout`] comes.
    pub fn handle_at(
        &mut self,
        now: Epoch,
        now_ms: u64,
        input: AggregatorInput,
    ) -> Vec<AggregatorAction> {
        self.now = now;
        self.now_ms = self.now_ms.max(now_ms);
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
            AggregatorInput::SubmitFailed { task_id } => {
                if let Some(st) = self.tasks.get_mut(&task_id)
                    && matches!(st.status, Status::Submitted { .. })
                {
                    st.retry = true;
                }
            }
            AggregatorInput::ChainAccepted { task_id } => {
                self.advance_newest(task_id);
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

    /// How many signatures this machine has checked one by one on receipt so far: a wrong
    /// result, a second claim for an operator, a targeted operator's claim, a response held
    /// for a task not seen yet. What a flood of forgeries costs; the batch checks at quorum
    /// are not counted.
    pub fn receipt_pairings(&self) -> u64 {
        self.receipt_pairings.get()
    }

    /// The ms at which the next linger window ends (feed `Tick` then), if any task is lingering.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.tasks
            .values()
            .filter(|st| st.status == Status::Open)
            .filter_map(|st| st.quorum_at)
            .map(|t| t.saturating_add(self.cfg.linger_ms))
            .min()
    }

    /// Raises the newest task id seen and forgets the lookups it answers, so `looked_up` stays
    /// within (newest, newest + horizon] and a settled id never holds a lookup slot.
    fn advance_newest(&mut self, task_id: TaskId) {
        self.newest = self.newest.max(task_id);
        self.looked_up.retain(|&id| id > self.newest);
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
        self.advance_newest(task_id);
        for m in &snapshot {
            if let Some(pk) = m.pubkey {
                self.known.insert(m.operator, pk);
            }
        }
        let total = quorum::total_stake(&snapshot);
        let keyed = snapshot
            .iter()
            .filter(|m| m.pubkey.is_some())
            .map(|m| m.operator)
            .collect::<BTreeSet<_>>()
            .len();
        let mut index = HashMap::with_capacity(snapshot.len());
        for (i, m) in snapshot.iter().enumerate() {
            // The first entry wins, as in the membership check this replaces.
            index.entry(m.operator).or_insert(i);
        }
        self.tasks.insert(
            task_id,
            TaskState {
                task,
                snapshot,
                total,
                verified: BTreeMap::new(),
                pending: BTreeMap::new(),
                refused: BTreeMap::new(),
                index,
                claimed: U256::ZERO,
                status: Status::Open,
                submission: None,
                retry: false,
                quorum_at: None,
                keyed,
            },
        );
        if let Some(restored) = self.restored.remove(&task_id) {
            for r in restored {
                self.on_response(now, r, Origin::Store, out);
            }
        }
        let early: Vec<Response> = {
            let mut mine = self.early.split_off(&(task_id, OperatorId::ZERO));
            if let Some(next) = task_id.checked_add(1) {
                let mut later = mine.split_off(&(next, OperatorId::ZERO));
                self.early.append(&mut later);
            }
            mine.into_values().collect()
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
        // Verdicts on earlier claims that this response settles go after its own verdict,
        // which is the reply to the sender.
        let mut settled = Vec::new();
        let verdict = self.check(now, &r, origin, &mut settled);
        self.apply(r, origin, verdict, out);
        out.extend(settled);
    }

    fn apply(
        &mut self,
        r: Response,
        origin: Origin,
        verdict: Result<Verdict, (RejectReason, Vec<AggregatorAction>)>,
        out: &mut Vec<AggregatorAction>,
    ) {
        let task_id = r.task_id;
        let operator = r.operator;
        match verdict {
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
                    // Persisted before the reply, like an accepted one: the sender stops
                    // sending once answered, so a crash must not lose it (found by the
                    // scenario fuzz). On restore it waits for its task like any stored response.
                    out.push(AggregatorAction::Persist(Record::Accepted {
                        response: r.clone(),
                    }));
                    self.early.insert((task_id, operator), r);
                    out.push(AggregatorAction::Queued { task_id, operator });
                }
                if self.looked_up.len() < self.cfg.early_horizon as usize
                    && self.looked_up.insert(task_id)
                {
                    out.push(AggregatorAction::LookUp { task_id });
                }
            }
            Ok(verdict) => {
                let Some(st) = self.tasks.get_mut(&task_id) else {
                    return;
                };
                match verdict {
                    Verdict::Pending(sig) => st.add_pending(operator, sig),
                    Verdict::Verified(sig) => st.add_verified(operator, r.result, sig),
                    Verdict::Queue => unreachable!("handled above"),
                }
                // A buffered response was persisted when it was queued.
                if origin == Origin::Wire {
                    out.push(AggregatorAction::Persist(Record::Accepted { response: r }));
                }
                if origin != Origin::Store {
                    out.push(AggregatorAction::Accepted { task_id, operator });
                }
                self.try_submit(task_id, out);
            }
        }
    }

    /// Every check a response goes through, cheapest first. Pairings are spent here only on what
    /// cannot wait for the batch: a wrong result (its signature is evidence), a second claim for
    /// an operator who already has one (one of them is forged or the operator equivocates).
    /// `settled` receives verdicts on earlier claims that such a pairing settles.
    fn check(
        &mut self,
        now: Epoch,
        r: &Response,
        origin: Origin,
        settled: &mut Vec<AggregatorAction>,
    ) -> Result<Verdict, (RejectReason, Vec<AggregatorAction>)> {
        let reject = |reason| Err((reason, Vec::new()));
        let sig = match Signature::from_bytes(&r.signature) {
            Ok(s) => s,
            Err(e) => return reject(RejectReason::Malformed(format!("signature: {e}"))),
        };
        if self.closed.contains(&r.task_id) {
            return reject(RejectReason::TaskClosed);
        }
        let skip = self.cfg.bugs.skip_signature_checks;
        let Some(st) = self.tasks.get_mut(&r.task_id) else {
            return self.check_early(r, sig, settled);
        };
        // Who may answer at all comes first, even once the aggregate is out: an operator
        // without a key learns that, not only that it was late (its first try may have come
        // before the aggregator knew the task, and the retry after the submission).
        let Some(member) = st.member(&r.operator) else {
            return reject(if self.known.contains_key(&r.operator) {
                RejectReason::NotOptedIn
            } else {
                RejectReason::UnknownOperator
            });
        };
        let Some(pk) = member.pubkey else {
            return reject(RejectReason::NoRegisteredKey);
        };
        if matches!(st.status, Status::Submitted { .. }) && origin != Origin::Store {
            return reject(RejectReason::TaskClosed);
        }
        // Stored responses were on time when they were accepted.
        if origin != Origin::Store && !st.task.in_response_window(now) {
            return reject(RejectReason::Late);
        }
        let pairings = &self.receipt_pairings;
        let ok = |sig: &Signature, result: u64| {
            if skip {
                return true;
            }
            pairings.set(pairings.get() + 1);
            pk.verify(&task_response_digest(r.task_id, result), sig)
                .is_ok()
        };
        if st
            .refused
            .get(&r.operator)
            .is_some_and(|bad| bad.contains(r.result, &sig))
        {
            return reject(RejectReason::InvalidSignature);
        }
        let expected = st.task.expected_result();

        // A claim already waiting for this operator: settle it now, with one pairing each, so
        // that a forgery that came first cannot hold the real operator's place.
        if let Some(&waiting) = st.pending.get(&r.operator) {
            let waiting_result = expected.unwrap_or_default();
            if waiting == sig && waiting_result == r.result {
                return reject(RejectReason::Duplicate);
            }
            if ok(&waiting, waiting_result) {
                st.promote(&r.operator);
            } else {
                st.drop_claim(&r.operator);
                st.refused
                    .entry(r.operator)
                    .or_default()
                    .insert(waiting_result, &waiting);
                settled.push(AggregatorAction::Rejected {
                    task_id: r.task_id,
                    operator: r.operator,
                    reason: RejectReason::InvalidSignature,
                });
            }
        }

        if let Some(&(prev_result, prev_sig)) = st.verified.get(&r.operator) {
            if prev_result == r.result {
                // BLS signatures are unique: another point for the same message cannot be valid.
                return reject(if prev_sig == sig {
                    RejectReason::Duplicate
                } else {
                    RejectReason::InvalidSignature
                });
            }
            if !ok(&sig, r.result) {
                st.refused
                    .entry(r.operator)
                    .or_default()
                    .insert(r.result, &sig);
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

        if expected != Some(r.result) {
            if !ok(&sig, r.result) {
                st.refused
                    .entry(r.operator)
                    .or_default()
                    .insert(r.result, &sig);
                return reject(RejectReason::InvalidSignature);
            }
            st.add_verified(r.operator, r.result, sig);
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
        // The correct result, from a member with a key, nothing else claimed for it: the
        // signature waits for the batch check at quorum (one pairing for all of them).
        if st.refused.contains_key(&r.operator) {
            // Someone already forged this operator's response: the batch would bisect again for
            // each new forgery, so a claim for a targeted operator is checked on its own.
            if !ok(&sig, r.result) {
                st.refused
                    .entry(r.operator)
                    .or_default()
                    .insert(r.result, &sig);
                return reject(RejectReason::InvalidSignature);
            }
            return Ok(Verdict::Verified(sig));
        }
        Ok(Verdict::Pending(sig))
    }

    /// A response for a task not seen yet. It is held only if it can be told apart from a
    /// forgery now: the operator's key is known and the signature is valid (one pairing). An
    /// unknown task beyond the horizon, or from an operator whose key is not known yet, is
    /// refused as `UnknownTask`, which the operator retries while its window is open; an id
    /// within the horizon is looked up (`LookUp`) so the retry finds the task.
    fn check_early(
        &mut self,
        r: &Response,
        sig: Signature,
        settled: &mut Vec<AggregatorAction>,
    ) -> Result<Verdict, (RejectReason, Vec<AggregatorAction>)> {
        let beyond = r.task_id > self.newest.saturating_add(self.cfg.early_horizon);
        if beyond {
            return Err((RejectReason::UnknownTask, Vec::new()));
        }
        let Some(pk) = self.known.get(&r.operator) else {
            // Worth a lookup: the task's snapshot brings the keys of everyone opted in.
            if self.looked_up.len() < self.cfg.early_horizon as usize
                && self.looked_up.insert(r.task_id)
            {
                settled.push(AggregatorAction::LookUp { task_id: r.task_id });
            }
            return Err((RejectReason::UnknownTask, Vec::new()));
        };
        if let Some(held) = self.early.get(&(r.task_id, r.operator)) {
            return Err((
                if held.result == r.result && held.signature == r.signature {
                    RejectReason::Duplicate
                } else {
                    RejectReason::Conflicting {
                        previous: held.result,
                    }
                },
                Vec::new(),
            ));
        }
        if !self.cfg.bugs.skip_signature_checks {
            self.receipt_pairings.set(self.receipt_pairings.get() + 1);
            if pk
                .verify(&task_response_digest(r.task_id, r.result), &sig)
                .is_err()
            {
                return Err((RejectReason::InvalidSignature, Vec::new()));
            }
        }
        Ok(Verdict::Queue)
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
        let claimed_enough =
            quorum::quorum_reached(st.task.threshold_percentage, st.claimed, st.total)
                .unwrap_or(false);
        // The planted bug submits whatever is claimed, as long as something is.
        let planted_early = bugs.submit_below_threshold && !st.claimed.is_zero();
        if !claimed_enough && !planted_early {
            // Forged claims dropped below the threshold again: the window starts over with it.
            st.quorum_at = None;
            return;
        }
        // The linger window: keep collecting until it ends, everyone is in, or the response
        // period is in its last epoch. A resubmission after a restart lingered before.
        if !resubmit && !planted_early {
            let started = *st.quorum_at.get_or_insert(self.now_ms);
            let over = self.now_ms >= started.saturating_add(self.cfg.linger_ms);
            let last_epoch = self.now >= st.task.response_deadline();
            if !over && !last_epoch && st.claims() < st.keyed {
                return;
            }
        }
        // Ascending operators: the verified ones for this result and the pending (which are
        // all for this result); an operator is never in both.
        let mut claims: Vec<(OperatorId, Signature)> = st
            .verified
            .iter()
            .filter(|(_, (res, _))| *res == result)
            .map(|(op, (_, sig))| (*op, *sig))
            .chain(st.pending.iter().map(|(op, sig)| (*op, *sig)))
            .collect();
        claims.sort_by_key(|(op, _)| *op);
        let signers: Vec<OperatorId> = claims.iter().map(|(op, _)| *op).collect();
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
        let items: Vec<(PublicKey, Signature)> = claims
            .iter()
            .filter_map(|(op, sig)| {
                let pk = st.member(op)?.pubkey?;
                Some((pk, *sig))
            })
            .collect();
        let digest = crate::crypto::messages::task_response_digest(task_id, result);
        let outcome = verify_aggregate_digest(&digest, &items);
        if !outcome.invalid.is_empty() && !bugs.skip_signature_checks {
            // Forged claims (or a corrupted store): drop them, keep the rest as verified, and
            // decide again. The claimed operators may still send their real response.
            for &i in &outcome.invalid {
                let (op, sig) = claims[i];
                st.drop_claim(&op);
                st.refused.entry(op).or_default().insert(result, &sig);
                out.push(AggregatorAction::Rejected {
                    task_id,
                    operator: op,
                    reason: RejectReason::InvalidSignature,
                });
            }
            for &i in &outcome.valid {
                st.promote(&claims[i].0);
            }
            return self.try_submit(task_id, out);
        }
        let (Some(aggregate_signature), Some(aggregate_pubkey)) =
            (outcome.signature, outcome.public_key)
        else {
            return;
        };
        let waiting: Vec<OperatorId> = st.pending.keys().copied().collect();
        for op in waiting {
            st.promote(&op);
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
        let sub = Submission {
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
        };
        st.submission = Some(sub.clone());
        out.push(AggregatorAction::Submit(sub));
    }

    fn on_tick(&mut self, now: Epoch, out: &mut Vec<AggregatorAction>) {
        // Linger windows that ended (or whose period is in its last epoch, or over) first: such
        // a task has its quorum and must not expire for want of one.
        let lingering: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, st)| st.status == Status::Open && st.quorum_at.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in lingering {
            self.try_submit(id, out);
            // Still open after its window ended: nothing could be submitted from these claims
            // (a next response starts the window again), so it asks for no further ticks.
            if let Some(st) = self.tasks.get_mut(&id)
                && st.status == Status::Open
                && st
                    .quorum_at
                    .is_some_and(|t| self.now_ms >= t.saturating_add(self.cfg.linger_ms))
            {
                st.quorum_at = None;
            }
        }
        let mut expired = Vec::new();
        for (id, st) in self.tasks.iter_mut() {
            if let Status::Submitted { result } = st.status {
                if st.retry {
                    st.retry = false;
                    match (&st.submission, st.task.in_response_window(now)) {
                        (Some(sub), true) => out.push(AggregatorAction::Submit(Submission {
                            resubmit: true,
                            ..sub.clone()
                        })),
                        _ => expired.push((*id, ExpiryReason::SubmissionFailed { result })),
                    }
                }
                continue;
            }
            let t = st.task.threshold_percentage;
            if !quorum::valid_threshold(t) {
                expired.push((*id, ExpiryReason::InvalidThreshold(t)));
            } else if !st.task.in_response_window(now) {
                let result = st.task.expected_result();
                // Pending claims never carried the threshold, so they were never checked: check
                // them now (one batch), so the reason counts only valid signatures.
                let mut signers: Vec<OperatorId> = st
                    .verified
                    .iter()
                    .filter(|(_, (res, _))| Some(*res) == result)
                    .map(|(op, _)| *op)
                    .collect();
                if let (Some(result), false) = (result, st.pending.is_empty()) {
                    let claims: Vec<(OperatorId, PublicKey, Signature)> = st
                        .pending
                        .iter()
                        .filter_map(|(op, sig)| {
                            let pk = st.member(op)?.pubkey?;
                            Some((*op, pk, *sig))
                        })
                        .collect();
                    let items: Vec<(PublicKey, Signature)> =
                        claims.iter().map(|(_, pk, sig)| (*pk, *sig)).collect();
                    let outcome =
                        verify_aggregate_digest(&task_response_digest(*id, result), &items);
                    signers.extend(outcome.valid.iter().map(|&i| claims[i].0));
                }
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
    /// Counted now, checked in the batch at quorum.
    Pending(Signature),
    /// Counted, already checked.
    Verified(Signature),
}

#[cfg(test)]
mod tests;
