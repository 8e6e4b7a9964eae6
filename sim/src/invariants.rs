//! The auditor: rebuilds what must be true from the scenario's inputs (stakes, behaviours,
//! the numbers of each task, the keys each operator registered) and judges the system only by
//! what it outputs (the trace). It runs at every event, not only at the end.

use crate::judge::{Judge, unhex};
use crate::scenario::{
    Behaviour, EPOCH_SECONDS, Outcome, RPC_TIMEOUT_MS, Scenario, TaskPlan, operator_bls_ikm,
    reaches_threshold, weight_of,
};
use crate::trace::{Event, EventKind};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What the chain observer tells the checker beyond the trace: every phase-2 commit on chain
/// and every settlement (`TaskSettled`), operators by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// A `TaskCreated` on chain with everything it carries; `seed` is the run's seed when
    /// the generator draws its payloads from it.
    Created {
        at_ms: u64,
        task: u64,
        payload: Vec<u8>,
        seed: Option<u64>,
        params: TaskPlan,
    },
    /// A phase-2 commit on chain: the AVS's response bytes (the commit without its task id).
    Commit {
        at_ms: u64,
        task: u64,
        operator: usize,
        response: Vec<u8>,
    },
    Settled {
        at_ms: u64,
        task: u64,
        actual_threshold: u8,
        rewarded: Vec<usize>,
        slashed: Vec<usize>,
    },
}

/// The BLS ciphersuite (proof-of-possession scheme, signatures in G2), as `crypto::bls` signs.
pub const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// What kind of failure: each has its own exit code in the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Safety,
    Liveness,
    Lost,
    Expectation,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Safety => 10,
            Kind::Liveness => 11,
            Kind::Lost => 12,
            Kind::Expectation => 13,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub kind: Kind,
    pub invariant: &'static str,
    pub detail: String,
    pub at_ms: u64,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} invariant `{}` broken at {} ms: {}",
            self.kind, self.invariant, self.at_ms, self.detail
        )
    }
}

/// The BLS message of a task response: keccak256(bytes32(taskId) ++ responseBytes), the base
/// contract's `responseMessage` (for the sum: keccak256(abi.encode(uint64 taskID, uint64 sum))).
pub fn response_message(task: u64, response: &[u8]) -> [u8; 32] {
    exoavs::avs::response_digest(task, response)
}

/// Verify an aggregate signature (96-byte compressed G2) by the given public keys (48-byte
/// compressed G1) over one message.
pub fn verify_aggregate(sig: &[u8], pubkeys: &[Vec<u8>], msg: &[u8]) -> Result<(), String> {
    use blst::BLST_ERROR;
    use blst::min_pk::{AggregatePublicKey, PublicKey, Signature};
    let sig =
        Signature::from_bytes(sig).map_err(|e| format!("signature does not decode: {e:?}"))?;
    let pks: Vec<PublicKey> = pubkeys
        .iter()
        .map(|p| PublicKey::from_bytes(p).map_err(|e| format!("public key does not decode: {e:?}")))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&PublicKey> = pks.iter().collect();
    let apk = AggregatePublicKey::aggregate(&refs, true)
        .map_err(|e| format!("aggregating keys: {e:?}"))?;
    match sig.verify(true, msg, DST, &[], &apk.to_public_key(), true) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        e => Err(format!("aggregate does not verify: {e:?}")),
    }
}

/// A G1 point as blst serialises it uncompressed, whether it came compressed or not (bytes
/// that do not decode are kept as they are, so they compare unequal to any real key).
fn normalise_g1(k: &[u8]) -> Vec<u8> {
    blst::min_pk::PublicKey::from_bytes(k)
        .map(|p| p.serialize().to_vec())
        .unwrap_or_else(|_| k.to_vec())
}

/// Invariant names for [`Checker::once`].
struct Once {
    unknown: &'static str,
    twice: &'static str,
    what: &'static str,
}

#[derive(Clone, Debug)]
struct Attempt {
    at: u64,
    node: String,
    task: u64,
    non_signers: Vec<usize>,
}

#[derive(Clone, Debug)]
struct WireSeen {
    response: Vec<u8>,
    signature: Vec<u8>,
    valid: Option<bool>,
}

#[derive(Clone, Debug, Default)]
struct TaskState {
    created_ms: u64,
    payload: Vec<u8>,
    accepted: Option<Vec<u8>>,
    expired: Option<String>,
    settled: bool,
}

/// The continuous checker. Feed it every event with [`Checker::observe`].
pub struct Checker {
    weights: Vec<u64>,
    honest: Vec<bool>,
    threshold_percent: u64,
    outcome: Outcome,
    honest_quorum: bool,
    expected_rejections: Vec<String>,
    liveness_bound_ms: u64,
    /// A task whose response window ends less than this after the faults heal may still
    /// expire (see [`Checker::demanded_after_heal`]).
    heal_margin_ms: u64,
    response_window_ms: u64,
    /// Registered BLS keys (compressed G1) by operator index.
    pub keys: BTreeMap<usize, Vec<u8>>,
    tasks: BTreeMap<u64, TaskState>,
    /// (task, operator) → responses an honest operator signed.
    signed: BTreeMap<(u64, usize), BTreeSet<Vec<u8>>>,
    /// (task, operator) → each distinct result seen on the wire from an honest operator, with
    /// the first signature that came with it and whether that signature verified (checked
    /// lazily, only once a second result shows up).
    wire: BTreeMap<(u64, usize), Vec<WireSeen>>,
    /// A challenger settles every task (the two-phase flow, or a scenario that asks for one);
    /// the run is not over before it has.
    settles: bool,
    two_phase: bool,
    /// The scenario expects every honest operator in every accepted aggregate.
    all_honest_included: bool,
    /// Tasks for which a submission below the threshold was already reported.
    below_threshold_attempts: BTreeSet<u64>,
    /// Submissions seen at the gateway, not judged yet.
    attempts: Vec<Attempt>,
    rejections: BTreeSet<String>,
    healed_at_ms: Option<u64>,
    violations: Vec<Violation>,
    /// What every task must carry, from the scenario alone.
    plan: TaskPlan,
    tasks_planned: u64,
    /// Task id → its payload, as `TaskCreated` carried it.
    created_payloads: BTreeMap<u64, Vec<u8>>,
    /// The generator's seeded source re-derived: (seed, first `tasks_planned` payloads).
    source: Option<(u64, Vec<Vec<u8>>)>,
    extra_reported: bool,
    /// Operators whose behaviour can put a valid signature over the right result on the wire
    /// (honest ones, and the replaying and equivocating ones some of the time).
    may_sign: Vec<bool>,
    /// The BLS key each operator registers (96-byte uncompressed G1), re-derived from the seed;
    /// `None` for an operator that must end up with no key (a rogue key is refused). Unknown
    /// until [`Checker::for_run`].
    expected_keys: Option<Vec<Option<Vec<u8>>>>,
    registrations_judged: bool,
    /// Whether every operator → aggregator frame passes [`Checker::observe_wire`].
    wire_watched: bool,
    /// (task, operator, response) of every response seen on the wire, any behaviour.
    answered: BTreeSet<(u64, usize, Vec<u8>)>,
    /// (task, operator) → every phase-2 response it committed on chain.
    commit_sets: BTreeMap<(u64, usize), BTreeSet<Vec<u8>>>,
    /// The AVS under test: its planned payloads, its own correctness rule, how to show it.
    judge: Arc<dyn Judge>,
    interval_ms: u64,
    /// When each task appeared on chain, in order.
    created_times: Vec<u64>,
    /// When the generator started afresh (a restart after a crash, or its driver giving up):
    /// each start may create one task ahead of the cadence it had.
    generator_restarts: Vec<u64>,
    /// When the run's roles started (the safety phase began): the generator's cadence counts
    /// from here.
    roles_started: Option<u64>,
    ahead_reported: bool,
}

impl Checker {
    pub fn new(s: &Scenario) -> Self {
        let n = s.operators.count;
        Checker {
            weights: (0..n).map(|i| s.operators.weight(i)).collect(),
            honest: (0..n)
                .map(|i| s.operators.behaviour(i).is_honest())
                .collect(),
            threshold_percent: s.threshold_percent as u64,
            outcome: s.expect.outcome,
            honest_quorum: s.honest_quorum(),
            expected_rejections: s.expect.rejections.clone(),
            liveness_bound_ms: s.faults.liveness_bound_ms,
            heal_margin_ms: RPC_TIMEOUT_MS + 2 * s.chain.block_time_ms + EPOCH_SECONDS * 1000,
            response_window_ms: s.tasks.response_window_ms,
            keys: BTreeMap::new(),
            tasks: BTreeMap::new(),
            signed: BTreeMap::new(),
            wire: BTreeMap::new(),
            settles: s.has_challenger(),
            two_phase: s.flow == crate::scenario::Flow::TwoPhase,
            all_honest_included: s.expect.all_honest_included,
            below_threshold_attempts: BTreeSet::new(),
            attempts: Vec::new(),
            rejections: BTreeSet::new(),
            healed_at_ms: None,
            violations: Vec::new(),
            plan: s.task_plan(),
            tasks_planned: s.tasks.count,
            created_payloads: BTreeMap::new(),
            source: None,
            extra_reported: false,
            may_sign: (0..n)
                .map(|i| {
                    !matches!(
                        s.operators.behaviour(i),
                        Behaviour::WrongSum
                            | Behaviour::InvalidSignature
                            | Behaviour::SignsAnotherTask
                            | Behaviour::RogueKey
                            | Behaviour::Silent
                    )
                })
                .collect(),
            expected_keys: None,
            registrations_judged: false,
            wire_watched: false,
            answered: BTreeSet::new(),
            commit_sets: BTreeMap::new(),
            judge: crate::judge::sum_judge(),
            interval_ms: s.tasks.interval_ms.max(1),
            created_times: Vec::new(),
            generator_restarts: Vec::new(),
            roles_started: None,
            ahead_reported: false,
        }
    }

    /// The checker of one seeded run in the simulated world: it knows the keys the seed gives
    /// every operator, and sees every frame to the aggregator on the wire.
    pub fn for_run(s: &Scenario, seed: u64) -> Self {
        Checker::for_run_of(s, seed, crate::judge::sum_judge())
    }

    /// [`Checker::for_run`] for the AVS `judge` stands for.
    pub fn for_run_of(s: &Scenario, seed: u64, judge: Arc<dyn Judge>) -> Self {
        let mut c = Checker::new(s);
        c.judge = judge;
        c.expected_keys = Some(
            (0..s.operators.count)
                .map(|i| {
                    (s.operators.behaviour(i) != Behaviour::RogueKey).then(|| {
                        blst::min_pk::SecretKey::key_gen(&operator_bls_ikm(seed, i), &[])
                            .map(|k| k.sk_to_pk().serialize().to_vec())
                            .unwrap_or_default()
                    })
                })
                .collect(),
        );
        c.wire_watched = true;
        c
    }

    /// Registrations against the scenario: every operator registered the key its seed gives
    /// it, and one that must have none (a rogue key) has none. Judged once all registrations
    /// are on chain: at the first task (set-up ends before the generator starts) or the end.
    fn judge_registrations(&mut self, at: u64) {
        if self.registrations_judged {
            return;
        }
        self.registrations_judged = true;
        let Some(expected) = self.expected_keys.clone() else {
            return;
        };
        let mut wrong = Vec::new();
        for (i, want) in expected.iter().enumerate() {
            let got = self.keys.get(&i).map(|k| normalise_g1(k));
            match (want, got) {
                (Some(w), Some(g)) if *w == g => {}
                (None, None) => {}
                (Some(_), None) => wrong.push(format!("operator {i} registered no key")),
                (None, Some(_)) => wrong.push(format!(
                    "operator {i} holds a key although the scenario gives it none that verifies"
                )),
                (Some(_), Some(_)) => wrong.push(format!(
                    "operator {i} registered a key other than the one its seed gives it"
                )),
            }
        }
        if !wrong.is_empty() {
            self.fail(
                Kind::Safety,
                "operators register the keys the scenario gives them",
                at,
                wrong.join("; "),
            );
        }
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    pub fn first_violation(&self) -> Option<&Violation> {
        self.violations.first()
    }

    fn fail(&mut self, kind: Kind, invariant: &'static str, at_ms: u64, detail: String) {
        self.violations.push(Violation {
            kind,
            invariant,
            detail,
            at_ms,
        });
    }

    pub fn set_healed(&mut self, at_ms: u64) {
        self.healed_at_ms.get_or_insert(at_ms);
    }

    /// A response on the operator → aggregator wire. Equivocation check that does not trust
    /// the operator's own report: two different responses for one task, each with a signature
    /// that verifies under the honest operator's registered key, is a safety violation.
    pub fn observe_wire(
        &mut self,
        at: u64,
        operator: usize,
        task: u64,
        response: &[u8],
        signature: &[u8],
    ) {
        self.answered.insert((task, operator, response.to_vec()));
        if !self.honest.get(operator).copied().unwrap_or(false) {
            return;
        }
        let seen = self.wire.entry((task, operator)).or_default();
        if seen.iter().any(|s| s.response == response) {
            return;
        }
        seen.push(WireSeen {
            response: response.to_vec(),
            signature: signature.to_vec(),
            valid: None,
        });
        if seen.len() < 2 {
            return;
        }
        let Some(pk) = self.keys.get(&operator).cloned() else {
            return;
        };
        let mut valid = Vec::new();
        for s in seen.iter_mut() {
            let ok = *s.valid.get_or_insert_with(|| {
                verify_aggregate(
                    &s.signature,
                    std::slice::from_ref(&pk),
                    &response_message(task, &s.response),
                )
                .is_ok()
            });
            if ok {
                valid.push(self.judge.show_response(&s.response));
            }
        }
        if valid.len() > 1 {
            self.fail(
                Kind::Safety,
                "an honest operator's key signs one result per task (on the wire)",
                at,
                format!("operator {operator} put valid signatures over {valid:?} for task {task} on the wire"),
            );
        }
    }

    /// A `respondToTask` a node sent or tried (estimate, call) through the gateway, with its
    /// non-signers by index. The signers it claims (registered operators minus the
    /// non-signers) must carry the threshold: an aggregator that even tries less is wrong,
    /// whether or not the contract would refuse it. Judged once the auditor has read the
    /// chain past the task (its acceptance or expiry, or the end of the run), so that every
    /// key registration before it is known.
    pub fn observe_submission(&mut self, at: u64, node: &str, task: u64, non_signers: &[usize]) {
        self.attempts.push(Attempt {
            at,
            node: node.to_string(),
            task,
            non_signers: non_signers.to_vec(),
        });
    }

    fn judge_attempts(&mut self, task: Option<u64>) {
        let (due, keep): (Vec<Attempt>, Vec<Attempt>) = std::mem::take(&mut self.attempts)
            .into_iter()
            .partition(|a| task.is_none_or(|t| t == a.task));
        self.attempts = keep;
        let total = weight_of(&self.weights, 0..self.weights.len());
        for a in due {
            let signed = weight_of(
                &self.weights,
                self.keys
                    .keys()
                    .copied()
                    .filter(|i| !a.non_signers.contains(i)),
            );
            if !reaches_threshold(signed, total, self.threshold_percent)
                && self.below_threshold_attempts.insert(a.task)
            {
                self.fail(
                    Kind::Safety,
                    "the aggregator submits only aggregates that reach the threshold",
                    a.at,
                    format!(
                        "{} sent respondToTask for task {} with weight {signed} of {total} (< {}%; non-signers {:?})",
                        a.node, a.task, self.threshold_percent, a.non_signers
                    ),
                );
            }
        }
    }

    /// Commits and settlements as the chain shows them. The challenger's verdict must match the
    /// commits: who committed the sum is rewarded (when the task was accepted) and never
    /// slashed; who committed another result, or nothing, is slashed and not rewarded.
    pub fn observe_settlement(&mut self, s: Settlement) {
        match s {
            Settlement::Created {
                at_ms,
                task,
                payload,
                seed,
                params,
            } => self.created_on_chain(at_ms, task, payload, seed, params),
            Settlement::Commit {
                task,
                operator,
                response,
                ..
            } => {
                self.commit_sets
                    .entry((task, operator))
                    .or_default()
                    .insert(response);
            }
            Settlement::Settled {
                at_ms: at,
                task,
                actual_threshold,
                rewarded,
                slashed,
            } => {
                let once = Once {
                    unknown: "only created tasks are settled",
                    twice: "a task is settled once",
                    what: "settled",
                };
                let Some(t) = self.once(at, task, once, |t| t.settled) else {
                    return;
                };
                if let Some(t) = self.tasks.get_mut(&task) {
                    t.settled = true;
                }
                if !self.two_phase {
                    self.judge_aggregated_settlement(
                        at,
                        task,
                        &t,
                        actual_threshold,
                        &rewarded,
                        &slashed,
                    );
                    return;
                }
                let judge = self.judge.clone();
                let right = |r: &[u8]| judge.is_correct(&t.payload, r);
                let accepted = t.accepted.as_deref().is_some_and(right);
                // Two different commits is equivocation, whatever one of them is.
                let correct_commit = |c: Option<&BTreeSet<Vec<u8>>>| {
                    c.is_some_and(|c| c.len() == 1 && c.iter().all(|r| right(r)))
                };
                let mut wrong = Vec::new();
                for op in 0..self.weights.len() {
                    let (r, s) = (rewarded.contains(&op), slashed.contains(&op));
                    let committed = self.commit_sets.get(&(task, op));
                    let verdict_ok = if correct_commit(committed) {
                        !s && (r || !accepted)
                    } else {
                        s && !r
                    };
                    if !verdict_ok {
                        let shown: Vec<String> = committed
                            .into_iter()
                            .flatten()
                            .map(|c| judge.show_response(c))
                            .collect();
                        wrong.push(format!(
                            "operator {op} committed {shown:?} (task {}), rewarded {r}, slashed {s}",
                            judge.show_payload(&t.payload)
                        ));
                    }
                }
                if !wrong.is_empty() {
                    self.fail(
                        Kind::Safety,
                        "the challenger rewards and slashes by the commits on chain",
                        at,
                        format!("task {task}: {}", wrong.join("; ")),
                    );
                }
                // The reached threshold: the stake of the operators whose one commit is
                // correct, floor(signed * 100 / total), over the scenario's stakes.
                let correct = (0..self.weights.len())
                    .filter(|op| correct_commit(self.commit_sets.get(&(task, *op))));
                let signed = weight_of(&self.weights, correct);
                let total = weight_of(&self.weights, 0..self.weights.len());
                let want = (signed * 100).checked_div(total).unwrap_or(0);
                if u128::from(actual_threshold) != want {
                    self.fail(
                        Kind::Safety,
                        "a settlement reports the threshold the commits reached",
                        at,
                        format!(
                            "task {task} settled with actual threshold {actual_threshold}, the correct commits carry {signed} of {total} ({want}%)"
                        ),
                    );
                }
            }
        }
    }

    /// An aggregated-flow settlement against what the wire carried (issue 12's rule: only the
    /// provable slashes): a slashed operator put a wrong result of its own on the wire (the
    /// evidence: a fraud proof or an equivocation the auditor can check itself), so an honest
    /// one never is, however late; a rewarded one put the right result on the wire (who never
    /// answered is never paid); and the reported threshold is the rewarded stake's share.
    fn judge_aggregated_settlement(
        &mut self,
        at: u64,
        task: u64,
        t: &TaskState,
        actual_threshold: u8,
        rewarded: &[usize],
        slashed: &[usize],
    ) {
        let judge = self.judge.clone();
        let on_wire = |op: usize| {
            self.answered
                .iter()
                .filter(move |(tk, o, _)| *tk == task && *o == op)
                .map(|(_, _, r)| r.as_slice())
        };
        let unproven: Vec<usize> = slashed
            .iter()
            .copied()
            .filter(|op| {
                self.honest.get(*op).copied().unwrap_or(false)
                    || !on_wire(*op).any(|r| !judge.is_correct(&t.payload, r))
            })
            .collect();
        // Paid for the accepted response, or (none accepted) for a correct one.
        let paid_for = |r: &[u8]| match &t.accepted {
            Some(acc) => acc.as_slice() == r,
            None => judge.is_correct(&t.payload, r),
        };
        let unpaid_for: Vec<usize> = rewarded
            .iter()
            .copied()
            .filter(|op| !on_wire(*op).any(paid_for))
            .collect();
        if !unproven.is_empty() {
            self.fail(
                Kind::Safety,
                "only operators with provable faults are slashed",
                at,
                format!(
                    "task {task} slashed operators {unproven:?}: honest, or no wrong result of theirs passed the wire"
                ),
            );
        }
        if self.wire_watched && !unpaid_for.is_empty() {
            self.fail(
                Kind::Safety,
                "no operator that never answered is rewarded",
                at,
                format!(
                    "task {task} rewarded operators {unpaid_for:?}, none of whose responses with the paid-for answer passed the wire"
                ),
            );
        }
        let signed = weight_of(&self.weights, rewarded.iter().copied());
        let total = weight_of(&self.weights, 0..self.weights.len());
        let want = (signed * 100).checked_div(total).unwrap_or(0);
        if u128::from(actual_threshold) != want {
            self.fail(
                Kind::Safety,
                "a settlement reports the threshold the rewarded stake reached",
                at,
                format!(
                    "task {task} settled with actual threshold {actual_threshold}, the rewarded carry {signed} of {total} ({want}%)"
                ),
            );
        }
    }

    /// A task as the chain created it, judged against what the scenario plans: its numbers, its
    /// payload (from the generator's seeded source, each once) and the count so far.
    fn created_on_chain(
        &mut self,
        at: u64,
        task: u64,
        payload: Vec<u8>,
        seed: Option<u64>,
        params: TaskPlan,
    ) {
        if params != self.plan {
            self.fail(
                Kind::Safety,
                "tasks carry the scenario's threshold and periods",
                at,
                format!(
                    "task {task} carries {params:?}, the scenario plans {:?}",
                    self.plan
                ),
            );
        }
        if let Some(seed) = seed {
            let n = self.tasks_planned;
            if self.source.as_ref().is_none_or(|(s, _)| *s != seed) {
                self.source = Some((seed, self.judge.planned_payloads(seed, n)));
            }
            let known = self
                .source
                .as_ref()
                .is_some_and(|(_, planned)| planned.contains(&payload));
            let shown = self.judge.show_payload(&payload);
            if !known {
                self.fail(
                    Kind::Safety,
                    "task payloads come from the generator's seeded source",
                    at,
                    format!(
                        "task {task} has payload {shown}, not among the first {n} of seed {seed}"
                    ),
                );
            }
            if let Some((other, _)) = self
                .created_payloads
                .iter()
                .find(|(id, p)| **id != task && **p == payload)
            {
                let other = *other;
                self.fail(
                    Kind::Safety,
                    "each planned task is created once",
                    at,
                    format!("task {task} repeats the payload {shown} of task {other}"),
                );
            }
        }
        self.created_payloads.insert(task, payload);
        let created = self.created_payloads.len() as u64;
        self.judge_cadence(at, task);
        if created > self.tasks_planned && !self.extra_reported {
            self.extra_reported = true;
            self.fail(
                Kind::Safety,
                "no more tasks than the scenario plans",
                at,
                format!(
                    "task {task} is the {created}th created, the scenario plans {}",
                    self.tasks_planned
                ),
            );
        }
    }

    /// Creation times against the scenario's interval: the generator never runs ahead of its
    /// cadence. Its k-th request is made no earlier than k intervals after it started (a stall
    /// never moves the schedule earlier), so by time `at`, W after the roles started, at most
    /// 1 + W / interval tasks exist, plus two: for the observer's block-time jitter, and for a
    /// first task that landed late (a reorg took it back and it was mined again); plus one for
    /// each fresh start of the generator since, whose cadence starts again from the moment it
    /// starts. Creates held up by chain faults land in a burst once the faults heal, but never
    /// ahead of this schedule, so the bound is cumulative rather than over short windows, and it
    /// counts from the start, not from the first task: a first task held up too is followed by
    /// the rest of the burst (chain-faults seed 279109868707384: the first landed 66 s after the
    /// start, four more within 6 s).
    fn judge_cadence(&mut self, at: u64, task: u64) {
        self.created_times.push(at);
        let first = self.created_times[0];
        let start = self.roles_started.map_or(first, |s| s.min(first));
        let span = at.saturating_sub(start);
        let restarts = self
            .generator_restarts
            .iter()
            .filter(|r| (start..=at).contains(r))
            .count() as u64;
        let allowed = 3 + span / self.interval_ms + restarts;
        let count = self.created_times.len() as u64;
        if count > allowed && !self.ahead_reported {
            self.ahead_reported = true;
            self.fail(
                Kind::Safety,
                "tasks are created no faster than the scenario's interval",
                at,
                format!(
                    "task {task} is the {count}th created, {span} ms into the generator's cadence: at one every {} ms at most {allowed} ({restarts} generator restarts)",
                    self.interval_ms
                ),
            );
        }
    }

    /// Whether a task created at `created` that expired at `at` had to be accepted: it expired
    /// after the faults healed, and its response window still had `heal_margin_ms` left when
    /// they did. That margin is what a correct system may need after healing: a request sent
    /// during the faults whose answer was lost is given up only after the RPC timeout, then the
    /// submission needs a block, and the window ends on an epoch boundary one block may miss
    /// (fuzz-3039-365 seed 67298128141872: the aggregator, restarted under RPC faults, was
    /// waiting out a lost `eth_call` when they healed 4.8 s before the window's end, and its
    /// submission landed one block late).
    fn demanded_after_heal(&self, at: u64, created: u64) -> bool {
        let window_end = created.saturating_add(self.response_window_ms);
        self.healed_at_ms
            .is_some_and(|h| at > h && window_end >= h.saturating_add(self.heal_margin_ms))
    }

    /// The time by which every open task must be accepted, if liveness is demanded.
    fn deadline(&self, t: &TaskState) -> Option<u64> {
        if self.outcome == Outcome::NoneAccepted || !self.honest_quorum {
            return None;
        }
        let healed = self.healed_at_ms?;
        Some(healed.max(t.created_ms) + self.liveness_bound_ms)
    }

    pub fn observe(&mut self, ev: &Event) {
        let at = ev.at_ms;
        if let EventKind::TaskAccepted { task, .. } | EventKind::TaskExpired { task, .. } = &ev.kind
        {
            self.judge_attempts(Some(*task));
        }
        match &ev.kind {
            EventKind::OperatorRegistered { operator, pubkey } => {
                if let Ok(k) = hex::decode(pubkey.trim_start_matches("0x")) {
                    let before = self.keys.insert(*operator, k.clone());
                    if before.is_some_and(|b| normalise_g1(&b) != normalise_g1(&k)) {
                        let operator = *operator;
                        self.fail(
                            Kind::Safety,
                            "an operator's key is registered once",
                            at,
                            format!("operator {operator} registered a second key"),
                        );
                    }
                }
            }
            EventKind::FaultHealed { fault } if fault == "restart generator" => {
                self.generator_restarts.push(at);
            }
            EventKind::Note { text }
                if ev.node == "generator" && text.starts_with("node stopped") =>
            {
                self.generator_restarts.push(at);
            }
            EventKind::TaskCreated { task, payload, .. } => {
                self.judge_registrations(at);
                if self.tasks.contains_key(task) {
                    self.fail(
                        Kind::Safety,
                        "task ids are unique",
                        at,
                        format!("task {task} created twice"),
                    );
                }
                self.tasks.insert(
                    *task,
                    TaskState {
                        created_ms: at,
                        payload: unhex(payload),
                        ..Default::default()
                    },
                );
            }
            EventKind::ResponseSent {
                task,
                operator,
                response,
                ..
            } if self.honest.get(*operator).copied().unwrap_or(false) => {
                let set = self.signed.entry((*task, *operator)).or_default();
                set.insert(unhex(response));
                if set.len() > 1 {
                    let results: Vec<String> =
                        set.iter().map(|r| self.judge.show_response(r)).collect();
                    self.fail(
                        Kind::Safety,
                        "an honest operator signs one result per task",
                        at,
                        format!("operator {operator} signed {results:?} for task {task}"),
                    );
                }
            }
            EventKind::ResponseRejected { reason, .. } => {
                self.rejections.insert(reason.clone());
            }
            EventKind::TaskAccepted {
                task,
                response,
                signers,
                signed_weight,
                total_weight,
                non_signers,
                aggregate_signature,
                ..
            } => {
                let response = unhex(response);
                self.accepted(at, *task, &response, signers, aggregate_signature);
                self.judge_submission(at, *task, &response, signers, non_signers);
                self.judge_stakes(at, *task, signers, *signed_weight, *total_weight);
            }
            EventKind::TaskExpired { task, reason } => match self.tasks.get_mut(task) {
                None => self.fail(
                    Kind::Safety,
                    "only created tasks end",
                    at,
                    format!("unknown task {task} expired"),
                ),
                Some(t) if t.accepted.is_some() => {
                    let task = *task;
                    self.fail(
                        Kind::Safety,
                        "a task ends once",
                        at,
                        format!("task {task} expired after being accepted"),
                    );
                }
                Some(_) if reason.is_empty() => {
                    let task = *task;
                    self.fail(
                        Kind::Lost,
                        "every expiry has a reason",
                        at,
                        format!("task {task} expired without a reason"),
                    );
                }
                Some(t) => {
                    t.expired = Some(reason.clone());
                    // Expiring during the fault phase is allowed (with its reason); once
                    // healed, an operator majority must get every task accepted instead.
                    let task = *task;
                    let created = t.created_ms;
                    let demanded = self.outcome == Outcome::AllAccepted && self.honest_quorum;
                    if demanded && self.demanded_after_heal(at, created) {
                        self.fail(
                            Kind::Liveness,
                            "every task accepted within the bound after healing",
                            at,
                            format!("task {task} expired after the faults healed: {reason}"),
                        );
                    }
                }
            },
            EventKind::PhaseChanged { phase } if phase == "liveness" => self.set_healed(at),
            EventKind::PhaseChanged { phase } if phase == "safety" => {
                self.roles_started.get_or_insert(at);
            }
            _ => {}
        }
        self.check_deadlines(at);
    }

    /// The state of `task` for an event that may happen once to a created task (acceptance,
    /// settlement); `None`, with the violation recorded, if the task is unknown or `seen`.
    fn once(
        &mut self,
        at: u64,
        task: u64,
        names: Once,
        seen: impl Fn(&TaskState) -> bool,
    ) -> Option<TaskState> {
        let what = names.what;
        match self.tasks.get(&task).cloned() {
            None => {
                let detail = format!("unknown task {task} {what}");
                self.fail(Kind::Safety, names.unknown, at, detail);
                None
            }
            Some(t) if seen(&t) => {
                let detail = format!("task {task} {what} twice");
                self.fail(Kind::Safety, names.twice, at, detail);
                None
            }
            Some(t) => Some(t),
        }
    }

    fn accepted(&mut self, at: u64, task: u64, response: &[u8], signers: &[usize], sig_hex: &str) {
        let once = Once {
            unknown: "only created tasks are accepted",
            twice: "at most one accepted response per task",
            what: "accepted",
        };
        let Some(t) = self.once(at, task, once, |t| t.accepted.is_some()) else {
            return;
        };
        if let Some(reason) = &t.expired {
            self.fail(
                Kind::Safety,
                "no acceptance after expiry",
                at,
                format!("task {task} accepted after it expired ({reason})"),
            );
            return;
        }
        if let Some(t) = self.tasks.get_mut(&task) {
            t.accepted = Some(response.to_vec());
        }
        // The AVS's own correctness invariant (for the sum: the accepted sum is a + b).
        if let Err(why) = self.judge.check_accepted(&t.payload, response) {
            self.fail(
                Kind::Safety,
                "accepted results are correct",
                at,
                format!("task {task}: {why}"),
            );
        }
        let distinct: BTreeSet<usize> = signers.iter().copied().collect();
        if distinct.len() != signers.len() {
            self.fail(
                Kind::Safety,
                "a signer counts once",
                at,
                format!("task {task} signers {signers:?} repeat"),
            );
        }
        let signed = weight_of(&self.weights, distinct.iter().copied());
        let total = weight_of(&self.weights, 0..self.weights.len());
        if !reaches_threshold(signed, total, self.threshold_percent) {
            self.fail(
                Kind::Safety,
                "no task accepted below threshold",
                at,
                format!(
                    "task {task} accepted with weight {signed} of {total} (< {}%)",
                    self.threshold_percent
                ),
            );
        }
        let mut pks = Vec::new();
        for &i in &distinct {
            match self.keys.get(&i) {
                Some(k) => pks.push(k.clone()),
                None => {
                    self.fail(
                        Kind::Safety,
                        "signers are registered",
                        at,
                        format!("task {task} signer {i} has no registered key"),
                    );
                    return;
                }
            }
        }
        let sig = hex::decode(sig_hex.trim_start_matches("0x")).unwrap_or_default();
        if let Err(e) = verify_aggregate(&sig, &pks, &response_message(task, response)) {
            self.fail(
                Kind::Safety,
                "accepted aggregates verify offline",
                at,
                format!("task {task}: {e}"),
            );
        }
        if self.outcome == Outcome::NoneAccepted {
            self.fail(
                Kind::Expectation,
                "expected outcome",
                at,
                format!("task {task} accepted, the scenario expects none"),
            );
        }
    }

    /// An accepted submission against who answered: every signer is an operator whose
    /// scenario behaviour lets it sign the right result and (aggregated flow) whose response
    /// with that result was on the wire; the non-signers are exactly the other registered
    /// operators, each once.
    fn judge_submission(
        &mut self,
        at: u64,
        task: u64,
        response: &[u8],
        signers: &[usize],
        non_signers: &[usize],
    ) {
        let cannot: Vec<usize> = signers
            .iter()
            .copied()
            .filter(|i| !self.may_sign.get(*i).copied().unwrap_or(false))
            .collect();
        if !cannot.is_empty() {
            self.fail(
                Kind::Safety,
                "only operators the scenario lets answer correctly sign",
                at,
                format!(
                    "task {task} counts operators {cannot:?}, whose behaviour never signs the right result"
                ),
            );
        }
        if self.two_phase {
            return;
        }
        if self.all_honest_included {
            let left_out: Vec<usize> = (0..self.weights.len())
                .filter(|i| self.honest[*i] && !signers.contains(i))
                .collect();
            if !left_out.is_empty() {
                self.fail(
                    Kind::Expectation,
                    "every honest operator is in the aggregate",
                    at,
                    format!("task {task} was accepted without honest operators {left_out:?}"),
                );
            }
        }
        if self.wire_watched {
            let unseen: Vec<usize> = signers
                .iter()
                .copied()
                .filter(|i| !self.answered.contains(&(task, *i, response.to_vec())))
                .collect();
            if !unseen.is_empty() {
                self.fail(
                    Kind::Safety,
                    "signers put the accepted result on the wire",
                    at,
                    format!(
                        "task {task} counts operators {unseen:?}, no response of theirs with {} passed the wire to the aggregator",
                        self.judge.show_response(response)
                    ),
                );
            }
        }
        let signed: BTreeSet<usize> = signers.iter().copied().collect();
        let named: BTreeSet<usize> = non_signers.iter().copied().collect();
        let rest: BTreeSet<usize> = self
            .keys
            .keys()
            .copied()
            .filter(|i| !signed.contains(i))
            .collect();
        if named != rest || named.len() != non_signers.len() {
            self.fail(
                Kind::Safety,
                "non-signers are exactly the registered operators that did not sign",
                at,
                format!(
                    "task {task} names non-signers {non_signers:?}, the registered operators that did not sign are {rest:?}"
                ),
            );
        }
    }

    /// The chain's stake figures for an accepted task against the scenario's weights: the
    /// stakes the set-up gave and the opt-ins (every operator opts in) are what the chain counts.
    fn judge_stakes(
        &mut self,
        at: u64,
        task: u64,
        signers: &[usize],
        signed_weight: u64,
        total_weight: u64,
    ) {
        let distinct: BTreeSet<usize> = signers.iter().copied().collect();
        let signed = weight_of(&self.weights, distinct.iter().copied());
        let total = weight_of(&self.weights, 0..self.weights.len());
        if u128::from(signed_weight) != signed || u128::from(total_weight) != total {
            self.fail(
                Kind::Safety,
                "the chain's stakes are the scenario's",
                at,
                format!(
                    "task {task}: the chain counts {signed_weight} signed of {total_weight}, the scenario's weights give {signed} of {total}"
                ),
            );
        }
    }

    fn check_deadlines(&mut self, now: u64) {
        let late: Vec<(u64, u64)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.accepted.is_none() && t.expired.is_none())
            .filter_map(|(id, t)| self.deadline(t).filter(|d| now > *d).map(|d| (*id, d)))
            .collect();
        for (id, d) in late {
            if let Some(t) = self.tasks.get_mut(&id) {
                // Report each late task once: mark it (an empty response, which no AVS of the
                // simulator accepts) so it is not reported again.
                t.accepted = Some(Vec::new());
            }
            let (invariant, what) = if self.outcome == Outcome::EachEnds {
                ("every task ends within the bound after healing", "ended")
            } else {
                (
                    "every task accepted within the bound after healing",
                    "accepted",
                )
            };
            self.fail(
                Kind::Liveness,
                invariant,
                now,
                format!("task {id} not {what} by {d} ms"),
            );
        }
    }

    /// End of run: every task settled, every expected rejection seen.
    pub fn finish(&mut self, now: u64, tasks_planned: u64) {
        self.judge_attempts(None);
        self.judge_registrations(now);
        self.check_deadlines(now);
        let created = self.tasks.len() as u64;
        if created < tasks_planned {
            self.fail(
                Kind::Lost,
                "every planned task is created",
                now,
                format!("{created} of {tasks_planned} tasks created"),
            );
        }
        if created > tasks_planned && !self.extra_reported {
            self.extra_reported = true;
            self.fail(
                Kind::Safety,
                "no more tasks than the scenario plans",
                now,
                format!("{created} tasks created, the scenario plans {tasks_planned}"),
            );
        }
        let open: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.accepted.is_none() && t.expired.is_none())
            .map(|(id, _)| *id)
            .collect();
        if !open.is_empty() {
            self.fail(
                Kind::Lost,
                "every task ends accepted or expired with a reason",
                now,
                format!("tasks {open:?} never settled"),
            );
        }
        if self.settles {
            let unsettled: Vec<u64> = self
                .tasks
                .iter()
                .filter(|(_, t)| !t.settled)
                .map(|(id, _)| *id)
                .collect();
            if !unsettled.is_empty() {
                self.fail(
                    Kind::Lost,
                    "the challenger settles every task",
                    now,
                    format!("tasks {unsettled:?} never settled by the challenger"),
                );
            }
        }
        let missing: Vec<String> = self
            .expected_rejections
            .iter()
            .filter(|r| !self.rejections.contains(*r))
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.fail(
                Kind::Expectation,
                "byzantine responses are rejected",
                now,
                format!("no rejection for reason(s) {missing:?}"),
            );
        }
    }

    /// Tasks still open (neither accepted nor expired, or in the two-phase flow not settled).
    pub fn open_tasks(&self) -> usize {
        self.tasks
            .values()
            .filter(|t| {
                (t.accepted.is_none() && t.expired.is_none()) || (self.settles && !t.settled)
            })
            .count()
    }

    pub fn created_tasks(&self) -> usize {
        self.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::hex0x;
    use crate::scenario::planned_pairs;
    use exoavs::avs::SumAvs;
    use std::path::Path;

    /// The sum AVS's response bytes.
    fn sum(result: u64) -> Vec<u8> {
        SumAvs::response_bytes(result)
    }

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            r#"
name = "t"
flow = "aggregated"
threshold_percent = 67
[operators]
count = 4
special = [{{ index = 3, behaviour = "wrong-sum" }}]
[tasks]
count = 2
interval_ms = 1000
[faults]
safety_phase_ms = 0
liveness_bound_ms = 10000
[expect]
outcome = "all-accepted"
{extra}
"#
        );
        Scenario::parse(Path::new("t.toml"), &text).unwrap()
    }

    struct Keys(Vec<blst::min_pk::SecretKey>);

    impl Keys {
        fn new(n: usize) -> Self {
            Keys(
                (0..n)
                    .map(|i| blst::min_pk::SecretKey::key_gen(&[i as u8 + 1; 32], &[]).unwrap())
                    .collect(),
            )
        }
        fn aggregate(&self, signers: &[usize], task: u64, result: u64) -> String {
            let msg = response_message(task, &sum(result));
            let sigs: Vec<blst::min_pk::Signature> = signers
                .iter()
                .map(|&i| self.0[i].sign(&msg, DST, &[]))
                .collect();
            let refs: Vec<&blst::min_pk::Signature> = sigs.iter().collect();
            hex::encode(
                blst::min_pk::AggregateSignature::aggregate(&refs, true)
                    .unwrap()
                    .to_signature()
                    .to_bytes(),
            )
        }
        fn register(&self, c: &mut Checker) {
            for (i, k) in self.0.iter().enumerate() {
                c.observe(&ev(
                    0,
                    EventKind::OperatorRegistered {
                        operator: i,
                        pubkey: hex::encode(k.sk_to_pk().to_bytes()),
                    },
                ));
            }
        }
    }

    fn ev(at_ms: u64, kind: EventKind) -> Event {
        Event {
            at_ms,
            node: "t".into(),
            kind,
        }
    }

    /// An acceptance as the chain reports it in the test scenario (4 operators of weight 100,
    /// all registered).
    fn accepted(task: u64, result: u64, signers: Vec<usize>, sig: String) -> EventKind {
        let distinct: BTreeSet<usize> = signers.iter().copied().collect();
        EventKind::TaskAccepted {
            task,
            response: hex0x(&sum(result)),
            shown: result.to_string(),
            signed_weight: 100 * distinct.len() as u64,
            total_weight: 400,
            non_signers: (0..4).filter(|i| !distinct.contains(i)).collect(),
            signers,
            aggregate_signature: sig,
        }
    }

    #[test]
    fn a_correct_run_passes() {
        let s = scenario("");
        let keys = Keys::new(4);
        let mut c = Checker::new(&s);
        keys.register(&mut c);
        for t in 1..=2 {
            c.observe(&ev(10, EventKind::sum_task_created(t, 3, 4)));
            c.observe(&ev(
                20,
                accepted(t, 7, vec![0, 1, 2], keys.aggregate(&[0, 1, 2], t, 7)),
            ));
        }
        c.finish(100, 2);
        assert!(c.violations().is_empty(), "{:?}", c.violations());
    }

    /// `task` created as `a + b = 3 + 4`.
    fn created(task: u64) -> Event {
        ev(1, EventKind::sum_task_created(task, 3, 4))
    }

    /// A checker that has seen the 4 keys registered and task 1 created (3 + 4).
    fn with_task_1(s: &Scenario, keys: &Keys) -> Checker {
        let mut c = Checker::new(s);
        keys.register(&mut c);
        c.observe(&created(1));
        c
    }

    #[test]
    fn below_threshold_wrong_sum_bad_signature_and_double_accept_are_caught_at_the_event() {
        let s = scenario("");
        let keys = Keys::new(4);
        /// (claimed signers, result, who really signed, acceptances, the invariant broken)
        type Case = (Vec<usize>, u64, Vec<usize>, u64, &'static str);
        let cases: [Case; 4] = [
            (
                vec![0, 1],
                7,
                vec![0, 1],
                1,
                "no task accepted below threshold",
            ),
            (
                vec![0, 1, 2],
                8,
                vec![0, 1, 2],
                1,
                "accepted results are correct",
            ),
            // Signed by 0,1,3 but claimed as 0,1,2.
            (
                vec![0, 1, 2],
                7,
                vec![0, 1, 3],
                1,
                "accepted aggregates verify offline",
            ),
            (
                vec![0, 1, 2],
                7,
                vec![0, 1, 2],
                2,
                "at most one accepted response per task",
            ),
        ];
        for (claimed, result, real, times, invariant) in cases {
            let mut c = with_task_1(&s, &keys);
            for k in 0..times {
                let sig = keys.aggregate(&real, 1, result);
                c.observe(&ev(2 + k, accepted(1, result, claimed.clone(), sig)));
            }
            assert_eq!(c.first_violation().map(|v| v.invariant), Some(invariant));
            assert_eq!(c.first_violation().map(|v| v.at_ms), Some(1 + times));
        }
    }

    #[test]
    fn two_valid_signatures_by_one_honest_key_on_the_wire_are_caught() {
        let s = scenario("");
        let keys = Keys::new(4);
        let sign = |i: usize, r: u64| {
            keys.0[i]
                .sign(&response_message(1, &sum(r)), DST, &[])
                .serialize()
                .to_vec()
        };
        let mut c = with_task_1(&s, &keys);
        // The same result again, or a second result with a signature that does not verify
        // under the operator's key (someone else's), is not equivocation by that key.
        c.observe_wire(2, 0, 1, &sum(7), &sign(0, 7));
        c.observe_wire(3, 0, 1, &sum(7), &sign(0, 7));
        c.observe_wire(4, 0, 1, &sum(8), &sign(1, 8));
        // The byzantine operator 3 may equivocate.
        c.observe_wire(5, 3, 1, &sum(7), &sign(3, 7));
        c.observe_wire(6, 3, 1, &sum(9), &sign(3, 9));
        assert!(c.violations().is_empty(), "{:?}", c.violations());
        c.observe_wire(7, 0, 1, &sum(9), &sign(0, 9));
        assert_eq!(
            c.first_violation().map(|v| (v.invariant, v.at_ms)),
            Some((
                "an honest operator's key signs one result per task (on the wire)",
                7
            ))
        );
    }

    #[test]
    fn a_submission_below_threshold_is_caught_once_the_chain_is_read_past_it() {
        let s = scenario("");
        let keys = Keys::new(4);
        let mut c = with_task_1(&s, &keys);
        // 3 of 4 equal weights carry 67 %; 2 of 4 do not.
        c.observe_submission(2, "aggregator", 1, &[3]);
        c.observe_submission(3, "aggregator", 1, &[2, 3]);
        assert!(c.violations().is_empty(), "judged when the task ends");
        c.observe(&ev(
            4,
            EventKind::TaskExpired {
                task: 1,
                reason: "no quorum".into(),
            },
        ));
        assert_eq!(
            c.first_violation().map(|v| (v.invariant, v.at_ms)),
            Some((
                "the aggregator submits only aggregates that reach the threshold",
                3
            ))
        );
        assert_eq!(c.violations().len(), 1);
    }

    #[test]
    fn honest_operator_signing_two_results_is_caught() {
        let s = scenario("");
        let mut c = Checker::new(&s);
        c.observe(&created(1));
        let sent = |at: u64, operator: usize, result: u64| {
            ev(at, EventKind::sum_response_sent(1, operator, result))
        };
        // The same result twice is fine; the byzantine operator 3 may send two results.
        for (at, op, r) in [(2, 0, 7), (3, 0, 7), (4, 3, 8), (5, 3, 9), (6, 1, 7)] {
            c.observe(&sent(at, op, r));
        }
        assert!(c.violations().is_empty());
        // Honest operator 1 may not.
        c.observe(&sent(7, 1, 8));
        assert_eq!(c.first_violation().map(|v| v.kind), Some(Kind::Safety));
        assert_eq!(c.first_violation().map(|v| v.at_ms), Some(7));
    }

    #[test]
    fn liveness_fires_at_the_first_event_past_the_bound_and_lost_tasks_at_the_end() {
        let s = scenario("");
        let mut c = Checker::new(&s);
        c.observe(&ev(
            0,
            EventKind::PhaseChanged {
                phase: "liveness".into(),
            },
        ));
        c.observe(&ev(1000, EventKind::sum_task_created(1, 1, 1)));
        c.observe(&ev(
            11_000,
            EventKind::Note {
                text: String::new(),
            },
        ));
        assert!(c.violations().is_empty());
        c.observe(&ev(
            11_001,
            EventKind::Note {
                text: String::new(),
            },
        ));
        assert_eq!(c.first_violation().map(|v| v.kind), Some(Kind::Liveness));

        let s = scenario("").clone();
        let mut s2 = s.clone();
        s2.expect.outcome = Outcome::NoneAccepted;
        let mut c = Checker::new(&s2);
        c.observe(&ev(1, EventKind::sum_task_created(1, 1, 1)));
        c.observe(&ev(2, EventKind::sum_task_created(2, 1, 1)));
        c.observe(&ev(
            3,
            EventKind::TaskExpired {
                task: 1,
                reason: "no quorum".into(),
            },
        ));
        c.finish(50_000, 2);
        assert_eq!(c.first_violation().map(|v| v.kind), Some(Kind::Lost));
    }

    /// After healing, a task must be accepted unless its window was about to end: with a 2 s
    /// block and the 5 s RPC timeout the margin is 10 s.
    #[test]
    fn a_task_expiring_after_healing_fails_unless_its_window_was_ending() {
        let s = scenario("");
        let window = s.tasks.response_window_ms;
        let expire = |healed: u64, created: u64| {
            let mut c = Checker::new(&s);
            c.observe(&ev(created, EventKind::sum_task_created(1, 1, 1)));
            c.observe(&ev(
                healed,
                EventKind::PhaseChanged {
                    phase: "liveness".into(),
                },
            ));
            c.observe(&ev(
                created + window,
                EventKind::TaskExpired {
                    task: 1,
                    reason: "response period ended".into(),
                },
            ));
            invariants(&c)
        };
        assert_eq!(
            expire(1_000, 0),
            ["every task accepted within the bound after healing"]
        );
        // Healed exactly the margin before the window's end: still demanded.
        assert_eq!(
            expire(window - 10_000, 0),
            ["every task accepted within the bound after healing"]
        );
        // Healed less than the margin before it: it may expire.
        assert!(expire(window - 9_999, 0).is_empty());
        assert!(expire(window - 4_800, 0).is_empty());
    }

    #[test]
    fn missing_expected_rejection_is_reported() {
        let s = scenario("rejections = [\"provably-wrong\"]");
        let mut c = Checker::new(&s);
        c.finish(0, 0);
        assert_eq!(c.first_violation().map(|v| v.kind), Some(Kind::Expectation));
        let mut c = Checker::new(&s);
        c.observe(&ev(
            1,
            EventKind::ResponseRejected {
                task: 1,
                operator: 3,
                reason: "provably-wrong".into(),
            },
        ));
        c.finish(0, 0);
        assert!(c.violations().is_empty());
    }

    #[test]
    fn settlement_must_follow_the_commits_on_chain() {
        let mut s = scenario("");
        s.flow = crate::scenario::Flow::TwoPhase;
        let run = |rewarded: Vec<usize>, slashed: Vec<usize>| {
            let mut c = Checker::new(&s);
            c.observe(&created(1));
            // 0, 1, 2 commit the sum; 3 (wrong-sum) commits 8.
            for (op, r) in [(0, 7), (1, 7), (2, 7), (3, 8)] {
                c.observe_settlement(Settlement::Commit {
                    at_ms: 2,
                    task: 1,
                    operator: op,
                    response: sum(r),
                });
            }
            assert_eq!(c.open_tasks(), 1, "unsettled two-phase tasks stay open");
            c.observe_settlement(Settlement::Settled {
                at_ms: 3,
                task: 1,
                actual_threshold: 75,
                rewarded,
                slashed,
            });
            c
        };
        let c = run(vec![0, 1, 2], vec![3]);
        assert!(c.violations().is_empty(), "{:?}", c.violations());
        assert_eq!(c.open_tasks(), 1, "not accepted yet");
        for (rewarded, slashed) in [
            (vec![0, 1, 2, 3], vec![]),
            (vec![0, 1], vec![2, 3]),
            (vec![0, 1, 2], vec![]),
        ] {
            let c = run(rewarded, slashed);
            assert_eq!(
                c.first_violation().map(|v| v.invariant),
                Some("the challenger rewards and slashes by the commits on chain")
            );
        }
        let mut c = Checker::new(&s);
        c.observe(&created(1));
        c.finish(10, 1);
        assert!(
            c.violations()
                .iter()
                .any(|v| v.invariant == "the challenger settles every task")
        );
    }

    /// `NewTaskCreated` for `task` with the plan of `scenario("")` and the given summands.
    fn on_chain(task: u64, pair: (u64, u64), params: TaskPlan) -> Settlement {
        Settlement::Created {
            // One interval (1 s) apart, as the generator creates them.
            at_ms: task * 1_000,
            task,
            payload: SumAvs::payload_bytes(pair.0, pair.1),
            seed: Some(42),
            params,
        }
    }

    fn invariants(c: &Checker) -> Vec<&'static str> {
        c.violations().iter().map(|v| v.invariant).collect()
    }

    #[test]
    fn tasks_as_planned_pass_and_each_departure_from_the_plan_is_caught() {
        let s = scenario("");
        let plan = s.task_plan();
        assert_eq!(
            plan,
            TaskPlan {
                threshold: 67,
                response_period: 60,
                challenge_period: 10,
                statistical_period: 10
            }
        );
        let pairs = planned_pairs(42, 2);
        assert_ne!(pairs[0], pairs[1]);
        let mut c = Checker::new(&s);
        c.observe_settlement(on_chain(1, pairs[0], plan));
        c.observe_settlement(on_chain(2, pairs[1], plan));
        assert!(c.violations().is_empty(), "{:?}", c.violations());

        let bad_plans = [
            TaskPlan {
                threshold: 66,
                ..plan
            },
            TaskPlan {
                response_period: 59,
                ..plan
            },
            TaskPlan {
                challenge_period: 11,
                ..plan
            },
            TaskPlan {
                statistical_period: 9,
                ..plan
            },
        ];
        for bad in bad_plans {
            let mut c = Checker::new(&s);
            c.observe_settlement(on_chain(1, pairs[0], bad));
            assert_eq!(
                invariants(&c),
                ["tasks carry the scenario's threshold and periods"],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn summands_outside_the_seeded_source_are_caught() {
        let s = scenario("");
        let plan = s.task_plan();
        let mut c = Checker::new(&s);
        let (a, b) = planned_pairs(42, 1)[0];
        c.observe_settlement(on_chain(1, (a, b + 1), plan));
        assert_eq!(
            invariants(&c),
            ["task payloads come from the generator's seeded source"]
        );
        // The third pair of the source is not among the two planned tasks' pairs.
        let mut c = Checker::new(&s);
        c.observe_settlement(on_chain(1, planned_pairs(42, 3)[2], plan));
        assert_eq!(
            invariants(&c),
            ["task payloads come from the generator's seeded source"]
        );
    }

    #[test]
    fn a_task_created_twice_or_an_extra_task_is_caught() {
        let s = scenario("");
        let plan = s.task_plan();
        let pairs = planned_pairs(42, 2);
        let mut c = Checker::new(&s);
        c.observe_settlement(on_chain(1, pairs[0], plan));
        c.observe_settlement(on_chain(2, pairs[0], plan));
        assert_eq!(invariants(&c), ["each planned task is created once"]);
        c.observe_settlement(on_chain(3, pairs[1], plan));
        assert_eq!(
            invariants(&c),
            [
                "each planned task is created once",
                "no more tasks than the scenario plans"
            ]
        );
        // The count is judged at the end too, from the trace's tasks (the chain's events).
        let mut c = Checker::new(&s);
        for t in 1..=3 {
            c.observe(&created(t));
            c.observe(&ev(2, accepted(t, 7, vec![0, 1, 2], String::new())));
        }
        c.finish(10, 2);
        assert!(invariants(&c).contains(&"no more tasks than the scenario plans"));
    }

    #[test]
    fn a_skipped_task_is_caught_at_the_end() {
        let s = scenario("");
        let keys = Keys::new(4);
        let mut c = with_task_1(&s, &keys);
        c.observe(&ev(
            2,
            accepted(1, 7, vec![0, 1, 2], keys.aggregate(&[0, 1, 2], 1, 7)),
        ));
        c.finish(10, 2);
        assert_eq!(invariants(&c), ["every planned task is created"]);
    }

    #[test]
    fn tasks_created_faster_than_the_interval_are_caught() {
        let mut s = scenario("");
        s.tasks.count = 10;
        let plan = s.task_plan();
        let pairs = planned_pairs(42, 10);
        let at = |ms: u64, t: u64| Settlement::Created {
            at_ms: ms,
            task: t,
            payload: SumAvs::payload_bytes(pairs[t as usize - 1].0, pairs[t as usize - 1].1),
            seed: Some(42),
            params: plan,
        };
        // On the cadence, a little early (the observer's jitter), a late first task, or a burst
        // of held-up creates that is still behind the schedule: fine.
        let mut c = Checker::new(&s);
        for (t, ms) in [(1, 0), (2, 100), (3, 950), (4, 5000), (5, 5010), (6, 5020)] {
            c.observe_settlement(at(ms, t));
        }
        assert!(c.violations().is_empty(), "{:?}", c.violations());
        // The first task held up with the rest, then all in a burst: still behind a schedule
        // that counts from the start of the run (interval 1000 ms here).
        let mut c = Checker::new(&s);
        c.observe(&ev(
            0,
            EventKind::PhaseChanged {
                phase: "safety".into(),
            },
        ));
        for (t, ms) in [
            (1, 6600),
            (2, 6600),
            (3, 6610),
            (4, 6620),
            (5, 6630),
            (6, 7000),
        ] {
            c.observe_settlement(at(ms, t));
        }
        assert!(c.violations().is_empty(), "{:?}", c.violations());
        // Twice the rate from the start: caught as before.
        let mut c = Checker::new(&s);
        c.observe(&ev(
            0,
            EventKind::PhaseChanged {
                phase: "safety".into(),
            },
        ));
        for t in 1..=10 {
            c.observe_settlement(at((t - 1) * 500, t));
        }
        assert_eq!(
            invariants(&c),
            ["tasks are created no faster than the scenario's interval"]
        );
        // Twice the rate: caught once the generator is two tasks ahead.
        let mut c = Checker::new(&s);
        for t in 1..=10 {
            c.observe_settlement(at((t - 1) * 500, t));
        }
        assert_eq!(
            invariants(&c),
            ["tasks are created no faster than the scenario's interval"]
        );
        // A generator that starts afresh may create one task at once.
        let mut c = Checker::new(&s);
        c.observe_settlement(at(0, 1));
        c.observe_settlement(at(100, 2));
        c.observe(&ev(
            150,
            EventKind::FaultHealed {
                fault: "restart generator".into(),
            },
        ));
        c.observe_settlement(at(200, 3));
        c.observe_settlement(at(300, 4));
        assert!(c.violations().is_empty(), "{:?}", c.violations());
        c.observe_settlement(at(400, 5));
        assert_eq!(
            invariants(&c),
            ["tasks are created no faster than the scenario's interval"]
        );
    }

    /// The keys `for_run(s, 9)` expects, as the set-up registers them.
    fn seeded_key(i: usize) -> String {
        let k = blst::min_pk::SecretKey::key_gen(&operator_bls_ikm(9, i), &[]).unwrap();
        hex::encode(k.sk_to_pk().serialize())
    }

    fn registered(c: &mut Checker, i: usize, pubkey: String) {
        c.observe(&ev(
            0,
            EventKind::OperatorRegistered {
                operator: i,
                pubkey,
            },
        ));
    }

    #[test]
    fn registrations_other_than_the_scenario_sets_up_are_caught() {
        let s = scenario("");
        let mut c = Checker::for_run(&s, 9);
        for i in 0..4 {
            registered(&mut c, i, seeded_key(i));
        }
        c.observe(&created(1));
        assert!(c.violations().is_empty(), "{:?}", c.violations());

        // Another seed's key, a missing registration (judged at the first task), a second key.
        let mut c = Checker::for_run(&s, 9);
        registered(&mut c, 0, seeded_key(0));
        registered(&mut c, 1, seeded_key(2));
        registered(&mut c, 2, seeded_key(2));
        assert!(c.violations().is_empty(), "judged at the first task");
        c.observe(&created(1));
        let v = c.first_violation().expect("caught");
        assert_eq!(
            v.invariant,
            "operators register the keys the scenario gives them"
        );
        assert!(
            v.detail.contains("operator 1 registered a key other"),
            "{v}"
        );
        assert!(v.detail.contains("operator 3 registered no key"), "{v}");

        let mut c = Checker::for_run(&s, 9);
        registered(&mut c, 0, seeded_key(0));
        registered(&mut c, 0, seeded_key(1));
        assert_eq!(invariants(&c), ["an operator's key is registered once"]);

        // A rogue key must end up with no key at all; a run without tasks is judged at the end.
        let mut s = scenario("");
        s.operators.special.push(crate::scenario::Special {
            index: 2,
            behaviour: Behaviour::RogueKey,
        });
        let mut c = Checker::for_run(&s, 9);
        for i in 0..4 {
            registered(&mut c, i, seeded_key(i));
        }
        c.finish(1, 0);
        assert!(invariants(&c).contains(&"operators register the keys the scenario gives them"));
    }

    /// Operators 0–2 registered and on the wire with 7 for task 1, as in a healthy run.
    fn run_with_wire(keys: &Keys) -> Checker {
        let s = scenario("");
        let mut c = with_task_1(&s, keys);
        c.wire_watched = true;
        for op in 0..3 {
            let sig = keys.0[op]
                .sign(&response_message(1, &sum(7)), DST, &[])
                .to_bytes();
            c.observe_wire(1, op, 1, &sum(7), &sig);
        }
        c
    }

    #[test]
    fn submissions_are_judged_against_who_answered() {
        let keys = Keys::new(4);
        let agg = keys.aggregate(&[0, 1, 2], 1, 7);
        let mut c = run_with_wire(&keys);
        c.observe(&ev(2, accepted(1, 7, vec![0, 1, 2], agg.clone())));
        assert!(c.violations().is_empty(), "{:?}", c.violations());

        // A signer whose response never reached the aggregator.
        let s = scenario("");
        let mut c = with_task_1(&s, &keys);
        c.wire_watched = true;
        c.observe(&ev(2, accepted(1, 7, vec![0, 1, 2], agg.clone())));
        assert_eq!(
            invariants(&c),
            ["signers put the accepted result on the wire"]
        );

        // A signer whose behaviour never signs the right result (operator 3 signs a wrong sum).
        let mut c = run_with_wire(&keys);
        c.observe_wire(1, 3, 1, &sum(7), &[0u8; 96]);
        let all = keys.aggregate(&[0, 1, 2, 3], 1, 7);
        c.observe(&ev(2, accepted(1, 7, vec![0, 1, 2, 3], all)));
        assert_eq!(
            invariants(&c),
            ["only operators the scenario lets answer correctly sign"]
        );

        // Non-signers other than the registered operators that did not sign.
        for named in [vec![], vec![3, 3], vec![3, usize::MAX], vec![2, 3]] {
            let mut c = run_with_wire(&keys);
            let EventKind::TaskAccepted {
                task,
                response,
                shown,
                signers,
                signed_weight,
                total_weight,
                aggregate_signature,
                ..
            } = accepted(1, 7, vec![0, 1, 2], agg.clone())
            else {
                unreachable!()
            };
            c.observe(&ev(
                2,
                EventKind::TaskAccepted {
                    task,
                    response,
                    shown,
                    signers,
                    signed_weight,
                    total_weight,
                    non_signers: named.clone(),
                    aggregate_signature,
                },
            ));
            assert_eq!(
                invariants(&c),
                ["non-signers are exactly the registered operators that did not sign"],
                "{named:?}"
            );
        }
    }

    #[test]
    fn stakes_other_than_the_scenario_gives_are_caught() {
        let keys = Keys::new(4);
        let agg = keys.aggregate(&[0, 1, 2], 1, 7);
        for (signed, total) in [(301, 400), (300, 401), (300, 300)] {
            let mut c = run_with_wire(&keys);
            c.observe(&ev(
                2,
                EventKind::TaskAccepted {
                    task: 1,
                    response: hex0x(&sum(7)),
                    shown: "7".into(),
                    signers: vec![0, 1, 2],
                    signed_weight: signed,
                    total_weight: total,
                    non_signers: vec![3],
                    aggregate_signature: agg.clone(),
                },
            ));
            assert_eq!(
                invariants(&c),
                ["the chain's stakes are the scenario's"],
                "{signed} of {total}"
            );
        }
    }

    #[test]
    fn a_settlement_reporting_another_threshold_is_caught() {
        let mut s = scenario("");
        s.flow = crate::scenario::Flow::TwoPhase;
        // 0 and 1 commit the sum, 2 equivocates (7, then 9), 3 commits a wrong sum: 2 of 4.
        let run = |actual: u8| {
            let mut c = Checker::new(&s);
            c.observe(&created(1));
            for (op, r) in [(0, 7), (1, 7), (2, 7), (2, 9), (3, 8)] {
                c.observe_settlement(Settlement::Commit {
                    at_ms: 2,
                    task: 1,
                    operator: op,
                    response: sum(r),
                });
            }
            c.observe_settlement(Settlement::Settled {
                at_ms: 3,
                task: 1,
                actual_threshold: actual,
                rewarded: vec![0, 1],
                slashed: vec![2, 3],
            });
            invariants(&c)
        };
        assert!(run(50).is_empty(), "{:?}", run(50));
        for wrong in [75, 100, 49, 0] {
            assert_eq!(
                run(wrong),
                ["a settlement reports the threshold the commits reached"],
                "{wrong}"
            );
        }
    }

    /// Issue 12: in the aggregated flow a settlement slashes only what the wire proves (a wrong
    /// result of the operator's own), pays only who answered, and reports the paid stake's share.
    #[test]
    fn aggregated_settlements_slash_only_provable_faults() {
        let keys = Keys::new(4);
        let run = |rewarded: Vec<usize>, slashed: Vec<usize>, actual: u8| {
            let mut s = scenario("");
            s.challenger = Some(true);
            let mut c = with_task_1(&s, &keys);
            c.wire_watched = true;
            for op in 0..3 {
                let sig = keys.0[op]
                    .sign(&response_message(1, &sum(7)), DST, &[])
                    .to_bytes();
                c.observe_wire(1, op, 1, &sum(7), &sig);
            }
            // Operator 3 (wrong-sum) signs 8.
            let sig = keys.0[3]
                .sign(&response_message(1, &sum(8)), DST, &[])
                .to_bytes();
            c.observe_wire(1, 3, 1, &sum(8), &sig);
            c.observe_settlement(Settlement::Settled {
                at_ms: 3,
                task: 1,
                actual_threshold: actual,
                rewarded,
                slashed,
            });
            invariants(&c)
        };
        assert!(run(vec![0, 1, 2], vec![3], 75).is_empty());
        // Absence is not slashed either: a settlement that spares 3 is fine.
        assert!(run(vec![0, 1, 2], vec![], 75).is_empty());
        // The planted "slash every non-signer" rule, with 2 honest but left out of the aggregate.
        assert_eq!(
            run(vec![0, 1], vec![2, 3], 50),
            ["only operators with provable faults are slashed"]
        );
        assert_eq!(
            run(vec![0, 1, 2, 3], vec![], 100),
            ["no operator that never answered is rewarded"]
        );
        assert_eq!(
            run(vec![0, 1, 2], vec![3], 60),
            ["a settlement reports the threshold the rewarded stake reached"]
        );
    }

    #[test]
    fn an_aggregate_without_an_honest_operator_fails_the_inclusion_expectation() {
        let keys = Keys::new(4);
        let s = scenario("all_honest_included = true");
        for (signers, caught) in [(vec![0, 1, 2], false), (vec![0, 1], true)] {
            let mut c = with_task_1(&s, &keys);
            let agg = keys.aggregate(&signers, 1, 7);
            c.observe(&ev(2, accepted(1, 7, signers, agg)));
            assert_eq!(
                invariants(&c).contains(&"every honest operator is in the aggregate"),
                caught
            );
        }
    }
}
