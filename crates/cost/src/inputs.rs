//! Cost inputs as written by a planner: the `[cost]` section of a scenario file, or of a
//! separate cost file with the same layout. These types mirror the file one to one;
//! [`crate::CostModel::resolve`] checks them against the scenario's plant and process.
//!
//! Every field is documented in `docs/cost-model.md`.

use model::{FileErrors, Grade, SourceFile};
use serde::{Deserialize, Serialize};

/// The `[cost]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostInputs {
    /// Currency of every amount (only used as a label).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Free text: price year and basis, e.g. `"2018 EUR, excl. VAT"`.
    #[serde(default)]
    pub price_basis: String,
    /// How investments are spread over the years: `annuity` (default) or `straight_line`.
    /// Both are always reported; this one goes into the totals.
    #[serde(default)]
    pub annualisation: Annualisation,
    /// Yearly discount rate (0.05 = 5 %) for the annuity; required when `annualisation` is
    /// `annuity` and any investment is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_rate: Option<f64>,
    /// Devices, modules, robots: purchase, qualification, life, maintenance.
    #[serde(default)]
    pub equipment: Vec<EquipmentCost>,
    /// Build and running cost of cleanroom floor by grade.
    #[serde(default)]
    pub grade: Vec<GradeCost>,
    /// Rooms: floor of scenario areas, or rooms the simulation does not model (QC lab,
    /// changing rooms, storage).
    #[serde(default)]
    pub room: Vec<RoomCost>,
    /// Staff roles: salaries, overheads, training, head count.
    #[serde(default)]
    pub role: Vec<RoleCost>,
    /// Materials: disposables, reagents, viral vector.
    #[serde(default)]
    pub material: Vec<ItemCost>,
    /// Quality-control tests.
    #[serde(default)]
    pub qc_test: Vec<ItemCost>,
    /// Operating costs: energy, transport, storage, documentation, audits, other.
    #[serde(default)]
    pub operating: Vec<ItemCost>,
    /// Published aggregates that cannot be split into the categories above (e.g. a total
    /// fixed cost per year from a cost study).
    #[serde(default)]
    pub other: Vec<ItemCost>,
}

fn default_currency() -> String {
    "EUR".to_string()
}

/// How an investment is turned into a yearly cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Annualisation {
    /// Constant yearly payment that repays the investment with interest over its life:
    /// `I · r / (1 − (1 + r)^−n)`.
    #[default]
    Annuity,
    /// Investment divided by its life in years, no interest.
    StraightLine,
}

/// One kind of equipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquipmentCost {
    /// Label; the pool name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Equipment pool of the scenario; the number of units is the pool's `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Number of units (required without `pool`; overrides the pool's count when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<u32>,
    /// Purchase price per unit.
    pub purchase_eur: f64,
    /// Design, installation and operational qualification (DQ/IQ/OQ) per unit, paid once.
    #[serde(default)]
    pub qualification_eur: f64,
    /// Useful life in years, over which purchase and qualification are spread.
    pub useful_life_years: f64,
    /// Maintenance contract and repairs per unit and year.
    #[serde(default)]
    pub maintenance_eur_per_year: f64,
    /// Function checks and requalification per unit and year.
    #[serde(default)]
    pub requalification_eur_per_year: f64,
}

/// Build and running cost of one cleanroom grade, per m² of floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeCost {
    /// EU GMP grade (`A`, `B`, `C`, `D`, `CNC`).
    pub grade: Grade,
    /// Construction and qualification of the room, per m².
    pub build_eur_per_m2: f64,
    /// Life of the construction in years.
    pub useful_life_years: f64,
    /// Ventilation (HVAC energy and maintenance), per m² and year.
    #[serde(default)]
    pub hvac_eur_per_m2_year: f64,
    /// Cleaning and disinfection, per m² and year.
    #[serde(default)]
    pub cleaning_eur_per_m2_year: f64,
    /// Environmental monitoring (particles, settle plates), per m² and year.
    #[serde(default)]
    pub monitoring_eur_per_m2_year: f64,
    /// Cleanroom requalification (ISO 14644-2), per m² and year.
    #[serde(default)]
    pub requalification_eur_per_m2_year: f64,
}

/// A room. Every area of the scenario is costed; a room entry with `area` gives or overrides
/// its floor, one without `area` adds a room the simulation does not model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomCost {
    /// Label; the area name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Area of the scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// Grade (required without `area`; the area's grade otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<Grade>,
    /// Floor in m² (required unless the area gives `floor_m2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_m2: Option<f64>,
}

/// How the head count of a role is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadCountBasis {
    /// Enough heads to staff the staff pool's shift calendar all year.
    Shifts,
    /// Enough heads for the staff hours the simulation used (per replication).
    Demand,
}

/// A staff role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleCost {
    /// Role name.
    pub name: String,
    /// Gross salary per head and year.
    pub salary_eur_per_year: f64,
    /// Employer's overhead on the salary (social insurance, health care), as a fraction.
    #[serde(default)]
    pub overhead_fraction: f64,
    /// GMP and process training, inspections, per head and year.
    #[serde(default)]
    pub training_eur_per_year: f64,
    /// Head count as given (full-time equivalents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_count: Option<f64>,
    /// Staff pool of the scenario whose shifts or simulated hours give the head count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// `shifts` or `demand` (with `staff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<HeadCountBasis>,
    /// Productive hours one head works per year (with `staff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub productive_hours_per_year: Option<f64>,
    /// Round a derived head count up to whole heads (default true).
    #[serde(default = "yes")]
    pub whole_heads: bool,
}

fn yes() -> bool {
    true
}

/// What a per-unit cost is counted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Once per year (a fixed cost).
    Year,
    /// Per manufacturing batch: batches started plus batches made again from stored material.
    Batch,
    /// Per run of `step` started (repeats and rework included).
    StepRun,
    /// Per failed run of `step`.
    StepFailure,
    /// Per dose released.
    Dose,
    /// Per patient admitted (apheresis), whether treated or lost.
    Patient,
    /// Per hour `resource` was occupied (unit-hours).
    BusyHour,
}

impl Basis {
    /// Whether the cost grows with activity.
    pub fn is_variable(self) -> bool {
        !matches!(self, Basis::Year)
    }
}

/// A cost counted per year or per unit of simulated activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemCost {
    /// Name.
    pub name: String,
    /// Price per unit of `per`.
    pub eur: f64,
    /// What it is counted on.
    pub per: Basis,
    /// Units used each time (default 1).
    #[serde(default = "one")]
    pub quantity: f64,
    /// Step name (with `step_run`, `step_failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Product whose step is meant (all products with such a step when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Resource name (with `busy_hour`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Free label for grouping, e.g. `disposable`, `reagent`, `viral_vector`, `energy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize)]
struct CostSection {
    #[serde(default)]
    cost: Option<CostInputs>,
}

/// Reads the `[cost]` section of a TOML file (a scenario or a separate cost file); other
/// top-level keys are ignored. `Ok(None)` when the file has no `[cost]` section. Errors name
/// file, line and field (`cost.equipment[0].purchase_eur`).
pub fn parse(src: &SourceFile) -> Result<Option<CostInputs>, FileErrors> {
    Ok(src.parse::<CostSection>()?.cost)
}
