//! The task generator: asks for a new task every `interval_ms` (default 20 s), with inputs from a
//! caller-supplied source (seeded RNG or counter), and with backpressure: while more than
//! `max_pending` created tasks are not yet confirmed on chain, it waits.
//!
//! Driven like quinn's connection: `handle(now_ms, input)` returns actions, and `poll_timeout`
//! says when the driver should call `handle(_, Tick)` next. `now_ms` is any monotonic millisecond
//! clock the driver picks (tokio::time under the simulator).

use std::collections::BTreeMap;

use rand::RngCore;

use super::record::Record;
use super::types::TaskId;

/// Where the two integers of each task come from.
pub trait PairSource: Send {
    fn next_pair(&mut self) -> (u64, u64);
}

/// `(n, n + 1)`, `(n + 2, n + 3)`, …: readable, and the sums never overflow for realistic runs.
#[derive(Debug, Clone, Default)]
pub struct CounterPairs {
    pub next: u64,
}

impl PairSource for CounterPairs {
    fn next_pair(&mut self) -> (u64, u64) {
        let a = self.next;
        self.next = self.next.wrapping_add(2);
        (a, a.wrapping_add(1))
    }
}

/// Uniform pairs in `0..=max` from a caller's (seeded) RNG. With `max <= u64::MAX / 2` every sum
/// fits; a larger `max` makes overflowing tasks possible, which honest operators refuse.
pub struct RngPairs<R: RngCore + Send> {
    pub rng: R,
    pub max: u64,
}

impl<R: RngCore + Send> PairSource for RngPairs<R> {
    fn next_pair(&mut self) -> (u64, u64) {
        let mut draw = || {
            let x = self.rng.next_u64();
            if self.max == u64::MAX {
                x
            } else {
                x % (self.max + 1)
            }
        };
        (draw(), draw())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    pub interval_ms: u64,
    /// Unconfirmed tasks allowed at once; at this many, no new task is created.
    pub max_pending: usize,
    /// A task unconfirmed this long is given up (frees its slot).
    pub pending_timeout_ms: u64,
    /// Stop after this many tasks (devnet `--tasks`); `None` = forever.
    pub max_tasks: Option<u64>,
    pub threshold_percentage: u8,
    pub response_period: u64,
    pub challenge_period: u64,
    pub statistical_period: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            interval_ms: 20_000,
            max_pending: 3,
            pending_timeout_ms: 200_000,
            max_tasks: None,
            threshold_percentage: 67,
            response_period: 2,
            challenge_period: 2,
            statistical_period: 2,
        }
    }
}

/// `createNewTask(a, b, thresholdPercentage, taskResponsePeriod, taskChallengePeriod, taskStatisticalPeriod)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    pub seq: u64,
    pub a: u64,
    pub b: u64,
    pub threshold_percentage: u8,
    pub response_period: u64,
    pub challenge_period: u64,
    pub statistical_period: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorInput {
    Tick,
    /// The transaction for `seq` landed and created `task_id`.
    Confirmed {
        seq: u64,
        task_id: TaskId,
    },
    /// The transaction for `seq` failed for good (reverted, or the driver gave up).
    Failed {
        seq: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorAction {
    Persist(Record),
    CreateTask(TaskRequest),
    /// A task was due but `pending` unconfirmed tasks hold it back (emitted once per stall).
    Backpressure {
        pending: usize,
    },
    /// `seq` stayed unconfirmed past `pending_timeout_ms`; its slot is freed.
    Abandoned {
        seq: u64,
    },
    /// `max_tasks` created and all confirmed or abandoned.
    Finished,
}

#[derive(Debug, Clone)]
struct Pending {
    created_ms: Option<u64>,
}

pub struct Generator {
    cfg: GeneratorConfig,
    source: Box<dyn PairSource>,
    next_seq: u64,
    next_due_ms: Option<u64>,
    pending: BTreeMap<u64, Pending>,
    stalled: bool,
    finished: bool,
}

impl Generator {
    pub fn new(cfg: GeneratorConfig, source: Box<dyn PairSource>) -> Self {
        Self {
            cfg,
            source,
            next_seq: 0,
            next_due_ms: None,
            pending: BTreeMap::new(),
            stalled: false,
            finished: false,
        }
    }

    /// Rebuild from the store: sequence numbers continue, unconfirmed tasks stay pending (the
    /// driver reconciles them with the chain and reports `Confirmed` / `Failed`). Their age
    /// restarts at the first `handle` after the restart.
    pub fn restore<'a>(
        cfg: GeneratorConfig,
        source: Box<dyn PairSource>,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Self {
        let mut g = Self::new(cfg, source);
        for r in records {
            match r {
                Record::Created { seq, .. } => {
                    g.next_seq = g.next_seq.max(seq + 1);
                    g.pending.insert(*seq, Pending { created_ms: None });
                }
                Record::Confirmed { seq, .. } => {
                    g.next_seq = g.next_seq.max(seq + 1);
                    g.pending.remove(seq);
                }
                _ => {}
            }
        }
        g
    }

    /// Unconfirmed sequence numbers.
    pub fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.keys().copied()
    }

    /// When the driver should next call `handle(_, Tick)`; `None` once finished.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.finished {
            return None;
        }
        let due = self.next_due_ms.unwrap_or(0);
        let expiry = self
            .pending
            .values()
            .filter_map(|p| {
                p.created_ms
                    .map(|c| c.saturating_add(self.cfg.pending_timeout_ms))
            })
            .min();
        Some(expiry.map_or(due, |e| e.min(due)))
    }

    pub fn handle(&mut self, now_ms: u64, input: GeneratorInput) -> Vec<GeneratorAction> {
        let mut out = Vec::new();
        for p in self.pending.values_mut() {
            p.created_ms.get_or_insert(now_ms);
        }
        match input {
            GeneratorInput::Tick => {}
            GeneratorInput::Confirmed { seq, task_id } => {
                if self.pending.remove(&seq).is_some() {
                    out.push(GeneratorAction::Persist(Record::Confirmed {
                        seq,
                        task_id: Some(task_id),
                    }));
                }
            }
            GeneratorInput::Failed { seq } => {
                if self.pending.remove(&seq).is_some() {
                    out.push(GeneratorAction::Persist(Record::Confirmed {
                        seq,
                        task_id: None,
                    }));
                }
            }
        }
        let timeout = self.cfg.pending_timeout_ms;
        let stale: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                p.created_ms
                    .is_some_and(|c| now_ms.saturating_sub(c) >= timeout)
            })
            .map(|(s, _)| *s)
            .collect();
        for seq in stale {
            self.pending.remove(&seq);
            out.push(GeneratorAction::Persist(Record::Confirmed {
                seq,
                task_id: None,
            }));
            out.push(GeneratorAction::Abandoned { seq });
        }
        self.maybe_create(now_ms, &mut out);
        out
    }

    fn maybe_create(&mut self, now_ms: u64, out: &mut Vec<GeneratorAction>) {
        if self.finished {
            return;
        }
        let exhausted = self.cfg.max_tasks.is_some_and(|m| self.next_seq >= m);
        if exhausted {
            if self.pending.is_empty() {
                self.finished = true;
                out.push(GeneratorAction::Finished);
            }
            return;
        }
        if self.next_due_ms.is_some_and(|due| now_ms < due) {
            return;
        }
        if self.pending.len() >= self.cfg.max_pending {
            if !self.stalled {
                self.stalled = true;
                out.push(GeneratorAction::Backpressure {
                    pending: self.pending.len(),
                });
            }
            return;
        }
        self.stalled = false;
        let seq = self.next_seq;
        self.next_seq += 1;
        let (a, b) = self.source.next_pair();
        self.pending.insert(
            seq,
            Pending {
                created_ms: Some(now_ms),
            },
        );
        // Keep the cadence steady, but never schedule in the past after a long stall.
        let next = self
            .next_due_ms
            .unwrap_or(now_ms)
            .saturating_add(self.cfg.interval_ms);
        self.next_due_ms = Some(next.max(now_ms));
        out.push(GeneratorAction::Persist(Record::Created { seq, a, b }));
        out.push(GeneratorAction::CreateTask(TaskRequest {
            seq,
            a,
            b,
            threshold_percentage: self.cfg.threshold_percentage,
            response_period: self.cfg.response_period,
            challenge_period: self.cfg.challenge_period,
            statistical_period: self.cfg.statistical_period,
        }));
    }
}

#[cfg(test)]
mod tests;
