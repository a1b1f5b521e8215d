//! Re-planning the plant after events, as of an instant `now`.
//!
//! Rules (documented in `docs/scheduling.md`):
//! * every operation of the old plan that started before `now` stays where it is (fixed, same
//!   resources); nothing else starts before `now`;
//! * `Breakdown`: a resource (or part of a pool) is out of use in `[from, to)`; work already
//!   running on it finishes first (the outage starts after its end and cleaning);
//! * `Delay`: an operation takes longer by `minutes` (a running culture needs more days); for
//!   the first operation of an order that has not started, the apheresis is late instead;
//! * `Failed`: the batch is lost and leaves the plan (its resources are free from `now`); with
//!   `restart` a new batch for the same patient (same product, due date and weight) is added,
//!   released at that instant;
//! * `NewOrder` adds an order; `Cancelled` removes one.
//!
//! Stability: every operation present in both plans and not fixed is compared; the report
//! lists those that moved (start or resources changed) with their shift. The search
//! minimises it second: among plans of equal objective it prefers fewer moved operations,
//! then a smaller total shift (lexicographic, after the objective's criteria).

use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::solve::{Reference, ShopOptions, ShopSolution, solve_near};
use super::{Batch, FixedOp, Shop, ShopPlan};
use crate::error::ScheduleError;
use crate::instance::Time;

/// Something that happened since the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShopEvent {
    /// A resource is out of use (all of it, or `amount` places or operators).
    Breakdown {
        /// Resource index.
        resource: usize,
        /// Start of the outage.
        from: Time,
        /// End of the outage.
        to: Time,
        /// Places or operators lost (`None` = all).
        amount: Option<u32>,
    },
    /// An operation takes longer.
    Delay {
        /// Order index.
        job: usize,
        /// Operation index.
        op: usize,
        /// Extra minutes.
        minutes: Time,
    },
    /// A batch failed.
    Failed {
        /// Order index.
        job: usize,
        /// Release of a replacement batch, if one is made.
        restart: Option<Time>,
    },
    /// A new order.
    NewOrder(Batch),
    /// An order is withdrawn.
    Cancelled {
        /// Order index.
        job: usize,
    },
}

/// One operation that moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// Order name.
    pub order: String,
    /// Operation name.
    pub op: String,
    /// Old start.
    pub old_start: Time,
    /// New start.
    pub new_start: Time,
    /// Old resources (names).
    pub old_resources: Vec<String>,
    /// New resources (names).
    pub new_resources: Vec<String>,
}

/// Result of [`replan`].
#[derive(Debug, Clone, Serialize)]
pub struct ShopReplanned {
    /// The problem that was solved (new order numbering).
    pub shop: Shop,
    /// The new plan and its figures.
    pub solution: ShopSolution,
    /// For each old order, its index in the new problem (`None` if it left the plan).
    pub job_map: Vec<Option<usize>>,
    /// Operations fixed because they had started.
    pub fixed: usize,
    /// Operations in both plans that were free to move.
    pub compared: usize,
    /// The ones that moved.
    pub moves: Vec<Move>,
    /// Sum of |new start − old start| over the moves.
    pub total_shift: Time,
    /// Largest |new start − old start|.
    pub max_shift: Time,
}

fn names(shop: &Shop, o: &super::PlannedOp) -> Vec<String> {
    let mut v: Vec<String> = o
        .uses
        .iter()
        .map(|u| {
            shop.resources
                .get(u.resource)
                .map_or_else(|| format!("#{}", u.resource), |r| r.name.clone())
        })
        .collect();
    v.sort();
    v
}

/// Builds the re-planning problem for `events` as of `now` and solves it: the objective
/// first, then stability (fewest operations moved, then the smallest total shift; see
/// [`replan_with`]).
pub fn replan(
    shop: &Shop,
    plan: &ShopPlan,
    now: Time,
    events: &[ShopEvent],
    opts: &ShopOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(super::ShopCost, u64),
) -> Result<ShopReplanned, ScheduleError> {
    replan_with(shop, plan, now, events, opts, true, cancel, progress)
}

/// [`replan`], choosing whether stability is a secondary objective: with `stable`, among
/// plans of equal objective the search prefers the one that moves fewer operations (start
/// or resources changed, counted as in the report), then the one with the smaller total
/// shift; without, it minimises the objective only (and reports the moves), as re-planning
/// did before — kept for measurements.
#[allow(clippy::too_many_arguments)]
pub fn replan_with(
    shop: &Shop,
    plan: &ShopPlan,
    now: Time,
    events: &[ShopEvent],
    opts: &ShopOptions,
    stable: bool,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(super::ShopCost, u64),
) -> Result<ShopReplanned, ScheduleError> {
    shop.validate()?;
    if let Some(v) = super::check(shop, plan).first() {
        return Err(ScheduleError::Invalid(format!(
            "the plan to re-plan does not fit its plant: {v}"
        )));
    }
    let mut out = shop.clone();
    let applied = apply_events(shop, plan, now, events, &mut out)?;
    let job_map = keep_orders(&mut out, plan, now, applied.gone, applied.restarts);
    out.jobs.extend(applied.new_orders);
    out.not_before = now;
    stretch_fixed(&mut out);
    place_outages(&mut out, applied.outages);
    out.validate()?;
    let mut o = opts.clone();
    o.warm_start = Some(warm_start(plan, &job_map));
    let reference = stable.then(|| reference(plan, now, &out, &job_map));
    let solution = solve_near(&out, &o, reference.as_ref(), cancel, progress)?;
    let (compared, moves) = moves(shop, plan, now, &out, &solution, &job_map);
    let total_shift = moves
        .iter()
        .map(|m| (m.new_start - m.old_start).abs())
        .sum();
    let max_shift = moves
        .iter()
        .map(|m| (m.new_start - m.old_start).abs())
        .fold(0, Time::max);
    Ok(ShopReplanned {
        fixed: out.fixed.len(),
        shop: out,
        solution,
        job_map,
        compared,
        moves,
        total_shift,
        max_shift,
    })
}

/// What the events ask for beyond the changes made to the problem in place.
struct Applied {
    /// Old orders that leave the plan.
    gone: Vec<bool>,
    /// Replacement batches: (old order, release).
    restarts: Vec<(usize, Time)>,
    new_orders: Vec<Batch>,
    /// (resource, from, to, amount).
    outages: Vec<(usize, Time, Time, Option<u32>)>,
}

/// Checks every event against `shop` and `plan`; applies delays to `out` and collects the rest.
fn apply_events(
    shop: &Shop,
    plan: &ShopPlan,
    now: Time,
    events: &[ShopEvent],
    out: &mut Shop,
) -> Result<Applied, ScheduleError> {
    let n = shop.jobs.len();
    let mut a = Applied {
        gone: vec![false; n],
        restarts: Vec::new(),
        new_orders: Vec::new(),
        outages: Vec::new(),
    };
    let bad = |s: String| Err(ScheduleError::Event(s));
    for e in events {
        match e {
            ShopEvent::Breakdown {
                resource,
                from,
                to,
                amount,
            } => {
                if *resource >= shop.resources.len() {
                    return bad(format!("resource #{resource} does not exist"));
                }
                if to <= from {
                    return bad(format!("outage [{from}, {to}) is empty"));
                }
                a.outages.push((*resource, *from, *to, *amount));
            }
            ShopEvent::Delay { job, op, minutes } => {
                apply_delay(shop, plan, now, (*job, *op, *minutes), out)?;
            }
            ShopEvent::Failed { job, restart } => {
                if *job >= n {
                    return bad(format!("failure of order #{job}, which does not exist"));
                }
                a.gone[*job] = true;
                if let Some(r) = restart {
                    a.restarts.push((*job, (*r).max(now)));
                }
            }
            ShopEvent::Cancelled { job } => {
                if *job >= n {
                    return bad(format!(
                        "cancellation of order #{job}, which does not exist"
                    ));
                }
                a.gone[*job] = true;
            }
            ShopEvent::NewOrder(b) => {
                if b.product >= shop.products.len() {
                    return bad(format!(
                        "new order {} refers to product #{}, which does not exist",
                        b.name, b.product
                    ));
                }
                if shop
                    .jobs
                    .iter()
                    .chain(&a.new_orders)
                    .any(|x: &Batch| x.name == b.name)
                {
                    return bad(format!("order {} is already in the plan", b.name));
                }
                a.new_orders.push(b.clone());
            }
        }
    }
    Ok(a)
}

/// A `Delay` of `minutes` on operation `op` of order `job`: a late apheresis if the first
/// operation has not started, else a longer operation on the order's own copy of its route.
fn apply_delay(
    shop: &Shop,
    plan: &ShopPlan,
    now: Time,
    (job, op, minutes): (usize, usize, Time),
    out: &mut Shop,
) -> Result<(), ScheduleError> {
    let bad = |s: String| Err(ScheduleError::Event(s));
    let Some(b) = shop.jobs.get(job) else {
        return bad(format!("delay of order #{job}, which does not exist"));
    };
    if op >= shop.ops(job).len() || minutes < 0 {
        return bad(format!(
            "delay of order {}: operation #{op} does not exist or the delay is negative",
            b.name
        ));
    }
    let planned = plan.ops.iter().find(|o| o.job == job && o.op == op);
    if let Some(o) = planned.filter(|o| o.end <= now) {
        return bad(format!(
            "delay of order {}, {}: the step ended at {} (plan), before the re-planning instant {now}",
            b.name,
            shop.ops(job)[op].name,
            o.end
        ));
    }
    let started = planned.is_some_and(|o| o.start < now);
    if op == 0 && !started {
        out.jobs[job].release = out.jobs[job].release.saturating_add(minutes);
    } else {
        // this order gets its own copy of the route with the longer operation
        let cur = out.jobs[job].product;
        let mut route = out.products[cur].clone();
        route.ops[op].duration = route.ops[op].duration.saturating_add(minutes);
        if route.variant_of.is_some() {
            out.products[cur] = route;
        } else {
            route.name = format!("{} [{}]", route.name, b.name);
            route.variant_of = Some(cur);
            out.products.push(route);
            out.jobs[job].product = out.products.len() - 1;
        }
    }
    Ok(())
}

/// Renumbers the orders that stay, fixes their operations that started before `now` and
/// appends the replacement batches; returns each old order's new index.
fn keep_orders(
    out: &mut Shop,
    plan: &ShopPlan,
    now: Time,
    gone: Vec<bool>,
    restarts: Vec<(usize, Time)>,
) -> Vec<Option<usize>> {
    let n = gone.len();
    let old_jobs = std::mem::take(&mut out.jobs);
    let mut job_map = vec![None; n];
    let mut fixed = Vec::new();
    for j in 0..n {
        if gone[j] {
            continue;
        }
        let nj = out.jobs.len();
        job_map[j] = Some(nj);
        out.jobs.push(old_jobs[j].clone());
        for o in plan.ops.iter().filter(|o| o.job == j && o.start < now) {
            let mut uses = o.uses.clone();
            for u in &mut uses {
                u.start = o.start;
            }
            fixed.push(FixedOp {
                job: nj,
                op: o.op,
                start: o.start,
                uses,
            });
        }
    }
    for (j, r) in restarts {
        let mut b = old_jobs[j].clone();
        b.name = format!("{}/re", b.name);
        b.release = r;
        out.jobs.push(b);
    }
    out.fixed = fixed;
    job_map
}

/// A delayed running operation ends later: its fixed resource uses follow.
fn stretch_fixed(out: &mut Shop) {
    let mut fixed = std::mem::take(&mut out.fixed);
    for f in &mut fixed {
        let op = &out.products[out.jobs[f.job].product].ops[f.op];
        for u in &mut f.uses {
            let need = &op.needs[u.need];
            if out.blocks(op, need) {
                u.end = u.end.max(f.start + op.duration);
            } else {
                u.end = f.start + Shop::hold_len(op, need);
            }
        }
    }
    out.fixed = fixed;
}

/// Outages start after the work running on the resource (and its cleaning).
fn place_outages(out: &mut Shop, outages: Vec<(usize, Time, Time, Option<u32>)>) {
    for (r, from, to, amount) in outages {
        let mut s = from;
        for f in &out.fixed {
            let op = &out.products[out.jobs[f.job].product].ops[f.op];
            for u in f.uses.iter().filter(|u| u.resource == r) {
                let e = u.end + out.cleaning_after(op, r);
                if u.start <= s && e > s {
                    s = e;
                }
            }
        }
        if s < to {
            out.resources[r].take_out(s, to, amount);
        }
    }
}

/// Where each operation of the re-planning problem `out` was in the old plan, for the
/// operations that are compared in the report (not started before `now`).
fn reference(plan: &ShopPlan, now: Time, out: &Shop, job_map: &[Option<usize>]) -> Reference {
    let off = out.offsets();
    let mut r: Reference = vec![None; off[out.jobs.len()]];
    for o in &plan.ops {
        let Some(&Some(nj)) = job_map.get(o.job) else {
            continue;
        };
        if o.start < now || o.op >= off[nj + 1] - off[nj] {
            continue;
        }
        let mut res: Vec<usize> = o.uses.iter().map(|u| u.resource).collect();
        res.sort_unstable();
        r[off[nj] + o.op] = Some((o.start, res));
    }
    r
}

/// The warm start: the staying orders (new numbering) in the old plan's order of first starts.
fn warm_start(plan: &ShopPlan, job_map: &[Option<usize>]) -> Vec<usize> {
    let mut order: Vec<(Time, usize)> = (0..job_map.len())
        .filter_map(|j| {
            let nj = job_map[j]?;
            let s = plan
                .ops
                .iter()
                .filter(|o| o.job == j)
                .map(|o| o.start)
                .min()?;
            Some((s, nj))
        })
        .collect();
    order.sort_unstable();
    order.into_iter().map(|x| x.1).collect()
}

/// Compares every operation in both plans that was free to move: how many, and those whose
/// start or resources changed.
fn moves(
    shop: &Shop,
    plan: &ShopPlan,
    now: Time,
    out: &Shop,
    solution: &ShopSolution,
    job_map: &[Option<usize>],
) -> (usize, Vec<Move>) {
    let mut moves = Vec::new();
    let mut compared = 0;
    for old in &plan.ops {
        let Some(nj) = job_map[old.job] else { continue };
        if old.start < now {
            continue;
        }
        let Some(new) = solution
            .plan
            .ops
            .iter()
            .find(|x| x.job == nj && x.op == old.op)
        else {
            continue;
        };
        compared += 1;
        let (on, nn) = (names(shop, old), names(out, new));
        if new.start != old.start || on != nn {
            moves.push(Move {
                order: shop.jobs[old.job].name.clone(),
                op: shop.ops(old.job)[old.op].name.clone(),
                old_start: old.start,
                new_start: new.start,
                old_resources: on,
                new_resources: nn,
            });
        }
    }
    (compared, moves)
}
