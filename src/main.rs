//! `exoavs`: the Exocore/Imua AVS binary (operator, aggregator, task generator, challenger,
//! key management, and `devnet`, which runs everything against a local Anvil).

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = exoavs::cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.default_log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match exoavs::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exoavs: {e:#}");
            ExitCode::FAILURE
        }
    }
}
