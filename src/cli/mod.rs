//! The `exoavs` command line.
