//! A self-contained HTML timeline of one simulated run, drawn from its trace.
