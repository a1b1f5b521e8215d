//! A model of T-cell expansion in a perfused bioreactor (constant working volume, cells
//! retained): viable and dead cells, glucose and lactate, with a lag phase, glucose limitation,
//! lactate inhibition and a density limit; perfusion (volumes of fresh medium per day) is the
//! input. Integrated with the adaptive Dormand–Prince 5(4) method of `ode_solvers`.
//!
//! Units: time in days, cells in 10⁶ cells/mL, glucose and lactate in mmol/L, perfusion in
//! reactor volumes per day.
//!
//! Equations (D perfusion rate, μ growth rate, k_d death rate):
//! - dXv/dt = (μ − k_d) Xv,  dXd/dt = k_d Xv − k_lysis Xd
//! - dG/dt = −U + D (G_in − G),  dL/dt = Y_LG U − D L, with the glucose uptake
//!   U = q_G Xv ((1 − m) μ/μ_max + m G/(K_G + G)) (Pirt: growth share plus maintenance m)
//! - μ = μ_max · f_lag(t) · G/(K_G + G) · K_L/(K_L + L) · (1 − Xv/X_max)
//! - k_d = k_d0 + k_ds · K_G/(K_G + G)   (death rises when glucose runs out)
//! - f_lag = `lag_factor` before `lag_days`, 1 after.
//!
//! Every parameter's source is in [`Params::reference`]; those marked `assumption` are not
//! from a cited source and say why the value was chosen.

use ode_solvers::{Dopri5, OutputType, SVector, System};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use crate::{Bound, PatError, check_finite};

/// Model state: viable cells, dead cells, glucose, lactate, cumulative medium (volumes).
pub type State = SVector<f64, 5>;

/// Glucose: 1 g/L = 5.55 mmol/L (molar mass 180.16 g/mol).
pub const GLUCOSE_MM_PER_G_L: f64 = 1000.0 / 180.16;

/// Kinetic and process parameters of one culture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Maximum specific growth rate (1/day).
    pub mu_max: f64,
    /// Duration of the lag phase after seeding (days).
    pub lag_days: f64,
    /// Growth-rate factor during the lag phase.
    pub lag_factor: f64,
    /// Specific glucose uptake at full growth (mmol per 10⁶ cells per day).
    pub q_glucose: f64,
    /// Share of that uptake spent on maintenance, which goes on without growth.
    pub maintenance: f64,
    /// Lactate produced per glucose consumed (mol/mol).
    pub yield_lactate: f64,
    /// Glucose half-saturation constant (mM).
    pub k_glucose: f64,
    /// Lactate inhibition constant (mM).
    pub k_lactate: f64,
    /// Density limit (10⁶ cells/mL).
    pub x_max: f64,
    /// Basal death rate (1/day).
    pub death_basal: f64,
    /// Additional death rate without glucose (1/day).
    pub death_starving: f64,
    /// Lysis rate of dead cells (1/day).
    pub lysis: f64,
    /// Glucose in fresh medium (mM).
    pub glucose_feed: f64,
    /// Working volume (mL).
    pub volume_ml: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            mu_max: 0.046 * 24.0,
            lag_days: 22.0 / 24.0,
            lag_factor: 0.2,
            // 0.28 pmol/cell/h × 10⁶ cells/mL = 0.28 mmol/L/h, × 24 h.
            q_glucose: 0.28 * 24.0,
            maintenance: 0.2,
            yield_lactate: 1.8,
            k_glucose: 0.5,
            k_lactate: 40.0,
            x_max: 20.0,
            death_basal: 0.02,
            death_starving: 0.5,
            lysis: 0.05,
            glucose_feed: 25.0,
            volume_ml: 1000.0,
        }
    }
}

impl Params {
    /// Where each default comes from.
    pub fn reference() -> &'static [(&'static str, &'static str)] {
        &[
            (
                "mu_max",
                "0.046 h⁻¹, 800 mL reactor, days 0–4 (range 0.029–0.053 h⁻¹): J Biol Eng 2019, doi 10.1186/s13036-019-0167-2, Table 1",
            ),
            (
                "lag_days, lag_factor",
                "growth at ~1/5 rate for 20–24 h (22 h taken): Duran-Villalobos et al., ambr15 T-cell model",
            ),
            (
                "q_glucose",
                "0.28 pmol/cell/h: Duran-Villalobos et al.; taken as the uptake at full growth",
            ),
            (
                "maintenance",
                "assumption: 20 % of that uptake is maintenance (Pirt's model: uptake = growth / yield + maintenance), so uptake falls when growth is limited",
            ),
            (
                "yield_lactate",
                "assumption: 1.8 mol lactate per mol glucose, activated T cells being largely glycolytic (theoretical maximum 2)",
            ),
            (
                "k_glucose",
                "assumption: 0.5 mM, uptake near its maximum at the ≥ 11 mM (2 g/L) kept in culture",
            ),
            (
                "k_lactate",
                "assumption: 40 mM, growth halved at a lactate level well above the usual control limit of 20 mM",
            ),
            (
                "x_max",
                "assumption: 20 × 10⁶/mL, above the top band (15 × 10⁶/mL) of the perfusion schedule of Garcia-Aponte et al. 2021 and the ~10 × 10⁶/mL reached in rocking bags (BioProcess Int. application note)",
            ),
            (
                "death_basal",
                "assumption: 0.02 d⁻¹, giving ~94 % viability while glucose lasts, as at the peak reported in J Biol Eng 2019, Table 1",
            ),
            (
                "death_starving",
                "assumption: 0.5 d⁻¹ added when glucose is exhausted",
            ),
            ("lysis", "assumption: 0.05 d⁻¹"),
            (
                "glucose_feed",
                "assumption: 25 mM (4.5 g/L) in fresh medium, so that perfusion can hold the > 2 g/L target of Garcia-Aponte et al. 2021, Table 2",
            ),
            (
                "volume_ml",
                "1 L, the volume of the perfusion schedule of Garcia-Aponte et al., J Biol Eng 15:13 (2021), Table 2",
            ),
        ]
    }

    fn check(&self) -> Result<(), PatError> {
        let v = [
            ("mu_max", self.mu_max),
            ("lag_days", self.lag_days),
            ("lag_factor", self.lag_factor),
            ("q_glucose", self.q_glucose),
            ("maintenance", self.maintenance),
            ("yield_lactate", self.yield_lactate),
            ("k_glucose", self.k_glucose),
            ("k_lactate", self.k_lactate),
            ("x_max", self.x_max),
            ("death_basal", self.death_basal),
            ("death_starving", self.death_starving),
            ("lysis", self.lysis),
            ("glucose_feed", self.glucose_feed),
            ("volume_ml", self.volume_ml),
        ];
        check_finite(&v, Bound::NonNegative)
            .map_err(|m| PatError::Invalid(format!("expansion parameter {m}")))?;
        if self.maintenance > 1.0 {
            return Err(PatError::Invalid(format!(
                "expansion parameter `maintenance` = {}: must be at most 1",
                self.maintenance
            )));
        }
        if self.k_glucose <= 0.0
            || self.k_lactate <= 0.0
            || self.x_max <= 0.0
            || self.volume_ml <= 0.0
        {
            return Err(PatError::Invalid(
                "k_glucose, k_lactate, x_max and volume_ml must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Initial culture.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Initial {
    /// Viable cells (10⁶/mL).
    pub viable: f64,
    /// Dead cells (10⁶/mL).
    pub dead: f64,
    /// Glucose (mM).
    pub glucose: f64,
    /// Lactate (mM).
    pub lactate: f64,
}

impl Default for Initial {
    /// Assumption: 0.5 × 10⁶ viable cells/mL seeded (10⁹ activated T cells would need 2 L;
    /// 5 × 10⁸ in 1 L is a typical seed) at 90 % viability, in fresh medium.
    fn default() -> Self {
        Initial {
            viable: 0.5,
            dead: 0.5 / 9.0,
            glucose: Params::default().glucose_feed,
            lactate: 0.0,
        }
    }
}

impl Initial {
    /// As a state vector (no medium used yet).
    pub fn state(&self) -> State {
        State::from([self.viable, self.dead, self.glucose, self.lactate, 0.0])
    }
}

struct Rhs<'a> {
    p: &'a Params,
    perfusion: f64,
    lagging: bool,
}

impl System<f64, State> for Rhs<'_> {
    fn system(&self, _t: f64, y: &State, dy: &mut State) {
        let p = self.p;
        let xv = y[0].max(0.0);
        let g = y[2].max(0.0);
        let l = y[3].max(0.0);
        let lag = if self.lagging { p.lag_factor } else { 1.0 };
        let mu = p.mu_max * lag * g / (p.k_glucose + g) * p.k_lactate / (p.k_lactate + l)
            * (1.0 - xv / p.x_max).max(0.0);
        let kd = p.death_basal + p.death_starving * p.k_glucose / (p.k_glucose + g);
        // Pirt: uptake for growth (the cited rate at full growth) plus maintenance.
        let growth_share = if p.mu_max > 0.0 { mu / p.mu_max } else { 0.0 };
        let uptake = p.q_glucose
            * xv
            * ((1.0 - p.maintenance) * growth_share + p.maintenance * g / (p.k_glucose + g));
        let d = self.perfusion;
        dy[0] = (mu - kd) * xv;
        dy[1] = kd * xv - p.lysis * y[1].max(0.0);
        dy[2] = -uptake + d * (p.glucose_feed - g);
        dy[3] = p.yield_lactate * uptake - d * l;
        dy[4] = d;
    }
}

/// Integrates from `t0` over `dt` days at constant `perfusion` (volumes/day) and returns the
/// state at the end. Crossing the end of the lag phase splits the step there.
pub fn step(p: &Params, t0: f64, y: &State, perfusion: f64, dt: f64) -> Result<State, PatError> {
    p.check()?;
    if !(perfusion.is_finite() && perfusion >= 0.0 && dt.is_finite() && dt >= 0.0) {
        return Err(PatError::Invalid(format!(
            "perfusion {perfusion} /d over {dt} d: both must be finite and ≥ 0"
        )));
    }
    if dt == 0.0 {
        return Ok(*y);
    }
    let mut t = t0;
    let mut state = *y;
    let end = t0 + dt;
    while t < end {
        let lagging = t < p.lag_days;
        let stop = if lagging { end.min(p.lag_days) } else { end };
        let rhs = Rhs {
            p,
            perfusion,
            lagging,
        };
        // Sparse output: every accepted step, the last one ending exactly at `stop`.
        let mut solver = Dopri5::from_param(
            rhs,
            t,
            stop,
            stop - t,
            state,
            1e-9,
            1e-12,
            0.9,
            0.04,
            0.2,
            10.0,
            stop - t,
            0.0,
            100_000,
            1000,
            OutputType::Sparse,
        );
        solver.integrate().map_err(|e| {
            PatError::Invalid(format!("expansion model integration from day {t:.3}: {e}"))
        })?;
        state = *solver
            .y_out()
            .last()
            .ok_or_else(|| PatError::Invalid("the integrator returned no state".into()))?;
        t = stop;
    }
    Ok(state)
}

/// The fixed perfusion schedule of Garcia-Aponte et al. (2021), Table 2, for 1 L: none below
/// 2 × 10⁶ viable cells/mL, 0.5 volumes/day at 2–10, 0.75 at 10–15, 1.0 above 15 × 10⁶/mL.
pub fn fixed_schedule(viable: f64) -> f64 {
    match viable {
        v if v < 2.0 => 0.0,
        v if v < 10.0 => 0.5,
        v if v < 15.0 => 0.75,
        _ => 1.0,
    }
}

/// One point of a simulated culture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Day since seeding.
    pub day: f64,
    /// State at that time.
    pub state: State,
    /// Perfusion applied from this point on (volumes/day).
    pub perfusion: f64,
}

/// Simulates `days` in steps of `dt` with the perfusion chosen by `policy` from the state at
/// the start of each step.
pub fn simulate(
    p: &Params,
    init: &Initial,
    days: f64,
    dt: f64,
    mut policy: impl FnMut(f64, &State) -> f64,
) -> Result<Vec<Point>, PatError> {
    if !(dt > 0.0 && days >= 0.0 && days / dt <= 100_000.0) {
        return Err(PatError::Invalid(format!(
            "{days} days in steps of {dt}: need dt > 0 and at most 100000 steps"
        )));
    }
    let steps = (days / dt).round() as usize;
    let mut y = init.state();
    let mut out = Vec::with_capacity(steps + 1);
    for k in 0..=steps {
        let t = k as f64 * dt;
        let d = if k < steps { policy(t, &y) } else { 0.0 };
        out.push(Point {
            day: t,
            state: y,
            perfusion: d,
        });
        if k < steps {
            y = step(p, t, &y, d, dt)?;
        }
    }
    Ok(out)
}

/// First day at which viable cells × volume reach `dose` (10⁶ cells), by linear
/// interpolation between points; `None` if never.
pub fn harvest_day(points: &[Point], volume_ml: f64, dose: f64) -> Option<f64> {
    let total = |pt: &Point| pt.state[0] * volume_ml;
    if let Some(first) = points.first()
        && total(first) >= dose
    {
        return Some(first.day);
    }
    points.windows(2).find_map(|w| {
        let (a, b) = (total(&w[0]), total(&w[1]));
        (a < dose && b >= dose).then(|| w[0].day + (dose - a) / (b - a) * (w[1].day - w[0].day))
    })
}

/// Patient-to-patient variability: draws of growth rate, lag and uptake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variability {
    /// Growth rate range (1/day), drawn uniformly: 0.029–0.053 h⁻¹ (J Biol Eng 2019, Table 1).
    pub mu_max: (f64, f64),
    /// Lag range (days), drawn uniformly: 20–24 h (Duran-Villalobos et al.).
    pub lag_days: (f64, f64),
    /// Coefficient of variation of glucose uptake (normal, truncated at ±3 sd); assumption 15 %.
    pub q_glucose_cv: f64,
}

impl Default for Variability {
    fn default() -> Self {
        Variability {
            mu_max: (0.029 * 24.0, 0.053 * 24.0),
            lag_days: (20.0 / 24.0, 1.0), // 20–24 h
            q_glucose_cv: 0.15,
        }
    }
}

impl Variability {
    /// Parameters of patient `index` in a cohort seeded with `seed` (ChaCha8, stream `index`),
    /// so each patient's draw does not depend on how many others are drawn.
    pub fn patient(&self, base: &Params, seed: u64, index: u64) -> Result<Params, PatError> {
        let bad = |m: String| PatError::Invalid(format!("variability: {m}"));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index);
        let mu = Uniform::new_inclusive(self.mu_max.0, self.mu_max.1)
            .map_err(|e| bad(format!("mu_max: {e}")))?;
        let lag = Uniform::new_inclusive(self.lag_days.0, self.lag_days.1)
            .map_err(|e| bad(format!("lag_days: {e}")))?;
        let z = Normal::new(0.0, 1.0).map_err(|e| bad(e.to_string()))?;
        if !(self.q_glucose_cv.is_finite() && (0.0..0.33).contains(&self.q_glucose_cv)) {
            return Err(bad(format!(
                "q_glucose_cv {} must lie in [0, 0.33)",
                self.q_glucose_cv
            )));
        }
        let mut p = base.clone();
        p.mu_max = mu.sample(&mut rng);
        p.lag_days = lag.sample(&mut rng);
        let zq: f64 = z.sample(&mut rng);
        p.q_glucose = base.q_glucose * (1.0 + self.q_glucose_cv * zq.clamp(-3.0, 3.0));
        p.check()?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_growth_is_exponential() {
        // Without death, limitation or lag, Xv(t) = Xv0 e^{μ t}.
        let p = Params {
            lag_days: 0.0,
            k_glucose: 1e-9,
            k_lactate: 1e12,
            x_max: 1e12,
            death_basal: 0.0,
            death_starving: 0.0,
            q_glucose: 0.0,
            ..Params::default()
        };
        let y = step(&p, 0.0, &Initial::default().state(), 0.0, 3.0).expect("integrates");
        let exact = 0.5 * (p.mu_max * 3.0).exp();
        assert!((y[0] - exact).abs() < 1e-6 * exact, "{} vs {exact}", y[0]);
    }

    #[test]
    fn glucose_balance_holds() {
        // Glucose consumed = lactate produced / yield when there is no perfusion.
        let p = Params::default();
        let y = step(&p, 0.0, &Initial::default().state(), 0.0, 4.0).expect("integrates");
        let used = Initial::default().glucose - y[2];
        assert!(used > 1.0);
        assert!(
            (y[3] - p.yield_lactate * used).abs() < 1e-6,
            "{} vs {}",
            y[3],
            used
        );
    }

    #[test]
    fn fixed_schedule_culture_reaches_a_dose_and_perfusion_feeds_it() {
        let p = Params::default();
        let pts = simulate(&p, &Initial::default(), 12.0, 0.25, |_, y| {
            fixed_schedule(y[0])
        })
        .expect("runs");
        // The peak density lands near the 6.4 × 10⁶/mL reported for the 800 mL reactor
        // (J Biol Eng 2019, Table 1).
        let peak = pts.iter().map(|pt| pt.state[0]).fold(0.0, f64::max);
        assert!((5.0..8.0).contains(&peak), "peak {peak}");
        let day = harvest_day(&pts, p.volume_ml, 5000.0).expect("reaches 5 × 10⁹ cells");
        assert!((4.0..12.0).contains(&day), "harvest day {day}");
        let last = pts.last().expect("points");
        assert!(last.state[4] > 1.0, "medium used {}", last.state[4]);
        // Without perfusion glucose runs out and the culture dies back.
        let starved = simulate(&p, &Initial::default(), 12.0, 0.25, |_, _| 0.0).expect("runs");
        let s = starved.last().expect("points").state;
        assert!(s[2] < 0.1 && s[0] < last.state[0], "{s:?}");
    }

    #[test]
    fn patients_differ_reproducibly() {
        let v = Variability::default();
        let base = Params::default();
        let a = v.patient(&base, 42, 0).expect("draw");
        let b = v.patient(&base, 42, 1).expect("draw");
        assert_ne!(a, b);
        assert_eq!(a, v.patient(&base, 42, 0).expect("draw"));
        assert!((0.029 * 24.0..=0.053 * 24.0).contains(&a.mu_max));
        let bad = Variability {
            mu_max: (2.0, 1.0),
            ..v
        };
        assert!(bad.patient(&base, 1, 0).is_err());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let p = Params {
            k_glucose: -1.0,
            ..Params::default()
        };
        assert!(step(&p, 0.0, &Initial::default().state(), 0.0, 1.0).is_err());
        let p = Params::default();
        assert!(step(&p, 0.0, &Initial::default().state(), f64::NAN, 1.0).is_err());
        assert!(simulate(&p, &Initial::default(), 10.0, 0.0, |_, _| 0.0).is_err());
    }
}
