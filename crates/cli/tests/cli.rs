//! End-to-end tests of the `atmpflow` binary: the example scenarios, bad input, the committed
//! JSON Schema and sanity checks of simulation results against capacity arithmetic.
//!
//! Every test runs the real binary (`CARGO_BIN_EXE_atmpflow`) in a temporary directory.

#[path = "cli/bad_input.rs"]
mod bad_input;
#[path = "cli/examples.rs"]
mod examples;
#[path = "cli/expansion.rs"]
mod expansion;
#[path = "cli/network.rs"]
mod network;
#[path = "cli/plant.rs"]
mod plant;
#[path = "cli/runs.rs"]
mod runs;
#[path = "cli/sanity.rs"]
mod sanity;
#[path = "cli/schema.rs"]
mod schema;
#[path = "cli/study.rs"]
mod study;
#[path = "cli/support.rs"]
mod support;
#[path = "cli/vplant.rs"]
mod vplant;
