#!/usr/bin/env python3
"""Checks `atmpflow pat fit|predict` against scikit-learn's PLSRegression and SciPy.

For each case the same data go to atmpflow (as CSV files) and to the Python stack:
preprocessing with numpy (SNV, sample standard deviation) and scipy.signal.savgol_filter
(mode "interp", delta 1), then sklearn.cross_decomposition.PLSRegression. Compared, each as
max |ours - theirs| / max |theirs| per column (must be <= 1e-8):
  - predictions on a test set,
    (Q and its limit relative to at least 1e-12 of the calibration's mean squared norm),
  - Hotelling T^2 and Q residuals computed from scikit-learn's rotations, loadings and
    training scores,
  - the T^2 and Q limits against scipy.stats (F and chi-squared quantiles),
  - RMSECV against cross_val_predict with KFold (contiguous folds).
Data: scikit-learn's shipped data sets (linnerud, diabetes) and spectra generated here with
numpy's PCG64 generator from fixed seeds (Gaussian and Lorentzian bands, baseline, shift,
noise). Usage: pls_vs_sklearn.py ATMPFLOW_BINARY WORK_DIR
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy
import sklearn
from scipy.signal import savgol_filter
from scipy.stats import chi2, f as fdist
from sklearn.cross_decomposition import PLSRegression
from sklearn.datasets import load_diabetes, load_linnerud
from sklearn.model_selection import KFold, cross_val_predict

TOL = 1e-8


def write_csv(path, ids, header, values):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id"] + list(header))
        for i, row in zip(ids, values):
            w.writerow([i] + [repr(float(v)) for v in row])


def preprocess(x, steps):
    x = np.array(x, dtype=float)
    for step in steps:
        if step == "snv":
            x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, ddof=1, keepdims=True)
        elif step.startswith("savgol:"):
            w, p, d = (int(v) for v in step.split(":")[1:])
            x = savgol_filter(x, w, p, deriv=d, delta=1.0, axis=1, mode="interp")
        else:
            raise ValueError(step)
    return x


def rel(ours, theirs, floor=0.0):
    ours, theirs = np.atleast_2d(ours), np.atleast_2d(theirs)
    scale = np.maximum(np.abs(theirs).max(axis=0), floor)
    scale[scale == 0] = 1.0
    return float((np.abs(ours - theirs).max(axis=0) / scale).max())


def spectra(rng, n, p, shift_sd=0.3):
    """Synthetic spectra with three analytes and interferences; returns X, Y (n x 2)."""
    axis = np.arange(p, dtype=float)
    conc = np.column_stack([rng.uniform(0.5, 4.0, n), rng.uniform(0.2, 2.5, n), rng.uniform(0, 1, n)])
    centres, widths = (0.25 * p, 0.55 * p, 0.7 * p), (0.02 * p, 0.03 * p, 0.05 * p)
    x = np.zeros((n, p))
    for i in range(n):
        s = rng.normal(0.0, shift_sd)
        x[i] += conc[i, 0] * np.exp(-(((axis - centres[0] - s) / widths[0]) ** 2))
        x[i] += conc[i, 1] / (1 + ((axis - centres[1] - s) / widths[1]) ** 2)
        x[i] += conc[i, 2] * np.exp(-(((axis - centres[2] - s) / widths[2]) ** 2))
        x[i] += rng.uniform(0, 0.5) + rng.uniform(-1, 1) * 1e-3 * axis  # baseline offset and slope
        x[i] *= rng.uniform(0.9, 1.1)  # intensity (laser power, focus)
        x[i] += rng.normal(0, 0.01, p)
    return x, conc[:, :2]


def cases():
    lx, ly = load_linnerud(return_X_y=True)
    dx, dy = load_diabetes(return_X_y=True)
    dy = dy.reshape(-1, 1)
    yield "linnerud PLS2", lx[:15], ly[:15], lx[15:], 2, [], False, 5
    yield "linnerud PLS2 scaled", lx[:15], ly[:15], lx[15:], 3, [], True, 3
    yield "linnerud PLS1 (pulse)", lx[:15], ly[:15, 2:3], lx[15:], 2, [], False, None
    yield "diabetes PLS1", dx[:350], dy[:350], dx[350:], 4, [], False, 10
    yield "diabetes PLS1 scaled", dx[:350], dy[:350], dx[350:], 6, [], True, 7
    for seed, steps, k, scale in [
        (20261203, ["snv", "savgol:15:2:1"], 5, False),
        (7, ["savgol:11:3:0"], 4, False),
        (11, ["savgol:9:2:2", "snv"], 6, True),
        (12345, [], 3, False),
    ]:
        rng = np.random.default_rng(seed)
        x, y = spectra(rng, 90, 240)
        yield f"spectra seed {seed} PLS2 {','.join(steps) or 'raw'}", x[:70], y, x[70:], k, steps, scale, 5
        yield f"spectra seed {seed} PLS1 {','.join(steps) or 'raw'}", x[:70], y[:70, :1], x[70:], k, steps, scale, None


def main():
    binary, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    print(f"scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, numpy {np.__version__}")
    worst = 0.0
    failures = []
    for n, (name, xtr, ytr, xte, k, steps, scale, folds) in enumerate(cases()):
        ytr = ytr[: len(xtr)]
        d = work / f"case{n}"
        d.mkdir(exist_ok=True)
        cols = [f"v{j}" for j in range(xtr.shape[1])]
        ids = [f"s{i}" for i in range(len(xtr))]
        write_csv(d / "x.csv", ids, cols, xtr)
        write_csv(d / "y.csv", ids, [f"y{j}" for j in range(ytr.shape[1])], ytr)
        write_csv(d / "test.csv", [f"t{i}" for i in range(len(xte))], cols, xte)
        cmd = [binary, "pat", "fit", "--spectra", d / "x.csv", "--reference", d / "y.csv",
               "--components", str(k), "--preprocess", ",".join(steps), "--confidence", "0.95",
               "--out", d / "model.json"]
        if scale:
            cmd.append("--scale")
        if folds:
            cmd += ["--cv", str(folds)]
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
        subprocess.run([str(c) for c in [binary, "pat", "predict", d / "model.json", "--spectra",
                        d / "test.csv", "--out", d / "pred.csv"]], check=True, capture_output=True)
        model = json.loads((d / "model.json").read_text())
        with open(d / "pred.csv") as fh:
            rows = list(csv.reader(fh))
        m = ytr.shape[1]
        ours = np.array([[float(v) for v in r[1:1 + m]] for r in rows[1:]])
        ours_t2 = np.array([float(r[1 + m]) for r in rows[1:]])
        ours_q = np.array([float(r[2 + m]) for r in rows[1:]])

        ptr, pte = preprocess(xtr, steps), preprocess(xte, steps)
        pls = PLSRegression(n_components=k, scale=scale).fit(ptr, ytr)
        theirs = pls.predict(pte).reshape(len(xte), -1)
        t_train = pls.x_scores_
        var = (t_train ** 2).sum(axis=0) / (len(xtr) - 1)
        t_test = pls.transform(pte)
        t2 = ((t_test ** 2) / var).sum(axis=1)
        xc = (pte - pls._x_mean) / pls._x_std
        q = ((xc - t_test @ pls.x_loadings_.T) ** 2).sum(axis=1)
        xc_tr = (ptr - pls._x_mean) / pls._x_std
        q_tr = ((xc_tr - t_train @ pls.x_loadings_.T) ** 2).sum(axis=1)
        ntr = len(xtr)
        t2_lim = k * (ntr ** 2 - 1) / (ntr * (ntr - k)) * fdist.ppf(0.95, k, ntr - k)
        mq, vq = q_tr.mean(), q_tr.var(ddof=1)
        q_lim = vq / (2 * mq) * chi2.ppf(0.95, 2 * mq * mq / vq)

        # Q is a part of a spectrum's squared norm: with as many components as variables it is
        # rounding noise, so it is compared relative to at least 1e-12 of the mean squared norm.
        q_floor = 1e-12 * (xc_tr ** 2).sum(axis=1).mean()
        errs = {
            "predictions": rel(ours, theirs),
            "T2": rel(ours_t2, t2),
            "Q": rel(ours_q, q, q_floor),
            "T2 limit": rel(model["t2_limit"], t2_lim),
        }
        if k < xtr.shape[1]:  # with K = p there is no residual space and no Q limit to compare
            errs["Q limit"] = rel(model["q_limit"], q_lim, q_floor)
        if folds:
            cv_ours = np.array(model["cv"]["rmsecv"])
            cv_theirs = np.array([
                np.sqrt(((cross_val_predict(PLSRegression(n_components=a, scale=scale), ptr, ytr,
                                            cv=KFold(folds)).reshape(ntr, -1) - ytr) ** 2).mean(axis=0))
                for a in range(1, k + 1)
            ])
            errs["RMSECV"] = rel(cv_ours, cv_theirs)
        case_worst = max(errs.values())
        worst = max(worst, case_worst)
        flagged = sum(r[-1] != "inside" for r in rows[1:])
        detail = ", ".join(f"{key} {v:.1e}" for key, v in errs.items())
        print(f"{'ok  ' if case_worst <= TOL else 'FAIL'} {name}: n={ntr} p={xtr.shape[1]} K={k}: {detail}; "
              f"{flagged}/{len(xte)} flagged")
        if case_worst > TOL:
            failures.append(name)
    print(f"largest relative difference {worst:.2e} (tolerance {TOL:g})")
    if failures:
        print("disagree: " + "; ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
