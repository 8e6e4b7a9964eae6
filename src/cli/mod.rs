//! The `exoavs` command line: flags (clap), the TOML config of the production roles, and
//! one function per subcommand.

pub mod config;
mod keys;
mod roles;

use crate::app::AvsApp;
use crate::devnet::run::{DevnetOptions, FlowArg};
use clap::{Args, Parser, Subcommand};
use config::parse_duration;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "exoavs",
    version,
    about = "Exocore/Imua AVS: operators BLS-sign the sum of two integers, an aggregator submits once the stake threshold is reached",
    long_about = "Exocore/Imua AVS: a task generator creates tasks on the AVS contract, operators compute \
                  the sum of the task's two integers and BLS-sign it, an aggregator aggregates the \
                  signatures and submits them once the signers hold the task's stake threshold; the \
                  contract verifies the aggregate (EIP-2537). A challenger settles rewards and slashing.\n\n\
                  Quick start: `exoavs devnet` runs everything against a local Anvil.\n\
                  Logs: RUST_LOG (e.g. RUST_LOG=exoavs=debug)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Log filter when RUST_LOG is unset: devnet prints its own progress, so only warnings.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Devnet(_) => "warn",
            _ => "info",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a whole AVS on a local Anvil: deploy, register N operators, create tasks, aggregate,
    /// submit; ends with a summary table (tasks, responses, rejections, latency, gas, RPC errors).
    Devnet(DevnetArgs),
    /// Keys: BLS keys in EIP-2335 keystores, ECDSA chain keys in Ethereum v3 keystores.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Deploy and register the AVS contract.
    #[command(subcommand)]
    Avs(roles::AvsCommand),
    /// Register, opt out, or run an operator.
    #[command(subcommand)]
    Operator(roles::OperatorCommand),
    /// The aggregator: collects signed responses and submits the aggregate.
    #[command(subcommand)]
    Aggregator(roles::AggregatorCommand),
    /// The task generator: creates a task every interval.
    #[command(subcommand)]
    Generator(roles::GeneratorCommand),
    /// The challenger: settles each task after its window (rewards and slashing).
    #[command(subcommand)]
    Challenger(roles::ChallengerCommand),
}

#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Create this many tasks and exit 0 once every one is accepted and settled on chain (the
    /// challenger's rewards and slashing); default: run until Ctrl-C.
    #[arg(long)]
    pub tasks: Option<u64>,
    /// Time between two tasks (e.g. 500ms, 2s, 1m).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Number of operators to register and run.
    #[arg(long, default_value_t = 4)]
    pub operators: usize,
    /// aggregated: operators → aggregator → one aggregate on chain (the seed's flow).
    /// two-phase: each operator submits prepare then commit itself; a challenger settles (Imua's flow).
    #[arg(long, value_enum, default_value_t = FlowArg::Aggregated)]
    pub flow: FlowArg,
    /// emulation: exoavs's emulation of Imua's avs precompile (EIP-2537 points, both flows).
    /// imua: the strict emulation, which behaves as a real Imua chain's precompile does
    /// (failures return false, compressed BLS points, x/epochs' epoch counter, no extension
    /// functions); two-phase flow only.
    #[arg(long, default_value = "emulation", value_name = "emulation|imua")]
    pub profile: crate::chain::avs::Profile,
    /// Stake threshold of each task, in percent.
    #[arg(long, default_value_t = 67, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub threshold: u8,
    /// Operators (counted from the last) that sign a wrong sum, to show rejection.
    #[arg(long, default_value_t = 0)]
    pub wrong_operators: usize,
    /// Use this anvil binary instead of contracts/node_modules' (also: EXOAVS_ANVIL).
    #[arg(long, env = "EXOAVS_ANVIL")]
    pub anvil: Option<PathBuf>,
    /// Give up (exit 1) if the requested tasks are not all accepted within this time.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// With --tasks: once they are settled, keep Anvil running (until Ctrl-C) so that the
    /// chain can be read back, e.g. with `cast call`.
    #[arg(long)]
    pub hold: bool,
    #[command(flatten)]
    pub metrics: roles::MetricsArgs,
}

/// Run the parsed command line for the sum AVS (the `exoavs` binary).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    run_with(&crate::avs::SumAvs::default(), cli).await
}

/// The whole `exoavs` command line for `app`: what an AVS's own binary's `main` calls. Parses
/// the arguments (with `app`'s `--help` text), sets up logging from RUST_LOG, runs the command on
/// a tokio runtime and says why it failed.
pub fn main_with<A: AvsApp>(app: A) -> std::process::ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let bin = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "exoavs".into());
    let matches = Cli::command()
        .name(bin.clone())
        .about(app.about())
        .long_about(format!(
            "{}\n\nQuick start: `{bin} devnet` runs everything against a local Anvil.\n\
             Logs: RUST_LOG (e.g. RUST_LOG=exoavs=debug).",
            app.long_about()
        ))
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.default_log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{bin}: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run_with(&app, cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{bin}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Run the parsed command line for `app`.
pub async fn run_with<A: AvsApp>(app: &A, cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Devnet(a) => {
            let opts = DevnetOptions {
                operators: a.operators,
                tasks: a.tasks,
                interval: a.interval,
                flow: a.flow,
                profile: a.profile,
                threshold: a.threshold,
                wrong_operators: a.wrong_operators,
                anvil: a.anvil,
                timeout: a.timeout,
                hold: a.hold,
                metrics: a
                    .metrics
                    .metrics
                    .as_deref()
                    .map(|m| roles::parse_addr(m, "metrics address"))
                    .transpose()?,
            };
            let report = crate::devnet::run::run_with(app.clone(), opts, shutdown_signal()).await?;
            if let Some(want) = a.tasks
                && report.accepted < want
            {
                anyhow::bail!(
                    "only {} of {want} tasks were accepted on chain",
                    report.accepted
                );
            }
            Ok(())
        }
        Command::Keys(k) => keys::run(k),
        Command::Avs(c) => roles::avs(app, c).await,
        Command::Operator(c) => roles::operator(app, c).await,
        Command::Aggregator(c) => roles::aggregator(app, c).await,
        Command::Generator(c) => roles::generator(app, c).await,
        Command::Challenger(c) => roles::challenger(app, c).await,
    }
}

/// Resolves on Ctrl-C.
pub async fn shutdown_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handling available: run until killed.
        std::future::pending::<()>().await;
    }
}
