//! The one model of plants, processes and demand in atmpflow.
//!
//! A planner writes a [`scenario::Scenario`] (TOML); [`load`] parses it with source spans and
//! [`compile`] checks it and resolves every name into indices, giving a [`Model`] that the
//! simulator, the scheduler and the cost model read. Nothing here does IO: callers pass file
//! names and texts in.

pub mod anchor;
pub mod compile;
pub mod dist;
pub mod limits;
pub mod orders;
pub mod plan;
pub mod scenario;
pub mod span;

pub use anchor::Anchor;
pub use compile::compile;
pub use dist::Dist;
pub use plan::{Order, Plan, PlannedOp};
pub use scenario::{
    Consequence, Dispatch, ExpansionCompute, ExpansionDurations, ExpansionMemo, ExpansionSpec,
    ExpansionStrategy, Grade, NoExpansionModel, OnBreakdown, Scenario,
};
pub use span::{FieldPath, FileError, FileErrors, Problem, SourceFile};

use serde::Serialize;

/// Parses and checks a scenario file. `name` is used in error messages.
pub fn load(name: &str, text: &str) -> Result<Model, FileErrors> {
    load_source(&SourceFile::new(name, text))
}

/// Parses and checks a scenario file given as the bytes read from disk: the file limits of
/// [`SourceFile::from_bytes`] (size, UTF-8 with line and column, number of tables) first.
pub fn load_bytes(name: &str, bytes: &[u8]) -> Result<Model, FileErrors> {
    load_source(&SourceFile::from_bytes(name, bytes)?)
}

/// [`load_bytes`] for a scenario whose step durations may come from the expansion model
/// (`dist = "expansion_model"`): `expansion` computes them before the checks.
pub fn load_bytes_with(
    name: &str,
    bytes: &[u8],
    expansion: &dyn ExpansionDurations,
) -> Result<Model, FileErrors> {
    load_source_with(&SourceFile::from_bytes(name, bytes)?, expansion)
}

/// [`load`] with the expansion model of [`load_bytes_with`].
pub fn load_with(
    name: &str,
    text: &str,
    expansion: &dyn ExpansionDurations,
) -> Result<Model, FileErrors> {
    load_source_with(&SourceFile::new(name, text), expansion)
}

fn load_source(src: &SourceFile) -> Result<Model, FileErrors> {
    load_source_with(src, &NoExpansionModel)
}

fn load_source_with(
    src: &SourceFile,
    expansion: &dyn ExpansionDurations,
) -> Result<Model, FileErrors> {
    let mut scenario: Scenario = src.parse()?;
    let problems = scenario.resolve_expansion(expansion);
    if !problems.is_empty() {
        return Err(src.errors(&problems));
    }
    compile(&scenario).map_err(|problems| src.errors(&problems))
}

/// Index of a resource in [`Model::resources`].
pub type ResourceId = usize;

/// A checked scenario with every reference resolved. Times are in hours from Monday 00:00 of
/// the first simulated week.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: String,
    /// Simulated period in hours.
    pub horizon_h: f64,
    /// Warm-up period in hours, excluded from statistics.
    pub warmup_h: f64,
    /// Replications.
    pub replications: u32,
    /// Seed.
    pub seed: u64,
    /// Equipment pools, areas and staff pools, in that order.
    pub resources: Vec<Resource>,
    /// Products.
    pub products: Vec<ProductModel>,
    /// Demand streams.
    pub demand: Vec<DemandModel>,
    /// The production planner's objective.
    pub planning: PlanningModel,
    /// The calendar anchor (`[calendar]`), when given.
    #[serde(skip)]
    pub calendar: Option<Anchor>,
    /// The scenario as written (for the cost model and for reports).
    #[serde(skip)]
    pub scenario: Scenario,
}

/// What kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResourceKind {
    /// A pool of devices or modules.
    Equipment,
    /// A cleanroom area.
    Area {
        /// Cleanroom grade.
        grade: Grade,
    },
    /// A staff pool.
    Staff,
}

/// A resource with a capacity (units, batches at once, or head count).
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// Unique name.
    pub name: String,
    /// Kind.
    pub kind: ResourceKind,
    /// Units, batches at once, or head count.
    pub capacity: u32,
    /// Capabilities offered.
    pub capabilities: Vec<String>,
    /// Dispatching rule.
    pub dispatch: Dispatch,
    /// Shift calendar (staff only); always available when `None`.
    pub calendar: Option<Calendar>,
    /// Random breakdowns (equipment only).
    pub breakdowns: Option<BreakdownModel>,
    /// Floor area in m² (areas only, when given).
    pub floor_m2: Option<f64>,
    /// Planned maintenance and requalification windows (equipment and areas).
    pub maintenance: Vec<MaintenanceWindow>,
}

/// A planned window in which units (or places) of a resource are out of use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceWindow {
    /// Unit (1-based) of an equipment pool, or places of an area; all when `None`.
    pub unit: Option<u32>,
    /// Start, hours from time 0.
    pub start_h: f64,
    /// End, hours from time 0.
    pub end_h: f64,
    /// Why.
    pub reason: String,
}

/// The production planner's objective, resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanningModel {
    /// Criteria with their weights (1 for lexicographic), most important first.
    pub criteria: Vec<(scenario::PlanCriterion, f64)>,
    /// How they are combined.
    pub combine: scenario::Combine,
}

impl Default for PlanningModel {
    fn default() -> Self {
        Self {
            criteria: vec![
                (scenario::PlanCriterion::WeightedTardiness, 1.0),
                (scenario::PlanCriterion::Makespan, 1.0),
            ],
            combine: scenario::Combine::Lexicographic,
        }
    }
}

impl Resource {
    /// Capacity available at time `t` (hours).
    pub fn capacity_at(&self, t: f64) -> u32 {
        match &self.calendar {
            None => self.capacity,
            Some(c) => c.on_duty(t),
        }
    }
}

/// A weekly shift calendar.
#[derive(Debug, Clone, Serialize)]
pub struct Calendar {
    /// Windows within the week, hours from Monday 00:00, `[start, end)`.
    pub windows: Vec<ShiftWindow>,
}

/// One weekly window of a shift calendar.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ShiftWindow {
    /// Start, hours from Monday 00:00 (0–168).
    pub start_h: f64,
    /// End, hours from Monday 00:00 (0–168).
    pub end_h: f64,
    /// Head count on duty.
    pub count: u32,
}

/// Hours in a week.
pub const WEEK_H: f64 = 168.0;

impl Calendar {
    /// Head count on duty at time `t`; overlapping windows add up.
    pub fn on_duty(&self, t: f64) -> u32 {
        let w = t.rem_euclid(WEEK_H);
        self.windows
            .iter()
            .filter(|s| s.start_h <= w && w < s.end_h)
            .map(|s| s.count)
            .sum()
    }

    /// The first time after `t` at which the head count may change.
    pub fn next_change_after(&self, t: f64) -> f64 {
        let week = (t / WEEK_H).floor();
        let base = week * WEEK_H;
        let mut best = f64::INFINITY;
        for off in [0.0, WEEK_H] {
            for s in &self.windows {
                for edge in [s.start_h, s.end_h] {
                    let at = base + off + edge;
                    if at > t + 1e-9 && at < best {
                        best = at;
                    }
                }
            }
        }
        best
    }

    /// Hours on duty (head count × hours) in `[a, b)`.
    pub fn capacity_hours(&self, a: f64, b: f64) -> f64 {
        if b <= a {
            return 0.0;
        }
        let mut total = 0.0;
        let first_week = (a / WEEK_H).floor() as i64;
        let last_week = (b / WEEK_H).floor() as i64;
        for wk in first_week..=last_week {
            let base = wk as f64 * WEEK_H;
            for s in &self.windows {
                let lo = (base + s.start_h).max(a);
                let hi = (base + s.end_h).min(b);
                if hi > lo {
                    total += (hi - lo) * f64::from(s.count);
                }
            }
        }
        total
    }
}

/// Random unit breakdowns of an equipment pool.
#[derive(Debug, Clone, Serialize)]
pub struct BreakdownModel {
    /// Mean time between failures of one unit, hours.
    pub mtbf_h: f64,
    /// Repair time, hours.
    pub repair: Dist,
    /// What happens to the batch on a failed unit.
    pub on_failure: OnBreakdown,
}

/// A product with resolved steps.
#[derive(Debug, Clone, Serialize)]
pub struct ProductModel {
    /// Name.
    pub name: String,
    /// Steps in file order (optional steps included).
    pub steps: Vec<StepModel>,
    /// Step where re-manufacture from stored material restarts.
    pub remanufacture_from: Option<usize>,
    /// Re-manufactures allowed per patient.
    pub max_remanufactures: u32,
    /// Sends back allowed per batch before the patient is lost.
    pub max_rework: Option<u32>,
}

impl ProductModel {
    /// The regular step after `i` (skipping optional steps), if any.
    pub fn next_regular(&self, i: usize) -> Option<usize> {
        (i + 1..self.steps.len()).find(|&j| !self.steps[j].optional)
    }

    /// The first regular step.
    pub fn first_regular(&self) -> Option<usize> {
        (0..self.steps.len()).find(|&j| !self.steps[j].optional)
    }

    /// Expected processing hours of the regular steps from `i` on (transfers included).
    pub fn remaining_mean_h(&self, i: usize) -> f64 {
        self.steps[i.min(self.steps.len())..]
            .iter()
            .filter(|s| !s.optional)
            .map(|s| s.duration.mean() + s.transfer_h)
            .sum()
    }
}

/// What follows a failure, a hold violation or a decision, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Run the same step again.
    Repeat,
    /// Continue at this step.
    Goto(usize),
    /// Run this optional step next, then continue with the regular flow.
    Insert(usize),
    /// Make the batch again from stored material.
    Remanufacture,
    /// The patient is lost.
    Lost,
    /// Carry on.
    Proceed,
}

/// A step with resolved references, times in hours.
#[derive(Debug, Clone, Serialize)]
pub struct StepModel {
    /// Name.
    pub name: String,
    /// Processing time, hours.
    pub duration: Dist,
    /// Resources held.
    pub uses: Vec<UseModel>,
    /// Cleaning / set-up of equipment and areas after the step, hours.
    pub cleaning_h: f64,
    /// Transfer to the next step, hours.
    pub transfer_h: f64,
    /// Maximum hold before the next step starts, hours.
    pub max_hold_h: Option<f64>,
    /// Consequence of a hold violation.
    pub on_hold_violation: Outcome,
    /// Failure probability and consequence.
    pub failure: Option<(f64, Outcome)>,
    /// In-process decisions.
    pub decisions: Vec<DecisionModel>,
    /// Only runs when inserted.
    pub optional: bool,
    /// Which units the batch keeps after the step until its next step starts (blocking).
    pub keep: Keep,
}

/// The units a batch keeps after a step ends until it starts its next step (blocking),
/// resolved from the step's `blocking` and `keep`: the one source the simulator and the
/// planner read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// Everything is released when the step ends.
    #[default]
    Nothing,
    /// Every equipment unit and area place the step holds at its end.
    All,
    /// The units of these equipment pools and areas only (sorted; a proper subset of the
    /// equipment and areas the step can use).
    Only(Vec<ResourceId>),
}

impl Keep {
    /// Whether units of resource `r` (of kind `kind`) held at the step's end are kept.
    pub fn keeps(&self, r: ResourceId, kind: ResourceKind) -> bool {
        match self {
            Keep::Nothing => false,
            Keep::All => kind != ResourceKind::Staff,
            Keep::Only(list) => list.binary_search(&r).is_ok(),
        }
    }

    /// Whether the step keeps anything.
    pub fn any(&self) -> bool {
        !matches!(self, Keep::Nothing)
    }
}

impl Model {
    /// Whether some step of some product keeps units after it ends (blocking).
    pub fn has_blocking(&self) -> bool {
        self.products
            .iter()
            .flat_map(|p| &p.steps)
            .any(|s| s.keep.any())
    }
}

/// A resolved resource requirement.
#[derive(Debug, Clone, Serialize)]
pub struct UseModel {
    /// Resources that can serve it, in preference order.
    pub candidates: Vec<ResourceId>,
    /// Units held.
    pub count: u32,
    /// Held only for the first hours of the step.
    pub hours: Option<f64>,
}

/// A resolved in-process decision.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionModel {
    /// What is measured.
    pub measure: String,
    /// Distribution of the measurement.
    pub value: Dist,
    /// Threshold below which the outcome applies.
    pub below: Option<f64>,
    /// Threshold above which the outcome applies.
    pub above: Option<f64>,
    /// What follows.
    pub then: Outcome,
}

impl DecisionModel {
    /// Whether a measured value triggers the decision.
    pub fn triggers(&self, v: f64) -> bool {
        self.below.is_some_and(|b| v < b) || self.above.is_some_and(|a| v > a)
    }
}

/// Patient arrivals.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrivals {
    /// Poisson arrivals.
    Poisson {
        /// Mean arrivals per hour.
        per_hour: f64,
    },
    /// Fixed apheresis times, hours, sorted.
    Times {
        /// Times in hours.
        at_h: Vec<f64>,
    },
}

/// A resolved demand stream.
#[derive(Debug, Clone, Serialize)]
pub struct DemandModel {
    /// Product index.
    pub product: usize,
    /// Arrival process.
    pub arrivals: Arrivals,
    /// Target vein-to-vein time, hours.
    pub target_v2v_h: f64,
    /// Priority weight.
    pub weight: f64,
}

impl Model {
    /// Index of the resource with this name.
    pub fn resource(&self, name: &str) -> Option<ResourceId> {
        self.resources.iter().position(|r| r.name == name)
    }

    /// Index of the product with this name.
    pub fn product(&self, name: &str) -> Option<usize> {
        self.products.iter().position(|p| p.name == name)
    }

    /// Expected arrivals per year over all demand streams.
    pub fn expected_patients_per_year(&self) -> f64 {
        let years = self.horizon_h / (365.0 * 24.0);
        self.demand
            .iter()
            .map(|d| match &d.arrivals {
                Arrivals::Poisson { per_hour } => per_hour * 365.0 * 24.0,
                Arrivals::Times { at_h } => at_h.len() as f64 / years.max(1e-9),
            })
            .sum()
    }
}
