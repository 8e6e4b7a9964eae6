//! The challenger: once a task's statistical window is over, it takes what the chain reports
//! (the accepted aggregate or the two-phase commits, plus proven wrong signatures) and computes,
//! by the AVS's own rule, who answered correctly, who signed a wrong response, who stayed silent, the actual threshold
//! and `isExpected`, then emits the `challenge` call that settles rewards and slashing.
//!
//! `isExpected = actualThreshold >= thresholdPercentage` (the reference's rule), with
//! `actualThreshold = floor(signedStake * 100 / totalStake)`. For integer thresholds this is the
//! same decision as the contract's quorum rule (`signed*100 >= t*total`); a test checks it.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::U256;

use super::quorum;
use super::record::Record;
use super::types::{Epoch, Flow, OperatorId, Task, TaskId, TaskOperator};
use crate::avs::{Avs, SumAvs};

/// What the chain says about a task after its windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskReport {
    pub task: Task,
    pub snapshot: Vec<TaskOperator>,
    pub flow: Flow,
    /// Aggregated flow: the accepted `respondToTask` (response bytes and non-signers), if any.
    pub aggregate: Option<AcceptedAggregate>,
    /// Two-phase flow: the response bytes committed (phase 2) with a valid signature, per
    /// operator (the commit without its 32-byte task id prefix).
    pub commits: Vec<(OperatorId, Vec<u8>)>,
    /// Operators proven to have signed a wrong result (fraud proofs, equivocation evidence).
    pub proven_wrong: Vec<OperatorId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedAggregate {
    /// The AVS's response bytes the aggregate signed.
    pub response: Vec<u8>,
    pub non_signers: Vec<OperatorId>,
}

/// The settlement: `challenge(taskID, nonSigners)` on the AVS contract, which forwards the
/// precompile's `challenge(sender, taskID, taskAddress, actualThreshold, isExpected, reward, slash)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeCall {
    pub task_id: TaskId,
    pub actual_threshold: u8,
    pub is_expected: bool,
    /// Ascending.
    pub reward: Vec<OperatorId>,
    /// Ascending. Aggregated flow: the wrong only (absence is never slashed). Two-phase flow:
    /// the wrong and the silent, as Imua's rule for it has it.
    pub slash: Vec<OperatorId>,
    pub wrong: Vec<OperatorId>,
    pub silent: Vec<OperatorId>,
    /// Snapshot members that did not sign the correct result, ascending.
    pub non_signers: Vec<OperatorId>,
    pub signed_stake: U256,
    pub total_stake: U256,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengerInput {
    /// The chain's account of a task (may come before its window ends; it waits).
    Report(TaskReport),
    Tick,
    /// The challenge transaction landed (or the chain says the task was already challenged).
    Settled {
        task_id: TaskId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengerAction {
    Challenge(ChallengeCall),
    Persist(Record),
}

/// Settles tasks for one AVS, whose rule ([`Avs::is_provably_wrong`]) says which responses are
/// wrong. Call order: `handle(now, Report)` as the chain reports tasks, `handle(now, Tick)` each
/// epoch, `handle(now, Settled)` when a challenge landed.
pub struct Challenger<A: Avs = SumAvs> {
    avs: A,
    waiting: BTreeMap<TaskId, TaskReport>,
    issued: BTreeSet<TaskId>,
    closed: BTreeSet<TaskId>,
}

impl Default for Challenger<SumAvs> {
    fn default() -> Self {
        Self::new()
    }
}

impl Challenger<SumAvs> {
    /// The sum AVS's challenger.
    pub fn new() -> Self {
        Self::with_avs(SumAvs::default())
    }

    pub fn restore<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        Self::restore_with(SumAvs::default(), records)
    }
}

impl<A: Avs> Challenger<A> {
    pub fn with_avs(avs: A) -> Self {
        Self {
            avs,
            waiting: BTreeMap::new(),
            issued: BTreeSet::new(),
            closed: BTreeSet::new(),
        }
    }

    pub fn restore_with<'a>(avs: A, records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut c = Self::with_avs(avs);
        for r in records {
            if let Record::Closed { task_id } = r {
                c.closed.insert(*task_id);
            }
        }
        c
    }

    pub fn handle(&mut self, now: Epoch, input: ChallengerInput) -> Vec<ChallengerAction> {
        match input {
            ChallengerInput::Report(r) => {
                let id = r.task.id;
                if !self.closed.contains(&id) && !self.issued.contains(&id) {
                    self.waiting.insert(id, r);
                }
            }
            ChallengerInput::Tick => {}
            ChallengerInput::Settled { task_id } => {
                self.waiting.remove(&task_id);
                self.issued.remove(&task_id);
                if self.closed.insert(task_id) {
                    return vec![ChallengerAction::Persist(Record::Closed { task_id })];
                }
                return Vec::new();
            }
        }
        let due: Vec<TaskId> = self
            .waiting
            .iter()
            .filter(|(_, r)| now > r.task.statistical_end())
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in due {
            if let Some(r) = self.waiting.remove(&id) {
                self.issued.insert(id);
                out.push(ChallengerAction::Challenge(settle_with(&self.avs, &r)));
            }
        }
        out
    }
}

/// Whether `response` (the AVS's bytes) is a correct answer to a task with `payload`: both decode
/// and the AVS's slashing condition does not hold. This is the Rust twin of the base contract's
/// `_isCorrectCommit` and `_isProvablyWrong` hooks, which an AVS's contract defines alike.
pub fn is_correct<A: Avs>(avs: &A, payload: &[u8], response: &[u8]) -> bool {
    match (avs.decode_payload(payload), avs.decode_response(response)) {
        (Ok(p), Ok(r)) => !avs.is_provably_wrong(&p, &r),
        _ => false,
    }
}

/// [`settle_with`] for the sum AVS.
pub fn settle(r: &TaskReport) -> ChallengeCall {
    settle_with(&SumAvs::default(), r)
}

/// The pure computation, usable on its own (tests, the simulator's auditor).
pub fn settle_with<A: Avs>(avs: &A, r: &TaskReport) -> ChallengeCall {
    let members: BTreeSet<OperatorId> = r.snapshot.iter().map(|m| m.operator).collect();
    let proven: BTreeSet<OperatorId> = r
        .proven_wrong
        .iter()
        .copied()
        .filter(|o| members.contains(o))
        .collect();
    let mut correct = BTreeSet::new();
    let mut wrong: BTreeSet<OperatorId> = proven.clone();
    match r.flow {
        Flow::Aggregated => {
            if let Some(agg) = &r.aggregate {
                let non: BTreeSet<OperatorId> = agg.non_signers.iter().copied().collect();
                let signers = r
                    .snapshot
                    .iter()
                    .filter(|m| m.pubkey.is_some() && !non.contains(&m.operator))
                    .map(|m| m.operator);
                let right = is_correct(avs, &r.task.payload, &agg.response);
                for s in signers {
                    if right {
                        correct.insert(s);
                    } else {
                        wrong.insert(s);
                    }
                }
            }
        }
        Flow::TwoPhase => {
            let mut by_op: BTreeMap<OperatorId, BTreeSet<&[u8]>> = BTreeMap::new();
            for (op, res) in &r.commits {
                if members.contains(op) {
                    by_op.entry(*op).or_default().insert(res.as_slice());
                }
            }
            for (op, results) in by_op {
                // Two different committed responses is equivocation, whatever one of them is.
                if results.len() == 1
                    && results
                        .iter()
                        .next()
                        .is_some_and(|res| is_correct(avs, &r.task.payload, res))
                {
                    correct.insert(op);
                } else {
                    wrong.insert(op);
                }
            }
        }
    }
    let correct: BTreeSet<OperatorId> = correct.difference(&proven).copied().collect();
    let silent: BTreeSet<OperatorId> = members
        .iter()
        .filter(|o| !correct.contains(*o) && !wrong.contains(*o))
        .copied()
        .collect();
    let signers: Vec<OperatorId> = correct.iter().copied().collect();
    let total = quorum::total_stake(&r.snapshot);
    let signed = quorum::signed_stake(&r.snapshot, &signers).unwrap_or(U256::ZERO);
    let actual = quorum::actual_threshold(signed, total);
    // The default rule of `AvsServiceBase`: only proven faults slash in the aggregated flow (the
    // silent forfeit the reward); the two-phase flow keeps Imua's rule, where no correct commit
    // within the windows is slashed.
    let slash: BTreeSet<OperatorId> = match r.flow {
        Flow::Aggregated => wrong.clone(),
        Flow::TwoPhase => wrong.union(&silent).copied().collect(),
    };
    ChallengeCall {
        task_id: r.task.id,
        actual_threshold: actual,
        is_expected: actual >= r.task.threshold_percentage
            && quorum::valid_threshold(r.task.threshold_percentage),
        reward: signers,
        slash: slash.into_iter().collect(),
        wrong: wrong.into_iter().collect(),
        silent: silent.into_iter().collect(),
        non_signers: members
            .iter()
            .filter(|o| !correct.contains(*o))
            .copied()
            .collect(),
        signed_stake: signed,
        total_stake: total,
    }
}

#[cfg(test)]
mod tests;
