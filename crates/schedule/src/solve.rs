//! The anytime solver: bounds, construction, iterated greedy, exact search on small
//! instances, and the independent check of the returned plan.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bounds::{self, LowerBounds};
use crate::check::check;
use crate::decode::{Decoder, DecoderKind};
use crate::error::ScheduleError;
use crate::exact;
use crate::instance::{Instance, Prep, Time};
use crate::objective::{Cost, INFEASIBLE, Objective};
use crate::pfsp::Pfsp;
use crate::plan::{Assignment, Plan, Values};
use crate::rng::{GENERATOR, Rng};
use crate::search::{self, BAD, Evaluator, Found, Stopper};
pub use crate::tuning::Tuning;

/// When to run the exact branch and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExactMode {
    /// Only on small instances (at most 10 jobs and 40 operations).
    Auto,
    /// Never.
    Off,
    /// Always (after the heuristic), within the remaining budget.
    On,
}

/// Solver options.
#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// What to minimise.
    pub objective: Objective,
    /// Wall-clock budget (measured with `std::time::Instant`); `None` = no limit.
    pub time_limit: Option<Duration>,
    /// Iteration budget of the metaheuristic (reproducible runs); `None` = no limit.
    pub iteration_limit: Option<u64>,
    /// Seed of the random generator.
    pub seed: u64,
    /// Exact search mode.
    pub exact: ExactMode,
    /// Node budget of the exact search.
    pub exact_node_limit: u64,
    /// A job order to start from (e.g. the previous plan when re-planning).
    pub warm_start: Option<Vec<usize>>,
    /// Metaheuristic parameters.
    pub tuning: Tuning,
}

impl Default for SolveOptions {
    fn default() -> Self {
        Self {
            objective: Objective::makespan(),
            time_limit: Some(Duration::from_secs(10)),
            iteration_limit: None,
            seed: 1,
            exact: ExactMode::Auto,
            exact_node_limit: 20_000_000,
            warm_start: None,
            tuning: Tuning::default(),
        }
    }
}

/// A progress report (sent on every improvement).
#[derive(Debug, Clone)]
pub struct Progress {
    /// Best cost so far.
    pub best: Cost,
    /// Lower bound on the primary criterion.
    pub lower_bound: i64,
    /// Metaheuristic iterations so far.
    pub iteration: u64,
    /// Time since the start of `solve`.
    pub elapsed: Duration,
    /// Which phase found it.
    pub phase: &'static str,
}

/// The result of [`solve`].
#[derive(Debug, Clone, Serialize)]
pub struct Solution {
    /// The plan (checked feasible).
    pub plan: Plan,
    /// Its objective values.
    pub values: Values,
    /// The objective that was minimised.
    pub objective: Objective,
    /// Its cost vector.
    pub cost: Cost,
    /// Lower bound on the primary criterion.
    pub lower_bound: i64,
    /// All lower bounds.
    pub bounds: LowerBounds,
    /// Whether the plan is proven optimal for the objective.
    pub proven_optimal: bool,
    /// Metaheuristic iterations.
    pub iterations: u64,
    /// Plan evaluations (decodes / insertion sweeps).
    pub evaluations: u64,
    /// Exact search nodes.
    pub exact_nodes: u64,
    /// Seed used.
    pub seed: u64,
    /// Random generator.
    pub generator: &'static str,
    /// Algorithm description.
    pub method: String,
    /// Job order of the best plan (first stage order).
    pub permutation: Vec<usize>,
}

fn plain_pfsp(inst: &Instance, p: &Prep, obj: &Objective) -> bool {
    inst.permutation
        && obj.levels == [crate::objective::Criterion::Makespan]
        && p.m.iter().all(|&m| m == 1)
        && !p.has_frozen
        && !p.shared
        && !p.has_setup
        && !p.has_windows
        && !p.has_max_lag
        && p.lmin.iter().all(|&x| x == 0)
        && p.release.windows(2).all(|w| w[0] == w[1])
}

/// The read-only inputs every phase of [`solve`] shares.
struct Ctx<'a> {
    inst: &'a Instance,
    opts: &'a SolveOptions,
    p: &'a Prep,
    weight: Vec<i64>,
    due: Vec<Time>,
    /// The primary cost at which the search may stop (the lower bound of a single criterion).
    target: i64,
    /// Forward-backward improvement passes (makespan only).
    justify: usize,
}

impl<'a> Ctx<'a> {
    fn new(inst: &'a Instance, opts: &'a SolveOptions, p: &'a Prep, lb: i64) -> Self {
        Ctx {
            inst,
            opts,
            p,
            weight: inst.jobs.iter().map(|j| j.weight).collect(),
            due: inst.jobs.iter().map(|j| j.due).collect(),
            target: if opts.objective.levels.len() == 1 {
                lb
            } else {
                i64::MIN
            },
            justify: if opts.objective.primary() == crate::objective::Criterion::Makespan {
                opts.tuning.justify
            } else {
                0
            },
        }
    }

    /// One evaluator per (direction, decoder); everything else is shared.
    fn evaluator<'b>(&'b self, pp: &'b Prep, kind: DecoderKind) -> Evaluator<'b> {
        Evaluator {
            p: pp,
            dec: Decoder::new(pp, kind),
            obj: &self.opts.objective,
            weight: self.weight.clone(),
            due: self.due.clone(),
            evals: 0,
            justify: self.justify,
            justify_all: self.opts.tuning.justify_all,
            cut: self.opts.tuning.cut,
        }
    }
}

/// Reports an improvement: (best cost, iteration, phase).
type Report<'r> = dyn FnMut(Cost, u64, &'static str) + 'r;

/// A job order found by the heuristic: (on the reversed flow?, decoder, order, its key).
type Candidate = (bool, DecoderKind, Vec<usize>, search::Key);

/// The heuristic's plan: start, end and machine of every operation (job-major).
struct Heuristic {
    start: Vec<Time>,
    end: Vec<Time>,
    mach: Vec<usize>,
    perm: Vec<usize>,
    evaluations: u64,
    method: String,
}

/// Whether the exact search will run after the heuristic (`Auto`: at most 10 jobs and 40
/// operations; never with shared resources or a permutation shop with frozen operations).
fn exact_planned(inst: &Instance, p: &Prep, mode: ExactMode) -> bool {
    let small = p.n <= 10 && p.n * p.g <= 40;
    !(p.shared || inst.permutation && p.has_frozen)
        && match mode {
            ExactMode::Off => false,
            ExactMode::On => true,
            ExactMode::Auto => small,
        }
}

/// Solves `inst` for `opts.objective` within the budget. `cancel` stops the search early
/// (the best plan so far is returned); `progress` hears of every improvement.
pub fn solve(
    inst: &Instance,
    opts: &SolveOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Solution, ScheduleError> {
    let t0 = Instant::now();
    inst.validate()?;
    if opts.objective.levels.is_empty() {
        return Err(ScheduleError::Invalid("objective has no criterion".into()));
    }
    let p = Prep::new(inst);
    let lbs = bounds::compute(inst, &p);
    let lb = lbs.of(opts.objective.primary());
    let deadline = opts.time_limit.map(|d| t0 + d);
    let exact_planned = exact_planned(inst, &p, opts.exact);
    // leave most of the budget to the exact search when it will run
    let heuristic_deadline = if exact_planned {
        opts.time_limit.map(|d| t0 + d / 4)
    } else {
        deadline
    };
    let mut stop = Stopper {
        deadline: heuristic_deadline,
        max_iter: match (opts.iteration_limit, exact_planned) {
            (Some(i), _) => Some(i),
            (None, true) => Some(2_000),
            (None, false) => None,
        },
        max_evals: None,
        cancel,
        iter: 0,
    };
    let mut rng = Rng::new(opts.seed);
    let cx = Ctx::new(inst, opts, &p, lb);
    let mut report = |best: Cost, iteration: u64, phase: &'static str| {
        progress(&Progress {
            best,
            lower_bound: lb,
            iteration,
            elapsed: t0.elapsed(),
            phase,
        });
    };

    let h = if plain_pfsp(inst, &p, &opts.objective) {
        pfsp_heuristic(&cx, &mut rng, &mut stop, &mut report)
    } else {
        general_heuristic(&cx, &mut rng, &mut stop, heuristic_deadline, &mut report)?
    };
    let mut plan = to_plan(&p, &h.start, &h.end, &h.mach);
    let mut values = plan.values(inst);
    let mut cost = opts.objective.cost(&values);
    let mut proven = opts.objective.levels.len() == 1 && cost[0] <= lb;
    let mut lower = lb;
    let mut exact_nodes = 0;
    let run_exact = !proven && exact_planned;
    if run_exact {
        let r = exact::branch_and_bound(
            &p,
            &opts.objective,
            &cx.weight,
            &cx.due,
            inst.permutation,
            cost,
            opts.exact_node_limit,
            deadline,
            cancel,
        );
        exact_nodes = r.nodes;
        if let Some((s, e, m)) = r.best
            && r.best_cost < cost
        {
            plan = to_plan(&p, &s, &e, &m);
            values = plan.values(inst);
            cost = opts.objective.cost(&values);
            report(cost, stop.iter, "branch and bound");
        }
        if r.complete {
            proven = true;
            lower = lower.max(cost[0]);
        }
    }
    if cost == INFEASIBLE {
        return Err(ScheduleError::Invalid("no feasible plan found".into()));
    }
    let violations = check(inst, &plan);
    if let Some(v) = violations.first() {
        return Err(ScheduleError::CheckFailed(format!(
            "{v} ({} violations)",
            violations.len()
        )));
    }
    Ok(Solution {
        plan,
        values,
        objective: opts.objective.clone(),
        cost,
        lower_bound: lower,
        bounds: lbs,
        proven_optimal: proven,
        iterations: stop.iter,
        evaluations: h.evaluations,
        exact_nodes,
        seed: opts.seed,
        generator: GENERATOR,
        method: if run_exact {
            format!("{}; branch and bound", h.method)
        } else {
            h.method
        },
        permutation: h.perm,
    })
}

/// The permutation flow shop with makespan only: NEH and iterated greedy on job orders,
/// with Taillard's acceleration.
fn pfsp_heuristic(cx: &Ctx, rng: &mut Rng, stop: &mut Stopper, report: &mut Report) -> Heuristic {
    let p = cx.p;
    let mut pf = Pfsp::new(p);
    let (seq, _c) = pf.iterated_greedy(rng, stop, cx.target, &mut |_, c, it| {
        report([c, 0, 0], it, "iterated greedy");
    });
    let st = pf.starts(&seq);
    let mut start = vec![0; p.n * p.g];
    let mut end = vec![0; p.n * p.g];
    let mut mach = vec![0; p.n * p.g];
    for j in 0..p.n {
        for k in 0..p.g {
            let idx = j * p.g + k;
            start[idx] = st[idx];
            end[idx] = st[idx] + p.p(j, p.off[k]);
            mach[idx] = p.off[k];
        }
    }
    Heuristic {
        start,
        end,
        mach,
        perm: seq,
        evaluations: pf.evals,
        method: "NEH + iterated greedy with Taillard acceleration (permutation flow shop)"
            .to_string(),
    }
}

/// Every other shop: construct with each candidate decoder (on the forward and, where the
/// problem is symmetric, the reversed flow), improve the best by iterated greedy, decode.
fn general_heuristic(
    cx: &Ctx,
    rng: &mut Rng,
    stop: &mut Stopper,
    heuristic_deadline: Option<Instant>,
    report: &mut Report,
) -> Result<Heuristic, ScheduleError> {
    let (inst, opts, p) = (cx.inst, cx.opts, cx.p);
    let kinds: Vec<DecoderKind> = if inst.permutation {
        vec![DecoderKind::JobWise { append_only: true }]
    } else if p.has_max_lag || p.shared {
        vec![DecoderKind::JobWise { append_only: false }]
    } else if let Some(k) = opts.tuning.decoder {
        vec![k]
    } else {
        vec![DecoderKind::Fifo]
    };
    let order = start_order(cx);
    let reversible = !inst.permutation
        && !p.has_frozen
        && !p.shared
        && !p.has_setup
        && !p.has_windows
        && !p.has_max_lag
        && opts.warm_start.is_none()
        && opts.objective.levels == [crate::objective::Criterion::Makespan]
        && p.release.windows(2).all(|w| w[0] == w[1])
        && opts.tuning.try_reverse;
    let rp = if reversible {
        Some(Prep::new(&reversed(inst)))
    } else {
        None
    };
    let (best, per_dir) = construct(cx, rp.as_ref(), &kinds, &order)?;
    if best.3 != BAD {
        report(best.3.0, 0, "construction");
    }
    // small instances stagnate within seconds: search both directions, half the budget
    // each; larger ones continue in the direction of the better construction only
    let runs = if opts.tuning.both_directions && p.n <= 80 && per_dir.len() == 2 {
        per_dir
    } else {
        vec![best]
    };
    let (found, evals_total) =
        improve(cx, rp.as_ref(), runs, rng, stop, heuristic_deadline, report);
    let Some((rev, kind, seq, _key)) = found else {
        return Err(ScheduleError::Invalid("no decoder".into()));
    };
    let pp = match (&rp, rev) {
        (Some(r), true) => r,
        _ => p,
    };
    let mut ev = Evaluator {
        evals: evals_total,
        ..cx.evaluator(pp, kind)
    };
    let decoded = ev.dec.decode(pp, &seq);
    if decoded.is_ok() && cx.justify > 0 {
        ev.dec.justify(pp, &seq, cx.justify);
    }
    if let Err(inf) = decoded {
        return Err(ScheduleError::MaxLagInfeasible {
            job: inf.job,
            job_name: inst.jobs[inf.job].name.clone(),
            stage: inf.stage,
            stage_name: inst.stages[inf.stage].name.clone(),
            reason: "no machine of this stage can start the batch within its maximum wait after the previous stage (with the frozen operations and unavailability given)".into(),
        });
    }
    let (start, end, mach) = if rev {
        mirror_back(p, pp, &ev.dec)
    } else {
        (
            ev.dec.start.clone(),
            ev.dec.end.clone(),
            ev.dec.mach.clone(),
        )
    };
    Ok(Heuristic {
        start,
        end,
        mach,
        perm: seq,
        evaluations: ev.evals,
        method: format!(
            "NEH-style construction + iterated greedy with insertion local search, decoder {kind:?}{}{}",
            if cx.justify > 0 {
                " + forward-backward improvement"
            } else {
                ""
            },
            if rev {
                ", solved on the reversed flow"
            } else {
                ""
            }
        ),
    })
}

/// The order construction starts from: the warm start (its valid jobs, first occurrence),
/// then the remaining jobs in the objective's initial order.
fn start_order(cx: &Ctx) -> Vec<usize> {
    let p = cx.p;
    let initial = || search::initial_order(p, &cx.opts.objective, &cx.weight, &cx.due);
    let Some(w) = &cx.opts.warm_start else {
        return initial();
    };
    let mut seen = vec![false; p.n];
    let mut o: Vec<usize> = Vec::with_capacity(p.n);
    for &j in w {
        if j < p.n && !seen[j] {
            seen[j] = true;
            o.push(j);
        }
    }
    o.extend(initial().into_iter().filter(|&j| !seen[j]));
    o
}

/// Constructs with every decoder in each direction (the reversed one only if `rp` is
/// given); returns the overall best and the best of each direction.
fn construct(
    cx: &Ctx,
    rp: Option<&Prep>,
    kinds: &[DecoderKind],
    order: &[usize],
) -> Result<(Candidate, Vec<Candidate>), ScheduleError> {
    let mut best: Option<Candidate> = None;
    let mut per_dir: Vec<Candidate> = Vec::new();
    for (rev, pp) in [(false, Some(cx.p)), (true, rp)] {
        let Some(pp) = pp else { continue };
        let mut dir_best: Option<Candidate> = None;
        for &kind in kinds {
            let mut ev = cx.evaluator(pp, kind);
            let (seq, key) = if cx.opts.warm_start.is_some() {
                let k = ev.eval(order);
                let (s2, k2) = search::neh(&mut ev, order);
                if k <= k2 {
                    (order.to_vec(), k)
                } else {
                    (s2, k2)
                }
            } else {
                search::neh(&mut ev, order)
            };
            let key = if cx.justify > 0 {
                ev.eval_full(&seq)
            } else {
                key
            };
            if best.as_ref().is_none_or(|b| key < b.3) {
                best = Some((rev, kind, seq.clone(), key));
            }
            if dir_best.as_ref().is_none_or(|b| key < b.3) {
                dir_best = Some((rev, kind, seq, key));
            }
        }
        per_dir.extend(dir_best);
    }
    let best = best.ok_or_else(|| ScheduleError::Invalid("no decoder".into()))?;
    Ok((best, per_dir))
}

/// Iterated greedy from each of `runs`, sharing the remaining time and iteration budget
/// equally; returns the best order found and the evaluations spent.
fn improve(
    cx: &Ctx,
    rp: Option<&Prep>,
    runs: Vec<Candidate>,
    rng: &mut Rng,
    stop: &mut Stopper,
    heuristic_deadline: Option<Instant>,
    report: &mut Report,
) -> (Option<Candidate>, u64) {
    let nruns = runs.len();
    let max_iter = stop.max_iter;
    let mut evals_total = 0;
    let mut found: Option<Candidate> = None;
    for (i, (rev, kind, seq, key)) in runs.into_iter().enumerate() {
        if found.as_ref().is_some_and(|f| f.3.0[0] <= cx.target) {
            break;
        }
        let pp = match (rp, rev) {
            (Some(r), true) => r,
            _ => cx.p,
        };
        let left = nruns - i;
        if let Some(hd) = heuristic_deadline {
            let now = Instant::now();
            stop.deadline = Some(now + hd.saturating_duration_since(now) / left as u32);
        }
        if let Some(mi) = max_iter {
            stop.max_iter = Some(stop.iter + (mi.saturating_sub(stop.iter)) / left as u64);
        }
        let mut ev = cx.evaluator(pp, kind);
        let (seq, key) = search::iterated_greedy(
            &mut ev,
            seq,
            key,
            rng,
            stop,
            cx.target,
            &cx.opts.tuning,
            &mut |_, f: Found| report(f.key.0, f.iter, "iterated greedy"),
        );
        evals_total += ev.evals;
        if found.as_ref().is_none_or(|f| key < f.3) {
            found = Some((rev, kind, seq, key));
        }
    }
    (found, evals_total)
}

/// A plan decoded on the reversed flow `pp`, mirrored back onto the stages of `p`.
fn mirror_back(p: &Prep, pp: &Prep, dec: &Decoder) -> (Vec<Time>, Vec<Time>, Vec<usize>) {
    let g = p.g;
    let c = (0..p.n).map(|j| dec.end[j * g + g - 1]).max().unwrap_or(0);
    let mut start = vec![0; p.n * g];
    let mut end = vec![0; p.n * g];
    let mut mach = vec![0; p.n * g];
    for j in 0..p.n {
        for k in 0..g {
            let r = j * g + (g - 1 - k);
            let idx = j * g + k;
            start[idx] = c - dec.end[r] + p.release[j];
            end[idx] = c - dec.start[r] + p.release[j];
            mach[idx] = p.off[k] + (dec.mach[r] - pp.off[g - 1 - k]);
        }
    }
    (start, end, mach)
}

/// The mirrored problem: stages in reverse order (same optimal makespan when all jobs are
/// released together and there are no set-ups, windows or frozen operations).
fn reversed(inst: &Instance) -> Instance {
    let mut r = inst.clone();
    r.stages.reverse();
    for row in &mut r.processing {
        row.reverse();
    }
    for row in &mut r.lags {
        row.reverse();
    }
    r
}

fn to_plan(p: &Prep, start: &[Time], end: &[Time], mach: &[usize]) -> Plan {
    let mut ops = Vec::with_capacity(p.n * p.g);
    for j in 0..p.n {
        for k in 0..p.g {
            let idx = j * p.g + k;
            ops.push(Assignment {
                job: j,
                stage: k,
                machine: mach[idx] - p.off[k],
                start: start[idx],
                end: end[idx],
            });
        }
    }
    Plan { ops }
}
