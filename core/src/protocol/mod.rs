//! Protocol state machines (operator, aggregator, generator, challenger) and quorum math.
//! Pure: time, randomness and I/O come in as inputs; effects go out as actions (in the manner of
//! quinn-proto's `Connection`). A driver (the `exoavs` crate's `node` module) executes the actions in order.

pub mod quorum;
pub mod record;
pub mod types;

pub use record::Record;
pub use types::*;
pub mod aggregator;
pub mod challenger;
pub mod generator;
pub mod operator;
