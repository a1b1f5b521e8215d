//! What-if scenarios on top of the base plan: demand growth (the network planned anew, and the
//! base plan's sites facing the larger demand) and site failure (each open site down for a
//! quarter, its patients re-allocated to the other open sites).

use serde::Serialize;

use crate::compile::Network;
use crate::solve::{Plan, Rules, SolveError, SolveOptions, solve};

/// A plan, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A plan.
    Planned {
        /// The plan.
        plan: Box<Plan>,
    },
    /// No plan: the reasons.
    NoPlan {
        /// Why.
        reasons: Vec<String>,
    },
}

impl Outcome {
    fn from(r: Result<Plan, SolveError>) -> Self {
        match r {
            Ok(plan) => Outcome::Planned {
                plan: Box::new(plan),
            },
            Err(SolveError::Infeasible(reasons)) => Outcome::NoPlan { reasons },
            Err(SolveError::Solver(m)) => Outcome::NoPlan { reasons: vec![m] },
        }
    }

    /// The plan, if there is one.
    pub fn plan(&self) -> Option<&Plan> {
        match self {
            Outcome::Planned { plan } => Some(plan),
            Outcome::NoPlan { .. } => None,
        }
    }
}

/// One demand-growth scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    /// Demand factor.
    pub factor: f64,
    /// The network planned anew for the larger demand.
    pub replanned: Outcome,
    /// The base plan's open sites (no new ones) with the larger demand: who is left unserved
    /// and what the rest costs.
    pub base_sites: Outcome,
}

/// One site down for a quarter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteDown {
    /// Site index.
    pub site: usize,
    /// Site name.
    pub name: String,
    /// The quarter's allocation on the other open sites.
    pub quarter: Outcome,
    /// Manufacturing and transport cost of a normal quarter of the base plan.
    pub base_quarter_cost: f64,
    /// Manufacturing and transport cost of the quarter without the site minus the normal
    /// quarter's (the fixed cost of the sites is paid either way).
    pub extra_cost: Option<f64>,
    /// Patients of the quarter that no other site can take.
    pub unmet_patients: Option<f64>,
}

/// All what-if results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// Demand growth, in the order of the file.
    pub growth: Vec<Growth>,
    /// Site failures, one per open site of the base plan.
    pub site_down: Vec<SiteDown>,
}

/// Solves the network's what-if scenarios around `base`.
pub fn what_if(net: &Network, base: &Plan) -> WhatIf {
    let open = base.open_flags();
    // A fixed set of sites is judged on allocation only: design rules do not apply.
    let allocation_rules = Rules {
        budget: false,
        min_sites: false,
        max_sites: false,
        existing_open: false,
        single_sourcing: true,
    };
    let growth = net
        .scenarios
        .demand_growth
        .iter()
        .map(|&g| Growth {
            factor: g,
            replanned: Outcome::from(solve(
                net,
                &SolveOptions {
                    demand_factor: g,
                    ..SolveOptions::default()
                },
            )),
            base_sites: Outcome::from(solve(
                net,
                &SolveOptions {
                    demand_factor: g,
                    open: Some(open.clone()),
                    allow_unmet: true,
                    rules: allocation_rules,
                    ..SolveOptions::default()
                },
            )),
        })
        .collect();
    let mut site_down = Vec::new();
    if net.scenarios.site_down_quarter {
        let base_quarter_cost = 0.25 * (base.cost.manufacturing + base.cost.transport);
        for s in base.open_sites() {
            let mut o = open.clone();
            o[s] = false;
            let quarter = Outcome::from(solve(
                net,
                &SolveOptions {
                    period_years: 0.25,
                    open: Some(o),
                    allow_unmet: true,
                    rules: allocation_rules,
                    ..SolveOptions::default()
                },
            ));
            let extra_cost = quarter
                .plan()
                .map(|q| q.cost.manufacturing + q.cost.transport - base_quarter_cost);
            let unmet_patients = quarter.plan().map(|q| q.unmet_patients);
            site_down.push(SiteDown {
                site: s,
                name: net.sites[s].name.clone(),
                quarter,
                base_quarter_cost,
                extra_cost,
                unmet_patients,
            });
        }
    }
    WhatIf { growth, site_down }
}
