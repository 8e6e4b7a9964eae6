//! `exoavs`: the Exocore/Imua AVS binary (operator, aggregator, task generator, challenger,
//! key management, and `devnet`, which runs everything against a local Anvil), for the stock
//! sum AVS. An AVS of its own gets the same binary from `exoavs::cli::main_with`.

use std::process::ExitCode;

fn main() -> ExitCode {
    exoavs::cli::main_with(exoavs::avs::SumAvs::default())
}
