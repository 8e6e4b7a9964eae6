//! The aggregator of the aggregated flow: per task, checks each response against the task, the
//! task's operator snapshot and the operator's registered key; keeps the valid ones grouped by
//! response digest (`avs::response_digest(task_id, response bytes)`); and once the signers of one
//! digest reach the threshold, emits one `Submit` with the aggregate signature and the
//! (ascending) non-signers the contract wants. It never computes an answer itself: the first
//! digest whose signers carry the threshold is submitted, so honest operators of an AVS may
//! disagree (an oracle whose feeds differ a little) and a minority digest is only not counted.
//! The AVS's slashing condition (`Avs::is_provably_wrong`) marks a claim as evidence, never as a
//! vote.
//!
//! Verification is batched. On receipt a response gets only the cheap checks (decoding with the
//! on-curve check, task, window, snapshot membership, registered key, one claim per operator);
//! once the claims for one digest carry the threshold, one aggregate-then-verify
//! (`crypto::aggregate::verify_aggregate_digest`: one pairing when all are valid, bisection
//! otherwise) checks them all and yields the aggregate. Invalid ones are dropped with a
//! `Rejected` for the log and the quorum is decided again: nothing unverified is submitted.
//!
//! Framing. Anyone can send a response that claims an honest operator's address. Such a forgery
//! must not take the operator's place, so a second claim for an operator who has one waiting
//! settles both at once (one pairing each; BLS signatures are unique, so at most one is valid).
//! Once an operator has been forged, its later claims are checked on receipt, so a stream of
//! forgeries costs one pairing each instead of a bisection each. A forgery costs the forged
//! operator nothing: it is never recorded against them. Provably wrong responses are checked on
//! receipt, because their signature is evidence (`ProvablyWrong`); so is a second claim of one
//! operator over another digest (`Equivocation`).
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
use crate::avs::{Avs, MAX_RESPONSE_LEN, SumAvs};
use crate::crypto::aggregate::verify_aggregate_digest;
use crate::crypto::bls::{AggregatePublicKey, PublicKey, Signature};

/// Switches that plant known bugs, so the simulator can prove it catches them. They exist in a
/// configuration only with the `planted-bugs` feature (the simulator's); a production build has
/// no field to set, and every switch reads as off.
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
    #[cfg(feature = "planted-bugs")]
    pub bugs: AggregatorBugs,
}

impl AggregatorConfig {
    /// The planted bugs in force: none without the `planted-bugs` feature.
    fn bugs(&self) -> AggregatorBugs {
        #[cfg(feature = "planted-bugs")]
        return self.bugs;
        #[cfg(not(feature = "planted-bugs"))]
        AggregatorBugs::default()
    }
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
            #[cfg(feature = "planted-bugs")]
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

/// What is handed to the chain: `respondToTask(taskId, response, nonSigners, nonSignerPubKeys,
/// aggSig)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub task_id: TaskId,
    /// The AVS's response bytes the signers signed (with the task id).
    pub response: Vec<u8>,
    /// `avs::response_digest(task_id, response)`: the BLS message of the aggregate.
    pub digest: B256,
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
        /// The digest of the response whose aggregate reached the threshold.
        digest: B256,
    },
}

impl ExpiryReason {
    /// Short kebab-case name for metrics labels and logs.
    pub fn slug(&self) -> &'static str {
        match self {
            ExpiryReason::ThresholdNotReached { .. } => "threshold-not-reached",
            ExpiryReason::InvalidThreshold(_) => "invalid-threshold",
            ExpiryReason::SubmissionFailed { .. } => "submission-failed",
        }
    }
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
            ExpiryReason::SubmissionFailed { digest } => write!(
                f,
                "window over: the aggregate for response {digest} reached the threshold but no submission landed"
            ),
        }
    }
}

/// Two valid signatures by one operator over different responses of one task: each the response
/// bytes and the signature over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    pub task_id: TaskId,
    pub operator: OperatorId,
    pub first: (Vec<u8>, Signature),
    pub second: (Vec<u8>, Signature),
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
    /// Evidence for slashing: two signatures over different responses.
    Equivocation(Equivocation),
    /// Evidence for slashing: a valid signature over a response the AVS finds provably wrong
    /// (`Avs::is_provably_wrong`); the AVS's fraud proof (`proveWrongSum` for the sum) takes it.
    ProvablyWrong {
        task_id: TaskId,
        operator: OperatorId,
        response: Vec<u8>,
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
    Submitted { digest: B256 },
}

/// One operator's claim: the digest it signed and the signature. A provably wrong claim is kept
/// (`counts: false`) as evidence and for equivocation, never towards a quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Claim {
    digest: B256,
    sig: Signature,
    counts: bool,
}

/// The claims of one task for one digest: the response bytes they signed, how many there are
/// and the stake of those that count. A group lives while it has a claim, so a task holds at
/// most one group per snapshot member, whatever forgeries arrive.
#[derive(Debug)]
struct Group {
    response: Vec<u8>,
    members: usize,
    claimed: U256,
}

#[derive(Debug)]
struct TaskState<P> {
    task: Task,
    /// The task's payload as the AVS decodes it; `None` if it does not decode, and then no
    /// response is provably wrong.
    payload: Option<P>,
    snapshot: Vec<TaskOperator>,
    total: U256,
    /// Claims whose signature is known valid, by operator (any digest, wrong ones included).
    verified: BTreeMap<OperatorId, Claim>,
    /// Claims that passed every cheap check (decoding with the on-curve check, membership, key,
    /// window, uniqueness), waiting for the one batch check when their digest carries the
    /// threshold. An operator is never in both maps.
    pending: BTreeMap<OperatorId, Claim>,
    /// The claims of `verified` and `pending`, by digest.
    groups: HashMap<B256, Group>,
    /// (digest, signature) pairs found invalid, by the operator they claimed: a repeat costs no
    /// pairing, and an operator someone forged is checked on receipt from then on. Keyed by the
    /// digest too: the operator's genuine signature replayed over another response is invalid
    /// there, and must not taint the genuine response (found by tests/fuzz_wire.rs).
    refused: BTreeMap<OperatorId, Refused>,
    /// Snapshot position by operator (lookups are per response; the snapshot can be large).
    index: HashMap<OperatorId, usize>,
    status: Status,
    /// The last submission handed out, kept so a failed one can be sent again.
    submission: Option<Submission>,
    /// Set by `SubmitFailed`: the next `Tick` resubmits (in the window) or expires the task.
    retry: bool,
    /// The digest whose claims carry the threshold, and when (ms) they first did: the linger
    /// window runs from there. A later digest that also reaches the threshold (possible below
    /// 50%) does not take its place.
    leader: Option<B256>,
    quorum_at: Option<u64>,
    /// Distinct snapshot members with a registered key: once all have a claim there is nobody
    /// left to wait for.
    keyed: usize,
}

impl<P> TaskState<P> {
    fn member(&self, op: &OperatorId) -> Option<&TaskOperator> {
        self.snapshot.get(*self.index.get(op)?)
    }

    /// Operators with a claim (any digest).
    fn claims(&self) -> usize {
        self.pending.len() + self.verified.len()
    }

    fn stake(&self, op: &OperatorId) -> U256 {
        self.member(op).map_or(U256::ZERO, |m| U256::from(m.stake))
    }

    /// Stake of the counting claims (verified and pending) for `digest`.
    fn claimed(&self, digest: &B256) -> U256 {
        self.groups.get(digest).map_or(U256::ZERO, |g| g.claimed)
    }

    fn join(&mut self, op: &OperatorId, claim: &Claim, response: &[u8]) {
        let stake = if claim.counts {
            self.stake(op)
        } else {
            U256::ZERO
        };
        let g = self.groups.entry(claim.digest).or_insert_with(|| Group {
            response: response.to_vec(),
            members: 0,
            claimed: U256::ZERO,
        });
        g.members += 1;
        g.claimed += stake;
    }

    fn leave(&mut self, op: &OperatorId, claim: &Claim) {
        let stake = if claim.counts {
            self.stake(op)
        } else {
            U256::ZERO
        };
        if let Some(g) = self.groups.get_mut(&claim.digest) {
            g.members -= 1;
            g.claimed -= stake;
            if g.members == 0 {
                self.groups.remove(&claim.digest);
            }
        }
    }

    fn add_pending(&mut self, op: OperatorId, claim: Claim, response: &[u8]) {
        self.join(&op, &claim, response);
        self.pending.insert(op, claim);
    }

    fn add_verified(&mut self, op: OperatorId, claim: Claim, response: &[u8]) {
        self.join(&op, &claim, response);
        self.verified.insert(op, claim);
    }

    /// A pending claim whose signature proved valid.
    fn promote(&mut self, op: &OperatorId) {
        if let Some(c) = self.pending.remove(op) {
            self.verified.insert(*op, c);
        }
    }

    /// A claim whose signature proved invalid.
    fn drop_claim(&mut self, op: &OperatorId) {
        if let Some(c) = self.pending.remove(op).or_else(|| self.verified.remove(op)) {
            self.leave(op, &c);
        }
    }

    /// Remember an invalid (digest, signature) pair claimed for `op`.
    fn refuse(&mut self, op: OperatorId, digest: &B256, sig: &Signature) {
        self.refused.entry(op).or_default().insert(digest, sig);
    }

    /// The response bytes of a digest some claim holds.
    fn response_of(&self, digest: &B256) -> Vec<u8> {
        self.groups
            .get(digest)
            .map(|g| g.response.clone())
            .unwrap_or_default()
    }
}

/// The invalid (digest, signature) pairs seen for one operator of a task, each kept as one hash:
/// a repeat is refused without a pairing, and the operator counts as targeted (its later claims
/// are checked on receipt). Bounded, oldest forgotten first: a forgotten forgery sent again costs
/// one pairing, never memory (38,000 forgeries once made a list, and a linear scan, of 38,000).
#[derive(Debug, Default)]
struct Refused {
    order: VecDeque<B256>,
    set: HashSet<B256>,
}

impl Refused {
    /// Pairs remembered per operator and task.
    const CAP: usize = 64;

    fn key(digest: &B256, sig: &Signature) -> B256 {
        let mut bytes = Vec::with_capacity(32 + 192);
        bytes.extend_from_slice(digest.as_slice());
        bytes.extend_from_slice(&sig.to_uncompressed());
        keccak256(bytes)
    }

    fn contains(&self, digest: &B256, sig: &Signature) -> bool {
        self.set.contains(&Self::key(digest, sig))
    }

    fn insert(&mut self, digest: &B256, sig: &Signature) {
        let d = Self::key(digest, sig);
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

/// Generic over the AVS, whose codecs and slashing condition it uses; it never asks the AVS for
/// an answer. The sum AVS is the default.
pub struct Aggregator<A: Avs = SumAvs> {
    avs: A,
    cfg: AggregatorConfig,
    tasks: BTreeMap<TaskId, TaskState<A::Payload>>,
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

impl Aggregator<SumAvs> {
    /// An aggregator of the sum AVS.
    pub fn new(cfg: AggregatorConfig) -> Self {
        Self::with_avs(SumAvs::default(), cfg)
    }

    /// Rebuild an aggregator of the sum AVS from the store's records (see
    /// [`Aggregator::restore_with`]).
    pub fn restore<'a>(
        cfg: AggregatorConfig,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Self {
        Self::restore_with(SumAvs::default(), cfg, records)
    }
}

impl<A: Avs> Aggregator<A> {
    /// An aggregator of `avs`.
    pub fn with_avs(avs: A, cfg: AggregatorConfig) -> Self {
        Self {
            avs,
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
    pub fn restore_with<'a>(
        avs: A,
        cfg: AggregatorConfig,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Self {
        let forget = cfg.bugs().forget_on_restart;
        let mut agg = Self::with_avs(avs, cfg);
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
        let payload = self.avs.decode_payload(&task.payload).ok();
        self.tasks.insert(
            task_id,
            TaskState {
                task,
                payload,
                snapshot,
                total,
                verified: BTreeMap::new(),
                pending: BTreeMap::new(),
                groups: HashMap::new(),
                refused: BTreeMap::new(),
                index,
                status: Status::Open,
                submission: None,
                retry: false,
                leader: None,
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
                let digest = match verdict {
                    Verdict::Pending(claim) => {
                        st.add_pending(operator, claim, &r.response);
                        claim.digest
                    }
                    Verdict::Verified(claim) => {
                        st.add_verified(operator, claim, &r.response);
                        claim.digest
                    }
                    Verdict::Queue => unreachable!("handled above"),
                };
                // A buffered response was persisted when it was queued.
                if origin == Origin::Wire {
                    out.push(AggregatorAction::Persist(Record::Accepted { response: r }));
                }
                if origin != Origin::Store {
                    out.push(AggregatorAction::Accepted { task_id, operator });
                }
                self.try_submit(task_id, Some(digest), out);
            }
        }
    }

    /// Every check a response goes through, cheapest first. Pairings are spent here only on what
    /// cannot wait for the batch: a provably wrong response (its signature is evidence), a second
    /// claim for an operator who already has one (one of them is forged or the operator
    /// equivocates). `settled` receives verdicts on earlier claims that such a pairing settles.
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
        if r.response.len() > MAX_RESPONSE_LEN {
            return reject(RejectReason::Malformed(format!(
                "response: {} bytes exceed the limit of {MAX_RESPONSE_LEN}",
                r.response.len()
            )));
        }
        // Bytes that are no response of this AVS can never be submitted: refused before any
        // pairing is spent on them.
        let decoded = match self.avs.decode_response(&r.response) {
            Ok(v) => v,
            Err(e) => return reject(RejectReason::Malformed(format!("response: {e}"))),
        };
        if self.closed.contains(&r.task_id) {
            return reject(RejectReason::TaskClosed);
        }
        let skip = self.cfg.bugs().skip_signature_checks;
        let avs = &self.avs;
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
        let ok = |sig: &Signature, digest: &B256| {
            if skip {
                return true;
            }
            pairings.set(pairings.get() + 1);
            pk.verify(&digest.0, sig).is_ok()
        };
        let digest = B256::from(r.digest());
        if st
            .refused
            .get(&r.operator)
            .is_some_and(|bad| bad.contains(&digest, &sig))
        {
            return reject(RejectReason::InvalidSignature);
        }

        // A claim already waiting for this operator: settle it now, with one pairing each, so
        // that a forgery that came first cannot hold the real operator's place.
        if let Some(&waiting) = st.pending.get(&r.operator) {
            if waiting.sig == sig && waiting.digest == digest {
                return reject(RejectReason::Duplicate);
            }
            if ok(&waiting.sig, &waiting.digest) {
                st.promote(&r.operator);
            } else {
                st.drop_claim(&r.operator);
                st.refuse(r.operator, &waiting.digest, &waiting.sig);
                settled.push(AggregatorAction::Rejected {
                    task_id: r.task_id,
                    operator: r.operator,
                    reason: RejectReason::InvalidSignature,
                });
            }
        }

        if let Some(&prev) = st.verified.get(&r.operator) {
            if prev.digest == digest {
                // BLS signatures are unique: another point for the same message cannot be valid.
                return reject(if prev.sig == sig {
                    RejectReason::Duplicate
                } else {
                    RejectReason::InvalidSignature
                });
            }
            if !ok(&sig, &digest) {
                st.refuse(r.operator, &digest, &sig);
                return reject(RejectReason::InvalidSignature);
            }
            let ev = AggregatorAction::Equivocation(Equivocation {
                task_id: r.task_id,
                operator: r.operator,
                first: (st.response_of(&prev.digest), prev.sig),
                second: (r.response.clone(), sig),
            });
            return Err((
                RejectReason::Conflicting {
                    previous: prev.digest,
                },
                vec![ev],
            ));
        }

        let wrong = st
            .payload
            .as_ref()
            .is_some_and(|p| avs.is_provably_wrong(p, &decoded));
        if wrong {
            if !ok(&sig, &digest) {
                st.refuse(r.operator, &digest, &sig);
                return reject(RejectReason::InvalidSignature);
            }
            let claim = Claim {
                digest,
                sig,
                counts: false,
            };
            st.add_verified(r.operator, claim, &r.response);
            let ev = AggregatorAction::ProvablyWrong {
                task_id: r.task_id,
                operator: r.operator,
                response: r.response.clone(),
                signature: sig,
            };
            return Err((RejectReason::ProvablyWrong { digest }, vec![ev]));
        }
        let claim = Claim {
            digest,
            sig,
            counts: true,
        };
        // A member with a key, nothing else claimed by it: the signature waits for the batch
        // check once its digest carries the threshold (one pairing for all of them).
        if st.refused.contains_key(&r.operator) {
            // Someone already forged this operator's response: the batch would bisect again for
            // each new forgery, so a claim for a targeted operator is checked on its own.
            if !ok(&sig, &digest) {
                st.refuse(r.operator, &digest, &sig);
                return reject(RejectReason::InvalidSignature);
            }
            return Ok(Verdict::Verified(claim));
        }
        Ok(Verdict::Pending(claim))
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
                if held.response == r.response && held.signature == r.signature {
                    RejectReason::Duplicate
                } else {
                    RejectReason::Conflicting {
                        previous: B256::from(held.digest()),
                    }
                },
                Vec::new(),
            ));
        }
        if !self.cfg.bugs().skip_signature_checks {
            self.receipt_pairings.set(self.receipt_pairings.get() + 1);
            if pk.verify(&r.digest(), &sig).is_err() {
                return Err((RejectReason::InvalidSignature, Vec::new()));
            }
        }
        Ok(Verdict::Queue)
    }

    /// Whether the counting claims for `digest` carry the task's threshold (or, with the planted
    /// bug, whether there is any).
    fn carries(st: &TaskState<A::Payload>, digest: &B256, bugs: AggregatorBugs) -> bool {
        let claimed = st.claimed(digest);
        quorum::quorum_reached(st.task.threshold_percentage, claimed, st.total).unwrap_or(false)
            || (bugs.submit_below_threshold && !claimed.is_zero())
    }

    /// Submit the task if one digest's claims carry the threshold and its linger window is over.
    /// `touched` is the digest a claim just joined; without one (a tick, or after forgeries were
    /// dropped) every digest is considered.
    fn try_submit(
        &mut self,
        task_id: TaskId,
        touched: Option<B256>,
        out: &mut Vec<AggregatorAction>,
    ) {
        let resubmit = self.restored_submitted.contains(&task_id);
        let bugs = self.cfg.bugs();
        let Some(st) = self.tasks.get_mut(&task_id) else {
            return;
        };
        if st.status != Status::Open {
            return;
        }
        // The leader keeps its place while it carries the threshold; a claim that just joined
        // another digest is the only candidate otherwise, unless the leader lost its claims
        // (forgeries dropped), when every digest is.
        let leader = st
            .leader
            .filter(|d| Self::carries(st, d, bugs))
            .or_else(|| touched.filter(|d| Self::carries(st, d, bugs)))
            .or_else(|| {
                if touched.is_some() && st.leader.is_none() {
                    return None;
                }
                st.groups
                    .iter()
                    .filter(|(d, _)| Self::carries(st, d, bugs))
                    .max_by_key(|(d, g)| (g.claimed, **d))
                    .map(|(d, _)| *d)
            });
        let Some(digest) = leader else {
            // Forged claims dropped below the threshold again: the window starts over with it.
            st.leader = None;
            st.quorum_at = None;
            return;
        };
        if st.leader != Some(digest) {
            st.leader = Some(digest);
            st.quorum_at = None;
        }
        // The planted bug submits whatever is claimed, as long as something is.
        let planted_early = bugs.submit_below_threshold;
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
        // Ascending operators: the verified and the pending claims for this digest (an
        // operator is never in both).
        let mut claims: Vec<(OperatorId, Signature)> = st
            .verified
            .iter()
            .chain(st.pending.iter())
            .filter(|(_, c)| c.counts && c.digest == digest)
            .map(|(op, c)| (*op, c.sig))
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
        let outcome = verify_aggregate_digest(&digest.0, &items);
        if !outcome.invalid.is_empty() && !bugs.skip_signature_checks {
            // Forged claims (or a corrupted store): drop them, keep the rest as verified, and
            // decide again. The claimed operators may still send their real response.
            for &i in &outcome.invalid {
                let (op, sig) = claims[i];
                st.drop_claim(&op);
                st.refuse(op, &digest, &sig);
                out.push(AggregatorAction::Rejected {
                    task_id,
                    operator: op,
                    reason: RejectReason::InvalidSignature,
                });
            }
            for &i in &outcome.valid {
                st.promote(&claims[i].0);
            }
            return self.try_submit(task_id, None, out);
        }
        let (Some(aggregate_signature), Some(aggregate_pubkey)) =
            (outcome.signature, outcome.public_key)
        else {
            return;
        };
        for op in &signers {
            st.promote(op);
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
        let response = st.response_of(&digest);
        st.status = Status::Submitted { digest };
        if !resubmit {
            out.push(AggregatorAction::Persist(Record::Submitted {
                task_id,
                response: response.clone(),
            }));
        }
        let sub = Submission {
            task_id,
            response,
            digest,
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
            self.try_submit(id, None, out);
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
            if let Status::Submitted { digest } = st.status {
                if st.retry {
                    st.retry = false;
                    match (&st.submission, st.task.in_response_window(now)) {
                        (Some(sub), true) => out.push(AggregatorAction::Submit(Submission {
                            resubmit: true,
                            ..sub.clone()
                        })),
                        _ => expired.push((*id, ExpiryReason::SubmissionFailed { digest })),
                    }
                }
                continue;
            }
            let t = st.task.threshold_percentage;
            if !quorum::valid_threshold(t) {
                expired.push((*id, ExpiryReason::InvalidThreshold(t)));
            } else if !st.task.in_response_window(now) {
                // Pending claims never carried the threshold, so they were never checked: check
                // them now (one batch per digest), so the reason counts only valid signatures:
                // the most stake any one digest had behind it.
                let mut by_digest: BTreeMap<B256, Vec<OperatorId>> = BTreeMap::new();
                for (op, c) in st.verified.iter().filter(|(_, c)| c.counts) {
                    by_digest.entry(c.digest).or_default().push(*op);
                }
                let mut waiting: BTreeMap<B256, Vec<(OperatorId, PublicKey, Signature)>> =
                    BTreeMap::new();
                for (op, c) in &st.pending {
                    if let Some(pk) = st.member(op).and_then(|m| m.pubkey) {
                        waiting.entry(c.digest).or_default().push((*op, pk, c.sig));
                    }
                }
                for (digest, claims) in waiting {
                    let items: Vec<(PublicKey, Signature)> =
                        claims.iter().map(|(_, pk, sig)| (*pk, *sig)).collect();
                    let outcome = verify_aggregate_digest(&digest.0, &items);
                    by_digest
                        .entry(digest)
                        .or_default()
                        .extend(outcome.valid.iter().map(|&i| claims[i].0));
                }
                let signed = by_digest
                    .values()
                    .map(|ops| quorum::signed_stake(&st.snapshot, ops).unwrap_or(U256::ZERO))
                    .max()
                    .unwrap_or(U256::ZERO);
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
    Pending(Claim),
    /// Counted, already checked.
    Verified(Claim),
}

#[cfg(test)]
mod tests;
