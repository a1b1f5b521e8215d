//! Combinatorial lower bounds (valid for every feasible plan).
//!
//! * job bound: the longest chain of one job (release, shortest processing times, minimum lags);
//! * stage bound for stage k: a plan using `u` of the `m_k` machines has
//!   `u * Cmax >= (u smallest heads) + (total work at k) + (u smallest tails)`, so
//!   `Cmax >= min over u of ceil((H_u + W_k + T_u) / u)` (with `u = m_k` this is the classic bound);
//! * weighted completion / tardiness: from each job's earliest possible completion.
//!
//! Set-ups and unavailability are relaxed away; frozen operations enter with their fixed times.

use serde::Serialize;

use crate::instance::{Instance, Prep, Time};
use crate::objective::Criterion;

/// The lower bounds of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LowerBounds {
    /// Job bound.
    pub job: Time,
    /// Best stage bound.
    pub stage: Time,
    /// Makespan lower bound: max of the above.
    pub makespan: Time,
    /// Lower bound on the weighted sum of completion times.
    pub weighted_completion: i64,
    /// Lower bound on total weighted tardiness.
    pub weighted_tardiness: i64,
}

impl LowerBounds {
    /// The bound for one criterion.
    pub fn of(&self, c: Criterion) -> i64 {
        match c {
            Criterion::Makespan => self.makespan,
            Criterion::WeightedTardiness => self.weighted_tardiness,
            Criterion::WeightedCompletion => self.weighted_completion,
        }
    }
}

/// Earliest start (`head[j*g+k]`) and minimal remaining time after each operation
/// (`tail[j*g+k]`, excluding the operation itself).
pub(crate) fn heads_tails(p: &Prep) -> (Vec<Time>, Vec<Time>) {
    let (n, g) = (p.n, p.g);
    let mut head = vec![0; n * g];
    let mut tail = vec![0; n * g];
    for j in 0..n {
        for k in 0..g {
            let idx = j * g + k;
            head[idx] = match p.frozen[idx] {
                Some((_, s)) => s,
                None => {
                    let h = if k == 0 {
                        p.release[j]
                    } else {
                        let prev = idx - 1;
                        let d = match p.frozen[prev] {
                            Some((gm, _)) => p.p(j, gm),
                            None => p.pmin[prev],
                        };
                        head[prev] + d + p.lmin[prev]
                    };
                    h.max(p.not_before)
                }
            };
        }
        for k in (0..g.saturating_sub(1)).rev() {
            let idx = j * g + k;
            tail[idx] = tail[idx + 1] + p.pmin[idx + 1] + p.lmin[idx];
        }
    }
    (head, tail)
}

fn dur(p: &Prep, j: usize, k: usize) -> Time {
    let idx = j * p.g + k;
    match p.frozen[idx] {
        Some((gm, _)) => p.p(j, gm),
        None => p.pmin[idx],
    }
}

pub(crate) fn compute(inst: &Instance, p: &Prep) -> LowerBounds {
    let (n, g) = (p.n, p.g);
    let (head, tail) = heads_tails(p);
    let mut job = 0;
    let mut wc: i64 = 0;
    let mut wt: i64 = 0;
    for j in 0..n {
        let idx = j * g + g - 1;
        let c = head[idx] + dur(p, j, g - 1);
        job = job.max(c);
        let w = inst.jobs[j].weight;
        wc = wc.saturating_add(w.saturating_mul(c));
        wt = wt.saturating_add(w.saturating_mul((c - inst.jobs[j].due).max(0)));
    }
    let mut stage = 0;
    let mut hs = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    for k in 0..g {
        hs.clear();
        ts.clear();
        let mut work: Time = 0;
        for j in 0..n {
            hs.push(head[j * g + k]);
            ts.push(tail[j * g + k]);
            work += dur(p, j, k);
        }
        hs.sort_unstable();
        ts.sort_unstable();
        let umax = p.m[k].min(n);
        let mut best = Time::MAX;
        let (mut hsum, mut tsum) = (0, 0);
        for u in 1..=umax {
            hsum += hs[u - 1];
            tsum += ts[u - 1];
            let tot = hsum + work + tsum;
            let ut = u as Time;
            let b = (tot + ut - 1).div_euclid(ut);
            best = best.min(b);
        }
        stage = stage.max(best);
    }
    LowerBounds {
        job,
        stage,
        makespan: job.max(stage),
        weighted_completion: wc,
        weighted_tardiness: wt,
    }
}

/// Lower bounds of `inst` (the instance must be valid).
pub fn lower_bounds(inst: &Instance) -> LowerBounds {
    compute(inst, &Prep::new(inst))
}
