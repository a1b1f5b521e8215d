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

impl Study {
    /// Checks every scenario and its cost inputs (with located errors), expands the grid and
    /// the sensitivity points, and checks that every point's parameters apply.
    pub fn prepare(spec: StudySpec, files: Vec<ScenarioFiles>) -> Result<Study, StudyError> {
        if files.len() != spec.scenario.len() {
            return Err(StudyError::Message(format!(
                "{} scenario files for {} scenarios",
                files.len(),
                spec.scenario.len()
            )));
        }
        let mut scenarios = Vec::new();
        for (r, f) in spec.scenario.iter().zip(files) {
            let model = model::load(f.scenario.name(), f.scenario.text())?;
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
            if let Some(h) = spec.study.horizon_days {
                set_param(&mut doc, "scenario.horizon_days", h).map_err(StudyError::Message)?;
            }
            if let Some(w) = spec.study.warmup_days {
                set_param(&mut doc, "scenario.warmup_days", w).map_err(StudyError::Message)?;
            }
            scenarios.push(Prepared {
                label: r.label.clone(),
                doc,
                cost,
                aliases: r.alias.clone(),
                sizing: r.sizing.clone(),
            });
        }
        let axes: Vec<(String, Vec<f64>)> = spec
            .axis
            .iter()
            .map(|a| (a.param.clone(), a.all_values()))
            .collect();
        let mut points = Vec::new();
        for s in &scenarios {
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
                    seed: point_seed(spec.study.seed, index),
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
        let mut study = Study {
            spec,
            scenarios,
            points,
            base: None,
        };
        // Sizing and parameter checks on every grid point.
        for i in 0..study.points.len() {
            let (_, sized) = study
                .point_doc(&study.points[i])
                .map_err(StudyError::Message)?;
            study.points[i].sized = sized;
        }
        if let Some(sens) = study.spec.sensitivity.clone() {
            let label = sens
                .scenario
                .clone()
                .unwrap_or_else(|| study.scenarios[0].label.clone());
            let base = study
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
            study.base = Some(base);
            let bp = study.points[base].clone();
            for param in &sens.params {
                for factor in [1.0 - sens.delta, 1.0 + sens.delta] {
                    let index = study.points.len();
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
                    study.point_doc(&p).map_err(StudyError::Message)?;
                    study.points.push(p);
                }
            }
        }
        Ok(study)
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
        let scenario: model::Scenario = toml::Value::Table(doc.clone())
            .try_into()
            .map_err(|e: toml::de::Error| ctx(e.message().to_string()))?;
        let m = model::compile(&scenario).map_err(|ps| {
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
        };
        let never = AtomicBool::new(false);
        let r = sim::run(&m, &opts, &|_| {}, &never).map_err(|e| ctx(e.to_string()))?;
        let (cost, cost_error) = match cm.summarise(&r.per_replication) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let mut bars = Vec::new();
        if self.base == Some(p.index)
            && let (Some(sens), Some(base)) = (&self.spec.sensitivity, &cost)
            && sens.cost_inputs
        {
            bars = cost_sensitivity(&cost_table, &m, &r.per_replication, sens.delta, base);
        }
        Ok(PointResult {
            index: p.index,
            label: p.label.clone(),
            values: p.values.clone(),
            sized: p.sized.clone(),
            kind: p.kind.clone(),
            seed: p.seed,
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
/// replications. Inputs that do not move cost per dose are left out.
pub fn cost_sensitivity(
    cost: &toml::Table,
    m: &Model,
    reps: &[Replication],
    delta: f64,
    base: &CostSummary,
) -> Vec<TornadoBar> {
    let mut bars = Vec::new();
    for (path, v) in numeric_leaves(cost, "") {
        let mut at = [0.0; 2];
        let mut ok = true;
        for (k, f) in [1.0 - delta, 1.0 + delta].into_iter().enumerate() {
            let mut t = cost.clone();
            // Inputs that must stay whole (equipment `units`) fail to parse when changed
            // by a fraction and are left out.
            let new = v * f;
            if set_param(&mut t, &path, new).is_err() {
                ok = false;
                break;
            }
            let priced = crate::from_table(&t, m)
                .and_then(|cm| cm.summarise(reps).map_err(|e| e.to_string()));
            match priced {
                Ok(s) => at[k] = s.per_dose.mean,
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && (at[0] - base.per_dose.mean).abs() + (at[1] - base.per_dose.mean).abs() > 1e-9 {
            bars.push(TornadoBar {
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

// ---- results --------------------------------------------------------------------------------

/// A bar of the tornado chart: cost per dose at input × (1 − δ) and × (1 + δ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TornadoBar {
    /// The input's parameter path.
    pub input: String,
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
    /// Point index.
    pub index: usize,
    /// Scenario label.
    pub label: String,
    /// Axis values.
    pub values: BTreeMap<String, f64>,
    /// Values chosen by sizing rules.
    pub sized: BTreeMap<String, f64>,
    /// Grid or sensitivity.
    pub kind: PointKind,
    /// Seed.
    pub seed: u64,
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

/// The points one shard (or the whole study) simulated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyPart {
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
    /// SHA-256 of the study file (set by the caller); parts of different files do not merge.
    pub study_sha256: String,
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
            study: self.spec.study.name.clone(),
            description: self.spec.study.description.clone(),
            axes: self.spec.axis.iter().map(|a| a.param.clone()).collect(),
            delta: self.spec.sensitivity.as_ref().map(|s| s.delta),
            base: self.base,
            study_sha256: String::new(),
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
}

/// Joins parts (one or many shards) into the study result: checks that they belong to the
/// same study file, orders the points, finds the Pareto front and assembles the tornado.
pub fn merge(parts: &[StudyPart]) -> Result<StudyResult, String> {
    let first = parts.first().ok_or("no parts to merge")?;
    for p in parts {
        if p.study_sha256 != first.study_sha256 || p.points_total != first.points_total {
            return Err(format!(
                "parts of different studies: `{}` ({} points, sha256 {}) and `{}` ({} points, \
                 sha256 {})",
                first.study,
                first.points_total,
                first.study_sha256,
                p.study,
                p.points_total,
                p.study_sha256
            ));
        }
    }
    let mut by_index: BTreeMap<usize, PointResult> = BTreeMap::new();
    let mut failed = Vec::new();
    let mut partial = false;
    for p in parts {
        partial |= p.partial;
        for pt in &p.points {
            if let Some(old) = by_index.insert(pt.index, pt.clone())
                && old != *pt
            {
                return Err(format!(
                    "point {} appears in two parts with different results",
                    pt.index
                ));
            }
        }
        failed.extend(p.failed.iter().cloned());
    }
    failed.sort();
    failed.dedup();
    let missing: Vec<usize> = (0..first.points_total)
        .filter(|i| !by_index.contains_key(i) && !failed.iter().any(|(f, _)| f == i))
        .collect();
    partial |= !missing.is_empty();
    let points: Vec<PointResult> = by_index.into_values().collect();
    let pareto = pareto_front(&points);
    let tornado = tornado(&points, first.base);
    Ok(StudyResult {
        study: first.study.clone(),
        description: first.description.clone(),
        study_sha256: first.study_sha256.clone(),
        program_version: first.program_version.clone(),
        rng: first.rng.clone(),
        seed: first.seed,
        replications: first.replications,
        points_total: first.points_total,
        partial,
        missing,
        failed,
        axes: first.axes.clone(),
        points,
        pareto,
        base: first.base,
        tornado,
        delta: first.delta,
    })
}

/// Grid points not dominated in (cost per dose, p95 vein-to-vein days), both minimised;
/// sorted by cost.
pub fn pareto_front(points: &[PointResult]) -> Vec<usize> {
    let cand: Vec<(usize, f64, f64)> = points
        .iter()
        .filter(|p| p.kind == PointKind::Grid)
        .filter_map(|p| {
            p.cost
                .as_ref()
                .map(|c| (p.index, c.per_dose.mean, p.vein_to_vein_p95))
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
    let Some(b) = base.and_then(|b| points.iter().find(|p| p.index == b)) else {
        return Vec::new();
    };
    let Some(bc) = &b.cost else {
        return Vec::new();
    };
    let mut bars = b.cost_sensitivity.clone();
    let mut by_param: BTreeMap<&str, [Option<f64>; 2]> = BTreeMap::new();
    for p in points {
        if let PointKind::Sensitivity { param, factor } = &p.kind {
            let e = by_param.entry(param.as_str()).or_default();
            let k = usize::from(*factor > 1.0);
            e[k] = p.cost.as_ref().map(|c| c.per_dose.mean);
        }
    }
    for (param, [lo, hi]) in by_param {
        if let (Some(lo), Some(hi)) = (lo, hi) {
            bars.push(TornadoBar {
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
