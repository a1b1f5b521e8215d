//! Device adapters: how a device step's duration and values reach the batch record.
//!
//! A [`DeviceAdapter`] runs one step on one piece of equipment and reports what the
//! device measured. The engine turns the report into `record value` and
//! `complete step` requests, so device values pass the same checks as manual ones.
//! [`SimulatedDevice`] draws durations and values from the recipe: durations from a
//! triangular distribution over the step's shortest, nominal and longest time,
//! parameter values around their target inside their range (with a configurable
//! chance of an excursion), decision measures from the recipe's distributions and
//! failures with the recipe's probability. Each simulated device has its own
//! ChaCha8 stream derived from the seed and its equipment id, so results do not
//! depend on the order or the threads in which devices run.

use std::collections::BTreeMap;

use model::dist::Dist;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Exp, LogNormal, Normal, Triangular};
use recipe::DateTime;
use recipe::recipe::{ParamSpec, Step};
use serde::{Deserialize, Serialize};

/// What a device is asked to run.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRun<'a> {
    /// The recipe step.
    pub step: &'a Step,
    /// When the step started.
    pub started: DateTime,
}

/// One value a device reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// `parameters.NAME` or `environment.NAME`.
    pub field: String,
    /// Value in `unit`.
    pub value: f64,
    /// Unit symbol.
    pub unit: String,
    /// When the device measured it (its source timestamp), if it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_time: Option<DateTime>,
    /// Where on the device it was read (e.g. an OPC UA node id), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The device's status code when it is not good: the value is refused (recorded as a
    /// device event with a deviation), never recorded as a measured value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_status: Option<String>,
}

impl Reading {
    /// A good reading without a source timestamp (simulated or manual).
    pub fn plain(field: &str, value: f64, unit: &str) -> Reading {
        Reading {
            field: field.to_string(),
            value,
            unit: unit.to_string(),
            source_time: None,
            address: None,
            bad_status: None,
        }
    }
}

/// Something that happened on the connection or the program while a device ran a step
/// (a retry, a connection lost for good, a program state), for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceNote {
    /// What happened.
    pub event: crate::entry::DeviceEventKind,
    /// The device's or the adapter's words.
    pub detail: String,
    /// The device's timestamp, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_time: Option<DateTime>,
}

/// What a device reports at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceReport {
    /// How long the run took, hours.
    pub duration_h: f64,
    /// Values measured.
    pub readings: Vec<Reading>,
    /// In-process measurements for the step's decisions.
    pub measures: BTreeMap<String, f64>,
    /// Why the run failed, if it did.
    pub failed: Option<String>,
    /// Connection and program events in the order they happened (empty for simulated
    /// devices).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<DeviceNote>,
    /// Values of the step that people enter by hand because the device does not measure
    /// them (filled in by the rehearsal, never by an adapter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manual: Vec<Reading>,
}

/// A device that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device {device}: {message}")]
pub struct DeviceError {
    /// Equipment id.
    pub device: String,
    /// What went wrong.
    pub message: String,
}

/// A device the engine can drive (simulated here; OPC UA and SiLA 2 adapters implement
/// the same trait).
pub trait DeviceAdapter {
    /// Equipment id of the device.
    fn id(&self) -> &str;
    /// Run a step and report.
    fn run(&mut self, run: &DeviceRun<'_>) -> Result<DeviceReport, DeviceError>;
    /// Whether this device has something bound for step `step` (a program, a measurement).
    /// A bound device that does not handle a step it is scanned for is simulated for it.
    fn handles(&self, step: &str) -> bool {
        let _ = step;
        true
    }
}

/// A simulated device drawing from the recipe's distributions.
#[derive(Debug, Clone)]
pub struct SimulatedDevice {
    id: String,
    rng: ChaCha8Rng,
    excursion: f64,
}

fn stream_of(id: &str) -> u64 {
    // FNV-1a: a stable stream number per equipment id.
    id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SimulatedDevice {
    /// A simulated device for equipment `id`, seeded with `seed`.
    pub fn new(id: &str, seed: u64) -> SimulatedDevice {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream_of(id));
        SimulatedDevice {
            id: id.to_string(),
            rng,
            excursion: 0.0,
        }
    }

    /// Chance (0–1) that a value falls outside its range (to rehearse deviations).
    #[must_use]
    pub fn with_excursions(mut self, probability: f64) -> SimulatedDevice {
        self.excursion = if probability.is_finite() {
            probability.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    fn sample(&mut self, d: &Dist) -> f64 {
        let r = &mut self.rng;
        match d {
            Dist::Fixed { value } => *value,
            Dist::Uniform { min, max } => {
                if max > min {
                    r.random_range(*min..=*max)
                } else {
                    *min
                }
            }
            Dist::Triangular { min, mode, max } => Triangular::new(*min, *max, *mode)
                .map(|t| t.sample(r))
                .unwrap_or(*mode),
            Dist::TruncatedNormal { mean, sd, min, max } => {
                let Ok(n) = Normal::new(*mean, *sd) else {
                    return mean.clamp(*min, *max);
                };
                (0..10_000)
                    .map(|_| n.sample(r))
                    .find(|x| x >= min && x <= max)
                    .unwrap_or_else(|| mean.clamp(*min, *max))
            }
            Dist::Lognormal { mu, sigma } => LogNormal::new(*mu, *sigma)
                .map(|l| l.sample(r))
                .unwrap_or_else(|_| mu.exp()),
            Dist::Exponential { mean } => {
                Exp::new(1.0 / mean).map(|e| e.sample(r)).unwrap_or(*mean)
            }
            Dist::Empirical { values, cumulative } => {
                let u: f64 = r.random();
                let i = cumulative
                    .partition_point(|c| *c < u)
                    .min(values.len().saturating_sub(1));
                values.get(i).copied().unwrap_or(0.0)
            }
        }
    }

    /// A value for a parameter: near the target inside the range, or (with the excursion
    /// probability) just outside it.
    fn value_for(&mut self, spec: &ParamSpec) -> f64 {
        let (lo, hi, target) = (spec.min, spec.max, spec.target);
        let outside = self.excursion > 0.0 && self.rng.random_bool(self.excursion);
        match (lo, hi) {
            (Some(a), Some(b)) => {
                let span = (b - a).abs().max(1e-9);
                if outside {
                    if self.rng.random_bool(0.5) {
                        a - 0.1 * span
                    } else {
                        b + 0.1 * span
                    }
                } else {
                    let mode = target.unwrap_or((a + b) / 2.0).clamp(a, b);
                    self.sample(&Dist::Triangular {
                        min: a,
                        mode,
                        max: b,
                    })
                }
            }
            (Some(a), None) => {
                let t = target
                    .unwrap_or(if a == 0.0 { 1.0 } else { a * 1.2 })
                    .max(a);
                let m = a.abs().max(t.abs()).max(1e-9);
                if outside {
                    a - 0.1 * m
                } else {
                    self.sample(&Dist::Triangular {
                        min: a,
                        mode: t,
                        max: t + (t - a).abs().max(0.05 * m),
                    })
                }
            }
            (None, Some(b)) => {
                let t = target.unwrap_or(b * 0.8).min(b);
                let m = b.abs().max(t.abs()).max(1e-9);
                if outside {
                    b + 0.1 * m
                } else {
                    self.sample(&Dist::Triangular {
                        min: t - (b - t).abs().max(0.05 * m),
                        mode: t,
                        max: b,
                    })
                }
            }
            (None, None) => {
                let t = target.unwrap_or(0.0);
                if outside {
                    t + 0.1 * t.abs().max(10.0)
                } else {
                    t
                }
            }
        }
    }
}

impl DeviceAdapter for SimulatedDevice {
    fn id(&self) -> &str {
        &self.id
    }

    fn run(&mut self, run: &DeviceRun<'_>) -> Result<DeviceReport, DeviceError> {
        let step = run.step;
        let d = step.duration;
        let duration_h = self.sample(&Dist::Triangular {
            min: d.min_h,
            mode: d.nominal_h.clamp(d.min_h, d.max_h),
            max: d.max_h,
        });
        let mut readings = Vec::new();
        for (prefix, map) in [
            ("parameters", &step.parameters),
            ("environment", &step.environment.limits),
        ] {
            for (name, spec) in map {
                let value = self.value_for(spec);
                readings.push(Reading::plain(
                    &format!("{prefix}.{name}"),
                    value,
                    spec.unit.symbol,
                ));
            }
        }
        let mut measures = BTreeMap::new();
        for dec in &step.decision {
            let dist = Dist::from_spec(&dec.value, 1.0).map_err(|(f, m)| DeviceError {
                device: self.id.clone(),
                message: format!("step `{}` decision `{}` {f}: {m}", step.id, dec.measure),
            })?;
            measures.insert(dec.measure.clone(), self.sample(&dist));
        }
        let failed = step.failure.as_ref().and_then(|f| {
            let p = if f.probability.is_finite() {
                f.probability.clamp(0.0, 1.0)
            } else {
                0.0
            };
            self.rng
                .random_bool(p)
                .then(|| format!("simulated run failure (probability {p})"))
        });
        Ok(DeviceReport {
            duration_h,
            readings,
            measures,
            failed,
            notes: Vec::new(),
            manual: Vec::new(),
        })
    }
}
