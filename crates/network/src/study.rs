//! A study over network parameters: `atmpflow study` with a study file whose `[study]` names a
//! `network` file instead of scenarios. Every combination of the axes' values is a point; each
//! point is the network file with those values set, planned anew by [`crate::solve`]. The
//! caller patches the file and loads each point; this module holds what a point gives.

use serde::{Deserialize, Serialize};

use crate::solve::{Plan, SolveError, Status};

/// At most this many points in one network study.
pub const MAX_POINTS: usize = 10_000;

/// The `[study]` table of a network study file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySettings {
    /// Name shown in the report.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The network file (relative to the study file) whose parameters the axes sweep.
    pub network: String,
}

/// What one point's plan gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointPlan {
    /// How the solver ended.
    pub status: Status,
    /// Relative gap of the plan.
    pub gap: f64,
    /// Patients per year of the point.
    pub patients: f64,
    /// Total cost per year.
    pub total_cost: f64,
    /// Fixed cost per year of the open sites.
    pub fixed_cost: f64,
    /// Manufacturing cost per year.
    pub manufacturing_cost: f64,
    /// Transport cost per year.
    pub transport_cost: f64,
    /// Total cost per patient.
    pub cost_per_patient: f64,
    /// Names of the open sites, in file order.
    pub open_sites: Vec<String>,
    /// Names of the open sites that make patients (an existing site may stay idle).
    pub serving_sites: Vec<String>,
    /// Patient-weighted mean vein-to-vein days (lead time plus round trip).
    pub mean_v2v_days: Option<f64>,
    /// Longest vein-to-vein days of a flow with patients.
    pub max_v2v_days: Option<f64>,
}

impl PointPlan {
    /// The figures of a plan.
    pub fn of(plan: &Plan) -> Self {
        let max = plan
            .flows
            .iter()
            .map(|f| f.v2v_days)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        Self {
            status: plan.status,
            gap: plan.gap,
            patients: plan.patients,
            total_cost: plan.cost.total,
            fixed_cost: plan.cost.fixed,
            manufacturing_cost: plan.cost.manufacturing,
            transport_cost: plan.cost.transport,
            cost_per_patient: plan.cost.per_patient,
            open_sites: plan
                .open_site_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            serving_sites: plan
                .sites
                .iter()
                .filter(|s| s.open && s.patients > 0.0)
                .map(|s| s.name.clone())
                .collect(),
            mean_v2v_days: plan.mean_v2v_days(),
            max_v2v_days: max,
        }
    }
}

/// A point's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PointOutcome {
    /// A plan.
    Planned {
        /// Its figures.
        plan: PointPlan,
    },
    /// No plan: why (the rule or demand in the way, or the point's file is not valid).
    NoPlan {
        /// Reasons.
        reasons: Vec<String>,
    },
}

impl PointOutcome {
    /// The outcome of solving a point.
    pub fn from_solve(r: Result<Plan, SolveError>) -> Self {
        match r {
            Ok(p) => PointOutcome::Planned {
                plan: PointPlan::of(&p),
            },
            Err(SolveError::Infeasible(reasons)) => PointOutcome::NoPlan { reasons },
            Err(SolveError::Solver(m)) => PointOutcome::NoPlan { reasons: vec![m] },
        }
    }

    /// The plan's figures, if there is a plan.
    pub fn plan(&self) -> Option<&PointPlan> {
        match self {
            PointOutcome::Planned { plan } => Some(plan),
            PointOutcome::NoPlan { .. } => None,
        }
    }
}

/// One point of the study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyPoint {
    /// Index from 0: axes in file order, the last axis fastest.
    pub index: usize,
    /// The axes' values at this point, in axis order.
    pub values: Vec<f64>,
    /// The plan or why there is none.
    #[serde(flatten)]
    pub outcome: PointOutcome,
}

/// A whole network study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkStudy {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The network file as the study file names it.
    pub network_file: String,
    /// Currency of the network.
    pub currency: String,
    /// The axes' parameter paths.
    pub axes: Vec<String>,
    /// The points in order.
    pub points: Vec<StudyPoint>,
}

/// Every combination of the axes' values, the last axis fastest.
pub fn combinations(axes: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = vec![Vec::new()];
    for values in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |&v| {
                    let mut p = prefix.clone();
                    p.push(v);
                    p
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_run_the_last_axis_fastest() {
        let c = combinations(&[vec![1.0, 2.0], vec![10.0, 20.0, 30.0]]);
        assert_eq!(c.len(), 6);
        assert_eq!(c[0], vec![1.0, 10.0]);
        assert_eq!(c[1], vec![1.0, 20.0]);
        assert_eq!(c[3], vec![2.0, 10.0]);
        assert_eq!(combinations(&[]), vec![Vec::<f64>::new()]);
    }
}
