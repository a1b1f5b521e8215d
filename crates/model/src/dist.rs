//! Resolved probability distributions (durations already in hours).

use serde::{Deserialize, Serialize};

use crate::scenario::Distribution;

/// A checked distribution. Duration distributions are in hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum Dist {
    /// Always `value`.
    Fixed {
        /// The value.
        value: f64,
    },
    /// Uniform on `[min, max]`.
    Uniform {
        /// Lower end.
        min: f64,
        /// Upper end.
        max: f64,
    },
    /// Triangular.
    Triangular {
        /// Lower end.
        min: f64,
        /// Mode.
        mode: f64,
        /// Upper end.
        max: f64,
    },
    /// Normal truncated to `[min, max]`.
    TruncatedNormal {
        /// Mean before truncation.
        mean: f64,
        /// Standard deviation before truncation.
        sd: f64,
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Lognormal with parameters of the underlying normal.
    Lognormal {
        /// Mean of `ln X`.
        mu: f64,
        /// Standard deviation of `ln X`.
        sigma: f64,
    },
    /// Exponential.
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Discrete over observed values with cumulative weights.
    Empirical {
        /// Values.
        values: Vec<f64>,
        /// Cumulative weights normalised to end at 1.
        cumulative: Vec<f64>,
    },
}

/// Why an `expansion_model` cannot be drawn from as it stands: the program reading the
/// scenario replaces it by the model's harvest days before the checks, and only a step's
/// duration can be one.
pub(crate) const UNRESOLVED_EXPANSION_MODEL: &str = "`expansion_model` gives a step's `duration` \
     only, computed by the program reading the scenario before it is checked";

impl Dist {
    /// The smallest and the largest possible value (the largest infinite for unbounded
    /// distributions).
    fn range(&self) -> (f64, f64) {
        match self {
            Dist::Fixed { value } => (*value, *value),
            Dist::Uniform { min, max }
            | Dist::Triangular { min, max, .. }
            | Dist::TruncatedNormal { min, max, .. } => (*min, *max),
            Dist::Lognormal { .. } | Dist::Exponential { .. } => (0.0, f64::INFINITY),
            Dist::Empirical { values, .. } => (
                values.iter().copied().fold(f64::INFINITY, f64::min),
                values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ),
        }
    }

    /// The smallest possible value.
    pub fn min(&self) -> f64 {
        self.range().0
    }

    /// The largest possible value (infinite for unbounded distributions).
    pub fn max(&self) -> f64 {
        self.range().1
    }

    /// The expected value (for truncated normals, the mean of the truncated distribution).
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Fixed { value } => *value,
            Dist::Uniform { min, max } => 0.5 * (min + max),
            Dist::Triangular { min, mode, max } => (min + mode + max) / 3.0,
            Dist::TruncatedNormal { mean, sd, min, max } => {
                let a = (min - mean) / sd;
                let b = (max - mean) / sd;
                let z = phi_cdf(b) - phi_cdf(a);
                if z <= 0.0 {
                    mean.clamp(*min, *max)
                } else {
                    mean + sd * (phi_pdf(a) - phi_pdf(b)) / z
                }
            }
            Dist::Lognormal { mu, sigma } => (mu + 0.5 * sigma * sigma).exp(),
            Dist::Exponential { mean } => *mean,
            Dist::Empirical { values, cumulative } => {
                let mut prev = 0.0;
                let mut m = 0.0;
                for (v, c) in values.iter().zip(cumulative) {
                    m += v * (c - prev);
                    prev = *c;
                }
                m
            }
        }
    }

    /// The variance (for truncated normals, that of the truncated distribution).
    pub fn variance(&self) -> f64 {
        match self {
            Dist::Fixed { .. } => 0.0,
            Dist::Uniform { min, max } => (max - min).powi(2) / 12.0,
            Dist::Triangular { min, mode, max } => {
                let (a, c, b) = (*min, *mode, *max);
                (a * a + b * b + c * c - a * b - a * c - b * c) / 18.0
            }
            Dist::TruncatedNormal { mean, sd, min, max } => {
                let a = (min - mean) / sd;
                let b = (max - mean) / sd;
                let z = phi_cdf(b) - phi_cdf(a);
                if z <= 0.0 {
                    return 0.0;
                }
                // phi_pdf(±inf) is 0, but a·phi(a) would be inf·0 for infinite bounds.
                let tail = |x: f64| if x.is_finite() { x * phi_pdf(x) } else { 0.0 };
                let shift = (phi_pdf(a) - phi_pdf(b)) / z;
                sd * sd * (1.0 + (tail(a) - tail(b)) / z - shift * shift)
            }
            Dist::Lognormal { mu, sigma } => {
                let s2 = sigma * sigma;
                s2.exp_m1() * (2.0 * mu + s2).exp()
            }
            Dist::Exponential { mean } => mean * mean,
            Dist::Empirical { values, cumulative } => {
                let m = self.mean();
                let mut prev = 0.0;
                let mut v = 0.0;
                for (x, c) in values.iter().zip(cumulative) {
                    v += (x - m).powi(2) * (c - prev);
                    prev = *c;
                }
                v
            }
        }
    }

    /// Mass of a truncated normal inside its bounds (1 for other distributions).
    pub fn truncation_mass(&self) -> f64 {
        match self {
            Dist::TruncatedNormal { mean, sd, min, max } => {
                phi_cdf((max - mean) / sd) - phi_cdf((min - mean) / sd)
            }
            _ => 1.0,
        }
    }

    /// Resolves a file distribution, scaling values by `scale` (hours per unit for
    /// durations, 1 for measurements). Returns the reason when the parameters are impossible.
    pub fn from_spec(d: &Distribution, scale: f64) -> Result<Dist, (&'static str, String)> {
        let finite = |name: &'static str, v: f64| scaled(name, v, scale);
        let out = match d {
            Distribution::Fixed { value, .. } => Dist::Fixed {
                value: finite("value", *value)?,
            },
            Distribution::Uniform { min, max, .. } => {
                let (min, max) = (finite("min", *min)?, finite("max", *max)?);
                if min > max {
                    return Err(("max", format!("`max` ({max}) is below `min` ({min})")));
                }
                Dist::Uniform { min, max }
            }
            Distribution::Triangular { min, mode, max, .. } => {
                let (min, mode, max) = (
                    finite("min", *min)?,
                    finite("mode", *mode)?,
                    finite("max", *max)?,
                );
                if !(min <= mode && mode <= max) {
                    return Err((
                        "mode",
                        format!("need min ≤ mode ≤ max, got {min} / {mode} / {max}"),
                    ));
                }
                Dist::Triangular { min, mode, max }
            }
            Distribution::TruncatedNormal {
                mean, sd, min, max, ..
            } => truncated_normal(
                finite("mean", *mean)?,
                finite("sd", *sd)?,
                finite("min", *min)?,
                finite("max", *max)?,
            )?,
            Distribution::Lognormal { mean, sd, .. } => {
                lognormal(finite("mean", *mean)?, finite("sd", *sd)?)?
            }
            Distribution::Exponential { mean, .. } => {
                let mean = finite("mean", *mean)?;
                if mean <= 0.0 {
                    return Err(("mean", format!("`mean` must be positive, got {mean}")));
                }
                Dist::Exponential { mean }
            }
            Distribution::Empirical {
                values, weights, ..
            } => empirical(values, weights.as_deref(), scale)?,
            Distribution::ExpansionModel { .. } => {
                return Err(("dist", UNRESOLVED_EXPANSION_MODEL.to_string()));
            }
        };
        finite_moments(d, &out, scale)?;
        Ok(out)
    }
}

/// `v` times `scale`, or the reason when either is not a finite number.
fn scaled(name: &'static str, v: f64, scale: f64) -> Result<f64, (&'static str, String)> {
    if !v.is_finite() {
        Err((name, format!("`{name}` must be a finite number, got {v}")))
    } else if !(v * scale).is_finite() {
        Err((name, format!("`{name}` ({v}) is too large")))
    } else {
        Ok(v * scale)
    }
}

/// A truncated normal from scaled parameters; refused when almost none of it lies inside the
/// bounds.
fn truncated_normal(
    mean: f64,
    sd: f64,
    min: f64,
    max: f64,
) -> Result<Dist, (&'static str, String)> {
    if sd <= 0.0 {
        return Err(("sd", format!("`sd` must be positive, got {sd}")));
    }
    if min >= max {
        return Err(("max", format!("`max` ({max}) must exceed `min` ({min})")));
    }
    let out = Dist::TruncatedNormal { mean, sd, min, max };
    if out.truncation_mass() < 1e-3 {
        return Err((
            "mean",
            "less than 0.1 % of the normal lies inside [min, max]; the bounds are \
             impossible for this mean and sd"
                .to_string(),
        ));
    }
    Ok(out)
}

/// A lognormal from its scaled mean and standard deviation (converted to `mu`, `sigma`).
fn lognormal(mean: f64, sd: f64) -> Result<Dist, (&'static str, String)> {
    if mean <= 0.0 {
        return Err(("mean", format!("`mean` must be positive, got {mean}")));
    }
    if sd <= 0.0 {
        return Err(("sd", format!("`sd` must be positive, got {sd}")));
    }
    let sigma2 = (1.0 + (sd / mean).powi(2)).ln();
    if !sigma2.is_finite() {
        return Err((
            "sd",
            format!(
                "`sd` ({sd}) is too large for `mean` ({mean}): the variance is not a \
                 finite number"
            ),
        ));
    }
    Ok(Dist::Lognormal {
        mu: mean.ln() - 0.5 * sigma2,
        sigma: sigma2.sqrt(),
    })
}

/// An empirical distribution: values scaled, weights (equal when not given) turned into a
/// cumulative table ending at exactly 1.
fn empirical(
    values: &[f64],
    weights: Option<&[f64]>,
    scale: f64,
) -> Result<Dist, (&'static str, String)> {
    if values.is_empty() {
        return Err(("values", "`values` must not be empty".to_string()));
    }
    let vals = values
        .iter()
        .map(|v| scaled("values", *v, scale))
        .collect::<Result<Vec<_>, _>>()?;
    let w: Vec<f64> = match weights {
        None => vec![1.0; vals.len()],
        Some(w) => {
            if w.len() != vals.len() {
                return Err((
                    "weights",
                    format!(
                        "{} weights for {} values; give one weight per value",
                        w.len(),
                        vals.len()
                    ),
                ));
            }
            if w.iter().any(|x| !x.is_finite() || *x < 0.0) {
                return Err((
                    "weights",
                    "weights must be finite and not negative".to_string(),
                ));
            }
            w.to_vec()
        }
    };
    let total: f64 = w.iter().sum();
    if total <= 0.0 {
        return Err(("weights", "weights sum to zero".to_string()));
    }
    let mut acc = 0.0;
    let mut cumulative: Vec<f64> = w
        .iter()
        .map(|x| {
            acc += x / total;
            acc
        })
        .collect();
    if let Some(last) = cumulative.last_mut() {
        *last = 1.0;
    }
    Ok(Dist::Empirical {
        values: vals,
        cumulative,
    })
}

/// Refuses a resolved distribution whose mean or variance overflows, naming the field of
/// the file distribution `d` to change.
fn finite_moments(d: &Distribution, out: &Dist, scale: f64) -> Result<(), (&'static str, String)> {
    let (mean, var) = (out.mean(), out.variance());
    if mean.is_finite() && var.is_finite() {
        return Ok(());
    }
    let field = match d {
        Distribution::Fixed { .. } => "value",
        Distribution::Uniform { .. } | Distribution::Triangular { .. } => "max",
        Distribution::TruncatedNormal { .. } | Distribution::Lognormal { .. } => "sd",
        Distribution::Exponential { .. } => "mean",
        Distribution::Empirical { .. } => "values",
        Distribution::ExpansionModel { .. } => "dist",
    };
    Err((
        field,
        format!(
            "the values are too large: the distribution's mean ({}) and variance ({}) \
             must be finite numbers",
            mean / scale,
            var / (scale * scale)
        ),
    ))
}

fn phi_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Standard normal CDF through the complementary error function, using the classic
/// Chebyshev-fitted approximation of `erfc` with fractional error below 1.2e-7 everywhere.
pub fn phi_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_tables() {
        assert!((phi_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((phi_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((phi_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }

    #[test]
    fn lognormal_mean_round_trips() {
        let d = Dist::from_spec(
            &Distribution::Lognormal {
                mean: 12.0,
                sd: 3.0,
                unit: None,
            },
            24.0,
        )
        .expect("valid");
        assert!((d.mean() - 288.0).abs() < 1e-9);
    }

    #[test]
    fn impossible_parameters_are_rejected() {
        let bad = Distribution::Triangular {
            min: 3.0,
            mode: 1.0,
            max: 5.0,
            unit: None,
        };
        assert_eq!(Dist::from_spec(&bad, 1.0).map_err(|e| e.0), Err("mode"));
        let far = Distribution::TruncatedNormal {
            mean: 0.0,
            sd: 1.0,
            min: 10.0,
            max: 11.0,
            unit: None,
        };
        assert_eq!(Dist::from_spec(&far, 1.0).map_err(|e| e.0), Err("mean"));
    }

    #[test]
    fn truncated_normal_mean_shifts_towards_the_window() {
        let d = Dist::TruncatedNormal {
            mean: 0.0,
            sd: 1.0,
            min: 0.0,
            max: 10.0,
        };
        // Half-normal mean is sqrt(2/pi).
        assert!((d.mean() - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-6);
    }
}
