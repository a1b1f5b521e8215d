//! Scenario studies: sweep parameters of one or more scenarios (production concepts), simulate
//! and price every point, and find where each concept wins.
//!
//! A study file names scenario files, the axes to sweep (every combination is a point), sizing
//! rules that scale equipment with demand, and a sensitivity analysis (tornado) around one
//! base point. Points are simulated in parallel; point `i` uses seed
//! [`point_seed`]`(study seed, i)`, and each point's replications are combined in order, so
//! results do not depend on the number of threads nor on how the points are split into
//! shards. Sensitivity points reuse the base point's seed (common random numbers).
//!
//! The caller reads the files; everything here is pure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use model::{FieldPath, FileErrors, Model, Problem, SourceFile};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sim::{Replication, Stat};

use crate::CostSummary;

// ---- the study file -------------------------------------------------------------------------

/// A study file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    /// Name, seed, replications and shared inputs.
    pub study: StudySettings,
    /// The scenarios (production concepts) to compare.
    pub scenario: Vec<ScenarioRef>,
    /// Parameters to sweep; every combination of values is a point.
    #[serde(default)]
    pub axis: Vec<Axis>,
    /// Sensitivity of cost per dose to every input, around one base point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Sensitivity>,
}

/// Study settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySettings {
    /// Name shown in reports.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Study seed; point `i` simulates with seed `point_seed(seed, i)`.
    pub seed: u64,
    /// Replications per point (overrides the scenarios').
    pub replications: u32,
    /// Simulated days (overrides the scenarios' `horizon_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_days: Option<f64>,
    /// Warm-up days (overrides the scenarios' `warmup_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_days: Option<f64>,
    /// A file whose `[cost]` section prices every scenario that has none (path relative to
    /// the study file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
    /// What a configuration must achieve to serve the demand; the report recommends the
    /// cheapest configuration that does.
    #[serde(default)]
    pub target: Target,
}

/// The service a configuration must give to count as serving the demand. A plant that does
/// not keep up (patients still in process at the cut-off) never does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Highest acceptable 95th percentile of vein-to-vein days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_vein_to_vein_days: Option<f64>,
    /// Lowest acceptable mean fraction of patients treated within the scenario's
    /// vein-to-vein target (`target_vein_to_vein_days` of its demand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_time_fraction: Option<f64>,
}

impl Target {
    /// Why a point does not serve its demand, or `None` when it does.
    pub fn shortfall(&self, p: &PointResult) -> Option<String> {
        if p.cost.is_none() {
            return Some("cost undefined".to_string());
        }
        if p.vein_to_vein_is_lower_bound() {
            return Some("cannot keep up with the demand".to_string());
        }
        // Written so that a NaN figure fails the target.
        if let Some(t) = self.p95_vein_to_vein_days {
            let meets = p.vein_to_vein_p95 <= t;
            if !meets {
                return Some(format!(
                    "p95 vein-to-vein {:.1} days > {t} days",
                    p.vein_to_vein_p95
                ));
            }
        }
        if let Some(t) = self.on_time_fraction {
            let meets = p.on_time_fraction.mean >= t;
            if !meets {
                return Some(format!(
                    "{:.1} % on time < {:.1} %",
                    100.0 * p.on_time_fraction.mean,
                    100.0 * t
                ));
            }
        }
        None
    }

    /// The target in words.
    pub fn describe(&self) -> String {
        let mut v = vec!["keeps up with the demand".to_string()];
        if let Some(t) = self.p95_vein_to_vein_days {
            v.push(format!("p95 vein-to-vein time ≤ {t} days"));
        }
        if let Some(t) = self.on_time_fraction {
            v.push(format!(
                "≥ {} % of patients treated within the vein-to-vein target",
                100.0 * t
            ));
        }
        v.join(", ")
    }
}

/// One scenario of the study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRef {
    /// Short label used in tables and plots.
    pub label: String,
    /// Scenario file (relative to the study file).
    pub file: String,
    /// Cost file for this scenario (overrides the scenario's own `[cost]` and the study's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
    /// Short names for parameter paths of this scenario, so one axis can sweep e.g. the
    /// number of incubators in concepts that name their pools differently.
    #[serde(default)]
    pub alias: BTreeMap<String, String>,
    /// Rules that size a parameter from the point's demand.
    #[serde(default)]
    pub sizing: Vec<Sizing>,
}

/// Sizes a parameter from demand: `max(min, ceil(patients per year × per_patient_per_year))`,
/// capped at `max`. Not applied when an axis sets the same parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sizing {
    /// Parameter path (or alias).
    pub param: String,
    /// Units per patient per year.
    pub per_patient_per_year: f64,
    /// Lower bound.
    #[serde(default)]
    pub min: f64,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A swept parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Parameter path into the scenario file (`demand.*.patients_per_year`,
    /// `equipment.incubator.count`, `cost.material.0.eur`) or an alias of the scenarios.
    pub param: String,
    /// The values.
    #[serde(default)]
    pub values: Vec<f64>,
    /// Or a range `{ from, to, step }` (both ends included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
}

/// An inclusive range of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// First value.
    pub from: f64,
    /// Last value (included when reached).
    pub to: f64,
    /// Step, greater than 0.
    pub step: f64,
}

/// Sensitivity analysis around a base point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensitivity {
    /// Label of the base scenario (the first when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Axis values of the base point, by parameter (the first value of each axis when absent).
    #[serde(default)]
    pub at: BTreeMap<String, f64>,
    /// Relative change, e.g. 0.2 for ±20 %.
    pub delta: f64,
    /// Vary every number of the `[cost]` inputs (re-priced on the base point's replications).
    #[serde(default = "yes")]
    pub cost_inputs: bool,
    /// Scenario parameters to vary; each change is simulated again with the base point's seed.
    #[serde(default)]
    pub params: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Axis {
    /// The values of the axis.
    pub fn all_values(&self) -> Vec<f64> {
        let mut v = self.values.clone();
        if let Some(r) = &self.range
            && r.step > 0.0
            && r.from.is_finite()
            && r.to.is_finite()
        {
            let n = ((r.to - r.from) / r.step + 1e-9).floor();
            if (0.0..1e6).contains(&n) {
                for k in 0..=(n as u64) {
                    v.push(r.from + r.step * k as f64);
                }
            }
        }
        v
    }
}

/// Whether a study file is a network study (its `[study]` table has a
/// `network` key, `network::study` runs it) rather than a scenario study. A
/// file that is not TOML is taken for a scenario study, whose parser reports
/// the syntax error.
pub fn names_a_network(src: &SourceFile) -> bool {
    toml::from_str::<toml::Table>(src.text())
        .ok()
        .and_then(|t| {
            t.get("study")
                .and_then(|s| s.as_table())
                .map(|s| s.contains_key("network"))
        })
        .unwrap_or(false)
}

/// Parses a study file with located errors.
pub fn parse_spec(src: &SourceFile) -> Result<StudySpec, FileErrors> {
    let spec: StudySpec = src.parse()?;
    let mut p = Vec::new();
    let root = FieldPath::root();
    if spec.study.replications < 2 {
        p.push(Problem::new(
            root.key("study").key("replications"),
            "at least 2 replications are needed for confidence intervals",
        ));
    }
    if spec.scenario.is_empty() {
        p.push(Problem::new(root.clone(), "give at least one [[scenario]]"));
    }
    let t = &spec.study.target;
    if let Some(d) = t.p95_vein_to_vein_days
        && !(d.is_finite() && d > 0.0)
    {
        p.push(Problem::new(
            root.key("study").key("target").key("p95_vein_to_vein_days"),
            "must be a number of days above 0",
        ));
    }
    if let Some(f) = t.on_time_fraction
        && !(f > 0.0 && f <= 1.0)
    {
        p.push(Problem::new(
            root.key("study").key("target").key("on_time_fraction"),
            "must be a fraction above 0 and at most 1 (0.9 = 90 %)",
        ));
    }
    let mut labels = std::collections::BTreeSet::new();
    for (i, s) in spec.scenario.iter().enumerate() {
        if !labels.insert(&s.label) {
            p.push(Problem::new(
                root.key("scenario").idx(i).key("label"),
                format!("label `{}` is used twice", s.label),
            ));
        }
        for (j, z) in s.sizing.iter().enumerate() {
            if !(z.per_patient_per_year.is_finite() && z.per_patient_per_year >= 0.0) {
                p.push(Problem::new(
                    root.key("scenario")
                        .idx(i)
                        .key("sizing")
                        .idx(j)
                        .key("per_patient_per_year"),
                    "must be a finite number of at least 0",
                ));
            }
        }
    }
    for (i, a) in spec.axis.iter().enumerate() {
        let at = root.key("axis").idx(i);
        if let Some(r) = &a.range
            && !(r.step > 0.0 && r.from.is_finite() && r.to.is_finite() && r.to >= r.from)
        {
            p.push(Problem::new(
                at.key("range"),
                "needs finite `from` ≤ `to` and `step` > 0",
            ));
        }
        let v = a.all_values();
        if v.is_empty() {
            p.push(Problem::new(at.clone(), "give `values` or `range`"));
        }
        if v.iter().any(|x| !x.is_finite()) {
            p.push(Problem::new(at.key("values"), "values must be finite"));
        }
    }
    if let Some(s) = &spec.sensitivity {
        let at = root.key("sensitivity");
        if !(s.delta > 0.0 && s.delta < 1.0) {
            p.push(Problem::new(
                at.key("delta"),
                format!("must be between 0 and 1 (0.2 = ±20 %), got {}", s.delta),
            ));
        }
        if let Some(l) = &s.scenario
            && !spec.scenario.iter().any(|x| &x.label == l)
        {
            p.push(Problem::new(
                at.key("scenario"),
                format!("no scenario labelled `{l}`"),
            ));
        }
        for k in s.at.keys() {
            if !spec.axis.iter().any(|a| &a.param == k) {
                p.push(Problem::new(
                    at.key("at").key(k),
                    format!("`{k}` is not the `param` of an axis"),
                ));
            }
        }
    }
    if p.is_empty() {
        Ok(spec)
    } else {
        Err(src.errors(&p))
    }
}

// ---- parameter paths ------------------------------------------------------------------------

/// Sets every field matched by `path` in a TOML table. Segments are separated by dots; in an
/// array, a segment is an index, `*` (every element) or the `name` (or `product`) of an
/// element. Integers stay integers when the value is whole. Returns how many fields were set.
pub fn set_param(doc: &mut toml::Table, path: &str, value: f64) -> Result<usize, String> {
    let segs: Vec<&str> = path.split('.').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(format!("parameter `{path}` has an empty segment"));
    }
    let mut n = 0;
    set_in_table(doc, &segs, value, path, &mut n)?;
    if n == 0 {
        return Err(format!("parameter `{path}` matches no field"));
    }
    Ok(n)
}

fn new_value(old: Option<&toml::Value>, v: f64) -> toml::Value {
    match old {
        Some(toml::Value::Integer(_)) if v.fract() == 0.0 && v.abs() < 9e15 => {
            toml::Value::Integer(v as i64)
        }
        _ => toml::Value::Float(v),
    }
}

fn set_in_table(
    t: &mut toml::Table,
    segs: &[&str],
    v: f64,
    path: &str,
    n: &mut usize,
) -> Result<(), String> {
    let (head, rest) = (segs[0], &segs[1..]);
    if rest.is_empty() {
        let old = t.get(head);
        if let Some(o) = old
            && !matches!(o, toml::Value::Integer(_) | toml::Value::Float(_))
        {
            return Err(format!("parameter `{path}`: `{head}` is not a number"));
        }
        let nv = new_value(old, v);
        t.insert(head.to_string(), nv);
        *n += 1;
        return Ok(());
    }
    match t.get_mut(head) {
        Some(child) => set_in_value(child, rest, v, path, n),
        None => Err(format!("parameter `{path}`: no field `{head}`")),
    }
}

fn set_in_value(
    val: &mut toml::Value,
    segs: &[&str],
    v: f64,
    path: &str,
    n: &mut usize,
) -> Result<(), String> {
    match val {
        toml::Value::Table(t) => set_in_table(t, segs, v, path, n),
        toml::Value::Array(a) => {
            let (head, rest) = (segs[0], &segs[1..]);
            let idx: Vec<usize> = if head == "*" {
                (0..a.len()).collect()
            } else if let Ok(i) = head.parse::<usize>() {
                if i >= a.len() {
                    return Err(format!(
                        "parameter `{path}`: index {i} but only {} elements",
                        a.len()
                    ));
                }
                vec![i]
            } else {
                (0..a.len())
                    .filter(|&i| {
                        a[i].as_table().is_some_and(|t| {
                            ["name", "product", "label"]
                                .iter()
                                .any(|k| t.get(*k).and_then(|x| x.as_str()) == Some(head))
                        })
                    })
                    .collect()
            };
            if idx.is_empty() {
                return Err(format!("parameter `{path}`: no element named `{head}`"));
            }
            for i in idx {
                if rest.is_empty() {
                    let nv = new_value(Some(&a[i]), v);
                    a[i] = nv;
                    *n += 1;
                } else {
                    set_in_value(&mut a[i], rest, v, path, n)?;
                }
            }
            Ok(())
        }
        _ => Err(format!("parameter `{path}` goes through a plain value")),
    }
}

/// Every number in a TOML table, as parameter paths (arrays by index).
pub fn numeric_leaves(t: &toml::Table, prefix: &str) -> Vec<(String, f64)> {
    fn walk(v: &toml::Value, path: String, out: &mut Vec<(String, f64)>) {
        match v {
            toml::Value::Integer(i) => out.push((path, *i as f64)),
            toml::Value::Float(f) => out.push((path, *f)),
            toml::Value::Table(t) => {
                for (k, x) in t {
                    walk(x, format!("{path}.{k}"), out);
                }
            }
            toml::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{path}.{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (k, x) in t {
        walk(x, format!("{prefix}{k}"), &mut out);
    }
    out
}

// ---- preparing a study ----------------------------------------------------------------------

/// A scenario file and its cost files as read by the caller. The cost inputs are the merge
/// ([`crate::merge_tables`]) of the shared file, the scenario's own `[cost]` section and the
/// scenario's cost file, in that order.
#[derive(Debug, Clone)]
pub struct ScenarioFiles {
    /// The scenario file.
    pub scenario: SourceFile,
    /// The study's shared cost file.
    pub shared: Option<SourceFile>,
    /// The scenario's own cost file.
    pub cost: Option<SourceFile>,
}

/// Errors while preparing a study.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// Errors located in a file.
    #[error(transparent)]
    File(#[from] FileErrors),
    /// Other errors.
    #[error("{0}")]
    Message(String),
}

#[derive(Debug, Clone)]
struct Prepared {
    label: String,
    /// The scenario as a TOML table, with the study's overrides and without `[cost]`.
    doc: toml::Table,
    /// The `[cost]` table.
    cost: toml::Table,
    aliases: BTreeMap<String, String>,
    sizing: Vec<Sizing>,
}

/// What a point is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PointKind {
    /// A point of the grid.
    Grid,
    /// The base point with one scenario parameter changed by `factor`.
    Sensitivity {
        /// The parameter.
        param: String,
        /// 1 − delta or 1 + delta.
        factor: f64,
    },
}

/// One point of a study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Index (0-based) among all points of the study.
    pub index: usize,
    /// Scenario label.
    pub label: String,
    /// Axis values by parameter.
    pub values: BTreeMap<String, f64>,
    /// Values set by sizing rules.
    pub sized: BTreeMap<String, f64>,
    /// Grid or sensitivity.
    pub kind: PointKind,
    /// Seed of the simulation.
    pub seed: u64,
}

/// A study ready to run.
#[derive(Debug, Clone)]
pub struct Study {
    /// The study file.
    pub spec: StudySpec,
    scenarios: Vec<Prepared>,
    /// Every point: the grid (scenarios outer, axes in file order, last axis fastest), then
    /// the sensitivity points.
    pub points: Vec<Point>,
    /// Index of the sensitivity base point.
    pub base: Option<usize>,
    /// Computes `dist = "expansion_model"` durations.
    expansion: ExpansionModelRef,
}

/// The expansion model a study resolves `dist = "expansion_model"` durations with.
#[derive(Clone)]
struct ExpansionModelRef(Arc<dyn model::ExpansionDurations + Send + Sync>);

impl std::fmt::Debug for ExpansionModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExpansionModelRef")
    }
}

/// The seed of point `index`: SplitMix64 of the study seed and the index, so seeds differ
/// between points and do not depend on how the points are split into shards.
pub fn point_seed(study_seed: u64, index: usize) -> u64 {
    let mut z = study_seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Checks one scenario of the study with its cost layers (shared, scenario, own cost file)
/// and keeps its document without `[cost]`, with the study's horizon and warm-up applied.
fn prepare_scenario(
    settings: &StudySettings,
    r: &ScenarioRef,
    f: ScenarioFiles,
    expansion: &dyn model::ExpansionDurations,
) -> Result<Prepared, StudyError> {
    let model = model::load_with(f.scenario.name(), f.scenario.text(), expansion)?;
    let layers: Vec<&SourceFile> = [f.shared.as_ref(), Some(&f.scenario), f.cost.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    let Some((_, cost)) = crate::load_layers(&layers, &model)? else {
        return Err(StudyError::Message(format!(
            "scenario `{}` ({}) has no [cost] section and the study gives no cost file \
             (`cost` in [study] or in its [[scenario]])",
            r.label,
            f.scenario.name()
        )));
    };
    let mut doc: toml::Table = f.scenario.parse()?;
    doc.remove("cost");
    if let Some(h) = settings.horizon_days {
        set_param(&mut doc, "scenario.horizon_days", h).map_err(StudyError::Message)?;
    }
    if let Some(w) = settings.warmup_days {
        set_param(&mut doc, "scenario.warmup_days", w).map_err(StudyError::Message)?;
    }
    Ok(Prepared {
        label: r.label.clone(),
        doc,
        cost,
        aliases: r.alias.clone(),
        sizing: r.sizing.clone(),
    })
}

/// Every combination of the axes' values for every scenario (last axis fastest), numbered
/// in that order, each with its seed.
fn grid_points(scenarios: &[Prepared], axes: &[(String, Vec<f64>)], study_seed: u64) -> Vec<Point> {
    let mut points = Vec::new();
    for s in scenarios {
        let mut combo = vec![0usize; axes.len()];
        loop {
            let values: BTreeMap<String, f64> = axes
                .iter()
                .zip(&combo)
                .map(|((p, v), &i)| (p.clone(), v[i]))
                .collect();
            let index = points.len();
            points.push(Point {
                index,
                label: s.label.clone(),
                values,
                sized: BTreeMap::new(),
                kind: PointKind::Grid,
                seed: point_seed(study_seed, index),
            });
            // Odometer, last axis fastest.
            let mut k = axes.len();
            loop {
                if k == 0 {
                    break;
                }
                k -= 1;
                combo[k] += 1;
                if combo[k] < axes[k].1.len() {
                    break;
                }
                combo[k] = 0;
            }
            if combo.iter().all(|&c| c == 0) {
                break;
            }
        }
    }
    points
}

impl Study {
    /// Checks every scenario and its cost inputs (with located errors), expands the grid and
    /// the sensitivity points, and checks that every point's parameters apply.
    pub fn prepare(spec: StudySpec, files: Vec<ScenarioFiles>) -> Result<Study, StudyError> {
        Study::prepare_with(spec, files, Arc::new(model::NoExpansionModel))
    }

    /// [`Study::prepare`] for scenarios whose step durations may come from the expansion
    /// model: `expansion` computes them (for the check here and for every point).
    pub fn prepare_with(
        spec: StudySpec,
        files: Vec<ScenarioFiles>,
        expansion: Arc<dyn model::ExpansionDurations + Send + Sync>,
    ) -> Result<Study, StudyError> {
        if files.len() != spec.scenario.len() {
            return Err(StudyError::Message(format!(
                "{} scenario files for {} scenarios",
                files.len(),
                spec.scenario.len()
            )));
        }
        let mut scenarios = Vec::new();
        for (r, f) in spec.scenario.iter().zip(files) {
            scenarios.push(prepare_scenario(&spec.study, r, f, &*expansion)?);
        }
        let axes: Vec<(String, Vec<f64>)> = spec
            .axis
            .iter()
            .map(|a| (a.param.clone(), a.all_values()))
            .collect();
        let points = grid_points(&scenarios, &axes, spec.study.seed);
        let mut study = Study {
            spec,
            scenarios,
            points,
            base: None,
            expansion: ExpansionModelRef(expansion),
        };
        // Sizing and parameter checks on every grid point.
        for i in 0..study.points.len() {
            let (_, sized) = study
                .point_doc(&study.points[i])
                .map_err(StudyError::Message)?;
            study.points[i].sized = sized;
        }
        if let Some(sens) = study.spec.sensitivity.clone() {
            study.add_sensitivity(&sens, &axes)?;
        }
        Ok(study)
    }

    /// Finds the sensitivity's base point on the grid and adds, per parameter, the points a
    /// factor `delta` below and above it (each checked).
    fn add_sensitivity(
        &mut self,
        sens: &Sensitivity,
        axes: &[(String, Vec<f64>)],
    ) -> Result<(), StudyError> {
        let label = sens
            .scenario
            .clone()
            .unwrap_or_else(|| self.scenarios[0].label.clone());
        let base = self
            .points
            .iter()
            .position(|p| {
                p.label == label
                    && axes.iter().all(|(param, vals)| {
                        let want = sens.at.get(param).copied().unwrap_or(vals[0]);
                        p.values.get(param).is_some_and(|v| (v - want).abs() < 1e-9)
                    })
            })
            .ok_or_else(|| {
                StudyError::Message(
                    "sensitivity: no grid point has the values given in `at`".to_string(),
                )
            })?;
        self.base = Some(base);
        let bp = self.points[base].clone();
        for param in &sens.params {
            for factor in [1.0 - sens.delta, 1.0 + sens.delta] {
                let index = self.points.len();
                let p = Point {
                    index,
                    label: bp.label.clone(),
                    values: bp.values.clone(),
                    sized: bp.sized.clone(),
                    kind: PointKind::Sensitivity {
                        param: param.clone(),
                        factor,
                    },
                    seed: bp.seed,
                };
                self.point_doc(&p).map_err(StudyError::Message)?;
                self.points.push(p);
            }
        }
        Ok(())
    }

    fn scenario(&self, label: &str) -> Option<&Prepared> {
        self.scenarios.iter().find(|s| s.label == label)
    }

    /// The scenario document of a point (axes, sizing and sensitivity applied) and the values
    /// the sizing rules chose.
    fn point_doc(&self, p: &Point) -> Result<(toml::Table, BTreeMap<String, f64>), String> {
        let s = self
            .scenario(&p.label)
            .ok_or_else(|| format!("no scenario `{}`", p.label))?;
        let mut doc = s.doc.clone();
        let mut cost = s.cost.clone();
        let resolve = |name: &str| {
            s.aliases
                .get(name)
                .cloned()
                .unwrap_or_else(|| name.to_string())
        };
        let ctx = |e: String| format!("point {} (scenario `{}`): {e}", p.index, p.label);
        let set = |doc: &mut toml::Table, cost: &mut toml::Table, param: &str, v: f64| {
            let path = resolve(param);
            match path.strip_prefix("cost.") {
                Some(rest) => set_param(cost, rest, v),
                None => set_param(doc, &path, v),
            }
            .map(|_| ())
        };
        for (param, v) in &p.values {
            set(&mut doc, &mut cost, param, *v).map_err(ctx)?;
        }
        let demand = demand_per_year(&doc);
        let mut sized = BTreeMap::new();
        for z in &s.sizing {
            let target = resolve(&z.param);
            if p.values.keys().any(|k| resolve(k) == target) {
                continue;
            }
            let mut v = (demand * z.per_patient_per_year - 1e-9).ceil().max(z.min);
            if let Some(m) = z.max {
                v = v.min(m);
            }
            set(&mut doc, &mut cost, &z.param, v).map_err(ctx)?;
            sized.insert(z.param.clone(), v);
        }
        if let PointKind::Sensitivity { param, factor } = &p.kind {
            let path = resolve(param);
            let current = get_number(&doc, &cost, &path)
                .ok_or_else(|| ctx(format!("sensitivity parameter `{param}` matches no number")))?;
            set(&mut doc, &mut cost, param, current * factor).map_err(ctx)?;
        }
        doc.insert("cost".to_string(), toml::Value::Table(cost));
        Ok((doc, sized))
    }

    /// Simulates and prices one point. `Err` only for an invalid point (a parameter value
    /// the scenario rejects); a point whose cost is undefined (no doses) carries the message.
    pub fn run_point(&self, p: &Point) -> Result<PointResult, String> {
        let (mut doc, _) = self.point_doc(p)?;
        let cost_table = match doc.remove("cost") {
            Some(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        };
        let ctx = |e: String| format!("point {} (scenario `{}`): {e}", p.index, p.label);
        let mut scenario: model::Scenario = toml::Value::Table(doc.clone())
            .try_into()
            .map_err(|e: toml::de::Error| ctx(e.message().to_string()))?;
        let unresolved = scenario.resolve_expansion(&*self.expansion.0);
        let compiled = if unresolved.is_empty() {
            model::compile(&scenario)
        } else {
            Err(unresolved)
        };
        let m = compiled.map_err(|ps| {
            ctx(ps
                .iter()
                .map(|x| format!("{}: {}", x.path, x.message))
                .collect::<Vec<_>>()
                .join("; "))
        })?;
        let cm = crate::from_table(&cost_table, &m).map_err(ctx)?;
        let opts = sim::RunOptions {
            replications: Some(self.spec.study.replications),
            seed: Some(p.seed),
            threads: 0,
            plan: None,
            // Each replication is priced as it is combined (in replication order), so the
            // point holds none of them.
            drop_replications: true,
            event_budget: None,
        };
        let mut priced = cm.accumulator();
        // At the base point, the cost inputs' tornado re-prices the same replications.
        let mut sensitivity = match &self.spec.sensitivity {
            Some(sens) if sens.cost_inputs && self.base == Some(p.index) => {
                Some(CostSensitivity::new(&cost_table, &m, sens.delta))
            }
            _ => None,
        };
        let mut sink = |x: &Replication| {
            priced.add(x);
            if let Some(s) = sensitivity.as_mut() {
                s.add(x);
            }
            Ok(())
        };
        let never = AtomicBool::new(false);
        let r = sim::run_streamed(&m, &opts, &|_| {}, &never, None, Some(&mut sink))
            .map_err(|e| ctx(e.to_string()))?;
        let (cost, cost_error) = match priced.finish() {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let bars = match (sensitivity, &cost) {
            (Some(s), Some(base)) => s.finish(base),
            _ => Vec::new(),
        };
        Ok(PointResult {
            point: p.clone(),
            patients_per_year_input: demand_per_year(&doc),
            equipment_units: equipment_units(&m),
            throughput_per_year: r.throughput_per_year,
            vein_to_vein_mean: Stat {
                mean: r.vein_to_vein_days.mean,
                ci95: r.vein_to_vein_days.ci95,
            },
            vein_to_vein_p95: r.vein_to_vein_days.p95,
            vein_to_vein_censored: if r.vein_to_vein_days.n == 0 {
                0.0
            } else {
                r.vein_to_vein_days.censored as f64 / r.vein_to_vein_days.n as f64
            },
            on_time_fraction: r.on_time_fraction,
            patients_lost_fraction: r.patients_lost_fraction,
            max_utilisation: r
                .resources
                .iter()
                .filter(|x| x.kind != "staff")
                .map(|x| x.utilisation.mean)
                .fold(0.0, f64::max),
            cost,
            cost_error,
            cost_sensitivity: bars,
        })
    }
}

fn get_number(doc: &toml::Table, cost: &toml::Table, path: &str) -> Option<f64> {
    let (t, rest) = match path.strip_prefix("cost.") {
        Some(r) => (cost, r),
        None => (doc, path),
    };
    let mut cur: Option<&toml::Value> = None;
    let segs: Vec<&str> = rest.split('.').collect();
    for (i, s) in segs.iter().enumerate() {
        let next = match cur {
            None => t.get(*s),
            Some(toml::Value::Table(x)) => x.get(*s),
            Some(toml::Value::Array(a)) => {
                if *s == "*" {
                    a.first()
                } else if let Ok(k) = s.parse::<usize>() {
                    a.get(k)
                } else {
                    a.iter().find(|e| {
                        e.as_table().is_some_and(|t| {
                            ["name", "product", "label"]
                                .iter()
                                .any(|k| t.get(*k).and_then(|x| x.as_str()) == Some(*s))
                        })
                    })
                }
            }
            _ => None,
        };
        cur = Some(next?);
        if i + 1 == segs.len() {
            break;
        }
    }
    match cur {
        Some(toml::Value::Integer(i)) => Some(*i as f64),
        Some(toml::Value::Float(f)) => Some(*f),
        _ => None,
    }
}

/// Patients per year over all demand streams of a scenario document (weekly rates × 365/7;
/// explicit apheresis days are counted over the horizon).
pub fn demand_per_year(doc: &toml::Table) -> f64 {
    let horizon = doc
        .get("scenario")
        .and_then(|s| s.get("horizon_days"))
        .and_then(|h| h.as_float().or_else(|| h.as_integer().map(|i| i as f64)))
        .unwrap_or(365.0);
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    doc.get("demand")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .map(|d| {
                    if let Some(y) = d.get("patients_per_year").and_then(num) {
                        y
                    } else if let Some(w) = d.get("patients_per_week").and_then(num) {
                        w * 365.0 / 7.0
                    } else if let Some(days) = d.get("apheresis_days").and_then(|x| x.as_array()) {
                        days.len() as f64 * 365.0 / horizon.max(1e-9)
                    } else {
                        0.0
                    }
                })
                .sum()
        })
        .unwrap_or(0.0)
}

fn equipment_units(m: &Model) -> u32 {
    m.resources
        .iter()
        .filter(|r| r.kind == model::ResourceKind::Equipment)
        .map(|r| r.capacity)
        .sum()
}

/// Cost per dose with each numeric cost input changed by ±`delta`, re-priced on the same
/// replications. Inputs that do not move cost per dose are left out. The same as adding each
/// replication to a [`CostSensitivity`].
pub fn cost_sensitivity(
    cost: &toml::Table,
    m: &Model,
    reps: &[Replication],
    delta: f64,
    base: &CostSummary,
) -> Vec<TornadoBar> {
    let mut s = CostSensitivity::new(cost, m, delta);
    for r in reps {
        s.add(r);
    }
    s.finish(base)
}

/// The tornado of the cost inputs, priced one replication at a time: every numeric cost input
/// changed by ±δ is a cost model of its own whose [`CostAccumulator`](crate::CostAccumulator)
/// takes each replication as it arrives, so memory grows with the number of inputs and cost
/// lines, not with the number of replications.
#[derive(Debug, Clone)]
pub struct CostSensitivity {
    cost: toml::Table,
    /// Per input: its path, its value and the summaries at × (1 − δ) and × (1 + δ).
    inputs: Vec<(String, f64, [crate::CostAccumulator; 2])>,
}

impl CostSensitivity {
    /// The changed cost models of the `[cost]` table `cost`. Inputs that cannot be changed
    /// by a fraction (equipment `units` must stay whole) or whose changed value the cost
    /// model refuses are left out.
    pub fn new(cost: &toml::Table, m: &Model, delta: f64) -> Self {
        let mut inputs = Vec::new();
        for (path, v) in numeric_leaves(cost, "") {
            let changed = |f: f64| {
                let mut t = cost.clone();
                set_param(&mut t, &path, v * f).ok()?;
                crate::from_table(&t, m).ok().map(|cm| cm.accumulator())
            };
            if let (Some(low), Some(high)) = (changed(1.0 - delta), changed(1.0 + delta)) {
                inputs.push((path, v, [low, high]));
            }
        }
        CostSensitivity {
            cost: cost.clone(),
            inputs,
        }
    }

    /// Prices the next replication with every changed input.
    pub fn add(&mut self, rep: &Replication) {
        for (_, _, acc) in &mut self.inputs {
            acc[0].add(rep);
            acc[1].add(rep);
        }
    }

    /// The bars, around `base` (the summary of the unchanged inputs over the same
    /// replications). Inputs whose changed cost is undefined, or that do not move cost per
    /// dose, are left out.
    pub fn finish(self, base: &CostSummary) -> Vec<TornadoBar> {
        let mut bars = Vec::new();
        for (path, v, [low, high]) in self.inputs {
            let (Ok(low), Ok(high)) = (low.finish(), high.finish()) else {
                continue;
            };
            let at = [low.per_dose.mean, high.per_dose.mean];
            if (at[0] - base.per_dose.mean).abs() + (at[1] - base.per_dose.mean).abs() > 1e-9 {
                bars.push(TornadoBar {
                    label: format!("cost › {}", describe_param(Some(&self.cost), &path)),
                    input: format!("cost.{path}"),
                    base_value: Some(v),
                    low: at[0],
                    high: at[1],
                    base: base.per_dose.mean,
                    resimulated: false,
                });
            }
        }
        bars
    }
}

// ---- results --------------------------------------------------------------------------------

/// A bar of the tornado chart: cost per dose at input × (1 − δ) and × (1 + δ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TornadoBar {
    /// The input's parameter path.
    pub input: String,
    /// The input in words, with the names the files give (material, role, pool, step).
    #[serde(default)]
    pub label: String,
    /// The input's value at the base point (absent for scenario parameters).
    pub base_value: Option<f64>,
    /// Cost per dose with the input lowered.
    pub low: f64,
    /// Cost per dose with the input raised.
    pub high: f64,
    /// Cost per dose at the base point.
    pub base: f64,
    /// Whether the change was simulated again (scenario parameters) or only re-priced.
    pub resimulated: bool,
}

/// Key figures of one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    /// The point (its fields stand at the top of the result's JSON object).
    #[serde(flatten)]
    pub point: Point,
    /// Expected patients per year of the point's demand.
    pub patients_per_year_input: f64,
    /// Equipment units installed (all pools).
    pub equipment_units: u32,
    /// Doses released per year.
    pub throughput_per_year: Stat,
    /// Mean vein-to-vein days.
    pub vein_to_vein_mean: Stat,
    /// 95th percentile of vein-to-vein days (pooled over replications).
    pub vein_to_vein_p95: f64,
    /// Fraction of the vein-to-vein observations that are lower bounds: patients still in
    /// process when the run was cut off, counted at their time since apheresis. Above zero,
    /// the plant did not keep up and the vein-to-vein figures are lower bounds.
    #[serde(default)]
    pub vein_to_vein_censored: f64,
    /// Fraction treated within target.
    pub on_time_fraction: Stat,
    /// Fraction of patients lost.
    pub patients_lost_fraction: Stat,
    /// Highest mean utilisation of an equipment pool or area.
    pub max_utilisation: f64,
    /// Cost summary (absent when undefined).
    pub cost: Option<CostSummary>,
    /// Why the cost is undefined.
    pub cost_error: Option<String>,
    /// Tornado bars of the cost inputs (base point only).
    #[serde(default)]
    pub cost_sensitivity: Vec<TornadoBar>,
}

impl PointResult {
    /// Whether the vein-to-vein figures are lower bounds: the plant did not keep up and some
    /// patients were still in process at the cut-off.
    pub fn vein_to_vein_is_lower_bound(&self) -> bool {
        self.vein_to_vein_censored > 0.0
    }
}

/// The `format` of a part file written by this program.
pub const PART_FORMAT: &str = "atmpflow-study-part/1";

/// The points one shard (or the whole study) simulated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyPart {
    /// File format and version ([`PART_FORMAT`]).
    pub format: String,
    /// Study name.
    pub study: String,
    /// Study description.
    pub description: String,
    /// Swept parameters in file order.
    pub axes: Vec<String>,
    /// Relative change of the sensitivity analysis.
    pub delta: Option<f64>,
    /// Sensitivity base point.
    pub base: Option<usize>,
    /// What a configuration must achieve.
    #[serde(default)]
    pub target: Target,
    /// SHA-256 of the study file (set by the caller).
    pub study_sha256: String,
    /// SHA-256 over every input: the study file and each scenario and cost file it names
    /// (set by the caller); parts with different inputs do not merge.
    pub inputs_sha256: String,
    /// Program version.
    pub program_version: String,
    /// Random number generator of the simulations.
    pub rng: String,
    /// Study seed.
    pub seed: u64,
    /// Replications per point.
    pub replications: u32,
    /// This shard (0-based) and the number of shards.
    pub shard: [usize; 2],
    /// Points in the whole study.
    pub points_total: usize,
    /// Points of this shard.
    pub points_in_shard: usize,
    /// True when cancelled before every point of the shard finished.
    pub partial: bool,
    /// Points that could not be simulated, with the reason.
    pub failed: Vec<(usize, String)>,
    /// The results.
    pub points: Vec<PointResult>,
}

/// The points of shard `i` of `n`. The points are put in a fixed pseudo-random order (by
/// [`point_seed`] of the index) and dealt out in turn, so every shard gets the same number of
/// points (±1) and a similar mix of cheap and expensive ones, whatever the axes look like.
pub fn shard_points(total: usize, i: usize, n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..total).collect();
    order.sort_by_key(|&k| (point_seed(0x5EED_5EED, k), k));
    let mut mine: Vec<usize> = order
        .into_iter()
        .enumerate()
        .filter(|(pos, _)| pos % n == i)
        .map(|(_, k)| k)
        .collect();
    mine.sort_unstable();
    mine
}

/// Finished points, points that failed (index and reason), and whether the run was cancelled
/// before every point started.
pub type RunOutcome = (Vec<PointResult>, Vec<(usize, String)>, bool);

/// Simulates the given points in parallel (rayon). `progress` is called with the number of
/// finished points. Points not yet started when `cancel` becomes true are skipped; those
/// already running finish.
pub fn run(
    study: &Study,
    indices: &[usize],
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
    cancel: &AtomicBool,
) -> Result<RunOutcome, String> {
    let done = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> Vec<Option<Result<PointResult, String>>> {
        indices
            .par_iter()
            .map(|&i| {
                if cancel.load(Ordering::Relaxed) {
                    return None;
                }
                let r = match study.points.get(i) {
                    Some(p) => study.run_point(p),
                    None => Err(format!("no point {i}")),
                };
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                Some(r)
            })
            .collect()
    };
    let outs = if threads == 0 {
        work()
    } else {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| format!("could not start {threads} worker threads: {e}"))?
            .install(work)
    };
    let partial = outs.iter().any(Option::is_none);
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (o, &i) in outs.into_iter().zip(indices) {
        match o {
            Some(Ok(p)) => ok.push(p),
            Some(Err(e)) => failed.push((i, e)),
            None => {}
        }
    }
    Ok((ok, failed, partial))
}

impl Study {
    /// An empty part for shard `i` of `n` (the caller fills in the points and the hash).
    pub fn part(&self, shard: [usize; 2], points_in_shard: usize) -> StudyPart {
        StudyPart {
            format: PART_FORMAT.to_string(),
            study: self.spec.study.name.clone(),
            description: self.spec.study.description.clone(),
            axes: self.spec.axis.iter().map(|a| a.param.clone()).collect(),
            delta: self.spec.sensitivity.as_ref().map(|s| s.delta),
            base: self.base,
            target: self.spec.study.target.clone(),
            study_sha256: String::new(),
            inputs_sha256: String::new(),
            program_version: env!("CARGO_PKG_VERSION").to_string(),
            rng: format!(
                "{}; point i of the study uses seed point_seed(study seed, i) (SplitMix64)",
                sim::RNG_NAME
            ),
            seed: self.spec.study.seed,
            replications: self.spec.study.replications,
            shard,
            points_total: self.points.len(),
            points_in_shard,
            partial: false,
            failed: Vec::new(),
            points: Vec::new(),
        }
    }
}

/// The whole study's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyResult {
    /// Study name.
    pub study: String,
    /// Study description.
    pub description: String,
    /// SHA-256 of the study file.
    pub study_sha256: String,
    /// SHA-256 over the study file and every scenario and cost file it names.
    #[serde(default)]
    pub inputs_sha256: String,
    /// Program version.
    pub program_version: String,
    /// Random number generator and seeding.
    pub rng: String,
    /// Study seed; point `i` uses `point_seed(seed, i)`.
    pub seed: u64,
    /// Replications per point.
    pub replications: u32,
    /// Points in the study.
    pub points_total: usize,
    /// True when some points are missing (cancelled or shards not merged).
    pub partial: bool,
    /// Indices of missing points.
    pub missing: Vec<usize>,
    /// Points that failed, with the reason.
    pub failed: Vec<(usize, String)>,
    /// Swept parameters in file order.
    pub axes: Vec<String>,
    /// Every finished point, by index.
    pub points: Vec<PointResult>,
    /// Grid points on the Pareto front of cost per dose against p95 vein-to-vein time.
    pub pareto: Vec<usize>,
    /// Sensitivity base point.
    pub base: Option<usize>,
    /// Tornado bars, widest first.
    pub tornado: Vec<TornadoBar>,
    /// Relative change of the tornado inputs.
    pub delta: Option<f64>,
    /// What a configuration must achieve.
    #[serde(default)]
    pub target: Target,
}

/// A part with the name of the file it was read from (used in messages).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPart {
    /// File name, or another name of where the part came from.
    pub name: String,
    /// The part.
    pub part: StudyPart,
}

/// Why parts do not merge. Each kind has its own exit code in the command-line program.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no parts to merge")]
    NoParts,
    /// A part of another study file, other inputs, another program version or other
    /// settings.
    #[error("{name} does not belong with {first}: {reason}")]
    Foreign {
        /// The offending part.
        name: String,
        /// The part it was compared with.
        first: String,
        /// What differs.
        reason: String,
    },
    /// A part whose contents do not fit its own header (edited or damaged).
    #[error("{name} is not a consistent study part: {reason}")]
    Inconsistent {
        /// The part.
        name: String,
        /// What does not fit.
        reason: String,
    },
    /// The same shard given twice.
    #[error("{name} and {other} are both shard {}/{} of the study", shard[0], shard[1])]
    Duplicate {
        /// The second part of the shard.
        name: String,
        /// The first part of the shard.
        other: String,
        /// The shard.
        shard: [usize; 2],
    },
    /// Points are missing: shards not given, or parts of cancelled runs.
    #[error("{}", missing_message(.points_total, .missing, .missing_shards, .cancelled))]
    Missing {
        /// Points in the study.
        points_total: usize,
        /// Indices of the missing points.
        missing: Vec<usize>,
        /// Shards of which no part was given.
        missing_shards: Vec<[usize; 2]>,
        /// Parts written by a cancelled run.
        cancelled: Vec<String>,
    },
}

fn missing_message(
    total: &usize,
    missing: &[usize],
    shards: &[[usize; 2]],
    cancelled: &[String],
) -> String {
    let mut why = Vec::new();
    if !shards.is_empty() {
        let list: Vec<String> = shards
            .iter()
            .map(|s| format!("{}/{} (study-part-{}-of-{}.json)", s[0], s[1], s[0], s[1]))
            .collect();
        why.push(format!("no part for shard {}", list.join(", ")));
    }
    if !cancelled.is_empty() {
        why.push(format!(
            "cancelled before finishing: {}",
            cancelled.join(", ")
        ));
    }
    let mut m = format!(
        "{} of {} points missing (points {})",
        missing.len(),
        total,
        short_list(missing)
    );
    if !why.is_empty() {
        m.push_str("; ");
        m.push_str(&why.join("; "));
    }
    m
}

/// `1, 2, 3, … (n in all)` for long lists.
fn short_list(v: &[usize]) -> String {
    let shown: Vec<String> = v.iter().take(12).map(ToString::to_string).collect();
    if v.len() > shown.len() {
        format!("{}, … ({} in all)", shown.join(", "), v.len())
    } else {
        shown.join(", ")
    }
}

/// Writes a part as JSON that reads back bit for bit ([`part_from_json`]). Fails, naming
/// the point, when a figure is not a finite number (JSON has no NaN or infinity).
pub fn part_to_json(part: &StudyPart) -> Result<String, String> {
    fn exact<T: Serialize + serde::de::DeserializeOwned + PartialEq>(x: &T) -> bool {
        serde_json::to_string(x)
            .ok()
            .and_then(|t| serde_json::from_str::<T>(&t).ok())
            .is_some_and(|back| back == *x)
    }
    let not_finite = |what: String| {
        format!(
            "{what} holds a figure that is not a finite number and cannot be stored exactly in JSON"
        )
    };
    for pt in &part.points {
        if !exact(pt) {
            return Err(not_finite(format!("point {}", pt.point.index)));
        }
    }
    let text = serde_json::to_string_pretty(part).map_err(|e| e.to_string())?;
    match serde_json::from_str::<StudyPart>(&text) {
        Ok(back) if back == *part => Ok(text),
        _ => Err(not_finite("the part's header".to_string())),
    }
}

/// Reads a part file written by [`part_to_json`]; numbers are read back exactly.
pub fn part_from_json(text: &str) -> Result<StudyPart, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match v.get("format").and_then(|f| f.as_str()) {
        Some(PART_FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "a study part of format `{other}`; this program reads `{PART_FORMAT}`"
            ));
        }
        None => {
            return Err(format!(
                "not a study part file (no `format` field; expected `{PART_FORMAT}`)"
            ));
        }
    }
    serde_json::from_str(text).map_err(|e| format!("not a valid study part: {e}"))
}

/// Checks that a part's points are those of its shard.
fn check_part(np: &NamedPart) -> Result<(), MergeError> {
    let p = &np.part;
    let bad = |reason: String| MergeError::Inconsistent {
        name: np.name.clone(),
        reason,
    };
    let [i, n] = p.shard;
    if n == 0 || i >= n {
        return Err(bad(format!("shard {i}/{n} is not a valid shard")));
    }
    let mine = shard_points(p.points_total, i, n);
    if p.points_in_shard != mine.len() {
        return Err(bad(format!(
            "shard {i}/{n} of {} points has {} points, the part says {}",
            p.points_total,
            mine.len(),
            p.points_in_shard
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    let indices = p
        .points
        .iter()
        .map(|x| x.point.index)
        .chain(p.failed.iter().map(|f| f.0));
    for k in indices {
        if mine.binary_search(&k).is_err() {
            return Err(bad(format!("point {k} is not in shard {i}/{n}")));
        }
        if !seen.insert(k) {
            return Err(bad(format!("point {k} appears twice")));
        }
    }
    if !p.partial && seen.len() != mine.len() {
        let lacking: Vec<usize> = mine.iter().copied().filter(|k| !seen.contains(k)).collect();
        return Err(bad(format!(
            "the part is marked complete but lacks points {}",
            short_list(&lacking)
        )));
    }
    Ok(())
}

/// The first header field in which `p` differs from `q`, as a sentence.
fn header_difference(p: &StudyPart, q: &StudyPart) -> Option<String> {
    let differ = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        Some(format!("{what} {a:?}, not {b:?}"))
    };
    if p.format != q.format {
        return differ("file format", &p.format, &q.format);
    }
    if p.study_sha256 != q.study_sha256 {
        return differ("study file SHA-256", &p.study_sha256, &q.study_sha256);
    }
    if p.inputs_sha256 != q.inputs_sha256 {
        return Some(format!(
            "scenario or cost files differ (inputs SHA-256 {:?}, not {:?})",
            p.inputs_sha256, q.inputs_sha256
        ));
    }
    if p.program_version != q.program_version {
        return differ("program version", &p.program_version, &q.program_version);
    }
    if p.rng != q.rng {
        return differ("random number generator", &p.rng, &q.rng);
    }
    if p.seed != q.seed {
        return differ("seed", &p.seed, &q.seed);
    }
    if p.replications != q.replications {
        return differ("replications per point", &p.replications, &q.replications);
    }
    if p.points_total != q.points_total {
        return differ("points in the study", &p.points_total, &q.points_total);
    }
    if p.shard[1] != q.shard[1] {
        return Some(format!(
            "split into {} shards, not {}",
            p.shard[1], q.shard[1]
        ));
    }
    if (&p.study, &p.description, &p.axes) != (&q.study, &q.description, &q.axes) {
        return differ("study", &(&p.study, &p.axes), &(&q.study, &q.axes));
    }
    if p.target != q.target {
        return differ("target", &p.target, &q.target);
    }
    if p.base != q.base || p.delta.map(f64::to_bits) != q.delta.map(f64::to_bits) {
        return differ("sensitivity", &(p.base, p.delta), &(q.base, q.delta));
    }
    None
}

/// Joins parts (one or many shards) into the study result. Every part must come from the
/// same inputs, program version and settings and fit its own shard; each shard may be
/// given once. Missing points (shards not given, cancelled runs) are an error unless
/// `allow_partial`, which gives a result marked partial with the missing points listed.
/// The points are ordered by index, so the result is the same for any sharding.
pub fn merge(parts: &[NamedPart], allow_partial: bool) -> Result<StudyResult, MergeError> {
    let first = parts.first().ok_or(MergeError::NoParts)?;
    let mut by_shard: BTreeMap<usize, &str> = BTreeMap::new();
    for np in parts {
        check_part(np)?;
        if let Some(reason) = header_difference(&np.part, &first.part) {
            return Err(MergeError::Foreign {
                name: np.name.clone(),
                first: first.name.clone(),
                reason,
            });
        }
        if let Some(other) = by_shard.insert(np.part.shard[0], &np.name) {
            return Err(MergeError::Duplicate {
                name: np.name.clone(),
                other: other.to_string(),
                shard: np.part.shard,
            });
        }
    }
    let head = &first.part;
    let mut by_index: BTreeMap<usize, PointResult> = BTreeMap::new();
    let mut failed = Vec::new();
    for np in parts {
        // Shards are disjoint and each was checked to hold only its own points.
        by_index.extend(np.part.points.iter().map(|pt| (pt.point.index, pt.clone())));
        failed.extend(np.part.failed.iter().cloned());
    }
    failed.sort();
    let missing: Vec<usize> = (0..head.points_total)
        .filter(|i| !by_index.contains_key(i) && !failed.iter().any(|(f, _)| f == i))
        .collect();
    if !missing.is_empty() && !allow_partial {
        let n = head.shard[1];
        return Err(MergeError::Missing {
            points_total: head.points_total,
            missing,
            missing_shards: (0..n)
                .filter(|i| !by_shard.contains_key(i))
                .map(|i| [i, n])
                .collect(),
            cancelled: parts
                .iter()
                .filter(|p| p.part.partial)
                .map(|p| p.name.clone())
                .collect(),
        });
    }
    let points: Vec<PointResult> = by_index.into_values().collect();
    let pareto = pareto_front(&points);
    let tornado = tornado(&points, head.base);
    Ok(StudyResult {
        study: head.study.clone(),
        description: head.description.clone(),
        study_sha256: head.study_sha256.clone(),
        inputs_sha256: head.inputs_sha256.clone(),
        program_version: head.program_version.clone(),
        rng: head.rng.clone(),
        seed: head.seed,
        replications: head.replications,
        points_total: head.points_total,
        partial: !missing.is_empty(),
        missing,
        failed,
        axes: head.axes.clone(),
        points,
        pareto,
        base: head.base,
        tornado,
        delta: head.delta,
        target: head.target.clone(),
    })
}

/// Grid points not dominated in (cost per dose, p95 vein-to-vein days), both minimised;
/// sorted by cost.
pub fn pareto_front(points: &[PointResult]) -> Vec<usize> {
    let cand: Vec<(usize, f64, f64)> = points
        .iter()
        .filter(|p| p.point.kind == PointKind::Grid)
        .filter_map(|p| {
            p.cost
                .as_ref()
                .map(|c| (p.point.index, c.per_dose.mean, p.vein_to_vein_p95))
        })
        .filter(|(_, c, v)| c.is_finite() && v.is_finite())
        .collect();
    let mut front: Vec<(usize, f64, f64)> = cand
        .iter()
        .filter(|&&(_, c, v)| {
            !cand
                .iter()
                .any(|&(_, c2, v2)| c2 <= c && v2 <= v && (c2 < c || v2 < v))
        })
        .copied()
        .collect();
    front.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    front.into_iter().map(|x| x.0).collect()
}

/// Tornado bars: the base point's cost-input bars plus one bar per re-simulated scenario
/// parameter, widest first.
pub fn tornado(points: &[PointResult], base: Option<usize>) -> Vec<TornadoBar> {
    let Some(b) = base.and_then(|b| points.iter().find(|p| p.point.index == b)) else {
        return Vec::new();
    };
    let Some(bc) = &b.cost else {
        return Vec::new();
    };
    let mut bars = b.cost_sensitivity.clone();
    let mut by_param: BTreeMap<&str, [Option<f64>; 2]> = BTreeMap::new();
    for p in points {
        if let PointKind::Sensitivity { param, factor } = &p.point.kind {
            let e = by_param.entry(param.as_str()).or_default();
            let k = usize::from(*factor > 1.0);
            e[k] = p.cost.as_ref().map(|c| c.per_dose.mean);
        }
    }
    for (param, [lo, hi]) in by_param {
        if let (Some(lo), Some(hi)) = (lo, hi) {
            bars.push(TornadoBar {
                label: describe_param(None, param),
                input: param.to_string(),
                base_value: None,
                low: lo,
                high: hi,
                base: bc.per_dose.mean,
                resimulated: true,
            });
        }
    }
    bars.sort_by(|a, b| {
        let wa = (a.high - a.low).abs();
        let wb = (b.high - b.low).abs();
        wb.total_cmp(&wa).then(a.input.cmp(&b.input))
    });
    bars
}

/// A parameter path in words: `material.0.eur` of a cost table whose first material is
/// named `kit` reads `material “kit” › eur`; elements named in the path keep their name;
/// underscores become spaces. `doc` is the table the path walks (indices are looked up in
/// it; without it they stay numbers).
pub fn describe_param(doc: Option<&toml::Table>, path: &str) -> String {
    const NAMES: [&str; 7] = ["name", "pool", "area", "grade", "product", "label", "role"];
    // Arrays of tables in scenario and cost files, for paths read without their document.
    const ARRAYS: [&str; 13] = [
        "equipment",
        "area",
        "staff",
        "product",
        "step",
        "demand",
        "material",
        "qc_test",
        "operating",
        "other",
        "role",
        "room",
        "grade",
    ];
    let name_of = |v: &toml::Value| {
        v.as_table()
            .and_then(|t| {
                NAMES
                    .iter()
                    .find_map(|n| t.get(*n).and_then(|x| x.as_str()))
            })
            .map(str::to_string)
    };
    let mut out: Vec<String> = Vec::new();
    let mut cur: Option<&toml::Value> = None;
    let mut array = false;
    for (k, seg) in path.split('.').enumerate() {
        if array {
            let elem = match cur {
                Some(toml::Value::Array(a)) => match seg.parse::<usize>() {
                    Ok(i) => a.get(i),
                    Err(_) => a.iter().find(|e| name_of(e).as_deref() == Some(seg)),
                },
                _ => None,
            };
            let shown = match (elem.and_then(name_of), seg) {
                (Some(n), _) => n,
                (None, "*") => "every".to_string(),
                (None, s) => s.to_string(),
            };
            if let Some(last) = out.last_mut() {
                last.push_str(&format!(" “{shown}”"));
            }
            cur = elem;
            array = false;
            continue;
        }
        out.push(seg.replace('_', " "));
        cur = match (k, cur) {
            (0, _) => doc.and_then(|d| d.get(seg)),
            (_, Some(toml::Value::Table(t))) => t.get(seg),
            _ => None,
        };
        array = match cur {
            Some(v) => v.is_array(),
            None => doc.is_none() && ARRAYS.contains(&seg),
        };
    }
    out.join(" › ")
}

/// The axis that a study's decisions are made along: the demand axis when there is one,
/// else the first axis.
pub fn main_axis(axes: &[String]) -> Option<&str> {
    axes.iter()
        .find(|a| a.contains("patients_per_year") || a.contains("patients_per_week"))
        .or_else(|| axes.first())
        .map(String::as_str)
}

/// The cheapest configuration that serves the demand among grid points that share the
/// values of some axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The shared axis values, in the order asked for.
    pub at: Vec<f64>,
    /// The cheapest point (by mean cost per dose) that meets the target.
    pub winner: Option<usize>,
    /// The cheapest point of another concept that meets the target.
    pub runner_up: Option<usize>,
    /// Whether the winner's 95 % interval of cost per dose lies below the runner-up's (or
    /// no other concept meets the target).
    pub clear: bool,
    /// Points compared.
    pub candidates: usize,
    /// Of which meet the target.
    pub feasible: usize,
}

/// One decision per combination of values of `by` (axis parameters) over the grid points,
/// in ascending numeric order of those values.
pub fn decide(r: &StudyResult, by: &[&str]) -> Vec<Decision> {
    let key = |p: &PointResult| -> Option<Vec<u64>> {
        by.iter()
            .map(|a| p.point.values.get(*a).map(|v| v.to_bits()))
            .collect()
    };
    let mut groups: Vec<(Vec<f64>, Vec<&PointResult>)> = Vec::new();
    for p in r.points.iter().filter(|p| p.point.kind == PointKind::Grid) {
        let Some(k) = key(p) else { continue };
        let at: Vec<f64> = k.iter().map(|b| f64::from_bits(*b)).collect();
        match groups
            .iter_mut()
            .find(|(a, _)| a.iter().map(|x| x.to_bits()).eq(k.iter().copied()))
        {
            Some((_, v)) => v.push(p),
            None => groups.push((at, vec![p])),
        }
    }
    groups.sort_by(|a, b| {
        a.0.iter()
            .zip(&b.0)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let cost = |p: &PointResult| p.cost.as_ref().map_or(f64::INFINITY, |c| c.per_dose.mean);
    groups
        .into_iter()
        .map(|(at, pts)| {
            let mut ok: Vec<&PointResult> = pts
                .iter()
                .copied()
                .filter(|p| r.target.shortfall(p).is_none())
                .collect();
            ok.sort_by(|a, b| {
                cost(a)
                    .total_cmp(&cost(b))
                    .then(a.point.index.cmp(&b.point.index))
            });
            let winner = ok.first().copied();
            let runner =
                winner.and_then(|w| ok.iter().copied().find(|q| q.point.label != w.point.label));
            let clear = match (
                winner.and_then(|w| w.cost.as_ref()),
                runner.and_then(|q| q.cost.as_ref()),
            ) {
                (Some(w), Some(q)) => w.per_dose.ci95[1] < q.per_dose.ci95[0],
                (Some(_), None) => true,
                _ => false,
            };
            Decision {
                at,
                winner: winner.map(|p| p.point.index),
                runner_up: runner.map(|p| p.point.index),
                clear,
                candidates: pts.len(),
                feasible: ok.len(),
            }
        })
        .collect()
}
