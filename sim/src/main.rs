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
    }

    pub fn main() -> i32 {
        let args = Args::parse();
        // The nodes' own logs (tracing), e.g. EXOAVS_SIM_LOG=exoavs=debug; off by default.
        if let Ok(filter) = std::env::var("EXOAVS_SIM_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .try_init();
        }
        let scenarios: Result<Vec<Scenario>, _> = if args.scenario.is_empty() {
            scenario::all_files().and_then(|fs| fs.iter().map(|f| Scenario::load(f)).collect())
        } else {
            args.scenario.iter().map(|n| scenario::by_name(n)).collect()
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
        let reports = match exoavs_sim::roles::sweep(&plan, |r| {
            println!("{}", r.line());
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
        if let Some(path) = &args.trace {
            let pick = failed.first().copied().or(if reports.len() == 1 {
                reports.first()
            } else {
                None
            });
            if let Some(r) = pick {
                if let Err(e) = std::fs::write(path, r.trace.to_jsonl()) {
                    eprintln!("error: writing {}: {e}", path.display());
                }
            }
        }
        println!("{} runs, {} failed", reports.len(), failed.len());
        failed.first().map(|r| r.exit_code()).unwrap_or(0)
    }
}
