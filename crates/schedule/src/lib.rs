//! `schedule`: flexible (hybrid) flow shop scheduling for patient batches.
//!
//! Jobs pass through stages with parallel machines (identical or of different speeds);
//! intermediates have a limited shelf life, modelled as minimum and maximum lags between
//! consecutive stages. The crate offers
//! * the model ([`Instance`]) and readers for the public `hfs` and Taillard formats ([`parse`]);
//! * objectives (makespan, weighted tardiness, weighted completion, lexicographic lists);
//! * an anytime solver ([`solve`]): NEH-style construction, iterated greedy with insertion
//!   local search (Taillard acceleration for the permutation flow shop), and an exact branch
//!   and bound for small instances;
//! * combinatorial lower bounds ([`lower_bounds`]) reported with every solution;
//! * an independent feasibility checker ([`check()`]) applied to every returned plan;
//! * re-planning after events with frozen started operations ([`replan()`]);
//! * the plant model ([`shop`]): several products, operations needing units, cleanroom places
//!   and qualified operators at once, shift calendars, maintenance windows, blocking, hold
//!   limits, lexicographic or weighted objectives, with its own decoder, search and checker.
//!
//! Pure core: no IO; the only clock use is `std::time::Instant` for the solver's time limit.

// Index loops over flattened job x stage tables read more clearly than iterator chains here.
#![allow(clippy::needless_range_loop)]

pub mod bounds;
pub mod check;
mod decode;
pub mod error;
mod exact;
pub mod instance;
pub mod objective;
pub mod parse;
mod pfsp;
pub mod plan;
pub mod plan_doc;
pub mod plant;
pub mod replan;
pub mod rng;
mod search;
pub mod shelf;
pub mod shop;
pub mod solve;
mod tuning;

pub use bounds::{LowerBounds, lower_bounds};
pub use check::{Violation, check};
pub use decode::DecoderKind;
pub use error::ScheduleError;
pub use instance::{FrozenOp, Instance, Job, Lag, Machine, Stage, Time, Window};
pub use objective::{Cost, Criterion, Objective};
pub use plan::{Assignment, Plan, Values};
pub use replan::{Event, Replanned, replan};
pub use solve::{ExactMode, Progress, Solution, SolveOptions, solve};
