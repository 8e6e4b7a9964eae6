//! Runs (scenario, seed) pairs over worker threads, each with its own Anvil reverted between
//! seeds, and reports one line per run.

use crate::anvil::ChainSlot;
use crate::scenario::Scenario;
use crate::sweep::{Shard, seeds_for};
use crate::world::{Report, Roles, run};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Which runs a sweep covers.
pub struct Plan {
    pub scenarios: Vec<Arc<Scenario>>,
    /// One fixed seed (a repro), or else `count` seeds per scenario.
    pub seed: Option<u64>,
    pub count: u64,
    pub shard: Shard,
    pub jobs: usize,
}

impl Plan {
    pub fn runs(&self) -> Vec<(Arc<Scenario>, u64)> {
        let mut v = Vec::new();
        for s in &self.scenarios {
            let seeds = match self.seed {
                Some(seed) => vec![seed],
                None => seeds_for(&s.name, &s.seeds, self.count),
            };
            for (pos, seed) in seeds.into_iter().enumerate() {
                if self.seed.is_some() || self.shard.owns(pos as u64) {
                    v.push((s.clone(), seed));
                }
            }
        }
        v
    }
}

/// Run the plan; `each` sees every report as it finishes (for progress lines).
pub fn sweep<R: Roles>(
    roles: Arc<R>,
    plan: &Plan,
    each: impl Fn(&Report) + Send + Sync,
) -> Result<Vec<Report>, crate::anvil::AnvilError> {
    let runs = plan.runs();
    let n = runs.len();
    type Queue = Arc<Mutex<VecDeque<(usize, Arc<Scenario>, u64)>>>;
    let queue: Queue = Arc::new(Mutex::new(
        runs.into_iter()
            .enumerate()
            .map(|(i, (s, seed))| (i, s, seed))
            .collect(),
    ));
    let results: Mutex<Vec<Option<Report>>> = Mutex::new((0..n).map(|_| None).collect());
    let jobs = plan.jobs.clamp(1, n.max(1));
    let mut slots = Vec::new();
    for _ in 0..jobs {
        slots.push(ChainSlot::start()?);
    }
    std::thread::scope(|scope| {
        for mut slot in slots {
            let queue = queue.clone();
            let roles = roles.clone();
            let results = &results;
            let each = &each;
            scope.spawn(move || {
                loop {
                    let job = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some((i, scenario, seed)) = job else {
                        break;
                    };
                    let report = run(roles.clone(), scenario, seed, &mut slot);
                    each(&report);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(report);
                }
            });
        }
    });
    Ok(results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect())
}

/// The HTML timeline of one run (see [`crate::timeline`]).
pub fn timeline_html(report: &Report) -> String {
    let info = crate::timeline::RunInfo {
        title: format!("{} seed {}", report.scenario, report.seed),
        // Not `report.line()`: it has the wall time, and one seed must give one page.
        verdict: Some(match &report.violation {
            None => format!(
                "ok · {} tasks · {:.1} s simulated · digest {}",
                report.tasks_created,
                report.simulated.as_secs_f64(),
                &report.digest[..16.min(report.digest.len())]
            ),
            Some(v) => format!("FAIL: {v} — reproduce: {}", report.repro()),
        }),
        violation: report
            .violation
            .as_ref()
            .map(|v| crate::timeline::ViolationInfo {
                at_ms: v.at_ms,
                class: format!("{:?}", v.kind),
                invariant: v.invariant.to_string(),
                detail: v.detail.clone(),
            }),
    };
    crate::timeline::render(&report.trace.events(), &info)
}

/// The command that writes a run's timeline, printed under a failing run's repro line.
pub fn timeline_command(report: &Report) -> String {
    format!(
        "{} --timeline {}-{}.html",
        report.repro(),
        report.scenario,
        report.seed
    )
}
