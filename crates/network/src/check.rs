//! The check by simulation: every open site of a plan becomes a plant scenario (its concept
//! file) with the patients the plan allocates to it, each region's flow a product of its own
//! whose transport steps take that link's days; the simulator then gives the queueing
//! reality — vein-to-vein distribution, on-time fraction, utilisation — next to the
//! optimiser's averages.
//!
//! Tighten-and-resolve rule: a site passes when the simulated fraction of its patients treated
//! within their product's vein-to-vein limit is at least `min_on_time`. A site that fails gets
//! the capacity `tighten_factor × (patients per year allocated to it)`, and the network is
//! solved again with the tightened capacities (the optimiser may move patients elsewhere or
//! open another site). This repeats until every open site passes, no plan meets the tightened
//! capacities, or `max_rounds` rounds have been simulated.

use std::sync::atomic::{AtomicBool, Ordering};

use model::scenario::{Demand, Distribution, Scenario, TimeUnit};
use serde::Serialize;

use crate::compile::Network;
use crate::solve::{Plan, SolveError, SolveOptions, solve};

/// Most raw vein-to-vein times pooled for the network's percentiles (8 bytes each).
pub const MAX_POOLED: usize = 5_000_000;
/// Bins of the network's vein-to-vein histogram.
const BINS: usize = 30;

/// Options of a check run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckOptions {
    /// Replications per site (overrides the network's `[check]`).
    pub replications: Option<u32>,
    /// Worker threads of the simulator (results do not depend on it).
    pub threads: usize,
}

/// A mean with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// Mean over replications.
    pub mean: f64,
    /// 95 % confidence interval of the mean.
    pub ci95: [f64; 2],
}

impl From<&sim::Stat> for Estimate {
    fn from(s: &sim::Stat) -> Self {
        Self {
            mean: s.mean,
            ci95: s.ci95,
        }
    }
}

/// Utilisation of one resource of a site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceUse {
    /// Resource name in the concept scenario.
    pub name: String,
    /// Kind: equipment, area or staff.
    pub kind: String,
    /// Fraction of capacity busy.
    pub utilisation: Estimate,
}

/// One site's simulation next to the optimiser's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteCheck {
    /// Site index.
    pub site: usize,
    /// Site name.
    pub name: String,
    /// Patients per year the plan allocates to it.
    pub patients_per_year: f64,
    /// Capacity used by the optimiser in this round.
    pub capacity: f64,
    /// The optimiser's patient-weighted mean vein-to-vein days.
    pub planned_v2v_days: f64,
    /// Simulated mean vein-to-vein days.
    pub v2v_days: Estimate,
    /// Simulated percentiles (pooled over replications): p50, p90, p95.
    pub v2v_percentiles: [f64; 3],
    /// Fraction treated within the product's limit.
    pub on_time: Estimate,
    /// Fraction of patients lost (hold times, failed batches).
    pub lost: Estimate,
    /// Released doses per year.
    pub throughput_per_year: Estimate,
    /// Resources of the plant, busiest first.
    pub resources: Vec<ResourceUse>,
    /// Patients still in process at the end (their times are lower bounds).
    pub censored: u64,
    /// On time at least `min_on_time`.
    pub passes: bool,
}

/// The whole network in one round: every site's patients pooled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkCheck {
    /// Mean vein-to-vein days per replication (all sites' treated patients), over replications.
    pub v2v_days: Estimate,
    /// p50, p90, p95 of the pooled vein-to-vein days.
    pub v2v_percentiles: [f64; 3],
    /// The optimiser's patient-weighted mean vein-to-vein days.
    pub planned_v2v_days: f64,
    /// Fraction on time per replication (all sites), over replications.
    pub on_time: Estimate,
    /// Histogram of the pooled vein-to-vein days: bin edges.
    pub histogram_edges: Vec<f64>,
    /// Histogram counts.
    pub histogram_counts: Vec<u64>,
    /// Observations pooled (at most [`MAX_POOLED`]).
    pub pooled: u64,
}

/// A capacity tightened after a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tightened {
    /// Site name.
    pub site: String,
    /// Capacity before, patients per year.
    pub from: f64,
    /// Capacity after.
    pub to: f64,
}

/// One round: a plan, its simulation and what was tightened after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    /// Round number from 1.
    pub round: u32,
    /// The plan simulated.
    pub plan: Plan,
    /// Its open sites, simulated.
    pub sites: Vec<SiteCheck>,
    /// The network pooled.
    pub network: NetworkCheck,
    /// Capacities tightened for the next round (empty when every site passed).
    pub tightened: Vec<Tightened>,
}

/// The result of the check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The rule, in words.
    pub rule: String,
    /// Fraction on time a site must reach.
    pub min_on_time: f64,
    /// Factor of the tightening.
    pub tighten_factor: f64,
    /// Replications per site.
    pub replications: u32,
    /// Seed of every site's simulation.
    pub seed: u64,
    /// Generator.
    pub rng: String,
    /// Rounds in order.
    pub rounds: Vec<Round>,
    /// Every open site of the last round passes.
    pub passed: bool,
    /// Why the loop ended.
    pub ended: String,
    /// Cancelled by the caller: the rounds cover what was finished.
    pub cancelled: bool,
}

/// Why the check could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckError {
    /// A site's concept scenario does not fit the network.
    #[error("site `{site}`: {message}")]
    Concept {
        /// Site name.
        site: String,
        /// What is wrong.
        message: String,
    },
    /// The simulator failed.
    #[error("site `{site}`: simulation failed: {message}")]
    Simulation {
        /// Site name.
        site: String,
        /// What failed.
        message: String,
    },
}

/// The tighten-and-resolve rule in words.
pub fn rule_text(min_on_time: f64, factor: f64) -> String {
    format!(
        "a site passes when at least {:.0} % of its simulated patients are treated within their \
         product's vein-to-vein limit; a site that fails gets the capacity {factor} × the \
         patients per year allocated to it and the network is solved again",
        min_on_time * 100.0
    )
}

/// The plant scenario of site `s` under `plan`: the concept with one product per (region,
/// product) flow, named `product@region`, whose inbound and outbound transport steps take
/// half of the link's round-trip days each, and one demand per flow at the plan's patients
/// per year with the product's vein-to-vein limit as target.
pub fn site_scenario(
    net: &Network,
    plan: &Plan,
    s: usize,
    concept: &Scenario,
) -> Result<Scenario, String> {
    let site = &net.sites[s];
    let mut out = concept.clone();
    out.product.clear();
    out.demand.clear();
    out.cost = None;
    out.scenario.name = format!("{} — {}", site.name, concept.scenario.name);
    for f in plan.flows.iter().filter(|f| f.site == s) {
        let pname = &net.products[f.product].name;
        let Some(base) = concept.product.iter().find(|p| &p.name == pname) else {
            return Err(format!(
                "the concept scenario has no product `{pname}` (it has: {})",
                concept
                    .product
                    .iter()
                    .map(|p| format!("`{}`", p.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let mut product = base.clone();
        product.name = format!("{pname}@{}", f.region_name);
        for (step_name, what) in [
            (&site.inbound_step, "inbound"),
            (&site.outbound_step, "outbound"),
        ] {
            let Some(step) = product.step.iter_mut().find(|x| &x.name == step_name) else {
                return Err(format!(
                    "product `{pname}` of the concept scenario has no {what} transport step \
                     `{step_name}` (set inbound_step / outbound_step of the site)"
                ));
            };
            step.duration = Distribution::Fixed {
                value: f.transport_days / 2.0,
                unit: Some(TimeUnit::Days),
            };
        }
        let template = concept.demand.iter().find(|d| &d.product == pname);
        out.demand.push(Demand {
            product: product.name.clone(),
            patients_per_year: Some(f.patients / plan.period_years),
            patients_per_week: None,
            apheresis_days: None,
            target_vein_to_vein_days: f.max_v2v_days,
            weight: template.map_or(1.0, |d| d.weight),
        });
        out.product.push(product);
    }
    if let Some(h) = net.check.horizon_days {
        out.scenario.horizon_days = h;
        out.scenario.warmup_days = out.scenario.warmup_days.min(h / 2.0);
    }
    Ok(out)
}

/// Simulates `base` and tightens it by the rule until it passes. `concepts[s]` is site `s`'s
/// concept scenario (needed for every site that a round opens; `None` where the network file
/// gives none). `progress(site, done, total)` reports replications.
pub fn check(
    net: &Network,
    base: &Plan,
    concepts: &[Option<Scenario>],
    opts: &CheckOptions,
    progress: &(dyn Fn(&str, u32, u32) + Sync),
    cancel: &AtomicBool,
) -> Result<CheckReport, CheckError> {
    let spec = &net.check;
    let replications = opts.replications.unwrap_or(spec.replications);
    let ctx = RoundContext {
        net,
        concepts,
        replications,
        threads: opts.threads,
        progress,
        cancel,
    };
    let mut rounds = Vec::new();
    let mut plan = base.clone();
    let mut caps: Vec<f64> = net.sites.iter().map(|s| s.capacity).collect();
    let mut passed = false;
    let mut cancelled = false;
    let mut ended = String::new();
    for round in 1..=spec.max_rounds {
        let Some((sites, network)) = simulate_round(&ctx, &plan, &caps)? else {
            cancelled = true;
            ended = "cancelled".to_string();
            break;
        };
        let failing: Vec<usize> = sites.iter().filter(|c| !c.passes).map(|c| c.site).collect();
        let last = round == spec.max_rounds;
        let tightened = if !failing.is_empty() && !last {
            tighten(net, &plan, &failing, &mut caps)
        } else {
            Vec::new()
        };
        rounds.push(Round {
            round,
            plan: plan.clone(),
            sites,
            network,
            tightened,
        });
        if failing.is_empty() {
            passed = true;
            ended = format!("every open site passes in round {round}");
            break;
        }
        if last {
            ended = format!(
                "{} site(s) still miss the target after {round} round(s) (max_rounds)",
                failing.len()
            );
            break;
        }
        match replan(net, &caps, round) {
            Ok(p) => plan = p,
            Err(why) => {
                ended = why;
                break;
            }
        }
    }
    Ok(CheckReport {
        rule: rule_text(spec.min_on_time, spec.tighten_factor),
        min_on_time: spec.min_on_time,
        tighten_factor: spec.tighten_factor,
        replications,
        seed: spec.seed,
        rng: sim::RNG_NAME.to_string(),
        rounds,
        passed,
        ended,
        cancelled,
    })
}

/// What every round of the check shares: the network, the concepts and the run settings.
struct RoundContext<'a> {
    net: &'a Network,
    concepts: &'a [Option<Scenario>],
    replications: u32,
    threads: usize,
    progress: &'a (dyn Fn(&str, u32, u32) + Sync),
    cancel: &'a AtomicBool,
}

/// One site simulated in a round: its check, its uncensored vein-to-vein days (sorted) and
/// its replications.
struct SiteRun {
    check: SiteCheck,
    pool: Vec<f64>,
    replications: Vec<sim::Replication>,
}

/// Simulates every open site of `plan` that serves patients and pools the network's
/// figures; `None` when cancelled.
fn simulate_round(
    ctx: &RoundContext,
    plan: &Plan,
    caps: &[f64],
) -> Result<Option<(Vec<SiteCheck>, NetworkCheck)>, CheckError> {
    let mut sites = Vec::new();
    let mut per_rep: Vec<(Vec<sim::Replication>, f64)> = Vec::new();
    let mut pooled: Vec<f64> = Vec::new();
    let mut pooled_all = 0u64;
    for s in plan.open_sites() {
        let patients = plan.sites[s].patients;
        if patients <= 0.0 {
            continue;
        }
        let Some(run) = simulate_site(ctx, plan, s, caps[s])? else {
            return Ok(None);
        };
        sites.push(run.check);
        pooled_all += run.pool.len() as u64;
        let room = MAX_POOLED.saturating_sub(pooled.len());
        pooled.extend(run.pool.iter().take(room));
        per_rep.push((run.replications, patients));
    }
    let network = pool(plan, &per_rep, pooled, pooled_all);
    Ok(Some((sites, network)))
}

/// Builds site `s`'s plant scenario from its concept and simulates it; `None` when
/// cancelled.
fn simulate_site(
    ctx: &RoundContext,
    plan: &Plan,
    s: usize,
    capacity: f64,
) -> Result<Option<SiteRun>, CheckError> {
    let net = ctx.net;
    let spec = &net.check;
    let sp = &plan.sites[s];
    let name = net.sites[s].name.clone();
    let model = site_model(net, plan, s, ctx.concepts, &name)?;
    let run = sim::RunOptions {
        replications: Some(ctx.replications),
        seed: Some(spec.seed),
        threads: ctx.threads,
        plan: None,
        drop_replications: false,
        event_budget: None,
    };
    let label = name.clone();
    let prog = |n: u32| (ctx.progress)(&label, n, ctx.replications);
    let mut site_pool: Vec<f64> = Vec::new();
    let mut censored = 0u64;
    let mut sink = |_r: u32, obs: &[sim::Observation]| {
        for o in obs {
            if let sim::Observed::VeinToVein { censored: c } = o.what {
                if c {
                    censored += 1;
                } else {
                    site_pool.push(o.value);
                }
            }
        }
        Ok(())
    };
    let results = sim::run_observed(&model, &run, &prog, ctx.cancel, &mut sink).map_err(|e| {
        CheckError::Simulation {
            site: name.clone(),
            message: e.to_string(),
        }
    })?;
    if results.cancelled || ctx.cancel.load(Ordering::SeqCst) {
        return Ok(None);
    }
    site_pool.sort_by(f64::total_cmp);
    let pct = |q: f64| sim::percentile(&site_pool, q);
    let mut resources: Vec<ResourceUse> = results
        .resources
        .iter()
        .map(|r| ResourceUse {
            name: r.name.clone(),
            kind: r.kind.clone(),
            utilisation: (&r.utilisation).into(),
        })
        .collect();
    resources.sort_by(|a, b| b.utilisation.mean.total_cmp(&a.utilisation.mean));
    let on_time: Estimate = (&results.on_time_fraction).into();
    let check = SiteCheck {
        site: s,
        name,
        patients_per_year: sp.patients / plan.period_years,
        capacity,
        planned_v2v_days: sp.mean_v2v_days.unwrap_or(0.0),
        v2v_days: Estimate {
            mean: results.vein_to_vein_days.mean,
            ci95: results.vein_to_vein_days.ci95,
        },
        v2v_percentiles: [pct(0.5), pct(0.9), pct(0.95)],
        on_time,
        lost: (&results.patients_lost_fraction).into(),
        throughput_per_year: (&results.throughput_per_year).into(),
        resources,
        censored,
        passes: on_time.mean >= spec.min_on_time,
    };
    Ok(Some(SiteRun {
        check,
        pool: site_pool,
        replications: results.per_replication,
    }))
}

/// Site `s`'s concept scenario scaled to its planned patients, compiled for the simulator.
fn site_model(
    net: &Network,
    plan: &Plan,
    s: usize,
    concepts: &[Option<Scenario>],
    name: &str,
) -> Result<model::Model, CheckError> {
    let concept = concepts
        .get(s)
        .and_then(Option::as_ref)
        .ok_or_else(|| CheckError::Concept {
            site: name.to_string(),
            message: "the site has no concept scenario (site.concept) to simulate".into(),
        })?;
    let scenario = site_scenario(net, plan, s, concept).map_err(|message| CheckError::Concept {
        site: name.to_string(),
        message,
    })?;
    model::compile(&scenario).map_err(|problems| CheckError::Concept {
        site: name.to_string(),
        message: format!(
            "the site's plant scenario is not valid: {}",
            problems
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    })
}

/// Lowers each failing site's capacity to the tighten factor times its planned patients per
/// year, and records the change.
fn tighten(net: &Network, plan: &Plan, failing: &[usize], caps: &mut [f64]) -> Vec<Tightened> {
    let mut tightened = Vec::new();
    for &s in failing {
        let to = net.check.tighten_factor * plan.sites[s].patients / plan.period_years;
        tightened.push(Tightened {
            site: net.sites[s].name.clone(),
            from: caps[s],
            to,
        });
        caps[s] = to;
    }
    tightened
}

/// Plans again with the tightened capacities; the reason the check ends when that fails.
fn replan(net: &Network, caps: &[f64], round: u32) -> Result<Plan, String> {
    solve(
        net,
        &SolveOptions {
            capacity: Some(caps.to_vec()),
            ..SolveOptions::default()
        },
    )
    .map_err(|e| match e {
        SolveError::Infeasible(reasons) => format!(
            "no plan meets the tightened capacities after round {round}: {}",
            reasons.join("; ")
        ),
        SolveError::Solver(m) => format!("the solver failed after round {round}: {m}"),
    })
}

/// The network's figures from the sites' replications: replication `r` of every site
/// together is one replication of the network.
fn pool(
    plan: &Plan,
    per_rep: &[(Vec<sim::Replication>, f64)],
    mut pooled: Vec<f64>,
    pooled_all: u64,
) -> NetworkCheck {
    let reps = per_rep.iter().map(|(r, _)| r.len()).min().unwrap_or(0);
    let mut means = Vec::with_capacity(reps);
    let mut on_time = Vec::with_capacity(reps);
    for i in 0..reps {
        let (mut sum, mut treated, mut ok) = (0.0, 0u64, 0u64);
        for (r, _) in per_rep {
            let x = &r[i];
            treated += u64::from(x.treated);
            ok += u64::from(x.on_time);
            if let Some(m) = x.vein_to_vein_mean_days {
                sum += m * f64::from(x.treated);
            }
        }
        if treated > 0 {
            means.push(sum / treated as f64);
            on_time.push(ok as f64 / treated as f64);
        }
    }
    pooled.sort_by(f64::total_cmp);
    let pct = |q: f64| sim::percentile(&pooled, q);
    let (edges, counts) = histogram(&pooled);
    NetworkCheck {
        v2v_days: (&sim::mean_ci(&means)).into(),
        v2v_percentiles: [pct(0.5), pct(0.9), pct(0.95)],
        planned_v2v_days: plan.mean_v2v_days().unwrap_or(0.0),
        on_time: (&sim::mean_ci(&on_time)).into(),
        histogram_edges: edges,
        histogram_counts: counts,
        pooled: pooled_all,
    }
}

fn histogram(sorted: &[f64]) -> (Vec<f64>, Vec<u64>) {
    let (Some(&lo), Some(&hi)) = (sorted.first(), sorted.last()) else {
        return (Vec::new(), Vec::new());
    };
    let lo = lo.floor();
    let hi = if hi.ceil() > lo { hi.ceil() } else { lo + 1.0 };
    let w = (hi - lo) / BINS as f64;
    let edges: Vec<f64> = (0..=BINS).map(|i| lo + w * i as f64).collect();
    let mut counts = vec![0u64; BINS];
    for &v in sorted {
        let i = (((v - lo) / w) as usize).min(BINS - 1);
        counts[i] += 1;
    }
    (edges, counts)
}
