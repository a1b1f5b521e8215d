//! Partial least squares regression, PLS1 (one response) and PLS2 (several), by NIPALS.
//!
//! The algorithm is, step for step, the one of scikit-learn's `PLSRegression` (mode A,
//! regression deflation, `max_iter = 500`, `tol = 1e-6`): centre X and Y (and, with `scale`,
//! divide each column by its sample standard deviation, a zero one taken as 1); for each
//! component, the first pair of singular vectors of XᵀY by the power method (starting from
//! the first Y column that is not zero, stopping when the squared change of the X weights is
//! below `tol`, after one pass for a single response), signs fixed so the largest X weight is
//! positive, X scores, X and Y loadings, deflation of X and Y by the X scores. Rotations
//! R = W (PᵀW)⁺ turn centred X into scores, and the coefficients are B = R Qᵀ (times the Y
//! standard deviations, over the X ones). So predictions agree with scikit-learn's to
//! rounding.

use nalgebra::{DMatrix, DVector};

use crate::PatError;

/// Iteration limit of the power method (scikit-learn's default).
pub const MAX_ITER: usize = 500;
/// Convergence tolerance on the squared change of the X weights (scikit-learn's default).
pub const TOL: f64 = 1e-6;

/// A fitted PLS model.
#[derive(Debug, Clone, PartialEq)]
pub struct Pls {
    /// Column means of the training X.
    pub x_mean: DVector<f64>,
    /// Column scales of X (ones without scaling).
    pub x_std: DVector<f64>,
    /// Column means of the training Y.
    pub y_mean: DVector<f64>,
    /// Column scales of Y (ones without scaling).
    pub y_std: DVector<f64>,
    /// X weights W (variables × components).
    pub x_weights: DMatrix<f64>,
    /// X loadings P (variables × components).
    pub x_loadings: DMatrix<f64>,
    /// Y loadings Q (responses × components).
    pub y_loadings: DMatrix<f64>,
    /// Power-method iterations per component.
    pub n_iter: Vec<usize>,
}

impl Pls {
    /// Number of components.
    pub fn components(&self) -> usize {
        self.x_weights.ncols()
    }

    /// The model restricted to its first `k` components (NIPALS components are sequential,
    /// so this is exactly the model a fit with `k` components gives).
    pub fn truncated(&self, k: usize) -> Pls {
        let k = k.clamp(1, self.components());
        Pls {
            x_mean: self.x_mean.clone(),
            x_std: self.x_std.clone(),
            y_mean: self.y_mean.clone(),
            y_std: self.y_std.clone(),
            x_weights: self.x_weights.columns(0, k).into_owned(),
            x_loadings: self.x_loadings.columns(0, k).into_owned(),
            y_loadings: self.y_loadings.columns(0, k).into_owned(),
            n_iter: self.n_iter[..k].to_vec(),
        }
    }

    /// Rotations R = W (PᵀW)⁺ (variables × components): scores of centred, scaled X.
    pub fn x_rotations(&self) -> DMatrix<f64> {
        let ptw = self.x_loadings.transpose() * &self.x_weights;
        // PᵀW is unit upper triangular for NIPALS, so the pseudo-inverse is its inverse.
        let inv = ptw
            .clone()
            .svd(true, true)
            .pseudo_inverse(f64::EPSILON * ptw.nrows() as f64)
            .unwrap_or_else(|_| DMatrix::identity(ptw.nrows(), ptw.ncols()));
        &self.x_weights * inv
    }

    /// Regression coefficients B (variables × responses) for centred (unscaled) X.
    pub fn coefficients(&self) -> DMatrix<f64> {
        let mut b = self.x_rotations() * self.y_loadings.transpose();
        for j in 0..b.ncols() {
            for i in 0..b.nrows() {
                b[(i, j)] = b[(i, j)] * self.y_std[j] / self.x_std[i];
            }
        }
        b
    }

    /// X centred (and scaled) like the training data.
    pub fn centre(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| {
            (x[(i, j)] - self.x_mean[j]) / self.x_std[j]
        })
    }

    /// Predicted responses (samples × responses).
    pub fn predict(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let b = self.coefficients();
        let mut y = DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - self.x_mean[j]) * b;
        for mut row in y.row_iter_mut() {
            row += self.y_mean.transpose();
        }
        y
    }
}

/// Fits `k` components to `x` (samples × variables) and `y` (samples × responses).
pub fn fit(x: &DMatrix<f64>, y: &DMatrix<f64>, k: usize, scale: bool) -> Result<Pls, PatError> {
    let (n, p) = x.shape();
    let m = y.ncols();
    let bad = |m: String| Err(PatError::Invalid(m));
    if y.nrows() != n {
        return bad(format!("{n} spectra but {} reference rows", y.nrows()));
    }
    if n < 2 {
        return bad(format!("{n} sample(s); a calibration needs at least 2"));
    }
    if p == 0 || m == 0 {
        return bad("no variables or no responses".into());
    }
    if k == 0 || k > p.min(n - 1) {
        return bad(format!(
            "{k} components requested; with {n} samples and {p} variables between 1 and {} are possible",
            p.min(n - 1)
        ));
    }
    if x.iter().chain(y.iter()).any(|v| !v.is_finite()) {
        return bad("the data contain a value that is not finite".into());
    }
    let (mut xk, x_mean, x_std) = centre_scale(x, scale);
    let (mut yk, y_mean, y_std) = centre_scale(y, scale);
    let eps = f64::EPSILON;
    let mut w_all = DMatrix::zeros(p, k);
    let mut p_all = DMatrix::zeros(p, k);
    let mut q_all = DMatrix::zeros(m, k);
    let mut n_iter = Vec::with_capacity(k);
    for comp in 0..k {
        // Responses that are numerically fully explained are set to zero.
        for j in 0..m {
            if yk.column(j).iter().all(|v| v.abs() < 10.0 * eps) {
                yk.column_mut(j).fill(0.0);
            }
        }
        let Some((mut w, mut c, iters)) = first_singular_vectors(&xk, &yk) else {
            return bad(format!(
                "the reference values are fully explained by {comp} component(s); use at most {comp}"
            ));
        };
        // Sign convention: the largest |weight| is positive.
        let mut big = 0;
        for i in 0..p {
            if w[i].abs() > w[big].abs() {
                big = i;
            }
        }
        let sign = if w[big] < 0.0 { -1.0 } else { 1.0 };
        w *= sign;
        c *= sign;
        let t = &xk * &w;
        let tt = t.dot(&t);
        if tt <= 0.0 || !tt.is_finite() {
            return bad(format!(
                "component {} has zero scores: the spectra carry no more variation",
                comp + 1
            ));
        }
        let pl = xk.tr_mul(&t) / tt;
        xk -= &t * pl.transpose();
        let ql = yk.tr_mul(&t) / tt;
        yk -= &t * ql.transpose();
        w_all.set_column(comp, &w);
        p_all.set_column(comp, &pl);
        q_all.set_column(comp, &ql);
        n_iter.push(iters);
    }
    Ok(Pls {
        x_mean,
        x_std,
        y_mean,
        y_std,
        x_weights: w_all,
        x_loadings: p_all,
        y_loadings: q_all,
        n_iter,
    })
}

/// Column means and (with `scale`) sample standard deviations, and the transformed matrix.
fn centre_scale(a: &DMatrix<f64>, scale: bool) -> (DMatrix<f64>, DVector<f64>, DVector<f64>) {
    let n = a.nrows() as f64;
    let mean = DVector::from_iterator(a.ncols(), a.column_iter().map(|c| c.sum() / n));
    let std = DVector::from_iterator(
        a.ncols(),
        a.column_iter().enumerate().map(|(j, c)| {
            if !scale {
                return 1.0;
            }
            let ss: f64 = c.iter().map(|v| (v - mean[j]) * (v - mean[j])).sum();
            let s = (ss / (n - 1.0)).sqrt();
            if s == 0.0 { 1.0 } else { s }
        }),
    );
    let out = DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| (a[(i, j)] - mean[j]) / std[j]);
    (out, mean, std)
}

/// The power method for the first left and right singular vectors of XᵀY, exactly as
/// scikit-learn runs it (including its `eps` guards), or `None` when Y is zero.
fn first_singular_vectors(
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
) -> Option<(DVector<f64>, DVector<f64>, usize)> {
    let eps = f64::EPSILON;
    let first = y
        .column_iter()
        .position(|c| c.iter().any(|v| v.abs() > eps))?;
    let mut y_score: DVector<f64> = y.column(first).into_owned();
    let mut w_old: Option<DVector<f64>> = None;
    let mut w = DVector::zeros(x.ncols());
    let mut c = DVector::zeros(y.ncols());
    let mut iters = 0;
    for i in 0..MAX_ITER {
        iters = i + 1;
        w = x.tr_mul(&y_score) / y_score.dot(&y_score);
        w /= w.dot(&w).sqrt() + eps;
        let x_score = x * &w;
        c = y.tr_mul(&x_score) / x_score.dot(&x_score);
        y_score = (y * &c) / (c.dot(&c) + eps);
        let converged = match &w_old {
            // scikit-learn starts from the scalar 100 (every entry of the difference is w − 100).
            None => w.iter().map(|v| (v - 100.0) * (v - 100.0)).sum::<f64>() < TOL,
            Some(old) => {
                let d = &w - old;
                d.dot(&d) < TOL
            }
        };
        if converged || y.ncols() == 1 {
            break;
        }
        w_old = Some(w.clone());
    }
    Some((w, c, iters))
}

/// Contiguous K-fold split of `n` samples, like scikit-learn's `KFold(folds)` without
/// shuffling: the first `n % folds` folds have one sample more.
pub fn kfold(n: usize, folds: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::with_capacity(folds);
    let mut start = 0;
    for f in 0..folds {
        let size = n / folds + usize::from(f < n % folds);
        out.push(start..start + size);
        start += size;
    }
    out
}

/// Cross-validated predictions for 1..=`k` components: `result[a-1]` holds, for every sample,
/// the prediction of the `a`-component model fitted without the sample's fold.
pub fn cross_val_predict(
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    k: usize,
    scale: bool,
    folds: usize,
) -> Result<Vec<DMatrix<f64>>, PatError> {
    let n = x.nrows();
    if folds < 2 || folds > n {
        return Err(PatError::Invalid(format!(
            "{folds} cross-validation folds for {n} samples; between 2 and {n} are possible"
        )));
    }
    let mut out = vec![DMatrix::zeros(n, y.ncols()); k];
    for (f, range) in kfold(n, folds).into_iter().enumerate() {
        let keep: Vec<usize> = (0..n).filter(|i| !range.contains(i)).collect();
        let xt = x.select_rows(&keep);
        let yt = y.select_rows(&keep);
        let model = fit(&xt, &yt, k, scale).map_err(|e| {
            PatError::Invalid(format!("cross-validation fold {} of {folds}: {e}", f + 1))
        })?;
        let xv = x.rows(range.start, range.len()).into_owned();
        for (a, pred) in out.iter_mut().enumerate() {
            let ya = model.truncated(a + 1).predict(&xv);
            pred.rows_mut(range.start, range.len()).copy_from(&ya);
        }
    }
    Ok(out)
}

/// Root mean square error per response column.
pub fn rmse(pred: &DMatrix<f64>, y: &DMatrix<f64>) -> Vec<f64> {
    (0..y.ncols())
        .map(|j| {
            let ss: f64 = (0..y.nrows())
                .map(|i| (pred[(i, j)] - y[(i, j)]).powi(2))
                .sum();
            (ss / y.nrows() as f64).sqrt()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic data set: y depends linearly on two latent factors.
    fn data(n: usize, p: usize, m: usize) -> (DMatrix<f64>, DMatrix<f64>) {
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let f = DMatrix::from_fn(n, 2, |_, _| next());
        let load = DMatrix::from_fn(2, p, |_, _| next());
        let x = &f * &load + DMatrix::from_fn(n, p, |_, _| 0.01 * next());
        let yl = DMatrix::from_fn(2, m, |_, _| next());
        let y = &f * &yl + DMatrix::from_fn(n, m, |_, _| 0.01 * next());
        (x, y)
    }

    #[test]
    fn full_rank_pls_equals_least_squares() {
        // With as many components as variables, PLS is ordinary least squares.
        let (x, y) = data(30, 4, 2);
        let model = fit(&x, &y, 4, false).expect("fits");
        let ones = DMatrix::from_element(30, 1, 1.0);
        let a = DMatrix::from_fn(
            30,
            5,
            |i, j| if j == 0 { ones[(i, 0)] } else { x[(i, j - 1)] },
        );
        let beta = a
            .clone()
            .svd(true, true)
            .solve(&y, 1e-14)
            .expect("least squares");
        let ols = &a * beta;
        let pls = model.predict(&x);
        assert!((ols - pls).abs().max() < 1e-9);
    }

    #[test]
    fn weights_are_orthonormal_and_scores_orthogonal() {
        let (x, y) = data(40, 12, 3);
        let model = fit(&x, &y, 3, true).expect("fits");
        let wtw = model.x_weights.transpose() * &model.x_weights;
        assert!((wtw - DMatrix::identity(3, 3)).abs().max() < 1e-8);
        let t = model.centre(&x) * model.x_rotations();
        let ttt = t.transpose() * &t;
        for a in 0..3 {
            for b in 0..3 {
                if a != b {
                    assert!(ttt[(a, b)].abs() < 1e-9 * ttt[(a, a)]);
                }
            }
        }
        // Two latent factors: two components explain almost everything, the residual is noise.
        let r = rmse(&model.truncated(2).predict(&x), &y);
        assert!(r.iter().all(|v| *v < 0.02), "{r:?}");
    }

    #[test]
    fn truncation_equals_a_smaller_fit() {
        let (x, y) = data(25, 8, 2);
        let big = fit(&x, &y, 4, false).expect("fits");
        let small = fit(&x, &y, 2, false).expect("fits");
        assert!(
            (big.truncated(2).predict(&x) - small.predict(&x))
                .abs()
                .max()
                < 1e-12
        );
    }

    #[test]
    fn bad_settings_are_rejected() {
        let (x, y) = data(5, 3, 1);
        assert!(fit(&x, &y, 0, false).is_err());
        assert!(fit(&x, &y, 4, false).is_err());
        let y_short = y.rows(0, 4).into_owned();
        assert!(fit(&x, &y_short, 1, false).is_err());
        let e = cross_val_predict(&x, &y, 1, false, 6).expect_err("too many folds");
        assert!(e.to_string().contains("between 2 and 5"), "{e}");
        // A response that the first component explains fully.
        let x1 = DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 2.0, 0.0, 3.0, 0.0]);
        let y1 = DMatrix::from_row_slice(3, 1, &[2.0, 4.0, 6.0]);
        let e = fit(&x1, &y1, 2, false).expect_err("explained");
        assert!(e.to_string().contains("at most 1"), "{e}");
    }

    #[test]
    fn kfold_matches_scikit_learn_sizes() {
        let f = kfold(10, 3);
        assert_eq!(f, vec![0..4, 4..7, 7..10]);
    }
}
