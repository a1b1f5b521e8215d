//! The soft sensor: preprocessing and a PLS calibration from spectra to reference values,
//! with its cross-validation and the statistics that tell whether a new spectrum lies inside
//! the calibration's applicability domain.
//!
//! - Hotelling T² of a spectrum: Σₐ tₐ² / sₐ², its scores `t` against the variances `s²`
//!   (n − 1) of the calibration scores. Limit for a new observation at confidence 1 − α:
//!   K (n² − 1) / (n (n − K)) · F₁₋α(K, n − K) (Tracy, Young & Mason 1992).
//! - Q residual (squared prediction error): ‖x − t Pᵀ‖² of the centred spectrum. Limit by
//!   Box's scaled χ² fitted to the calibration Q values (Nomikos & MacGregor 1995):
//!   g χ²₁₋α(h) with g = v / (2m), h = 2m² / v for their mean m and variance v.
//!
//! A prediction whose T² or Q exceeds its limit is flagged as outside the domain.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, FisherSnedecor};

use crate::preprocess::{self, Step};
use crate::table::Table;
use crate::{PatError, pls};

/// Identifies the JSON format of a saved soft sensor.
pub const FORMAT: &str = "atmpflow-pat-soft-sensor/1";

/// Settings of a calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// Number of PLS components.
    pub components: usize,
    /// Preprocessing steps, in order.
    pub preprocess: Vec<Step>,
    /// Scale X and Y columns to unit variance before the fit.
    pub scale: bool,
    /// Cross-validation folds (`None`: no cross-validation).
    pub cv_folds: Option<usize>,
    /// Confidence level of the T² and Q limits, in (0, 1).
    pub confidence: f64,
}

/// Cross-validation of a calibration: RMSECV per number of components and response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CvReport {
    /// Number of contiguous folds.
    pub folds: usize,
    /// `rmsecv[a - 1][j]`: RMSECV of response `j` with `a` components.
    pub rmsecv: Vec<Vec<f64>>,
    /// The number of components with the smallest mean RMSECV (relative to each response's
    /// standard deviation).
    pub best_components: usize,
}

/// A fitted soft sensor, as saved to JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftSensor {
    /// Always [`FORMAT`].
    pub format: String,
    /// Spectral variable names (CSV headers), in order.
    pub variables: Vec<String>,
    /// Response names.
    pub responses: Vec<String>,
    /// Preprocessing steps.
    pub preprocess: Vec<Step>,
    /// Whether X and Y were scaled.
    pub scale: bool,
    /// Number of calibration samples.
    pub samples: usize,
    /// PLS components.
    pub components: usize,
    /// Column means of the preprocessed calibration spectra.
    pub x_mean: Vec<f64>,
    /// Column scales of X.
    pub x_std: Vec<f64>,
    /// Means of the responses (the intercepts).
    pub y_mean: Vec<f64>,
    /// Scales of Y.
    pub y_std: Vec<f64>,
    /// Coefficients, one row per response, one value per variable, for centred X.
    pub coefficients: Vec<Vec<f64>>,
    /// Rotations (one row per component): scores of centred, scaled X.
    pub rotations: Vec<Vec<f64>>,
    /// X loadings (one row per component).
    pub loadings: Vec<Vec<f64>>,
    /// Variances (n − 1) of the calibration scores per component.
    pub score_variance: Vec<f64>,
    /// Confidence level of the limits.
    pub confidence: f64,
    /// Hotelling T² limit for a new sample.
    pub t2_limit: f64,
    /// Q residual limit.
    pub q_limit: f64,
    /// RMSE of calibration per response.
    pub rmsec: Vec<f64>,
    /// Cross-validation, when it was run.
    pub cv: Option<CvReport>,
}

/// Where a prediction stands relative to the applicability domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Both statistics within their limits.
    Inside,
    /// Hotelling T² above its limit (an extrapolation in the model plane).
    OutsideT2,
    /// Q residual above its limit (a spectrum unlike the calibration spectra).
    OutsideQ,
    /// Both above their limits.
    OutsideBoth,
}

impl Domain {
    /// `true` unless inside.
    pub fn is_outside(self) -> bool {
        self != Domain::Inside
    }

    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Domain::Inside => "inside",
            Domain::OutsideT2 => "outside:T2",
            Domain::OutsideQ => "outside:Q",
            Domain::OutsideBoth => "outside:T2+Q",
        }
    }
}

/// One sample's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Estimated responses, in the sensor's response order.
    pub values: Vec<f64>,
    /// Hotelling T².
    pub t2: f64,
    /// Q residual.
    pub q: f64,
    /// Applicability domain verdict.
    pub domain: Domain,
}

impl SoftSensor {
    /// Calibrates on `spectra` and `reference`, matched by sample id (every spectrum needs a
    /// reference row and vice versa).
    pub fn fit(
        spectra: &Table,
        reference: &Table,
        opts: &FitOptions,
    ) -> Result<SoftSensor, PatError> {
        if !(opts.confidence > 0.0 && opts.confidence < 1.0) {
            return Err(PatError::Invalid(format!(
                "confidence {} must lie strictly between 0 and 1",
                opts.confidence
            )));
        }
        let y = match_rows(spectra, reference)?;
        let x = preprocess::apply(&opts.preprocess, &spectra.values, &spectra.ids)?;
        let model = pls::fit(&x, &y, opts.components, opts.scale)?;
        let cv = match opts.cv_folds {
            None => None,
            Some(folds) => {
                let preds = pls::cross_val_predict(&x, &y, opts.components, opts.scale, folds)?;
                let rmsecv: Vec<Vec<f64>> = preds.iter().map(|p| pls::rmse(p, &y)).collect();
                let spread: Vec<f64> = (0..y.ncols())
                    .map(|j| {
                        let c = y.column(j);
                        let m = c.mean();
                        let v = c.iter().map(|v| (v - m) * (v - m)).sum::<f64>()
                            / (y.nrows() as f64 - 1.0);
                        if v > 0.0 { v.sqrt() } else { 1.0 }
                    })
                    .collect();
                let score = |r: &Vec<f64>| -> f64 {
                    r.iter().zip(&spread).map(|(a, s)| a / s).sum::<f64>() / r.len() as f64
                };
                let mut best = 0;
                for (a, r) in rmsecv.iter().enumerate() {
                    if score(r) < score(&rmsecv[best]) {
                        best = a;
                    }
                }
                Some(CvReport {
                    folds,
                    rmsecv,
                    best_components: best + 1,
                })
            }
        };
        let rotations = model.x_rotations();
        let xc = model.centre(&x);
        let scores = &xc * &rotations;
        let n = x.nrows();
        let k = model.components();
        let score_variance: Vec<f64> = scores
            .column_iter()
            .map(|c| c.iter().map(|v| v * v).sum::<f64>() / (n as f64 - 1.0))
            .collect();
        let q_train: Vec<f64> = (0..n)
            .map(|i| {
                q_residual(
                    &xc.row(i).transpose(),
                    &scores.row(i).transpose(),
                    &model.x_loadings,
                )
            })
            .collect();
        let t2_limit = t2_limit(n, k, opts.confidence)?;
        let norm = xc.row_iter().map(|r| r.norm_squared()).sum::<f64>() / n as f64;
        let q_limit = q_limit(&q_train, norm, opts.confidence)?;
        let rmsec = pls::rmse(&model.predict(&x), &y);
        let coef = model.coefficients();
        let rows = |m: &DMatrix<f64>| -> Vec<Vec<f64>> {
            m.column_iter()
                .map(|c| c.iter().copied().collect())
                .collect()
        };
        let vec = |v: &DVector<f64>| v.iter().copied().collect::<Vec<f64>>();
        Ok(SoftSensor {
            format: FORMAT.to_string(),
            variables: spectra.columns.clone(),
            responses: reference.columns.clone(),
            preprocess: opts.preprocess.clone(),
            scale: opts.scale,
            samples: n,
            components: k,
            x_mean: vec(&model.x_mean),
            x_std: vec(&model.x_std),
            y_mean: vec(&model.y_mean),
            y_std: vec(&model.y_std),
            coefficients: rows(&coef),
            rotations: rows(&rotations),
            loadings: rows(&model.x_loadings),
            score_variance,
            confidence: opts.confidence,
            t2_limit,
            q_limit,
            rmsec,
            cv,
        })
    }

    /// Reads a saved sensor from JSON and checks that it is complete and consistent.
    pub fn from_json(file: &str, text: &str) -> Result<SoftSensor, PatError> {
        let s: SoftSensor = serde_json::from_str(text)
            .map_err(|e| PatError::Invalid(format!("{file}:{}:{}: {e}", e.line(), e.column())))?;
        s.check()
            .map_err(|m| PatError::Invalid(format!("{file}: {m}")))?;
        Ok(s)
    }

    fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "field `format`: `{}`, expected `{FORMAT}`",
                self.format
            ));
        }
        let p = self.variables.len();
        let m = self.responses.len();
        let k = self.components;
        if p == 0 || m == 0 || k == 0 {
            return Err("no variables, responses or components".into());
        }
        let lens: [(&str, usize, usize); 5] = [
            ("x_mean", self.x_mean.len(), p),
            ("x_std", self.x_std.len(), p),
            ("y_mean", self.y_mean.len(), m),
            ("y_std", self.y_std.len(), m),
            ("score_variance", self.score_variance.len(), k),
        ];
        for (name, got, want) in lens {
            if got != want {
                return Err(format!("field `{name}`: {got} values, expected {want}"));
            }
        }
        let mats: [(&str, &Vec<Vec<f64>>, usize); 3] = [
            ("coefficients", &self.coefficients, m),
            ("rotations", &self.rotations, k),
            ("loadings", &self.loadings, k),
        ];
        for (name, rows, want) in mats {
            if rows.len() != want {
                return Err(format!(
                    "field `{name}`: {} rows, expected {want}",
                    rows.len()
                ));
            }
            if let Some(i) = rows.iter().position(|r| r.len() != p) {
                return Err(format!("field `{name}[{i}]`: expected {p} values"));
            }
        }
        let all = self
            .x_mean
            .iter()
            .chain(&self.x_std)
            .chain(&self.y_mean)
            .chain(&self.y_std)
            .chain(&self.score_variance)
            .chain(self.coefficients.iter().flatten())
            .chain(self.rotations.iter().flatten())
            .chain(self.loadings.iter().flatten());
        if all.clone().any(|v| !v.is_finite()) {
            return Err("a model value is not finite".into());
        }
        if self.x_std.iter().any(|v| *v <= 0.0) || self.score_variance.iter().any(|v| *v <= 0.0) {
            return Err("a scale or score variance is not positive".into());
        }
        if !(self.t2_limit > 0.0
            && self.q_limit >= 0.0
            && self.t2_limit.is_finite()
            && self.q_limit.is_finite())
        {
            return Err("the T² and Q limits must be finite and positive".into());
        }
        for s in &self.preprocess {
            preprocess::check_step(s).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Estimates the responses of every spectrum, each with T², Q and its domain verdict.
    /// The spectra must have the calibration's variables, in the same order.
    pub fn predict(&self, spectra: &Table) -> Result<Vec<Prediction>, PatError> {
        if spectra.columns != self.variables {
            let first = spectra
                .columns
                .iter()
                .zip(&self.variables)
                .position(|(a, b)| a != b);
            let why = match first {
                Some(j) => format!(
                    "column {} is `{}` but the calibration's is `{}`",
                    j + 2,
                    spectra.columns[j],
                    self.variables[j]
                ),
                None => format!(
                    "{} spectral columns, the calibration has {}",
                    spectra.columns.len(),
                    self.variables.len()
                ),
            };
            return Err(PatError::Invalid(format!(
                "{}:1: the spectra do not match the calibration: {why}",
                spectra.file
            )));
        }
        let x = preprocess::apply(&self.preprocess, &spectra.values, &spectra.ids)?;
        let p = self.variables.len();
        let k = self.components;
        let from_rows = |rows: &Vec<Vec<f64>>| DMatrix::from_fn(p, rows.len(), |i, a| rows[a][i]);
        let b = from_rows(&self.coefficients);
        let r = from_rows(&self.rotations);
        let pl = from_rows(&self.loadings);
        let mut out = Vec::with_capacity(x.nrows());
        for i in 0..x.nrows() {
            let centred = DVector::from_fn(p, |j, _| x[(i, j)] - self.x_mean[j]);
            let values: Vec<f64> = (0..self.responses.len())
                .map(|j| self.y_mean[j] + centred.dot(&b.column(j)))
                .collect();
            let scaled = DVector::from_fn(p, |j, _| centred[j] / self.x_std[j]);
            let t = r.tr_mul(&scaled);
            let t2 = (0..k).map(|a| t[a] * t[a] / self.score_variance[a]).sum();
            let q = q_residual(&scaled, &t, &pl);
            let domain = match (t2 > self.t2_limit, q > self.q_limit) {
                (false, false) => Domain::Inside,
                (true, false) => Domain::OutsideT2,
                (false, true) => Domain::OutsideQ,
                (true, true) => Domain::OutsideBoth,
            };
            out.push(Prediction {
                values,
                t2,
                q,
                domain,
            });
        }
        Ok(out)
    }

    /// The predictions as a CSV table: id, responses, `hotelling_t2`, `q_residual`, `domain`.
    pub fn predictions_csv(&self, spectra: &Table, preds: &[Prediction]) -> String {
        use crate::table::push_field;
        let mut out = String::new();
        push_field(&mut out, &spectra.id_header);
        for r in &self.responses {
            out.push(',');
            push_field(&mut out, r);
        }
        out.push_str(",hotelling_t2,q_residual,domain\n");
        for (id, p) in spectra.ids.iter().zip(preds) {
            push_field(&mut out, id);
            for v in &p.values {
                out.push_str(&format!(",{v}"));
            }
            out.push_str(&format!(",{},{},{}\n", p.t2, p.q, p.domain.label()));
        }
        out
    }
}

/// Reference rows in the order of the spectra, matched by id.
fn match_rows(spectra: &Table, reference: &Table) -> Result<DMatrix<f64>, PatError> {
    let index: std::collections::HashMap<&str, usize> = reference
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut rows = Vec::with_capacity(spectra.ids.len());
    for (id, line) in spectra.ids.iter().zip(&spectra.lines) {
        match index.get(id.as_str()) {
            Some(i) => rows.push(*i),
            None => {
                return Err(PatError::Invalid(format!(
                    "{}:{line}: sample `{id}` has no row in {}",
                    spectra.file, reference.file
                )));
            }
        }
    }
    if reference.ids.len() != rows.len() {
        let known: std::collections::HashSet<&str> =
            spectra.ids.iter().map(String::as_str).collect();
        if let Some((id, line)) = reference
            .ids
            .iter()
            .zip(&reference.lines)
            .find(|(id, _)| !known.contains(id.as_str()))
        {
            return Err(PatError::Invalid(format!(
                "{}:{line}: sample `{id}` has no spectrum in {}",
                reference.file, spectra.file
            )));
        }
    }
    Ok(reference.values.select_rows(&rows))
}

fn q_residual(xc: &DVector<f64>, t: &DVector<f64>, loadings: &DMatrix<f64>) -> f64 {
    let r = xc - loadings * t;
    r.dot(&r)
}

/// Hotelling T² limit for a new observation with `k` components from `n` samples.
pub fn t2_limit(n: usize, k: usize, confidence: f64) -> Result<f64, PatError> {
    if n <= k {
        return Err(PatError::Invalid(format!(
            "{n} samples for {k} components: the T² limit needs more samples than components"
        )));
    }
    let (n, kf) = (n as f64, k as f64);
    let f = FisherSnedecor::new(kf, n - kf)
        .map_err(|e| PatError::Invalid(format!("T² limit: {e}")))?
        .inverse_cdf(confidence);
    Ok(kf * (n * n - 1.0) / (n * (n - kf)) * f)
}

/// Q limit from the calibration Q values (Box's g χ²(h) approximation); `norm` is the mean
/// squared norm of the centred calibration spectra, the scale against which Q is rounding noise.
pub fn q_limit(q: &[f64], norm: f64, confidence: f64) -> Result<f64, PatError> {
    let n = q.len() as f64;
    let m = q.iter().sum::<f64>() / n;
    let v = q.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / (n - 1.0);
    let largest = q.iter().copied().fold(0.0, f64::max);
    // No residual variation left (as many components as the spectra have dimensions): any
    // new residual beyond rounding is outside.
    let noise = 1e-20 * norm.max(f64::MIN_POSITIVE);
    if m <= noise || v <= 0.0 {
        return Ok(largest.max(noise));
    }
    let g = v / (2.0 * m);
    let h = 2.0 * m * m / v;
    let chi = ChiSquared::new(h)
        .map_err(|e| PatError::Invalid(format!("Q limit: {e}")))?
        .inverse_cdf(confidence);
    Ok(g * chi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n: usize, shift: f64, seed: u64) -> (Table, Table) {
        let mut s = seed.max(1);
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let p = 60;
        let band = |c: f64, w: f64, j: usize| (-((j as f64 - c) / w).powi(2)).exp();
        let mut x = DMatrix::zeros(n, p);
        let mut y = DMatrix::zeros(n, 2);
        for i in 0..n {
            let (a, b) = (1.0 + 4.0 * next() + shift, 0.5 + 2.0 * next());
            y[(i, 0)] = a;
            y[(i, 1)] = b;
            let base = 0.2 * next();
            for j in 0..p {
                x[(i, j)] =
                    a * band(15.0, 4.0, j) + b * band(40.0, 6.0, j) + base + 0.002 * (next() - 0.5);
            }
        }
        let ids: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let cols = (0..p).map(|j| format!("{}", 400 + 2 * j)).collect();
        (
            Table::new("x.csv", "id", cols, ids.clone(), x).expect("dims"),
            Table::new(
                "y.csv",
                "id",
                vec!["glucose".into(), "lactate".into()],
                ids,
                y,
            )
            .expect("dims"),
        )
    }

    fn opts() -> FitOptions {
        FitOptions {
            components: 4,
            preprocess: vec![Step::Savgol {
                window: 7,
                polyorder: 2,
                deriv: 1,
            }],
            scale: false,
            cv_folds: Some(5),
            confidence: 0.99,
        }
    }

    #[test]
    fn calibrates_predicts_and_flags_outliers() {
        let (x, y) = synthetic(60, 0.0, 7);
        let sensor = SoftSensor::fit(&x, &y, &opts()).expect("fits");
        let cv = sensor.cv.as_ref().expect("cv");
        assert_eq!(cv.rmsecv.len(), 4);
        // One component cannot carry two independent bands; two or more can.
        assert!(cv.rmsecv[1][0] < 0.2 * cv.rmsecv[0][0].max(cv.rmsecv[0][1]));
        assert!(cv.best_components >= 2);
        let (xt, yt) = synthetic(20, 0.0, 99);
        let preds = sensor.predict(&xt).expect("predicts");
        let err: f64 = preds
            .iter()
            .enumerate()
            .map(|(i, p)| (p.values[0] - yt.values[(i, 0)]).abs())
            .fold(0.0, f64::max);
        assert!(err < 0.05, "max glucose error {err}");
        let inside = preds.iter().filter(|p| !p.domain.is_outside()).count();
        assert!(inside >= 17, "{inside} of 20 inside");
        // Far beyond the calibration range: T² flags it.
        let (xf, _) = synthetic(5, 30.0, 3);
        let far = sensor.predict(&xf).expect("predicts");
        assert!(
            far.iter()
                .all(|p| matches!(p.domain, Domain::OutsideT2 | Domain::OutsideBoth))
        );
        // A foreign band: Q flags it.
        let mut xq = xt.clone();
        for j in 50..56 {
            xq.values[(0, j)] += 1.0;
        }
        let q = sensor.predict(&xq).expect("predicts");
        assert!(matches!(
            q[0].domain,
            Domain::OutsideQ | Domain::OutsideBoth
        ));
        let csv = sensor.predictions_csv(&xq, &q);
        assert!(csv.starts_with("id,glucose,lactate,hotelling_t2,q_residual,domain\n"));
        assert!(
            csv.lines()
                .nth(1)
                .is_some_and(|l| l.ends_with(",outside:Q") || l.ends_with(",outside:T2+Q"))
        );
    }

    #[test]
    fn json_round_trip_and_corrupt_models() {
        let (x, y) = synthetic(30, 0.0, 5);
        let sensor = SoftSensor::fit(&x, &y, &opts()).expect("fits");
        let text = serde_json::to_string_pretty(&sensor).expect("json");
        let again = SoftSensor::from_json("m.json", &text).expect("reads");
        assert_eq!(sensor, again);
        let p1 = sensor.predict(&x).expect("predicts");
        let p2 = again.predict(&x).expect("predicts");
        assert_eq!(p1, p2);
        let mut broken = sensor.clone();
        broken.coefficients[0].pop();
        let e = SoftSensor::from_json("m.json", &serde_json::to_string(&broken).expect("json"))
            .expect_err("broken");
        assert!(e.to_string().contains("coefficients[0]"), "{e}");
        let e = SoftSensor::from_json("m.json", "{\"format\": 3}").expect_err("broken");
        assert!(e.to_string().starts_with("m.json:1:"), "{e}");
        let mut other = x.clone();
        other.columns[3] = "999".into();
        let e = sensor.predict(&other).expect_err("columns");
        assert!(e.to_string().contains("column 5 is `999`"), "{e}");
    }

    #[test]
    fn ids_must_match_between_files() {
        let (x, mut y) = synthetic(10, 0.0, 5);
        y.ids[3] = "zz".into();
        let e = SoftSensor::fit(&x, &y, &opts()).expect_err("mismatch");
        assert_eq!(e.to_string(), "x.csv:5: sample `s3` has no row in y.csv");
        let (x, y) = synthetic(10, 0.0, 5);
        let x9 = Table::new(
            "x.csv",
            "id",
            x.columns.clone(),
            x.ids[..9].to_vec(),
            x.values.rows(0, 9).into_owned(),
        )
        .expect("dims");
        let e = SoftSensor::fit(&x9, &y, &opts()).expect_err("mismatch");
        assert!(e.to_string().contains("`s9` has no spectrum"), "{e}");
    }

    #[test]
    fn limits_follow_the_distributions() {
        // F(2, 18) 95 % quantile is 3.5546; K(n²−1)/(n(n−K)) = 2·399/360.
        let l = t2_limit(20, 2, 0.95).expect("limit");
        assert!((l - 2.0 * 399.0 / 360.0 * 3.554_557).abs() < 1e-4, "{l}");
        assert!(t2_limit(3, 3, 0.95).is_err());
        // Q values with mean 1 and variance 2: g = 1, h = 1, χ²₀.₉₅(1) = 3.8415.
        let q = [0.0, 0.0, 3.0, 1.0, 0.0];
        let m = 0.8;
        let v = (2.0 * 0.64 + 2.2f64.powi(2) + 0.04 + 0.64) / 4.0;
        let expect = v / (2.0 * m)
            * ChiSquared::new(2.0 * m * m / v)
                .expect("dist")
                .inverse_cdf(0.95);
        assert!((q_limit(&q, 10.0, 0.95).expect("limit") - expect).abs() < 1e-12);
    }
}
