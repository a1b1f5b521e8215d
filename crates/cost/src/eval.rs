//! Pricing simulated replications: every line's yearly amount per replication, then means and
//! 95 % confidence intervals across replications (`sim::mean_ci`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim::{Replication, Stat, mean_ci};

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
    /// a replication released no dose or admitted no patient (e.g. zero demand).
    pub fn summarise(&self, reps: &[Replication]) -> Result<CostSummary, CostError> {
        if reps.is_empty() {
            return Err(CostError::NoReplications);
        }
        let priced: Vec<ReplicationCost> = reps.iter().map(|r| self.replication(r)).collect();
        for rc in &priced {
            let missing = if rc.patients_per_year <= 0.0 {
                Some(("zero demand: no patient was admitted", "patient"))
            } else if rc.doses_per_year <= 0.0 {
                Some(("no dose was released", "dose"))
            } else {
                None
            };
            if let Some((what, unit)) = missing {
                let hint = if rc.patients_per_year <= 0.0 {
                    "; give the scenario a demand above zero (or a longer horizon)".to_string()
                } else {
                    "; check the simulation results for lost patients or a horizon too short \
                     for one batch"
                        .to_string()
                };
                return Err(CostError::Undefined {
                    what: what.to_string(),
                    unit,
                    replication: rc.index,
                    patients_per_year: rc.patients_per_year,
                    doses_per_year: rc.doses_per_year,
                    annual_total: rc.total,
                    currency: self.currency.clone(),
                    hint,
                });
            }
        }
        let col = |f: &dyn Fn(&ReplicationCost) -> f64| -> Stat {
            mean_ci(&priced.iter().map(f).collect::<Vec<_>>())
        };
        let mut by_category = BTreeMap::new();
        let mut per_dose_by_category = BTreeMap::new();
        for c in Category::ALL {
            let idx: Vec<usize> = (0..self.lines.len())
                .filter(|&i| self.lines[i].category == c)
                .collect();
            let sum = |rc: &ReplicationCost| idx.iter().map(|&i| rc.lines[i]).sum::<f64>();
            by_category.insert(c.name().to_string(), col(&sum));
            per_dose_by_category.insert(
                c.name().to_string(),
                col(&|rc: &ReplicationCost| sum(rc) / rc.doses_per_year),
            );
        }
        let lines = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| LineCost {
                name: l.name.clone(),
                category: l.category.name().to_string(),
                behaviour: if l.is_variable() { "variable" } else { "fixed" }.to_string(),
                annual: col(&|rc| rc.lines[i]),
                per_dose: col(&|rc| rc.lines[i] / rc.doses_per_year),
            })
            .collect();
        Ok(CostSummary {
            currency: self.currency.clone(),
            price_basis: self.price_basis.clone(),
            annualisation: match self.annualisation {
                Annualisation::Annuity => "annuity",
                Annualisation::StraightLine => "straight_line",
            }
            .to_string(),
            discount_rate: self.discount_rate,
            replications: priced.len() as u32,
            per_dose: col(&|rc| rc.total / rc.doses_per_year),
            per_patient_treated: col(&|rc| rc.total / rc.patients_per_year),
            annual_total: col(&|rc| rc.total),
            fixed_annual: col(&|rc| rc.fixed),
            variable_annual: col(&|rc| rc.variable),
            fixed_per_dose: col(&|rc| rc.fixed / rc.doses_per_year),
            variable_per_dose: col(&|rc| rc.variable / rc.doses_per_year),
            doses_per_year: col(&|rc| rc.doses_per_year),
            patients_per_year: col(&|rc| rc.patients_per_year),
            by_category,
            per_dose_by_category,
            investment: self.investment,
            capital_annuity: self.capital_annuity,
            capital_straight_line: self.capital_straight_line,
            lines,
        })
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
