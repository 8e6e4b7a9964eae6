//! `scenarios/*.toml`: one simulated case as data.
//!
//! Unknown keys are errors (a typo must not silently turn a fault off), and every error names
//! the file and the field it is about.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// How operators behave. Everything but `honest` is a wrapper around the honest operator.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    Honest,
    /// Signs `a + b + 1`.
    WrongSum,
    /// Sends a signature that is not a valid BLS signature of the message.
    InvalidSignature,
    /// Signs the right sum for another task id.
    SignsAnotherTask,
    /// Claims a public key it holds no proof of possession for.
    RogueKey,
    /// Sends again a response it already sent, for later tasks too.
    Replay,
    /// Signs two different results for one task.
    Equivocate,
    /// Never answers.
    Silent,
    /// Honest, but its node crashes and restarts now and then (from its persisted state).
    CrashRestart,
}

impl Behaviour {
    /// Whether the operator's signature counts towards a correct quorum.
    pub fn is_honest(self) -> bool {
        matches!(self, Behaviour::Honest | Behaviour::CrashRestart)
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// Operators send signed responses to the aggregator, which submits one aggregate.
    Aggregated,
    /// Operators commit then reveal on chain (the precompile's two-phase flow).
    TwoPhase,
}

/// The most operators a scenario may have (each gets its own address and frame-proxy port).
pub const MAX_OPERATORS: usize = 4096;

/// Where the operator registry lives.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Registry {
    /// At the avs precompile's address, 0x…0901, installed with `anvil_setCode` (as on Imua).
    #[default]
    Precompile,
    /// Deployed as ordinary contracts within EIP-170 (`OperatorRegistry` and its aux half), as on
    /// a Prague chain without the precompile.
    Ordinary,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Special {
    pub index: usize,
    pub behaviour: Behaviour,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Operators {
    pub count: usize,
    /// Stake weights, one per operator; all equal (100) when absent.
    #[serde(default)]
    pub weights: Vec<u64>,
    /// Operators that are not honest.
    #[serde(default)]
    pub special: Vec<Special>,
    /// Operators whose link to the aggregator adds a fixed delay to every frame, the whole run
    /// (a slow but healthy link, not a fault: it is not healed).
    #[serde(default)]
    pub slow_links: Vec<SlowLink>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlowLink {
    pub index: usize,
    pub delay_ms: u64,
}

impl Operators {
    pub fn weight(&self, i: usize) -> u64 {
        self.weights.get(i).copied().unwrap_or(100)
    }
    pub fn behaviour(&self, i: usize) -> Behaviour {
        self.special
            .iter()
            .find(|s| s.index == i)
            .map(|s| s.behaviour)
            .unwrap_or(Behaviour::Honest)
    }
    /// Sums in u128: any u64 weights (the fuzzer draws large ones) add up without overflow.
    pub fn total_weight(&self) -> u128 {
        (0..self.count).map(|i| self.weight(i) as u128).sum()
    }
    pub fn honest_weight(&self) -> u128 {
        (0..self.count)
            .filter(|&i| self.behaviour(i).is_honest())
            .map(|i| self.weight(i) as u128)
            .sum()
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tasks {
    pub count: u64,
    pub interval_ms: u64,
    /// How long operators may answer, in simulated ms (the contract's response period).
    #[serde(default = "default_response_window")]
    pub response_window_ms: u64,
}

fn default_response_window() -> u64 {
    60_000
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    #[serde(default = "default_block_time")]
    pub block_time_ms: u64,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            block_time_ms: default_block_time(),
        }
    }
}

fn default_block_time() -> u64 {
    2_000
}

/// A fault at a chosen time (or on a chosen event).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Scheduled {
    /// Kill a node; restart it (from its persisted state) after `restart_after_ms`, or when
    /// the faults heal if absent.
    Crash {
        node: String,
        at_ms: u64,
        restart_after_ms: Option<u64>,
    },
    /// Kill a node and restart it after `restart_after_ms` reading the chain through a node on
    /// another fork: in the task events of blocks up to the crash, each task id carries another
    /// `a` (a reorg that reused task ids). An operator that signed such a task before the crash
    /// is asked for a second, different result: its ledger must make it refuse.
    CrashOntoFork {
        node: String,
        at_ms: u64,
        restart_after_ms: u64,
    },
    /// Kill the aggregator when it has collected a quorum for a task and before it submits.
    CrashOnQuorum { node: String, restart_after_ms: u64 },
    /// Kill the aggregator once `acks` operators hold its acknowledgement for one task (they
    /// will not send that response again) and before the task has a quorum: only what the
    /// aggregator persisted brings those responses back after the restart.
    CrashOnAcks {
        node: String,
        acks: usize,
        restart_after_ms: u64,
    },
    /// Cut `nodes` off from every other node (the chain gateway included).
    Partition {
        nodes: Vec<String>,
        at_ms: u64,
        duration_ms: u64,
    },
    /// Replace the last `depth` blocks.
    Reorg { at_ms: u64, depth: u64 },
    /// Every chain RPC fails for a while.
    RpcOutage { at_ms: u64, duration_ms: u64 },
}

/// Random faults. With `swarm = true` each seed draws each rate uniformly in [0, rate], so a
/// sweep explores many fault mixes (TigerBeetle's swarm testing).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Random {
    #[serde(default)]
    pub swarm: bool,
    /// Per simulated second, per node: probability the node crashes.
    #[serde(default)]
    pub crash: f64,
    #[serde(default = "default_restart_after")]
    pub restart_after_ms: u64,
    /// Per simulated second, per operator: probability it is partitioned for `partition_ms`.
    #[serde(default)]
    pub partition: f64,
    #[serde(default = "default_partition_ms")]
    pub partition_ms: u64,
    /// Per operator→aggregator frame.
    #[serde(default)]
    pub frame_loss: f64,
    #[serde(default)]
    pub frame_duplicate: f64,
    #[serde(default)]
    pub frame_reorder: f64,
    #[serde(default)]
    pub frame_delay: f64,
    #[serde(default = "default_delay_max")]
    pub frame_delay_max_ms: u64,
    /// Per chain RPC request: a JSON-RPC error answer (-32603), not forwarded.
    #[serde(default)]
    pub rpc_error: f64,
    /// Per chain RPC request: the connection closes without an answer, not forwarded.
    #[serde(default)]
    pub rpc_reset: f64,
    #[serde(default)]
    pub rpc_timeout: f64,
    #[serde(default)]
    pub rpc_delay: f64,
    #[serde(default = "default_delay_max")]
    pub rpc_delay_max_ms: u64,
    #[serde(default)]
    pub rpc_duplicate: f64,
    /// Per mined block.
    #[serde(default)]
    pub reorg: f64,
    #[serde(default = "default_reorg_depth")]
    pub reorg_max_depth: u64,
}

fn default_restart_after() -> u64 {
    5_000
}
fn default_partition_ms() -> u64 {
    8_000
}
fn default_delay_max() -> u64 {
    2_000
}
fn default_reorg_depth() -> u64 {
    2
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Faults are active from 0 to `safety_phase_ms`; then everything heals (liveness phase).
    #[serde(default = "default_safety_phase")]
    pub safety_phase_ms: u64,
    /// After healing, every task must be settled within this much simulated time.
    #[serde(default = "default_liveness_bound")]
    pub liveness_bound_ms: u64,
    #[serde(default)]
    pub scheduled: Vec<Scheduled>,
    #[serde(default)]
    pub random: Random,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            safety_phase_ms: default_safety_phase(),
            liveness_bound_ms: default_liveness_bound(),
            scheduled: Vec::new(),
            random: Random::default(),
        }
    }
}

fn default_safety_phase() -> u64 {
    60_000
}
fn default_liveness_bound() -> u64 {
    120_000
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every task is accepted (requires enough honest weight).
    AllAccepted,
    /// No task may be accepted (honest weight below the threshold).
    NoneAccepted,
    /// Every task ends within the liveness bound: accepted, or expired with a reason. For an
    /// AVS whose honest operators may legitimately disagree (an oracle's feeds on either side of
    /// a rounding boundary), so that a split vote is an expiry, not a liveness failure.
    EachEnds,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub outcome: Outcome,
    /// Rejection reasons that must appear in the trace (the aggregator caught the byzantine).
    #[serde(default)]
    pub rejections: Vec<String>,
    /// Every honest operator's signature is in every accepted aggregate (the linger window
    /// waited for the slow ones).
    #[serde(default)]
    pub all_honest_included: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub flow: Flow,
    /// The registry the AVS runs on: `emulation` (default; exoavs's emulation of Imua's avs
    /// precompile) or `imua` (the strict emulation, as a real Imua chain behaves: compressed BLS
    /// points, x/epochs' counter, failures as `false`, no extension; two-phase flow only).
    #[serde(default)]
    pub profile: exoavs::chain::avs::Profile,
    /// Where the registry lives: `precompile` (default, at 0x…0901) or `ordinary` (ordinary
    /// contracts, as on a Prague chain without the precompile; the `emulation` profile only).
    #[serde(default)]
    pub registry: Registry,
    /// Percentage of total stake weight that must sign for a task to be accepted.
    pub threshold_percent: u8,
    pub operators: Operators,
    pub tasks: Tasks,
    #[serde(default)]
    pub chain: Chain,
    #[serde(default)]
    pub faults: Faults,
    /// Whether a challenger settles every task (rewards and slashing). Default: in the
    /// two-phase flow only.
    #[serde(default)]
    pub challenger: Option<bool>,
    pub expect: Expect,
    /// Default seeds the test suite runs (more with `EXOAVS_SIM_SEEDS`).
    #[serde(default)]
    pub seeds: Vec<u64>,
}

impl Scenario {
    /// Whether the run has a challenger settling every task.
    pub fn has_challenger(&self) -> bool {
        self.challenger.unwrap_or(self.flow == Flow::TwoPhase)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: field `{field}`: {message}")]
    Parse {
        file: PathBuf,
        field: String,
        message: String,
    },
    #[error("{file}: field `{field}`: {message}")]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
}

/// Seconds per epoch of the simulated AVS (the emulation's "devnet-1s").
pub const EPOCH_SECONDS: u64 = 1;

/// How long a simulated node waits for one chain RPC answer (virtual time). A request whose
/// answer a fault took is only given up after this long, so it also bounds how late after the
/// faults heal a node can still be stuck on one (the auditor's liveness margin).
pub const RPC_TIMEOUT_MS: u64 = 5_000;
/// Challenge and statistical periods (epochs) the sim's generator gives every task.
pub const CHALLENGE_PERIOD: u64 = 10;
pub const STATISTICAL_PERIOD: u64 = 10;
/// Summands are drawn uniformly in `0..=PAIR_MAX` from `StdRng::seed_from_u64(seed)`.
pub const PAIR_MAX: u64 = 1_000_000;

/// The numbers every task of a run must carry on chain, derived from the scenario alone: the
/// generator is configured from it, and the auditor checks the chain against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskPlan {
    pub threshold: u8,
    pub response_period: u64,
    pub challenge_period: u64,
    pub statistical_period: u64,
}

/// The first `n` pairs of the generator's seeded source (`RngPairs` over
/// `StdRng::seed_from_u64(seed)`, `max = PAIR_MAX`), re-derived from the seed.
pub fn planned_pairs(seed: u64, n: u64) -> Vec<(u64, u64)> {
    use exoavs::protocol::generator::RngPairs;
    use rand::SeedableRng;
    let mut src = RngPairs {
        rng: rand::rngs::StdRng::seed_from_u64(seed),
        max: PAIR_MAX,
    };
    (0..n).map(|_| src.next_pair()).collect()
}

impl Scenario {
    /// What the generator must put into every task (see [`TaskPlan`]).
    pub fn task_plan(&self) -> TaskPlan {
        TaskPlan {
            threshold: self.threshold_percent,
            response_period: (self.tasks.response_window_ms / 1000 / EPOCH_SECONDS).max(1),
            challenge_period: CHALLENGE_PERIOD,
            statistical_period: STATISTICAL_PERIOD,
        }
    }

    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(path, &text)
    }

    /// Parse and validate; `path` only names the source in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(|e| {
            let field = e
                .span()
                .map(|sp| field_at(text, sp.start))
                .unwrap_or_default();
            let field = match unknown_field(e.message()) {
                Some(name) if field.is_empty() => name,
                Some(name) if !field.ends_with(&name) => format!("{field}.{name}"),
                _ => field,
            };
            ScenarioError::Parse {
                file: path.to_path_buf(),
                field: if field.is_empty() {
                    "(top level)".into()
                } else {
                    field
                },
                message: e.message().trim().to_string(),
            }
        })?;
        s.validate(path)?;
        Ok(s)
    }

    fn validate(&self, path: &Path) -> Result<(), ScenarioError> {
        let bad = |field: &str, message: String| {
            Err(ScenarioError::Invalid {
                file: path.to_path_buf(),
                field: field.into(),
                message,
            })
        };
        if self.profile == exoavs::chain::avs::Profile::Imua && self.flow != Flow::TwoPhase {
            return bad(
                "profile",
                "\"imua\" runs the two-phase flow only (Imua's EVM has no EIP-2537)".into(),
            );
        }
        if self.registry == Registry::Ordinary
            && self.profile != exoavs::chain::avs::Profile::Emulation
        {
            return bad(
                "registry",
                "\"ordinary\" is exoavs's registry as ordinary contracts: profile \"emulation\" only"
                    .into(),
            );
        }
        let o = &self.operators;
        if o.count == 0 {
            return bad("operators.count", "at least one operator".into());
        }
        if o.count > MAX_OPERATORS {
            return bad(
                "operators.count",
                format!("{} operators; at most {MAX_OPERATORS}", o.count),
            );
        }
        if !o.weights.is_empty() && o.weights.len() != o.count {
            return bad(
                "operators.weights",
                format!("{} weights for {} operators", o.weights.len(), o.count),
            );
        }
        if o.weights.contains(&0) {
            return bad("operators.weights", "weights must be positive".into());
        }
        for (k, sp) in o.special.iter().enumerate() {
            if sp.index >= o.count {
                return bad(
                    &format!("operators.special[{k}].index"),
                    format!("{} but only {} operators", sp.index, o.count),
                );
            }
            if o.special[..k].iter().any(|p| p.index == sp.index) {
                return bad(
                    &format!("operators.special[{k}].index"),
                    format!("operator {} listed twice", sp.index),
                );
            }
        }
        for (k, l) in o.slow_links.iter().enumerate() {
            if l.index >= o.count {
                return bad(
                    &format!("operators.slow_links[{k}].index"),
                    format!("{} but only {} operators", l.index, o.count),
                );
            }
            if l.delay_ms >= self.tasks.response_window_ms {
                return bad(
                    &format!("operators.slow_links[{k}].delay_ms"),
                    format!(
                        "{} ms is not shorter than the response window ({} ms)",
                        l.delay_ms, self.tasks.response_window_ms
                    ),
                );
            }
        }
        if self.threshold_percent == 0 || self.threshold_percent > 100 {
            return bad(
                "threshold_percent",
                format!("{} is not in 1..=100", self.threshold_percent),
            );
        }
        if self.tasks.count == 0 {
            return bad("tasks.count", "at least one task".into());
        }
        if self.tasks.interval_ms == 0 {
            return bad("tasks.interval_ms", "must be positive".into());
        }
        if self.chain.block_time_ms < 1_000 {
            return bad(
                "chain.block_time_ms",
                "at least 1000 (block timestamps are whole seconds)".into(),
            );
        }
        let names = self.node_names();
        for (k, f) in self.faults.scheduled.iter().enumerate() {
            let nodes: Vec<&String> = match f {
                Scheduled::Crash { node, .. }
                | Scheduled::CrashOnQuorum { node, .. }
                | Scheduled::CrashOnAcks { node, .. }
                | Scheduled::CrashOntoFork { node, .. } => vec![node],
                Scheduled::Partition { nodes, .. } => nodes.iter().collect(),
                _ => vec![],
            };
            for n in nodes {
                if !names.contains(n) {
                    return bad(
                        &format!("faults.scheduled[{k}].node"),
                        format!("no node named `{n}` (nodes: {})", names.join(", ")),
                    );
                }
            }
        }
        let r = &self.faults.random;
        for (field, p) in [
            ("crash", r.crash),
            ("partition", r.partition),
            ("frame_loss", r.frame_loss),
            ("frame_duplicate", r.frame_duplicate),
            ("frame_reorder", r.frame_reorder),
            ("frame_delay", r.frame_delay),
            ("rpc_error", r.rpc_error),
            ("rpc_reset", r.rpc_reset),
            ("rpc_timeout", r.rpc_timeout),
            ("rpc_delay", r.rpc_delay),
            ("rpc_duplicate", r.rpc_duplicate),
            ("reorg", r.reorg),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(
                    &format!("faults.random.{field}"),
                    format!("{p} is not a probability"),
                );
            }
        }
        if r.rpc_error + r.rpc_reset + r.rpc_timeout + r.rpc_delay + r.rpc_duplicate > 1.0 {
            return bad(
                "faults.random.rpc_error",
                "rpc fault probabilities add up to more than 1".into(),
            );
        }
        Ok(())
    }

    /// Every node of the run: generator, aggregator, challenger, operator-0..n.
    pub fn node_names(&self) -> Vec<String> {
        let mut v = vec![
            "generator".to_string(),
            "aggregator".to_string(),
            "challenger".to_string(),
        ];
        v.extend((0..self.operators.count).map(|i| format!("operator-{i}")));
        v
    }

    /// Whether the honest operators alone reach the threshold.
    pub fn honest_quorum(&self) -> bool {
        reaches_threshold(
            self.operators.honest_weight(),
            self.operators.total_weight(),
            self.threshold_percent as u64,
        )
    }
}

/// The contract's quorum rule, `signed · 100 ≥ percent · total`, in u128 so that no u64
/// weights overflow it (one place for the scenario, the checker, the fault triggers and the
/// auditor).
pub fn reaches_threshold(signed: u128, total: u128, percent: u64) -> bool {
    signed * 100 >= percent as u128 * total
}

/// Sum of the weights at `indexes` (unknown indexes weigh nothing), in u128.
/// The input keying material of operator `index`'s BLS key in a run with `seed`: part of what a
/// scenario means, so the set-up draws the keys from it and the auditor re-derives them.
pub fn operator_bls_ikm(seed: u64, index: usize) -> [u8; 32] {
    let mut m = b"exoavs-sim bls".to_vec();
    m.extend_from_slice(&seed.to_be_bytes());
    m.extend_from_slice(&(index as u64).to_be_bytes());
    alloy::primitives::keccak256(&m).0
}

pub fn weight_of(weights: &[u64], indexes: impl IntoIterator<Item = usize>) -> u128 {
    indexes
        .into_iter()
        .map(|i| weights.get(i).copied().unwrap_or(0) as u128)
        .sum()
}

/// `scenarios/` at the workspace root.
pub fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Every scenario file, sorted by name.
pub fn all_files() -> Result<Vec<PathBuf>, ScenarioError> {
    let dir = scenarios_dir();
    let rd = std::fs::read_dir(&dir).map_err(|source| ScenarioError::Read {
        file: dir.clone(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// `scenarios/<name>.toml`.
pub fn by_name(name: &str) -> Result<Scenario, ScenarioError> {
    Scenario::load(&scenarios_dir().join(format!("{name}.toml")))
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

/// The dotted key path of the TOML entry at byte `pos`: the nearest table header above it and
/// the key on its line.
fn field_at(text: &str, pos: usize) -> String {
    let pos = pos.min(text.len());
    let line_start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[pos..]
        .find('\n')
        .map(|i| pos + i)
        .unwrap_or(text.len());
    let line = text[line_start..line_end].trim();
    let key = if line.starts_with('[') {
        String::new()
    } else {
        line.split('=').next().unwrap_or("").trim().to_string()
    };
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let header_here = line.starts_with('[').then(|| {
        line.trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string()
    });
    match (header_here, table, key.is_empty()) {
        (Some(h), _, _) => h,
        (None, Some(t), false) => format!("{t}.{key}"),
        (None, Some(t), true) => t,
        (None, None, _) => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
flow = "aggregated"
threshold_percent = 67
[operators]
count = 4
special = [{ index = 3, behaviour = "wrong-sum" }]
[tasks]
count = 3
interval_ms = 2000
[expect]
outcome = "all-accepted"
"#;

    fn err(text: &str) -> String {
        Scenario::parse(Path::new("scenarios/x.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn good_file_parses_with_defaults() {
        let s = Scenario::parse(Path::new("x.toml"), GOOD).unwrap();
        assert_eq!(s.operators.behaviour(3), Behaviour::WrongSum);
        assert_eq!(s.operators.total_weight(), 400);
        assert!(s.honest_quorum());
        assert_eq!(s.chain.block_time_ms, 2000);
    }

    #[test]
    fn quorum_math_does_not_overflow_for_large_weights() {
        // S5's fuzzer found u64 `weight * 100` panicking in debug builds above ~1.8e17.
        let mut s = Scenario::parse(Path::new("x.toml"), GOOD).unwrap();
        s.operators.weights = vec![u64::MAX; 4];
        assert_eq!(s.operators.total_weight(), 4 * u64::MAX as u128);
        // 3 of 4 honest equal weights = 75 % ≥ 67 %; at 80 % it is not.
        assert!(s.honest_quorum());
        s.threshold_percent = 80;
        assert!(!s.honest_quorum());
        let w = [u64::MAX, 1];
        assert!(reaches_threshold(
            weight_of(&w, [0]),
            weight_of(&w, 0..2),
            99
        ));
        assert!(!reaches_threshold(
            weight_of(&w, [1]),
            weight_of(&w, 0..2),
            1
        ));
        assert_eq!(weight_of(&w, [5]), 0);
    }

    #[test]
    fn unknown_field_names_file_and_field() {
        let e = err(&GOOD.replace("interval_ms = 2000", "interval_ms = 2000\nintreval = 3"));
        assert!(e.contains("scenarios/x.toml"), "{e}");
        assert!(e.contains("intreval"), "{e}");
        assert!(e.contains("tasks"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = err(&GOOD.replace("count = 4", "count = \"four\""));
        assert!(
            e.contains("scenarios/x.toml") && e.contains("operators.count"),
            "{e}"
        );
    }

    #[test]
    fn unknown_behaviour_names_the_field() {
        let e = err(&GOOD.replace("wrong-sum", "wrong-summ"));
        assert!(e.contains("operators.special"), "{e}");
        assert!(e.contains("wrong-summ"), "{e}");
    }

    #[test]
    fn missing_section_is_named() {
        let e = err(&GOOD.replace("[expect]\noutcome = \"all-accepted\"\n", ""));
        assert!(e.contains("expect"), "{e}");
    }

    #[test]
    fn validation_names_the_field() {
        let e = err(&GOOD.replace("index = 3", "index = 9"));
        assert!(e.contains("operators.special[0].index"), "{e}");
        let e = err(&GOOD.replace("threshold_percent = 67", "threshold_percent = 0"));
        assert!(e.contains("threshold_percent"), "{e}");
        let e = err(&format!(
            "{GOOD}[faults]\nscheduled = [{{ kind = \"crash\", node = \"nobody\", at_ms = 1 }}]\n"
        ));
        assert!(
            e.contains("faults.scheduled[0].node") && e.contains("nobody"),
            "{e}"
        );
    }

    #[test]
    fn every_scenario_file_parses() {
        let files = all_files().unwrap();
        assert!(
            files.len() >= 8,
            "at least 8 scenarios, found {}",
            files.len()
        );
        for f in files {
            let s = Scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                Some(s.name.as_str()),
                f.file_stem().and_then(|x| x.to_str()),
                "name matches file"
            );
        }
    }
}
