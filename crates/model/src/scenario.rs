//! The scenario file as written by a planner (TOML). These types mirror the file one to
//! one; [`crate::compile`] checks them and turns them into the resolved [`crate::Model`].
//!
//! Every field is documented in `docs/scenario-format.md`; the JSON Schema generated from
//! these types (`atmpflow schema`) is the machine-readable form of the same contract.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::span::{FieldPath, Problem};

/// A whole scenario: one plant, the products it makes, the demand it serves and the
/// settings of the simulation study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name, horizon, replications and seed of the study.
    pub scenario: Settings,
    /// Equipment pools: identical devices or modules that serve the same capabilities.
    #[serde(default)]
    pub equipment: Vec<EquipmentPool>,
    /// Cleanroom areas or suites, each holding a limited number of batches at once.
    #[serde(default)]
    pub area: Vec<Area>,
    /// Staff pools (operators, QC technicians) with head count and shift calendar.
    #[serde(default)]
    pub staff: Vec<StaffPool>,
    /// Products made in the plant; several may share the same resources.
    pub product: Vec<Product>,
    /// Patient arrivals per product.
    pub demand: Vec<Demand>,
    /// Settings of the production planner (objective); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planning: Option<Planning>,
    /// Calendar anchor (optional): the date of time 0, the time zone and holidays. With it the
    /// planner lays shifts on the local wall clock (daylight-saving time, holidays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarSpec>,
    /// Cost inputs (optional); read by the cost model, ignored by the simulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub cost: Option<toml::Table>,
}

/// Settings of the simulation study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Short name shown in reports.
    pub name: String,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: String,
    /// Length of the simulated period in days (arrivals happen in `[0, horizon_days)`).
    pub horizon_days: f64,
    /// Initial period in days excluded from all statistics (the plant starts empty).
    pub warmup_days: f64,
    /// Number of independent Monte-Carlo replications (at least 2, for confidence intervals).
    pub replications: u32,
    /// Seed of the random number generator; replication `r` uses stream `r` of this seed.
    pub seed: u64,
}

/// How a resource chooses the next batch among those waiting for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dispatch {
    /// First in, first out: the batch that became ready first.
    Fifo,
    /// Earliest due date: the patient whose target vein-to-vein date is earliest.
    Edd,
    /// Least slack: the batch whose intermediate expires first (shelf life); batches without a
    /// hold limit are ranked by due date minus remaining expected processing time.
    LeastSlack,
}

/// A pool of identical devices or modules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EquipmentPool {
    /// Unique name among all resources.
    pub name: String,
    /// Number of units (including spares).
    pub count: u32,
    /// Capabilities the units offer; a step may ask for a capability instead of a pool name.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Dispatching rule of this pool.
    pub dispatch: Dispatch,
    /// Random breakdowns of single units (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<Breakdowns>,
    /// Planned maintenance and requalification windows, in which units cannot be used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<Maintenance>,
    /// Ids of the pool's units in an equipment inventory, unit 1 first (optional; the planner's
    /// `--equipment` otherwise matches ids `<pool name>_<unit>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Vec<String>>,
    /// Hours a unit is out of use from 00:00 of its requalification date (planner with
    /// `--equipment`); 24 when absent (an assumption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requalification_hours: Option<f64>,
}

/// A planned window in which units of an equipment pool or places of an area are out of use
/// (maintenance, requalification, cleanroom shutdown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Unit (1-based) of the pool, or number of places of the area, taken out of use; all
    /// units (the whole area) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<u32>,
    /// Start, hours from time 0 (Monday 00:00 of the first week).
    pub start_hours: f64,
    /// End, hours from time 0; later than `start_hours`.
    pub end_hours: f64,
    /// Why (shown in plans), e.g. `requalification (OQ)`.
    #[serde(default)]
    pub reason: String,
}

/// Random breakdowns of the units of an equipment pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Breakdowns {
    /// Mean time between failures of one unit, in hours (exponentially distributed).
    pub mtbf_hours: f64,
    /// Time to repair or replace a failed unit.
    pub repair: Distribution,
    /// What happens to a batch on a unit that fails.
    pub on_failure: OnBreakdown,
}

/// What happens to a batch whose unit breaks down while processing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnBreakdown {
    /// The batch moves to the next free unit (a spare) and continues the step with the work left.
    Transfer,
    /// The step fails and the step's failure consequence applies (`repeat` if it has none).
    FailStep,
}

/// A cleanroom area or suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Area {
    /// Unique name among all resources.
    pub name: String,
    /// EU GMP cleanroom grade.
    pub grade: Grade,
    /// How many batches may be in the area at the same time.
    pub capacity: u32,
    /// Floor area in m² (used by the cost model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_m2: Option<f64>,
    /// Capabilities the area offers (e.g. `open-processing`).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Dispatching rule of this area.
    pub dispatch: Dispatch,
    /// Planned shutdowns; `unit` is the number of places out of use (all when absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<Maintenance>,
}

/// EU GMP Annex 1 cleanroom grades.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Grade {
    /// Grade A: open aseptic manipulation.
    A,
    /// Grade B: background of grade A.
    B,
    /// Grade C.
    C,
    /// Grade D.
    D,
    /// Controlled, not classified.
    #[serde(rename = "CNC")]
    Cnc,
}

/// A pool of interchangeable staff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPool {
    /// Unique name among all resources.
    pub name: String,
    /// Head count on duty during a shift (unless the shift says otherwise).
    pub count: u32,
    /// Capabilities (roles) of this pool.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Dispatching rule of this pool.
    pub dispatch: Dispatch,
    /// Weekly shift calendar; a task needing this staff can only start while a shift is on.
    /// It may run past the end of the shift (overtime).
    pub shift: Vec<Shift>,
}

/// One weekly shift. Simulation time 0 is Monday 00:00.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// Days of the week, e.g. `["mon", "tue"]`, or `["all"]`.
    pub days: Vec<String>,
    /// Start hour of day, 0–24.
    pub start_hour: f64,
    /// End hour of day, 0–24, later than `start_hour`.
    pub end_hour: f64,
    /// Head count on this shift; the pool's `count` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// A product: an ordered list of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Unique product name.
    pub name: String,
    /// Step from which a batch is made again out of stored (cryopreserved) starting material
    /// when a consequence says `remanufacture`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remanufacture_from: Option<String>,
    /// How many times a patient's batch may be made again from stored starting material.
    #[serde(default)]
    pub max_remanufactures: u32,
    /// How many times a batch may be sent back (repeat or go back) before the patient is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rework: Option<u32>,
    /// The steps in order. Steps marked `optional` only run when a decision inserts them.
    pub step: Vec<Step>,
}

/// One process step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Step name, unique within the product.
    pub name: String,
    /// Processing time.
    pub duration: Distribution,
    /// Resources held during the step (all seized at once when the step starts). Empty for a
    /// pure delay such as shipping or an external QC test.
    #[serde(default)]
    pub uses: Vec<Use>,
    /// Set-up / cleaning time in hours of the equipment and areas after the step, before they
    /// can serve the next batch.
    #[serde(default)]
    pub cleaning_hours: f64,
    /// Transfer time in hours from the end of this step until the batch is ready for the next.
    #[serde(default)]
    pub transfer_hours: f64,
    /// Maximum time in hours from the end of this step until the next step starts (shelf life
    /// of the intermediate, transfer included). No limit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hold_hours: Option<f64>,
    /// What happens when the hold limit is exceeded; required when `max_hold_hours` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hold_violation: Option<Consequence>,
    /// Random failure of the step, judged when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// In-process decisions on measurements sampled when the step ends.
    #[serde(default)]
    pub decision: Vec<Decision>,
    /// An optional step is skipped in the normal flow and only runs when a decision inserts it.
    #[serde(default)]
    pub optional: bool,
    /// `true`: the batch keeps all the step's equipment and areas after the step ends until
    /// its next step starts (a culture stays in its bioreactor); cleaning follows then. The
    /// same as listing all of them in `keep`; not allowed together with a non-empty `keep`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub blocking: Option<bool>,
    /// Equipment pools and areas (by name) of this step whose units the batch keeps after the
    /// step ends until its next step starts (e.g. `["bioreactors"]`); cleaning follows then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep: Vec<String>,
}

/// A resource requirement of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Use {
    /// Name of an equipment pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipment: Option<String>,
    /// Name of an area.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// Name of a staff pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// A capability: any equipment pool, area or staff pool offering it may serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// Units held at once (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// Held only for the first `hours` of the step (e.g. operators for the manual part);
    /// the whole step when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
}

fn one() -> u32 {
    1
}

/// A random failure of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// Probability, 0–1, that one run of the step fails.
    pub probability: f64,
    /// What follows a failure.
    pub consequence: Consequence,
}

/// What follows a failure, a hold-time violation or a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Consequence {
    /// Run the same step again.
    Repeat,
    /// Go back (or forward) to the named step of the same product.
    Goto(String),
    /// Run the named optional step next, then continue with the step after this one.
    Insert(String),
    /// Scrap the batch and make it again from stored starting material (from the product's
    /// `remanufacture_from` step); the patient is lost when no stored material is left.
    Remanufacture,
    /// The patient cannot be treated.
    Lost,
    /// Record the event and carry on (for hold violations: use the intermediate anyway).
    Proceed,
}

/// An in-process decision: a measurement is sampled when the step ends; if it crosses the
/// threshold, the consequence applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// What is measured (e.g. `viability`).
    pub measure: String,
    /// Distribution of the measured value (no unit).
    pub value: Distribution,
    /// The consequence applies when the value is below this threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// The consequence applies when the value is above this threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// What follows.
    pub then: Consequence,
}

/// Time unit of a duration distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Days of 24 hours.
    Days,
}

impl TimeUnit {
    /// Hours per unit.
    pub fn hours(self) -> f64 {
        match self {
            TimeUnit::Minutes => 1.0 / 60.0,
            TimeUnit::Hours => 1.0,
            TimeUnit::Days => 24.0,
        }
    }
}

/// A probability distribution. Durations must give a `unit`; measurements must not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// Always `value`.
    Fixed {
        /// The value.
        value: f64,
        /// Time unit (durations only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<TimeUnit>,
    },
    /// Uniform on `[min, max]`.
    Uniform {
        /// Lower end.
        min: f64,
        /// Upper end.
        max: f64,
        /// Time unit (durations only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<TimeUnit>,
    },
    /// Triangular with `min ≤ mode ≤ max`.
    Triangular {
        /// Lower end.
        min: f64,
        /// Most likely value.
        mode: f64,
        /// Upper end.
        max: f64,
        /// Time unit (durations only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<TimeUnit>,
    },
    /// Normal with `mean` and `sd`, truncated to `[min, max]` (resampled until inside).
    TruncatedNormal {
        /// Mean of the untruncated normal.
        mean: f64,
        /// Standard deviation of the untruncated normal.
        sd: f64,
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
        /// Time unit (durations only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<TimeUnit>,
    },
    /// Lognormal given by the mean and standard deviation of the value itself.
    Lognormal {
        /// Mean of the value.
        mean: f64,
        /// Standard deviation of the value.
        sd: f64,
        /// Time unit (durations only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<TimeUnit>,
    },
    /// Exponential with the given mean.
    Exponential {
        /// Mean value.
        mean: f64,
        /// Time unit (durations only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<TimeUnit>,
    },
    /// One of the observed `values`, with optional `weights` (equal when absent).
    Empirical {
        /// Observed values.
        values: Vec<f64>,
        /// Relative weights, one per value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weights: Option<Vec<f64>>,
        /// Time unit (durations only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<TimeUnit>,
    },
    /// The harvest days of patients simulated by the T-cell expansion model (a step's
    /// `duration` only, always in days): one value per patient, equally likely. The program
    /// that reads the scenario computes them ([`Scenario::resolve_expansion`]) before the
    /// scenario is checked; they then act as an `empirical` distribution.
    ExpansionModel {
        /// How feeding and harvest are decided.
        strategy: ExpansionStrategy,
        /// Patients drawn from the patient variability model (1 to
        /// [`crate::limits::MAX_EXPANSION_PATIENTS`]).
        #[serde(default = "default_expansion_patients")]
        patients: u32,
        /// Seed of the ChaCha8 generator of the patients (patient `i`: stream `i`).
        #[serde(default = "default_expansion_seed")]
        seed: u64,
        /// Hours added to every harvest day: the parts of the step around the culture
        /// (seeding, harvest, wash), when the step is more than the expansion itself.
        #[serde(default, skip_serializing_if = "is_zero")]
        plus_hours: f64,
    },
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Feeding and harvest of a culture in the expansion model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpansionStrategy {
    /// Model-predictive control of perfusion on the soft sensor's estimates; harvest when the
    /// estimated viable cells reach the dose plus the sensor's margin.
    Mpc,
    /// The fixed perfusion schedule; harvest at the dose as above.
    FixedAtDose,
}

impl ExpansionStrategy {
    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            ExpansionStrategy::Mpc => "mpc",
            ExpansionStrategy::FixedAtDose => "fixed_at_dose",
        }
    }
}

/// What a scenario asks of the expansion model: a strategy, a number of patients and a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExpansionSpec {
    /// Feeding and harvest.
    pub strategy: ExpansionStrategy,
    /// Patients.
    pub patients: u32,
    /// Seed.
    pub seed: u64,
}

impl ExpansionSpec {
    /// Patients when a file does not say.
    pub const DEFAULT_PATIENTS: u32 = 100;
    /// Seed when a file does not say.
    pub const DEFAULT_SEED: u64 = 1;
}

/// Computes the harvest days (days from seeding, one per patient) the expansion model gives
/// for a spec. Implemented where the model lives (the `atmpflow` binary through the `pat`
/// crate); the core only calls it.
pub trait ExpansionDurations: Sync {
    /// The harvest days, or why they cannot be computed.
    fn harvest_days(&self, spec: &ExpansionSpec) -> Result<Vec<f64>, String>;
}

/// For callers without the expansion model: every request is refused with a message that says
/// so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExpansionModel;

impl ExpansionDurations for NoExpansionModel {
    fn harvest_days(&self, _: &ExpansionSpec) -> Result<Vec<f64>, String> {
        Err(
            "the expansion model is not available here; `atmpflow` computes \
             `dist = \"expansion_model\"` durations"
                .to_string(),
        )
    }
}

/// How a program computes one spec's harvest days (see [`ExpansionMemo`]).
pub type ExpansionCompute = Box<dyn Fn(&ExpansionSpec) -> Result<Vec<f64>, String> + Send + Sync>;

/// Harvest days remembered per spec: each spec is computed once by the program's `compute`,
/// whichever scenario, study point or request asks for it (parallel callers of the same spec
/// wait for the one computation).
pub struct ExpansionMemo {
    done: std::sync::Mutex<std::collections::HashMap<ExpansionSpec, Vec<f64>>>,
    compute: ExpansionCompute,
}

impl ExpansionMemo {
    /// A memo over `compute`.
    pub fn new(compute: ExpansionCompute) -> Self {
        ExpansionMemo {
            done: std::sync::Mutex::default(),
            compute,
        }
    }

    /// Whether `spec` has been computed already (asking for it again costs nothing).
    pub fn is_known(&self, spec: &ExpansionSpec) -> bool {
        self.done.lock().is_ok_and(|d| d.contains_key(spec))
    }
}

impl std::fmt::Debug for ExpansionMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = self.done.lock().map(|d| d.len()).unwrap_or(0);
        f.debug_struct("ExpansionMemo")
            .field("known_specs", &known)
            .finish_non_exhaustive()
    }
}

impl ExpansionDurations for ExpansionMemo {
    fn harvest_days(&self, spec: &ExpansionSpec) -> Result<Vec<f64>, String> {
        // Held while computing, so that parallel callers wait for one computation.
        let mut done = self
            .done
            .lock()
            .map_err(|_| "an earlier computation of the expansion model failed".to_string())?;
        if let Some(days) = done.get(spec) {
            return Ok(days.clone());
        }
        let days = (self.compute)(spec)?;
        done.insert(*spec, days.clone());
        Ok(days)
    }
}

fn default_expansion_patients() -> u32 {
    ExpansionSpec::DEFAULT_PATIENTS
}

fn default_expansion_seed() -> u64 {
    ExpansionSpec::DEFAULT_SEED
}

impl Scenario {
    /// Replaces every step duration given as `dist = "expansion_model"` by the `empirical`
    /// distribution of the harvest days `model` computes for it (in days). Returns the problems
    /// (patients out of range, a refused computation), each at its field; the scenario is
    /// unchanged where one occurred.
    pub fn resolve_expansion(&mut self, model: &dyn ExpansionDurations) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (pi, product) in self.product.iter_mut().enumerate() {
            for (si, step) in product.step.iter_mut().enumerate() {
                let Distribution::ExpansionModel {
                    strategy,
                    patients,
                    seed,
                    plus_hours,
                } = step.duration
                else {
                    continue;
                };
                let at = FieldPath::root()
                    .key("product")
                    .idx(pi)
                    .key("step")
                    .idx(si)
                    .key("duration");
                if patients == 0 || patients > crate::limits::MAX_EXPANSION_PATIENTS {
                    problems.push(Problem::new(
                        at.key("patients"),
                        format!(
                            "{patients} patients: between 1 and {} are possible",
                            crate::limits::MAX_EXPANSION_PATIENTS
                        ),
                    ));
                    continue;
                }
                if !(plus_hours.is_finite()
                    && (0.0..=crate::limits::MAX_EXPANSION_PLUS_HOURS).contains(&plus_hours))
                {
                    problems.push(Problem::new(
                        at.key("plus_hours"),
                        format!(
                            "{plus_hours} hours: between 0 and {} are possible",
                            crate::limits::MAX_EXPANSION_PLUS_HOURS
                        ),
                    ));
                    continue;
                }
                let spec = ExpansionSpec {
                    strategy,
                    patients,
                    seed,
                };
                match model.harvest_days(&spec) {
                    Ok(days) => {
                        step.duration = Distribution::Empirical {
                            values: days.iter().map(|d| d + plus_hours / 24.0).collect(),
                            weights: None,
                            unit: Some(TimeUnit::Days),
                        }
                    }
                    Err(e) => problems.push(Problem::new(
                        at,
                        format!("the expansion model ({}): {e}", strategy.name()),
                    )),
                }
            }
        }
        problems
    }
}

impl Distribution {
    /// The unit given in the file, if any (days for the expansion model).
    pub fn unit(&self) -> Option<TimeUnit> {
        match self {
            Distribution::ExpansionModel { .. } => Some(TimeUnit::Days),
            Distribution::Fixed { unit, .. }
            | Distribution::Uniform { unit, .. }
            | Distribution::Triangular { unit, .. }
            | Distribution::TruncatedNormal { unit, .. }
            | Distribution::Lognormal { unit, .. }
            | Distribution::Exponential { unit, .. }
            | Distribution::Empirical { unit, .. } => *unit,
        }
    }
}

/// Patient arrivals for one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    /// Product name.
    pub product: String,
    /// Poisson arrivals at this mean rate per year (365 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patients_per_year: Option<f64>,
    /// Poisson arrivals at this mean rate per week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patients_per_week: Option<f64>,
    /// Explicit apheresis times in days from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apheresis_days: Option<Vec<f64>>,
    /// Target vein-to-vein time in days (apheresis to the end of the last step).
    pub target_vein_to_vein_days: f64,
    /// Relative priority weight of these patients (used by the scheduler), 1 by default.
    #[serde(default = "one_f")]
    pub weight: f64,
}

fn one_f() -> f64 {
    1.0
}

/// The calendar anchor of a scenario, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// The local date of time 0, `YYYY-MM-DD`; a Monday.
    pub start: String,
    /// IANA time zone of the plant, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Local days without shift cover, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<String>,
}

/// Settings of the production planner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Planning {
    /// Criteria to minimise, most important first (lexicographic) or summed with `weights`.
    /// Hold limits are always hard constraints.
    pub objective: Vec<PlanCriterion>,
    /// How the criteria are combined.
    #[serde(default)]
    pub combine: Combine,
    /// One non-negative weight per criterion (`combine = "weighted"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
}

/// A planning criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanCriterion {
    /// End of the last step of the last order.
    Makespan,
    /// Sum over orders of weight × hours late against the due date (target vein-to-vein time).
    WeightedTardiness,
    /// Sum over orders of hours from apheresis to the end of the last step.
    TotalFlowTime,
}

/// How planning criteria are combined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// The first criterion matters most; later ones break ties.
    #[default]
    Lexicographic,
    /// The weighted sum of the criteria.
    Weighted,
}
