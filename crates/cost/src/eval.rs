//! Pricing simulated replications: every line's yearly amount per replication, then means and
//! 95 % confidence intervals across replications, accumulated one replication at a time
//! ([`CostAccumulator`], with `sim::Running`) so that memory does not grow with their number.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim::{Replication, Running, Stat};

use crate::inputs::Annualisation;
use crate::resolve::{Category, CostModel, Count, Driver, Line};

/// Errors of pricing a simulation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CostError {
    /// Nothing to price.
    #[error("no replications to price")]
    NoReplications,
    /// A replication released no dose or admitted no patient, so per-dose and per-patient
    /// costs are undefined.
    #[error(
        "{what} in replication {replication} ({patients_per_year:.1} patients and {doses_per_year:.1} \
         doses per year): cost per {unit} is undefined; the plant still costs {annual_total:.0} \
         {currency} a year{hint}"
    )]
    Undefined {
        /// What is missing.
        what: String,
        /// Per dose or per patient.
        unit: &'static str,
        /// Replication index.
        replication: u32,
        /// Patients admitted per year in that replication.
        patients_per_year: f64,
        /// Doses released per year in that replication.
        doses_per_year: f64,
        /// Yearly cost of that replication.
        annual_total: f64,
        /// Currency.
        currency: String,
        /// A hint for the user.
        hint: String,
    },
}

/// The priced lines of one replication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationCost {
    /// Replication index.
    pub index: u32,
    /// Yearly amount per line (in [`CostModel::lines`] order).
    pub lines: Vec<f64>,
    /// Yearly total.
    pub total: f64,
    /// Yearly fixed part.
    pub fixed: f64,
    /// Yearly variable part.
    pub variable: f64,
    /// Doses released per year.
    pub doses_per_year: f64,
    /// Patients admitted per year (treated or lost).
    pub patients_per_year: f64,
}

/// One line of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineCost {
    /// Name.
    pub name: String,
    /// Category name.
    pub category: String,
    /// `fixed` or `variable`.
    pub behaviour: String,
    /// Amount per year.
    pub annual: Stat,
    /// Amount per released dose.
    pub per_dose: Stat,
}

/// Cost of a simulated study: the `cost` block of `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSummary {
    /// Currency label.
    pub currency: String,
    /// Price basis note.
    pub price_basis: String,
    /// `annuity` or `straight_line`: how investments enter the totals.
    pub annualisation: String,
    /// Discount rate of the annuity.
    pub discount_rate: Option<f64>,
    /// Replications priced.
    pub replications: u32,
    /// Yearly cost divided by doses released per year.
    pub per_dose: Stat,
    /// Yearly cost divided by patients admitted per year, lost patients included
    /// (intention to treat).
    pub per_patient_treated: Stat,
    /// Yearly total.
    pub annual_total: Stat,
    /// Yearly fixed part (does not change with activity).
    pub fixed_annual: Stat,
    /// Yearly variable part (grows with batches, runs, doses, patients, hours).
    pub variable_annual: Stat,
    /// Fixed part per dose.
    pub fixed_per_dose: Stat,
    /// Variable part per dose.
    pub variable_per_dose: Stat,
    /// Doses released per year.
    pub doses_per_year: Stat,
    /// Patients admitted per year.
    pub patients_per_year: Stat,
    /// Yearly cost per category.
    pub by_category: BTreeMap<String, Stat>,
    /// Cost per dose per category.
    pub per_dose_by_category: BTreeMap<String, Stat>,
    /// Total investment (equipment purchase and qualification, room construction).
    pub investment: f64,
    /// Investments per year as an annuity.
    pub capital_annuity: f64,
    /// Investments per year straight-line.
    pub capital_straight_line: f64,
    /// Every line.
    pub lines: Vec<LineCost>,
}

impl CostModel {
    /// The yearly amount of one line in one replication.
    pub fn line_amount(line: &Line, rep: &Replication) -> f64 {
        match &line.driver {
            Driver::Fixed { per_year } => *per_year,
            Driver::PerCount { unit_cost, count } => unit_cost * count_of(count, rep),
            Driver::StaffHours {
                per_head,
                resource,
                productive_hours,
                whole_heads,
            } => {
                let hours = rep
                    .busy_hours_per_year
                    .get(*resource)
                    .copied()
                    .unwrap_or(0.0);
                let mut heads = hours / productive_hours;
                if *whole_heads {
                    heads = (heads - 1e-9).ceil().max(0.0);
                }
                heads * per_head
            }
        }
    }

    /// Prices one replication.
    pub fn replication(&self, rep: &Replication) -> ReplicationCost {
        let lines: Vec<f64> = self
            .lines
            .iter()
            .map(|l| Self::line_amount(l, rep))
            .collect();
        let (mut fixed, mut variable) = (0.0, 0.0);
        for (l, v) in self.lines.iter().zip(&lines) {
            if l.is_variable() {
                variable += v;
            } else {
                fixed += v;
            }
        }
        ReplicationCost {
            index: rep.index,
            lines,
            total: fixed + variable,
            fixed,
            variable,
            doses_per_year: rep.released_per_year,
            patients_per_year: patients_per_year(rep),
        }
    }

    /// Prices every replication and summarises across them. Fails with a clear message when
    /// a replication released no dose or admitted no patient (e.g. zero demand). The same as
    /// adding each replication to [`CostModel::accumulator`] in turn.
    pub fn summarise(&self, reps: &[Replication]) -> Result<CostSummary, CostError> {
        let mut acc = self.accumulator();
        for r in reps {
            acc.add(r);
        }
        acc.finish()
    }

    /// A summary built one replication at a time, in memory independent of the number of
    /// replications (see [`CostAccumulator`]).
    pub fn accumulator(&self) -> CostAccumulator {
        CostAccumulator::new(self.clone())
    }
}

/// Running statistics of the figures every replication is priced at.
#[derive(Debug, Clone, Default)]
struct Totals {
    per_dose: Running,
    per_patient: Running,
    annual_total: Running,
    fixed_annual: Running,
    variable_annual: Running,
    fixed_per_dose: Running,
    variable_per_dose: Running,
    doses_per_year: Running,
    patients_per_year: Running,
}

impl Totals {
    fn push(&mut self, rc: &ReplicationCost) {
        self.per_dose.push(rc.total / rc.doses_per_year);
        self.per_patient.push(rc.total / rc.patients_per_year);
        self.annual_total.push(rc.total);
        self.fixed_annual.push(rc.fixed);
        self.variable_annual.push(rc.variable);
        self.fixed_per_dose.push(rc.fixed / rc.doses_per_year);
        self.variable_per_dose.push(rc.variable / rc.doses_per_year);
        self.doses_per_year.push(rc.doses_per_year);
        self.patients_per_year.push(rc.patients_per_year);
    }

    fn merge(&mut self, o: &Totals) {
        self.per_dose.merge(&o.per_dose);
        self.per_patient.merge(&o.per_patient);
        self.annual_total.merge(&o.annual_total);
        self.fixed_annual.merge(&o.fixed_annual);
        self.variable_annual.merge(&o.variable_annual);
        self.fixed_per_dose.merge(&o.fixed_per_dose);
        self.variable_per_dose.merge(&o.variable_per_dose);
        self.doses_per_year.merge(&o.doses_per_year);
        self.patients_per_year.merge(&o.patients_per_year);
    }
}

/// The cost summary built one replication at a time: each replication is priced as it
/// arrives and only the count, mean and sum of squared deviations of every figure are kept
/// (`sim::Running`, the accumulator of the simulator's own figures), so memory grows with the
/// number of cost lines, not with the number of replications. Means are the plain sum over
/// the count, bit for bit those of a two-pass `sim::mean_ci` over the same values in the same
/// order; intervals come from Welford's variance and differ from the two-pass ones only by
/// rounding (≤ 1e-12 relative on the examples, tested).
///
/// Add replications in replication order (as `sim::run_streamed` hands them over), or build
/// parts over consecutive ranges and [`merge`](Self::merge) them in order, for figures that do
/// not depend on the number of threads.
#[derive(Debug, Clone)]
pub struct CostAccumulator {
    model: CostModel,
    /// Indices of the lines of each category of [`Category::ALL`].
    categories: Vec<Vec<usize>>,
    reps: u32,
    /// The undefined cost of the replication with the lowest index.
    undefined: Option<CostError>,
    totals: Totals,
    by_category: Vec<Running>,
    per_dose_by_category: Vec<Running>,
    line_annual: Vec<Running>,
    line_per_dose: Vec<Running>,
}

impl CostAccumulator {
    /// An empty summary of `model`.
    pub fn new(model: CostModel) -> Self {
        let categories: Vec<Vec<usize>> = Category::ALL
            .iter()
            .map(|&c| {
                (0..model.lines.len())
                    .filter(|&i| model.lines[i].category == c)
                    .collect()
            })
            .collect();
        let (nc, nl) = (categories.len(), model.lines.len());
        CostAccumulator {
            model,
            categories,
            reps: 0,
            undefined: None,
            totals: Totals::default(),
            by_category: vec![Running::default(); nc],
            per_dose_by_category: vec![Running::default(); nc],
            line_annual: vec![Running::default(); nl],
            line_per_dose: vec![Running::default(); nl],
        }
    }

    /// The cost model priced with.
    pub fn model(&self) -> &CostModel {
        &self.model
    }

    /// Replications added.
    pub fn replications(&self) -> u32 {
        self.reps
    }

    /// Prices the next replication and adds it.
    pub fn add(&mut self, rep: &Replication) {
        let rc = self.model.replication(rep);
        self.reps += 1;
        if let Some(e) = self.undefined_cost(&rc)
            && self
                .undefined
                .as_ref()
                .is_none_or(|u| rc.index < undefined_index(u))
        {
            self.undefined = Some(e);
        }
        self.totals.push(&rc);
        for (k, idx) in self.categories.iter().enumerate() {
            let sum = idx.iter().map(|&i| rc.lines[i]).sum::<f64>();
            self.by_category[k].push(sum);
            self.per_dose_by_category[k].push(sum / rc.doses_per_year);
        }
        for (i, v) in rc.lines.iter().enumerate() {
            self.line_annual[i].push(*v);
            self.line_per_dose[i].push(v / rc.doses_per_year);
        }
    }

    /// Adds the replications of `other`, which follow those of `self` (same cost model).
    /// Counts and sums add and the variances combine exactly (Chan et al.), so the result
    /// equals adding every replication to one accumulator up to rounding; an undefined cost
    /// is that of the lowest replication index on either side.
    pub fn merge(&mut self, other: &CostAccumulator) {
        debug_assert_eq!(self.model.lines.len(), other.model.lines.len());
        self.reps += other.reps;
        if let Some(e) = &other.undefined
            && self
                .undefined
                .as_ref()
                .is_none_or(|u| undefined_index(e) < undefined_index(u))
        {
            self.undefined = Some(e.clone());
        }
        self.totals.merge(&other.totals);
        let pairs = [
            (&mut self.by_category, &other.by_category),
            (&mut self.per_dose_by_category, &other.per_dose_by_category),
            (&mut self.line_annual, &other.line_annual),
            (&mut self.line_per_dose, &other.line_per_dose),
        ];
        for (mine, theirs) in pairs {
            for (a, b) in mine.iter_mut().zip(theirs) {
                a.merge(b);
            }
        }
    }

    /// Why cost per patient or per dose is undefined in a priced replication, if it is.
    fn undefined_cost(&self, rc: &ReplicationCost) -> Option<CostError> {
        let (what, unit) = if rc.patients_per_year <= 0.0 {
            ("zero demand: no patient was admitted", "patient")
        } else if rc.doses_per_year <= 0.0 {
            ("no dose was released", "dose")
        } else {
            return None;
        };
        let hint = if rc.patients_per_year <= 0.0 {
            "; give the scenario a demand above zero (or a longer horizon)".to_string()
        } else {
            "; check the simulation results for lost patients or a horizon too short \
             for one batch"
                .to_string()
        };
        Some(CostError::Undefined {
            what: what.to_string(),
            unit,
            replication: rc.index,
            patients_per_year: rc.patients_per_year,
            doses_per_year: rc.doses_per_year,
            annual_total: rc.total,
            currency: self.model.currency.clone(),
            hint,
        })
    }

    /// The summary: means with 95 % intervals across the replications added. Fails without
    /// replications, and when a replication released no dose or admitted no patient (the one
    /// with the lowest index is named).
    pub fn finish(self) -> Result<CostSummary, CostError> {
        if self.reps == 0 {
            return Err(CostError::NoReplications);
        }
        if let Some(e) = self.undefined {
            return Err(e);
        }
        let m = &self.model;
        let mut by_category = BTreeMap::new();
        let mut per_dose_by_category = BTreeMap::new();
        for (k, c) in Category::ALL.iter().enumerate() {
            by_category.insert(c.name().to_string(), self.by_category[k].stat());
            per_dose_by_category.insert(c.name().to_string(), self.per_dose_by_category[k].stat());
        }
        let lines = m
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| LineCost {
                name: l.name.clone(),
                category: l.category.name().to_string(),
                behaviour: if l.is_variable() { "variable" } else { "fixed" }.to_string(),
                annual: self.line_annual[i].stat(),
                per_dose: self.line_per_dose[i].stat(),
            })
            .collect();
        let t = &self.totals;
        Ok(CostSummary {
            currency: m.currency.clone(),
            price_basis: m.price_basis.clone(),
            annualisation: match m.annualisation {
                Annualisation::Annuity => "annuity",
                Annualisation::StraightLine => "straight_line",
            }
            .to_string(),
            discount_rate: m.discount_rate,
            replications: self.reps,
            per_dose: t.per_dose.stat(),
            per_patient_treated: t.per_patient.stat(),
            annual_total: t.annual_total.stat(),
            fixed_annual: t.fixed_annual.stat(),
            variable_annual: t.variable_annual.stat(),
            fixed_per_dose: t.fixed_per_dose.stat(),
            variable_per_dose: t.variable_per_dose.stat(),
            doses_per_year: t.doses_per_year.stat(),
            patients_per_year: t.patients_per_year.stat(),
            by_category,
            per_dose_by_category,
            investment: m.investment,
            capital_annuity: m.capital_annuity,
            capital_straight_line: m.capital_straight_line,
            lines,
        })
    }
}

fn undefined_index(e: &CostError) -> u32 {
    match e {
        CostError::Undefined { replication, .. } => *replication,
        CostError::NoReplications => u32::MAX,
    }
}

/// Patients admitted per year in a replication's observation window.
pub fn patients_per_year(rep: &Replication) -> f64 {
    if rep.years > 0.0 {
        f64::from(rep.patients) / rep.years
    } else {
        0.0
    }
}

fn sum_at(v: &[f64], idx: &[usize]) -> f64 {
    idx.iter().map(|&i| v.get(i).copied().unwrap_or(0.0)).sum()
}

/// The simulated count a variable cost is multiplied with, per year.
pub fn count_of(c: &Count, rep: &Replication) -> f64 {
    match c {
        Count::Batches => rep.batches_started_per_year + rep.remanufactured_per_year,
        Count::StepRuns { steps } => sum_at(&rep.starts_per_year, steps),
        Count::StepFailures { steps } => sum_at(&rep.failures_per_year, steps),
        Count::Doses => rep.released_per_year,
        Count::Patients => patients_per_year(rep),
        Count::BusyHours { resource } => rep
            .busy_hours_per_year
            .get(*resource)
            .copied()
            .unwrap_or(0.0),
    }
}
