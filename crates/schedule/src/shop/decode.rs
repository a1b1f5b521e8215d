//! Serial list scheduling for the plant model: orders are taken in a priority order and
//! each is planned operation by operation at the earliest instant at which every need can
//! be met (units, places and operators, each with its calendar and what is already
//! planned), inserting into gaps where they fit.
//!
//! Hold limits and blocking are repaired as in the flow-shop job-wise decoder: when an
//! operation cannot start before its predecessor's hold limit (or before the unit that the
//! predecessor blocks is needed elsewhere), the predecessor is delayed and the order is
//! planned again; after a bounded number of rounds the order is reported unplannable.

use super::profile::Profile;
use super::{Shop, Usage};
use crate::instance::Time;

/// An order whose operation cannot be planned (hold limit, blocking or no capacity left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unplannable {
    pub job: usize,
    pub op: usize,
}

const NEVER: Time = Time::MAX;
const MAX_ROUNDS: u32 = 500;

/// Reusable decoder state for one [`Shop`].
#[derive(Debug, Clone)]
pub(crate) struct ShopDecoder<'a> {
    shop: &'a Shop,
    /// First operation slot of each order.
    pub off: Vec<usize>,
    init: Vec<Profile>,
    prof: Vec<Profile>,
    pub start: Vec<Time>,
    pub end: Vec<Time>,
    pub uses: Vec<Vec<Usage>>,
    init_uses: Vec<Vec<Usage>>,
    fixed: Vec<bool>,
    /// Reservations of the order being planned: (resource, from, to, delta).
    log: Vec<(usize, Time, Time, i64)>,
    lb: Vec<Time>,
    buf: Vec<(Time, Time, usize)>,
    pub evals: u64,
}

impl<'a> ShopDecoder<'a> {
    /// A decoder for a validated shop (fixed operations already reserved).
    pub fn new(shop: &'a Shop) -> Self {
        let off = shop.offsets();
        let total = off[shop.jobs.len()];
        let mut init: Vec<Profile> = shop.resources.iter().map(Profile::new).collect();
        let mut start = vec![0; total];
        let mut end = vec![0; total];
        let mut uses = vec![Vec::new(); total];
        let mut fixed = vec![false; total];
        for f in &shop.fixed {
            fixed[off[f.job] + f.op] = true;
        }
        for f in &shop.fixed {
            let ops = shop.ops(f.job);
            let op = &ops[f.op];
            let idx = off[f.job] + f.op;
            start[idx] = f.start;
            end[idx] = f.start + op.duration;
            let next_fixed = f.op + 1 < ops.len() && fixed[idx + 1];
            let mut us = f.uses.clone();
            for u in &mut us {
                if shop.blocks(op, &op.needs[u.need]) && !next_fixed {
                    // held at least to the end; extended when the next operation is planned
                    u.end = end[idx];
                }
                let c = shop.cleaning_after(op, u.resource);
                init[u.resource].add(u.start, u.end + c, -i64::from(u.amount));
            }
            uses[idx] = us;
        }
        Self {
            shop,
            prof: init.clone(),
            init,
            start,
            end,
            init_uses: uses.clone(),
            uses,
            fixed,
            log: Vec::new(),
            lb: Vec::new(),
            buf: Vec::new(),
            evals: 0,
            off,
        }
    }

    /// Whether every operation of order `j` is fixed.
    pub fn all_fixed(&self, j: usize) -> bool {
        (self.off[j]..self.off[j + 1]).all(|i| self.fixed[i])
    }

    /// Plans the orders of `perm` in that order on top of the fixed operations.
    pub fn decode(&mut self, perm: &[usize]) -> Result<(), Unplannable> {
        self.evals += 1;
        for (p, i) in self.prof.iter_mut().zip(&self.init) {
            p.clone_from(i);
        }
        for (u, i) in self.uses.iter_mut().zip(&self.init_uses) {
            u.clone_from(i);
        }
        for &j in perm {
            self.place_job(j)?;
        }
        Ok(())
    }

    fn undo(&mut self) {
        while let Some((r, a, b, d)) = self.log.pop() {
            self.prof[r].add(a, b, -d);
        }
    }

    fn reserve(&mut self, r: usize, a: Time, b: Time, delta: i64) {
        if b > a {
            self.prof[r].add(a, b, delta);
            self.log.push((r, a, b, delta));
        }
    }

    fn place_job(&mut self, j: usize) -> Result<(), Unplannable> {
        let shop = self.shop;
        let ops = shop.ops(j);
        let base = self.off[j];
        self.lb.clear();
        self.lb.resize(ops.len(), Time::MIN);
        self.log.clear();
        let mut rounds = 0;
        'outer: loop {
            rounds += 1;
            self.undo();
            for o in 0..ops.len() {
                let idx = base + o;
                if self.fixed[idx] {
                    if o > 0 {
                        let gap = self.start[idx] - self.end[idx - 1];
                        let p = &ops[o - 1];
                        if gap < p.min_lag || p.max_lag.is_some_and(|m| gap > m) {
                            return Err(Unplannable { job: j, op: o });
                        }
                    }
                    continue;
                }
                let mut ready = if o == 0 {
                    shop.jobs[j].release
                } else {
                    self.end[idx - 1] + ops[o - 1].min_lag
                };
                ready = ready.max(shop.not_before).max(self.lb[o]);
                let mut deadline = match (o, ops.get(o.wrapping_sub(1))) {
                    (1.., Some(p)) => p.max_lag.map_or(NEVER, |m| self.end[idx - 1] + m),
                    _ => NEVER,
                };
                // the predecessor's blocked units stay held over their free run for now
                let mut held: Vec<(usize, usize, i64, Time)> = Vec::new();
                if o > 0 && ops[o - 1].blocking {
                    let p = &ops[o - 1];
                    let from = self.end[idx - 1];
                    for ui in 0..self.uses[idx - 1].len() {
                        let u = self.uses[idx - 1][ui];
                        if !shop.blocks(p, &p.needs[u.need]) {
                            continue;
                        }
                        let c = shop.cleaning_after(p, u.resource);
                        let amt = i64::from(u.amount);
                        let until = self.prof[u.resource].free_until(from + c, amt);
                        self.reserve(u.resource, from + c, until, -amt);
                        deadline = deadline.min(until - c);
                        held.push((ui, u.resource, amt, until));
                    }
                }
                match self.place(j, o, ready, deadline) {
                    Ok(s) => {
                        let p = &ops[o - usize::from(o > 0)];
                        for (ui, r, amt, until) in held {
                            let c = shop.cleaning_after(p, r);
                            self.reserve(r, s + c, until, amt);
                            self.uses[idx - 1][ui].end = s;
                        }
                    }
                    Err(t) => {
                        if o == 0 || self.fixed[idx - 1] || t == NEVER || rounds > MAX_ROUNDS {
                            return Err(Unplannable { job: j, op: o });
                        }
                        let p = &ops[o - 1];
                        let need = t - p.max_lag.unwrap_or(0) - p.duration;
                        self.lb[o - 1] = need.max(self.start[idx - 1] + 1);
                        continue 'outer;
                    }
                }
            }
            break;
        }
        self.log.clear();
        Ok(())
    }

    /// Earliest instant `>= t` at which need `ni` of `op` fits for `occ` minutes.
    fn need_earliest(&mut self, need: &super::Need, t: Time, occ: Time) -> Option<Time> {
        let kind = self.shop.resources[need.candidates[0]].kind;
        if kind == super::ResourceKind::Unit {
            self.buf.clear();
            for &c in &need.candidates {
                if let Some(e) = self.prof[c].earliest(t, occ, 1) {
                    self.buf.push((e, 0, c));
                }
            }
            let k = need.count as usize;
            if self.buf.len() < k {
                return None;
            }
            self.buf.select_nth_unstable(k - 1);
            Some(self.buf[k - 1].0)
        } else {
            let k = i64::from(need.count);
            need.candidates
                .iter()
                .filter_map(|&c| self.prof[c].earliest(t, occ, k))
                .min()
        }
    }

    /// Plans operation `o` of order `j` at the earliest instant in `[ready, deadline]`;
    /// `Err(earliest)` when that is later than the deadline (`NEVER`: not before the horizon).
    fn place(&mut self, j: usize, o: usize, ready: Time, deadline: Time) -> Result<Time, Time> {
        let shop = self.shop;
        let op = &shop.ops(j)[o];
        let occ =
            |ni: usize, r: usize| Shop::hold_len(op, &op.needs[ni]) + shop.cleaning_after(op, r);
        let mut t = ready;
        loop {
            if t > deadline {
                return Err(t);
            }
            let mut tn = t;
            for (ni, need) in op.needs.iter().enumerate() {
                let len = occ(ni, need.candidates[0]);
                match self.need_earliest(need, t, len) {
                    Some(e) => tn = tn.max(e),
                    None => return Err(NEVER),
                }
            }
            if tn == t {
                break;
            }
            t = tn;
        }
        let idx = self.off[j] + o;
        let mut us = Vec::new();
        for (ni, need) in op.needs.iter().enumerate() {
            let len = occ(ni, need.candidates[0]);
            let hold = Shop::hold_len(op, need);
            let blocks = shop.blocks(op, need);
            let kind = shop.resources[need.candidates[0]].kind;
            let k = if kind == super::ResourceKind::Unit {
                1
            } else {
                i64::from(need.count)
            };
            // fitting candidates; for blocking needs those free longest after the operation
            self.buf.clear();
            for (pos, &c) in need.candidates.iter().enumerate() {
                if self.prof[c].earliest(t, len, k) == Some(t) {
                    let run = if blocks {
                        -self.prof[c].free_until(t + len, k)
                    } else {
                        0
                    };
                    self.buf.push((run, pos as Time, c));
                }
            }
            self.buf.sort_unstable();
            let take = if kind == super::ResourceKind::Unit {
                need.count as usize
            } else {
                1
            };
            let chosen: Vec<usize> = self.buf.iter().take(take).map(|x| x.2).collect();
            for c in chosen {
                self.reserve(c, t, t + len, -k);
                us.push(Usage {
                    need: ni,
                    resource: c,
                    amount: k as u32,
                    start: t,
                    end: t + hold,
                });
            }
        }
        self.start[idx] = t;
        self.end[idx] = t + op.duration;
        self.uses[idx] = us;
        Ok(t)
    }
}
