//! Spectral preprocessing, applied to each spectrum (row) on its own, so that a calibration
//! and every later prediction treat a spectrum identically and cross-validation folds cannot
//! leak information into each other.
//!
//! - `snv`: standard normal variate: subtract the spectrum's mean and divide by its sample
//!   standard deviation (n − 1 in the denominator).
//! - `savgol:W:P:D`: Savitzky–Golay filter with window `W` (odd, ≤ number of variables),
//!   polynomial order `P` (< W) and derivative order `D` (≤ P), with the conventions of
//!   SciPy's `savgol_filter(x, W, P, deriv=D, delta=1.0, mode="interp")`: inside, the value
//!   (or derivative) at the window centre of the least-squares polynomial fitted to the `W`
//!   points around it; within `W // 2` points of either end, the polynomial fitted to the
//!   first (last) `W` points evaluated at each of those positions. Variables are taken as
//!   equally spaced with spacing 1, so a derivative is per variable index.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::PatError;

/// Largest Savitzky–Golay window accepted.
pub const MAX_WINDOW: usize = 1001;
/// Largest Savitzky–Golay polynomial order accepted.
pub const MAX_POLYORDER: usize = 10;

/// One preprocessing step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Step {
    /// Standard normal variate.
    Snv,
    /// Savitzky–Golay smoothing or differentiation.
    Savgol {
        /// Window length (odd).
        window: usize,
        /// Polynomial order.
        polyorder: usize,
        /// Derivative order.
        deriv: usize,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Snv => write!(f, "snv"),
            Step::Savgol {
                window,
                polyorder,
                deriv,
            } => write!(f, "savgol:{window}:{polyorder}:{deriv}"),
        }
    }
}

/// Parses a comma-separated list such as `snv,savgol:11:2:1` (an empty string is no step).
pub fn parse_steps(spec: &str) -> Result<Vec<Step>, PatError> {
    let bad = |m: String| PatError::Preprocess(m);
    let mut steps = Vec::new();
    for (i, item) in spec.split(',').map(str::trim).enumerate() {
        if item.is_empty() {
            if spec.trim().is_empty() {
                break;
            }
            return Err(bad(format!("step {} is empty in `{spec}`", i + 1)));
        }
        let parts: Vec<&str> = item.split(':').collect();
        let step = match parts.as_slice() {
            ["snv"] => Step::Snv,
            ["savgol", w, p, d] => {
                let num = |s: &str, what: &str| {
                    s.parse::<usize>().map_err(|_| {
                        bad(format!(
                            "`{item}`: {what} `{s}` is not a non-negative integer"
                        ))
                    })
                };
                let step = Step::Savgol {
                    window: num(w, "window")?,
                    polyorder: num(p, "polynomial order")?,
                    deriv: num(d, "derivative order")?,
                };
                check_step(&step)?;
                step
            }
            ["savgol", ..] => {
                return Err(bad(format!(
                    "`{item}`: expected savgol:WINDOW:POLYORDER:DERIV, e.g. savgol:11:2:1"
                )));
            }
            _ => {
                return Err(bad(format!(
                    "unknown step `{item}`; known: snv, savgol:WINDOW:POLYORDER:DERIV"
                )));
            }
        };
        steps.push(step);
    }
    Ok(steps)
}

/// Checks a step's own parameters (not yet against the data).
pub fn check_step(step: &Step) -> Result<(), PatError> {
    if let Step::Savgol {
        window,
        polyorder,
        deriv,
    } = *step
    {
        let bad = |m: String| Err(PatError::Preprocess(format!("`{step}`: {m}")));
        if window % 2 == 0 || window < 3 {
            return bad(format!("the window {window} must be odd and at least 3"));
        }
        if window > MAX_WINDOW {
            return bad(format!(
                "the window {window} is above the limit {MAX_WINDOW}"
            ));
        }
        if polyorder >= window {
            return bad("the polynomial order must be less than the window".into());
        }
        if polyorder > MAX_POLYORDER {
            return bad(format!(
                "polynomial orders above {MAX_POLYORDER} are not supported"
            ));
        }
        if deriv > polyorder {
            return bad("the derivative order must not exceed the polynomial order".into());
        }
    }
    Ok(())
}

/// Applies `steps` in order to every row of `x`; `ids` name the rows in messages.
pub fn apply(steps: &[Step], x: &DMatrix<f64>, ids: &[String]) -> Result<DMatrix<f64>, PatError> {
    let mut out = x.clone();
    for step in steps {
        check_step(step)?;
        match *step {
            Step::Snv => snv(&mut out, ids)?,
            Step::Savgol {
                window,
                polyorder,
                deriv,
            } => {
                if window > out.ncols() {
                    return Err(PatError::Preprocess(format!(
                        "`{step}`: the window is longer than the {} variables of a spectrum",
                        out.ncols()
                    )));
                }
                let filter = Savgol::new(window, polyorder, deriv)?;
                for i in 0..out.nrows() {
                    let row: Vec<f64> = out.row(i).iter().copied().collect();
                    let filtered = filter.apply(&row);
                    for (j, v) in filtered.into_iter().enumerate() {
                        out[(i, j)] = v;
                    }
                }
            }
        }
    }
    Ok(out)
}

fn snv(x: &mut DMatrix<f64>, ids: &[String]) -> Result<(), PatError> {
    let p = x.ncols();
    if p < 2 {
        return Err(PatError::Preprocess(
            "snv needs at least two variables per spectrum".into(),
        ));
    }
    for i in 0..x.nrows() {
        let mean = x.row(i).iter().sum::<f64>() / p as f64;
        let ss: f64 = x.row(i).iter().map(|v| (v - mean) * (v - mean)).sum();
        let sd = (ss / (p - 1) as f64).sqrt();
        if sd <= 0.0 || !sd.is_finite() {
            let id = ids.get(i).map(String::as_str).unwrap_or("?");
            return Err(PatError::Preprocess(format!(
                "snv: spectrum `{id}` is constant (standard deviation {sd}), it cannot be scaled"
            )));
        }
        for j in 0..p {
            x[(i, j)] = (x[(i, j)] - mean) / sd;
        }
    }
    Ok(())
}

/// A Savitzky–Golay filter: the weights that give the fitted polynomial's derivative at each
/// position of a window, from the least-squares fit of a polynomial in centred coordinates.
#[derive(Debug, Clone)]
pub struct Savgol {
    window: usize,
    /// `weights[u]`: weights over the window for evaluation at window position `u`.
    weights: Vec<Vec<f64>>,
}

impl Savgol {
    /// Builds the filter; `window` odd, `polyorder < window`, `deriv ≤ polyorder`.
    pub fn new(window: usize, polyorder: usize, deriv: usize) -> Result<Savgol, PatError> {
        check_step(&Step::Savgol {
            window,
            polyorder,
            deriv,
        })?;
        let half = (window / 2) as f64;
        // Vandermonde matrix in centred coordinates x_k = k − half (better conditioned than
        // 0..W−1; the fitted polynomial is the same).
        let a = DMatrix::from_fn(window, polyorder + 1, |k, j| {
            (k as f64 - half).powi(j as i32)
        });
        let pinv = a
            .svd(true, true)
            .pseudo_inverse(1e-13)
            .map_err(|e| PatError::Preprocess(format!("Savitzky–Golay fit: {e}")))?;
        // d^deriv/dx^deriv of x^j at x = u: j!/(j−deriv)! u^(j−deriv).
        let falling = |j: usize| ((j - deriv + 1)..=j).map(|v| v as f64).product::<f64>();
        let weights = (0..window)
            .map(|pos| {
                let u = pos as f64 - half;
                (0..window)
                    .map(|k| {
                        (deriv..=polyorder)
                            .map(|j| pinv[(j, k)] * falling(j) * u.powi((j - deriv) as i32))
                            .sum()
                    })
                    .collect()
            })
            .collect();
        Ok(Savgol { window, weights })
    }

    /// Filters one signal of at least `window` points.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        let n = x.len();
        let w = self.window;
        let h = w / 2;
        if n < w {
            return x.to_vec();
        }
        let dot = |pos: usize, start: usize| -> f64 {
            self.weights[pos]
                .iter()
                .zip(&x[start..start + w])
                .map(|(a, b)| a * b)
                .sum()
        };
        (0..n)
            .map(|i| {
                if i < h {
                    dot(i, 0)
                } else if i + h >= n {
                    dot(i - (n - w), n - w)
                } else {
                    dot(h, i - h)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_step_lists() {
        let steps = parse_steps("snv, savgol:11:2:1").expect("valid");
        assert_eq!(
            steps,
            [
                Step::Snv,
                Step::Savgol {
                    window: 11,
                    polyorder: 2,
                    deriv: 1
                }
            ]
        );
        assert_eq!(steps[1].to_string(), "savgol:11:2:1");
        assert!(parse_steps("").expect("empty").is_empty());
        for bad in [
            "snv,,savgol:5:2:0",
            "msc",
            "savgol:5:2",
            "savgol:4:2:0",
            "savgol:1:0:0",
            "savgol:5:5:0",
            "savgol:5:2:3",
            "savgol:x:2:0",
            "savgol:5:-1:0",
            "savgol:1003:2:0",
        ] {
            assert!(parse_steps(bad).is_err(), "{bad} accepted");
        }
    }

    /// Savitzky–Golay smoothing reproduces a polynomial of the fitted order exactly, at the
    /// edges too, and its derivatives are the polynomial's derivatives.
    #[test]
    fn savgol_is_exact_on_polynomials() {
        let f = |x: f64| 0.5 - 0.3 * x + 0.02 * x * x;
        let df = |x: f64| -0.3 + 0.04 * x;
        let d2f = |_: f64| 0.04;
        let x: Vec<f64> = (0..30).map(|i| f(i as f64)).collect();
        for (deriv, g) in [(0, &f as &dyn Fn(f64) -> f64), (1, &df), (2, &d2f)] {
            let y = Savgol::new(7, 2, deriv).expect("valid").apply(&x);
            for (i, v) in y.iter().enumerate() {
                assert!((v - g(i as f64)).abs() < 1e-10, "deriv {deriv} at {i}: {v}");
            }
        }
    }

    /// The classic 5-point quadratic smoothing weights (−3, 12, 17, 12, −3)/35.
    #[test]
    fn savgol_has_the_textbook_weights() {
        let s = Savgol::new(5, 2, 0).expect("valid");
        let expect = [-3.0, 12.0, 17.0, 12.0, -3.0].map(|v| v / 35.0);
        for (a, b) in s.weights[2].iter().zip(expect) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        // Smoothing noise reduces its variance.
        let noise: Vec<f64> = (0..200).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let y = s.apply(&noise);
        let var = |v: &[f64]| v[5..195].iter().map(|a| a * a).sum::<f64>();
        assert!(var(&y) < 0.7 * var(&noise));
    }

    #[test]
    fn snv_centres_and_scales_each_spectrum() {
        let x = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 10.0, 30.0, 20.0]);
        let ids = ["a".to_string(), "b".to_string()];
        let y = apply(&[Step::Snv], &x, &ids).expect("valid");
        assert_eq!(
            y.row(0).iter().copied().collect::<Vec<_>>(),
            [-1.0, 0.0, 1.0]
        );
        assert_eq!(
            y.row(1).iter().copied().collect::<Vec<_>>(),
            [-1.0, 1.0, 0.0]
        );
        let flat = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 5.0, 5.0, 5.0]);
        let e = apply(&[Step::Snv], &flat, &ids).expect_err("constant");
        assert!(e.to_string().contains("`b` is constant"), "{e}");
    }

    #[test]
    fn savgol_window_longer_than_spectrum_is_an_error() {
        let x = DMatrix::from_row_slice(1, 4, &[1.0, 2.0, 3.0, 4.0]);
        let steps = parse_steps("savgol:5:2:0").expect("valid");
        let e = apply(&steps, &x, &["a".into()]).expect_err("too long");
        assert!(e.to_string().contains("4 variables"), "{e}");
    }
}
