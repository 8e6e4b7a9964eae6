//! Persistence of what a node must not lose across a crash.
