//! Level 3: binding each capability requirement of a recipe to a concrete piece
//! of equipment whose capabilities and current qualification state satisfy it.
//!
//! Pure: the inventory and the "as of" date are passed in. Every candidate gets
//! a verdict with reasons (why it was chosen, why it fits but ranked lower, why
//! it was rejected); a requirement nobody fits is reported with every
//! candidate's rejection reasons.
//!
//! Rules:
//! - a candidate must offer the capability, meet every parameter constraint,
//!   have enough uses left on every counter the requirement consumes (counting
//!   what earlier steps of this recipe already consume), and be qualified from
//!   `as_of` until the nominal end of the step (the step's nominal start and end
//!   come from the recipe's nominal durations, starting at `as_of`);
//! - requirements sharing a `group` bind to one piece of equipment, chosen
//!   among those that satisfy all of them;
//! - among fitting candidates the one qualified for longest wins, then the one
//!   with most uses left on the counters the requirement consumes (spare the
//!   nearly used-up), then the one with the smallest equipment id
//!   (deterministic, explainable, and independent of the order in which the
//!   inventory file or a registry lists the equipment);
//! - candidates are listed in equipment id order, so a binding depends only on
//!   what the equipment is, not on where it was read from.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::equipment::{Equipment, Inventory, ParamValue, Validity};
use crate::recipe::{Constraint, Recipe, Requirement};

/// Parameters that express a capacity: failing `at_least` on them is "capacity too small".
const CAPACITY_PARAMS: &[&str] = &[
    "volume",
    "capacity",
    "cell_number",
    "payload",
    "positions",
    "workstations",
];

/// Why a candidate was rejected or chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// Does not offer the capability.
    MissingCapability,
    /// Offers the capability but does not state the constrained parameter.
    MissingParameter,
    /// A parameter range or value does not meet the constraint.
    OutOfRange,
    /// A capacity (volume, cell number, …) is too small.
    CapacityTooSmall,
    /// A yes/no or text property differs.
    ValueMismatch,
    /// The requalification date has passed (or passes before the step ends).
    QualificationExpired,
    /// Not (yet) qualified, suspended or retired.
    NotQualified,
    /// A usage counter would exceed its maximum.
    UsageExhausted,
    /// The equipment lacks a counter the requirement consumes.
    MissingCounter,
    /// Another requirement of the same group rejects it.
    GroupConflict,
    /// Meets every constraint (used for chosen and for fitting-but-not-chosen).
    Fits,
}

/// One reason with a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Kind.
    pub kind: ReasonKind,
    /// Human-readable explanation.
    pub message: String,
}

/// The verdict on one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Assigned.
    Chosen,
    /// Fits but ranked lower (a valid alternative, e.g. a spare).
    Fits,
    /// Does not fit.
    Rejected,
}

/// One candidate's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Equipment id.
    pub equipment: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Reasons (for `Chosen` and `Fits`: one `fits` reason explaining the rank).
    pub reasons: Vec<Reason>,
}

/// The binding of one requirement of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Step id.
    pub step: String,
    /// Requirement name within the step.
    pub requirement: String,
    /// Capability.
    pub capability: String,
    /// Group, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Constraints as text (for readers of the binding).
    pub constraints: BTreeMap<String, String>,
    /// Chosen equipment id; `None` when nothing fits.
    pub equipment: Option<String>,
    /// Every piece of equipment that offers the capability (and, for clarity, none that don't),
    /// with its verdict.
    pub candidates: Vec<Candidate>,
}

impl Assignment {
    /// Ids of every fitting candidate (chosen first).
    pub fn fitting(&self) -> Vec<&str> {
        let mut v: Vec<&Candidate> = self
            .candidates
            .iter()
            .filter(|c| c.verdict != Verdict::Rejected)
            .collect();
        v.sort_by_key(|c| c.verdict != Verdict::Chosen);
        v.into_iter().map(|c| c.equipment.as_str()).collect()
    }
}

/// A level-3 bound recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// Recipe id.
    pub recipe: String,
    /// Inventory site.
    pub site: String,
    /// Date the qualification states were judged at.
    pub as_of: Date,
    /// One entry per requirement, in recipe order.
    pub assignments: Vec<Assignment>,
}

impl Binding {
    /// Whether every requirement got equipment.
    pub fn is_complete(&self) -> bool {
        self.assignments.iter().all(|a| a.equipment.is_some())
    }

    /// The requirements nothing fits.
    pub fn unbound(&self) -> impl Iterator<Item = &Assignment> {
        self.assignments.iter().filter(|a| a.equipment.is_none())
    }

    /// The assignment of a step's requirement.
    pub fn get(&self, step: &str, requirement: &str) -> Option<&Assignment> {
        self.assignments
            .iter()
            .find(|a| a.step == step && a.requirement == requirement)
    }

    /// Human-readable report.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "binding of recipe `{}` to `{}` as of {}\n",
            self.recipe, self.site, self.as_of
        );
        for a in &self.assignments {
            let cons: Vec<String> = a
                .constraints
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let cons = if cons.is_empty() {
                String::new()
            } else {
                format!(" [{}]", cons.join(", "))
            };
            let group = a
                .group
                .as_ref()
                .map(|g| format!(" (group {g})"))
                .unwrap_or_default();
            match &a.equipment {
                Some(e) => out.push_str(&format!(
                    "\nstep {} / {}: {}{cons}{group} -> {e}\n",
                    a.step, a.requirement, a.capability
                )),
                None => out.push_str(&format!(
                    "\nstep {} / {}: {}{cons}{group} -> NO EQUIPMENT FITS\n",
                    a.step, a.requirement, a.capability
                )),
            }
            for c in &a.candidates {
                let word = match c.verdict {
                    Verdict::Chosen => "chosen  ",
                    Verdict::Fits => "fits    ",
                    Verdict::Rejected => "rejected",
                };
                let why: Vec<&str> = c.reasons.iter().map(|r| r.message.as_str()).collect();
                out.push_str(&format!("  {word} {}: {}\n", c.equipment, why.join("; ")));
            }
        }
        let unbound = self.unbound().count();
        if unbound == 0 {
            out.push_str(&format!(
                "\nall {} requirement(s) bound\n",
                self.assignments.len()
            ));
        } else {
            out.push_str(&format!(
                "\n{unbound} of {} requirement(s) could not be bound\n",
                self.assignments.len()
            ));
        }
        out
    }
}

/// Error from [`bind_strict`]: some requirement has no fitting equipment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render_no_fit(.unbound))]
pub struct NoFit {
    /// The unbound requirements with every candidate's reasons.
    pub unbound: Vec<Assignment>,
}

fn render_no_fit(unbound: &[Assignment]) -> String {
    let mut out = String::new();
    for a in unbound {
        let cons: Vec<String> = a
            .constraints
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        out.push_str(&format!(
            "no equipment fits step `{}` requirement `{}` ({}{}{})",
            a.step,
            a.requirement,
            a.capability,
            if cons.is_empty() { "" } else { ": " },
            cons.join(", ")
        ));
        if a.candidates.is_empty() {
            out.push_str(": the inventory has no equipment at all");
        }
        for c in &a.candidates {
            let why: Vec<&str> = c.reasons.iter().map(|r| r.message.as_str()).collect();
            out.push_str(&format!("\n  {}: {}", c.equipment, why.join("; ")));
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// Bind, failing with a clear error when any requirement has no fitting equipment.
pub fn bind_strict(recipe: &Recipe, inventory: &Inventory, as_of: Date) -> Result<Binding, NoFit> {
    let b = bind(recipe, inventory, as_of);
    if b.is_complete() {
        Ok(b)
    } else {
        Err(NoFit {
            unbound: b.unbound().cloned().collect(),
        })
    }
}

pub(crate) fn check_constraint(
    pname: &str,
    c: &Constraint,
    offered: Option<&ParamValue>,
) -> Result<(), Reason> {
    let Some(v) = offered else {
        return Err(Reason {
            kind: ReasonKind::MissingParameter,
            message: format!("does not state `{pname}` (required {c})"),
        });
    };
    let fail = |kind, message| Err(Reason { kind, message });
    match (c, v) {
        (Constraint::IsBool { value }, ParamValue::Bool(b)) => {
            if value == b {
                Ok(())
            } else {
                fail(
                    ReasonKind::ValueMismatch,
                    format!("`{pname}` is {b}, required {value}"),
                )
            }
        }
        (Constraint::OneOf { values }, ParamValue::Text(t)) => {
            if values.iter().any(|x| x == t) {
                Ok(())
            } else {
                fail(
                    ReasonKind::ValueMismatch,
                    format!("`{pname}` is {t}, required {c}"),
                )
            }
        }
        (_, ParamValue::Range { .. }) => {
            let Some((lo, hi)) = v.canonical_range() else {
                return Ok(());
            };
            let eps = 1e-9 * lo.abs().max(hi.abs()).max(1.0);
            match c {
                Constraint::Covers { min, max, unit } => {
                    let (a, b) = (unit.to_canonical(*min), unit.to_canonical(*max));
                    if lo <= a + eps && hi >= b - eps {
                        Ok(())
                    } else {
                        fail(
                            ReasonKind::OutOfRange,
                            format!("`{pname}` range {v} does not cover the required {c}"),
                        )
                    }
                }
                Constraint::AtLeast { value, unit } => {
                    if hi >= unit.to_canonical(*value) - eps {
                        Ok(())
                    } else {
                        let kind = if CAPACITY_PARAMS.contains(&pname) {
                            ReasonKind::CapacityTooSmall
                        } else {
                            ReasonKind::OutOfRange
                        };
                        let what = if kind == ReasonKind::CapacityTooSmall {
                            "capacity too small"
                        } else {
                            "out of range"
                        };
                        fail(kind, format!("{what}: `{pname}` offers {v}, required {c}"))
                    }
                }
                Constraint::AtMost { value, unit } => {
                    if lo <= unit.to_canonical(*value) + eps {
                        Ok(())
                    } else {
                        fail(
                            ReasonKind::OutOfRange,
                            format!("`{pname}` is {v}, required {c}"),
                        )
                    }
                }
                _ => fail(
                    ReasonKind::ValueMismatch,
                    format!("`{pname}` is {v}, required {c}"),
                ),
            }
        }
        _ => fail(
            ReasonKind::ValueMismatch,
            format!("`{pname}` is {v}, required {c}"),
        ),
    }
}

/// Evaluate one requirement against one piece of equipment (excluding counters).
fn evaluate(req: &Requirement, e: &Equipment, as_of: Date, end: Date) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let Some(cap) = e.capabilities.get(&req.capability) else {
        reasons.push(Reason {
            kind: ReasonKind::MissingCapability,
            message: format!("does not offer `{}`", req.capability),
        });
        return reasons;
    };
    for (pname, c) in &req.parameters {
        if let Err(r) = check_constraint(pname, c, cap.parameters.get(pname)) {
            reasons.push(r);
        }
    }
    match e.qualification.validity(as_of) {
        Validity::Valid { until } => {
            if until <= end {
                reasons.push(Reason {
                    kind: ReasonKind::QualificationExpired,
                    message: format!(
                        "qualification expires {until}, before the step's nominal end on {end}"
                    ),
                });
            }
        }
        v @ Validity::Expired { .. } => reasons.push(Reason {
            kind: ReasonKind::QualificationExpired,
            message: v.to_string(),
        }),
        v => reasons.push(Reason {
            kind: ReasonKind::NotQualified,
            message: v.to_string(),
        }),
    }
    reasons
}

fn check_counters(
    uses: &BTreeMap<String, u64>,
    e: &Equipment,
    consumed: &HashMap<(String, String), u64>,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    for (name, n) in uses {
        match e.counter(name) {
            None => reasons.push(Reason {
                kind: ReasonKind::MissingCounter,
                message: format!("has no `{name}` counter, but the step uses {n}"),
            }),
            Some(c) => {
                let before = consumed
                    .get(&(e.id.clone(), name.clone()))
                    .copied()
                    .unwrap_or(0);
                let left = c.remaining().saturating_sub(before);
                if left < *n {
                    reasons.push(Reason {
                        kind: ReasonKind::UsageExhausted,
                        message: format!(
                            "`{name}` used {} of {}{}: {left} left, the step needs {n}",
                            c.used,
                            c.max,
                            if before > 0 {
                                format!(" (+{before} by earlier steps of this recipe)")
                            } else {
                                String::new()
                            }
                        ),
                    });
                }
            }
        }
    }
    reasons
}

/// Bind every requirement of `recipe` to equipment of `inventory`, judging qualification
/// on `as_of` (passed in; never read from a clock). Always returns a full report;
/// [`Binding::is_complete`] tells whether everything was bound.
pub fn bind(recipe: &Recipe, inventory: &Inventory, as_of: Date) -> Binding {
    // Every requirement, with its step index.
    let reqs: Vec<(usize, &Requirement)> = recipe
        .steps
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.requires.iter().map(move |r| (i, r)))
        .collect();

    // Equipment in id order: the binding must not depend on how the source lists it.
    let mut order: Vec<usize> = (0..inventory.equipment.len()).collect();
    order.sort_by(|&a, &b| inventory.equipment[a].id.cmp(&inventory.equipment[b].id));

    let mut binder = Binder {
        recipe,
        inventory,
        as_of,
        offsets: recipe.nominal_offsets_h(),
        order,
        consumed: HashMap::new(),
        group_choice: HashMap::new(),
    };
    let assignments = reqs
        .iter()
        .map(|&(si, req)| binder.assign(&reqs, si, req))
        .collect();
    Binding {
        recipe: recipe.procedure.id.clone(),
        site: inventory.inventory.site.clone(),
        as_of,
        assignments,
    }
}

/// A piece of equipment that meets every constraint of a requirement: its index, the day
/// its qualification ends, and the fewest uses left on a counter after this requirement.
type Fitting = (usize, Date, u64);

/// A candidate: its equipment index and its reasons not to fit (empty when it fits).
type Judged = (usize, Vec<Reason>);

/// The state [`bind`] carries from one requirement to the next: counter uses booked so far
/// and the equipment each group was bound to.
struct Binder<'a> {
    recipe: &'a Recipe,
    inventory: &'a Inventory,
    as_of: Date,
    /// Nominal start and end hours of each step.
    offsets: Vec<(f64, f64)>,
    /// Equipment indices in id order.
    order: Vec<usize>,
    /// Uses booked per (equipment, counter).
    consumed: HashMap<(String, String), u64>,
    /// The equipment chosen for each group (`None`: nothing fitted).
    group_choice: HashMap<String, Option<String>>,
}

impl Binder<'_> {
    /// The day step `step_idx` ends when the recipe starts on `as_of`.
    fn end_date(&self, step_idx: usize) -> Date {
        let end_h = self.offsets.get(step_idx).map_or(0.0, |o| o.1);
        self.as_of.plus_days((end_h / 24.0).floor() as i64)
    }

    /// Binds requirement `req` of step `si`; `reqs` are all requirements of the recipe.
    fn assign(
        &mut self,
        reqs: &[(usize, &Requirement)],
        si: usize,
        req: &Requirement,
    ) -> Assignment {
        let step = &self.recipe.steps[si];
        // The requirements that must share this equipment.
        let members: Vec<(usize, &Requirement)> = match &req.group {
            Some(g) => reqs
                .iter()
                .filter(|(_, r)| r.group.as_deref() == Some(g))
                .copied()
                .collect(),
            None => vec![(si, req)],
        };
        let mut total_uses: BTreeMap<String, u64> = BTreeMap::new();
        for (_, r) in &members {
            for (k, n) in &r.uses {
                *total_uses.entry(k.clone()).or_default() += n;
            }
        }
        let (candidates, fitting) = self.judge(si, req, &members, &total_uses);
        let group_already_bound = req
            .group
            .as_ref()
            .is_some_and(|g| self.group_choice.contains_key(g));
        let chosen = self.choose(req, &fitting, &total_uses);
        let inventory = self.inventory;
        let out = verdicts(
            inventory,
            req,
            candidates,
            &fitting,
            chosen,
            group_already_bound,
        );
        Assignment {
            step: step.id.clone(),
            requirement: req.name.clone(),
            capability: req.capability.clone(),
            group: req.group.clone(),
            constraints: req
                .parameters
                .iter()
                .map(|(k, c)| (k.clone(), c.to_string()))
                .collect(),
            equipment: chosen.map(|i| inventory.equipment[i].id.clone()),
            candidates: out,
        }
    }

    /// Judges every piece of equipment offering the capability of `req` (of step `si`):
    /// its reasons not to fit (empty when it fits), and the ones that fit.
    fn judge(
        &self,
        si: usize,
        req: &Requirement,
        members: &[(usize, &Requirement)],
        total_uses: &BTreeMap<String, u64>,
    ) -> (Vec<Judged>, Vec<Fitting>) {
        let (inventory, as_of) = (self.inventory, self.as_of);
        let mut candidates = Vec::new();
        let mut fitting: Vec<Fitting> = Vec::new();
        for &ei in &self.order {
            let e = &inventory.equipment[ei];
            let mut reasons = evaluate(req, e, as_of, self.end_date(si));
            let offers = !matches!(
                reasons.first().map(|r| r.kind),
                Some(ReasonKind::MissingCapability)
            );
            if !offers {
                // Equipment without the capability is not a candidate; listing it would
                // drown the report.
                continue;
            }
            if let Some(g) = &req.group {
                for &(msi, m) in members {
                    if std::ptr::eq(m, req) {
                        continue;
                    }
                    for r in evaluate(m, e, as_of, self.end_date(msi)) {
                        // The same shortfall already reported for this requirement says enough.
                        if reasons.iter().any(|x| x.message == r.message) {
                            continue;
                        }
                        reasons.push(Reason {
                            kind: ReasonKind::GroupConflict,
                            message: format!(
                                "group `{g}`, step `{}` / {}: {}",
                                self.recipe.steps[msi].id, m.name, r.message
                            ),
                        });
                    }
                }
            }
            // A group's counter uses are all checked (and booked) when its first member
            // is bound; later members need no second check.
            let empty = BTreeMap::new();
            let uses = match &req.group {
                Some(g) if self.group_choice.contains_key(g) => &empty,
                Some(_) => total_uses,
                None => &req.uses,
            };
            reasons.extend(check_counters(uses, e, &self.consumed));
            if reasons.is_empty() {
                let until = match e.qualification.validity(as_of) {
                    Validity::Valid { until } => until,
                    _ => as_of,
                };
                let margin = uses
                    .iter()
                    .filter_map(|(k, n)| {
                        e.counter(k).map(|c| {
                            let before = self
                                .consumed
                                .get(&(e.id.clone(), k.clone()))
                                .copied()
                                .unwrap_or(0);
                            c.remaining().saturating_sub(before).saturating_sub(*n)
                        })
                    })
                    .min()
                    .unwrap_or(u64::MAX);
                fitting.push((ei, until, margin));
            }
            candidates.push((ei, reasons));
        }
        (candidates, fitting)
    }

    /// Chooses the equipment for `req`: the group's earlier choice, or the fitting one
    /// qualified longest, then with most uses left, then first by id; books its counter uses.
    fn choose(
        &mut self,
        req: &Requirement,
        fitting: &[Fitting],
        total_uses: &BTreeMap<String, u64>,
    ) -> Option<usize> {
        let inventory = self.inventory;
        if let Some(prev) = req.group.as_ref().and_then(|g| self.group_choice.get(g)) {
            return prev
                .as_ref()
                .and_then(|id| inventory.equipment.iter().position(|e| &e.id == id));
        }
        let best = fitting
            .iter()
            .max_by(|a, b| {
                a.1.cmp(&b.1).then(a.2.cmp(&b.2)).then(
                    inventory.equipment[b.0]
                        .id
                        .cmp(&inventory.equipment[a.0].id),
                )
            })
            .map(|x| x.0);
        let booked = if let Some(g) = &req.group {
            self.group_choice
                .insert(g.clone(), best.map(|i| inventory.equipment[i].id.clone()));
            total_uses
        } else {
            &req.uses
        };
        if let Some(i) = best {
            for (k, n) in booked {
                *self
                    .consumed
                    .entry((inventory.equipment[i].id.clone(), k.clone()))
                    .or_default() += n;
            }
        }
        best
    }
}

/// The verdict on each candidate: chosen, fits but ranked lower, or rejected with its
/// reasons.
fn verdicts(
    inventory: &Inventory,
    req: &Requirement,
    candidates: Vec<Judged>,
    fitting: &[Fitting],
    chosen: Option<usize>,
    group_already_bound: bool,
) -> Vec<Candidate> {
    candidates
        .into_iter()
        .map(|(ei, reasons)| {
            let e = &inventory.equipment[ei];
            let until = fitting.iter().find(|f| f.0 == ei).map(|f| f.1);
            match (Some(ei) == chosen, until) {
                (true, _) => Candidate {
                    equipment: e.id.clone(),
                    verdict: Verdict::Chosen,
                    reasons: vec![Reason {
                        kind: ReasonKind::Fits,
                        message: chosen_reason(req, e, ei, until, fitting, group_already_bound),
                    }],
                },
                (false, Some(u)) => Candidate {
                    equipment: e.id.clone(),
                    verdict: Verdict::Fits,
                    reasons: vec![Reason {
                        kind: ReasonKind::Fits,
                        message: format!(
                            "meets every constraint, qualified until {u}; ranked lower{}",
                            if group_already_bound {
                                " (the group is already bound)"
                            } else {
                                ""
                            }
                        ),
                    }],
                },
                (false, None) => Candidate {
                    equipment: e.id.clone(),
                    verdict: Verdict::Rejected,
                    reasons,
                },
            }
        })
        .collect()
}

fn chosen_reason(
    req: &Requirement,
    e: &Equipment,
    ei: usize,
    until: Option<Date>,
    fitting: &[Fitting],
    group_already_bound: bool,
) -> String {
    let mut parts = Vec::new();
    for pname in req.parameters.keys() {
        if let Some(v) = e
            .capabilities
            .get(&req.capability)
            .and_then(|c| c.parameters.get(pname))
        {
            parts.push(format!("{pname} {v}"));
        }
    }
    for (name, n) in &req.uses {
        if let Some(c) = e.counter(name) {
            parts.push(format!("{name} {} of {} used, needs {n}", c.used, c.max));
        }
    }
    let offers = if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    };
    let n_fit = fitting.len();
    let me = fitting.iter().find(|f| f.0 == ei);
    let ties: Vec<&(usize, Date, u64)> = fitting.iter().filter(|f| Some(f.1) == until).collect();
    let margin = me.map(|m| m.2);
    let margin_ties = ties.iter().filter(|f| Some(f.2) == margin).count();
    let until = until
        .map(|u| format!(", qualified until {u}"))
        .unwrap_or_default();
    let rank = if group_already_bound {
        format!(
            "; bound to group `{}` by an earlier step",
            req.group.as_deref().unwrap_or_default()
        )
    } else if n_fit <= 1 {
        "; the only one that fits".to_string()
    } else if ties.len() > 1 && margin_ties < ties.len() {
        format!(
            "; {n_fit} fit, {} share the longest qualification validity: most counter uses left ({})",
            ties.len(),
            req.uses.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    } else if ties.len() > 1 {
        format!(
            "; {n_fit} fit, {} equally ranked: smallest equipment id",
            ties.len()
        )
    } else {
        format!("; longest qualification validity among {n_fit} fitting")
    };
    format!("meets every constraint{offers}{until}{rank}")
}

impl fmt::Display for ReasonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// Read a binding back from its JSON form (as written by `atmpflow recipe bind --json`).
pub fn parse_binding_json(text: &str) -> Result<Binding, serde_json::Error> {
    serde_json::from_str(text)
}
