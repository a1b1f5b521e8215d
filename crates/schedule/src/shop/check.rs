//! Independent feasibility checker for plant plans. It reads only the [`Shop`] and the
//! [`ShopPlan`] (none of the decoder's tables) and verifies every constraint.

use std::fmt;

use super::{Batch, Operation, PlannedOp, Resource, ResourceKind, Shop, ShopPlan, level_steps};
use crate::instance::Time;

/// One broken constraint, with the order, operation and resource it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShopViolation {
    /// The plan does not list every operation once, in order.
    Shape(String),
    /// An operation's length differs from its duration.
    Duration {
        /// Order.
        job: String,
        /// Operation.
        op: String,
    },
    /// An operation starts before its order's release or the re-planning instant.
    Early {
        /// Order.
        job: String,
        /// Operation.
        op: String,
        /// Planned start.
        start: Time,
        /// Earliest allowed start.
        earliest: Time,
    },
    /// The gap between two operations is below the transfer time or above the hold limit.
    Lag {
        /// Order.
        job: String,
        /// Later operation.
        op: String,
        /// Gap in the plan.
        gap: Time,
        /// Allowed range.
        min: Time,
        /// Hold limit.
        max: Option<Time>,
    },
    /// A fixed operation moved or changed resources.
    FixedMoved {
        /// Order.
        job: String,
        /// Operation.
        op: String,
    },
    /// A need is not met as the model says (wrong resource, count or hold period).
    Need {
        /// Order.
        job: String,
        /// Operation.
        op: String,
        /// What is wrong.
        what: String,
    },
    /// More is used of a resource than it has at that instant (overlap, shift, maintenance).
    Capacity {
        /// Resource.
        resource: String,
        /// Instant.
        at: Time,
        /// Amount in use (cleaning included).
        used: i64,
        /// Capacity then.
        capacity: u32,
    },
}

impl fmt::Display for ShopViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shape(s) => write!(f, "plan shape: {s}"),
            Self::Duration { job, op } => {
                write!(f, "order {job}, {op}: length differs from the duration")
            }
            Self::Early {
                job,
                op,
                start,
                earliest,
            } => write!(f, "order {job}, {op}: starts at {start}, before {earliest}"),
            Self::Lag {
                job,
                op,
                gap,
                min,
                max,
            } => write!(
                f,
                "order {job}, {op}: gap {gap} after the previous operation is outside [{min}, {}]",
                max.map_or("∞".to_string(), |m| m.to_string())
            ),
            Self::FixedMoved { job, op } => write!(f, "order {job}, {op}: fixed, but moved"),
            Self::Need { job, op, what } => write!(f, "order {job}, {op}: {what}"),
            Self::Capacity {
                resource,
                at,
                used,
                capacity,
            } => write!(
                f,
                "resource {resource} at {at}: {used} in use, capacity {capacity}"
            ),
        }
    }
}

/// Every violation of `plan` against `shop` (empty = feasible).
pub fn check(shop: &Shop, plan: &ShopPlan) -> Vec<ShopViolation> {
    let mut v = Vec::new();
    let total: usize = (0..shop.jobs.len()).map(|j| shop.ops(j).len()).sum();
    if plan.ops.len() != total {
        v.push(ShopViolation::Shape(format!(
            "{} operations, the orders have {total}",
            plan.ops.len()
        )));
        return v;
    }
    let mut i = 0;
    let mut intervals: Vec<Vec<(Time, Time, i64)>> = vec![Vec::new(); shop.resources.len()];
    for (j, b) in shop.jobs.iter().enumerate() {
        let ops = shop.ops(j);
        for (o, op) in ops.iter().enumerate() {
            let a = &plan.ops[i];
            i += 1;
            if a.job != j || a.op != o {
                v.push(ShopViolation::Shape(format!(
                    "operation #{} is order #{} operation #{}, expected order {} operation {}",
                    i - 1,
                    a.job,
                    a.op,
                    b.name,
                    op.name
                )));
                return v;
            }
            let at = OpAt {
                j,
                o,
                job: b,
                op,
                a,
            };
            check_timing(shop, &at, &mut v);
            let next_start = (o + 1 < ops.len()).then(|| plan.ops[i].start);
            if o > 0 {
                check_lag(&at, &plan.ops[i - 2], &ops[o - 1], &mut v);
            }
            check_needs(shop, &at, next_start, &mut intervals, &mut v);
        }
    }
    for (r, ivs) in intervals.iter().enumerate() {
        check_capacity(&shop.resources[r], ivs, &mut v);
    }
    v
}

/// One planned operation with the order and route operation it belongs to.
struct OpAt<'a> {
    /// Order index.
    j: usize,
    /// Operation index in the order's route.
    o: usize,
    job: &'a Batch,
    op: &'a Operation,
    a: &'a PlannedOp,
}

/// Checks an operation's length, and that it keeps its fixed start and resources or else
/// starts no earlier than its order's release and the plan's earliest start.
fn check_timing(shop: &Shop, at: &OpAt, v: &mut Vec<ShopViolation>) {
    let (jn, on) = (at.job.name.clone(), at.op.name.clone());
    let a = at.a;
    if a.end - a.start != at.op.duration {
        v.push(ShopViolation::Duration {
            job: jn.clone(),
            op: on.clone(),
        });
    }
    let fixed = shop.fixed.iter().find(|f| f.job == at.j && f.op == at.o);
    match fixed {
        Some(f) => {
            let mut want: Vec<(usize, usize)> =
                f.uses.iter().map(|u| (u.need, u.resource)).collect();
            let mut got: Vec<(usize, usize)> =
                a.uses.iter().map(|u| (u.need, u.resource)).collect();
            want.sort_unstable();
            got.sort_unstable();
            if f.start != a.start || want != got {
                v.push(ShopViolation::FixedMoved { job: jn, op: on });
            }
        }
        None => {
            let earliest = if at.o == 0 {
                at.job.release.max(shop.not_before)
            } else {
                shop.not_before
            };
            if a.start < earliest {
                v.push(ShopViolation::Early {
                    job: jn,
                    op: on,
                    start: a.start,
                    earliest,
                });
            }
        }
    }
}

/// Checks the gap between the previous operation `prev` (route operation `p`) and this one
/// against `p`'s minimum and maximum lag.
fn check_lag(at: &OpAt, prev: &PlannedOp, p: &Operation, v: &mut Vec<ShopViolation>) {
    let gap = at.a.start - prev.end;
    if gap < p.min_lag || p.max_lag.is_some_and(|m| gap > m) {
        v.push(ShopViolation::Lag {
            job: at.job.name.clone(),
            op: at.op.name.clone(),
            gap,
            min: p.min_lag,
            max: p.max_lag,
        });
    }
}

/// Checks that each need is served by candidates in the right amount and for the right time,
/// and records every use (with cleaning after it) in `intervals` for the capacity check.
fn check_needs(
    shop: &Shop,
    at: &OpAt,
    next_start: Option<Time>,
    intervals: &mut [Vec<(Time, Time, i64)>],
    v: &mut Vec<ShopViolation>,
) {
    let (a, op) = (at.a, at.op);
    let (jn, on) = (&at.job.name, &op.name);
    for (ni, need) in op.needs.iter().enumerate() {
        let us: Vec<_> = a.uses.iter().filter(|u| u.need == ni).collect();
        let mut bad = |what: String| {
            v.push(ShopViolation::Need {
                job: jn.clone(),
                op: on.clone(),
                what,
            })
        };
        if let Some(u) = us.iter().find(|u| !need.candidates.contains(&u.resource)) {
            bad(format!(
                "need #{ni} served by resource #{}, which is not a candidate",
                u.resource
            ));
            continue;
        }
        let kind = shop.resources[need.candidates[0]].kind;
        let ok = if kind == ResourceKind::Unit {
            let mut rs: Vec<usize> = us.iter().map(|u| u.resource).collect();
            rs.sort_unstable();
            rs.dedup();
            rs.len() == us.len()
                && us.len() == need.count as usize
                && us.iter().all(|u| u.amount == 1)
        } else {
            us.len() == 1 && us[0].amount == need.count
        };
        if !ok {
            bad(format!(
                "need #{ni} wants {} of {}, the plan gives something else",
                need.count,
                if kind == ResourceKind::Unit {
                    "distinct units"
                } else {
                    "one pool"
                }
            ));
        }
        let end = if shop.blocks(op, need) {
            next_start.unwrap_or(a.end)
        } else {
            a.start + Shop::hold_len(op, need)
        };
        for u in &us {
            if u.start != a.start || u.end != end {
                bad(format!(
                    "need #{ni} on {} held [{}, {}), should be [{}, {end})",
                    shop.resources[u.resource].name, u.start, u.end, a.start
                ));
            }
            let c = shop.cleaning_after(op, u.resource);
            intervals[u.resource].push((u.start, u.end + c, i64::from(u.amount)));
        }
    }
    if a.uses.iter().any(|u| u.need >= op.needs.len()) {
        v.push(ShopViolation::Need {
            job: jn.clone(),
            op: on.clone(),
            what: "a resource use refers to no need".into(),
        });
    }
}

/// Checks a resource's load over time (its uses `ivs`) against its capacity, releases before
/// uses at the same instant.
fn check_capacity(res: &Resource, ivs: &[(Time, Time, i64)], v: &mut Vec<ShopViolation>) {
    // the load at every instant it changes and at every segment boundary, all changes at
    // one instant (releases and uses) summed before the check
    let marks: Vec<Time> = res.segments.iter().flat_map(|s| [s.start, s.end]).collect();
    for (t, load) in level_steps(ivs, &marks) {
        let cap = res.capacity_at(t);
        if load > i64::from(cap) {
            v.push(ShopViolation::Capacity {
                resource: res.name.clone(),
                at: t,
                used: load,
                capacity: cap,
            });
        }
    }
}
