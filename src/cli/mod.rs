//! The `exoavs` command line: flags (clap), the TOML config of the production roles, and
//! one function per subcommand.

pub mod config;
