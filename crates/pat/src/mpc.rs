//! Model-predictive control of perfusion on the expansion model ([`crate::expansion`]).
//!
//! At every control time the controller chooses the perfusion rates u₀…u_{N−1} (reactor
//! volumes per day, constant over each step of `step_days`) of the next N steps that
//!
//! minimise  Σₖ uₖ·Δt  +  w · Σₖ (sₖ + rₖ)  +  ρ · Σₖ (uₖ − uₖ₋₁)²
//!
//! subject to  Gₖ ≥ G_min − sₖ,  Lₖ ≤ L_max + rₖ,  sₖ, rₖ ≥ 0,  0 ≤ uₖ ≤ u_max,
//!
//! where Gₖ, Lₖ are glucose and lactate predicted by the model at the start of step k
//! (k = 0…N−1; the state at k = 0 is the measurement, so its slack is a constant), u₋₁ is the
//! rate applied last, the first sum is the medium used and the slacks make the limits soft with
//! the exact (linear) penalty w. This is the formulation do-mpc builds from `lterm`,
//! `rterm` and soft `set_nl_cons` constraints, so both solve the same problem.
//!
//! Solution method (a trust-region sequential quadratic programme, single shooting): the
//! states are predicted by integrating the model ([`expansion::step`], adaptive
//! Dormand–Prince) under the current rates; their sensitivities to each rate are taken by
//! forward differences of those integrations; the constraints linearised around the
//! prediction, the exact cost and a proximal term form a convex QP in the rate changes,
//! solved by the interior-point solver `clarabel`; a step is accepted when the true
//! (re-integrated) objective falls by at least a tenth of what the QP promised, and the trust
//! region grows or shrinks with that ratio. Iterations stop when the rates change by less than
//! 1e-7 volumes/day or after `max_iterations`; the best rates found are always returned.
//!
//! Harvest: the predicted harvest day is the first day the predicted viable cells reach the
//! dose plus its safety margin ([`Settings::harvest_target`]), continuing past the horizon with the largest planned rate.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettings, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, SupportedConeT,
};
use serde::{Deserialize, Serialize};

use crate::expansion::{self, Params, State};
use crate::{Bound, PatError, check_finite};

/// Settings of the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Control interval (days).
    pub step_days: f64,
    /// Prediction horizon (steps).
    pub horizon: usize,
    /// Glucose target: keep glucose at or above (mM).
    pub glucose_min: f64,
    /// Lactate limit: keep lactate at or below (mM).
    pub lactate_max: f64,
    /// Largest perfusion rate (volumes/day).
    pub perfusion_max: f64,
    /// Penalty per mM of violation per step (volumes of medium).
    pub penalty: f64,
    /// Weight of squared rate changes (volumes per (volumes/day)²).
    pub smoothing: f64,
    /// Largest number of SQP iterations per control step.
    pub max_iterations: usize,
    /// Harvest dose (10⁶ viable cells in the reactor).
    pub dose: f64,
    /// Safety margin over the dose (10⁶ viable cells): the harvest rule and the harvest
    /// prediction aim at `dose + dose_margin`, so that an estimate that errs high does not
    /// harvest a culture below the dose. [`crate::control::compare`] derives it from the soft
    /// sensor's cross-validated error ([`crate::control::DoseMargin`]).
    #[serde(default)]
    pub dose_margin: f64,
    /// Last day of the culture (harvest predictions look no further).
    pub days_max: f64,
}

impl Default for Settings {
    /// Glucose target 2 g/L = 11.1 mM: Garcia-Aponte et al., J Biol Eng 15:13 (2021), Table 2.
    /// Assumptions: control every 6 h over a 2-day horizon; lactate limit 20 mM; at most
    /// 2 volumes/day (twice the top rate of the cited schedule); a violation of 1 mM for one
    /// step costs as much as one volume of medium (about 14 × what feeding it away costs);
    /// smoothing 0.01; harvest at 5 × 10⁹ viable cells, at the latest on day 12 (the upper end
    /// of the 7–12-day expansion, domain.md §8).
    fn default() -> Self {
        Settings {
            step_days: 0.25,
            horizon: 8,
            glucose_min: 2.0 * expansion::GLUCOSE_MM_PER_G_L,
            lactate_max: 20.0,
            perfusion_max: 2.0,
            penalty: 1.0,
            smoothing: 0.01,
            max_iterations: 30,
            dose: 5000.0,
            dose_margin: 0.0,
            days_max: 12.0,
        }
    }
}

impl Settings {
    /// The viable cells the harvest rule aims at: the dose plus the safety margin (10⁶).
    pub fn harvest_target(&self) -> f64 {
        self.dose + self.dose_margin
    }

    /// Checks every setting; the message names the one that is wrong.
    pub fn check(&self) -> Result<(), PatError> {
        let bad = |m: String| Err(PatError::Invalid(format!("controller setting {m}")));
        let positive = [
            ("step_days", self.step_days),
            ("glucose_min", self.glucose_min),
            ("lactate_max", self.lactate_max),
            ("perfusion_max", self.perfusion_max),
            ("penalty", self.penalty),
            ("dose", self.dose),
            ("days_max", self.days_max),
        ];
        if let Err(m) = check_finite(&positive, Bound::Positive) {
            return bad(m);
        }
        let non_negative = [
            ("dose_margin", self.dose_margin),
            ("smoothing", self.smoothing),
        ];
        if let Err(m) = check_finite(&non_negative, Bound::NonNegative) {
            return bad(m);
        }
        if !(1..=200).contains(&self.horizon) {
            return bad(format!("`horizon` = {}: 1 to 200 steps", self.horizon));
        }
        if !(1..=1000).contains(&self.max_iterations) {
            return bad(format!(
                "`max_iterations` = {}: 1 to 1000",
                self.max_iterations
            ));
        }
        if self.step_days * self.horizon as f64 > 60.0 {
            return bad(format!(
                "horizon {} × {} d: at most 60 days",
                self.horizon, self.step_days
            ));
        }
        Ok(())
    }
}

/// The controller's decision at one control time.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Planned rates u₀…u_{N−1} (volumes/day); u₀ is applied.
    pub perfusion: Vec<f64>,
    /// Predicted states at the start of each step and at the end of the horizon (N + 1).
    pub predicted: Vec<State>,
    /// Objective value of the plan (nonlinear model).
    pub objective: f64,
    /// SQP iterations used.
    pub iterations: usize,
    /// Predicted first day the viable cells reach the dose (`None`: not within `days_max`).
    pub harvest_day: Option<f64>,
}

/// Predicted states x₀…x_N under the rates `u` from state `x0` at day `t0`.
pub fn predict(
    p: &Params,
    s: &Settings,
    t0: f64,
    x0: &State,
    u: &[f64],
) -> Result<Vec<State>, PatError> {
    let mut xs = Vec::with_capacity(u.len() + 1);
    xs.push(*x0);
    let mut x = *x0;
    for (k, &uk) in u.iter().enumerate() {
        x = expansion::step(p, t0 + k as f64 * s.step_days, &x, uk, s.step_days)?;
        xs.push(x);
    }
    Ok(xs)
}

/// Glucose shortfall and lactate excess of a state (mM, ≥ 0).
fn violation(s: &Settings, x: &State) -> (f64, f64) {
    (
        (s.glucose_min - x[2]).max(0.0),
        (x[3] - s.lactate_max).max(0.0),
    )
}

/// The objective of the module text for rates `u` and their predicted states.
fn objective(s: &Settings, u_prev: f64, u: &[f64], xs: &[State]) -> f64 {
    let mut j = 0.0;
    let mut last = u_prev;
    for (k, &uk) in u.iter().enumerate() {
        let (sg, rl) = violation(s, &xs[k]);
        j += uk * s.step_days + s.penalty * (sg + rl) + s.smoothing * (uk - last).powi(2);
        last = uk;
    }
    j
}

/// Solves the control problem at day `t0` from the state `x0`; `u_prev` is the rate applied
/// last and `warm` an initial guess of the rates (e.g. the previous plan shifted by one step).
pub fn solve(
    p: &Params,
    s: &Settings,
    t0: f64,
    x0: &State,
    u_prev: f64,
    warm: Option<&[f64]>,
) -> Result<Plan, PatError> {
    s.check()?;
    if x0.iter().any(|v| !v.is_finite()) || !t0.is_finite() || !u_prev.is_finite() {
        return Err(PatError::Invalid(format!(
            "controller: state {:?} at day {t0}, previous rate {u_prev}: all must be finite",
            x0.as_slice()
        )));
    }
    let n = s.horizon;
    let mut u: Vec<f64> = match warm {
        Some(w) if w.len() == n => w.iter().map(|v| v.clamp(0.0, s.perfusion_max)).collect(),
        _ => vec![u_prev.clamp(0.0, s.perfusion_max); n],
    };
    let mut xs = predict(p, s, t0, x0, &u)?;
    let mut j = objective(s, u_prev, &u, &xs);
    let mut radius = s.perfusion_max;
    let mut iterations = 0;
    while iterations < s.max_iterations {
        iterations += 1;
        let sens = sensitivities(p, s, t0, &u, &xs)?;
        let (du, predicted_drop) = qp_step(s, u_prev, &u, &xs, &sens, radius)?;
        let step_size = du.iter().fold(0.0f64, |m, d| m.max(d.abs()));
        if step_size < 1e-7 || predicted_drop <= 1e-10 * (1.0 + j.abs()) {
            break;
        }
        let trial: Vec<f64> = u
            .iter()
            .zip(&du)
            .map(|(a, d)| (a + d).clamp(0.0, s.perfusion_max))
            .collect();
        let trial_xs = predict(p, s, t0, x0, &trial)?;
        let trial_j = objective(s, u_prev, &trial, &trial_xs);
        let ratio = (j - trial_j) / predicted_drop;
        if ratio >= 0.1 {
            u = trial;
            xs = trial_xs;
            j = trial_j;
            if ratio > 0.75 {
                radius = (2.0 * radius).min(s.perfusion_max);
            }
        } else {
            radius = step_size / 4.0;
            if radius < 1e-7 {
                break;
            }
        }
    }
    let harvest_day = predict_harvest(p, s, t0, x0, &u)?;
    Ok(Plan {
        perfusion: u,
        predicted: xs,
        objective: j,
        iterations,
        harvest_day,
    })
}

/// ∂x_k/∂u_j for k = 1…N−1, j < k (glucose and lactate rows), by forward differences.
struct Sensitivity {
    glucose: Vec<Vec<f64>>,
    lactate: Vec<Vec<f64>>,
}

fn sensitivities(
    p: &Params,
    s: &Settings,
    t0: f64,
    u: &[f64],
    xs: &[State],
) -> Result<Sensitivity, PatError> {
    let n = u.len();
    let mut glucose = vec![vec![0.0; n]; n];
    let mut lactate = vec![vec![0.0; n]; n];
    for j in 0..n.saturating_sub(1) {
        let h = 1e-6 * (1.0 + u[j]);
        let mut x = expansion::step(
            p,
            t0 + j as f64 * s.step_days,
            &xs[j],
            u[j] + h,
            s.step_days,
        )?;
        for k in (j + 1)..n {
            glucose[k][j] = (x[2] - xs[k][2]) / h;
            lactate[k][j] = (x[3] - xs[k][3]) / h;
            if k + 1 < n {
                x = expansion::step(p, t0 + k as f64 * s.step_days, &x, u[k], s.step_days)?;
            }
        }
    }
    Ok(Sensitivity { glucose, lactate })
}

/// One QP of the SQP: the rate changes δu within the trust region `radius`, and the drop of
/// the objective the linearised model predicts for them.
fn qp_step(
    s: &Settings,
    u_prev: f64,
    u: &[f64],
    xs: &[State],
    sens: &Sensitivity,
    radius: f64,
) -> Result<(Vec<f64>, f64), PatError> {
    let n = u.len();
    let m = n - 1; // constrained points k = 1…N−1
    let nv = n + 2 * m; // δu, glucose slacks, lactate slacks
    // Proximal weight: keeps the QP strictly convex in δu without steering the solution.
    let prox = 1e-6;
    let mut pm = vec![vec![0.0; nv]; nv];
    let mut q = vec![0.0; nv];
    // smoothing: ρ‖D(u + δu) − c‖², D lower bidiagonal (1, −1), c = (u_prev, 0, …)
    let mut diff = vec![0.0; n];
    for k in 0..n {
        diff[k] = u[k] - if k == 0 { u_prev } else { u[k - 1] };
    }
    for k in 0..n {
        // DᵀD: 2 on the diagonal except the last (1), −1 off the diagonal
        pm[k][k] += 2.0 * s.smoothing * if k + 1 < n { 2.0 } else { 1.0 } + prox;
        if k + 1 < n {
            pm[k][k + 1] -= 2.0 * s.smoothing;
        }
        let dtd = diff[k] - if k + 1 < n { diff[k + 1] } else { 0.0 };
        q[k] = s.step_days + 2.0 * s.smoothing * dtd;
    }
    for v in q.iter_mut().skip(n) {
        *v = s.penalty;
    }
    // constraints A z ≤ b
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut b = Vec::new();
    for k in 1..n {
        let mut row = vec![0.0; nv];
        for (r, g) in row.iter_mut().zip(&sens.glucose[k][..k]) {
            *r = -g;
        }
        row[n + k - 1] = -1.0;
        rows.push(row);
        b.push(xs[k][2] - s.glucose_min);
        let mut row = vec![0.0; nv];
        row[..k].copy_from_slice(&sens.lactate[k][..k]);
        row[n + m + k - 1] = -1.0;
        rows.push(row);
        b.push(s.lactate_max - xs[k][3]);
    }
    for i in n..nv {
        let mut row = vec![0.0; nv];
        row[i] = -1.0;
        rows.push(row);
        b.push(0.0);
    }
    for j in 0..n {
        let mut row = vec![0.0; nv];
        row[j] = 1.0;
        rows.push(row);
        b.push((s.perfusion_max - u[j]).min(radius).max(0.0));
        let mut row = vec![0.0; nv];
        row[j] = -1.0;
        rows.push(row);
        b.push(u[j].min(radius).max(0.0));
    }
    let pc = CscMatrix::from(&pm);
    let ac = CscMatrix::from(&rows);
    let cones: [SupportedConeT<f64>; 1] = [NonnegativeConeT(rows.len())];
    let settings = DefaultSettings {
        verbose: false,
        ..DefaultSettings::default()
    };
    let mut solver = DefaultSolver::new(&pc, &q, &ac, &b, &cones, settings)
        .map_err(|e| PatError::Invalid(format!("controller QP: {e}")))?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => {}
        other => {
            return Err(PatError::Invalid(format!(
                "controller QP not solved: {other:?}"
            )));
        }
    }
    let z = &solver.solution.x;
    let du: Vec<f64> = z[..n].to_vec();
    // predicted objective with the linearised states (slacks at their smallest)
    let linear = |d: &[f64]| {
        let mut j = 0.0;
        let mut last = u_prev;
        for k in 0..n {
            let uk = u[k] + d[k];
            let (mut g, mut l) = (xs[k][2], xs[k][3]);
            for (jj, dj) in d.iter().enumerate().take(k) {
                g += sens.glucose[k][jj] * dj;
                l += sens.lactate[k][jj] * dj;
            }
            j += uk * s.step_days
                + s.penalty * ((s.glucose_min - g).max(0.0) + (l - s.lactate_max).max(0.0))
                + s.smoothing * (uk - last).powi(2);
            last = uk;
        }
        j
    };
    let drop = linear(&vec![0.0; n]) - linear(&du);
    Ok((du, drop))
}

/// First day the viable cells reach the dose under the plan, continuing with the plan's
/// largest rate after the horizon, up to `days_max`.
fn predict_harvest(
    p: &Params,
    s: &Settings,
    t0: f64,
    x0: &State,
    u: &[f64],
) -> Result<Option<f64>, PatError> {
    let (dose, days_max) = (s.harvest_target(), s.days_max);
    let total = |x: &State| x[0] * p.volume_ml;
    if total(x0) >= dose {
        return Ok(Some(t0));
    }
    let hold = u.iter().copied().fold(0.0, f64::max);
    let mut t = t0;
    let mut x = *x0;
    let mut k = 0;
    while t < days_max - 1e-12 {
        let uk = u.get(k).copied().unwrap_or(hold);
        let dt = s.step_days.min(days_max - t);
        let next = expansion::step(p, t, &x, uk, dt)?;
        if total(&next) >= dose {
            let f = (dose - total(&x)) / (total(&next) - total(&x));
            return Ok(Some(t + f * dt));
        }
        x = next;
        t += dt;
        k += 1;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expansion::Initial;

    fn grown() -> (Params, State) {
        // The default culture after 3 days without perfusion: 2.7 × 10⁶/mL, glucose 12 mM.
        let p = Params::default();
        let x = expansion::step(&p, 0.0, &Initial::default().state(), 0.0, 3.0).expect("runs");
        (p, x)
    }

    /// The plan with settings `s` for the grown culture on day 3, with no perfusion until then
    /// and no earlier plan to start from.
    fn solve_grown(s: &Settings) -> Result<Plan, PatError> {
        let (p, x) = grown();
        solve(&p, s, 3.0, &x, 0.0, None)
    }

    #[test]
    fn plan_keeps_glucose_and_lactate_where_feasible_with_little_medium() {
        let (p, x) = grown();
        let s = Settings {
            lactate_max: 40.0,
            ..Settings::default()
        };
        let plan = solve(&p, &s, 3.0, &x, 0.0, None).expect("solves");
        assert_eq!(plan.perfusion.len(), 8);
        assert!(plan.perfusion.iter().all(|u| (0.0..=2.0).contains(u)));
        // the predicted states keep the target (to the solver's tolerance)
        for xk in &plan.predicted[1..8] {
            assert!(xk[2] >= s.glucose_min - 1e-3, "glucose {}", xk[2]);
        }
        // it feeds: without perfusion glucose would fall below the target
        let starved = predict(&p, &s, 3.0, &x, &[0.0; 8]).expect("runs");
        assert!(starved[7][2] < s.glucose_min);
        // and no rate can be lowered uniformly without breaking the target: the plan is tight
        let leaner: Vec<f64> = plan.perfusion.iter().map(|u| 0.9 * u).collect();
        let xs = predict(&p, &s, 3.0, &x, &leaner).expect("runs");
        assert!(
            xs[1..8].iter().any(|xk| xk[2] < s.glucose_min - 1e-3),
            "a 10 % leaner plan also holds the target: {:?}",
            plan.perfusion
        );
        // the plan's objective is no worse than that of a constant rate that holds the target
        let constant = vec![1.0; 8];
        let xc = predict(&p, &s, 3.0, &x, &constant).expect("runs");
        assert!(plan.objective <= objective(&s, 0.0, &constant, &xc) + 1e-9);
        let h = plan.harvest_day.expect("reaches the dose");
        assert!(h > 3.0 && h < 12.0, "harvest {h}");
    }

    #[test]
    fn infeasible_limits_are_softened_not_refused() {
        // a lactate limit below the current lactate cannot be met at once
        let s = Settings {
            lactate_max: 5.0,
            ..Settings::default()
        };
        let plan = solve_grown(&s).expect("solves");
        // it dilutes as fast as it may
        assert!(plan.perfusion[0] > 1.9, "{:?}", plan.perfusion);
    }

    #[test]
    fn bad_settings_and_states_are_errors() {
        let s = Settings {
            horizon: 0,
            ..Settings::default()
        };
        let e = solve_grown(&s).expect_err("refused");
        assert!(e.to_string().contains("horizon"), "{e}");
        let s = Settings {
            perfusion_max: f64::NAN,
            ..Settings::default()
        };
        assert!(solve_grown(&s).is_err());
        let (p, x) = grown();
        let mut bad = x;
        bad[2] = f64::INFINITY;
        assert!(solve(&p, &Settings::default(), 3.0, &bad, 0.0, None).is_err());
    }
}
