//! Limits on scenario files and models, so that no input can crash the simulator, make it
//! run out of memory or run for ever. Every limit is checked where the input is read
//! ([`crate::SourceFile::from_bytes`] for the file, [`crate::compile`] for the model) and
//! reported at the field that exceeds it; `docs/scenario-format.md` lists them.
//!
//! The limits lie far beyond any real plant: a regional plant treats hundreds of patients a
//! year, runs steps of hours to weeks and is planned over years or decades.

/// Largest scenario (or other user-written TOML) file, bytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Most tables in a file (`[...]` and `[[...]]` headers and inline tables `{ ... }`).
pub const MAX_TABLES: usize = 20_000;

/// Most errors reported for one file (the rest are counted).
pub const MAX_ERRORS: usize = 100;

/// Longest horizon, days (100 years of 365 days).
pub const MAX_HORIZON_DAYS: f64 = 36_500.0;

/// Longest duration of anything (a step, a repair, cleaning, transfer, hold, a vein-to-vein
/// target), hours: 100 years. For unbounded distributions both the mean and the standard
/// deviation must stay within it.
pub const MAX_DURATION_H: f64 = MAX_HORIZON_DAYS * 24.0;

/// Time after the horizon during which the simulator follows the last cohort patients until
/// they are treated or lost, hours (one year).
pub const DRAIN_CAP_H: f64 = 365.0 * 24.0;

/// Most patients a replication may expect: the sum over demands of arrival rate × horizon
/// (and of explicit apheresis dates).
pub const MAX_PATIENTS: f64 = 200_000.0;

/// Most breakdowns a replication may expect: the sum over equipment pools of units ×
/// (horizon + one year) / (mean time between failures + mean repair time).
pub const MAX_BREAKDOWNS: f64 = 1_000_000.0;

/// Most units of one pool, places of one area or persons of one staff pool or shift.
pub const MAX_UNITS: u32 = 100_000;

/// Most events the simulator handles in one replication before it stops with an error (a
/// guard against loops that the checks above cannot see, such as a failure that sends
/// batches back with a probability close to 1).
pub const EVENT_BUDGET: u64 = 50_000_000;

/// Most patients the expansion model simulates for one `dist = "expansion_model"` duration
/// (each is a closed-loop culture of up to 12 days; 2000 take about a minute).
pub const MAX_EXPANSION_PATIENTS: u32 = 2_000;

/// Most hours a `dist = "expansion_model"` duration adds to the culture (the work around it in
/// the same step: a week is far more than seeding and harvest take).
pub const MAX_EXPANSION_PLUS_HOURS: f64 = 168.0;
