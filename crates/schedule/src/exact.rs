//! Exact branch and bound for small instances.
//!
//! For regular objectives and no maximum lags, some optimal plan is semi-active: every
//! operation starts as early as its machine (set-up, unavailability) and its job allow,
//! given the machine sequences. Such a plan is rebuilt exactly by appending its operations
//! in order of start time. The search therefore appends one operation at a time to the end
//! of one machine, with start times never decreasing (ties in a fixed operation order), and
//! prunes with job-chain and stage (water-filling) lower bounds. Identical empty machines
//! of a stage are tried once. With maximum lags the same search only explores plans whose
//! operations all start at their earliest time, so it cannot prove optimality there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::decode::NONE;
use crate::instance::{Prep, Time};
use crate::objective::{Cost, Criterion, Objective};
use crate::plan::Values;

/// Outcome of the exact search.
#[derive(Debug, Clone)]
pub(crate) struct ExactResult {
    /// Best plan found that beats the incumbent: (start, end, global machine) per op.
    pub best: Option<(Vec<Time>, Vec<Time>, Vec<usize>)>,
    pub best_cost: Cost,
    /// The search space was exhausted: the final incumbent is optimal.
    pub complete: bool,
    pub nodes: u64,
}

struct Bb<'a> {
    p: &'a Prep,
    obj: &'a Objective,
    weight: &'a [i64],
    due: &'a [Time],
    next: Vec<usize>,
    free: Vec<Time>,
    last: Vec<usize>,
    init_free: Vec<Time>,
    start: Vec<Time>,
    end: Vec<Time>,
    mach: Vec<usize>,
    /// Suffix sums: minimal remaining time from the start of stage k of job j to its end.
    rest: Vec<Time>,
    seq0: Vec<usize>,
    count: Vec<usize>,
    permutation: bool,
    tie_rule: bool,
    best_cost: Cost,
    best: Option<(Vec<Time>, Vec<Time>, Vec<usize>)>,
    nodes: u64,
    node_limit: u64,
    deadline: Option<Instant>,
    cancel: &'a AtomicBool,
    aborted: bool,
    lag_pruned: bool,
    remaining: usize,
    scratch: Vec<Vec<Time>>,
}

impl Bb<'_> {
    fn values(&self) -> Values {
        let g = self.p.g;
        let mut v = Values {
            makespan: 0,
            weighted_tardiness: 0,
            weighted_completion: 0,
        };
        for j in 0..self.p.n {
            let c = self.end[j * g + g - 1];
            v.makespan = v.makespan.max(c);
            v.weighted_tardiness += self.weight[j] * (c - self.due[j]).max(0);
            v.weighted_completion += self.weight[j] * c;
        }
        v
    }

    fn ready(&self, j: usize, k: usize) -> Time {
        let p = self.p;
        let r = if k == 0 {
            p.release[j]
        } else {
            self.end[j * p.g + k - 1] + p.lmin[j * p.g + k - 1]
        };
        r.max(p.not_before)
    }

    /// Lower bound on the primary criterion given the current partial plan and the
    /// earliest start `floor` of any further operation.
    fn bound(&mut self, floor: Time) -> i64 {
        let p = self.p;
        let g = p.g;
        let crit = self.obj.primary();
        let mut job_lb = 0;
        let mut wsum: i64 = 0;
        for j in 0..p.n {
            let k = self.next[j];
            let c = if k == g {
                self.end[j * g + g - 1]
            } else {
                self.ready(j, k).max(floor) + self.rest[j * g + k]
            };
            job_lb = job_lb.max(c);
            match crit {
                Criterion::Makespan => {}
                Criterion::WeightedTardiness => wsum += self.weight[j] * (c - self.due[j]).max(0),
                Criterion::WeightedCompletion => wsum += self.weight[j] * c,
            }
        }
        if crit != Criterion::Makespan {
            return wsum;
        }
        let mut lb = job_lb;
        // stage water-filling bound
        for k in 0..g {
            let mut work = 0;
            let mut min_tail = Time::MAX;
            let mut min_head = Time::MAX;
            let mut any = false;
            for j in 0..p.n {
                if self.next[j] <= k {
                    any = true;
                    let idx = j * g + k;
                    work += p.pmin[idx];
                    min_tail = min_tail.min(self.rest[idx] - p.pmin[idx]);
                    // earliest head of (j, k)
                    let kk = self.next[j];
                    let mut h = self.ready(j, kk).max(floor);
                    for s in kk..k {
                        h += p.pmin[j * g + s] + p.lmin[j * g + s];
                    }
                    min_head = min_head.min(h);
                }
            }
            if !any {
                continue;
            }
            let a = &mut self.scratch[k];
            a.clear();
            for i in 0..p.m[k] {
                a.push(self.free[p.off[k] + i].max(min_head));
            }
            a.sort_unstable();
            // smallest T with sum max(0, T - a_i) >= work
            let mut t = a[0];
            let mut remaining = work;
            let mut cnt: Time = 0;
            for i in 0..a.len() {
                cnt += 1;
                let next_level = if i + 1 < a.len() { a[i + 1] } else { Time::MAX };
                let cap = if next_level == Time::MAX {
                    Time::MAX
                } else {
                    (next_level - a[i]) * cnt
                };
                if cap >= remaining {
                    t = a[i] + (remaining + cnt - 1) / cnt;
                    remaining = 0;
                    break;
                }
                remaining -= cap;
                t = next_level;
            }
            let _ = remaining;
            lb = lb.max(t + min_tail);
        }
        lb
    }

    fn dfs(&mut self, last_start: Time, last_idx: usize) {
        if self.aborted {
            return;
        }
        self.nodes += 1;
        if self.nodes >= self.node_limit
            || (self.nodes & 1023 == 0
                && (self.cancel.load(Ordering::Relaxed)
                    || self.deadline.is_some_and(|d| Instant::now() >= d)))
        {
            self.aborted = true;
            return;
        }
        let p = self.p;
        let g = p.g;
        if self.remaining == 0 {
            let c = self.obj.cost(&self.values());
            if c < self.best_cost {
                self.best_cost = c;
                self.best = Some((self.start.clone(), self.end.clone(), self.mach.clone()));
            }
            return;
        }
        let lb = self.bound(last_start);
        let inc = self.best_cost[0];
        if lb > inc || (lb == inc && self.obj.levels.len() == 1) {
            return;
        }
        // candidates
        let mut cands: Vec<(Time, Time, usize, usize)> = Vec::new();
        for j in 0..p.n {
            let k = self.next[j];
            if k == g {
                continue;
            }
            if self.permutation
                && k > 0
                && (self.count[k] >= self.seq0.len() || self.seq0[self.count[k]] != j)
            {
                continue;
            }
            let idx = j * g + k;
            let ready = self.ready(j, k);
            for i in 0..p.m[k] {
                let gm = p.off[k] + i;
                let empty = self.last[gm] == NONE && self.free[gm] == self.init_free[gm];
                let plain = empty && p.windows[gm].is_empty();
                if plain && i > 0 {
                    // identical to an earlier empty plain machine with the same speed?
                    let same = (0..i).any(|i2| {
                        let g2 = p.off[k] + i2;
                        self.last[g2] == NONE
                            && self.free[g2] == self.init_free[g2]
                            && self.init_free[g2] == self.init_free[gm]
                            && p.windows[g2].is_empty()
                            && (0..p.n).all(|jj| p.p(jj, g2) == p.p(jj, gm))
                    });
                    if same {
                        continue;
                    }
                }
                let pt = p.p(j, gm);
                let mut s = ready.max(self.free[gm] + p.setup_time(k, self.last[gm], j));
                if p.has_windows {
                    s = p.fit_windows(gm, s, pt);
                }
                if s < last_start || (self.tie_rule && s == last_start && idx_lt(idx, last_idx)) {
                    continue;
                }
                if k > 0 && s - self.end[idx - 1] > p.lmax[idx - 1] {
                    self.lag_pruned = true;
                    continue;
                }
                cands.push((s, s + pt, j, gm));
            }
        }
        cands.sort_unstable();
        for (s, e, j, gm) in cands {
            let k = self.next[j];
            let idx = j * g + k;
            let (of, ol) = (self.free[gm], self.last[gm]);
            self.start[idx] = s;
            self.end[idx] = e;
            self.mach[idx] = gm;
            self.free[gm] = e;
            self.last[gm] = j;
            self.next[j] += 1;
            self.remaining -= 1;
            if self.permutation {
                if k == 0 {
                    self.seq0.push(j);
                } else {
                    self.count[k] += 1;
                }
            }
            self.dfs(s, idx);
            if self.permutation {
                if k == 0 {
                    self.seq0.pop();
                } else {
                    self.count[k] -= 1;
                }
            }
            self.remaining += 1;
            self.next[j] -= 1;
            self.free[gm] = of;
            self.last[gm] = ol;
            if self.aborted {
                return;
            }
        }
    }
}

fn idx_lt(a: usize, b: usize) -> bool {
    b != usize::MAX && a < b
}

/// Runs the branch and bound with `incumbent` as the cost to beat.
#[allow(clippy::too_many_arguments)]
pub(crate) fn branch_and_bound(
    p: &Prep,
    obj: &Objective,
    weight: &[i64],
    due: &[Time],
    permutation: bool,
    incumbent: Cost,
    node_limit: u64,
    deadline: Option<Instant>,
    cancel: &AtomicBool,
) -> ExactResult {
    let g = p.g;
    let n = p.n;
    let mut rest = vec![0; n * g];
    for j in 0..n {
        let mut acc = 0;
        for k in (0..g).rev() {
            let idx = j * g + k;
            acc += p.pmin[idx];
            rest[idx] = acc;
            if k > 0 {
                acc += p.lmin[idx - 1];
            }
        }
    }
    let mut next = vec![0; n];
    let mut start = vec![0; n * g];
    let mut end = vec![0; n * g];
    let mut mach = vec![0; n * g];
    let mut free = vec![p.not_before; p.mt];
    let mut last = vec![NONE; p.mt];
    let mut remaining = n * g;
    let mut frozen_in_future = false;
    // frozen operations first (they form a prefix of each job)
    for j in 0..n {
        for k in 0..g {
            if let Some((gm, s)) = p.frozen[j * g + k] {
                let e = s + p.p(j, gm);
                start[j * g + k] = s;
                end[j * g + k] = e;
                mach[j * g + k] = gm;
                if e >= free[gm] {
                    free[gm] = e;
                    last[gm] = j;
                }
                if s > p.not_before {
                    frozen_in_future = true;
                }
                next[j] = k + 1;
                remaining -= 1;
            }
        }
    }
    let zero = p.pt.contains(&0);
    let mut bb = Bb {
        p,
        obj,
        weight,
        due,
        next,
        init_free: free.clone(),
        free,
        last,
        start,
        end,
        mach,
        rest,
        seq0: Vec::new(),
        count: vec![0; g],
        permutation,
        tie_rule: !zero,
        best_cost: incumbent,
        best: None,
        nodes: 0,
        node_limit,
        deadline,
        cancel,
        aborted: false,
        lag_pruned: false,
        remaining,
        scratch: vec![Vec::new(); g],
    };
    bb.dfs(Time::MIN, usize::MAX);
    ExactResult {
        complete: !bb.aborted && !bb.lag_pruned && !frozen_in_future,
        best_cost: bb.best_cost,
        best: bb.best,
        nodes: bb.nodes,
    }
}
