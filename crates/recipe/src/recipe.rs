//! The recipe file: levels 1 (human-readable) and 2 (modular) of a process
//! description, ISA-88 in spirit.
//!
//! A recipe is one *procedure* made of *unit procedures*, each made of *steps*
//! (ISA-88 operations) that list their *phases*. Level 1 gives every step its
//! materials, environment and hygiene requirements, parameters (target, range,
//! unit) and duration; level 2 adds the capabilities the step needs, with
//! parameter constraints that equipment must meet (see [`crate::bind`] for
//! level 3 and [`crate::record`] for level 4). The format is documented in
//! `docs/recipe-format.md`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::{self, ParamKind};
use crate::diag::{FieldPath, FileErrors, Problem, SourceFile};
use crate::equipment::{RawNumber, RawParam, is_valid_id, parse_unit, validate_capability_name};
use crate::quantity::{Dimension, Quantity, Unit, bad_range, fmt_num, fmt_range};

// ---------------------------------------------------------------------------
// Validated types
// ---------------------------------------------------------------------------

/// ISA-88 recipe type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipeType {
    /// Site- and equipment-independent.
    General,
    /// Adapted to a site.
    Site,
    /// Adapted to a plant's equipment classes (the usual file here).
    Master,
    /// One batch's copy of a master recipe.
    Control,
}

/// A validated recipe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recipe {
    /// The procedure header.
    pub procedure: Procedure,
    /// Materials used by the steps.
    pub materials: Vec<Material>,
    /// Unit procedures, in order.
    pub unit_procedures: Vec<UnitProcedure>,
    /// Steps (ISA-88 operations), in execution order.
    pub steps: Vec<Step>,
}

/// Procedure header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Procedure {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version text.
    pub version: String,
    /// ISA-88 recipe type.
    pub recipe_type: RecipeType,
    /// Product made.
    pub product: String,
    /// Free text.
    pub description: String,
    /// Step from which a batch is made again out of stored starting material (planner;
    /// needed when a consequence says `remanufacture`).
    pub remanufacture_from: Option<String>,
    /// How many times a batch may be made again from stored starting material (planner).
    pub max_remanufactures: u32,
}

/// A raw material, consumable, starting material or intermediate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Material {
    /// Identifier referenced by steps.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role: starting, raw, consumable, intermediate or product.
    pub role: MaterialRole,
    /// Quality / specification text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub specification: String,
}

/// What a material is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaterialRole {
    /// Patient starting material (apheresis).
    Starting,
    /// Media, reagents, vectors.
    Raw,
    /// Single-use items (bags, cassettes, tubing sets).
    Consumable,
    /// An intermediate product.
    Intermediate,
    /// The final product.
    Product,
}

/// An ISA-88 unit procedure: a group of steps run in one unit or area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitProcedure {
    /// Identifier referenced by steps.
    pub id: String,
    /// Name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A level-1 parameter: target and/or acceptable range with a unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    /// Target value, in `unit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// Lowest acceptable value, in `unit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest acceptable value, in `unit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Unit.
    pub unit: Unit,
}

impl ParamSpec {
    /// Whether a value in `unit` lies in the acceptable range (a target without
    /// a range must be met within 0.5 % of its magnitude).
    pub fn accepts(&self, value: f64, unit: &Unit) -> bool {
        let v = unit.to_canonical(value);
        let c = |x: f64| self.unit.to_canonical(x);
        match (self.min, self.max, self.target) {
            (None, None, Some(t)) => (v - c(t)).abs() <= 0.005 * c(t).abs().max(1e-12),
            (min, max, _) => {
                min.is_none_or(|m| v >= c(m) - 1e-9) && max.is_none_or(|m| v <= c(m) + 1e-9)
            }
        }
    }
}

impl fmt::Display for ParamSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = if self.unit.dimension == Dimension::Dimensionless {
            String::new()
        } else {
            format!(" {}", self.unit)
        };
        match (self.min, self.max) {
            (Some(a), Some(b)) => write!(f, "{}{u}", fmt_range(a, b))?,
            (Some(a), None) => write!(f, "≥ {}{u}", fmt_num(a))?,
            (None, Some(b)) => write!(f, "≤ {}{u}", fmt_num(b))?,
            (None, None) => {}
        }
        if let Some(t) = self.target {
            if self.min.is_some() || self.max.is_some() {
                write!(f, " (target {}{u})", fmt_num(t))?;
            } else {
                write!(f, "{}{u}", fmt_num(t))?;
            }
        }
        Ok(())
    }
}

/// A step duration in hours: the shortest, most likely and longest expected time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Duration {
    /// Shortest expected, hours.
    pub min_h: f64,
    /// Most likely (nominal), hours.
    pub nominal_h: f64,
    /// Longest acceptable, hours: running longer is a "late" deviation.
    pub max_h: f64,
}

/// How a controlled phase sets feeding and harvest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Controller {
    /// Model-predictive control of perfusion on the soft sensor's estimates, harvest when the
    /// estimated viable cells reach the dose plus the sensor's margin.
    Mpc,
    /// The fixed perfusion schedule, harvest as above.
    FixedSchedule,
}

impl Controller {
    /// The name used in recipes.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Mpc => "mpc",
            Controller::FixedSchedule => "fixed_schedule",
        }
    }

    /// The expansion model's strategy that plans this controller's harvest days.
    pub fn strategy(self) -> model::scenario::ExpansionStrategy {
        match self {
            Controller::Mpc => model::scenario::ExpansionStrategy::Mpc,
            Controller::FixedSchedule => model::scenario::ExpansionStrategy::FixedAtDose,
        }
    }
}

/// A phase steered by process analytical technology: the soft sensor that estimates glucose,
/// lactate and cells from the probe's spectra, and the controller acting on the estimates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseControl {
    /// The phase's name (one of the step's phases).
    pub phase: String,
    /// The soft sensor file (a `pat fit` model, JSON), relative to the recipe's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_sensor: Option<String>,
    /// The controller.
    pub controller: Controller,
    /// Patients the planner simulates with the expansion model for the step's duration.
    pub patients: u32,
    /// Seed of those patients.
    pub seed: u64,
}

/// Cleanroom grade or environment class required around a step.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Environment {
    /// EU GMP grade of the surroundings (A, B, C, D or CNC), if required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// Monitored quantities (temperature, humidity, pressure difference, …) with their limits.
    pub limits: BTreeMap<String, ParamSpec>,
}

/// A material a step consumes or produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaterialUse {
    /// Material id.
    pub material: String,
    /// Quantity, if specified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

/// A level-2 constraint on one capability parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Constraint {
    /// The equipment must be able to run anywhere in `[min, max]`.
    Covers {
        /// Lower end.
        min: f64,
        /// Upper end.
        max: f64,
        /// Unit.
        unit: Unit,
    },
    /// The equipment's value (or the top of its range) must be ≥ `value` (e.g. a capacity).
    AtLeast {
        /// Bound.
        value: f64,
        /// Unit.
        unit: Unit,
    },
    /// The equipment's value (or the bottom of its range) must be ≤ `value` (e.g. a resolution).
    AtMost {
        /// Bound.
        value: f64,
        /// Unit.
        unit: Unit,
    },
    /// Yes/no property must equal.
    IsBool {
        /// Required value.
        value: bool,
    },
    /// Text property must be one of these.
    OneOf {
        /// Accepted words.
        values: Vec<String>,
    },
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = |u: &Unit| {
            if u.dimension == Dimension::Dimensionless {
                String::new()
            } else {
                format!(" {u}")
            }
        };
        match self {
            Constraint::Covers { min, max, unit } => {
                write!(f, "{}{}", fmt_range(*min, *max), u(unit))
            }
            Constraint::AtLeast { value, unit } => write!(f, "≥ {}{}", fmt_num(*value), u(unit)),
            Constraint::AtMost { value, unit } => write!(f, "≤ {}{}", fmt_num(*value), u(unit)),
            Constraint::IsBool { value } => write!(f, "{value}"),
            Constraint::OneOf { values } if values.len() == 1 => f.write_str(&values[0]),
            Constraint::OneOf { values } => write!(f, "one of {}", values.join(", ")),
        }
    }
}

/// A level-2 requirement: one capability a step needs, with constraints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requirement {
    /// Name unique within the step (defaults to the capability name); the
    /// executed record names equipment by it.
    pub name: String,
    /// Capability from the catalog.
    pub capability: String,
    /// Requirements sharing a group (across steps) must bind to the same
    /// equipment (e.g. every step of an all-in-one device run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Constraints by capability parameter.
    pub parameters: BTreeMap<String, Constraint>,
    /// Counter uses the step consumes on the chosen equipment (e.g. sterile connector ports).
    pub uses: BTreeMap<String, u64>,
}

/// Staff a step needs (planner input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operators {
    /// Head count needed at once.
    pub count: u32,
    /// Hours they are needed from the step start; the whole step when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
}

/// One step (ISA-88 operation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Identifier, unique in the recipe.
    pub id: String,
    /// Name.
    pub name: String,
    /// Unit procedure id.
    pub unit_procedure: String,
    /// Free text.
    pub description: String,
    /// ISA-88 phases, in order.
    pub phases: Vec<String>,
    /// The phase steered by a soft sensor and a controller, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<PhaseControl>,
    /// Duration.
    pub duration: Duration,
    /// Maximum hold (hours) from the end of this step to the start of the next: shelf life of
    /// the intermediate.
    pub max_hold_h: Option<f64>,
    /// What follows when the hold time is exceeded (planner; `proceed` when not given).
    pub on_hold_violation: Option<model::scenario::Consequence>,
    /// Transfer time (hours) to the next step.
    pub transfer_h: f64,
    /// Cleaning / changeover time (hours) of the equipment after the step (planner).
    pub cleaning_h: f64,
    /// Materials.
    pub materials: Vec<MaterialUse>,
    /// Environment requirements.
    pub environment: Environment,
    /// Hygiene requirements (gowning, disinfection, line clearance…).
    pub hygiene: Vec<String>,
    /// Level-1 process parameters.
    pub parameters: BTreeMap<String, ParamSpec>,
    /// Level-2 capability requirements.
    pub requires: Vec<Requirement>,
    /// Staff needed (planner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operators: Option<Operators>,
    /// Probability that a run fails and what follows (planner; model semantics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<model::scenario::Failure>,
    /// In-process decisions (planner; model semantics).
    pub decision: Vec<model::scenario::Decision>,
    /// Runs only when a decision inserts it.
    pub optional: bool,
}

impl Recipe {
    /// Step by id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Nominal start offset (hours from the recipe start) of every regular step, in order,
    /// with nominal durations and transfers; optional steps get the offset of where they
    /// would be inserted.
    pub fn nominal_offsets_h(&self) -> Vec<(f64, f64)> {
        let mut t = 0.0;
        let mut out = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            let start = t;
            let end = start + s.duration.nominal_h;
            out.push((start, end));
            if !s.optional {
                t = end + s.transfer_h;
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Raw (as written) types
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    procedure: Option<RawProcedure>,
    #[serde(default)]
    material: Vec<Material>,
    #[serde(default)]
    unit_procedure: Vec<UnitProcedure>,
    #[serde(default)]
    step: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcedure {
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    version: String,
    #[serde(rename = "type")]
    recipe_type: Option<RecipeType>,
    #[serde(default)]
    product: String,
    #[serde(default)]
    description: String,
    remanufacture_from: Option<String>,
    #[serde(default)]
    max_remanufactures: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Option<String>,
    name: Option<String>,
    unit_procedure: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    phases: Vec<RawPhase>,
    duration: Option<RawNumber>,
    max_hold: Option<RawNumber>,
    on_hold_violation: Option<model::scenario::Consequence>,
    transfer: Option<RawNumber>,
    cleaning: Option<RawNumber>,
    #[serde(default)]
    materials: Vec<RawMaterialUse>,
    #[serde(default)]
    environment: BTreeMap<String, RawParam>,
    #[serde(default)]
    hygiene: Vec<String>,
    #[serde(default)]
    parameters: BTreeMap<String, RawNumber>,
    #[serde(default)]
    requires: Vec<RawRequirement>,
    operators: Option<Operators>,
    failure: Option<model::scenario::Failure>,
    #[serde(default)]
    decision: Vec<model::scenario::Decision>,
    #[serde(default)]
    optional: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaterialUse {
    material: String,
    quantity: Option<RawNumber>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    name: Option<String>,
    capability: Option<String>,
    group: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, RawParam>,
    #[serde(default)]
    uses: BTreeMap<String, u64>,
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

struct V {
    problems: Vec<Problem>,
}

impl V {
    fn err(&mut self, p: &FieldPath, msg: impl Into<String>) {
        self.problems.push(Problem::new(p.clone(), msg));
    }

    fn finite(&mut self, p: &FieldPath, v: Option<f64>) -> Option<f64> {
        match v {
            Some(x) if !x.is_finite() => {
                self.err(p, "must be a finite number");
                None
            }
            other => other,
        }
    }

    fn no_fields(&mut self, p: &FieldPath, t: &RawNumber, what: &str, allowed: &[&str]) {
        let present = [
            ("value", t.value.is_some()),
            ("min", t.min.is_some()),
            ("max", t.max.is_some()),
            ("target", t.target.is_some()),
            ("at_least", t.at_least.is_some()),
            ("at_most", t.at_most.is_some()),
            ("equals", t.equals.is_some()),
            ("one_of", t.one_of.is_some()),
        ];
        for (name, is) in present {
            if is && !allowed.contains(&name) {
                self.err(
                    &p.key(name),
                    format!(
                        "`{name}` is not allowed in {what}; use {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    /// A level-1 parameter or environment limit.
    fn param_spec(&mut self, p: &FieldPath, t: &RawNumber, what: &str) -> Option<ParamSpec> {
        self.no_fields(p, t, what, &["target", "min", "max", "unit"]);
        let target = self.finite(&p.key("target"), t.target);
        let min = self.finite(&p.key("min"), t.min);
        let max = self.finite(&p.key("max"), t.max);
        if target.is_none() && min.is_none() && max.is_none() {
            self.err(p, "give a `target`, a `min` or a `max` (or several)");
            return None;
        }
        let unit = match t.unit.as_deref() {
            None => {
                self.err(
                    &p.key("unit"),
                    "missing unit: write e.g. unit = \"°C\", \"mL\", \"x g\", \"%\" or \"1\" for a pure number",
                );
                return None;
            }
            Some(u) => match Unit::parse(u) {
                Some(unit) => unit,
                None => {
                    self.err(
                        &p.key("unit"),
                        format!(
                            "unknown unit \"{u}\"; known units: {}",
                            Unit::all_symbols().join(", ")
                        ),
                    );
                    return None;
                }
            },
        };
        let mut ok = true;
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            self.err(&p.key("min"), bad_range(a, b));
            ok = false;
        }
        if ok
            && let Some(tv) = target
            && (min.is_some_and(|a| tv < a) || max.is_some_and(|b| tv > b))
        {
            self.err(
                &p.key("target"),
                format!("target {} lies outside min/max", fmt_num(tv)),
            );
            ok = false;
        }
        ok.then_some(ParamSpec {
            target,
            min,
            max,
            unit,
        })
    }

    /// A time quantity (single value) in hours.
    fn hours(&mut self, p: &FieldPath, t: &RawNumber) -> Option<f64> {
        self.no_fields(p, t, "a time", &["value", "unit"]);
        let v = self.finite(&p.key("value"), t.value);
        let Some(v) = v else {
            self.err(&p.key("value"), "missing `value`");
            return None;
        };
        let mut sink = Vec::new();
        let unit = parse_unit(t.unit.as_deref(), Dimension::Time, p, &mut sink);
        self.problems.extend(sink);
        if v < 0.0 {
            self.err(&p.key("value"), "must not be negative");
            return None;
        }
        unit.map(|u| u.to_canonical(v))
    }

    fn duration(&mut self, p: &FieldPath, t: Option<&RawNumber>) -> Duration {
        let zero = Duration {
            min_h: 0.0,
            nominal_h: 0.0,
            max_h: 0.0,
        };
        let Some(t) = t else {
            self.err(
                p,
                "missing `duration`, e.g. duration = { min = 20, target = 30, max = 45, unit = \"min\" }",
            );
            return zero;
        };
        self.no_fields(
            p,
            t,
            "a duration",
            &["value", "target", "min", "max", "unit"],
        );
        let mut sink = Vec::new();
        let unit = parse_unit(t.unit.as_deref(), Dimension::Time, p, &mut sink);
        self.problems.extend(sink);
        let Some(unit) = unit else { return zero };
        let nominal = self.finite(&p.key("target"), t.target.or(t.value));
        let min = self.finite(&p.key("min"), t.min);
        let max = self.finite(&p.key("max"), t.max);
        let Some(nominal) = nominal else {
            self.err(
                &p.key("target"),
                "missing `target` (the nominal duration) or `value`",
            );
            return zero;
        };
        if t.value.is_some() && t.target.is_some() {
            self.err(&p.key("value"), "give `target` or `value`, not both");
        }
        let min = min.unwrap_or(nominal);
        let max = max.unwrap_or(nominal);
        if min < 0.0 {
            self.err(&p.key("min"), "a duration cannot be negative");
            return zero;
        }
        if min > max {
            self.err(&p.key("min"), bad_range(min, max));
            return zero;
        }
        if nominal < min || nominal > max {
            self.err(
                &p.key("target"),
                "the nominal duration must lie within min..max",
            );
            return zero;
        }
        if max <= 0.0 {
            self.err(p, "a step must take some time");
        }
        Duration {
            min_h: unit.to_canonical(min),
            nominal_h: unit.to_canonical(nominal),
            max_h: unit.to_canonical(max),
        }
    }

    fn constraint(&mut self, p: &FieldPath, kind: ParamKind, raw: &RawParam) -> Option<Constraint> {
        match (kind, raw) {
            (ParamKind::Bool, RawParam::Bool(b)) => Some(Constraint::IsBool { value: *b }),
            (ParamKind::Text, RawParam::Text(t)) => Some(Constraint::OneOf {
                values: vec![t.clone()],
            }),
            (ParamKind::Text, RawParam::Table(t)) if t.one_of.is_some() || t.equals.is_some() => {
                self.no_fields(p, t, "a text constraint", &["one_of", "equals"]);
                let mut values = Vec::new();
                for v in t.one_of.iter().flatten().chain(t.equals.iter()) {
                    match v.as_str() {
                        Some(s) => values.push(s.to_string()),
                        None => self.err(p, "text constraints take strings"),
                    }
                }
                if values.is_empty() {
                    self.err(&p.key("one_of"), "list at least one accepted value");
                    return None;
                }
                Some(Constraint::OneOf { values })
            }
            (ParamKind::Bool, RawParam::Table(t)) if t.equals.is_some() => {
                self.no_fields(p, t, "a yes/no constraint", &["equals"]);
                match t.equals.as_ref().and_then(toml::Value::as_bool) {
                    Some(b) => Some(Constraint::IsBool { value: b }),
                    None => {
                        self.err(&p.key("equals"), "expected true or false");
                        None
                    }
                }
            }
            (ParamKind::Number(dim), RawParam::Table(t)) => {
                self.no_fields(
                    p,
                    t,
                    "a capability constraint",
                    &["min", "max", "at_least", "at_most", "unit"],
                );
                let mut sink = Vec::new();
                let unit = parse_unit(t.unit.as_deref(), dim, p, &mut sink);
                self.problems.extend(sink);
                let unit = unit?;
                let min = self.finite(&p.key("min"), t.min);
                let max = self.finite(&p.key("max"), t.max);
                let at_least = self.finite(&p.key("at_least"), t.at_least);
                let at_most = self.finite(&p.key("at_most"), t.at_most);
                match (min, max, at_least, at_most) {
                    (Some(a), Some(b), None, None) => {
                        if a > b {
                            self.err(&p.key("min"), bad_range(a, b));
                            None
                        } else {
                            Some(Constraint::Covers {
                                min: a,
                                max: b,
                                unit,
                            })
                        }
                    }
                    (None, None, Some(v), None) => Some(Constraint::AtLeast { value: v, unit }),
                    (None, None, None, Some(v)) => Some(Constraint::AtMost { value: v, unit }),
                    (Some(_), None, None, None) | (None, Some(_), None, None) => {
                        self.err(
                            p,
                            "a range constraint needs both `min` and `max`; for a single bound use `at_least` or `at_most`",
                        );
                        None
                    }
                    _ => {
                        self.err(
                            p,
                            "give exactly one of: `min` and `max` (range the equipment must cover), `at_least`, or `at_most`",
                        );
                        None
                    }
                }
            }
            (ParamKind::Number(dim), RawParam::Number(_)) => {
                self.err(
                    p,
                    format!(
                        "missing unit: write e.g. {{ at_least = …, unit = \"{}\" }}",
                        dim.canonical()
                    ),
                );
                None
            }
            (kind, _) => {
                let want = match kind {
                    ParamKind::Bool => "true or false".to_string(),
                    ParamKind::Text => "a string or { one_of = [...] }".to_string(),
                    ParamKind::Number(d) => format!("a {d} constraint with a unit"),
                };
                self.err(p, format!("expected {want}"));
                None
            }
        }
    }
}

fn required_id(v: &mut V, s: Option<&String>, p: &FieldPath) -> String {
    match s {
        None => {
            v.err(p, "missing field");
            String::new()
        }
        Some(s) if !is_valid_id(s) => {
            v.err(
                p,
                format!("invalid id `{s}`: use letters, digits and `_`, starting with a letter"),
            );
            s.clone()
        }
        Some(s) => s.clone(),
    }
}

fn validate(raw: RawRecipe) -> (Recipe, Vec<Problem>) {
    let mut v = V {
        problems: Vec::new(),
    };
    let root = FieldPath::root();
    let pp = root.key("procedure");
    let procedure = validate_procedure(&mut v, raw.procedure, &pp);

    let mut material_ids = HashSet::new();
    for (i, m) in raw.material.iter().enumerate() {
        let mp = root.key("material").idx(i);
        required_id(&mut v, Some(&m.id), &mp.key("id"));
        if !material_ids.insert(m.id.as_str()) {
            v.err(&mp.key("id"), format!("duplicate material id `{}`", m.id));
        }
    }
    let mut up_ids = HashSet::new();
    for (i, u) in raw.unit_procedure.iter().enumerate() {
        let up = root.key("unit_procedure").idx(i);
        required_id(&mut v, Some(&u.id), &up.key("id"));
        if !up_ids.insert(u.id.as_str()) {
            v.err(
                &up.key("id"),
                format!("duplicate unit procedure id `{}`", u.id),
            );
        }
    }

    if raw.step.is_empty() {
        v.err(&root.key("step"), "the recipe has no [[step]]");
    }
    let mut steps = Vec::new();
    let mut step_ids = HashSet::new();
    let declared = Declared {
        material_ids: &material_ids,
        up_ids: &up_ids,
        unit_procedures: &raw.unit_procedure,
    };
    for (i, s) in raw.step.iter().enumerate() {
        let sp = root.key("step").idx(i);
        steps.push(validate_step(&mut v, s, &sp, &declared, &mut step_ids));
    }
    check_step_references(&mut v, &steps, &step_ids, &root);
    if let Some(r) = &procedure.remanufacture_from
        && !step_ids.contains(r)
    {
        v.err(&pp.key("remanufacture_from"), format!("unknown step `{r}`"));
    }
    let recipe = Recipe {
        procedure,
        materials: raw.material,
        unit_procedures: raw.unit_procedure,
        steps,
    };
    (recipe, v.problems)
}

/// The `[procedure]` table; a placeholder when it is missing (reported).
fn validate_procedure(v: &mut V, raw: Option<RawProcedure>, pp: &FieldPath) -> Procedure {
    match raw {
        None => {
            v.err(pp, "missing [procedure] table (id, name, type, product)");
            Procedure {
                id: String::new(),
                name: String::new(),
                version: String::new(),
                recipe_type: RecipeType::Master,
                product: String::new(),
                description: String::new(),
                remanufacture_from: None,
                max_remanufactures: 0,
            }
        }
        Some(p) => {
            let id = required_id(v, p.id.as_ref(), &pp.key("id"));
            let recipe_type = p.recipe_type.unwrap_or_else(|| {
                v.err(
                    &pp.key("type"),
                    "missing field `type` (general, site, master or control)",
                );
                RecipeType::Master
            });
            Procedure {
                name: p.name.unwrap_or_else(|| id.clone()),
                id,
                version: p.version,
                recipe_type,
                product: p.product,
                description: p.description,
                remanufacture_from: p.remanufacture_from,
                max_remanufactures: p.max_remanufactures,
            }
        }
    }
}

/// What a step may refer to: the declared materials and unit procedures.
struct Declared<'a> {
    material_ids: &'a HashSet<&'a str>,
    up_ids: &'a HashSet<&'a str>,
    unit_procedures: &'a [UnitProcedure],
}

/// One entry of `phases`: a name, or a table naming a controlled phase.
#[derive(Debug)]
enum RawPhase {
    Name(String),
    Controlled(RawControlledPhase),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControlledPhase {
    name: Option<String>,
    soft_sensor: Option<String>,
    controller: Option<Controller>,
    patients: Option<u32>,
    seed: Option<u64>,
}

impl<'de> Deserialize<'de> for RawPhase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawPhase;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a phase name, or a table `{ name, soft_sensor, controller }` of a controlled phase",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawPhase, E> {
                Ok(RawPhase::Name(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawPhase, A::Error> {
                RawControlledPhase::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawPhase::Controlled)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// The phase names of a step and its controlled phase, if any.
fn validate_phases(
    v: &mut V,
    phases: &[RawPhase],
    sp: &FieldPath,
) -> (Vec<String>, Option<PhaseControl>) {
    let mut names = Vec::with_capacity(phases.len());
    let mut control: Option<PhaseControl> = None;
    for (k, p) in phases.iter().enumerate() {
        let pp = sp.key("phases").idx(k);
        match p {
            RawPhase::Name(n) => names.push(n.clone()),
            RawPhase::Controlled(c) => {
                let name = match &c.name {
                    Some(n) if !n.trim().is_empty() => n.clone(),
                    _ => {
                        v.err(&pp.key("name"), "a controlled phase needs a `name`");
                        String::new()
                    }
                };
                names.push(name.clone());
                let controller = c.controller.unwrap_or_else(|| {
                    v.err(
                        &pp.key("controller"),
                        "missing field `controller` (mpc or fixed_schedule)",
                    );
                    Controller::Mpc
                });
                if let Some(f) = &c.soft_sensor
                    && f.trim().is_empty()
                {
                    v.err(&pp.key("soft_sensor"), "empty file name");
                }
                let patients = c.patients.unwrap_or(model::ExpansionSpec::DEFAULT_PATIENTS);
                let max = model::limits::MAX_EXPANSION_PATIENTS;
                if patients == 0 || patients > max {
                    v.err(
                        &pp.key("patients"),
                        format!("{patients} patients: between 1 and {max} are possible"),
                    );
                }
                if let Some(first) = &control {
                    v.err(
                        &pp,
                        format!(
                            "phase `{}` is already controlled; a step has at most one controlled phase",
                            first.phase
                        ),
                    );
                } else {
                    control = Some(PhaseControl {
                        phase: name,
                        soft_sensor: c.soft_sensor.clone(),
                        controller,
                        patients,
                        seed: c.seed.unwrap_or(model::ExpansionSpec::DEFAULT_SEED),
                    });
                }
            }
        }
    }
    (names, control)
}

/// One `[[step]]`; its id is added to `step_ids`.
fn validate_step(
    v: &mut V,
    s: &RawStep,
    sp: &FieldPath,
    declared: &Declared<'_>,
    step_ids: &mut HashSet<String>,
) -> Step {
    let id = required_id(v, s.id.as_ref(), &sp.key("id"));
    if !id.is_empty() && !step_ids.insert(id.clone()) {
        v.err(&sp.key("id"), format!("duplicate step id `{id}`"));
    }
    let unit_procedure = match &s.unit_procedure {
        None => {
            v.err(&sp.key("unit_procedure"), "missing field `unit_procedure`");
            String::new()
        }
        Some(u) => {
            if !declared.up_ids.contains(u.as_str()) {
                v.err(
                    &sp.key("unit_procedure"),
                    format!(
                        "unknown unit procedure `{u}`; defined: {}",
                        declared
                            .unit_procedures
                            .iter()
                            .map(|u| u.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            u.clone()
        }
    };
    let duration = v.duration(&sp.key("duration"), s.duration.as_ref());
    let max_hold_h = s
        .max_hold
        .as_ref()
        .and_then(|t| v.hours(&sp.key("max_hold"), t));
    let transfer_h = s
        .transfer
        .as_ref()
        .and_then(|t| v.hours(&sp.key("transfer"), t))
        .unwrap_or(0.0);
    let cleaning_h = s
        .cleaning
        .as_ref()
        .and_then(|t| v.hours(&sp.key("cleaning"), t))
        .unwrap_or(0.0);
    if s.on_hold_violation.is_some() && s.max_hold.is_none() {
        v.err(
            &sp.key("on_hold_violation"),
            "has no effect without `max_hold`",
        );
    }
    let materials = step_materials(v, s, sp, declared.material_ids);
    let environment = step_environment(v, s, sp);
    let mut parameters = BTreeMap::new();
    for (k, t) in &s.parameters {
        if let Some(spec) = v.param_spec(&sp.key("parameters").key(k), t, "a process parameter") {
            parameters.insert(k.clone(), spec);
        }
    }
    let requires = step_requirements(v, s, sp);
    let (phases, control) = validate_phases(v, &s.phases, sp);
    if let Some(o) = &s.operators {
        if o.count == 0 {
            v.err(&sp.key("operators").key("count"), "must be at least 1");
        }
        if o.hours.is_some_and(|h| !(h.is_finite() && h > 0.0)) {
            v.err(&sp.key("operators").key("hours"), "must be positive hours");
        }
    }
    if let Some(f) = &s.failure
        && !(0.0..=1.0).contains(&f.probability)
    {
        v.err(&sp.key("failure").key("probability"), "must lie in 0..1");
    }
    Step {
        name: s.name.clone().unwrap_or_else(|| id.clone()),
        id,
        unit_procedure,
        description: s.description.clone(),
        phases,
        control,
        duration,
        max_hold_h,
        on_hold_violation: s.on_hold_violation.clone(),
        transfer_h,
        cleaning_h,
        materials,
        environment,
        hygiene: s.hygiene.clone(),
        parameters,
        requires,
        operators: s.operators.clone(),
        failure: s.failure.clone(),
        decision: s.decision.clone(),
        optional: s.optional,
    }
}

/// The `materials` of a step: each names a declared material, with an optional quantity.
fn step_materials(
    v: &mut V,
    s: &RawStep,
    sp: &FieldPath,
    material_ids: &HashSet<&str>,
) -> Vec<MaterialUse> {
    let mut materials = Vec::new();
    for (mi, m) in s.materials.iter().enumerate() {
        let mp = sp.key("materials").idx(mi);
        if !material_ids.contains(m.material.as_str()) {
            v.err(
                &mp.key("material"),
                format!(
                    "unknown material `{}`; define it in a [[material]] table",
                    m.material
                ),
            );
        }
        let quantity = m.quantity.as_ref().and_then(|q| {
            let qp = mp.key("quantity");
            v.no_fields(&qp, q, "a quantity", &["value", "unit"]);
            let val = v.finite(&qp.key("value"), q.value);
            let Some(val) = val else {
                v.err(&qp.key("value"), "missing `value`");
                return None;
            };
            match q.unit.as_deref() {
                None => {
                    v.err(&qp.key("unit"), "missing unit");
                    None
                }
                Some(u) => match Unit::parse(u) {
                    Some(unit) => Some(Quantity { value: val, unit }),
                    None => {
                        v.err(&qp.key("unit"), format!("unknown unit \"{u}\""));
                        None
                    }
                },
            }
        });
        materials.push(MaterialUse {
            material: m.material.clone(),
            quantity,
        });
    }
    materials
}

/// The `environment` of a step: the cleanroom grade and limits like temperature.
fn step_environment(v: &mut V, s: &RawStep, sp: &FieldPath) -> Environment {
    let mut environment = Environment::default();
    for (k, raw) in &s.environment {
        let ep = sp.key("environment").key(k);
        match (k.as_str(), raw) {
            ("grade", RawParam::Text(g)) => {
                if ["A", "B", "C", "D", "CNC"].contains(&g.as_str()) {
                    environment.grade = Some(g.clone());
                } else {
                    v.err(&ep, format!("unknown grade `{g}`; use A, B, C, D or CNC"));
                }
            }
            ("grade", _) => v.err(
                &ep,
                "grade is a string: \"A\", \"B\", \"C\", \"D\" or \"CNC\"",
            ),
            (_, RawParam::Table(t)) => {
                if let Some(spec) = v.param_spec(&ep, t, "an environment limit") {
                    environment.limits.insert(k.clone(), spec);
                }
            }
            _ => v.err(
                &ep,
                "an environment limit is a table like { min = 18, max = 24, unit = \"°C\" }",
            ),
        }
    }
    environment
}

/// The `requires` of a step: capabilities from the catalogue with their constraints.
fn step_requirements(v: &mut V, s: &RawStep, sp: &FieldPath) -> Vec<Requirement> {
    let mut requires = Vec::new();
    let mut req_names = HashSet::new();
    for (ri, r) in s.requires.iter().enumerate() {
        let rp = sp.key("requires").idx(ri);
        let Some(cap) = &r.capability else {
            v.err(&rp.key("capability"), "missing field `capability`");
            continue;
        };
        let mut sink = Vec::new();
        let def = validate_capability_name(cap, &rp.key("capability"), &mut sink);
        v.problems.extend(sink);
        let name = r.name.clone().unwrap_or_else(|| cap.clone());
        if !req_names.insert(name.clone()) {
            v.err(
                &rp.key("name"),
                format!(
                    "two requirements named `{name}` in this step; give each a distinct `name`"
                ),
            );
        }
        if let Some(g) = &r.group
            && !is_valid_id(g)
        {
            v.err(&rp.key("group"), format!("invalid group name `{g}`"));
        }
        let mut constraints = BTreeMap::new();
        if let Some(def) = def {
            for (pname, raw) in &r.parameters {
                let cp = rp.key("parameters").key(pname);
                let Some(pdef) = def.param(pname) else {
                    v.err(&cp, def.unknown_param(pname));
                    continue;
                };
                if let Some(c) = v.constraint(&cp, pdef.kind, raw) {
                    constraints.insert(pname.clone(), c);
                }
            }
        }
        for (cname, n) in &r.uses {
            if *n == 0 {
                v.err(&rp.key("uses").key(cname), "a use count must be at least 1");
            }
        }
        requires.push(Requirement {
            name,
            capability: cap.clone(),
            group: r.group.clone(),
            parameters: constraints,
            uses: r.uses.clone(),
        });
    }
    requires
}

/// Consequences naming steps must name existing steps.
fn check_step_references(v: &mut V, steps: &[Step], step_ids: &HashSet<String>, root: &FieldPath) {
    for (i, s) in steps.iter().enumerate() {
        let sp = root.key("step").idx(i);
        let mut check = |c: &model::scenario::Consequence, p: FieldPath| {
            if let model::scenario::Consequence::Goto(t) | model::scenario::Consequence::Insert(t) =
                c
                && !step_ids.contains(t)
            {
                v.err(&p, format!("unknown step `{t}`"));
            }
        };
        if let Some(f) = &s.failure {
            check(&f.consequence, sp.key("failure").key("consequence"));
        }
        for (di, d) in s.decision.iter().enumerate() {
            check(&d.then, sp.key("decision").idx(di).key("then"));
        }
        if let Some(c) = &s.on_hold_violation {
            check(c, sp.key("on_hold_violation"));
        }
    }
}

/// Parse and check a recipe written in TOML (levels 1 and 2). `name` is the file
/// name used in errors; every error names file, line and field.
pub fn parse_recipe(name: &str, text: &str) -> Result<Recipe, FileErrors> {
    let src = SourceFile::new(name, text);
    let raw: RawRecipe = crate::diag::parse_as(&src, false)?;
    let (recipe, problems) = validate(raw);
    crate::diag::finish(&src, problems, recipe)
}

/// A non-fatal remark from [`check`]: allowed, but probably not what was meant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// Field path.
    pub field: String,
    /// Message.
    pub message: String,
}

/// Consistency checks across levels 1 and 2 beyond what parsing enforces:
/// a level-2 constraint narrower than the level-1 range of the same parameter
/// (the bound equipment could not run the whole accepted range), steps without
/// requirements that are not pure delays, unused materials.
pub fn check(recipe: &Recipe) -> Vec<Warning> {
    let mut w = Vec::new();
    for (i, s) in recipe.steps.iter().enumerate() {
        for (ri, r) in s.requires.iter().enumerate() {
            for (pname, c) in &r.parameters {
                let Some(spec) = s.parameters.get(pname) else {
                    continue;
                };
                if spec.unit.dimension != constraint_dimension(c).unwrap_or(spec.unit.dimension) {
                    w.push(Warning {
                        field: format!("step[{i}].requires[{ri}].parameters.{pname}"),
                        message: format!(
                            "level-1 parameter `{pname}` is in {}, the constraint in another dimension",
                            spec.unit
                        ),
                    });
                    continue;
                }
                if let Constraint::Covers { min, max, unit } = c {
                    let lo = spec.min.or(spec.target).map(|x| spec.unit.to_canonical(x));
                    let hi = spec.max.or(spec.target).map(|x| spec.unit.to_canonical(x));
                    let (a, b) = (unit.to_canonical(*min), unit.to_canonical(*max));
                    if lo.is_some_and(|lo| lo < a - 1e-9) || hi.is_some_and(|hi| hi > b + 1e-9) {
                        w.push(Warning {
                            field: format!("step[{i}].requires[{ri}].parameters.{pname}"),
                            message: format!(
                                "equipment is required to cover {c}, but the step accepts {spec}: values accepted at level 1 could be impossible to run"
                            ),
                        });
                    }
                }
            }
        }
    }
    let used: HashSet<&str> = recipe
        .steps
        .iter()
        .flat_map(|s| s.materials.iter().map(|m| m.material.as_str()))
        .collect();
    for (i, m) in recipe.materials.iter().enumerate() {
        if !used.contains(m.id.as_str()) {
            w.push(Warning {
                field: format!("material[{i}]"),
                message: format!("material `{}` is used by no step", m.id),
            });
        }
    }
    let ups: HashSet<&str> = recipe
        .steps
        .iter()
        .map(|s| s.unit_procedure.as_str())
        .collect();
    for (i, u) in recipe.unit_procedures.iter().enumerate() {
        if !ups.contains(u.id.as_str()) {
            w.push(Warning {
                field: format!("unit_procedure[{i}]"),
                message: format!("unit procedure `{}` has no step", u.id),
            });
        }
    }
    w
}

fn constraint_dimension(c: &Constraint) -> Option<Dimension> {
    match c {
        Constraint::Covers { unit, .. }
        | Constraint::AtLeast { unit, .. }
        | Constraint::AtMost { unit, .. } => Some(unit.dimension),
        _ => None,
    }
}

/// Capabilities referenced by the recipe (for summaries).
pub fn capabilities_used(recipe: &Recipe) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = recipe
        .steps
        .iter()
        .flat_map(|s| s.requires.iter())
        .filter_map(|r| catalog::capability(&r.capability).map(|c| c.name))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}
