//! The batch twin's Batch Record submodel content, built from the record as it grows.
//!
//! [`batch_record`] turns a [`Batch`] into the `aas` crate's documented batch record
//! (identity link, executed step attempts with their effective values — corrections
//! applied — and equipment, deviations with QA's classification); the `aas` builders
//! make the submodel and the shell from it.

use std::collections::BTreeMap;

use aas::twins::{Actual, BatchInfo, BatchRecord, DeviationRecord, Quantity, StepRecord};

use crate::engine::Batch;
use crate::entry::{Assessment, Body, Entry, Value};

/// The lifecycle stage as the record's status word (`in_process`, `released`, …).
fn status(b: &Batch) -> String {
    serde_json::to_value(b.stage())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "in_process".into())
}

/// Effective values of the record: for each value entry, the latest correction's content.
pub fn effective_values(b: &Batch) -> BTreeMap<u64, Value> {
    let mut out: BTreeMap<u64, Value> = BTreeMap::new();
    let mut origin: BTreeMap<u64, u64> = BTreeMap::new();
    for e in b.entries() {
        match &e.body {
            Body::Value(v) => {
                out.insert(e.seq, v.clone());
                origin.insert(e.seq, e.seq);
            }
            Body::Correction(c) => {
                if let (Some(&first), Body::Value(v)) = (origin.get(&c.corrects), c.new.as_ref()) {
                    out.insert(first, v.clone());
                    origin.insert(e.seq, first);
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether appending `entries` to `before` (giving `after`) leaves the documented batch
/// record ([`batch_record`]) as it was: the stage is the same and every entry is a series
/// block. A block's samples and summary are entries of the record, not parts of the
/// documented record's steps, parameters or deviations; an excursion's deviation is an
/// entry of its own and makes this false.
pub fn record_unchanged(before: &Batch, after: &Batch, entries: &[Entry]) -> bool {
    before.stage() == after.stage() && entries.iter().all(|e| matches!(e.body, Body::Series(_)))
}

/// The documented batch record of a batch, for `aas::twins::batch_record`/`batch_twin`.
pub fn batch_record(b: &Batch) -> BatchRecord {
    let o = b.order();
    let steps = step_records(b);
    let deviations = deviation_records(b);
    BatchRecord {
        batch: BatchInfo {
            id: b.id().to_string(),
            product: o.product.clone(),
            chain_of_identity: Some(o.coi.clone()),
            din: Some(o.din.to_string()),
            patient_pseudonym: Some(o.patient.clone()),
            status: status(b),
            recipe: Some(o.recipe.id.clone()),
        },
        steps,
        series: Vec::new(),
        deviations,
        specification: Vec::new(),
    }
}

/// The step attempts of the batch in order (a repeated step's later attempts as
/// `<step>_attempt_<n>`), each with the first equipment used, its outcome and the effective
/// values recorded while it ran.
fn step_records(b: &Batch) -> Vec<StepRecord> {
    let values = effective_values(b);
    // Value entries by the step attempt they belong to.
    let mut steps: Vec<StepRecord> = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut value_home: BTreeMap<u64, usize> = BTreeMap::new();
    let mut attempts: BTreeMap<String, u32> = BTreeMap::new();
    for e in b.entries() {
        match &e.body {
            Body::StepStarted(s) => {
                let n = attempts.entry(s.step.clone()).or_insert(0);
                *n += 1;
                let id = if *n == 1 {
                    s.step.clone()
                } else {
                    format!("{}_attempt_{n}", s.step)
                };
                steps.push(StepRecord {
                    id,
                    name: s.step.clone(),
                    equipment: None,
                    start: e.at,
                    end: e.at,
                    outcome: "running".into(),
                    parameters: BTreeMap::new(),
                });
                current = Some((steps.len() - 1, s.step.clone()));
            }
            Body::EquipmentUsed(u) => {
                if let Some((i, _)) = &current
                    && steps[*i].equipment.is_none()
                {
                    steps[*i].equipment = Some(u.equipment.clone());
                }
            }
            Body::Value(_) => {
                if let Some((i, _)) = &current {
                    value_home.insert(e.seq, *i);
                }
            }
            Body::StepCompleted(c) => {
                if let Some((i, _)) = current.take() {
                    steps[i].end = e.at;
                    steps[i].outcome = if c.failed.is_some() {
                        "failed".into()
                    } else {
                        "completed".into()
                    };
                }
            }
            _ => {}
        }
    }
    for (seq, v) in &values {
        if let Some(&i) = value_home.get(seq) {
            let name = v.field.replace('.', "_");
            steps[i].parameters.insert(
                name,
                Quantity {
                    value: v.value,
                    unit: v.unit.clone(),
                },
            );
        }
    }
    steps
}

/// The deviations of the batch, each with its classification and QA's rationale and CAPA.
fn deviation_records(b: &Batch) -> Vec<DeviationRecord> {
    let assessments: BTreeMap<u32, &Assessment> = b
        .entries()
        .iter()
        .filter_map(|e| match &e.body {
            Body::Assessment(a) => Some((a.deviation, a)),
            _ => None,
        })
        .collect();
    b.deviations()
        .into_iter()
        .map(|(d, class)| {
            let a = assessments.get(&d.number);
            let classification = class.map_or_else(
                || "unassessed".to_string(),
                |c| {
                    serde_json::to_value(c)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                },
            );
            let mut note = format!("Deviation {} ({})", d.number, d.kind);
            if let Some(a) = a {
                note.push_str(&format!(": {}", a.rationale));
                if let Some(c) = &a.capa {
                    note.push_str(&format!(" [CAPA {c}]"));
                }
            }
            DeviationRecord {
                step: d.step.clone().unwrap_or_else(|| "batch".into()),
                parameter: d.field.clone(),
                expected_min: None,
                expected_max: None,
                expected: Some(d.expected.clone()).filter(|s| !s.is_empty()),
                actual: Actual::Text(if d.actual.is_empty() {
                    "-".into()
                } else {
                    d.actual.clone()
                }),
                unit: String::new(),
                classification,
                note,
            }
        })
        .collect()
}
