//! Results of a simulation study: what each replication measured, and the statistics across
//! replications with 95 % confidence intervals.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one replication measured: summaries only (a few numbers per resource and step, not
/// one per patient), so that keeping them costs little. Rates are per year of the observation window
/// (`[warm-up, horizon)`); patient figures refer to the cohort of patients whose apheresis
/// fell in that window, followed until they are treated or lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replication {
    /// Replication index (also the random stream).
    pub index: u32,
    /// Length of the observation window, years.
    pub years: f64,
    /// Doses released in the window, per year.
    pub released_per_year: f64,
    /// Patients in the cohort.
    pub patients: u32,
    /// Cohort patients lost.
    pub lost: u32,
    /// Cohort patients lost, by cause.
    pub lost_by_cause: BTreeMap<String, u32>,
    /// Cohort patients still in process when the run was cut off (censored).
    pub unfinished: u32,
    /// Cohort patients treated (released).
    pub treated: u32,
    /// Mean vein-to-vein days of the treated cohort patients (`None` when none was treated).
    pub vein_to_vein_mean_days: Option<f64>,
    /// Mean days since apheresis of the unfinished cohort patients at the cut-off: their
    /// vein-to-vein time is at least this long (right-censored; `None` when none).
    pub unfinished_age_mean_days: Option<f64>,
    /// Treated cohort patients within their target.
    pub on_time: u32,
    /// Time-average batches in process during the window.
    pub wip: f64,
    /// Per resource: fraction of installed capacity occupied (processing and cleaning).
    pub utilisation: Vec<f64>,
    /// Per resource: occupied unit-hours per year.
    pub busy_hours_per_year: Vec<f64>,
    /// Per resource: unit breakdowns per year.
    pub breakdowns_per_year: Vec<f64>,
    /// Per resource: fraction of installed capacity kept by blocked batches (a step ended,
    /// its next not yet started; `blocking`/`keep`), apart from `utilisation`.
    #[serde(default)]
    pub blocked: Vec<f64>,
    /// Per resource: unit-hours per year kept by blocked batches.
    #[serde(default)]
    pub blocked_hours_per_year: Vec<f64>,
    /// Per product step (flattened, products in order): cohort batches that started the
    /// step (waits observed).
    pub waits: Vec<u32>,
    /// Per product step: mean wait before the step, hours (0 when none was observed).
    pub wait_mean_h: Vec<f64>,
    /// Per product step: hold-time violations before the step.
    pub hold_violations: Vec<u32>,
    /// Per product step: runs started in the window, per year.
    pub starts_per_year: Vec<f64>,
    /// Per product step: failed runs in the window, per year.
    pub failures_per_year: Vec<f64>,
    /// Batches started (first step) in the window, per year.
    pub batches_started_per_year: f64,
    /// Batches sent back (repeat / go back) in the window, per year.
    pub reworked_per_year: f64,
    /// Batches made again from stored material in the window, per year.
    pub remanufactured_per_year: f64,
}

/// A mean with its 95 % confidence interval across replications (Student t).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean over replications.
    pub mean: f64,
    /// 95 % confidence interval of the mean, `[low, high]`.
    pub ci95: [f64; 2],
}

/// A histogram with equal-width bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin edges (one more than the counts).
    pub edges: Vec<f64>,
    /// Observations per bin.
    pub counts: Vec<u64>,
}

/// A pooled distribution: mean with interval (across replications) and percentiles over all
/// observations of all replications (exact, or within a stated error for large studies: see
/// [`Results::percentiles`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistStat {
    /// Mean (of replication means).
    pub mean: f64,
    /// Median over all observations.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 95 % confidence interval of the mean.
    pub ci95: [f64; 2],
    /// Observations pooled over replications.
    pub n: u64,
    /// Observations that were not finite (e.g. from a distribution with an extreme spread);
    /// they take part in no percentile.
    #[serde(default)]
    pub invalid: u64,
    /// Observations among them that are lower bounds (right-censored): for vein-to-vein
    /// time, patients still in process at the cut-off, counted at their age then.
    #[serde(default)]
    pub censored: u64,
    /// Histogram of the pooled observations.
    pub histogram: Histogram,
}

/// Results for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceResult {
    /// Resource name.
    pub name: String,
    /// `equipment`, `area` or `staff`.
    pub kind: String,
    /// Units, batches at once, or head count.
    pub capacity: u32,
    /// Fraction of installed capacity occupied by processing and cleaning.
    pub utilisation: Stat,
    /// Occupied unit-hours per year (processing and cleaning).
    pub busy_hours_per_year: Stat,
    /// Fraction of installed capacity kept by blocked batches (after a step with `blocking`
    /// or `keep`, until the batch's next step starts); not part of `utilisation`, so the
    /// units are occupied `utilisation + blocked` of the time.
    #[serde(default)]
    pub blocked: Stat,
    /// Unit-hours per year kept by blocked batches.
    #[serde(default)]
    pub blocked_hours_per_year: Stat,
    /// Breakdowns per year.
    pub breakdowns_per_year: Stat,
    /// Mean utilisation per week of the window (over replications).
    pub weekly_utilisation: Vec<f64>,
}

/// Results for one step of one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// Product name.
    pub product: String,
    /// Step name.
    pub name: String,
    /// Waiting time before the step (ready until started), hours.
    pub wait_hours: DistStat,
    /// Hold-time violations while waiting for the step, per replication.
    pub hold_violations: Stat,
    /// Runs started per year.
    pub starts_per_year: Stat,
    /// Failed runs per year.
    pub failures_per_year: Stat,
}

/// Losses of one cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossResult {
    /// Cause.
    pub cause: String,
    /// Patients lost per replication.
    pub count: Stat,
}

/// Results of a whole study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Scenario name.
    pub scenario: String,
    /// SHA-256 of the scenario file's bytes (filled in by the caller that read the file).
    pub scenario_sha256: String,
    /// Version of the program that produced the results.
    pub program_version: String,
    /// Seed.
    pub seed: u64,
    /// Random number generator and how streams are assigned.
    pub rng: String,
    /// Replications completed.
    pub replications: u32,
    /// Replications asked for.
    pub replications_requested: u32,
    /// True when the run was cancelled before all replications finished.
    pub cancelled: bool,
    /// How percentiles and histograms are computed and their error.
    pub percentiles: String,
    /// Whether batches followed a plan (`plan`) or dispatching rules (`dispatching`).
    pub control: String,
    /// Doses released per year.
    pub throughput_per_year: Stat,
    /// Vein-to-vein time of treated patients, days.
    pub vein_to_vein_days: DistStat,
    /// Fraction of treated patients within the target vein-to-vein time.
    pub on_time_fraction: Stat,
    /// Patients lost per replication (cohort).
    pub patients_lost: Stat,
    /// Fraction of cohort patients lost.
    pub patients_lost_fraction: Stat,
    /// Patients in the cohort per replication.
    pub patients: Stat,
    /// Patients still in process when the run was cut off.
    pub patients_unfinished: Stat,
    /// Losses by cause.
    pub losses: Vec<LossResult>,
    /// Time-average work in process (batches).
    pub wip: Stat,
    /// Batches started per year.
    pub batches_started_per_year: Stat,
    /// Batches sent back per year.
    pub reworked_per_year: Stat,
    /// Batches made again from stored material per year.
    pub remanufactured_per_year: Stat,
    /// Per resource.
    pub resources: Vec<ResourceResult>,
    /// Per product step.
    pub steps: Vec<StepResult>,
    /// The per-replication summaries (for the cost model and for re-analysis), in
    /// replication order; empty when the run was asked not to keep them
    /// ([`crate::RunOptions::drop_replications`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_replication: Vec<Replication>,
}

/// What one raw observation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    /// A cohort patient's vein-to-vein time, days; `censored` when the patient was still in
    /// process at the cut-off (the value is then the age at the cut-off, a lower bound).
    VeinToVein {
        /// The value is a lower bound.
        censored: bool,
    },
    /// A cohort batch's wait before a step, hours.
    Wait {
        /// Flat step index (products in order, then steps).
        step: usize,
    },
}

/// One raw observation of a replication (written on request, never kept in [`Results`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Patient (batch) number within the replication, in order of apheresis.
    pub patient: u32,
    /// What was observed.
    pub what: Observed,
    /// Simulation time of the observation, hours.
    pub time_h: f64,
    /// The value: days for vein-to-vein times, hours for waits.
    pub value: f64,
}
