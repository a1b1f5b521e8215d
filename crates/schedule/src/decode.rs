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

/// Sorts nearly sorted keys in place.
fn insertion_sort(keys: &mut [u64]) {
    for i in 1..keys.len() {
        let x = keys[i];
        let mut h = i;
        while h > 0 && keys[h - 1] > x {
            keys[h] = keys[h - 1];
            h -= 1;
        }
        keys[h] = x;
    }
}

/// Appends the sort keys (arrival at stage `k` << 20 | position `i`) of the jobs at positions
/// `from..to` of the previous stage's dispatch order `prev` to `out`, sorted.
fn arrival_keys(
    p: &Prep,
    end: &[Time],
    prev: &[u32],
    k: usize,
    from: usize,
    to: usize,
    out: &mut Vec<u64>,
) {
    let start = out.len();
    for (i, &j) in (from..to).zip(&prev[from..to]) {
        let idx = j as usize * p.g + k - 1;
        let ready = (end[idx] + p.lmin[idx]) as u64;
        out.push((ready << 20) | i as u64);
    }
    insertion_sort(&mut out[start..]);
}

/// Appends the merge of two sorted key lists to `out`.
fn merge(a: &[u64], b: &[u64], out: &mut Vec<u64>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

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
    /// Makespan cut-off: the fast FIFO decoder stops early (setting [`Self::cut`]) once a
    /// stage shows that the makespan must exceed it. `Time::MAX` = never.
    pub cutoff: Time,
    /// The last decode stopped at the cut-off (its plan is incomplete).
    pub cut: bool,
    pub start: Vec<Time>,
    pub end: Vec<Time>,
    /// Global machine of each operation.
    pub mach: Vec<usize>,
    free: Vec<Time>,
    last: Vec<usize>,
    init_free: Vec<Time>,
    init_last: Vec<usize>,
    order: Vec<(Time, u32, u32)>,
    keys: Vec<u64>,
    order2: Vec<(Time, u32, u32)>,
    /// Per physical device: (start, end, job * stages + stage) sorted by start.
    tl: Vec<Vec<(Time, Time, usize)>>,
    init_tl: Vec<Vec<(Time, Time, usize)>>,
    lb: Vec<Time>,
    placed: Vec<(usize, usize)>,
    bstart: Vec<Time>,
    saved_start: Vec<Time>,
    saved_end: Vec<Time>,
    saved_mach: Vec<usize>,
    frozen_ops: Vec<(usize, usize, Time, Time)>,
    /// Operations planned and operations taken over from an earlier decode (fast path).
    pub planned: u64,
    pub reused: u64,
    /// Per stage (`stage * n + i`), as the last fast decode that reached the stage left it:
    /// the `i`-th job in the stage's dispatch order, its arrival there, and the largest
    /// end-plus-tail of the first `i + 1` operations.
    hist_job: Vec<u32>,
    hist_ready: Vec<u64>,
    hist_bound: Vec<Time>,
    /// Position of each job in the stage's recorded order (`stage * n + job`).
    hist_pos: Vec<u32>,
    /// How many entries of each stage's record are valid (0 = none).
    hist_len: Vec<usize>,
    /// Which decode wrote each stage's record last.
    hist_gen: Vec<u64>,
    /// Number of fast decodes so far.
    decodes: u64,
    /// Sort keys of the operations to plan at the current stage.
    rest: Vec<u64>,
    keys2: Vec<u64>,
    seen: Vec<bool>,
}

impl Decoder {
    pub fn new(p: &Prep, kind: DecoderKind) -> Self {
        let mut init_free = vec![p.not_before; p.mt];
        let mut init_last = vec![NONE; p.mt];
        let mut init_tl = vec![Vec::new(); p.nphys];
        let mut frozen_ops = Vec::new();
        let mut last_end = vec![Time::MIN; p.mt];
        for j in 0..p.n {
            for k in 0..p.g {
                if let Some((gm, s)) = p.frozen[j * p.g + k] {
                    let e = s + p.p(j, gm);
                    frozen_ops.push((j * p.g + k, gm, s, e));
                    init_tl[p.phys[gm]].push((s, e, j * p.g + k));
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
            cutoff: Time::MAX,
            cut: false,
            start: vec![0; p.n * p.g],
            end: vec![0; p.n * p.g],
            mach: vec![0; p.n * p.g],
            free: init_free.clone(),
            last: init_last.clone(),
            init_free,
            init_last,
            order: Vec::with_capacity(p.n),
            keys: Vec::with_capacity(p.n),
            order2: Vec::with_capacity(p.n),
            tl: init_tl.clone(),
            init_tl,
            lb: vec![0; p.g],
            placed: Vec::with_capacity(p.g),
            bstart: vec![0; p.n * p.g],
            saved_start: Vec::new(),
            saved_end: Vec::new(),
            saved_mach: Vec::new(),
            frozen_ops,
            planned: 0,
            reused: 0,
            hist_job: vec![0; p.n * p.g],
            hist_ready: vec![0; p.n * p.g],
            hist_bound: vec![0; p.n * p.g],
            hist_pos: vec![0; p.n * p.g],
            hist_len: vec![0; p.g],
            hist_gen: vec![0; p.g],
            decodes: 0,
            rest: Vec::with_capacity(p.n),
            keys2: Vec::with_capacity(p.n),
            seen: vec![false; p.m.iter().copied().max().unwrap_or(0)],
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
        self.cut = false;
        if self.kind != DecoderKind::Fifo || !p.fast {
            self.forget();
        }
        match self.kind {
            DecoderKind::Fifo => self.fifo(p, perm),
            DecoderKind::JobWise { append_only } => self.jobwise(p, perm, append_only),
        }
    }

    /// Drops the record of the last fast decode (its times were overwritten).
    fn forget(&mut self) {
        self.hist_len.iter_mut().for_each(|l| *l = 0);
    }

    /// Fast path of [`Self::fifo`] without set-ups, windows and frozen operations
    /// (non-negative times): packed sort keys and insertion sort on nearly sorted arrivals.
    ///
    /// Successive decodes of similar permutations (the insertion positions of one job) share
    /// long prefixes at every stage: as long as the same jobs arrive at a stage in the same
    /// order at the same times, they meet the same machine states and get the same
    /// operations. The decoder keeps each stage's dispatch order and arrival times from the
    /// last decode that reached the stage, skips the common prefix, rebuilds the machines'
    /// free times from the prefix's last operation on each machine and plans only the rest.
    ///
    /// Long on purpose: this is the innermost loop of every search (called for each candidate
    /// insertion), and the stage loop shares a dozen local tables and cursors; split into
    /// helpers they would be passed back and forth on every operation.
    fn fifo_fast(&mut self, p: &Prep, perm: &[usize]) -> Result<(), Infeasible> {
        const POS: u64 = 0xF_FFFF;
        let g = p.g;
        let n = p.n;
        let mt = p.mt;
        let nb = p.not_before;
        self.decodes += 1;
        let this = self.decodes;
        let mut prev_c = 0;
        // this stage's record continues the previous stage's (both from one complete earlier
        // decode); decided before this decode overwrites the previous stage's record
        let mut linked = false;
        for k in 0..g {
            let next_linked = k + 1 < g
                && self.hist_gen[k + 1] == self.hist_gen[k]
                && self.hist_len[k + 1] == self.hist_len[k]
                && self.hist_len[k + 1] > 0;
            let base = p.off[k];
            let mk = p.m[k];
            let h = k * n;
            let hp = h.wrapping_sub(n);
            let len = perm.len();
            // `rest`: the stage's dispatch order as keys (arrival << 20 | position at the
            // previous stage; at stage 0: positions in the permutation); `c`: its leading
            // operations planned exactly as in the decode recorded for this stage
            let mut c = 0;
            let hl = self.hist_len[k];
            self.rest.clear();
            if k == 0 {
                let hl = hl.min(len);
                while c < hl && self.hist_job[c] as usize == perm[c] {
                    c += 1;
                }
                self.rest.extend(0..len as u64);
            } else {
                let prev = &self.hist_job[hp..hp + len];
                // jobs whose previous operation was planned anew, by arrival here
                self.keys.clear();
                arrival_keys(p, &self.end, prev, k, prev_c, len, &mut self.keys);
                // the others arrive as recorded: in recorded order if the record of this
                // stage continues that of the previous one, else sorted anew
                self.keys2.clear();
                if linked {
                    for i in 0..hl {
                        let j = self.hist_job[h + i];
                        let pos = self.hist_pos[hp + j as usize] as usize;
                        if pos < prev_c && self.hist_job[hp + pos] == j {
                            self.keys2.push((self.hist_ready[h + i] << 20) | pos as u64);
                        }
                    }
                } else {
                    arrival_keys(p, &self.end, prev, k, 0, prev_c, &mut self.keys2);
                }
                merge(&self.keys2, &self.keys, &mut self.rest);
                let hl = hl.min(len);
                while c < hl
                    && self.hist_ready[h + c] == self.rest[c] >> 20
                    && self.hist_job[h + c] == self.hist_job[hp + (self.rest[c] & POS) as usize]
                {
                    c += 1;
                }
            }
            debug_assert_eq!(self.rest.len(), len);
            self.reused += c as u64;
            self.planned += (len - c) as u64;
            let free = &mut self.free[base..base + mk];
            free.copy_from_slice(&self.init_free[base..base + mk]);
            // every job still needs its tail after this stage
            let mut bound = Time::MIN;
            if c > 0 {
                bound = self.hist_bound[h + c - 1];
                // each machine is free from the end of its last operation in the prefix
                let seen = &mut self.seen[..mk];
                seen.iter_mut().for_each(|x| *x = false);
                let mut left = mk;
                for t in (0..c).rev() {
                    let idx = self.hist_job[h + t] as usize * g + k;
                    let mi = self.mach[idx] - base;
                    if !seen[mi] {
                        seen[mi] = true;
                        free[mi] = self.end[idx];
                        left -= 1;
                        if left == 0 {
                            break;
                        }
                    }
                }
            }
            let identical = p.identical[k];
            for (t, &key) in self.rest[c..].iter().enumerate() {
                let i = c + t;
                let (j, ready) = if k == 0 {
                    let j = perm[key as usize];
                    (j, p.release[j])
                } else {
                    let j = self.hist_job[hp + (key & POS) as usize] as usize;
                    (j, (key >> 20) as Time)
                };
                let ready = ready.max(nb);
                let idx = j * g + k;
                let (bi, s, e) = if identical {
                    let (bi, bf) = earliest_free(free);
                    let s = ready.max(bf);
                    (bi, s, s + p.pmin_by_stage[h + j])
                } else {
                    let pts = &p.pt[j * mt + base..j * mt + base + mk];
                    let mut best = (0, Time::MAX, Time::MAX);
                    for (i, (&f, &pt)) in free.iter().zip(pts).enumerate() {
                        let s = ready.max(f);
                        if s + pt < best.2 {
                            best = (i, s, s + pt);
                        }
                    }
                    best
                };
                if k > 0 && s - self.end[idx - 1] > p.lmax[idx - 1] {
                    self.hist_len[k] = i;
                    self.hist_gen[k] = this;
                    return Err(Infeasible { job: j, stage: k });
                }
                self.start[idx] = s;
                self.end[idx] = e;
                self.mach[idx] = base + bi;
                free[bi] = e;
                bound = bound.max(e + p.tail_by_stage[h + j]);
                self.hist_job[h + i] = j as u32;
                self.hist_ready[h + i] = if k == 0 { 0 } else { key >> 20 };
                self.hist_pos[h + j] = i as u32;
                self.hist_bound[h + i] = bound;
            }
            self.hist_len[k] = len;
            self.hist_gen[k] = this;
            prev_c = c;
            linked = next_linked;
            if bound > self.cutoff {
                self.cut = true;
                return Ok(());
            }
        }
        Ok(())
    }

    fn fifo(&mut self, p: &Prep, perm: &[usize]) -> Result<(), Infeasible> {
        if p.fast {
            return self.fifo_fast(p, perm);
        }
        if p.shared {
            // stage-by-stage decoding cannot see other stages' use of a shared device
            return self.jobwise(p, perm, false);
        }
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
    #[allow(clippy::too_many_arguments)]
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
        let tl = &self.tl[p.phys[gm]];
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
                t = t.max(prev.1 + p.setup_time(k, prev.2 / p.g, j));
            }
            if p.has_windows {
                t = p.fit_windows(gm, t, pt);
            }
            match tl.get(pos) {
                Some(next) => {
                    if t + pt + p.setup_time(next.2 % p.g, j, next.2 / p.g) <= next.0 {
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
        self.placed.clear();
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
                // undo the placements of the previous round (reverse order restores positions)
                while let Some((ph, pos)) = self.placed.pop() {
                    self.tl[ph].remove(pos);
                }
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
                            let ph = p.phys[gm];
                            self.tl[ph].insert(pos, (s, e, idx));
                            self.placed.push((ph, pos));
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
            self.placed.clear();
        }
        Ok(())
    }

    /// Forward-backward improvement ("double justification") of the plan just decoded for
    /// `perm`, for the makespan: right-justify every operation against the makespan (stages
    /// from last to first, operations in order of decreasing end), then left-justify again
    /// (stages from first to last, operations in order of their right-justified start).
    /// With identical machines neither pass can delay an operation, so the makespan never
    /// grows; passes repeat while it shrinks. Fast path only (see [`Prep::fast`]); returns the
    /// new makespan.
    pub fn justify(&mut self, p: &Prep, perm: &[usize], max_passes: usize) -> Time {
        self.forget();
        let g = p.g;
        let mt = p.mt;
        let mut cmax = perm
            .iter()
            .map(|&j| self.end[j * g + g - 1])
            .max()
            .unwrap_or(0);
        if !p.fast || p.shared || !p.identical.iter().all(|&x| x) || p.has_max_lag {
            return cmax;
        }
        let nb = p.not_before;
        for _ in 0..max_passes {
            // backward pass
            for k in (0..g).rev() {
                let base = p.off[k];
                let mk = p.m[k];
                self.keys.clear();
                for (i, &j) in perm.iter().enumerate() {
                    let e = self.end[j * g + k] as u64;
                    self.keys.push((e << 20) | i as u64);
                }
                self.keys.sort_unstable_by(|a, b| b.cmp(a));
                let late = &mut self.free[base..base + mk];
                late.iter_mut().for_each(|x| *x = cmax);
                for &key in &self.keys {
                    let j = perm[(key & 0xF_FFFF) as usize];
                    let idx = j * g + k;
                    let dl = if k + 1 == g {
                        cmax
                    } else {
                        self.bstart[idx + 1] - p.lmin[idx]
                    };
                    let mut bi = 0;
                    let mut bl = late[0];
                    for (i, &l) in late.iter().enumerate().skip(1) {
                        if l > bl {
                            bl = l;
                            bi = i;
                        }
                    }
                    let e = bl.min(dl);
                    let st = e - p.pt[j * mt + base + bi];
                    self.bstart[idx] = st;
                    late[bi] = st;
                }
            }
            // forward pass
            self.saved_start.clone_from(&self.start);
            self.saved_end.clone_from(&self.end);
            self.saved_mach.clone_from(&self.mach);
            let mut new_cmax = 0;
            for k in 0..g {
                let base = p.off[k];
                let mk = p.m[k];
                self.keys.clear();
                for (i, &j) in perm.iter().enumerate() {
                    // right-justified starts are >= the old ones >= 0
                    let sb = self.bstart[j * g + k].max(0) as u64;
                    self.keys.push((sb << 20) | i as u64);
                }
                self.keys.sort_unstable();
                let free = &mut self.free[base..base + mk];
                free.copy_from_slice(&self.init_free[base..base + mk]);
                for &key in &self.keys {
                    let j = perm[(key & 0xF_FFFF) as usize];
                    let idx = j * g + k;
                    let ready = if k == 0 {
                        p.release[j]
                    } else {
                        self.end[idx - 1] + p.lmin[idx - 1]
                    }
                    .max(nb);
                    let (bi, bf) = earliest_free(free);
                    let st = ready.max(bf);
                    let e = st + p.pt[j * mt + base + bi];
                    self.start[idx] = st;
                    self.end[idx] = e;
                    self.mach[idx] = base + bi;
                    free[bi] = e;
                    if k + 1 == g {
                        new_cmax = new_cmax.max(e);
                    }
                }
            }
            if new_cmax < cmax {
                cmax = new_cmax;
            } else {
                if new_cmax > cmax {
                    std::mem::swap(&mut self.start, &mut self.saved_start);
                    std::mem::swap(&mut self.end, &mut self.saved_end);
                    std::mem::swap(&mut self.mach, &mut self.saved_mach);
                }
                break;
            }
        }
        cmax
    }
}

/// The machine that is free first (the lowest index among equals) and its free time.
#[inline]
fn earliest_free(free: &[Time]) -> (usize, Time) {
    let mut bi = 0;
    let mut bf = free[0];
    for (i, &f) in free.iter().enumerate().skip(1) {
        if f < bf {
            bf = f;
            bi = i;
        }
    }
    (bi, bf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{Instance, Lag};
    use crate::rng::Rng;

    /// A random fast-path instance with many ties (short times), transfer times, sometimes
    /// machines of different speeds, maximum waits and release dates.
    fn random_instance(rng: &mut Rng) -> Instance {
        let n = 1 + rng.below(24);
        let g = 1 + rng.below(5);
        let m: Vec<usize> = (0..g).map(|_| 1 + rng.below(4)).collect();
        let pmax = if rng.below(2) == 0 { 4 } else { 40 };
        let p = (0..n)
            .map(|_| (0..g).map(|_| 1 + rng.below(pmax) as Time).collect())
            .collect();
        let mut inst = Instance::hybrid_flow_shop("random", &m, p);
        if rng.below(3) == 0 {
            for s in &mut inst.stages {
                for mc in &mut s.machines {
                    mc.speed_percent = 50 + rng.below(100) as u32;
                }
            }
        }
        if rng.below(2) == 0 {
            let with_max = rng.below(2) == 0;
            inst.lags = (0..n)
                .map(|_| {
                    (1..g)
                        .map(|_| Lag {
                            min: rng.below(3) as Time,
                            max: with_max.then(|| 2 + rng.below(30) as Time),
                        })
                        .collect()
                })
                .collect();
        }
        if rng.below(3) == 0 {
            for j in &mut inst.jobs {
                j.release = rng.below(20) as Time;
            }
        }
        inst
    }

    /// Decodes with `a` (which re-uses its previous decodes) and with a new decoder (which has
    /// nothing to re-use) and checks that both give the same verdict and, for complete plans,
    /// the same operations.
    fn same(a: &mut Decoder, p: &Prep, perm: &[usize], cutoff: Time) {
        let b = &mut Decoder::new(p, DecoderKind::Fifo);
        a.cutoff = cutoff;
        b.cutoff = cutoff;
        let ra = a.decode(p, perm);
        let rb = b.decode(p, perm);
        assert_eq!(ra, rb, "verdict for {perm:?}");
        assert_eq!(a.cut, b.cut, "cut for {perm:?} at {cutoff}");
        if ra.is_ok() && !a.cut {
            for &j in perm {
                for k in 0..p.g {
                    let i = j * p.g + k;
                    assert_eq!(
                        (a.start[i], a.end[i], a.mach[i]),
                        (b.start[i], b.end[i], b.mach[i]),
                        "job {j} stage {k} of {perm:?}"
                    );
                }
            }
        }
        assert_eq!(b.reused, 0);
    }

    #[test]
    fn reuse_of_the_previous_decode_changes_nothing() {
        let mut rng = Rng::new(11);
        let (mut planned, mut reused) = (0, 0);
        for _ in 0..300 {
            let inst = random_instance(&mut rng);
            let p = Prep::new(&inst);
            assert!(p.fast);
            let mut a = Decoder::new(&p, DecoderKind::Fifo);
            let mut perm: Vec<usize> = (0..p.n).collect();
            rng.shuffle(&mut perm);
            for _ in 0..20 {
                let cutoff = match rng.below(3) {
                    0 => 20 + rng.below(200) as Time,
                    _ => Time::MAX,
                };
                match rng.below(5) {
                    // one job through every position, as the insertion neighbourhood does
                    0 | 1 => {
                        let job = perm.remove(rng.below(perm.len()));
                        for pos in 0..=perm.len() {
                            perm.insert(pos, job);
                            same(&mut a, &p, &perm, cutoff);
                            perm.remove(pos);
                        }
                        perm.insert(rng.below(perm.len() + 1), job);
                    }
                    // a partial sequence (construction, destruction)
                    2 => {
                        let keep = rng.below(perm.len() + 1);
                        same(&mut a, &p, &perm[..keep], cutoff);
                    }
                    // a swap
                    3 => {
                        let (x, y) = (rng.below(perm.len()), rng.below(perm.len()));
                        perm.swap(x, y);
                        same(&mut a, &p, &perm, cutoff);
                    }
                    // forward-backward passes overwrite the plan
                    _ => {
                        same(&mut a, &p, &perm, Time::MAX);
                        if a.decode(&p, &perm).is_ok() {
                            a.justify(&p, &perm, 2);
                        }
                    }
                }
            }
            planned += a.planned;
            reused += a.reused;
        }
        // the comparison only means something if operations were taken over often
        assert!(
            reused * 4 > planned,
            "{reused} taken over, {planned} planned"
        );
    }
}
