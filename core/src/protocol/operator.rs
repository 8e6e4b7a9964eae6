//! The honest operator: sees a task, computes `a + b`, signs it, and hands the signature out —
//! to the aggregator (aggregated flow) or to the chain in two phases (two-phase flow).
//!
//! Safety rule: it never signs two different results for one task. Every new signature is
//! preceded by `Persist(Record::Signed)`; the driver makes that durable before it carries out the
//! next action ("persist then send"). After a restart `restore` reloads the ledger, and a task seen
//! again is answered with the result already recorded (BLS signatures are deterministic, so the
//! bytes are the same too).
//!
//! Order of calls: the driver feeds each task event, in block order, as `TaskSeen`, then a `Tick`
//! after every poll of the chain, and executes the actions each returns in order. After a poll
//! that read events through block B it may persist `resume_after(B)` as its cursor: a restart
//! then reads from the block after it, which still covers every task whose window is open, so
//! nothing signed is lost and nothing outside its window is sent again.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::Address;

use super::record::Record;
use super::types::{Epoch, Flow, Response, Task, TaskId};
use crate::avs::SumAvs;
use crate::crypto::bls::{SecretKey, Signature};
use crate::crypto::messages;

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
    /// `a + b` does not fit in uint64: there is no correct answer to sign.
    SumOverflow,
    /// The response / prepare window closed before the operator saw the task.
    Late,
    /// The ledger holds a different result for this task (a changed task event, e.g. after a
    /// reorg with a reused id): signing would be equivocation.
    LedgerConflict { signed: u64, now: u64 },
}

impl std::fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefuseReason::SumOverflow => write!(f, "a + b overflows uint64"),
            RefuseReason::Late => write!(f, "response window is over"),
            RefuseReason::LedgerConflict { signed, now } => {
                write!(
                    f,
                    "already signed {signed} for this task, task now asks for {now}"
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
    /// Two-phase flow, phase 2: `operatorSubmitTask(taskID, abi.encode(taskID, result), sig, 2)`.
    SubmitCommit {
        task_id: TaskId,
        result: u64,
        response_bytes: [u8; 64],
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
    result: u64,
    signature: Signature,
    prepared: bool,
    commit_sent: bool,
    committed: bool,
}

/// Switches that plant known bugs, so the simulator can prove it catches them. Off by default;
/// never turn them on outside tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperatorBugs {
    /// Forget the signed-task ledger (as if it were never persisted): after a restart the
    /// operator signs whatever the task event now says, even if it signed another result before.
    pub ignore_ledger: bool,
}

pub struct Operator {
    bugs: OperatorBugs,
    address: Address,
    key: SecretKey,
    flow: Flow,
    /// task id → result signed. Loaded from the store; only grows.
    ledger: HashMap<TaskId, u64>,
    /// Two-phase tasks whose commit is still to come.
    two_phase: BTreeMap<TaskId, Pending>,
    /// Tasks answered whose window is not over yet: task id → (block of its event, last epoch
    /// in which sending again can count). A restart must read their events again; everything
    /// older it may skip (`resume_after`). Pruned on every tick, so it stays one window wide.
    open: BTreeMap<TaskId, (u64, Epoch)>,
}

impl Operator {
    pub fn new(address: Address, key: SecretKey, flow: Flow) -> Self {
        Self {
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
    pub fn set_bugs(&mut self, bugs: OperatorBugs) {
        self.bugs = bugs;
        if bugs.ignore_ledger {
            self.ledger.clear();
        }
    }

    /// Rebuild from the store's records (other record kinds are ignored).
    pub fn restore<'a>(
        address: Address,
        key: SecretKey,
        flow: Flow,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Self {
        let mut op = Self::new(address, key, flow);
        for r in records {
            if let Record::Signed { task_id, result } = r {
                // First record wins: a later one for the same task could only come from a bug.
                op.ledger.entry(*task_id).or_insert(*result);
            }
        }
        op
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

    /// The result this operator signed for `task_id`, if any.
    pub fn signed(&self, task_id: TaskId) -> Option<u64> {
        self.ledger.get(&task_id).copied()
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
        let Some(result) = task.expected_result() else {
            return vec![OperatorAction::Refused {
                task_id,
                reason: RefuseReason::SumOverflow,
            }];
        };
        let mut out = Vec::new();
        match self.ledger.get(&task_id) {
            Some(&signed) if signed != result && !self.bugs.ignore_ledger => {
                return vec![OperatorAction::Refused {
                    task_id,
                    reason: RefuseReason::LedgerConflict {
                        signed,
                        now: result,
                    },
                }];
            }
            Some(&signed) if signed == result => {
                // Seen again (a restart re-reads the chain): signed once, and sent again only
                // while it can still count. A restarted operator with a long ledger must not
                // replay its whole history at the aggregator.
                let useful = match self.flow {
                    Flow::Aggregated => task.in_response_window(now),
                    Flow::TwoPhase => now <= task.statistical_end(),
                };
                if !useful {
                    return Vec::new();
                }
            }
            _ => {
                // A task first seen after its window is left alone: signing it helps nobody.
                if !task.in_response_window(now) {
                    return vec![OperatorAction::Refused {
                        task_id,
                        reason: RefuseReason::Late,
                    }];
                }
                self.ledger.insert(task_id, result);
                out.push(OperatorAction::Persist(Record::Signed { task_id, result }));
            }
        }
        let last_useful = match self.flow {
            Flow::Aggregated => task.response_deadline(),
            Flow::TwoPhase => task.statistical_end(),
        };
        self.open.insert(task_id, (task.created_block, last_useful));
        let signature = self
            .key
            .sign(&messages::task_response_digest(task_id, result));
        match self.flow {
            Flow::Aggregated => out.push(OperatorAction::SendResponse(Response {
                task_id,
                response: SumAvs::response_bytes(result),
                operator: self.address,
                signature: signature.to_uncompressed().to_vec(),
            })),
            Flow::TwoPhase => {
                let pending = self.two_phase.entry(task_id).or_insert(Pending {
                    task: task.clone(),
                    result,
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
                    result: p.result,
                    response_bytes: messages::task_response_bytes(task_id, p.result),
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
