//! Search over priority orders of the plant's orders: insertion construction (NEH-style)
//! from the earliest-due-date order, then iterated greedy (destruction of a few orders,
//! best-position re-insertion, acceptance of slightly worse orders with a small
//! probability), every candidate decoded by the serial list scheduler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::check::check;
use super::decode::{ShopDecoder, Unplannable};
use super::{PlannedOp, Shop, ShopCost, ShopPlan, ShopValues};
use crate::error::ScheduleError;
use crate::rng::{GENERATOR, Rng};
use crate::search::destruct;

/// Options of [`solve`].
#[derive(Debug, Clone)]
pub struct ShopOptions {
    /// Wall-clock budget; `None` = no limit.
    pub time_limit: Option<Duration>,
    /// Iteration budget of the iterated greedy (reproducible runs); `None` = no limit.
    pub iteration_limit: Option<u64>,
    /// Seed of the random generator.
    pub seed: u64,
    /// Priority order to start from (e.g. the previous plan's when re-planning).
    pub warm_start: Option<Vec<usize>>,
}

impl Default for ShopOptions {
    fn default() -> Self {
        Self {
            time_limit: Some(Duration::from_secs(10)),
            iteration_limit: None,
            seed: 1,
            warm_start: None,
        }
    }
}

/// The result of [`solve`].
#[derive(Debug, Clone, Serialize)]
pub struct ShopSolution {
    /// The plan (checked feasible).
    pub plan: ShopPlan,
    /// Its objective values.
    pub values: ShopValues,
    /// Its cost vector under the shop's goal.
    pub cost: ShopCost,
    /// Iterated-greedy iterations.
    pub iterations: u64,
    /// Decodes.
    pub evaluations: u64,
    /// Seed used.
    pub seed: u64,
    /// Random generator.
    pub generator: &'static str,
    /// Algorithm description.
    pub method: String,
    /// Priority order of the orders that were planned (fixed orders excluded).
    pub permutation: Vec<usize>,
}

/// Cost; then, when re-planning against a reference plan, the number of operations that
/// moved (start or resources changed) and their total shift; then total completion as a
/// tie-breaker towards compact plans.
type Key = (ShopCost, i64, i64, i64);
const BAD: Key = ([i64::MAX; 3], i64::MAX, i64::MAX, i64::MAX);

/// Where each operation of a shop (by its index in order-then-operation layout,
/// [`Shop::offsets`]) was in a reference plan: start and resources (sorted); `None` for
/// operations without a reference (new orders, fixed operations).
pub(crate) type Reference = Vec<Option<(super::Time, Vec<usize>)>>;

struct Eval<'a> {
    shop: &'a Shop,
    dec: ShopDecoder<'a>,
    last_err: Option<Unplannable>,
    /// Orders whose every operation is fixed (always part of the plan).
    fixed_jobs: Vec<usize>,
    /// The plan being re-planned: fewer and smaller moves are preferred among plans of equal
    /// cost.
    reference: Option<&'a Reference>,
}

impl Eval<'_> {
    fn key(&mut self, perm: &[usize]) -> Key {
        if let Err(e) = self.dec.decode(perm) {
            self.last_err = Some(e);
            return BAD;
        }
        let mut v = ShopValues::default();
        let mut total = 0i64;
        for &j in perm.iter().chain(&self.fixed_jobs) {
            let c = self.dec.end[self.dec.off[j + 1] - 1];
            let b = &self.shop.jobs[j];
            v.makespan = v.makespan.max(c);
            v.weighted_tardiness = v
                .weighted_tardiness
                .saturating_add(b.weight.saturating_mul((c - b.due).max(0)));
            v.total_flow_time = v.total_flow_time.saturating_add(c - b.release);
            total = total.saturating_add(c);
        }
        let (mut moved, mut shift) = (0i64, 0i64);
        if let Some(r) = self.reference {
            for &j in perm {
                for i in self.dec.off[j]..self.dec.off[j + 1] {
                    let Some(Some((s, res))) = r.get(i) else {
                        continue;
                    };
                    let st = self.dec.start[i];
                    let uses = &self.dec.uses[i];
                    let same = uses.len() == res.len()
                        && uses.iter().all(|u| res.binary_search(&u.resource).is_ok());
                    if st != *s || !same {
                        moved += 1;
                        shift = shift.saturating_add((st - s).abs());
                    }
                }
            }
        }
        (self.shop.goal.cost(&v), moved, shift, total)
    }

    /// Inserts `job` at its best position in `seq`; returns the key.
    fn best_insert(&mut self, seq: &mut Vec<usize>, job: usize) -> Key {
        let mut best = (BAD, seq.len());
        for pos in 0..=seq.len() {
            seq.insert(pos, job);
            let k = self.key(seq);
            seq.remove(pos);
            if k < best.0 {
                best = (k, pos);
            }
        }
        seq.insert(best.1, job);
        best.0
    }
}

/// Plans every order of `shop` within the budget. `cancel` stops the search early (the
/// best plan so far is returned); `progress` hears of every improvement (cost, iteration).
pub fn solve(
    shop: &Shop,
    opts: &ShopOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(ShopCost, u64),
) -> Result<ShopSolution, ScheduleError> {
    solve_near(shop, opts, None, cancel, progress)
}

/// [`solve`]; with a `reference`, among plans of equal cost the one with fewer operations
/// moved from the reference, then the smaller total shift, is preferred (lexicographic).
pub(crate) fn solve_near(
    shop: &Shop,
    opts: &ShopOptions,
    reference: Option<&Reference>,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(ShopCost, u64),
) -> Result<ShopSolution, ScheduleError> {
    let t0 = Instant::now();
    shop.validate()?;
    let deadline = opts.time_limit.map(|d| t0 + d);
    let dec = ShopDecoder::new(shop);
    let n = shop.jobs.len();
    let (free, fixed_jobs): (Vec<usize>, Vec<usize>) = (0..n).partition(|&j| !dec.all_fixed(j));
    let mut ev = Eval {
        shop,
        dec,
        last_err: None,
        fixed_jobs,
        reference,
    };
    // start: the warm start's orders first, the rest by due date, then release
    let mut order: Vec<usize> = Vec::with_capacity(free.len());
    let mut seen = vec![false; n];
    for &j in opts.warm_start.iter().flatten() {
        if j < n && !seen[j] && free.contains(&j) {
            seen[j] = true;
            order.push(j);
        }
    }
    let mut rest: Vec<usize> = free.iter().copied().filter(|&j| !seen[j]).collect();
    rest.sort_by_key(|&j| (shop.jobs[j].due, shop.jobs[j].release, j));
    order.extend(rest);
    let stop = |iter: u64| {
        cancel.load(Ordering::Relaxed)
            || opts.iteration_limit.is_some_and(|m| iter >= m)
            || deadline.is_some_and(|d| Instant::now() >= d)
    };
    let mut best_key = ev.key(&order);
    let mut best = order.clone();
    // insertion construction in the same order
    let mut seq = Vec::with_capacity(order.len());
    let mut k = BAD;
    for &j in &order {
        if cancel.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            k = BAD;
            break;
        }
        k = ev.best_insert(&mut seq, j);
    }
    if seq.len() == order.len() && k < best_key {
        best_key = k;
        best = seq;
    }
    progress(best_key.0, 0);
    let mut rng = Rng::new(opts.seed);
    let mut cur = best.clone();
    let mut cur_key = best_key;
    let mut iter = 0;
    let d = 4.min(best.len());
    while best.len() > 1 && !stop(iter) {
        iter += 1;
        let mut seq = cur.clone();
        let mut removed = Vec::with_capacity(d);
        destruct(&mut seq, d, &mut rng, &mut removed);
        for j in removed {
            ev.best_insert(&mut seq, j);
        }
        // one local-search move: a random order to its best place (its own place included)
        let j = seq.remove(rng.below(seq.len()));
        let key = ev.best_insert(&mut seq, j);
        if key < best_key {
            best_key = key;
            best = seq.clone();
            progress(best_key.0, iter);
        }
        let accept = key <= cur_key || {
            // first level that differs, relative to its size; temperature 0.5 %
            let lvl = (0..3).find(|&l| key.0[l] != cur_key.0[l]).unwrap_or(0);
            let (a, b) = (key.0[lvl] as f64, cur_key.0[lvl] as f64);
            let rel = (a - b) / b.abs().max(1.0);
            key != BAD && rng.unit() < (-rel / 0.005).exp()
        };
        if accept {
            cur = seq;
            cur_key = key;
        }
    }
    if best_key == BAD {
        let msg = match ev.last_err {
            Some(e) => format!(
                "no feasible plan: order {} cannot be planned at {} (hold limit, blocking or no capacity left in the calendars)",
                shop.jobs[e.job].name,
                shop.ops(e.job)[e.op].name
            ),
            None => "no feasible plan".into(),
        };
        return Err(ScheduleError::Invalid(msg));
    }
    ev.key(&best);
    let plan = plan_of(shop, &ev.dec);
    let violations = check(shop, &plan);
    if let Some(v) = violations.first() {
        return Err(ScheduleError::CheckFailed(v.to_string()));
    }
    let values = plan.values(shop);
    Ok(ShopSolution {
        cost: shop.goal.cost(&values),
        values,
        plan,
        iterations: iter,
        evaluations: ev.dec.evals,
        seed: opts.seed,
        generator: GENERATOR,
        method: "serial list scheduling over all needs with hold-limit and blocking repair; insertion construction from due-date order + iterated greedy".into(),
        permutation: best,
    })
}

/// The plan the decoder holds (every order planned or fixed).
pub(crate) fn plan_of(shop: &Shop, dec: &ShopDecoder) -> ShopPlan {
    let mut ops = Vec::with_capacity(dec.start.len());
    for j in 0..shop.jobs.len() {
        for o in 0..shop.ops(j).len() {
            let i = dec.off[j] + o;
            let mut uses = dec.uses[i].clone();
            uses.sort_by_key(|u| (u.need, u.resource));
            ops.push(PlannedOp {
                job: j,
                op: o,
                start: dec.start[i],
                end: dec.end[i],
                uses,
            });
        }
    }
    ShopPlan { ops }
}
