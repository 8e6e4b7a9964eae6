//! `exoavs-oracle`: the whole exoavs command line (devnet, avs deploy, every role) for the
//! price-oracle AVS.

fn main() -> std::process::ExitCode {
    exoavs::cli::main_with(exoavs_oracle::OracleAvs::default())
}
