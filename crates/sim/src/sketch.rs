//! A mergeable quantile sketch for non-negative observations (waiting and vein-to-vein
//! times) that needs memory independent of the number of observations.
//!
//! Up to [`EXACT_CAP`] observations the values themselves are kept and percentiles are exact
//! (linear between order statistics, as [`crate::percentile`]). Beyond that the sketch keeps
//! only counts in logarithmic buckets `(γ^(k−1), γ^k]` with `γ = (1 + α)/(1 − α)` and
//! [`RELATIVE_ERROR`] `α` (the mapping of DDSketch, Masson, Rim & Lee, VLDB 2019): every value
//! in a bucket is within `α` (relative) of the bucket's representative `2γ^k/(γ + 1)`. A
//! percentile interpolates between the representatives of the two order statistics around it,
//! so it is within `α` (relative) of the exact pooled percentile; values at or below
//! [`ZERO_BELOW`] are counted as zero. Counts are integers, so merging is exact and does not
//! depend on the order in which sketches are merged.

use crate::results::Histogram;

/// Percentile `q` (0–1) of sorted values, linear between order statistics.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// Relative error of a percentile once the observations no longer fit [`EXACT_CAP`].
pub const RELATIVE_ERROR: f64 = 0.005;
/// Observations at or below this value are counted as zero.
pub const ZERO_BELOW: f64 = 1e-6;
/// Up to this many observations are kept exactly.
pub const EXACT_CAP: usize = 1 << 14;

/// The description of the percentile method, for results.
pub fn method() -> String {
    format!(
        "pooled over all observations of all replications; exact while at most {EXACT_CAP} \
         observations are pooled, otherwise from logarithmic buckets with each percentile \
         within {} % (relative) of the exact pooled value and values at or below {ZERO_BELOW} \
         counted as 0",
        RELATIVE_ERROR * 100.0
    )
}

/// A quantile sketch of non-negative observations. Non-finite or negative observations are
/// counted apart (as [`Sketch::invalid`]) and take part in no percentile.
#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    /// The observations while there are at most [`EXACT_CAP`]. While they are kept, `zeros`
    /// and `buckets` are empty: the buckets are filled from the values when they no longer
    /// fit (so that a replication's few thousand waits cost no logarithm each).
    exact: Option<Vec<f64>>,
    /// Observations at or below [`ZERO_BELOW`] (once not exact).
    zeros: u64,
    /// Key of `buckets[0]`.
    offset: i32,
    /// Counts per logarithmic bucket, from key `offset` on.
    buckets: Vec<u64>,
    /// Finite non-negative observations.
    n: u64,
    /// Their sum (in the order added).
    sum: f64,
    min: f64,
    max: f64,
    invalid: u64,
}

fn gamma_ln() -> f64 {
    ((1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)).ln()
}

fn key_of(x: f64) -> i32 {
    // x > ZERO_BELOW and finite, so the key is within ±4e3.
    (x.ln() / gamma_ln()).ceil() as i32
}

fn value_of(key: i32) -> f64 {
    let g = gamma_ln();
    2.0 * (f64::from(key) * g).exp() / (1.0 + g.exp())
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::new()
    }
}

impl Sketch {
    /// An empty sketch.
    pub fn new() -> Self {
        Sketch {
            exact: Some(Vec::new()),
            zeros: 0,
            offset: 0,
            buckets: Vec::new(),
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            invalid: 0,
        }
    }

    /// An empty sketch with room for `n` observations kept exactly (at most [`EXACT_CAP`]),
    /// so that a replication's observations are not copied as the vector grows.
    pub fn with_capacity(n: usize) -> Self {
        Sketch {
            exact: Some(Vec::with_capacity(n.min(EXACT_CAP))),
            ..Sketch::new()
        }
    }

    /// Adds one observation.
    pub fn add(&mut self, x: f64) {
        if !(x.is_finite() && x >= 0.0) {
            self.invalid += 1;
            return;
        }
        self.n += 1;
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        match &mut self.exact {
            Some(v) if v.len() < EXACT_CAP => v.push(x),
            Some(_) => {
                self.spill();
                self.count_value(x);
            }
            None => self.count_value(x),
        }
    }

    /// Stops keeping the values: counts them in the buckets.
    fn spill(&mut self) {
        if let Some(v) = self.exact.take() {
            for x in v {
                self.count_value(x);
            }
        }
    }

    fn count_value(&mut self, x: f64) {
        if x <= ZERO_BELOW {
            self.zeros += 1;
        } else {
            self.count_key(key_of(x), 1);
        }
    }

    fn count_key(&mut self, k: i32, count: u64) {
        if self.buckets.is_empty() {
            self.offset = k;
        }
        if k < self.offset {
            let grow = (self.offset - k) as usize;
            self.buckets.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = k;
        }
        let i = (k - self.offset) as usize;
        if i >= self.buckets.len() {
            self.buckets.resize(i + 1, 0);
        }
        self.buckets[i] += count;
    }

    /// Adds every observation of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        match (&mut self.exact, &other.exact) {
            (Some(a), Some(b)) if a.len() + b.len() <= EXACT_CAP => a.extend_from_slice(b),
            (_, theirs) => {
                self.spill();
                match theirs {
                    Some(b) => b.iter().for_each(|&x| self.count_value(x)),
                    None => {
                        self.zeros += other.zeros;
                        for (i, &c) in other.buckets.iter().enumerate() {
                            if c > 0 {
                                self.count_key(other.offset + i as i32, c);
                            }
                        }
                    }
                }
            }
        }
        self.n += other.n;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.invalid += other.invalid;
    }

    /// Finite non-negative observations.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Observations that were negative or not finite.
    pub fn invalid(&self) -> u64 {
        self.invalid
    }

    /// Mean of the valid observations (`None` without any).
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// Whether the percentiles are exact.
    pub fn is_exact(&self) -> bool {
        self.exact.is_some()
    }

    /// The value of the observation with rank `i` (0-based, ascending) from the buckets.
    fn at_rank(&self, i: u64) -> f64 {
        if i < self.zeros {
            return 0.0;
        }
        let mut seen = self.zeros;
        for (j, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if i < seen {
                let v = value_of(self.offset + j as i32);
                return v.clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// Percentile `q` (0–1), linear between order statistics; 0 without observations.
    pub fn percentile(&self, q: f64) -> f64 {
        if let Some(v) = &self.exact {
            let mut s = v.clone();
            s.sort_by(f64::total_cmp);
            return percentile(&s, q);
        }
        match self.n {
            0 => 0.0,
            1 => self.min,
            n => {
                let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
                let lo = pos.floor() as u64;
                let hi = pos.ceil() as u64;
                let (a, b) = (self.at_rank(lo), self.at_rank(hi));
                a + (b - a) * (pos - lo as f64)
            }
        }
    }

    /// A histogram with `bins` equal-width bins from `min(0, smallest)` to the 99.5th
    /// percentile; the last bin holds everything above. From buckets, an observation within
    /// the relative error of a bin edge may be counted in the neighbouring bin.
    pub fn histogram(&self, bins: usize) -> Histogram {
        if self.n == 0 || bins == 0 {
            return Histogram {
                edges: vec![0.0, 1.0],
                counts: vec![0],
            };
        }
        let lo = self.min.min(0.0);
        let hi = self.percentile(0.995).max(lo + 1e-9);
        let width = (hi - lo) / bins as f64;
        let edges: Vec<f64> = (0..=bins).map(|i| lo + width * i as f64).collect();
        let mut counts = vec![0u64; bins];
        let bin = |x: f64| (((x - lo) / width).floor() as usize).min(bins - 1);
        match &self.exact {
            Some(v) => {
                for &x in v {
                    counts[bin(x)] += 1;
                }
            }
            None => {
                counts[bin(0.0)] += self.zeros;
                for (j, &c) in self.buckets.iter().enumerate() {
                    if c > 0 {
                        let x = value_of(self.offset + j as i32).clamp(self.min, self.max);
                        counts[bin(x)] += c;
                    }
                }
            }
        }
        Histogram { edges, counts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let v = [0.0, 10.0];
        assert_eq!(percentile(&v, 0.5), 5.0);
        assert_eq!(percentile(&v, 0.95), 9.5);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    fn exact(mut v: Vec<f64>, q: f64) -> f64 {
        v.sort_by(f64::total_cmp);
        percentile(&v, q)
    }

    /// A deterministic spread of values over seven decades, with zeros.
    fn values(n: usize) -> Vec<f64> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 17 == 0 {
                    0.0
                } else {
                    let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                    10f64.powf(-3.0 + 7.0 * u)
                }
            })
            .collect()
    }

    #[test]
    fn small_sets_are_exact() {
        let v = values(1000);
        let mut s = Sketch::new();
        v.iter().for_each(|&x| s.add(x));
        assert!(s.is_exact());
        for q in [0.0, 0.1, 0.5, 0.9, 0.95, 1.0] {
            assert_eq!(s.percentile(q), exact(v.clone(), q));
        }
    }

    #[test]
    fn large_sets_stay_within_the_stated_error() {
        let v = values(EXACT_CAP * 3);
        // Built as three parts merged, the way replications are combined.
        let mut s = Sketch::new();
        for part in v.chunks(EXACT_CAP) {
            let mut p = Sketch::new();
            part.iter().for_each(|&x| p.add(x));
            s.merge(&p);
        }
        assert!(!s.is_exact());
        assert_eq!(s.count(), v.len() as u64);
        for q in [0.01, 0.05, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999] {
            let want = exact(v.clone(), q);
            let got = s.percentile(q);
            assert!(
                (got - want).abs() <= RELATIVE_ERROR * want + ZERO_BELOW,
                "q {q}: sketch {got}, exact {want}"
            );
        }
        let h = s.histogram(30);
        assert_eq!(h.counts.iter().sum::<u64>(), v.len() as u64);
    }

    #[test]
    fn merge_order_does_not_matter() {
        let v = values(EXACT_CAP + 500);
        let (a, b) = v.split_at(700);
        let sk = |xs: &[f64]| {
            let mut s = Sketch::new();
            xs.iter().for_each(|&x| s.add(x));
            s
        };
        let mut ab = sk(a);
        ab.merge(&sk(b));
        let mut ba = sk(b);
        ba.merge(&sk(a));
        for q in [0.1, 0.5, 0.95] {
            assert_eq!(ab.percentile(q), ba.percentile(q));
        }
        assert_eq!(ab.histogram(10), ba.histogram(10));
    }

    #[test]
    fn invalid_observations_are_counted_apart() {
        let mut s = Sketch::new();
        for x in [1.0, f64::NAN, f64::INFINITY, -2.0, 3.0] {
            s.add(x);
        }
        assert_eq!(s.count(), 2);
        assert_eq!(s.invalid(), 3);
        assert_eq!(s.mean(), Some(2.0));
        assert_eq!(s.percentile(0.5), 2.0);
    }
}
