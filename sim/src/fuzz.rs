//! Scenario-level fuzzing: random scenario parameters fed to the simulator.
