//! Combinatorial lower bounds (valid for every feasible plan).
//!
//! * job bound: the longest chain of one job (release, shortest processing times, minimum lags);
//! * stage bound for stage k: a plan using `u` of the `m_k` machines has
//!   `u * Cmax >= (u smallest heads) + (total work at k) + (u smallest tails)`, so
//!   `Cmax >= min over u of ceil((H_u + W_k + T_u) / u)` (with `u = m_k` this is the classic bound).
//!   The same argument holds for the operations of any subset S of the jobs alone, with the
//!   heads, work and tails of S; the bound is the best over all jobs and over the subsets
//!   "head at least a and tail at least b" for every pair of thresholds (jobs with small
//!   heads and tails fill and drain the stage; leaving them out often raises the bound);
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
    let mut hk = vec![0; n];
    let mut tk = vec![0; n];
    let mut wk = vec![0; n];
    for k in 0..g {
        for j in 0..n {
            hk[j] = head[j * g + k];
            tk[j] = tail[j * g + k];
            wk[j] = dur(p, j, k);
        }
        stage = stage.max(stage_bound(&hk, &wk, &tk, p.m[k]));
    }
    LowerBounds {
        job,
        stage,
        makespan: job.max(stage),
        weighted_completion: wc,
        weighted_tardiness: wt,
    }
}

/// `min over u of ceil((H_u + W + T_u) / u)` for one set of operations on `m` machines, from
/// their heads sorted ascending, their total work and their tails sorted ascending.
fn set_bound(heads: &[Time], work: Time, tails: &[Time], m: usize) -> Time {
    let umax = m.min(heads.len()).min(tails.len());
    let mut best = Time::MAX;
    let (mut hsum, mut tsum) = (0, 0);
    for u in 1..=umax {
        hsum += heads[u - 1];
        tsum += tails[u - 1];
        let ut = u as Time;
        best = best.min((hsum + work + tsum + ut - 1).div_euclid(ut));
    }
    if umax == 0 { 0 } else { best }
}

/// Stage bound for one stage with `m` machines: the best subset bound over all jobs and
/// over the subsets `{j : head_j >= a, tail_j >= b}`. For each head threshold the jobs are
/// added in order of decreasing tail, so the smallest tails of the subset are the last ones
/// added and the smallest heads are kept in a bounded max-heap: `O(n^2 m log m)` per stage
/// (above 2000 jobs only the set of all jobs is used).
pub(crate) fn stage_bound(head: &[Time], work: &[Time], tail: &[Time], m: usize) -> Time {
    let n = head.len();
    if n == 0 || m == 0 {
        return 0;
    }
    let mut hs = head.to_vec();
    hs.sort_unstable();
    if n > 2000 {
        let mut ts = tail.to_vec();
        ts.sort_unstable();
        return set_bound(&hs, work.iter().sum(), &ts, m);
    }
    // the smallest head threshold admits every job, and its last subset is the set of all jobs
    let mut best = 0;
    let mut by_tail: Vec<usize> = (0..n).collect();
    by_tail.sort_unstable_by_key(|&j| std::cmp::Reverse(tail[j]));
    // the distinct heads are the head thresholds
    let mut thresholds = hs;
    thresholds.dedup();
    let mut heap = std::collections::BinaryHeap::with_capacity(m + 1);
    let mut small_heads = Vec::with_capacity(m);
    let mut small_tails = Vec::with_capacity(m);
    let mut last_tails = std::collections::VecDeque::with_capacity(m + 1);
    for &a in &thresholds {
        heap.clear();
        last_tails.clear();
        let mut w = 0;
        // the subset is complete (all jobs of its tail threshold are in) when the next
        // admitted job has a smaller tail, and at the end
        let mut eval = |heap: &std::collections::BinaryHeap<Time>,
                        last_tails: &std::collections::VecDeque<Time>,
                        w: Time| {
            small_heads.clear();
            small_heads.extend(heap.iter().copied());
            small_heads.sort_unstable();
            small_tails.clear();
            small_tails.extend(last_tails.iter().rev().copied());
            best = best.max(set_bound(&small_heads, w, &small_tails, m));
        };
        for &j in &by_tail {
            if head[j] < a {
                continue;
            }
            if last_tails.back().is_some_and(|&t| t != tail[j]) {
                eval(&heap, &last_tails, w);
            }
            w += work[j];
            heap.push(head[j]);
            if heap.len() > m {
                heap.pop();
            }
            last_tails.push_back(tail[j]);
            if last_tails.len() > m {
                last_tails.pop_front();
            }
        }
        if !last_tails.is_empty() {
            eval(&heap, &last_tails, w);
        }
    }
    best
}

/// Lower bounds of `inst` (the instance must be valid).
pub fn lower_bounds(inst: &Instance) -> LowerBounds {
    compute(inst, &Prep::new(inst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The subset bound by enumeration of every threshold pair.
    fn naive(head: &[Time], work: &[Time], tail: &[Time], m: usize) -> Time {
        let mut best = 0;
        for &a in head {
            for &b in tail {
                let s: Vec<usize> = (0..head.len())
                    .filter(|&j| head[j] >= a && tail[j] >= b)
                    .collect();
                let mut hs: Vec<Time> = s.iter().map(|&j| head[j]).collect();
                let mut ts: Vec<Time> = s.iter().map(|&j| tail[j]).collect();
                hs.sort_unstable();
                ts.sort_unstable();
                let w = s.iter().map(|&j| work[j]).sum();
                best = best.max(set_bound(&hs, w, &ts, m));
            }
        }
        best
    }

    #[test]
    fn stage_bound_equals_enumeration_of_threshold_subsets() {
        let mut rng = Rng::new(4);
        for case in 0..300 {
            let n = 1 + rng.below(12);
            let m = 1 + rng.below(4);
            let head: Vec<Time> = (0..n).map(|_| rng.below(30) as Time).collect();
            let tail: Vec<Time> = (0..n).map(|_| rng.below(30) as Time).collect();
            let work: Vec<Time> = (0..n).map(|_| 1 + rng.below(20) as Time).collect();
            let got = stage_bound(&head, &work, &tail, m);
            assert_eq!(
                got,
                naive(&head, &work, &tail, m),
                "case {case}: {head:?} {work:?} {tail:?} m {m}"
            );
        }
    }

    #[test]
    fn leaving_out_fill_and_drain_jobs_raises_the_bound() {
        // two machines; two short jobs could start at 0 and end the plan right away, but
        // they are not the ones that load the machines: the three long jobs all have head
        // 10 and tail 10, so Cmax >= (10 + 10 + 90 + 10 + 10) / 2 = 65
        let head = [0, 0, 10, 10, 10];
        let tail = [0, 0, 10, 10, 10];
        let work = [1, 1, 30, 30, 30];
        let mut hs = head.to_vec();
        let mut ts = tail.to_vec();
        hs.sort_unstable();
        ts.sort_unstable();
        // all jobs: (0 + 92 + 0) / 2 = 46
        assert_eq!(set_bound(&hs, work.iter().sum(), &ts, 2), 46);
        assert_eq!(stage_bound(&head, &work, &tail, 2), 65);
    }
}
