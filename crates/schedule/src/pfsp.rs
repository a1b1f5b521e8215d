//! Permutation flow shop (one machine per stage, same order everywhere, makespan):
//! NEH and the iterated greedy of Ruiz & Stützle (2007) with Taillard's (1990)
//! acceleration, which evaluates all insertion positions of a job in O(n m).

use crate::instance::{Prep, Time};
use crate::rng::Rng;
use crate::search::{Reinsertion, Stopper, destruct, insertion_local_search};

/// Permutation flow shop data and scratch arrays.
#[derive(Debug)]
pub(crate) struct Pfsp {
    n: usize,
    m: usize,
    /// `p[j * m + k]`.
    p: Vec<Time>,
    /// Common release offset of all jobs.
    r0: Time,
    e: Vec<Time>,
    q: Vec<Time>,
    pub evals: u64,
}

impl Pfsp {
    pub fn new(prep: &Prep) -> Self {
        let (n, m) = (prep.n, prep.g);
        let mut p = vec![0; n * m];
        for j in 0..n {
            for k in 0..m {
                p[j * m + k] = prep.p(j, prep.off[k]);
            }
        }
        let r0 = prep.release.iter().copied().max().unwrap_or(0);
        Self {
            n,
            m,
            p,
            r0,
            e: vec![0; (n + 2) * (m + 1)],
            q: vec![0; (n + 2) * (m + 1)],
            evals: 0,
        }
    }

    /// Start times `[j * m + k]` of a full permutation.
    pub fn starts(&self, seq: &[usize]) -> Vec<Time> {
        let m = self.m;
        let mut st = vec![0; self.n * m];
        let mut c = vec![self.r0; m];
        for &j in seq {
            let mut prev = self.r0;
            for (k, ck) in c.iter_mut().enumerate() {
                let s = prev.max(*ck);
                st[j * m + k] = s;
                *ck = s + self.p[j * m + k];
                prev = *ck;
            }
        }
        st
    }

    /// Best insertion position of `job` into `seq` (Taillard acceleration):
    /// returns `(position, makespan)`; ties go to the first position.
    pub fn best_position(&mut self, seq: &[usize], job: usize) -> (usize, Time) {
        self.evals += 1;
        let m = self.m;
        let l = seq.len();
        let w = m + 1;
        let (e, q, p) = (&mut self.e, &mut self.q, &self.p);
        // heads: e[(i+1) * w + (k+1)] = completion of seq[i] on machine k
        for k in 0..=m {
            e[k] = self.r0;
        }
        for i in 0..l {
            let row = (i + 1) * w;
            e[row] = self.r0;
            let pj = &p[seq[i] * m..seq[i] * m + m];
            for k in 0..m {
                let a = e[row - w + k + 1];
                let b = e[row + k];
                e[row + k + 1] = a.max(b) + pj[k];
            }
        }
        // tails: q[i * w + k] = longest path from start of seq[i] on machine k to the end
        for k in 0..=m {
            q[l * w + k] = 0;
        }
        for i in (0..l).rev() {
            let row = i * w;
            q[row + m] = 0;
            let pj = &p[seq[i] * m..seq[i] * m + m];
            for k in (0..m).rev() {
                let a = q[row + w + k];
                let b = q[row + k + 1];
                q[row + k] = a.max(b) + pj[k];
            }
        }
        let pj = &p[job * m..job * m + m];
        let mut best = Time::MAX;
        let mut best_pos = 0;
        for i in 0..=l {
            let mut f = self.r0;
            let mut cmax = 0;
            let erow = i * w;
            let qrow = i * w;
            for k in 0..m {
                f = f.max(e[erow + k + 1]) + pj[k];
                cmax = cmax.max(f + q[qrow + k]);
            }
            if cmax < best {
                best = cmax;
                best_pos = i;
            }
        }
        (best_pos, best)
    }

    fn insert(&mut self, seq: &mut Vec<usize>, job: usize) -> Time {
        let (pos, c) = self.best_position(seq, job);
        seq.insert(pos, job);
        c
    }

    /// NEH with jobs sorted by decreasing total processing time.
    pub fn neh(&mut self) -> (Vec<usize>, Time) {
        let m = self.m;
        let mut order: Vec<usize> = (0..self.n).collect();
        let tot: Vec<Time> = (0..self.n)
            .map(|j| self.p[j * m..j * m + m].iter().sum())
            .collect();
        order.sort_by_key(|&j| (std::cmp::Reverse(tot[j]), j));
        let mut seq = Vec::with_capacity(self.n);
        let mut c = 0;
        for j in order {
            c = self.insert(&mut seq, j);
        }
        (seq, c)
    }

    fn local_search(
        &mut self,
        seq: &mut Vec<usize>,
        c: Time,
        rng: &mut Rng,
        stop: &Stopper,
    ) -> Time {
        insertion_local_search(self, seq, c, rng, stop)
    }

    /// Iterated greedy from NEH; stops at the deadline or when `target` is reached.
    pub fn iterated_greedy(
        &mut self,
        rng: &mut Rng,
        stop: &mut Stopper,
        target: Time,
        on_improve: &mut dyn FnMut(&[usize], Time, u64),
    ) -> (Vec<usize>, Time) {
        let (mut cur, mut cc) = self.neh();
        on_improve(&cur, cc, 0);
        let n = self.n;
        let mut best = cur.clone();
        let mut bc = cc;
        if n < 2 || bc <= target {
            return (best, bc);
        }
        cc = self.local_search(&mut cur, cc, rng, stop);
        if cc < bc {
            bc = cc;
            best.clone_from(&cur);
            on_improve(&best, bc, 0);
        }
        let total: Time = self.p.iter().sum();
        let temperature = (0.4 * total as f64 / (n * self.m * 10) as f64).max(1e-9);
        let d = 4.min(n - 1);
        let mut removed = Vec::with_capacity(d);
        while bc > target && !stop.stop(self.evals) {
            stop.iter += 1;
            let mut seq = cur.clone();
            destruct(&mut seq, d, rng, &mut removed);
            let mut c = 0;
            for &r in &removed {
                c = self.insert(&mut seq, r);
            }
            c = self.local_search(&mut seq, c, rng, stop);
            if c < cc {
                cur = seq;
                cc = c;
                if cc < bc {
                    bc = cc;
                    best.clone_from(&cur);
                    on_improve(&best, bc, stop.iter);
                }
            } else {
                let diff = (c - cc) as f64;
                if rng.unit() < (-diff / temperature).exp() {
                    cur = seq;
                    cc = c;
                }
            }
        }
        (best, bc)
    }
}

/// Insertion anywhere in the sequence, each position's makespan from Taillard's acceleration.
impl Reinsertion for Pfsp {
    type Key = Time;

    fn evals(&self) -> u64 {
        self.evals
    }

    fn reinsert_best(&mut self, seq: &mut Vec<usize>, job: usize, _from: usize) -> Time {
        let (pos, c) = self.best_position(seq, job);
        seq.insert(pos, job);
        c
    }
}
