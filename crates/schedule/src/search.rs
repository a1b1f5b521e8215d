//! Constructive heuristic (NEH-style insertion) and iterated greedy with insertion
//! local search over job permutations, decoded by a list scheduler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::decode::Decoder;
use crate::instance::{Prep, Time};
use crate::objective::{Cost, INFEASIBLE, Objective};
use crate::plan::Values;
use crate::rng::Rng;

/// Search key: the objective's cost vector, then total completion time as a tie-breaker
/// that steers the search towards compact plans.
pub(crate) type Key = (Cost, i64);

pub(crate) const BAD: Key = (INFEASIBLE, i64::MAX);

/// Decodes permutations and scores them.
#[derive(Debug)]
pub(crate) struct Evaluator<'a> {
    pub p: &'a Prep,
    pub dec: Decoder,
    pub obj: &'a Objective,
    pub weight: Vec<i64>,
    pub due: Vec<Time>,
    pub evals: u64,
    /// Forward-backward improvement passes (makespan only; 0 = off).
    pub justify: usize,
    /// Apply them in every evaluation (else only to each iteration's result).
    pub justify_all: bool,
    /// Cut evaluations of insertion positions short once they cannot beat the best one.
    pub cut: bool,
}

impl<'a> Evaluator<'a> {
    pub fn eval(&mut self, perm: &[usize]) -> Key {
        self.evals += 1;
        if self.dec.decode(self.p, perm).is_err() || self.dec.cut {
            return BAD;
        }
        if self.justify > 0 && self.justify_all {
            self.dec.justify(self.p, perm, self.justify);
        }
        self.score(perm)
    }

    /// Evaluation with forward-backward improvement (used for each iteration's result).
    pub fn eval_full(&mut self, perm: &[usize]) -> Key {
        self.evals += 1;
        self.dec.cutoff = Time::MAX;
        if self.dec.decode(self.p, perm).is_err() {
            return BAD;
        }
        if self.justify > 0 {
            self.dec.justify(self.p, perm, self.justify);
        }
        self.score(perm)
    }

    /// An iteration's result re-keyed with forward-backward improvement when that is
    /// applied only to results (`justify` on, `justify_all` off); else `key` as it is.
    pub fn result_key(&mut self, perm: &[usize], key: Key) -> Key {
        if self.justify > 0 && !self.justify_all {
            self.eval_full(perm)
        } else {
            key
        }
    }

    fn score(&self, perm: &[usize]) -> Key {
        let g = self.p.g;
        let mut v = Values {
            makespan: 0,
            weighted_tardiness: 0,
            weighted_completion: 0,
        };
        let mut flow = 0;
        for &j in perm {
            let c = self.dec.end[j * g + g - 1];
            v.makespan = v.makespan.max(c);
            let w = self.weight[j];
            v.weighted_tardiness += w * (c - self.due[j]).max(0);
            v.weighted_completion += w * c;
            flow += c;
        }
        (self.obj.cost(&v), flow)
    }
}

/// When to stop: deadline, iteration limit, cancel flag.
#[derive(Debug)]
pub(crate) struct Stopper<'a> {
    pub deadline: Option<Instant>,
    pub max_iter: Option<u64>,
    pub max_evals: Option<u64>,
    pub cancel: &'a AtomicBool,
    pub iter: u64,
}

impl Stopper<'_> {
    pub fn stop(&self, evals: u64) -> bool {
        if self.cancel.load(Ordering::Relaxed) {
            return true;
        }
        if self.max_iter.is_some_and(|m| self.iter >= m) {
            return true;
        }
        if self.max_evals.is_some_and(|m| evals >= m) {
            return true;
        }
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Inserts `job` into `seq` at the position with the best key; returns that key.
pub(crate) fn best_insert(ev: &mut Evaluator, seq: &mut Vec<usize>, job: usize) -> Key {
    let len = seq.len() + 1;
    best_insert_in(ev, seq, job, 0, len)
}

/// Like [`best_insert`], trying only positions `lo..hi` (of the sequence with `job` in it).
pub(crate) fn best_insert_in(
    ev: &mut Evaluator,
    seq: &mut Vec<usize>,
    job: usize,
    lo: usize,
    hi: usize,
) -> Key {
    let hi = hi.min(seq.len() + 1);
    let lo = lo.min(hi.saturating_sub(1));
    seq.insert(lo, job);
    let mut best = BAD;
    let mut best_pos = lo;
    let mut last = lo;
    // positions whose plan must end later than the best one so far are cut short
    let cut = ev.cut && ev.obj.primary() == crate::objective::Criterion::Makespan;
    for pos in lo..hi {
        if pos > lo {
            seq.swap(pos - 1, pos);
        }
        last = pos;
        if cut && best != BAD {
            ev.dec.cutoff = best.0[0];
        }
        let k = ev.eval(seq);
        if k < best {
            best = k;
            best_pos = pos;
        }
    }
    ev.dec.cutoff = Time::MAX;
    seq.remove(last);
    seq.insert(best_pos, job);
    best
}

/// NEH-style construction: jobs in the given priority order, each inserted at its best position.
pub(crate) fn neh(ev: &mut Evaluator, order: &[usize]) -> (Vec<usize>, Key) {
    let mut seq = Vec::with_capacity(order.len());
    let mut key = BAD;
    for &j in order {
        key = best_insert(ev, &mut seq, j);
    }
    (seq, key)
}

/// Priority order for the constructive heuristic.
pub(crate) fn initial_order(p: &Prep, obj: &Objective, weight: &[i64], due: &[Time]) -> Vec<usize> {
    let total: Vec<Time> = (0..p.n)
        .map(|j| (0..p.g).map(|k| p.pmin[j * p.g + k]).sum())
        .collect();
    let mut order: Vec<usize> = (0..p.n).collect();
    match obj.primary() {
        crate::objective::Criterion::Makespan => {
            order.sort_by_key(|&j| (std::cmp::Reverse(total[j]), j));
        }
        crate::objective::Criterion::WeightedTardiness => {
            order.sort_by_key(|&j| (due[j], j));
        }
        crate::objective::Criterion::WeightedCompletion => {
            // weighted shortest processing time first
            order.sort_by(|&a, &b| {
                let ka = total[a] as f64 / weight[a].max(1) as f64;
                let kb = total[b] as f64 / weight[b].max(1) as f64;
                ka.total_cmp(&kb).then(a.cmp(&b))
            });
        }
    }
    order
}

/// A neighbourhood of the insertion local search: where a job taken out of a sequence
/// goes back in, and at what key.
pub(crate) trait Reinsertion {
    /// How a sequence is scored; lower is better.
    type Key: PartialOrd + Copy;
    /// Evaluations made so far (for the stopping rule).
    fn evals(&self) -> u64;
    /// Puts `job`, just removed from position `from` of `seq`, back at its best position
    /// within reach and returns the key of the sequence with it there.
    fn reinsert_best(&mut self, seq: &mut Vec<usize>, job: usize, from: usize) -> Self::Key;
}

/// First-improvement insertion local search: each job in a random order is taken out and
/// put back at its best position; an equal key keeps the move, a worse one restores the
/// job's place. Repeats until a pass improves nothing; returns the final key.
pub(crate) fn insertion_local_search<R: Reinsertion>(
    r: &mut R,
    seq: &mut Vec<usize>,
    mut key: R::Key,
    rng: &mut Rng,
    stop: &Stopper,
) -> R::Key {
    let mut order = seq.clone();
    loop {
        let mut improved = false;
        rng.shuffle(&mut order);
        for &job in &order {
            if stop.stop(r.evals()) {
                return key;
            }
            let Some(i) = seq.iter().position(|&x| x == job) else {
                continue;
            };
            seq.remove(i);
            let k = r.reinsert_best(seq, job, i);
            if k < key {
                key = k;
                improved = true;
            } else if k > key {
                if let Some(pos) = seq.iter().position(|&x| x == job) {
                    seq.remove(pos);
                }
                seq.insert(i, job);
            }
        }
        if !improved {
            return key;
        }
    }
}

/// Insertion within `window` positions either side of a job's place, scored by the evaluator.
struct Windowed<'e, 'a> {
    ev: &'e mut Evaluator<'a>,
    window: usize,
}

impl Reinsertion for Windowed<'_, '_> {
    type Key = Key;

    fn evals(&self) -> u64 {
        self.ev.evals
    }

    fn reinsert_best(&mut self, seq: &mut Vec<usize>, job: usize, from: usize) -> Key {
        best_insert_in(
            self.ev,
            seq,
            job,
            from.saturating_sub(self.window),
            from.saturating_add(self.window).saturating_add(1),
        )
    }
}

/// First-improvement insertion local search within `window` positions; returns the final key.
pub(crate) fn local_search(
    ev: &mut Evaluator,
    seq: &mut Vec<usize>,
    key: Key,
    rng: &mut Rng,
    stop: &Stopper,
    window: usize,
) -> Key {
    if window == 0 {
        return key;
    }
    insertion_local_search(&mut Windowed { ev, window }, seq, key, rng, stop)
}

/// Progress of the search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub key: Key,
    pub iter: u64,
}

/// The best solution found so far and its key.
struct Best {
    seq: Vec<usize>,
    key: Key,
}

impl Best {
    /// Takes `seq` with `key` as the best solution and reports it as found in iteration `iter`.
    fn take(
        &mut self,
        seq: &[usize],
        key: Key,
        iter: u64,
        on_improve: &mut dyn FnMut(&[usize], Found),
    ) {
        self.key = key;
        self.seq.clear();
        self.seq.extend_from_slice(seq);
        on_improve(&self.seq, Found { key, iter });
    }
}

/// Destruction step of the iterated greedy: removes `d` jobs at random positions of `seq`
/// into `removed`, in the order removed.
pub(crate) fn destruct(seq: &mut Vec<usize>, d: usize, rng: &mut Rng, removed: &mut Vec<usize>) {
    removed.clear();
    for _ in 0..d {
        let i = rng.below(seq.len());
        removed.push(seq.remove(i));
    }
}

/// Iterated greedy (Ruiz & Stützle 2007 scheme): destruction of `d` random jobs,
/// greedy re-insertion, insertion local search, simulated-annealing-like acceptance.
#[allow(clippy::too_many_arguments)]
pub(crate) fn iterated_greedy(
    ev: &mut Evaluator,
    init: Vec<usize>,
    init_key: Key,
    rng: &mut Rng,
    stop: &mut Stopper,
    target: i64,
    tuning: &crate::tuning::Tuning,
    on_improve: &mut dyn FnMut(&[usize], Found),
) -> (Vec<usize>, Key) {
    let p = ev.p;
    let n = init.len();
    let mut cur = init;
    let mut cur_key = init_key;
    let mut best = Best {
        seq: cur.clone(),
        key: cur_key,
    };
    if n < 2 {
        return (best.seq, best.key);
    }
    let total: Time = p.pmin.iter().sum();
    let temperature = (tuning.temperature * total as f64 / (p.n * p.g * 10) as f64).max(1e-9);
    let d = tuning.destruct.min(n - 1).max(1);
    // full insertion neighbourhood up to 80 jobs; beyond, no local search: plain
    // destruction and reconstruction runs many more iterations in the same time
    // (usize::MAX in the tuning means "automatic")
    let w = if tuning.ls_window == usize::MAX && n > 80 {
        0
    } else {
        tuning.ls_window
    };
    best.key = ev.result_key(&cur, best.key);
    let mut reached = best.key.0[0] <= target;
    // local search of the initial solution
    if !reached && !stop.stop(ev.evals) {
        cur_key = local_search(ev, &mut cur, cur_key, rng, stop, w);
        cur_key = ev.result_key(&cur, cur_key);
        if cur_key <= best.key {
            best.take(&cur, cur_key, stop.iter, on_improve);
        }
        reached = best.key.0[0] <= target;
    }
    let mut removed = Vec::with_capacity(d);
    while !reached && !stop.stop(ev.evals) {
        stop.iter += 1;
        let mut seq = cur.clone();
        destruct(&mut seq, d, rng, &mut removed);
        let mut key = BAD;
        for &r in &removed {
            key = best_insert(ev, &mut seq, r);
        }
        key = local_search(ev, &mut seq, key, rng, stop, w);
        key = ev.result_key(&seq, key);
        if key < cur_key {
            cur = seq;
            cur_key = key;
            if cur_key < best.key {
                best.take(&cur, cur_key, stop.iter, on_improve);
                reached = best.key.0[0] <= target;
            }
        } else if key.0 != INFEASIBLE {
            let diff = (key.0[0] - cur_key.0[0]) as f64;
            if rng.unit() < (-diff / temperature).exp() {
                cur = seq;
                cur_key = key;
            }
        }
    }
    (best.seq, best.key)
}
