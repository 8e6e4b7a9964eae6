//! Scenario-level fuzzing: random scenario parameters fed to the simulator.
//!
//! A fuzz seed and a case index give one scenario, as TOML text (so a failing case can be kept
//! as `scenarios/<name>.toml` unchanged): operator count, stake weights (equal, ones, random,
//! skewed, large), threshold, a share of byzantine operators of every kind, random fault rates
//! (crashes, partitions, frame and RPC faults, reorgs) and a few tasks. The expected outcome is
//! computed from those parameters alone ([`expected_outcome`]), never from a run: if the honest
//! operators' weight meets the threshold, every task must be accepted once faults heal;
//! if even every operator able to produce a correct signature falls short, none may be; cases
//! in between (where a replaying or equivocating operator's correct signatures decide) are not
//! generated. Safety invariants are checked on every run by the simulator itself.
//!
//! This part builds anywhere (no madsim); `sim/tests/scenario_fuzz.rs` runs the cases.

use crate::scenario::{Behaviour, Outcome, Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// The fuzz seed when `EXOAVS_SIM_FUZZ_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x5eed_f022;

/// One generated scenario.
#[derive(Clone, Debug)]
pub struct FuzzCase {
    pub fuzz_seed: u64,
    pub index: u64,
    /// `fuzz-<seed>-<index>`, also the scenario's `name` (files must be named after it).
    pub name: String,
    /// The simulator seed this case runs with (also listed in the TOML's `seeds`).
    pub sim_seed: u64,
    /// The scenario file's full text.
    pub toml: String,
}

impl FuzzCase {
    pub fn scenario(&self) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new(&format!("{}.toml", self.name)), &self.toml)
    }

    /// Write `<dir>/<name>.toml` (the directory is created) and return its path.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.toml", self.name));
        std::fs::write(&path, &self.toml)?;
        Ok(path)
    }

    /// The command that regenerates and runs this very case.
    pub fn repro(&self) -> String {
        format!(
            "EXOAVS_SIM_FUZZ_SEED={} EXOAVS_SIM_FUZZ_FIRST={} EXOAVS_SIM_FUZZ_CASES=1 RUSTFLAGS=\"--cfg madsim\" \
             CARGO_TARGET_DIR=target/madsim cargo test -p exoavs-sim --test scenario_fuzz",
            self.fuzz_seed, self.index
        )
    }
}

/// splitmix64: a tiny seeded generator, so the cases depend on nothing but (seed, index).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.next() as usize % v.len()]
    }
    /// A rate in [0, max] with two decimals of a percent, or 0 half the time.
    fn rate(&mut self, max: f64) -> f64 {
        if self.chance(0.5) {
            0.0
        } else {
            (max * self.range(1, 100) as f64 / 100.0 * 10_000.0).round() / 10_000.0
        }
    }
}

const BYZANTINE: [Behaviour; 8] = [
    Behaviour::WrongSum,
    Behaviour::InvalidSignature,
    Behaviour::SignsAnotherTask,
    Behaviour::RogueKey,
    Behaviour::Replay,
    Behaviour::Equivocate,
    Behaviour::Silent,
    Behaviour::CrashRestart,
];

fn kebab(b: Behaviour) -> &'static str {
    match b {
        Behaviour::Honest => "honest",
        Behaviour::WrongSum => "wrong-sum",
        Behaviour::InvalidSignature => "invalid-signature",
        Behaviour::SignsAnotherTask => "signs-another-task",
        Behaviour::RogueKey => "rogue-key",
        Behaviour::Replay => "replay",
        Behaviour::Equivocate => "equivocate",
        Behaviour::Silent => "silent",
        Behaviour::CrashRestart => "crash-restart",
    }
}

/// Whether an operator can get a correct signature for a task to the aggregator: the honest
/// ones, and also a replayer (its first response, and re-sends of the current one, are correct)
/// and an equivocator (every other result it signs is the correct one).
pub fn can_sign_correctly(b: Behaviour) -> bool {
    b.is_honest() || matches!(b, Behaviour::Replay | Behaviour::Equivocate)
}

/// The outcome the parameters imply, or `None` when they do not decide it (honest weight below
/// the threshold, but correct signatures from replayers/equivocators may reach it). Integer
/// arithmetic in u128, as the contract's rule (weights are u64, counts small).
pub fn expected_outcome(s: &Scenario) -> Option<Outcome> {
    let o = &s.operators;
    let total: u128 = (0..o.count).map(|i| o.weight(i) as u128).sum();
    let weight_of = |f: &dyn Fn(Behaviour) -> bool| -> u128 {
        (0..o.count)
            .filter(|&i| f(o.behaviour(i)))
            .map(|i| o.weight(i) as u128)
            .sum()
    };
    let t = s.threshold_percent as u128;
    let honest = weight_of(&|b| b.is_honest());
    let capable = weight_of(&can_sign_correctly);
    if honest * 100 >= t * total {
        Some(Outcome::AllAccepted)
    } else if capable * 100 < t * total {
        Some(Outcome::NoneAccepted)
    } else {
        None
    }
}

/// Case `index` of fuzz seed `seed`.
pub fn case(seed: u64, index: u64) -> FuzzCase {
    let mut rng = Rng(seed ^ index.wrapping_mul(0xa076_1d64_78bd_642f));
    // Redraw until the parameters decide the outcome (a few tries at most in practice).
    loop {
        let c = draw(&mut rng, seed, index);
        match c.scenario() {
            Ok(s) if expected_outcome(&s).is_some() => return c,
            Ok(_) => continue,
            // A generator bug: fail loudly with the text.
            Err(e) => panic!("fuzz case does not parse: {e}\n{}", c.toml),
        }
    }
}

fn draw(rng: &mut Rng, seed: u64, index: u64) -> FuzzCase {
    let name = format!("fuzz-{seed:x}-{index}");
    let sim_seed = rng.next() >> 16;
    let count = rng.range(1, 8) as usize;
    let profile = rng.range(0, 4);
    let whale = rng.range(0, count as u64 - 1) as usize;
    let weights: Vec<u64> = (0..count)
        .map(|i| match profile {
            0 => 100,
            1 => 1,
            2 => rng.range(1, 1000),
            // Skewed: one operator holds most of the stake.
            3 if i == whale => rng.range(1_000, 100_000),
            3 => rng.range(1, 10),
            // Large stakes (kept well inside u64 sums times 100).
            _ => rng.range(1 << 40, 1 << 50),
        })
        .collect();
    let threshold = if rng.chance(0.6) {
        rng.pick(&[1u8, 34, 50, 51, 60, 66, 67, 75, 90, 99, 100])
    } else {
        rng.range(1, 100) as u8
    };
    // Byzantine share: none, a minority, or up to everyone.
    let byz = match rng.range(0, 3) {
        0 => 0,
        1 => rng.range(0, (count as u64 - 1) / 3),
        _ => rng.range(0, count as u64),
    } as usize;
    let mut idx: Vec<usize> = (0..count).collect();
    for i in (1..count).rev() {
        idx.swap(i, rng.range(0, i as u64) as usize);
    }
    let mut special: Vec<(usize, Behaviour)> = idx[..byz]
        .iter()
        .map(|&i| (i, rng.pick(&BYZANTINE)))
        .collect();
    special.sort_by_key(|(i, _)| *i);

    let faulty = rng.chance(0.7);
    let tasks = rng.range(2, 4);
    let interval = rng.pick(&[2_000u64, 3_000, 4_000, 6_000]);
    let safety = if faulty { rng.range(10, 30) * 1_000 } else { 0 };

    let mut t = String::new();
    let mut line = |s: String| {
        t.push_str(&s);
        t.push('\n');
    };
    line(format!("name = \"{name}\""));
    line(format!(
        "description = \"Generated by sim/src/fuzz.rs (fuzz seed {seed}, case {index}); expected outcome from the parameters.\""
    ));
    line("flow = \"aggregated\"".into());
    line(format!("threshold_percent = {threshold}"));
    line(format!("seeds = [{sim_seed}]"));
    line(String::new());
    line("[operators]".into());
    line(format!("count = {count}"));
    line(format!(
        "weights = [{}]",
        weights
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    line(format!(
        "special = [{}]",
        special
            .iter()
            .map(|(i, b)| format!("{{ index = {i}, behaviour = \"{}\" }}", kebab(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    line(String::new());
    line("[tasks]".into());
    line(format!("count = {tasks}"));
    line(format!("interval_ms = {interval}"));
    line("response_window_ms = 30000".into());
    line(String::new());
    line("[faults]".into());
    line(format!("safety_phase_ms = {safety}"));
    line("liveness_bound_ms = 150000".into());
    if faulty {
        line("[faults.random]".into());
        line(format!("crash = {:?}", rng.rate(0.02)));
        line(format!("partition = {:?}", rng.rate(0.02)));
        line(format!("frame_loss = {:?}", rng.rate(0.3)));
        line(format!("frame_duplicate = {:?}", rng.rate(0.2)));
        line(format!("frame_reorder = {:?}", rng.rate(0.2)));
        line(format!("frame_delay = {:?}", rng.rate(0.3)));
        line(format!("rpc_error = {:?}", rng.rate(0.03)));
        line(format!("rpc_reset = {:?}", rng.rate(0.03)));
        line(format!("rpc_timeout = {:?}", rng.rate(0.03)));
        line(format!("rpc_delay = {:?}", rng.rate(0.05)));
        line(format!("rpc_duplicate = {:?}", rng.rate(0.03)));
        line(format!("reorg = {:?}", rng.rate(0.04)));
    }
    line(String::new());
    line("[expect]".into());
    // Placeholder, replaced below once the parameters are known to decide the outcome.
    line("outcome = \"OUTCOME\"".into());
    let probe = FuzzCase {
        fuzz_seed: seed,
        index,
        name: name.clone(),
        sim_seed,
        toml: t.replace("OUTCOME", "all-accepted"),
    };
    let outcome = probe.scenario().ok().and_then(|s| expected_outcome(&s));
    let toml = t.replace(
        "OUTCOME",
        match outcome {
            Some(Outcome::NoneAccepted) => "none-accepted",
            _ => "all-accepted",
        },
    );
    FuzzCase {
        fuzz_seed: seed,
        index,
        name,
        sim_seed,
        toml,
    }
}

/// `(seed, first, count)` from `EXOAVS_SIM_FUZZ_SEED` (default [`DEFAULT_SEED`]),
/// `EXOAVS_SIM_FUZZ_FIRST` (default 0) and `EXOAVS_SIM_FUZZ_CASES` (default `default_cases`).
pub fn plan_from_env(default_cases: u64) -> Result<(u64, u64, u64), String> {
    let get = |name: &str, default: u64| -> Result<u64, String> {
        match std::env::var(name) {
            Ok(v) => {
                let v = v.trim();
                let parsed = match v.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16),
                    None => v.parse(),
                };
                parsed.map_err(|_| format!("{name}={v:?} is not an integer"))
            }
            Err(_) => Ok(default),
        }
    };
    Ok((
        get("EXOAVS_SIM_FUZZ_SEED", DEFAULT_SEED)?,
        get("EXOAVS_SIM_FUZZ_FIRST", 0)?,
        get("EXOAVS_SIM_FUZZ_CASES", default_cases)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_parse_decide_their_outcome_and_are_deterministic() {
        let mut outcomes = [0usize; 2];
        let mut kinds = std::collections::HashSet::new();
        for i in 0..500 {
            let c = case(DEFAULT_SEED, i);
            assert_eq!(c.toml, case(DEFAULT_SEED, i).toml, "same seed, same case");
            let s = c.scenario().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.name, c.name);
            assert_eq!(s.seeds, vec![c.sim_seed]);
            let want = expected_outcome(&s).expect("generated cases decide their outcome");
            assert_eq!(s.expect.outcome, want);
            // The simulator's own liveness switch agrees with the computed expectation.
            assert_eq!(s.honest_quorum(), want == Outcome::AllAccepted);
            outcomes[(want == Outcome::NoneAccepted) as usize] += 1;
            kinds.extend(s.operators.special.iter().map(|x| x.behaviour));
        }
        assert!(outcomes.iter().all(|&n| n > 25), "outcome mix {outcomes:?}");
        assert_eq!(kinds.len(), BYZANTINE.len(), "every byzantine kind drawn");
        assert_ne!(case(1, 0).toml, case(2, 0).toml);
    }

    #[test]
    fn expectation_follows_the_integer_rule_at_the_boundary() {
        let text = |threshold: u8, special: &str| {
            format!(
                "name = \"b\"\nflow = \"aggregated\"\nthreshold_percent = {threshold}\n\
                 [operators]\ncount = 3\nweights = [1, 1, 1]\nspecial = [{special}]\n\
                 [tasks]\ncount = 1\ninterval_ms = 1000\n[expect]\noutcome = \"all-accepted\"\n"
            )
        };
        let s = |t: u8, sp: &str| Scenario::parse(Path::new("b.toml"), &text(t, sp)).unwrap();
        // 2 of 3 honest: 66.67 % meets 66 and misses 67.
        let silent = "{ index = 0, behaviour = \"silent\" }";
        assert_eq!(expected_outcome(&s(66, silent)), Some(Outcome::AllAccepted));
        assert_eq!(
            expected_outcome(&s(67, silent)),
            Some(Outcome::NoneAccepted)
        );
        // A replayer's correct signatures may decide: no expectation.
        let replay = "{ index = 0, behaviour = \"replay\" }";
        assert_eq!(expected_outcome(&s(67, replay)), None);
        assert_eq!(expected_outcome(&s(100, replay)), None);
        assert_eq!(expected_outcome(&s(66, replay)), Some(Outcome::AllAccepted));
    }

    #[test]
    fn a_case_written_out_loads_back_as_a_scenario_file() {
        let c = case(7, 3);
        let dir = std::env::temp_dir().join(format!("exoavs-fuzz-{}", std::process::id()));
        let path = c.write_to(&dir).expect("write");
        let s = Scenario::load(&path).expect("load");
        assert_eq!(
            Some(s.name.as_str()),
            path.file_stem().and_then(|x| x.to_str())
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
