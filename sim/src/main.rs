//! `cargo sim`: run scenarios under the deterministic simulator, one line per run; a failure
//! prints the command that reproduces it and exits with the failure kind's code
//! (10 safety, 11 liveness, 12 lost task, 13 unexpected outcome; 2 usage).

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "exoavs-sim must be built with --cfg madsim: run it as `cargo sim ...` (alias in .cargo/config.toml)"
    );
    std::process::exit(2);
}

#[cfg(madsim)]
fn main() {
    std::process::exit(sim::main());
}

#[cfg(madsim)]
mod sim {
    use clap::Parser;
    use exoavs_sim::runner::Plan;
    use exoavs_sim::scenario::{self, Scenario};
    use exoavs_sim::sweep::Shard;
    use std::sync::Arc;

    #[derive(Parser, Debug)]
    #[command(
        name = "cargo sim",
        about = "Run exoavs scenarios under madsim with a real Anvil"
    )]
    struct Args {
        /// Scenario name (scenarios/<name>.toml), repeatable; default: all.
        #[arg(long)]
        scenario: Vec<String>,
        /// A scenario file outside scenarios/ (e.g. docs/timeline-demo.toml), repeatable.
        #[arg(long)]
        scenario_file: Vec<std::path::PathBuf>,
        /// Run exactly this seed (a repro).
        #[arg(long)]
        seed: Option<u64>,
        /// Seeds per scenario (default: EXOAVS_SIM_SEEDS, else the scenario's own list).
        #[arg(long)]
        seeds: Option<u64>,
        /// Run the k-th of n slices of every seed list.
        #[arg(long, default_value = "1/1")]
        shard: Shard,
        /// Worker threads, each with its own Anvil.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Write the event log (JSON lines) of each failing run, or of the single run, here.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
        /// Print the event log of every run.
        #[arg(long)]
        verbose: bool,
        /// Write a self-contained HTML timeline of each failing run, or of the single run, here.
        #[arg(long)]
        timeline: Option<std::path::PathBuf>,
        /// Run nothing: draw the timeline of an event log written by --trace (needs --timeline).
        #[arg(long, requires = "timeline")]
        timeline_from: Option<std::path::PathBuf>,
        /// Run nothing: print the scenario file of the scenario fuzz's case SEED:INDEX (as
        /// `EXOAVS_SIM_FUZZ_SEED` and the case index name it), to keep it in scenarios/.
        #[arg(long, value_name = "SEED:INDEX", value_parser = parse_fuzz_case)]
        fuzz_case: Option<(u64, u64)>,
    }

    fn parse_fuzz_case(s: &str) -> Result<(u64, u64), String> {
        let (seed, index) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: expected SEED:INDEX, e.g. 12345:394"))?;
        let num = |what: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|e| format!("{s:?}: {what} {v:?} is not a number ({e})"))
        };
        Ok((num("seed", seed)?, num("index", index)?))
    }

    /// `--timeline-from f.jsonl --timeline out.html`: render a saved trace.
    fn timeline_from(from: &std::path::Path, to: &std::path::Path) -> i32 {
        let text = match std::fs::read_to_string(from) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: reading {}: {e}", from.display());
                return 2;
            }
        };
        let events = match exoavs_sim::trace::parse_jsonl(&text) {
            Ok(ev) => ev,
            Err(e) => {
                eprintln!("error: {}: {e}", from.display());
                return 2;
            }
        };
        let info = exoavs_sim::timeline::RunInfo {
            title: from
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ..Default::default()
        };
        match std::fs::write(to, exoavs_sim::timeline::render(&events, &info)) {
            Ok(()) => {
                println!("timeline: {}", to.display());
                0
            }
            Err(e) => {
                eprintln!("error: writing {}: {e}", to.display());
                2
            }
        }
    }

    pub fn main() -> i32 {
        let args = Args::parse();
        if let (Some(from), Some(to)) = (&args.timeline_from, &args.timeline) {
            return timeline_from(from, to);
        }
        if let Some((seed, index)) = args.fuzz_case {
            print!("{}", exoavs_sim::fuzz::case(seed, index).toml);
            return 0;
        }
        // The nodes' own logs (tracing), e.g. EXOAVS_SIM_LOG=exoavs=debug; off by default.
        if let Ok(filter) = std::env::var("EXOAVS_SIM_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .try_init();
        }
        let scenarios: Result<Vec<Scenario>, _> =
            if args.scenario.is_empty() && args.scenario_file.is_empty() {
                scenario::all_files().and_then(|fs| fs.iter().map(|f| Scenario::load(f)).collect())
            } else {
                args.scenario
                    .iter()
                    .map(|n| scenario::by_name(n))
                    .chain(args.scenario_file.iter().map(|f| Scenario::load(f)))
                    .collect()
            };
        let scenarios = match scenarios {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        let count = args
            .seeds
            .unwrap_or_else(|| exoavs_sim::sweep::seed_count(0).max(1));
        let plan = Plan {
            scenarios: scenarios.into_iter().map(Arc::new).collect(),
            seed: args.seed,
            count: if args.seeds.is_none() && std::env::var("EXOAVS_SIM_SEEDS").is_err() {
                2
            } else {
                count
            },
            shard: args.shard,
            jobs: args.jobs,
        };
        let verbose = args.verbose;
        // Scenarios given by file are reproduced by file, not by name.
        let files: Vec<(String, std::path::PathBuf)> = plan
            .scenarios
            .iter()
            .filter_map(|s| {
                args.scenario_file
                    .iter()
                    .find(|f| Scenario::load(f).map(|l| l.name == s.name).unwrap_or(false))
                    .map(|f| (s.name.clone(), f.clone()))
            })
            .collect();
        let reports = match exoavs_sim::roles::sweep(&plan, |r| {
            println!("{}", r.line());
            if !r.ok() {
                match files.iter().find(|(n, _)| *n == r.scenario) {
                    Some((_, f)) => println!(
                        "  reproduce: cargo sim --scenario-file {} --seed {} --timeline {}-{}.html",
                        f.display(),
                        r.seed,
                        r.scenario,
                        r.seed
                    ),
                    None => println!("  timeline: {}", exoavs_sim::runner::timeline_command(r)),
                }
            }
            if verbose {
                print!("{}", r.trace.to_jsonl());
            }
        }) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        let failed: Vec<_> = reports.iter().filter(|r| !r.ok()).collect();
        // --trace and --timeline show the first failing run, or else the single run.
        let pick = failed.first().copied().or(if reports.len() == 1 {
            reports.first()
        } else {
            None
        });
        if let (Some(path), Some(r)) = (&args.trace, pick)
            && let Err(e) = std::fs::write(path, r.trace.to_jsonl())
        {
            eprintln!("error: writing {}: {e}", path.display());
        }
        if let Some(path) = &args.timeline {
            match pick {
                Some(r) => match std::fs::write(path, exoavs_sim::runner::timeline_html(r)) {
                    Ok(()) => println!(
                        "timeline of {} seed {}: {}",
                        r.scenario,
                        r.seed,
                        path.display()
                    ),
                    Err(e) => eprintln!("error: writing {}: {e}", path.display()),
                },
                None => eprintln!(
                    "no timeline written: several runs and none failed (pick one with --scenario and --seed)"
                ),
            }
        }
        println!("{} runs, {} failed", reports.len(), failed.len());
        failed.first().map(|r| r.exit_code()).unwrap_or(0)
    }
}
