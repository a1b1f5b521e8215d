//! Statistics across replications.

use std::collections::BTreeSet;

use model::{Model, ResourceKind};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::engine::RNG_NAME;
use crate::results::{
    DistStat, Histogram, LossResult, Replication, ResourceResult, Results, Stat, StepResult,
};

/// Mean and 95 % confidence interval (Student t with n − 1 degrees of freedom) of values that
/// are independent across replications. Empty input gives zeros; one value gives a
/// degenerate interval.
pub fn mean_ci(xs: &[f64]) -> Stat {
    let n = xs.len();
    if n == 0 {
        return Stat {
            mean: 0.0,
            ci95: [0.0, 0.0],
        };
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Stat {
            mean,
            ci95: [mean, mean],
        };
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    let t = StudentsT::new(0.0, 1.0, n as f64 - 1.0)
        .map(|d| d.inverse_cdf(0.975))
        .unwrap_or(1.959_964);
    let half = t * (var / n as f64).sqrt();
    Stat {
        mean,
        ci95: [mean - half, mean + half],
    }
}

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

fn histogram(sorted: &[f64], bins: usize) -> Histogram {
    if sorted.is_empty() {
        return Histogram {
            edges: vec![0.0, 1.0],
            counts: vec![0],
        };
    }
    let lo = sorted[0].min(0.0);
    // Cut the long tail at the 99.5th percentile so the bins show the body; the last bin
    // holds everything above.
    let hi = percentile(sorted, 0.995).max(lo + 1e-9);
    let width = (hi - lo) / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|i| lo + width * i as f64).collect();
    let mut counts = vec![0u64; bins];
    for &x in sorted {
        let i = (((x - lo) / width).floor() as usize).min(bins - 1);
        counts[i] += 1;
    }
    Histogram { edges, counts }
}

fn dist_stat(per_rep: &[Vec<f64>]) -> DistStat {
    dist_stat_censored(per_rep, 0)
}

/// Statistics of observations of which `censored` are lower bounds (already included).
fn dist_stat_censored(per_rep: &[Vec<f64>], censored: u64) -> DistStat {
    let means: Vec<f64> = per_rep
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .collect();
    let mut pooled: Vec<f64> = per_rep.iter().flatten().copied().collect();
    pooled.sort_by(f64::total_cmp);
    let s = mean_ci(&means);
    DistStat {
        mean: s.mean,
        p50: percentile(&pooled, 0.5),
        p90: percentile(&pooled, 0.9),
        p95: percentile(&pooled, 0.95),
        ci95: s.ci95,
        n: pooled.len() as u64,
        censored,
        histogram: histogram(&pooled, 30),
    }
}

fn col(reps: &[Replication], f: impl Fn(&Replication) -> f64) -> Stat {
    mean_ci(&reps.iter().map(f).collect::<Vec<_>>())
}

pub(crate) fn aggregate(
    m: &Model,
    reps: Vec<Replication>,
    requested: u32,
    cancelled: bool,
    planned: bool,
) -> Results {
    let resources = m
        .resources
        .iter()
        .enumerate()
        .map(|(r, res)| {
            let weeks = reps.first().map_or(0, |x| x.weekly_utilisation[r].len());
            let weekly = (0..weeks)
                .map(|w| {
                    reps.iter().map(|x| x.weekly_utilisation[r][w]).sum::<f64>() / reps.len() as f64
                })
                .collect();
            ResourceResult {
                name: res.name.clone(),
                kind: match res.kind {
                    ResourceKind::Equipment => "equipment",
                    ResourceKind::Area { .. } => "area",
                    ResourceKind::Staff => "staff",
                }
                .to_string(),
                capacity: res.capacity,
                utilisation: col(&reps, |x| x.utilisation[r]),
                busy_hours_per_year: col(&reps, |x| x.busy_hours_per_year[r]),
                breakdowns_per_year: col(&reps, |x| x.breakdowns_per_year[r]),
                weekly_utilisation: weekly,
            }
        })
        .collect();

    let mut steps = Vec::new();
    let mut flat = 0;
    for p in &m.products {
        for s in &p.steps {
            let waits: Vec<Vec<f64>> = reps.iter().map(|x| x.waits_h[flat].clone()).collect();
            steps.push(StepResult {
                product: p.name.clone(),
                name: s.name.clone(),
                wait_hours: dist_stat(&waits),
                hold_violations: col(&reps, |x| f64::from(x.hold_violations[flat])),
                starts_per_year: col(&reps, |x| x.starts_per_year[flat]),
                failures_per_year: col(&reps, |x| x.failures_per_year[flat]),
            });
            flat += 1;
        }
    }

    let causes: BTreeSet<&String> = reps.iter().flat_map(|x| x.lost_by_cause.keys()).collect();
    let losses = causes
        .into_iter()
        .map(|c| LossResult {
            cause: c.clone(),
            count: col(&reps, |x| {
                f64::from(x.lost_by_cause.get(c).copied().unwrap_or(0))
            }),
        })
        .collect();

    // Patients still in process at the cut-off count at their age then (a lower bound), so
    // that a plant which cannot keep up shows long vein-to-vein times instead of only the
    // quick ones it managed to finish.
    let v2v: Vec<Vec<f64>> = reps
        .iter()
        .map(|x| {
            let mut v = x.vein_to_vein_days.clone();
            v.extend_from_slice(&x.unfinished_age_days);
            v
        })
        .collect();
    let censored = reps
        .iter()
        .map(|x| x.unfinished_age_days.len() as u64)
        .sum();
    Results {
        scenario: m.name.clone(),
        scenario_sha256: String::new(),
        program_version: env!("CARGO_PKG_VERSION").to_string(),
        seed: m.seed,
        rng: RNG_NAME.to_string(),
        replications: reps.len() as u32,
        replications_requested: requested,
        cancelled,
        control: if planned { "plan" } else { "dispatching" }.to_string(),
        throughput_per_year: col(&reps, |x| x.released_per_year),
        vein_to_vein_days: dist_stat_censored(&v2v, censored),
        on_time_fraction: col(&reps, |x| {
            let treated = x.vein_to_vein_days.len();
            if treated == 0 {
                0.0
            } else {
                f64::from(x.on_time) / treated as f64
            }
        }),
        patients_lost: col(&reps, |x| f64::from(x.lost)),
        patients_lost_fraction: col(&reps, |x| {
            if x.patients == 0 {
                0.0
            } else {
                f64::from(x.lost) / f64::from(x.patients)
            }
        }),
        patients: col(&reps, |x| f64::from(x.patients)),
        patients_unfinished: col(&reps, |x| f64::from(x.unfinished)),
        losses,
        wip: col(&reps, |x| x.wip),
        batches_started_per_year: col(&reps, |x| x.batches_started_per_year),
        reworked_per_year: col(&reps, |x| x.reworked_per_year),
        remanufactured_per_year: col(&reps, |x| x.remanufactured_per_year),
        resources,
        steps,
        per_replication: reps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_interval_matches_table() {
        // n = 5, sd = 1 -> half width = 2.776 / sqrt(5).
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        let s = mean_ci(&xs);
        let sd = (2.5f64).sqrt();
        let half = 2.776_445 * sd / 5f64.sqrt();
        assert!((s.mean - 3.0).abs() < 1e-12);
        assert!((s.ci95[1] - (3.0 + half)).abs() < 1e-4, "{:?}", s);
    }

    #[test]
    fn percentiles_interpolate() {
        let v = [0.0, 10.0];
        assert_eq!(percentile(&v, 0.5), 5.0);
        assert_eq!(percentile(&v, 0.95), 9.5);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn histogram_counts_everything() {
        let v: Vec<f64> = (0..1000).map(f64::from).collect();
        let h = histogram(&v, 10);
        assert_eq!(h.counts.iter().sum::<u64>(), 1000);
        assert_eq!(h.edges.len(), 11);
    }
}
