//! The task generator: asks for a new task every `interval_ms` (default 20 s), with payloads from
//! a caller-supplied source (an AVS's own rule over a seeded RNG, or a counter), and with backpressure: while `max_pending`
//! requests are not yet on chain, it waits.
//!
//! Every planned task lands exactly once, across lost replies, timeouts and crashes. A request
//! goes through two steps, each answered by the driver:
//! 1. `CreateTask(req)`: the driver signs the `createNewTask` transaction and answers
//!    `Signed { seq, raw }` (nothing is sent yet). The machine persists the bytes
//!    (`Record::TxSigned`) and only then asks for them to be sent.
//! 2. `Broadcast { seq, raw }`: the driver sends those bytes and waits for the receipt, and
//!    answers `Confirmed`, `Rejected` (it reverted, or its nonce went to another transaction:
//!    it can never land) or `Unresolved` (no answer yet: the node is unreachable, say).
//!
//! `Unresolved` is retried after `retry_ms` with the same bytes, however often: one nonce, so
//! they land at most once. Only `Rejected` signs afresh, and after `max_attempts` rejections the
//! request is given up (`Abandoned`). After a restart every request without a `Confirmed` record
//! resumes: broadcast again if its bytes were persisted, else signed anew (its bytes never left
//! the node). The source is advanced past the requests already made, so a seeded source gives
//! request `seq` the same inputs whether or not the generator restarted in between.
//!
//! Signed bytes are sent in the order they were signed, one request at a time: a `Broadcast`
//! is handed out only for the earliest-signed request whose bytes are not yet settled. The
//! driver signs one request at a time, so each signature takes the nonce after the one before,
//! and a chain mines no nonce before the one below it: sending later bytes first only makes the
//! driver wait out its whole receipt timeout for a transaction that cannot land (a send lost to
//! an RPC reset once held the generator up for 60 s this way, and then the tasks landed in a
//! burst). Signing order, not sequence order: a request whose signing failed is signed again
//! after later ones, at a higher nonce (ordering by sequence then held the lower nonce back
//! behind the higher one for good: chain-faults seed 129498401868456).
//!
//! Driven like quinn's connection: `handle(now_ms, input)` returns actions, and `poll_timeout`
//! says when the driver should call `handle(_, Tick)` next. `now_ms` is any monotonic millisecond
//! clock the driver picks (tokio::time under the simulator).

use std::collections::BTreeMap;

use alloy_primitives::Bytes;
use rand::RngCore;

use super::record::Record;
use super::types::TaskId;
use crate::avs::{Avs, SumAvs};

/// Where each task's payload (the AVS's ABI bytes, as `createNewTask` takes them) comes from.
/// Called once per request, in sequence order; `restore` calls it again for the requests already
/// made, so a seeded source gives request `seq` the same payload across restarts.
pub trait PayloadSource: Send {
    fn next_payload(&mut self) -> Vec<u8>;
}

/// Any AVS's own generator rule ([`Avs::next_payload`]) over a caller's (seeded) RNG.
pub struct AvsPayloads<A: Avs, R: RngCore + Send> {
    pub avs: A,
    pub rng: R,
}

impl<A: Avs, R: RngCore + Send> PayloadSource for AvsPayloads<A, R> {
    fn next_payload(&mut self) -> Vec<u8> {
        let p = self.avs.next_payload(&mut self.rng);
        self.avs.encode_payload(&p)
    }
}

/// The sum's pairs `(n, n + 1)`, `(n + 2, n + 3)`, …: readable, and the sums never overflow for
/// realistic runs.
#[derive(Debug, Clone, Default)]
pub struct CounterPairs {
    pub next: u64,
}

impl CounterPairs {
    pub fn next_pair(&mut self) -> (u64, u64) {
        let a = self.next;
        self.next = self.next.wrapping_add(2);
        (a, a.wrapping_add(1))
    }
}

impl PayloadSource for CounterPairs {
    fn next_payload(&mut self) -> Vec<u8> {
        let (a, b) = self.next_pair();
        SumAvs::payload_bytes(a, b)
    }
}

/// The sum's uniform pairs in `0..=max` from a caller's (seeded) RNG. With `max <= u64::MAX / 2`
/// every sum fits; a larger `max` makes overflowing tasks possible, which honest operators
/// refuse.
pub struct RngPairs<R: RngCore + Send> {
    pub rng: R,
    pub max: u64,
}

impl<R: RngCore + Send> RngPairs<R> {
    pub fn next_pair(&mut self) -> (u64, u64) {
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

impl<R: RngCore + Send> PayloadSource for RngPairs<R> {
    fn next_payload(&mut self) -> Vec<u8> {
        let (a, b) = self.next_pair();
        SumAvs::payload_bytes(a, b)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    pub interval_ms: u64,
    /// Requests not yet on chain allowed at once; at this many, no new request is made.
    pub max_pending: usize,
    /// After `Unresolved` or `Rejected`, wait this long before the next try.
    pub retry_ms: u64,
    /// `Rejected` this many times: the request is given up.
    pub max_attempts: u32,
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
            retry_ms: 2_000,
            max_attempts: 5,
            max_tasks: None,
            threshold_percentage: 67,
            response_period: 2,
            challenge_period: 2,
            statistical_period: 2,
        }
    }
}

/// `createNewTask(payload, thresholdPercentage, taskResponsePeriod, taskChallengePeriod, taskStatisticalPeriod)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    pub seq: u64,
    pub payload: Vec<u8>,
    pub threshold_percentage: u8,
    pub response_period: u64,
    pub challenge_period: u64,
    pub statistical_period: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorInput {
    Tick,
    /// The driver signed the transaction for `seq` (not sent yet).
    Signed {
        seq: u64,
        raw: Bytes,
    },
    /// The transaction for `seq` landed and created `task_id`.
    Confirmed {
        seq: u64,
        task_id: TaskId,
    },
    /// The transaction for `seq` can never land: it reverted (at estimation or on chain), or its
    /// nonce went to another transaction.
    Rejected {
        seq: u64,
    },
    /// The driver could not tell what became of `seq` (or could not sign it): try again later.
    Unresolved {
        seq: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorAction {
    Persist(Record),
    /// Sign (only sign) the transaction for this request; answer `Signed`, `Rejected` or
    /// `Unresolved`.
    CreateTask(TaskRequest),
    /// Send these signed bytes and wait for the receipt; answer `Confirmed`, `Rejected` or
    /// `Unresolved`.
    Broadcast {
        seq: u64,
        raw: Bytes,
    },
    /// A task was due but `pending` requests not yet on chain hold it back (once per stall).
    Backpressure {
        pending: usize,
    },
    /// `seq` was rejected `max_attempts` times; it is given up.
    Abandoned {
        seq: u64,
    },
    /// `max_tasks` created and all confirmed or abandoned.
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Handed to the driver; its answer is awaited.
    InFlight,
    /// Try again at this time.
    RetryAt(u64),
}

#[derive(Debug, Clone)]
struct Pending {
    payload: Vec<u8>,
    /// Signed bytes, once persisted.
    raw: Option<Bytes>,
    /// When they were signed, counted across requests: the order their nonces were taken in.
    signed_order: u64,
    rejections: u32,
    stage: Stage,
}

pub struct Generator {
    cfg: GeneratorConfig,
    source: Box<dyn PayloadSource>,
    next_seq: u64,
    next_due_ms: Option<u64>,
    pending: BTreeMap<u64, Pending>,
    /// The next `Pending::signed_order`.
    next_signed: u64,
    stalled: bool,
    finished: bool,
}

impl Generator {
    pub fn new(cfg: GeneratorConfig, source: Box<dyn PayloadSource>) -> Self {
        Self {
            cfg,
            source,
            next_seq: 0,
            next_due_ms: None,
            pending: BTreeMap::new(),
            next_signed: 0,
            stalled: false,
            finished: false,
        }
    }

    /// Rebuild from the store: sequence numbers continue, and every request without a
    /// `Confirmed` record resumes at the first `handle` (see the module doc).
    pub fn restore<'a>(
        cfg: GeneratorConfig,
        source: Box<dyn PayloadSource>,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Self {
        let mut g = Self::new(cfg, source);
        for r in records {
            match r {
                Record::Created { seq, payload } => {
                    g.next_seq = g.next_seq.max(seq + 1);
                    g.pending.insert(
                        *seq,
                        Pending {
                            payload: payload.clone(),
                            raw: None,
                            signed_order: 0,
                            rejections: 0,
                            stage: Stage::RetryAt(0),
                        },
                    );
                }
                Record::TxSigned { seq, raw } => {
                    if let Some(p) = g.pending.get_mut(seq) {
                        p.raw = Some(raw.clone());
                        p.signed_order = g.next_signed;
                        g.next_signed += 1;
                    }
                }
                Record::TxRejected { seq } => {
                    if let Some(p) = g.pending.get_mut(seq) {
                        p.raw = None;
                        p.rejections += 1;
                    }
                }
                Record::Confirmed { seq, .. } => {
                    g.next_seq = g.next_seq.max(seq + 1);
                    g.pending.remove(seq);
                }
                _ => {}
            }
        }
        // The inputs already drawn are not drawn again for later requests.
        for _ in 0..g.next_seq {
            g.source.next_payload();
        }
        g
    }

    /// Requests not yet on chain, by sequence number.
    pub fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.keys().copied()
    }

    /// When the driver should next call `handle(_, Tick)`; `None` once finished.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.finished {
            return None;
        }
        let due = self.next_due_ms.unwrap_or(0);
        let retry = self
            .sendable()
            .filter_map(|(_, p)| match p.stage {
                Stage::RetryAt(t) => Some(t),
                Stage::InFlight => None,
            })
            .min();
        Some(retry.map_or(due, |r| r.min(due)))
    }

    pub fn handle(&mut self, now_ms: u64, input: GeneratorInput) -> Vec<GeneratorAction> {
        let mut out = Vec::new();
        match input {
            GeneratorInput::Tick => {}
            GeneratorInput::Signed { seq, raw } => {
                if let Some(p) = self.pending.get_mut(&seq)
                    && p.stage == Stage::InFlight
                {
                    p.raw = Some(raw.clone());
                    p.signed_order = self.next_signed;
                    self.next_signed += 1;
                    // Sent by `retry_due` below, at once unless an earlier request's bytes are
                    // still unsettled (then right after those).
                    p.stage = Stage::RetryAt(now_ms);
                    out.push(GeneratorAction::Persist(Record::TxSigned { seq, raw }));
                }
            }
            GeneratorInput::Confirmed { seq, task_id } => {
                if self.pending.remove(&seq).is_some() {
                    out.push(GeneratorAction::Persist(Record::Confirmed {
                        seq,
                        task_id: Some(task_id),
                    }));
                }
            }
            GeneratorInput::Rejected { seq } => {
                if let Some(p) = self.pending.get_mut(&seq) {
                    p.rejections += 1;
                    let signed = p.raw.take().is_some();
                    if p.rejections >= self.cfg.max_attempts {
                        self.pending.remove(&seq);
                        out.push(GeneratorAction::Persist(Record::Confirmed {
                            seq,
                            task_id: None,
                        }));
                        out.push(GeneratorAction::Abandoned { seq });
                    } else {
                        p.stage = Stage::RetryAt(now_ms.saturating_add(self.cfg.retry_ms));
                        if signed {
                            out.push(GeneratorAction::Persist(Record::TxRejected { seq }));
                        }
                    }
                }
            }
            GeneratorInput::Unresolved { seq } => {
                if let Some(p) = self.pending.get_mut(&seq) {
                    p.stage = Stage::RetryAt(now_ms.saturating_add(self.cfg.retry_ms));
                }
            }
        }
        self.retry_due(now_ms, &mut out);
        self.maybe_create(now_ms, &mut out);
        out
    }

    /// The requests that may be handed out now: every one still to be signed, and of those
    /// with signed bytes only the earliest signed (the lowest unsettled nonce; see the module
    /// doc).
    fn sendable(&self) -> impl Iterator<Item = (u64, &Pending)> + '_ {
        let first_signed = self
            .pending
            .iter()
            .filter(|(_, p)| p.raw.is_some())
            .min_by_key(|(_, p)| p.signed_order)
            .map(|(seq, _)| *seq);
        self.pending
            .iter()
            .filter(move |(seq, p)| p.raw.is_none() || Some(**seq) == first_signed)
            .map(|(seq, p)| (*seq, p))
    }

    /// Hand out again every sendable request whose retry time has come.
    fn retry_due(&mut self, now_ms: u64, out: &mut Vec<GeneratorAction>) {
        let due: Vec<u64> = self
            .sendable()
            .filter(|(_, p)| matches!(p.stage, Stage::RetryAt(t) if t <= now_ms))
            .map(|(seq, _)| seq)
            .collect();
        for seq in due {
            let Some(p) = self.pending.get_mut(&seq) else {
                continue;
            };
            p.stage = Stage::InFlight;
            out.push(match &p.raw {
                Some(raw) => GeneratorAction::Broadcast {
                    seq,
                    raw: raw.clone(),
                },
                None => {
                    GeneratorAction::CreateTask(Self::request(&self.cfg, seq, p.payload.clone()))
                }
            });
        }
    }

    fn request(cfg: &GeneratorConfig, seq: u64, payload: Vec<u8>) -> TaskRequest {
        TaskRequest {
            seq,
            payload,
            threshold_percentage: cfg.threshold_percentage,
            response_period: cfg.response_period,
            challenge_period: cfg.challenge_period,
            statistical_period: cfg.statistical_period,
        }
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
        let payload = self.source.next_payload();
        self.pending.insert(
            seq,
            Pending {
                payload: payload.clone(),
                raw: None,
                signed_order: 0,
                rejections: 0,
                stage: Stage::InFlight,
            },
        );
        // Keep the cadence steady, but never schedule in the past after a long stall.
        let next = self
            .next_due_ms
            .unwrap_or(now_ms)
            .saturating_add(self.cfg.interval_ms);
        self.next_due_ms = Some(next.max(now_ms));
        out.push(GeneratorAction::Persist(Record::Created {
            seq,
            payload: payload.clone(),
        }));
        out.push(GeneratorAction::CreateTask(Self::request(
            &self.cfg, seq, payload,
        )));
    }
}

#[cfg(test)]
mod tests;
