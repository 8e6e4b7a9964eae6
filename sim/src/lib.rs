//! Deterministic simulation of exoavs (madsim + a real Anvil).
