//! Decoders: turn a job permutation into a complete plan.
//!
//! * [`DecoderKind::Fifo`] — the classic hybrid-flow-shop list scheduler: stage 1 in
//!   permutation order, later stages first-in-first-out by arrival (end of previous stage
//!   plus transfer time); each operation goes to the machine where it completes earliest
//!   (respects release, transfer times, set-ups, speeds, unavailability, frozen operations).
//!   It does not repair maximum lags: a violated shelf life makes the permutation infeasible.
//! * [`DecoderKind::JobWise`] — schedules each job through all stages before the next one,
//!   inserting into idle gaps of the machines (or appending only, to keep one job order on
//!   every stage); when a maximum lag would be exceeded, the previous stages of that job are
//!   delayed until every lag fits. Used whenever maximum lags exist.

use crate::instance::{Prep, Time};
use crate::plan::{Assignment, Plan};

/// No job.
pub(crate) const NONE: usize = usize::MAX;

/// Which list-scheduling rule turns a permutation into a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderKind {
    /// Stage-wise, FIFO by arrival at later stages, earliest completion machine.
    Fifo,
    /// Job by job through all stages, earliest completion machine, with lag repair.
    JobWise {
        /// Only append at the end of each machine (keeps the permutation on every stage).
        append_only: bool,
    },
}

/// A job whose operation at `stage` cannot be placed within its maximum lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Infeasible {
    pub job: usize,
    pub stage: usize,
}

/// Reusable decoder state (no allocation per decode).
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    pub kind: DecoderKind,
    pub start: Vec<Time>,
    pub end: Vec<Time>,
    /// Global machine of each operation.
    pub mach: Vec<usize>,
    free: Vec<Time>,
    last: Vec<usize>,
    init_free: Vec<Time>,
    init_last: Vec<usize>,
    order: Vec<(Time, u32, u32)>,
    order2: Vec<(Time, u32, u32)>,
    /// Per machine: (start, end, job) sorted by start.
    tl: Vec<Vec<(Time, Time, usize)>>,
    init_tl: Vec<Vec<(Time, Time, usize)>>,
    lb: Vec<Time>,
    pos: Vec<usize>,
    frozen_ops: Vec<(usize, usize, Time, Time)>,
}

impl Decoder {
    pub fn new(p: &Prep, kind: DecoderKind) -> Self {
        let mut init_free = vec![p.not_before; p.mt];
        let mut init_last = vec![NONE; p.mt];
        let mut init_tl = vec![Vec::new(); p.mt];
        let mut frozen_ops = Vec::new();
        let mut last_end = vec![Time::MIN; p.mt];
        for j in 0..p.n {
            for k in 0..p.g {
                if let Some((gm, s)) = p.frozen[j * p.g + k] {
                    let e = s + p.p(j, gm);
                    frozen_ops.push((j * p.g + k, gm, s, e));
                    init_tl[gm].push((s, e, j));
                    if e > last_end[gm] {
                        last_end[gm] = e;
                        init_last[gm] = j;
                    }
                    init_free[gm] = init_free[gm].max(e);
                }
            }
        }
        for t in &mut init_tl {
            t.sort_unstable();
        }
        Self {
            kind,
            start: vec![0; p.n * p.g],
            end: vec![0; p.n * p.g],
            mach: vec![0; p.n * p.g],
            free: init_free.clone(),
            last: init_last.clone(),
            init_free,
            init_last,
            order: Vec::with_capacity(p.n),
            order2: Vec::with_capacity(p.n),
            tl: init_tl.clone(),
            init_tl,
            lb: vec![0; p.g],
            pos: vec![0; p.g],
            frozen_ops,
        }
    }

    fn write_frozen(&mut self) {
        for &(idx, gm, s, e) in &self.frozen_ops {
            self.start[idx] = s;
            self.end[idx] = e;
            self.mach[idx] = gm;
        }
    }

    /// Decodes `perm` (a subset of the jobs, each at most once).
    pub fn decode(&mut self, p: &Prep, perm: &[usize]) -> Result<(), Infeasible> {
        match self.kind {
            DecoderKind::Fifo => self.fifo(p, perm),
            DecoderKind::JobWise { append_only } => self.jobwise(p, perm, append_only),
        }
    }

    fn fifo(&mut self, p: &Prep, perm: &[usize]) -> Result<(), Infeasible> {
        let g = p.g;
        self.free.copy_from_slice(&self.init_free);
        self.last.copy_from_slice(&self.init_last);
        if p.has_frozen {
            self.write_frozen();
        }
        self.order.clear();
        for (r, &j) in perm.iter().enumerate() {
            self.order.push((p.release[j], r as u32, j as u32));
        }
        for k in 0..g {
            if k > 0 {
                self.order2.clear();
                for (rank, &(_, _, j)) in self.order.iter().enumerate() {
                    let idx = j as usize * g + k - 1;
                    self.order2
                        .push((self.end[idx] + p.lmin[idx], rank as u32, j));
                }
                self.order2.sort_unstable();
                std::mem::swap(&mut self.order, &mut self.order2);
            }
            let base = p.off[k];
            let mk = p.m[k];
            for oi in 0..self.order.len() {
                let (ready, _, j) = self.order[oi];
                let j = j as usize;
                let idx = j * g + k;
                if p.has_frozen && p.frozen[idx].is_some() {
                    continue;
                }
                let ready = ready.max(p.not_before);
                let pj = &p.pt[j * p.mt + base..j * p.mt + base + mk];
                let mut best_e = Time::MAX;
                let mut best_s = 0;
                let mut best_m = base;
                if !p.has_setup && !p.has_windows {
                    for (i, &pt) in pj.iter().enumerate() {
                        let s = ready.max(self.free[base + i]);
                        let e = s + pt;
                        if e < best_e {
                            best_e = e;
                            best_s = s;
                            best_m = base + i;
                        }
                    }
                } else {
                    for (i, &pt) in pj.iter().enumerate() {
                        let gm = base + i;
                        let mut s = ready.max(self.free[gm] + p.setup_time(k, self.last[gm], j));
                        if p.has_windows {
                            s = p.fit_windows(gm, s, pt);
                        }
                        let e = s + pt;
                        if e < best_e {
                            best_e = e;
                            best_s = s;
                            best_m = gm;
                        }
                    }
                }
                if p.has_max_lag && k > 0 && best_s - self.end[idx - 1] > p.lmax[idx - 1] {
                    return Err(Infeasible { job: j, stage: k });
                }
                self.start[idx] = best_s;
                self.end[idx] = best_e;
                self.mach[idx] = best_m;
                self.free[best_m] = best_e;
                self.last[best_m] = j;
            }
        }
        Ok(())
    }

    /// Earliest slot on machine `gm` for job `j` at stage `k`: `(start, insert position)`.
    #[inline]
    fn slot(
        &self,
        p: &Prep,
        k: usize,
        gm: usize,
        j: usize,
        ready: Time,
        pt: Time,
        append_only: bool,
    ) -> (Time, usize) {
        let tl = &self.tl[gm];
        let len = tl.len();
        let from = if append_only {
            len
        } else {
            tl.partition_point(|x| x.1 <= ready)
        };
        for pos in from..=len {
            let mut t = ready;
            if pos > 0 {
                let prev = tl[pos - 1];
                t = t.max(prev.1 + p.setup_time(k, prev.2, j));
            }
            if p.has_windows {
                t = p.fit_windows(gm, t, pt);
            }
            match tl.get(pos) {
                Some(next) => {
                    if t + pt + p.setup_time(k, j, next.2) <= next.0 {
                        return (t, pos);
                    }
                }
                None => return (t, pos),
            }
        }
        // unreachable: the position after the last operation always fits
        (Time::MAX / 4, len)
    }

    fn jobwise(&mut self, p: &Prep, perm: &[usize], append_only: bool) -> Result<(), Infeasible> {
        let g = p.g;
        for (t, i) in self.tl.iter_mut().zip(&self.init_tl) {
            t.clear();
            t.extend_from_slice(i);
        }
        if p.has_frozen {
            self.write_frozen();
        }
        for &j in perm {
            self.lb.iter_mut().for_each(|x| *x = Time::MIN);
            let mut rounds = 0u32;
            'outer: loop {
                rounds += 1;
                for k in 0..g {
                    let idx = j * g + k;
                    if let Some((_, s)) = p.frozen[idx] {
                        if k > 0 {
                            let gap = s - self.end[idx - 1];
                            if gap < p.lmin[idx - 1] || gap > p.lmax[idx - 1] {
                                return Err(Infeasible { job: j, stage: k });
                            }
                        }
                        continue;
                    }
                    let mut ready = if k == 0 {
                        p.release[j]
                    } else {
                        self.end[idx - 1] + p.lmin[idx - 1]
                    };
                    ready = ready.max(self.lb[k]).max(p.not_before);
                    let deadline = if k == 0 || p.lmax[idx - 1] == Time::MAX {
                        Time::MAX
                    } else {
                        self.end[idx - 1] + p.lmax[idx - 1]
                    };
                    let mut best: Option<(Time, Time, usize, usize)> = None;
                    let mut earliest = Time::MAX;
                    for i in 0..p.m[k] {
                        let gm = p.off[k] + i;
                        let pt = p.p(j, gm);
                        let (s, pos) = self.slot(p, k, gm, j, ready, pt, append_only);
                        earliest = earliest.min(s);
                        if s <= deadline && best.is_none_or(|b| s + pt < b.1) {
                            best = Some((s, s + pt, gm, pos));
                        }
                    }
                    match best {
                        Some((s, e, gm, pos)) => {
                            self.start[idx] = s;
                            self.end[idx] = e;
                            self.mach[idx] = gm;
                            self.pos[k] = pos;
                        }
                        None => {
                            if p.frozen[idx - 1].is_some() || rounds > 10_000 {
                                return Err(Infeasible { job: j, stage: k });
                            }
                            let prev_len = self.end[idx - 1] - self.start[idx - 1];
                            let need = earliest - p.lmax[idx - 1] - prev_len;
                            self.lb[k - 1] = need.max(self.start[idx - 1] + 1);
                            continue 'outer;
                        }
                    }
                }
                break;
            }
            for k in 0..g {
                let idx = j * g + k;
                if p.frozen[idx].is_some() {
                    continue;
                }
                let gm = self.mach[idx];
                self.tl[gm].insert(self.pos[k], (self.start[idx], self.end[idx], j));
            }
        }
        Ok(())
    }

    /// Builds a plan for the jobs `0..n` (all must have been decoded).
    pub fn to_plan(&self, p: &Prep) -> Plan {
        let mut ops = Vec::with_capacity(p.n * p.g);
        for j in 0..p.n {
            for k in 0..p.g {
                let idx = j * p.g + k;
                ops.push(Assignment {
                    job: j,
                    stage: k,
                    machine: self.mach[idx] - p.off[k],
                    start: self.start[idx],
                    end: self.end[idx],
                });
            }
        }
        Plan { ops }
    }
}
