//! Statistics across replications.

use std::collections::BTreeMap;

use model::{Model, ResourceKind};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::output::{RNG_NAME, RepOutput};
use crate::results::{
    DistStat, LossResult, Replication, ResourceResult, Results, Stat, StepResult,
};
use crate::sketch::{self, Sketch};

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

/// Mean and 95 % confidence interval of values added one at a time, in constant memory: the
/// mean is the plain sum over the count (as [`mean_ci`]), the variance is accumulated with
/// Welford's method.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Running {
    n: u64,
    sum: f64,
    mean: f64,
    m2: f64,
}

impl Running {
    /// `n` zeros (for a measure first seen after `n` replications).
    pub fn zeros(n: u64) -> Self {
        Running {
            n,
            ..Running::default()
        }
    }

    /// Adds a value.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Adds the values of `other` (added after those of `self`): counts and sums add, the
    /// mean and the sum of squared deviations combine by Chan et al.'s pairwise update. The
    /// result equals pushing `other`'s values one by one up to rounding (the sum is
    /// `self.sum + other.sum` rather than the running sum), so merge in a fixed order for
    /// results that do not depend on how the values were split.
    pub fn merge(&mut self, other: &Running) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let d = other.mean - self.mean;
        self.mean += d * (nb / n);
        self.m2 += other.m2 + d * d * (na * nb / n);
        self.sum += other.sum;
        self.n += other.n;
    }

    /// Mean with its 95 % interval (Student t), as [`mean_ci`] gives for the same values up
    /// to rounding.
    pub fn stat(&self) -> Stat {
        if self.n == 0 {
            return Stat {
                mean: 0.0,
                ci95: [0.0, 0.0],
            };
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        if self.n == 1 {
            return Stat {
                mean,
                ci95: [mean, mean],
            };
        }
        let var = (self.m2 / (n - 1.0)).max(0.0);
        let t = StudentsT::new(0.0, 1.0, n - 1.0)
            .map(|d| d.inverse_cdf(0.975))
            .unwrap_or(1.959_964);
        let half = t * (var / n).sqrt();
        Stat {
            mean,
            ci95: [mean - half, mean + half],
        }
    }
}

/// Observations pooled over replications: a sketch for percentiles and the running mean of
/// the replication means.
#[derive(Debug, Clone, Default)]
struct Pooled {
    sketch: Sketch,
    means: Running,
    censored: u64,
}

impl Pooled {
    fn add(&mut self, s: &Sketch) {
        if let Some(m) = s.mean() {
            self.means.push(m);
        }
        self.sketch.merge(s);
    }

    fn stat(&self) -> DistStat {
        let s = self.means.stat();
        DistStat {
            mean: s.mean,
            p50: self.sketch.percentile(0.5),
            p90: self.sketch.percentile(0.9),
            p95: self.sketch.percentile(0.95),
            ci95: s.ci95,
            n: self.sketch.count(),
            invalid: self.sketch.invalid(),
            censored: self.censored,
            histogram: self.sketch.histogram(30),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ResourceAcc {
    utilisation: Running,
    busy_hours: Running,
    breakdowns: Running,
    blocked: Running,
    blocked_hours: Running,
    weekly: Vec<f64>,
}

#[derive(Debug, Clone, Default)]
struct StepAcc {
    waits: Pooled,
    hold_violations: Running,
    starts: Running,
    failures: Running,
}

/// The statistics across replications, built one replication at a time in replication order,
/// in memory independent of the number of replications (unless the per-replication summaries
/// are kept) and of the number of patients.
#[derive(Debug, Clone)]
pub(crate) struct Acc {
    keep: bool,
    reps: u64,
    kept: Vec<Replication>,
    throughput: Running,
    v2v: Pooled,
    on_time: Running,
    lost: Running,
    lost_fraction: Running,
    patients: Running,
    unfinished: Running,
    losses: BTreeMap<String, Running>,
    wip: Running,
    started: Running,
    reworked: Running,
    remanufactured: Running,
    resources: Vec<ResourceAcc>,
    steps: Vec<StepAcc>,
}

impl Acc {
    pub(crate) fn new(m: &Model, keep: bool) -> Self {
        let steps = m.products.iter().map(|p| p.steps.len()).sum();
        Acc {
            keep,
            reps: 0,
            kept: Vec::new(),
            throughput: Running::default(),
            v2v: Pooled::default(),
            on_time: Running::default(),
            lost: Running::default(),
            lost_fraction: Running::default(),
            patients: Running::default(),
            unfinished: Running::default(),
            losses: BTreeMap::new(),
            wip: Running::default(),
            started: Running::default(),
            reworked: Running::default(),
            remanufactured: Running::default(),
            resources: vec![ResourceAcc::default(); m.resources.len()],
            steps: vec![StepAcc::default(); steps],
        }
    }

    /// Replications added.
    pub(crate) fn len(&self) -> u64 {
        self.reps
    }

    /// Adds the next replication.
    pub(crate) fn add(&mut self, o: RepOutput) {
        let x = &o.rep;
        self.throughput.push(x.released_per_year);
        // Patients still in process at the cut-off count at their age then (a lower bound),
        // so that a plant which cannot keep up shows long vein-to-vein times instead of only
        // the quick ones it managed to finish.
        let mut v2v = o.v2v;
        v2v.merge(&o.unfinished);
        self.v2v.add(&v2v);
        self.v2v.censored += o.unfinished.count();
        self.on_time.push(if x.treated == 0 {
            0.0
        } else {
            f64::from(x.on_time) / f64::from(x.treated)
        });
        self.lost.push(f64::from(x.lost));
        self.lost_fraction.push(if x.patients == 0 {
            0.0
        } else {
            f64::from(x.lost) / f64::from(x.patients)
        });
        self.patients.push(f64::from(x.patients));
        self.unfinished.push(f64::from(x.unfinished));
        for c in x.lost_by_cause.keys() {
            if !self.losses.contains_key(c) {
                self.losses.insert(c.clone(), Running::zeros(self.reps));
            }
        }
        for (c, acc) in self.losses.iter_mut() {
            acc.push(f64::from(x.lost_by_cause.get(c).copied().unwrap_or(0)));
        }
        self.wip.push(x.wip);
        self.started.push(x.batches_started_per_year);
        self.reworked.push(x.reworked_per_year);
        self.remanufactured.push(x.remanufactured_per_year);
        for (r, acc) in self.resources.iter_mut().enumerate() {
            acc.utilisation.push(x.utilisation[r]);
            acc.busy_hours.push(x.busy_hours_per_year[r]);
            acc.breakdowns.push(x.breakdowns_per_year[r]);
            acc.blocked.push(x.blocked.get(r).copied().unwrap_or(0.0));
            acc.blocked_hours
                .push(x.blocked_hours_per_year.get(r).copied().unwrap_or(0.0));
            let wk = &o.weekly[r];
            if acc.weekly.len() < wk.len() {
                acc.weekly.resize(wk.len(), 0.0);
            }
            for (sum, w) in acc.weekly.iter_mut().zip(wk) {
                *sum += w;
            }
        }
        for (s, acc) in self.steps.iter_mut().enumerate() {
            acc.waits.add(&o.waits[s]);
            acc.hold_violations.push(f64::from(x.hold_violations[s]));
            acc.starts.push(x.starts_per_year[s]);
            acc.failures.push(x.failures_per_year[s]);
        }
        self.reps += 1;
        if self.keep {
            self.kept.push(o.rep);
        }
    }

    pub(crate) fn finish(
        self,
        m: &Model,
        requested: u32,
        cancelled: bool,
        planned: bool,
    ) -> Results {
        let n = self.reps.max(1) as f64;
        let resources = m
            .resources
            .iter()
            .zip(&self.resources)
            .map(|(res, acc)| ResourceResult {
                name: res.name.clone(),
                kind: match res.kind {
                    ResourceKind::Equipment => "equipment",
                    ResourceKind::Area { .. } => "area",
                    ResourceKind::Staff => "staff",
                }
                .to_string(),
                capacity: res.capacity,
                utilisation: acc.utilisation.stat(),
                busy_hours_per_year: acc.busy_hours.stat(),
                breakdowns_per_year: acc.breakdowns.stat(),
                blocked: acc.blocked.stat(),
                blocked_hours_per_year: acc.blocked_hours.stat(),
                weekly_utilisation: acc.weekly.iter().map(|w| w / n).collect(),
            })
            .collect();
        let mut steps = Vec::new();
        let mut flat = 0;
        for p in &m.products {
            for s in &p.steps {
                let acc = &self.steps[flat];
                steps.push(StepResult {
                    product: p.name.clone(),
                    name: s.name.clone(),
                    wait_hours: acc.waits.stat(),
                    hold_violations: acc.hold_violations.stat(),
                    starts_per_year: acc.starts.stat(),
                    failures_per_year: acc.failures.stat(),
                });
                flat += 1;
            }
        }
        let losses = self
            .losses
            .iter()
            .map(|(c, acc)| LossResult {
                cause: c.clone(),
                count: acc.stat(),
            })
            .collect();
        Results {
            scenario: m.name.clone(),
            scenario_sha256: String::new(),
            program_version: env!("CARGO_PKG_VERSION").to_string(),
            seed: m.seed,
            rng: RNG_NAME.to_string(),
            replications: self.reps as u32,
            replications_requested: requested,
            cancelled,
            percentiles: sketch::method(),
            control: if planned { "plan" } else { "dispatching" }.to_string(),
            throughput_per_year: self.throughput.stat(),
            vein_to_vein_days: self.v2v.stat(),
            on_time_fraction: self.on_time.stat(),
            patients_lost: self.lost.stat(),
            patients_lost_fraction: self.lost_fraction.stat(),
            patients: self.patients.stat(),
            patients_unfinished: self.unfinished.stat(),
            losses,
            wip: self.wip.stat(),
            batches_started_per_year: self.started.stat(),
            reworked_per_year: self.reworked.stat(),
            remanufactured_per_year: self.remanufactured.stat(),
            resources,
            steps,
            per_replication: self.kept,
        }
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
    fn running_matches_two_pass() {
        let xs = [3.5, 1.25, 9.0, 4.0, 4.0, 0.5, 7.75];
        let mut r = Running::default();
        xs.iter().for_each(|&x| r.push(x));
        let (a, b) = (r.stat(), mean_ci(&xs));
        assert_eq!(a.mean, b.mean);
        assert!((a.ci95[0] - b.ci95[0]).abs() < 1e-12 && (a.ci95[1] - b.ci95[1]).abs() < 1e-12);
        // A measure first seen late counts the earlier replications as zeros.
        let mut z = Running::zeros(2);
        z.push(3.0);
        let w = mean_ci(&[0.0, 0.0, 3.0]);
        assert_eq!(z.stat().mean, w.mean);
        assert!((z.stat().ci95[1] - w.ci95[1]).abs() < 1e-12);
    }

    #[test]
    fn merging_equals_pushing_every_value() {
        let xs = [3.5, 1.25, 9.0, 4.0, 4.0, 0.5, 7.75, -2.0, 1e3];
        let mut all = Running::default();
        xs.iter().for_each(|&x| all.push(x));
        for cut in 0..=xs.len() {
            let (mut a, mut b) = (Running::default(), Running::default());
            xs[..cut].iter().for_each(|&x| a.push(x));
            xs[cut..].iter().for_each(|&x| b.push(x));
            a.merge(&b);
            assert_eq!(a.count(), all.count());
            let (m, w) = (a.stat(), all.stat());
            assert!((m.mean - w.mean).abs() <= 1e-12 * w.mean.abs(), "cut {cut}");
            for k in 0..2 {
                assert!(
                    (m.ci95[k] - w.ci95[k]).abs() <= 1e-12 * w.ci95[k].abs(),
                    "cut {cut}: {m:?} vs {w:?}"
                );
            }
        }
        // An empty side changes nothing.
        let mut e = Running::default();
        e.merge(&all);
        assert_eq!(e, all);
        let mut f = all;
        f.merge(&Running::default());
        assert_eq!(f, all);
    }
}
