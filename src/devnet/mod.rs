//! `exoavs devnet`: provision Anvil from contracts/'s npm install, deploy, register, run all roles.

pub mod anvil;
pub mod run;
pub mod setup;
