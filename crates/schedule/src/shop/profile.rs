//! Free capacity of one resource over time, as a step function.

use super::{HORIZON, Resource};
use crate::instance::Time;

/// `pts[i] = (t_i, free_i)`: `free_i` units are free in `[t_i, t_{i+1})`; `t_0 = Time::MIN`,
/// the last value holds until [`HORIZON`], after which nothing is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    pts: Vec<(Time, i64)>,
}

impl Profile {
    /// The capacity of `r` (nothing is used yet).
    pub fn new(r: &Resource) -> Self {
        let mut pts = vec![(Time::MIN, i64::from(r.capacity))];
        for s in &r.segments {
            pts.push((s.start, i64::from(s.capacity)));
            pts.push((s.end, i64::from(r.capacity)));
        }
        pts.push((HORIZON, 0));
        let mut p = Self { pts: Vec::new() };
        for (t, v) in pts {
            p.push(t, v);
        }
        p
    }

    fn push(&mut self, t: Time, v: i64) {
        if let Some(last) = self.pts.last_mut() {
            if last.0 == t {
                last.1 = v;
                return;
            }
            if last.1 == v {
                return;
            }
        }
        self.pts.push((t, v));
    }

    /// Index of the step containing `t`.
    fn idx(&self, t: Time) -> usize {
        self.pts.partition_point(|p| p.0 <= t).saturating_sub(1)
    }

    fn step_end(&self, i: usize) -> Time {
        self.pts.get(i + 1).map_or(Time::MAX, |p| p.0)
    }

    /// Earliest `s >= from` with at least `k` free throughout `[s, s + len)`
    /// (`len` at least 1), or `None` before [`HORIZON`].
    pub fn earliest(&self, from: Time, len: Time, k: i64) -> Option<Time> {
        let len = len.max(1);
        let mut s = from;
        let mut i = self.idx(from);
        while i < self.pts.len() {
            let end = self.step_end(i);
            if self.pts[i].1 < k {
                s = end;
            } else if end >= s.saturating_add(len) {
                return (s < HORIZON).then_some(s);
            }
            i += 1;
        }
        None
    }

    /// First instant `>= from` with fewer than `k` free ([`HORIZON`] at the latest).
    pub fn free_until(&self, from: Time, k: i64) -> Time {
        let mut i = self.idx(from);
        while i < self.pts.len() {
            if self.pts[i].1 < k {
                return self.pts[i].0.max(from);
            }
            i += 1;
        }
        HORIZON
    }

    /// Inserts a breakpoint at `t` (if missing) and returns its index.
    fn split(&mut self, t: Time) -> usize {
        let i = self.idx(t);
        if self.pts[i].0 == t {
            return i;
        }
        let v = self.pts[i].1;
        self.pts.insert(i + 1, (t, v));
        i + 1
    }

    /// Adds `delta` to the free capacity in `[s, e)` (negative: uses it).
    pub fn add(&mut self, s: Time, e: Time, delta: i64) {
        if e <= s || delta == 0 {
            return;
        }
        let a = self.split(s);
        let b = self.split(e);
        for p in &mut self.pts[a..b] {
            p.1 += delta;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::{ResourceKind, Segment};

    fn staff() -> Resource {
        Resource {
            name: "operators".into(),
            pool: "operators".into(),
            kind: ResourceKind::Staff,
            capacity: 0,
            segments: vec![
                Segment {
                    start: 10,
                    end: 20,
                    capacity: 2,
                },
                Segment {
                    start: 30,
                    end: 50,
                    capacity: 1,
                },
            ],
        }
    }

    #[test]
    fn earliest_fit_follows_the_calendar_and_the_use() {
        let mut p = Profile::new(&staff());
        assert_eq!(p.earliest(0, 5, 1), Some(10));
        assert_eq!(p.earliest(0, 5, 2), Some(10));
        assert_eq!(
            p.earliest(0, 15, 1),
            Some(30),
            "does not fit into the first shift"
        );
        assert_eq!(p.earliest(0, 5, 3), None, "never 3 on duty");
        assert_eq!(p.earliest(0, 30, 1), None, "no shift is long enough");
        p.add(12, 17, -1);
        assert_eq!(
            p.earliest(0, 5, 2),
            None,
            "two are free for 2 and 3 minutes only"
        );
        assert_eq!(p.earliest(10, 3, 2), Some(17));
        assert_eq!(p.earliest(0, 2, 2), Some(10));
        assert_eq!(p.free_until(10, 2), 12);
        assert_eq!(p.free_until(17, 1), 20);
        assert_eq!(p.free_until(60, 0), HORIZON);
        p.add(12, 17, 1);
        let q = Profile::new(&staff());
        for t in [
            -5,
            0,
            10,
            11,
            12,
            16,
            17,
            19,
            20,
            29,
            30,
            49,
            50,
            HORIZON - 1,
            HORIZON,
        ] {
            assert_eq!(p.pts[p.idx(t)].1, q.pts[q.idx(t)].1, "free at {t}");
        }
    }
}
