//! Seeded generator of shelf-life (maximum wait) variants of benchmark instances.
//!
//! For every job `j` and every stage `k >= 1`, the maximum wait between the end of stage
//! `k - 1` and the start of stage `k` is `floor(u * mean_k)`, where `mean_k` is the mean
//! nominal processing time of stage `k` over all jobs and `u` is drawn uniformly from
//! `[lo, hi)` with [`Rng`](crate::rng::Rng) seeded by `seed`, in job-major, stage-minor order.
//! Minimum lags stay 0. The defaults used by the benchmarks are `lo = 0.5`, `hi = 2.0`.

use crate::instance::{Instance, Lag};
use crate::rng::Rng;

/// Default lower factor of the generator.
pub const DEFAULT_LO: f64 = 0.5;
/// Default upper factor of the generator.
pub const DEFAULT_HI: f64 = 2.0;

/// Returns a copy of `inst` with maximum waits drawn as documented above.
pub fn with_max_waits(inst: &Instance, seed: u64, lo: f64, hi: f64) -> Instance {
    let (n, g) = (inst.n(), inst.g());
    let mut rng = Rng::new(seed);
    let mean: Vec<f64> = (0..g)
        .map(|k| inst.processing.iter().map(|r| r[k] as f64).sum::<f64>() / n.max(1) as f64)
        .collect();
    let mut out = inst.clone();
    out.lags = (0..n)
        .map(|j| {
            (1..g)
                .map(|k| {
                    let u = lo + (hi - lo) * rng.unit();
                    Lag {
                        min: inst.lag(j, k - 1).min,
                        max: Some((u * mean[k]).floor().max(0.0) as i64),
                    }
                })
                .collect()
        })
        .collect();
    out.name = format!("{}+maxwait(seed={seed})", inst.name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let inst = Instance::hybrid_flow_shop("t", &[2, 2, 2], vec![vec![10, 20, 30]; 5]);
        let a = with_max_waits(&inst, 7, DEFAULT_LO, DEFAULT_HI);
        let b = with_max_waits(&inst, 7, DEFAULT_LO, DEFAULT_HI);
        let c = with_max_waits(&inst, 8, DEFAULT_LO, DEFAULT_HI);
        assert_eq!(a.lags, b.lags);
        assert_ne!(a.lags, c.lags);
        for row in &a.lags {
            assert_eq!(row.len(), 2);
            let m1 = row[0].max.unwrap_or(-1);
            let m2 = row[1].max.unwrap_or(-1);
            assert!((10..40).contains(&m1), "{m1}");
            assert!((15..60).contains(&m2), "{m2}");
        }
    }
}
