//! Level 4: the executed record of one batch, and its comparison against levels
//! 1–3 into a deviation list.
//!
//! A record lists, per executed step, when it ran, who ran it, which equipment
//! served each requirement, the measured parameter values, the environment
//! observed by sensors (a range or a time series) and the material lots used.
//! [`diff`] compares it with the recipe (level 1–2), the binding (level 3) and,
//! when given, the inventory (qualification on the day of use) and lists every
//! deviation: out of range, missing, late (step overran or a hold time was
//! exceeded), early, out of order, wrong equipment, unexpected step.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bind::Binding;
use crate::date::DateTime;
use crate::diag::{FieldPath, FileErrors, Problem, SourceFile};
use crate::equipment::{Inventory, Validity};
use crate::quantity::{Dimension, Unit, bad_range, fmt_num, fmt_range};
use crate::recipe::{ParamSpec, Recipe, Requirement};

// ---------------------------------------------------------------------------
// Record types
// ---------------------------------------------------------------------------

/// Header of an executed record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordInfo {
    /// Batch id.
    pub batch: String,
    /// Recipe id the batch was made by.
    pub recipe: String,
    /// Patient / donation identifier (e.g. ISBT 128 DIN), if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
}

/// A measured value as recorded: a single value, or an observed min/max.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    /// Single value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Lowest observed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest observed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Unit.
    pub unit: String,
}

/// A sensor time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// What it measures: a parameter name of the step (`rcf` or `parameters.rcf`) or an
    /// environment quantity (`environment.temperature`).
    pub name: String,
    /// Unit of `values`.
    pub unit: String,
    /// Sample times (same length as `values`), optional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at: Vec<DateTime>,
    /// Sample values.
    pub values: Vec<f64>,
}

/// A material lot used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotUse {
    /// Material id.
    pub material: String,
    /// Lot / batch number.
    pub lot: String,
}

/// One executed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutedStep {
    /// Recipe step id.
    pub id: String,
    /// Start.
    pub started: DateTime,
    /// End.
    pub ended: DateTime,
    /// Who ran or supervised it (attributable, ALCOA+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Equipment used, by requirement name (the capability name unless the recipe names it).
    #[serde(default)]
    pub equipment: BTreeMap<String, String>,
    /// Measured process parameters.
    #[serde(default)]
    pub measured: BTreeMap<String, Observed>,
    /// Observed environment (summary per monitored quantity).
    #[serde(default)]
    pub environment: BTreeMap<String, Observed>,
    /// Sensor time series.
    #[serde(default)]
    pub sensor: Vec<Series>,
    /// Material lots used.
    #[serde(default)]
    pub materials: Vec<LotUse>,
    /// Free-text comments.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// An executed record (level 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Header.
    pub record: RecordInfo,
    /// Executed steps in the order they ran.
    #[serde(default)]
    pub step: Vec<ExecutedStep>,
}

fn check_observed(o: &Observed, p: &FieldPath, problems: &mut Vec<Problem>) {
    if Unit::parse(&o.unit).is_none() {
        problems.push(Problem::new(
            p.key("unit"),
            format!(
                "unknown unit \"{}\"; known units: {}",
                o.unit,
                Unit::all_symbols().join(", ")
            ),
        ));
    }
    match (o.value, o.min, o.max) {
        (Some(_), None, None) | (None, Some(_), Some(_)) => {}
        _ => problems.push(Problem::new(
            p.clone(),
            "give either `value` or both `min` and `max`",
        )),
    }
    for (k, v) in [("value", o.value), ("min", o.min), ("max", o.max)] {
        if v.is_some_and(|x| !x.is_finite()) {
            problems.push(Problem::new(p.key(k), "must be a finite number"));
        }
    }
    if let (Some(a), Some(b)) = (o.min, o.max)
        && a > b
    {
        problems.push(Problem::new(p.key("min"), bad_range(a, b)));
    }
}

fn validate_record(r: &Record) -> Vec<Problem> {
    let mut problems = Vec::new();
    let root = FieldPath::root();
    for (i, s) in r.step.iter().enumerate() {
        let p = root.key("step").idx(i);
        if s.ended < s.started {
            problems.push(Problem::new(
                p.key("ended"),
                format!("ended {} is before started {}", s.ended, s.started),
            ));
        }
        for (k, o) in &s.measured {
            check_observed(o, &p.key("measured").key(k), &mut problems);
        }
        for (k, o) in &s.environment {
            check_observed(o, &p.key("environment").key(k), &mut problems);
        }
        for (j, ser) in s.sensor.iter().enumerate() {
            let sp = p.key("sensor").idx(j);
            if Unit::parse(&ser.unit).is_none() {
                problems.push(Problem::new(
                    sp.key("unit"),
                    format!("unknown unit \"{}\"", ser.unit),
                ));
            }
            if !ser.at.is_empty() && ser.at.len() != ser.values.len() {
                problems.push(Problem::new(
                    sp.key("at"),
                    format!("{} times for {} values", ser.at.len(), ser.values.len()),
                ));
            }
            if ser.values.iter().any(|v| !v.is_finite()) {
                problems.push(Problem::new(
                    sp.key("values"),
                    "values must be finite numbers",
                ));
            }
        }
    }
    problems
}

/// Parse and check an executed record written in TOML.
pub fn parse_record(name: &str, text: &str) -> Result<Record, FileErrors> {
    let src = SourceFile::new(name, text);
    let r: Record = crate::diag::parse_as(&src, false)?;
    let problems = validate_record(&r);
    crate::diag::finish(&src, problems, r)
}

/// Parse and check an executed record written in JSON.
pub fn parse_record_json(name: &str, text: &str) -> Result<Record, FileErrors> {
    let src = SourceFile::new(name, text);
    let r: Record = crate::diag::parse_as(&src, true)?;
    let problems = validate_record(&r);
    crate::diag::finish(&src, problems, r)
}

// ---------------------------------------------------------------------------
// Deviations
// ---------------------------------------------------------------------------

/// Kind of deviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviationKind {
    /// A measured or observed value outside its range.
    OutOfRange,
    /// Something the recipe asks for was not recorded (step, parameter, environment,
    /// material lot, equipment, operator).
    Missing,
    /// A step overran its maximum duration, or a hold time was exceeded.
    Late,
    /// A step was shorter than its minimum duration.
    Early,
    /// A step started before the step before it in the recipe had ended.
    OutOfOrder,
    /// Equipment other than the bound one was used, or equipment unfit on the day of use.
    WrongEquipment,
    /// A recorded step that the recipe does not have.
    Unexpected,
}

impl fmt::Display for DeviationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviationKind::OutOfRange => "out of range",
            DeviationKind::Missing => "missing",
            DeviationKind::Late => "late",
            DeviationKind::Early => "early",
            DeviationKind::OutOfOrder => "out of order",
            DeviationKind::WrongEquipment => "wrong equipment",
            DeviationKind::Unexpected => "unexpected",
        })
    }
}

/// One deviation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// Kind.
    pub kind: DeviationKind,
    /// Step id.
    pub step: String,
    /// What, e.g. `parameters.rcf`, `environment.temperature`, `duration`, `equipment.centrifugation`.
    pub field: String,
    /// What levels 1–3 ask for.
    pub expected: String,
    /// What the record shows.
    pub actual: String,
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] step {} {}: expected {}, recorded {}",
            self.kind, self.step, self.field, self.expected, self.actual
        )
    }
}

/// The comparison of a record against the recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffReport {
    /// Batch id.
    pub batch: String,
    /// Recipe id.
    pub recipe: String,
    /// Deviations in recipe step order.
    pub deviations: Vec<Deviation>,
    /// Count per kind.
    pub counts: BTreeMap<String, usize>,
}

impl DiffReport {
    /// Human-readable report.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "batch {} against recipe {}: {} deviation(s)\n",
            self.batch,
            self.recipe,
            self.deviations.len()
        );
        for d in &self.deviations {
            out.push_str(&format!("  {d}\n"));
        }
        if !self.counts.is_empty() {
            let c: Vec<String> = self
                .counts
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            out.push_str(&format!("by kind: {}\n", c.join(", ")));
        }
        out
    }
}

fn fmt_observed(o: &Observed) -> String {
    let unit = Unit::parse(&o.unit);
    let u = match &unit {
        Some(u) if u.dimension == Dimension::Dimensionless => String::new(),
        _ => format!(" {}", o.unit),
    };
    match (o.value, o.min, o.max) {
        (Some(v), ..) => format!("{}{u}", fmt_num(v)),
        (None, Some(a), Some(b)) => format!("{}{u}", fmt_range(a, b)),
        _ => "?".into(),
    }
}

fn fmt_hours(h: f64) -> String {
    if h.abs() >= 48.0 {
        format!("{} d", fmt_num((h / 24.0 * 100.0).round() / 100.0))
    } else if h.abs() >= 2.0 {
        format!("{} h", fmt_num((h * 100.0).round() / 100.0))
    } else {
        format!("{} min", fmt_num((h * 60.0).round()))
    }
}

/// Compare one observed quantity against a spec. Returns the offending text if out of range,
/// `Err(msg)` if the unit is incompatible.
fn judge(spec: &ParamSpec, o: &Observed) -> Result<bool, String> {
    let Some(unit) = Unit::parse(&o.unit) else {
        return Err(format!("unknown unit {}", o.unit));
    };
    if unit.dimension != spec.unit.dimension {
        return Err(format!(
            "{} recorded in {} (a {}), expected a {}",
            fmt_observed(o),
            o.unit,
            unit.dimension,
            spec.unit.dimension
        ));
    }
    let values: Vec<f64> = [o.value, o.min, o.max].into_iter().flatten().collect();
    Ok(values.iter().all(|v| spec.accepts(*v, &unit)))
}

struct Ctx<'a> {
    out: Vec<Deviation>,
    step: &'a str,
}

impl Ctx<'_> {
    fn push(
        &mut self,
        kind: DeviationKind,
        field: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) {
        self.out.push(Deviation {
            kind,
            step: self.step.to_string(),
            field: field.into(),
            expected: expected.into(),
            actual: actual.into(),
        });
    }
}

fn check_quantity(
    c: &mut Ctx<'_>,
    field: &str,
    spec: &ParamSpec,
    observed: Option<&Observed>,
    series: Option<&Series>,
) {
    let mut recorded = false;
    if let Some(o) = observed {
        recorded = true;
        match judge(spec, o) {
            Ok(true) => {}
            Ok(false) => c.push(
                DeviationKind::OutOfRange,
                field,
                spec.to_string(),
                fmt_observed(o),
            ),
            Err(msg) => c.push(DeviationKind::OutOfRange, field, spec.to_string(), msg),
        }
    }
    if let Some(s) = series {
        recorded = true;
        match Unit::parse(&s.unit) {
            Some(u) if u.dimension == spec.unit.dimension => {
                let bad: Vec<(usize, f64)> = s
                    .values
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|(_, v)| !spec.accepts(*v, &u))
                    .collect();
                if let Some(&(first, _)) = bad.first() {
                    let m = u.from_canonical(spec.unit.to_canonical(mid(spec)));
                    let worst = bad
                        .iter()
                        .map(|b| b.1)
                        .max_by(|a, b| (a - m).abs().total_cmp(&(b - m).abs()))
                        .unwrap_or(f64::NAN);
                    let when =
                        s.at.get(first)
                            .map(|t| format!(", first at {t}"))
                            .unwrap_or_default();
                    c.push(
                        DeviationKind::OutOfRange,
                        format!("{field} (sensor)"),
                        spec.to_string(),
                        format!(
                            "{} of {} samples outside, worst {} {}{when}",
                            bad.len(),
                            s.values.len(),
                            fmt_num(worst),
                            s.unit
                        ),
                    );
                }
            }
            _ => c.push(
                DeviationKind::OutOfRange,
                format!("{field} (sensor)"),
                spec.to_string(),
                format!("series in {}, not a {}", s.unit, spec.unit.dimension),
            ),
        }
    }
    if !recorded {
        c.push(DeviationKind::Missing, field, spec.to_string(), "nothing");
    }
}

fn mid(spec: &ParamSpec) -> f64 {
    match (spec.min, spec.max, spec.target) {
        (Some(a), Some(b), _) => (a + b) / 2.0,
        (_, _, Some(t)) => t,
        (Some(a), None, _) => a,
        (None, Some(b), _) => b,
        _ => 0.0,
    }
}

fn check_equipment(
    c: &mut Ctx<'_>,
    req: &Requirement,
    used: Option<&String>,
    bound: Option<&str>,
    inventory: Option<&Inventory>,
    day: DateTime,
) {
    let field = format!("equipment.{}", req.name);
    let Some(used) = used else {
        c.push(
            DeviationKind::Missing,
            field,
            bound.map_or_else(
                || format!("equipment offering {}", req.capability),
                str::to_string,
            ),
            "nothing",
        );
        return;
    };
    if let Some(b) = bound
        && b != used
    {
        c.push(
            DeviationKind::WrongEquipment,
            field.clone(),
            format!("{b} (bound)"),
            used.clone(),
        );
    }
    if let Some(inv) = inventory {
        match inv.get(used) {
            None => c.push(
                DeviationKind::WrongEquipment,
                field,
                format!("equipment offering {}", req.capability),
                format!("{used}, which is not in the inventory"),
            ),
            Some(e) => {
                let mut why = Vec::new();
                match e.capabilities.get(&req.capability) {
                    None => why.push(format!("does not offer {}", req.capability)),
                    Some(cap) => {
                        for (p, con) in &req.parameters {
                            if let Err(r) =
                                crate::bind::check_constraint(p, con, cap.parameters.get(p))
                                    .map_err(|r| r.message)
                            {
                                why.push(r);
                            }
                        }
                    }
                }
                let v = e.qualification.validity(day.date());
                if !matches!(v, Validity::Valid { .. }) {
                    why.push(format!("on {}: {v}", day.date()));
                }
                if !why.is_empty() {
                    c.push(
                        DeviationKind::WrongEquipment,
                        field,
                        format!("qualified equipment offering {}", req.capability),
                        format!("{used}: {}", why.join("; ")),
                    );
                }
            }
        }
    }
}

/// Timing of one executed step: its duration within the recipe's bounds, its
/// start after the previous step ended (and within that step's hold), and
/// who ran it.
fn check_timing(
    c: &mut Ctx<'_>,
    step: &crate::recipe::Step,
    ex: &ExecutedStep,
    prev: Option<(&ExecutedStep, &crate::recipe::Step)>,
) {
    let took = ex.started.hours_until(ex.ended);
    let d = &step.duration;
    if took > d.max_h + 1e-9 {
        c.push(
            DeviationKind::Late,
            "duration",
            format!("at most {}", fmt_hours(d.max_h)),
            fmt_hours(took),
        );
    } else if took < d.min_h - 1e-9 {
        c.push(
            DeviationKind::Early,
            "duration",
            format!("at least {}", fmt_hours(d.min_h)),
            fmt_hours(took),
        );
    }
    if let Some((pe, ps)) = prev {
        let gap = pe.ended.hours_until(ex.started);
        if gap < -1e-9 {
            c.push(
                DeviationKind::OutOfOrder,
                "started",
                format!("after {} ended ({})", ps.id, pe.ended),
                ex.started.to_string(),
            );
        } else if let Some(h) = ps.max_hold_h
            && gap > h + 1e-9
        {
            c.push(
                DeviationKind::Late,
                "hold",
                format!("start within {} after {} ended", fmt_hours(h), ps.id),
                format!("started {} after", fmt_hours(gap)),
            );
        }
    }
    if ex.operator.as_deref().is_none_or(|o| o.trim().is_empty()) {
        c.push(
            DeviationKind::Missing,
            "operator",
            "who ran the step",
            "nothing",
        );
    }
}

/// Level 1 of one executed step: parameters, environment and material lots.
fn check_level1(c: &mut Ctx<'_>, step: &crate::recipe::Step, ex: &ExecutedStep) {
    for (name, spec) in &step.parameters {
        let series = ex
            .sensor
            .iter()
            .find(|s| s.name == *name || s.name == format!("parameters.{name}"));
        check_quantity(
            c,
            &format!("parameters.{name}"),
            spec,
            ex.measured.get(name),
            series,
        );
    }
    for (name, spec) in &step.environment.limits {
        let series = ex
            .sensor
            .iter()
            .find(|s| s.name == format!("environment.{name}"));
        check_quantity(
            c,
            &format!("environment.{name}"),
            spec,
            ex.environment.get(name),
            series,
        );
    }
    for m in &step.materials {
        if !ex
            .materials
            .iter()
            .any(|l| l.material == m.material && !l.lot.trim().is_empty())
        {
            c.push(
                DeviationKind::Missing,
                format!("materials.{}", m.material),
                "lot recorded",
                "nothing",
            );
        }
    }
}

/// Levels 2–3 of one executed step: each requirement's equipment (against the
/// binding and the inventory) and no equipment the step does not require.
fn check_step_equipment(
    c: &mut Ctx<'_>,
    step: &crate::recipe::Step,
    ex: &ExecutedStep,
    binding: Option<&Binding>,
    inventory: Option<&Inventory>,
) {
    for req in &step.requires {
        let used = ex.equipment.get(&req.name);
        let bound = binding
            .and_then(|b| b.get(&step.id, &req.name))
            .and_then(|a| a.equipment.as_deref());
        check_equipment(c, req, used, bound, inventory, ex.started);
    }
    for k in ex.equipment.keys() {
        if !step.requires.iter().any(|r| &r.name == k) {
            c.push(
                DeviationKind::Unexpected,
                format!("equipment.{k}"),
                format!(
                    "one of: {}",
                    step.requires
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ex.equipment.get(k).cloned().unwrap_or_default(),
            );
        }
    }
}

/// Compare an executed record against the recipe (levels 1–2), the binding (level 3, optional)
/// and the inventory (qualification on the day of use, optional).
pub fn diff(
    recipe: &Recipe,
    binding: Option<&Binding>,
    inventory: Option<&Inventory>,
    record: &Record,
) -> DiffReport {
    let mut all = Vec::new();
    if record.record.recipe != recipe.procedure.id {
        all.push(Deviation {
            kind: DeviationKind::Unexpected,
            step: "(record)".into(),
            field: "record.recipe".into(),
            expected: recipe.procedure.id.clone(),
            actual: record.record.recipe.clone(),
        });
    }
    let recipe_ids: HashSet<&str> = recipe.steps.iter().map(|s| s.id.as_str()).collect();
    // The last run of each step counts (a repeated step appears twice).
    let find = |id: &str| record.step.iter().rposition(|s| s.id == id);

    // (record index, recipe step) of the last executed step in recipe order.
    let mut prev: Option<(usize, &crate::recipe::Step)> = None;
    for step in &recipe.steps {
        let mut c = Ctx {
            out: Vec::new(),
            step: &step.id,
        };
        let Some(ri) = find(&step.id) else {
            if !step.optional {
                c.push(DeviationKind::Missing, "step", "executed", "no entry");
            }
            all.extend(c.out);
            continue;
        };
        let ex = &record.step[ri];
        check_timing(
            &mut c,
            step,
            ex,
            prev.map(|(pi, ps)| (&record.step[pi], ps)),
        );
        check_level1(&mut c, step, ex);
        check_step_equipment(&mut c, step, ex, binding, inventory);
        all.extend(c.out);
        prev = Some((ri, step));
    }
    for ex in &record.step {
        if !recipe_ids.contains(ex.id.as_str()) {
            all.push(Deviation {
                kind: DeviationKind::Unexpected,
                step: ex.id.clone(),
                field: "step".into(),
                expected: "only steps of the recipe".into(),
                actual: "an entry".into(),
            });
        }
    }
    let mut counts = BTreeMap::new();
    for d in &all {
        *counts.entry(d.kind.to_string()).or_insert(0) += 1;
    }
    DiffReport {
        batch: record.record.batch.clone(),
        recipe: recipe.procedure.id.clone(),
        deviations: all,
        counts,
    }
}
