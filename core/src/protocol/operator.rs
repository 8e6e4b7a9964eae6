//! The honest operator: sees a task, has the AVS compute its answer (`Avs::compute`, the sum
//! `a + b` by default), signs `avs::response_digest(task_id, response bytes)`, and hands the
//! signature out — to the aggregator (aggregated flow) or to the chain in two phases (two-phase
//! flow).
//!
//! Safety rule: it never signs two different responses for one task. Every new signature is
//! preceded by `Persist(Record::Signed)` with the response bytes and the hash of the payload they
//! answer; the driver makes that durable before it carries out the next action ("persist then
//! send"). After a restart `restore` reloads the ledger, and a task seen again is answered with the
//! response already recorded, never computed again: an AVS whose inputs move (a price feed) would
//! compute another answer. BLS signatures are deterministic, so the bytes are the same too. A task
//! seen again with another payload (a reorg that reused the id) is refused.
//!
//! Order of calls: the driver feeds each task event, in block order, as `TaskSeen`, then a `Tick`
//! after every poll of the chain, and executes the actions each returns in order. After a poll
//! that read events through block B it may persist `resume_after(B)` as its cursor: a restart
//! then reads from the block after it, which still covers every task whose window is open, so
//! nothing signed is lost and nothing outside its window is sent again.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{Address, B256, keccak256};
use rand::{RngCore, SeedableRng};

use super::record::Record;
use super::types::{Epoch, Flow, Response, Task, TaskId};
use crate::avs::{self, Avs, ComputeCtx, MAX_RESPONSE_LEN, SumAvs};
use crate::crypto::bls::{SecretKey, Signature};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorInput {
    /// A task event (possibly seen again after a restart or a reorg).
    TaskSeen(Task),
    /// Time moved (two-phase: commits become due).
    Tick,
    /// The two-phase transaction of `phase` landed for `task_id`.
    Confirmed { task_id: TaskId, phase: Phase },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Prepare = 1,
    Commit = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefuseReason {
    /// The AVS has no answer to sign (`Avs::compute` returned `None`; for the sum: `a + b`
    /// does not fit in uint64).
    NoAnswer,
    /// The task's payload bytes are no payload of this AVS.
    BadPayload(String),
    /// The AVS's response encodes to more than `avs::MAX_RESPONSE_LEN` bytes: no aggregator
    /// would take it.
    ResponseTooLong { len: usize },
    /// The response / prepare window closed before the operator saw the task.
    Late,
    /// The ledger holds a response to another payload for this task id (a changed task event,
    /// e.g. after a reorg with a reused id): signing again would be equivocation. Both are
    /// keccak256 hashes of payload bytes.
    LedgerConflict { signed_for: B256, now: B256 },
}

impl RefuseReason {
    /// Short kebab-case name for metrics labels and logs.
    pub fn slug(&self) -> &'static str {
        match self {
            RefuseReason::NoAnswer => "no-answer",
            RefuseReason::BadPayload(_) => "bad-payload",
            RefuseReason::ResponseTooLong { .. } => "response-too-long",
            RefuseReason::Late => "late",
            RefuseReason::LedgerConflict { .. } => "ledger-conflict",
        }
    }
}

impl std::fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefuseReason::NoAnswer => write!(f, "the AVS has no answer to sign"),
            RefuseReason::BadPayload(e) => write!(f, "task payload: {e}"),
            RefuseReason::ResponseTooLong { len } => write!(
                f,
                "response of {len} bytes exceeds the limit of {MAX_RESPONSE_LEN}"
            ),
            RefuseReason::Late => write!(f, "response window is over"),
            RefuseReason::LedgerConflict { signed_for, now } => {
                write!(
                    f,
                    "already signed for payload {signed_for}, task now carries payload {now}"
                )
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorAction {
    /// Make durable before carrying out any later action.
    Persist(Record),
    /// Aggregated flow: send to the aggregator.
    SendResponse(Response),
    /// Two-phase flow, phase 1: `operatorSubmitTask(taskID, "", sig, 1)`.
    SubmitPrepare {
        task_id: TaskId,
        signature: Signature,
    },
    /// Two-phase flow, phase 2: `operatorSubmitTask(taskID, response_bytes, sig, 2)` with
    /// `response_bytes = avs::signed_bytes(taskID, response)` (for the sum: `abi.encode(taskID,
    /// sum)`, as Imua's x/avs reads it).
    SubmitCommit {
        task_id: TaskId,
        response: Vec<u8>,
        response_bytes: Vec<u8>,
        signature: Signature,
    },
    Refused {
        task_id: TaskId,
        reason: RefuseReason,
    },
}

#[derive(Debug)]
struct Pending {
    task: Task,
    response: Vec<u8>,
    signature: Signature,
    prepared: bool,
    commit_sent: bool,
    committed: bool,
}

/// Switches that plant known bugs, so the simulator can prove it catches them. Only the
/// `planted-bugs` feature (the simulator's) can set them ([`Operator::set_bugs`]); in a
/// production build they stay off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperatorBugs {
    /// Forget the signed-task ledger (as if it were never persisted): after a restart the
    /// operator signs whatever the task event now says, even if it signed another result before.
    pub ignore_ledger: bool,
}

/// What the ledger holds for a task: the hash of the payload answered and the response signed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signed {
    payload: B256,
    response: Vec<u8>,
}

/// Generic over the AVS, which computes the answers; the sum AVS is the default.
pub struct Operator<A: Avs = SumAvs> {
    avs: A,
    /// The randomness `Avs::compute` sees (`ComputeCtx::rng`), from the driver: seeded per
    /// operator under the simulator.
    rng: Box<dyn RngCore + Send + Sync>,
    bugs: OperatorBugs,
    address: Address,
    key: SecretKey,
    flow: Flow,
    /// task id → what was signed. Loaded from the store; only grows.
    ledger: HashMap<TaskId, Signed>,
    /// Two-phase tasks whose commit is still to come.
    two_phase: BTreeMap<TaskId, Pending>,
    /// Tasks answered whose window is not over yet: task id → (block of its event, last epoch
    /// in which sending again can count). A restart must read their events again; everything
    /// older it may skip (`resume_after`). Pruned on every tick, so it stays one window wide.
    open: BTreeMap<TaskId, (u64, Epoch)>,
}

impl Operator<SumAvs> {
    /// An operator of the sum AVS (which draws no randomness).
    pub fn new(address: Address, key: SecretKey, flow: Flow) -> Self {
        Self::with_avs(
            SumAvs::default(),
            Box::new(rand::rngs::StdRng::seed_from_u64(0)),
            address,
            key,
            flow,
        )
    }

    /// Rebuild an operator of the sum AVS from the store's records (see
    /// [`Operator::restore_with`]).
    pub fn restore<'a>(
        address: Address,
        key: SecretKey,
        flow: Flow,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Self {
        let mut op = Self::new(address, key, flow);
        op.load(records);
        op
    }
}

impl<A: Avs> Operator<A> {
    /// An operator of `avs`, whose `compute` draws from `rng`.
    pub fn with_avs(
        avs: A,
        rng: Box<dyn RngCore + Send + Sync>,
        address: Address,
        key: SecretKey,
        flow: Flow,
    ) -> Self {
        Self {
            avs,
            rng,
            bugs: OperatorBugs::default(),
            address,
            key,
            flow,
            ledger: HashMap::new(),
            two_phase: BTreeMap::new(),
            open: BTreeMap::new(),
        }
    }

    /// Plant bugs (tests only). `ignore_ledger` drops what `restore` loaded.
    #[cfg(feature = "planted-bugs")]
    pub fn set_bugs(&mut self, bugs: OperatorBugs) {
        self.bugs = bugs;
        if bugs.ignore_ledger {
            self.ledger.clear();
        }
    }

    /// Rebuild from the store's records (other record kinds are ignored).
    pub fn restore_with<'a>(
        avs: A,
        rng: Box<dyn RngCore + Send + Sync>,
        address: Address,
        key: SecretKey,
        flow: Flow,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Self {
        let mut op = Self::with_avs(avs, rng, address, key, flow);
        op.load(records);
        op
    }

    fn load<'a>(&mut self, records: impl IntoIterator<Item = &'a Record>) {
        for r in records {
            if let Record::Signed {
                task_id,
                payload,
                response,
            } = r
            {
                // First record wins: a later one for the same task could only come from a bug.
                self.ledger.entry(*task_id).or_insert_with(|| Signed {
                    payload: *payload,
                    response: response.clone(),
                });
            }
        }
    }

    pub fn address(&self) -> Address {
        self.address
    }

    /// The last block whose task events a restart need not read again, given that events up
    /// to `through` have been handled: just below the oldest task whose window is still open,
    /// or `through` when none is. `None` when even the first block must be read again. The
    /// driver persists it as `Record::Cursor` and, after a restart, reads from the block after.
    pub fn resume_after(&self, through: u64) -> Option<u64> {
        match self.open.values().map(|&(block, _)| block).min() {
            None => Some(through),
            Some(0) => None,
            Some(oldest) => Some((oldest - 1).min(through)),
        }
    }

    /// The response bytes this operator signed for `task_id`, if any.
    pub fn signed(&self, task_id: TaskId) -> Option<&[u8]> {
        self.ledger.get(&task_id).map(|s| s.response.as_slice())
    }

    pub fn handle(&mut self, now: Epoch, input: OperatorInput) -> Vec<OperatorAction> {
        match input {
            OperatorInput::TaskSeen(task) => self.on_task(now, task),
            OperatorInput::Tick => self.on_tick(now),
            OperatorInput::Confirmed { task_id, phase } => {
                if let Some(p) = self.two_phase.get_mut(&task_id) {
                    match phase {
                        Phase::Prepare => p.prepared = true,
                        Phase::Commit => p.committed = true,
                    }
                    if p.committed {
                        self.two_phase.remove(&task_id);
                    }
                }
                Vec::new()
            }
        }
    }

    fn on_task(&mut self, now: Epoch, task: Task) -> Vec<OperatorAction> {
        let task_id = task.id;
        let payload_hash = keccak256(&task.payload);
        let refuse = |reason| {
            vec![OperatorAction::Refused {
                task_id: task.id,
                reason,
            }]
        };
        let useful = match self.flow {
            Flow::Aggregated => task.in_response_window(now),
            Flow::TwoPhase => now <= task.statistical_end(),
        };
        let mut out = Vec::new();
        let known = self.ledger.get(&task_id).cloned();
        let response = match known {
            Some(s) if s.payload == payload_hash => {
                // Seen again (a restart re-reads the chain): signed once, never computed again,
                // and sent again only while it can still count. A restarted operator with a long
                // ledger must not replay its whole history at the aggregator.
                if !useful {
                    return Vec::new();
                }
                s.response
            }
            known => {
                // A task first seen after its window is left alone: signing it helps nobody.
                if known.is_none() && !task.in_response_window(now) {
                    return refuse(RefuseReason::Late);
                }
                let response = match self.answer(task_id, &task.payload, now) {
                    Ok(r) => r,
                    Err(reason) => return refuse(reason),
                };
                match known {
                    // The task changed (a reorg reused its id) but asks for the same answer:
                    // the same bytes, so the same signature, is no second response.
                    Some(s) if s.response == response => {
                        if !useful {
                            return Vec::new();
                        }
                        response
                    }
                    Some(s) if !self.bugs.ignore_ledger => {
                        return refuse(RefuseReason::LedgerConflict {
                            signed_for: s.payload,
                            now: payload_hash,
                        });
                    }
                    _ => {
                        if !task.in_response_window(now) {
                            return refuse(RefuseReason::Late);
                        }
                        self.ledger.insert(
                            task_id,
                            Signed {
                                payload: payload_hash,
                                response: response.clone(),
                            },
                        );
                        out.push(OperatorAction::Persist(Record::Signed {
                            task_id,
                            payload: payload_hash,
                            response: response.clone(),
                        }));
                        response
                    }
                }
            }
        };
        let last_useful = match self.flow {
            Flow::Aggregated => task.response_deadline(),
            Flow::TwoPhase => task.statistical_end(),
        };
        self.open.insert(task_id, (task.created_block, last_useful));
        let signature = self.key.sign(&avs::response_digest(task_id, &response));
        match self.flow {
            Flow::Aggregated => out.push(OperatorAction::SendResponse(Response {
                task_id,
                response,
                operator: self.address,
                signature: signature.to_uncompressed().to_vec(),
            })),
            Flow::TwoPhase => {
                let pending = self.two_phase.entry(task_id).or_insert(Pending {
                    task: task.clone(),
                    response,
                    signature,
                    prepared: false,
                    commit_sent: false,
                    committed: false,
                });
                if task.in_response_window(now) && !pending.prepared {
                    out.push(OperatorAction::SubmitPrepare { task_id, signature });
                }
                out.extend(self.on_tick(now));
            }
        }
        out
    }

    /// The AVS's answer to a payload, as the response bytes to sign.
    fn answer(
        &mut self,
        task_id: TaskId,
        payload: &[u8],
        now: Epoch,
    ) -> Result<Vec<u8>, RefuseReason> {
        let payload = self
            .avs
            .decode_payload(payload)
            .map_err(|e| RefuseReason::BadPayload(e.to_string()))?;
        let mut ctx = ComputeCtx {
            operator: self.address,
            task_id,
            now,
            rng: &mut *self.rng,
        };
        let answer = self
            .avs
            .compute(&payload, &mut ctx)
            .ok_or(RefuseReason::NoAnswer)?;
        let response = self.avs.encode_response(&answer);
        if response.len() > MAX_RESPONSE_LEN {
            return Err(RefuseReason::ResponseTooLong {
                len: response.len(),
            });
        }
        Ok(response)
    }

    fn on_tick(&mut self, now: Epoch) -> Vec<OperatorAction> {
        self.open
            .retain(|_, &mut (_, last_useful)| now <= last_useful);
        let mut out = Vec::new();
        self.two_phase.retain(|&task_id, p| {
            if now > p.task.statistical_end() {
                // Commit window gone; nothing more this operator can do for the task.
                return false;
            }
            // Without a landed prepare, a commit would be refused on chain; after a restart we do
            // not know, so `commit_sent` starts false and the driver's chain read decides.
            if p.task.in_commit_window(now) && !p.commit_sent {
                p.commit_sent = true;
                out.push(OperatorAction::SubmitCommit {
                    task_id,
                    response: p.response.clone(),
                    response_bytes: avs::signed_bytes(task_id, &p.response),
                    signature: p.signature,
                });
            }
            true
        });
        out
    }
}

#[cfg(test)]
mod tests;
