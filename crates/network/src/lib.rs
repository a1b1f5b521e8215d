//! Planning the manufacturing network for a region's patients: which sites to open, of which
//! production concept, and which region's patients each site makes — the capacitated
//! facility-location model (fixed cost of sites against manufacturing and transport cost,
//! within every product's vein-to-vein limit), solved exactly with HiGHS.
//!
//! A planner writes a network file (TOML, [`format`]); [`load`] parses and checks it with
//! located errors and gives a [`Network`]; [`solve`] plans it; [`what_if`] answers demand
//! growth and site failure; [`check`] simulates every open site as a plant with its allocated
//! patients and tightens the plan where the queueing reality misses the vein-to-vein target.
//! Nothing here does IO: callers pass texts and parsed scenarios in.

pub mod check;
pub mod compile;
pub mod format;
pub mod solve;
pub mod study;
pub mod whatif;

pub use check::{CheckOptions, CheckReport, check};
pub use compile::Network;
pub use format::NetworkFile;
pub use solve::{Plan, SolveError, SolveOptions, solve};
pub use whatif::{WhatIf, what_if};

use model::{FileErrors, SourceFile};

/// Parses and checks a network file.
pub fn load(src: &SourceFile) -> Result<Network, FileErrors> {
    let file: NetworkFile = src.parse()?;
    Network::compile(&file).map_err(|problems| src.errors(&problems))
}
