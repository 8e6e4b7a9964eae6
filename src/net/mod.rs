//! Operator → aggregator wire: bounded, length-prefixed frames over a byte stream.
