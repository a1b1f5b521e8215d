//! The capacitated facility-location model and its solution with HiGHS.
//!
//! ```text
//! min  Σ_s F_s·y_s + Σ_{r,s,p} (v_s + c_rs)·x_rsp
//! s.t. Σ_s x_rsp (+ u_rp)  = d_rp                     every region r, product p
//!      Σ_{r,p} x_rsp       ≤ C_s·y_s                  every site s
//!      x_rsp               ≤ d_rp·y_s                 (valid, tightens the relaxation)
//!      x_rsp = 0  unless s makes p, a link r–s exists, L_s + t_rs ≤ V_p and the distance rule holds
//!      y_s = 1 for existing sites;  Σ_s y_s ≤ max_sites
//!      Σ_{s reaching r} y_s ≥ k_r (minimum sites within reach)
//!      total cost ≤ budget
//!      single sourcing: a_rs ∈ {0,1}, Σ_s a_rs = 1, x_rsp = d_rp·a_rs, a_rs ≤ y_s
//! ```
//! `u_rp` (patients that cannot be served) exists only in what-if runs on a fixed set of
//! sites; those are solved lexicographically: first the fewest unserved patients, then the
//! cheapest allocation of the rest.

use std::num::NonZeroU32;

use highs::{Col, HighsModelStatus, RowProblem, Sense, SolvedModel};
use serde::Serialize;

use crate::compile::{Barrier, Network};
use crate::format::Sourcing;

/// Flows below this many patients are numerical noise of the solver and are dropped.
const FLOW_EPS: f64 = 1e-7;

/// Which of the optional rules are in force (all by default; the infeasibility diagnosis
/// drops them one at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The budget per year.
    pub budget: bool,
    /// Minimum sites within reach of each region.
    pub min_sites: bool,
    /// Most open sites.
    pub max_sites: bool,
    /// Single sourcing (when the network asks for it).
    pub single_sourcing: bool,
    /// Existing sites stay open.
    pub existing_open: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            budget: true,
            min_sites: true,
            max_sites: true,
            single_sourcing: true,
            existing_open: true,
        }
    }
}

/// What to solve: the base plan is `SolveOptions::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct SolveOptions {
    /// Every region's demand is multiplied by this.
    pub demand_factor: f64,
    /// Length of the planned period in years (0.25 for a quarter): demand and capacity are
    /// scaled by it, and so is the fixed cost.
    pub period_years: f64,
    /// A fixed set of open sites (the what-if runs), or `None` to choose them.
    pub open: Option<Vec<bool>>,
    /// Capacities per year replacing the file's (the check's tightened capacities).
    pub capacity: Option<Vec<f64>>,
    /// Let patients go unserved (first minimised, then the cost): for fixed designs that may
    /// not cover the demand.
    pub allow_unmet: bool,
    /// Rules in force.
    pub rules: Rules,
}

impl Default for SolveOptions {
    fn default() -> Self {
        Self {
            demand_factor: 1.0,
            period_years: 1.0,
            open: None,
            capacity: None,
            allow_unmet: false,
            rules: Rules::default(),
        }
    }
}

/// How the solver ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Proven optimal within the gap asked for.
    Optimal,
    /// Stopped at the time limit with a feasible plan; `gap` says how far from optimal it may be.
    TimeLimit,
}

/// Cost of a plan over its period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Costs {
    /// Fixed cost of the open sites.
    pub fixed: f64,
    /// Manufacturing (variable) cost.
    pub manufacturing: f64,
    /// Transport cost.
    pub transport: f64,
    /// Sum of the three.
    pub total: f64,
    /// Total divided by the patients served (0 when none are).
    pub per_patient: f64,
}

/// One site in a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SitePlan {
    /// Site index.
    pub site: usize,
    /// Name.
    pub name: String,
    /// Open in this plan.
    pub open: bool,
    /// Existed before.
    pub existing: bool,
    /// Patients allocated in the period.
    pub patients: f64,
    /// Capacity in the period.
    pub capacity: f64,
    /// Patients / capacity.
    pub utilisation: f64,
    /// Fixed cost in the period (0 when closed).
    pub fixed_cost: f64,
    /// Manufacturing cost in the period.
    pub manufacturing_cost: f64,
    /// Transport cost of its flows in the period.
    pub transport_cost: f64,
    /// Patient-weighted mean vein-to-vein days of its flows (lead time plus round trip).
    pub mean_v2v_days: Option<f64>,
}

/// One flow: patients of a product from a region through a site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    /// Region index.
    pub region: usize,
    /// Region name.
    pub region_name: String,
    /// Site index.
    pub site: usize,
    /// Site name.
    pub site_name: String,
    /// Product index.
    pub product: usize,
    /// Product name.
    pub product_name: String,
    /// Patients in the period.
    pub patients: f64,
    /// Round-trip transport days.
    pub transport_days: f64,
    /// Manufacturing lead time, days.
    pub lead_time_days: f64,
    /// Vein-to-vein days (lead time plus round trip).
    pub v2v_days: f64,
    /// The product's limit.
    pub max_v2v_days: f64,
    /// Manufacturing plus transport cost per patient.
    pub cost_per_patient: f64,
    /// One-way distance, km, when known.
    pub distance_km: Option<f64>,
}

/// Patients of a region and product that the plan cannot serve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmet {
    /// Region name.
    pub region: String,
    /// Product name.
    pub product: String,
    /// Patients in the period.
    pub patients: f64,
}

/// A solved plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// How the solver ended.
    pub status: Status,
    /// Objective value (the total cost of the period).
    pub objective: f64,
    /// Best lower bound proven by the solver.
    pub bound: f64,
    /// Relative gap between objective and bound (0 when proven optimal to the tolerance).
    pub gap: f64,
    /// Period in years.
    pub period_years: f64,
    /// Demand factor applied.
    pub demand_factor: f64,
    /// Costs.
    pub cost: Costs,
    /// Patients of the period (demand).
    pub patients: f64,
    /// Patients that cannot be served.
    pub unmet_patients: f64,
    /// Every site, open or not.
    pub sites: Vec<SitePlan>,
    /// Flows with patients, by region, site and product.
    pub flows: Vec<Flow>,
    /// Unserved patients by region and product.
    pub unmet: Vec<Unmet>,
}

impl Plan {
    /// Indices of the open sites.
    pub fn open_sites(&self) -> Vec<usize> {
        self.sites
            .iter()
            .filter(|s| s.open)
            .map(|s| s.site)
            .collect()
    }

    /// Names of the open sites, in site order.
    pub fn open_site_names(&self) -> Vec<&str> {
        self.sites
            .iter()
            .filter(|s| s.open)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// Open flags by site.
    pub fn open_flags(&self) -> Vec<bool> {
        self.sites.iter().map(|s| s.open).collect()
    }

    /// Patient-weighted mean vein-to-vein days of all flows.
    pub fn mean_v2v_days(&self) -> Option<f64> {
        let n: f64 = self.flows.iter().map(|f| f.patients).sum();
        (n > 0.0).then(|| {
            self.flows
                .iter()
                .map(|f| f.patients * f.v2v_days)
                .sum::<f64>()
                / n
        })
    }
}

/// Why no plan was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolveError {
    /// No plan meets the rules; the reasons say which demand or rule is the obstacle.
    #[error("no plan meets every rule:\n{}", .0.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n"))]
    Infeasible(Vec<String>),
    /// The solver stopped without any feasible plan (time limit) or failed.
    #[error("the solver found no plan: {0}")]
    Solver(String),
}

/// Solves the network.
pub fn solve(net: &Network, opts: &SolveOptions) -> Result<Plan, SolveError> {
    if !opts.allow_unmet {
        let reasons = precheck(net, opts);
        if !reasons.is_empty() {
            return Err(SolveError::Infeasible(reasons));
        }
    }
    let built = Built::new(net, opts);
    let result = if opts.allow_unmet {
        let least = built.run(net, opts, Objective::Unmet, None)?;
        let u: f64 = least.unmet_total;
        built.run(net, opts, Objective::Cost, Some(u + 1e-9 * (1.0 + u)))
    } else {
        built.run(net, opts, Objective::Cost, None)
    };
    match result {
        Ok(r) => Ok(r.plan),
        Err(Failure::Infeasible) => Err(SolveError::Infeasible(diagnose(net, opts))),
        Err(Failure::Solver(m)) => Err(SolveError::Solver(m)),
    }
}

/// Problems visible without solving: a demand no site can reach, more demand than capacity,
/// and rules that cannot hold.
fn precheck(net: &Network, opts: &SolveOptions) -> Vec<String> {
    let mut out = Vec::new();
    let open = |s: usize| opts.open.as_ref().is_none_or(|o| o[s]);
    for (r, region) in net.regions.iter().enumerate() {
        for (p, product) in net.products.iter().enumerate() {
            if region.demand[p] <= 0.0 {
                continue;
            }
            let ok = (0..net.sites.len()).any(|s| open(s) && net.allowed(r, s, p).is_ok());
            if !ok {
                out.push(format!(
                    "region `{}` needs {} for {} patients per year, but no {}site can serve it: {}",
                    region.name,
                    product.name,
                    fmt_n(region.demand[p]),
                    if opts.open.is_some() { "open " } else { "" },
                    barriers(net, r, p, &open)
                ));
            }
        }
    }
    let demand = net.total_demand() * opts.demand_factor;
    let cap: f64 = (0..net.sites.len())
        .filter(|&s| open(s))
        .map(|s| capacity(net, opts, s))
        .sum();
    if demand > cap * (1.0 + 1e-9) {
        out.push(format!(
            "the regions need {} patients per year but all {}sites together make at most {}",
            fmt_n(demand),
            if opts.open.is_some() { "open " } else { "" },
            fmt_n(cap)
        ));
    }
    if net.sourcing == Sourcing::Single && opts.rules.single_sourcing {
        for (r, region) in net.regions.iter().enumerate() {
            if region.total_demand() > 0.0
                && !(0..net.sites.len()).any(|s| open(s) && net.reaches(r, s))
                && out
                    .iter()
                    .all(|m| !m.contains(&format!("`{}`", region.name)))
            {
                out.push(format!(
                    "single sourcing: no site makes every product region `{}` needs within the limits",
                    region.name
                ));
            }
        }
    }
    if opts.rules.min_sites {
        for (r, region) in net.regions.iter().enumerate() {
            let k = region.min_sites_within_reach as usize;
            let n = (0..net.sites.len())
                .filter(|&s| open(s) && net.reaches(r, s))
                .count();
            if n < k {
                out.push(format!(
                    "region `{}` must be within reach of {k} open sites, but only {n} site(s) can serve it",
                    region.name
                ));
            }
        }
    }
    if opts.rules.max_sites
        && opts.rules.existing_open
        && let Some(m) = net.max_sites
    {
        let existing = net.sites.iter().filter(|s| s.existing).count();
        if existing > m as usize {
            out.push(format!(
                "{existing} sites exist already and stay open, but max_sites is {m}"
            ));
        }
    }
    out
}

fn barriers(net: &Network, r: usize, p: usize, open: &dyn Fn(usize) -> bool) -> String {
    let mut parts = Vec::new();
    for (s, site) in net.sites.iter().enumerate() {
        if !open(s) {
            continue;
        }
        let why = match net.allowed(r, s, p) {
            Ok(()) => continue,
            Err(Barrier::NoLink) => continue,
            Err(Barrier::NotMade) => format!("`{}` does not make it", site.name),
            Err(Barrier::TooSlow) => format!(
                "`{}` takes {} days ({} lead time + {} transport) > {} allowed",
                site.name,
                fmt_n(net.v2v_days(r, s).unwrap_or(f64::NAN)),
                fmt_n(site.lead_time_days),
                fmt_n(net.link(r, s).map_or(f64::NAN, |l| l.days)),
                fmt_n(net.products[p].max_v2v_days)
            ),
            Err(Barrier::TooFar) => format!(
                "`{}` is {} km away, beyond the distance limit",
                site.name,
                fmt_n(
                    net.link(r, s)
                        .and_then(|l| l.distance_km)
                        .unwrap_or(f64::NAN)
                )
            ),
        };
        parts.push(why);
    }
    if parts.is_empty() {
        "no link connects it to any site".to_string()
    } else {
        parts.join("; ")
    }
}

/// Drops the optional rules one at a time and reports which one stands in the way.
fn diagnose(net: &Network, opts: &SolveOptions) -> Vec<String> {
    let mut out = Vec::new();
    let mut candidates: Vec<(&str, Rules)> = Vec::new();
    let r = opts.rules;
    if r.budget && net.budget.is_some() && opts.period_years == 1.0 {
        candidates.push(("the budget per year", Rules { budget: false, ..r }));
    }
    if r.min_sites && net.regions.iter().any(|x| x.min_sites_within_reach > 0) {
        candidates.push((
            "the minimum sites within reach",
            Rules {
                min_sites: false,
                ..r
            },
        ));
    }
    if r.max_sites && net.max_sites.is_some() {
        candidates.push((
            "max_sites",
            Rules {
                max_sites: false,
                ..r
            },
        ));
    }
    if r.single_sourcing && net.sourcing == Sourcing::Single {
        candidates.push((
            "single sourcing",
            Rules {
                single_sourcing: false,
                ..r
            },
        ));
    }
    if r.existing_open && opts.open.is_none() && net.sites.iter().any(|s| s.existing) {
        candidates.push((
            "keeping existing sites open",
            Rules {
                existing_open: false,
                ..r
            },
        ));
    }
    for (what, rules) in candidates {
        let o = SolveOptions {
            rules,
            ..opts.clone()
        };
        if !precheck(net, &o).is_empty() {
            continue;
        }
        let b = Built::new(net, &o);
        if let Ok(res) = b.run(net, &o, Objective::Cost, None) {
            let extra = if what == "the budget per year" {
                format!(
                    " (the cheapest plan meeting the other rules costs {} {} per year, the budget is {})",
                    fmt_n(res.plan.cost.total),
                    net.currency,
                    fmt_n(net.budget.unwrap_or(f64::NAN))
                )
            } else {
                String::new()
            };
            out.push(format!("a plan exists without {what}{extra}"));
        }
    }
    if out.is_empty() {
        out.push(
            "capacities, vein-to-vein limits and rules together admit no allocation, and no \
             single rule alone is the cause"
                .to_string(),
        );
    } else {
        out.insert(
            0,
            "capacities, vein-to-vein limits and rules together admit no allocation".to_string(),
        );
    }
    out
}

fn capacity(net: &Network, opts: &SolveOptions, s: usize) -> f64 {
    opts.capacity
        .as_ref()
        .map_or(net.sites[s].capacity, |c| c[s])
        * opts.period_years
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objective {
    Unmet,
    Cost,
}

enum Failure {
    Infeasible,
    Solver(String),
}

impl From<Failure> for SolveError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Infeasible => SolveError::Infeasible(Vec::new()),
            Failure::Solver(m) => SolveError::Solver(m),
        }
    }
}

struct Solved {
    plan: Plan,
    unmet_total: f64,
}

/// The columns of one model, by kind.
struct Columns {
    /// Site open, per site.
    y: Vec<Col>,
    /// Flow, per entry of [`Built::flows`].
    x: Vec<Col>,
    /// Unmet demand per (region, product), where allowed.
    u: Vec<Option<Col>>,
    /// Single-sourcing assignment, per entry of [`Built::pairs`].
    a: Vec<Col>,
}

/// Solves the model with HiGHS (quiet, one thread, the network's time limit and gap) and maps
/// its status: a plan when optimal or feasible at the time limit, else the failure.
fn solve_model(pb: RowProblem, net: &Network) -> Result<(SolvedModel, Status), Failure> {
    let mut model = pb
        .try_optimise(Sense::Minimise)
        .map_err(|e| Failure::Solver(format!("HiGHS refused the model: {e:?}")))?;
    model.make_quiet();
    if let Some(one) = NonZeroU32::new(1) {
        model.set_threads(one);
    }
    let set = |m: &mut highs::Model, k: &str, v: f64| {
        m.try_set_option(k, v)
            .map_err(|e| Failure::Solver(format!("HiGHS option {k}: {e}")))
    };
    set(&mut model, "time_limit", net.time_limit_s)?;
    set(&mut model, "mip_rel_gap", net.mip_gap)?;
    let solved = model
        .try_solve()
        .map_err(|e| Failure::Solver(format!("HiGHS failed: {e:?}")))?;
    let status = match solved.status() {
        HighsModelStatus::Optimal => Status::Optimal,
        HighsModelStatus::Infeasible | HighsModelStatus::UnboundedOrInfeasible => {
            return Err(Failure::Infeasible);
        }
        HighsModelStatus::ReachedTimeLimit
            if solved.primal_solution_status() == highs::HighsSolutionStatus::Feasible =>
        {
            Status::TimeLimit
        }
        HighsModelStatus::ReachedTimeLimit => {
            return Err(Failure::Solver(format!(
                "the time limit of {} s ended the search before any plan was found; raise \
                 network.time_limit_seconds",
                net.time_limit_s
            )));
        }
        other => {
            return Err(Failure::Solver(format!(
                "HiGHS ended with status {other:?}"
            )));
        }
    };
    Ok((solved, status))
}

/// The variables of the model: which (region, site, product) flows exist.
struct Built {
    /// (r, s, p, demand of the period).
    flows: Vec<(usize, usize, usize)>,
    /// Single-sourcing pairs (r, s).
    pairs: Vec<(usize, usize)>,
    /// Demand of the period by (r, p).
    demand: Vec<Vec<f64>>,
}

impl Built {
    fn new(net: &Network, opts: &SolveOptions) -> Self {
        let open = |s: usize| opts.open.as_ref().is_none_or(|o| o[s]);
        let demand: Vec<Vec<f64>> = net
            .regions
            .iter()
            .map(|r| {
                r.demand
                    .iter()
                    .map(|d| d * opts.demand_factor * opts.period_years)
                    .collect()
            })
            .collect();
        let mut flows = Vec::new();
        for (r, region_demand) in demand.iter().enumerate() {
            for s in 0..net.sites.len() {
                if !open(s) {
                    continue;
                }
                for (p, &d) in region_demand.iter().enumerate() {
                    if d > 0.0 && net.allowed(r, s, p).is_ok() {
                        flows.push((r, s, p));
                    }
                }
            }
        }
        let single = net.sourcing == Sourcing::Single && opts.rules.single_sourcing;
        let pairs = if single {
            (0..net.regions.len())
                .flat_map(|r| (0..net.sites.len()).map(move |s| (r, s)))
                .filter(|&(r, s)| open(s) && net.reaches(r, s))
                .collect()
        } else {
            Vec::new()
        };
        Self {
            flows,
            pairs,
            demand,
        }
    }

    /// Builds the model for `objective` (optionally capping the total unmet demand), solves it
    /// with HiGHS and reads the plan back.
    fn run(
        &self,
        net: &Network,
        opts: &SolveOptions,
        objective: Objective,
        unmet_cap: Option<f64>,
    ) -> Result<Solved, Failure> {
        let mut pb = RowProblem::default();
        let cols = self.add_columns(&mut pb, net, opts, objective == Objective::Cost);
        self.add_demand_rows(&mut pb, net, &cols);
        self.add_capacity_rows(&mut pb, net, opts, &cols);
        if net.sourcing == Sourcing::Single && opts.rules.single_sourcing {
            self.add_single_sourcing_rows(&mut pb, net, opts, &cols);
        }
        self.add_limit_rows(&mut pb, net, opts, &cols, unmet_cap);
        let (solved, status) = solve_model(pb, net)?;
        Ok(self.read_solution(net, opts, &cols, &solved, status))
    }

    /// Adds the columns in a fixed order: site open `y_s`, flows `x_rsp`, unmet demand `u_rp`
    /// and single-sourcing assignments `a_rs`.
    fn add_columns(
        &self,
        pb: &mut RowProblem,
        net: &Network,
        opts: &SolveOptions,
        cost_on: bool,
    ) -> Columns {
        let np = net.products.len();
        let nr = net.regions.len();
        // y_s
        let y: Vec<Col> = (0..net.sites.len())
            .map(|s| {
                let site = &net.sites[s];
                let f = if cost_on {
                    site.fixed_cost * opts.period_years
                } else {
                    0.0
                };
                let (lo, hi) = match &opts.open {
                    Some(o) => {
                        let v = if o[s] { 1.0 } else { 0.0 };
                        (v, v)
                    }
                    None if site.existing && opts.rules.existing_open => (1.0, 1.0),
                    None => (0.0, 1.0),
                };
                pb.add_integer_column(f, lo..=hi)
            })
            .collect();
        // x_rsp
        let x: Vec<Col> = self
            .flows
            .iter()
            .map(|&(r, s, p)| {
                let c = if cost_on {
                    net.sites[s].variable_cost + net.link(r, s).map_or(0.0, |l| l.cost)
                } else {
                    0.0
                };
                pb.add_column(c, 0.0..=self.demand[r][p])
            })
            .collect();
        // u_rp
        let u: Vec<Option<Col>> = (0..nr * np)
            .map(|k| {
                let (r, p) = (k / np, k % np);
                (opts.allow_unmet && self.demand[r][p] > 0.0).then(|| {
                    let c = if cost_on { 0.0 } else { 1.0 };
                    pb.add_column(c, 0.0..=self.demand[r][p])
                })
            })
            .collect();
        // a_rs
        let a: Vec<Col> = self
            .pairs
            .iter()
            .map(|_| pb.add_integer_column(0.0, 0.0..=1.0))
            .collect();
        Columns { y, x, u, a }
    }

    /// Demand rows: the flows of each (region, product) plus its unmet part meet its demand.
    fn add_demand_rows(&self, pb: &mut RowProblem, net: &Network, cols: &Columns) {
        let np = net.products.len();
        for r in 0..net.regions.len() {
            for p in 0..np {
                let d = self.demand[r][p];
                if d <= 0.0 {
                    continue;
                }
                let mut row: Vec<(Col, f64)> = self
                    .flows
                    .iter()
                    .zip(&cols.x)
                    .filter(|((fr, _, fp), _)| *fr == r && *fp == p)
                    .map(|(_, &c)| (c, 1.0))
                    .collect();
                if let Some(c) = cols.u[r * np + p] {
                    row.push((c, 1.0));
                }
                pb.add_row(d..=d, &row);
            }
        }
    }

    /// Capacity rows (a site serves at most its capacity, and only when open) and the linking
    /// rows of each flow to its site.
    fn add_capacity_rows(
        &self,
        pb: &mut RowProblem,
        net: &Network,
        opts: &SolveOptions,
        cols: &Columns,
    ) {
        for (s, &ys) in cols.y.iter().enumerate() {
            let mut row: Vec<(Col, f64)> = self
                .flows
                .iter()
                .zip(&cols.x)
                .filter(|((_, fs, _), _)| *fs == s)
                .map(|(_, &c)| (c, 1.0))
                .collect();
            if row.is_empty() {
                continue;
            }
            row.push((ys, -capacity(net, opts, s)));
            pb.add_row(..=0.0, &row);
        }
        for (k, &(r, s, p)) in self.flows.iter().enumerate() {
            pb.add_row(..=0.0, [(cols.x[k], 1.0), (cols.y[s], -self.demand[r][p])]);
        }
    }

    /// Single-sourcing rows: each region is assigned to one open site, which carries all of
    /// its demand.
    fn add_single_sourcing_rows(
        &self,
        pb: &mut RowProblem,
        net: &Network,
        opts: &SolveOptions,
        cols: &Columns,
    ) {
        let Columns { y, x, a, .. } = cols;
        for r in 0..net.regions.len() {
            if self.demand[r].iter().all(|&d| d <= 0.0) {
                continue;
            }
            let row: Vec<(Col, f64)> = self
                .pairs
                .iter()
                .zip(a)
                .filter(|((pr, _), _)| *pr == r)
                .map(|(_, &c)| (c, 1.0))
                .collect();
            if opts.allow_unmet {
                pb.add_row(..=1.0, &row);
            } else {
                pb.add_row(1.0..=1.0, &row);
            }
        }
        for (k, &(r, s)) in self.pairs.iter().enumerate() {
            pb.add_row(..=0.0, [(a[k], 1.0), (y[s], -1.0)]);
            for p in 0..net.products.len() {
                let d = self.demand[r][p];
                if d <= 0.0 {
                    continue;
                }
                if let Some(i) = self
                    .flows
                    .iter()
                    .position(|&(fr, fs, fp)| fr == r && fs == s && fp == p)
                {
                    pb.add_row(0.0..=0.0, [(x[i], 1.0), (a[k], -d)]);
                }
            }
        }
        // A flow whose pair is not allowed (the site cannot make every product of the
        // region) carries nothing under single sourcing.
        for (i, &(r, s, _)) in self.flows.iter().enumerate() {
            if !self.pairs.contains(&(r, s)) {
                pb.add_row(0.0..=0.0, [(x[i], 1.0)]);
            }
        }
    }

    /// The rule rows: minimum sites within reach, maximum sites, budget and the unmet cap.
    fn add_limit_rows(
        &self,
        pb: &mut RowProblem,
        net: &Network,
        opts: &SolveOptions,
        cols: &Columns,
        unmet_cap: Option<f64>,
    ) {
        let Columns { y, x, u, .. } = cols;
        let ns = net.sites.len();
        if opts.rules.min_sites {
            for r in 0..net.regions.len() {
                let k = net.regions[r].min_sites_within_reach;
                if k == 0 {
                    continue;
                }
                let row: Vec<(Col, f64)> = (0..ns)
                    .filter(|&s| net.reaches(r, s))
                    .map(|s| (y[s], 1.0))
                    .collect();
                pb.add_row(f64::from(k).., &row);
            }
        }
        if opts.rules.max_sites
            && let Some(m) = net.max_sites
        {
            let row: Vec<(Col, f64)> = y.iter().map(|&c| (c, 1.0)).collect();
            pb.add_row(..=f64::from(m), &row);
        }
        if opts.rules.budget
            && opts.period_years == 1.0
            && let Some(b) = net.budget
        {
            let mut row: Vec<(Col, f64)> =
                (0..ns).map(|s| (y[s], net.sites[s].fixed_cost)).collect();
            for (k, &(r, s, _)) in self.flows.iter().enumerate() {
                row.push((
                    x[k],
                    net.sites[s].variable_cost + net.link(r, s).map_or(0.0, |l| l.cost),
                ));
            }
            pb.add_row(..=b, &row);
        }
        if let Some(cap) = unmet_cap {
            let row: Vec<(Col, f64)> = u.iter().flatten().map(|&c| (c, 1.0)).collect();
            if !row.is_empty() {
                pb.add_row(..=cap, &row);
            }
        }
    }

    /// Reads objective, bound, gap, open sites, flows and unmet demand from a solved model.
    fn read_solution(
        &self,
        net: &Network,
        opts: &SolveOptions,
        cols: &Columns,
        solved: &SolvedModel,
        status: Status,
    ) -> Solved {
        let Columns { y, x, u, a } = cols;
        let sol = solved.get_solution();
        let values = sol.columns();
        let objective = solved.objective_value();
        let has_integers = !(opts.open.is_some() && a.is_empty());
        let gap = if has_integers {
            let g = solved.mip_gap();
            if g.is_finite() { g.max(0.0) } else { 0.0 }
        } else {
            0.0
        };
        let bound = if has_integers {
            solved
                .double_info_value(c"mip_dual_bound")
                .ok()
                .filter(|b| b.is_finite())
                .unwrap_or(objective)
        } else {
            objective
        };
        let unmet_total: f64 = u.iter().flatten().map(|c| values[c.index()]).sum();
        let open: Vec<bool> = y.iter().map(|c| values[c.index()] > 0.5).collect();
        let plan = self.plan(
            net,
            opts,
            PlanParts {
                status,
                objective,
                bound,
                gap,
                open,
                x: x.iter().map(|c| values[c.index()]).collect(),
                u: u.iter()
                    .map(|c| c.map_or(0.0, |c| values[c.index()]))
                    .collect(),
            },
        );
        Solved { plan, unmet_total }
    }

    fn plan(&self, net: &Network, opts: &SolveOptions, parts: PlanParts) -> Plan {
        let np = net.products.len();
        let mut flows = Vec::new();
        let mut sites: Vec<SitePlan> = net
            .sites
            .iter()
            .enumerate()
            .map(|(s, site)| SitePlan {
                site: s,
                name: site.name.clone(),
                open: parts.open[s],
                existing: site.existing,
                patients: 0.0,
                capacity: capacity(net, opts, s),
                utilisation: 0.0,
                fixed_cost: if parts.open[s] {
                    site.fixed_cost * opts.period_years
                } else {
                    0.0
                },
                manufacturing_cost: 0.0,
                transport_cost: 0.0,
                mean_v2v_days: None,
            })
            .collect();
        let mut v2v_sum = vec![0.0; net.sites.len()];
        for (k, &(r, s, p)) in self.flows.iter().enumerate() {
            let n = parts.x[k];
            if n <= FLOW_EPS {
                continue;
            }
            let Some(link) = net.link(r, s) else { continue };
            let site = &net.sites[s];
            let v2v = site.lead_time_days + link.days;
            flows.push(Flow {
                region: r,
                region_name: net.regions[r].name.clone(),
                site: s,
                site_name: site.name.clone(),
                product: p,
                product_name: net.products[p].name.clone(),
                patients: n,
                transport_days: link.days,
                lead_time_days: site.lead_time_days,
                v2v_days: v2v,
                max_v2v_days: net.products[p].max_v2v_days,
                cost_per_patient: site.variable_cost + link.cost,
                distance_km: link.distance_km,
            });
            let sp = &mut sites[s];
            sp.patients += n;
            sp.manufacturing_cost += n * site.variable_cost;
            sp.transport_cost += n * link.cost;
            v2v_sum[s] += n * v2v;
        }
        for (s, sp) in sites.iter_mut().enumerate() {
            if sp.patients > 0.0 {
                sp.mean_v2v_days = Some(v2v_sum[s] / sp.patients);
            }
            sp.utilisation = if sp.capacity > 0.0 && sp.open {
                sp.patients / sp.capacity
            } else {
                0.0
            };
        }
        let unmet: Vec<Unmet> = parts
            .u
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > FLOW_EPS)
            .map(|(k, &n)| Unmet {
                region: net.regions[k / np].name.clone(),
                product: net.products[k % np].name.clone(),
                patients: n,
            })
            .collect();
        let fixed: f64 = sites.iter().map(|s| s.fixed_cost).sum();
        let manufacturing: f64 = sites.iter().map(|s| s.manufacturing_cost).sum();
        let transport: f64 = sites.iter().map(|s| s.transport_cost).sum();
        let total = fixed + manufacturing + transport;
        let served: f64 = flows.iter().map(|f| f.patients).sum();
        let patients: f64 = self.demand.iter().flatten().sum();
        Plan {
            status: parts.status,
            objective: parts.objective,
            bound: parts.bound,
            gap: parts.gap,
            period_years: opts.period_years,
            demand_factor: opts.demand_factor,
            cost: Costs {
                fixed,
                manufacturing,
                transport,
                total,
                per_patient: if served > 0.0 { total / served } else { 0.0 },
            },
            patients,
            // `+ 0.0`: an empty float sum is -0.0, which would print as "-0".
            unmet_patients: unmet.iter().map(|u| u.patients).sum::<f64>() + 0.0,
            sites,
            flows,
            unmet,
        }
    }
}

struct PlanParts {
    status: Status,
    objective: f64,
    bound: f64,
    gap: f64,
    open: Vec<bool>,
    x: Vec<f64>,
    u: Vec<f64>,
}

/// A number with at most two decimals and no trailing zeros.
pub(crate) fn fmt_n(v: f64) -> String {
    if !v.is_finite() {
        return "?".to_string();
    }
    if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v.round());
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        return format!("{sign}{out}");
    }
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
