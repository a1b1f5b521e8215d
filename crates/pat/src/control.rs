//! Closed-loop runs of a culture: the plant (the expansion model with one patient's
//! parameters) is measured by synthetic Raman spectra and the soft sensor, and fed either by the
//! model-predictive controller ([`crate::mpc`], which knows only the nominal parameters) or by
//! the fixed perfusion schedule; the culture is harvested when the estimated viable cells reach
//! the dose or on a fixed day. A cohort comparison runs every strategy on the same patients.
//!
//! The soft sensor estimates glucose, lactate and the total (viable plus dead) cell density:
//! Raman bands of cells do not tell living from dead cells, so a calibration for viable cells
//! alone is biased whenever the dead share differs from the calibration cultures'. The
//! controller's state therefore takes glucose, lactate and total cells from the estimate and
//! splits the total by the viability its own model predicts (which follows the measured
//! glucose, the cause of death in the model); the medium used is known from the pump. An estimate outside the sensor's applicability domain is not used: the
//! controller goes on with its model's prediction for that step and the step is counted.
//!
//! Random numbers: ChaCha8. The calibration cohort is [`cohort::simulate`] with its own seed;
//! patient `i` of the compared cohort draws its parameters from stream `i` of the cohort seed
//! (as in [`cohort`]) and its measurement spectra from stream `2 · 2³² + i`, the same sequence for
//! every strategy.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::PatError;
use crate::cohort::{self, CohortOptions};
use crate::expansion::{self, Initial, Params, State, Variability};
use crate::mpc::{self, Settings};
use crate::preprocess::Step;
use crate::raman::{self, Composition, Instrument};
use crate::sensor::{FitOptions, SoftSensor};
use crate::table::Table;

/// How the perfusion rate is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Feeding {
    /// Model-predictive control.
    Mpc,
    /// The fixed schedule of [`expansion::fixed_schedule`] on the estimated viable density.
    Fixed,
}

/// When the culture is harvested.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Harvest {
    /// At the first control time the estimated viable cells reach the dose (at the latest on
    /// the last day).
    AtDose,
    /// On this day.
    Day(f64),
}

/// A feeding and harvest strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    /// Short name (used in tables and files).
    pub name: String,
    /// Feeding.
    pub feeding: Feeding,
    /// Harvest.
    pub harvest: Harvest,
}

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Glucose (mM).
    pub glucose: f64,
    /// Lactate (mM).
    pub lactate: f64,
    /// Viable plus dead cells (10⁶/mL).
    pub cells: f64,
    /// Outside the sensor's applicability domain (not used by the controller).
    pub outside: bool,
}

/// One control time of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Day.
    pub day: f64,
    /// True state of the culture.
    pub truth: State,
    /// The measurement.
    pub estimate: Estimate,
    /// Perfusion applied until the next control time (volumes/day).
    pub perfusion: f64,
    /// Predicted harvest day (controller runs only).
    pub predicted_harvest: Option<f64>,
    /// The controller's predicted glucose and lactate over its horizon (controller runs only).
    pub predicted: Vec<(f64, f64)>,
    /// The controller's state when it decided: the estimate merged with its model.
    pub belief: State,
    /// The rates the controller planned over its horizon (controller runs only; the first is
    /// `perfusion`).
    pub plan: Vec<f64>,
}

/// The outcome of a run, from the true culture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Harvest day.
    pub harvest_day: f64,
    /// Viable cells in the reactor at harvest (10⁶).
    pub viable_cells: f64,
    /// Whether they reach the dose.
    pub reached_dose: bool,
    /// Medium used (reactor volumes).
    pub medium: f64,
    /// Days with glucose below the target.
    pub glucose_low_days: f64,
    /// Days with lactate above the limit.
    pub lactate_high_days: f64,
    /// Lowest glucose (mM).
    pub glucose_min: f64,
    /// Highest lactate (mM).
    pub lactate_max: f64,
    /// Measurements outside the sensor's domain.
    pub outside: usize,
}

/// Sub-steps per control interval over which limit violations are counted.
const SUBSTEPS: usize = 10;

/// Runs one culture under `strategy`; `measure` turns the true state into an estimate.
pub fn run(
    plant: &Params,
    model: &Params,
    init: &Initial,
    settings: &Settings,
    strategy: &Strategy,
    measure: &mut dyn FnMut(&State) -> Result<Estimate, PatError>,
) -> Result<(Vec<Record>, Outcome), PatError> {
    settings.check()?;
    let dt = settings.step_days;
    let steps = (settings.days_max / dt).round() as usize;
    let mut truth = init.state();
    let mut belief = init.state();
    let mut u_prev = 0.0;
    let mut warm: Option<Vec<f64>> = None;
    let mut records = Vec::new();
    let mut out = Outcome {
        harvest_day: settings.days_max,
        viable_cells: 0.0,
        reached_dose: false,
        medium: 0.0,
        glucose_low_days: 0.0,
        lactate_high_days: 0.0,
        glucose_min: truth[2],
        lactate_max: truth[3],
        outside: 0,
    };
    for k in 0..=steps {
        let t = k as f64 * dt;
        let est = measure(&truth)?;
        if est.outside {
            out.outside += 1;
        } else {
            let total = belief[0] + belief[1];
            let viability = if total > 0.0 { belief[0] / total } else { 1.0 };
            let cells = est.cells.max(0.0);
            belief[0] = cells * viability;
            belief[1] = cells * (1.0 - viability);
            belief[2] = est.glucose.max(0.0);
            belief[3] = est.lactate.max(0.0);
        }
        belief[4] = truth[4];
        let harvest_now = match strategy.harvest {
            Harvest::AtDose => belief[0] * plant.volume_ml >= settings.harvest_target(),
            Harvest::Day(d) => t >= d - 1e-9,
        };
        if harvest_now || k == steps {
            out.harvest_day = t;
            records.push(Record {
                day: t,
                truth,
                estimate: est,
                perfusion: 0.0,
                predicted_harvest: None,
                predicted: Vec::new(),
                belief,
                plan: Vec::new(),
            });
            break;
        }
        let (u, predicted_harvest, predicted, planned) = match strategy.feeding {
            Feeding::Fixed => (
                expansion::fixed_schedule(belief[0]),
                None,
                Vec::new(),
                Vec::new(),
            ),
            Feeding::Mpc => {
                let plan = mpc::solve(model, settings, t, &belief, u_prev, warm.as_deref())?;
                let mut next: Vec<f64> = plan.perfusion[1..].to_vec();
                next.push(*plan.perfusion.last().unwrap_or(&0.0));
                warm = Some(next);
                let band = plan.predicted.iter().map(|x| (x[2], x[3])).collect();
                (plan.perfusion[0], plan.harvest_day, band, plan.perfusion)
            }
        };
        records.push(Record {
            day: t,
            truth,
            estimate: est,
            perfusion: u,
            predicted_harvest,
            predicted,
            belief,
            plan: planned,
        });
        let h = dt / SUBSTEPS as f64;
        for i in 0..SUBSTEPS {
            truth = expansion::step(plant, t + i as f64 * h, &truth, u, h)?;
            if truth[2] < settings.glucose_min {
                out.glucose_low_days += h;
            }
            if truth[3] > settings.lactate_max {
                out.lactate_high_days += h;
            }
            out.glucose_min = out.glucose_min.min(truth[2]);
            out.lactate_max = out.lactate_max.max(truth[3]);
        }
        belief = expansion::step(model, t, &belief, u, dt)?;
        u_prev = u;
    }
    out.viable_cells = truth[0] * plant.volume_ml;
    out.reached_dose = out.viable_cells >= settings.dose;
    out.medium = truth[4];
    Ok((records, out))
}

/// The controller's prediction over its horizon with its uncertainty from the patients'
/// variability: the model with the nominal parameters, and the 5th and 95th percentiles over
/// `draws` patients of `variability` (ChaCha8, `seed`, stream 3 · 2³² + i for draw i, apart
/// from the streams of the cohort and its spectra), every one started
/// from the controller's state `x0` at day `t0` and run under the planned `rates`. The state
/// estimate's own error is not part of the band.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionBand {
    /// Days of the points (the start of each step and the end of the horizon).
    pub days: Vec<f64>,
    /// Nominal prediction at each day.
    pub nominal: Vec<State>,
    /// 5th percentile of each state component at each day.
    pub low: Vec<State>,
    /// 95th percentile of each state component at each day.
    pub high: Vec<State>,
}

/// Draws of [`prediction_band`] used by the report.
pub const BAND_DRAWS: usize = 100;

/// Computes the [`PredictionBand`] of a plan.
#[allow(clippy::too_many_arguments)]
pub fn prediction_band(
    model: &Params,
    variability: &Variability,
    settings: &Settings,
    t0: f64,
    x0: &State,
    rates: &[f64],
    draws: usize,
    seed: u64,
) -> Result<PredictionBand, PatError> {
    if !(1..=10_000).contains(&draws) {
        return Err(PatError::Invalid(format!(
            "prediction band of {draws} draws: 1 to 10 000"
        )));
    }
    let nominal = mpc::predict(model, settings, t0, x0, rates)?;
    let runs = (0..draws as u64)
        .map(|i| {
            let p = variability.patient(model, seed, (3u64 << 32) + i)?;
            mpc::predict(&p, settings, t0, x0, rates)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quantile = |k: usize, q: f64| {
        let mut out = State::zeros();
        for c in 0..out.len() {
            let mut v: Vec<f64> = runs.iter().map(|r| r[k][c]).collect();
            v.sort_by(f64::total_cmp);
            // nearest rank
            let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            out[c] = v[i];
        }
        out
    };
    let n = nominal.len();
    Ok(PredictionBand {
        days: (0..n).map(|k| t0 + k as f64 * settings.step_days).collect(),
        low: (0..n).map(|k| quantile(k, 0.05)).collect(),
        high: (0..n).map(|k| quantile(k, 0.95)).collect(),
        nominal,
    })
}

/// A soft-sensor measurement: a synthetic spectrum of the true culture, estimated by `sensor`.
#[derive(Debug)]
pub struct SensorMeasurement<'a> {
    sensor: &'a SoftSensor,
    instrument: &'a Instrument,
    rng: ChaCha8Rng,
    columns: Vec<String>,
    index: [usize; 3],
}

impl<'a> SensorMeasurement<'a> {
    /// A measurement drawing its spectra from `rng`. The sensor must estimate
    /// `glucose_mM`, `lactate_mM` and `cells_1e6_per_mL` (viable plus dead; see
    /// [`calibrate`]) from spectra on [`raman::axis`].
    pub fn new(
        sensor: &'a SoftSensor,
        instrument: &'a Instrument,
        rng: ChaCha8Rng,
    ) -> Result<Self, PatError> {
        let find = |name: &str| {
            sensor
                .responses
                .iter()
                .position(|r| r == name)
                .ok_or_else(|| {
                    PatError::Invalid(format!(
                        "the soft sensor estimates {:?}; closed-loop control needs `{name}`",
                        sensor.responses
                    ))
                })
        };
        let [g, l, c] = CONTROL_RESPONSES;
        let index = [find(g)?, find(l)?, find(c)?];
        let columns: Vec<String> = raman::axis().iter().map(|x| format!("{x}")).collect();
        Ok(SensorMeasurement {
            sensor,
            instrument,
            rng,
            columns,
            index,
        })
    }

    /// Measures the state `x`.
    pub fn measure(&mut self, x: &State) -> Result<Estimate, PatError> {
        let c = Composition {
            glucose: x[2].max(0.0),
            lactate: x[3].max(0.0),
            cells: (x[0] + x[1]).max(0.0),
        };
        let row = raman::spectrum(&c, self.instrument, &mut self.rng)?;
        let table = Table::new(
            "measurement",
            "sample",
            self.columns.clone(),
            vec!["now".into()],
            DMatrix::from_row_slice(1, row.len(), &row),
        )?;
        let pred = self
            .sensor
            .predict(&table)?
            .pop()
            .ok_or_else(|| PatError::Invalid("the soft sensor returned no estimate".into()))?;
        Ok(Estimate {
            glucose: pred.values[self.index[0]],
            lactate: pred.values[self.index[1]],
            cells: pred.values[self.index[2]],
            outside: pred.domain.is_outside(),
        })
    }
}

/// Name of the soft sensor's total-cell response.
pub const CELLS: &str = "cells_1e6_per_mL";

/// The responses a soft sensor must estimate for closed-loop control, in the order the
/// controller reads them: glucose, lactate and total cells.
pub const CONTROL_RESPONSES: [&str; 3] = ["glucose_mM", "lactate_mM", CELLS];

/// Calibrates the soft sensor used in closed loop on a simulated cohort (fixed schedule): PLS2
/// of glucose, lactate and total cells (viable plus dead) with 6 components on first-derivative
/// Savitzky–Golay spectra (window 9, order 2), as in the documented soft-sensor example; limits
/// at 99 % confidence. The calibration is cross-validated with one contiguous fold per
/// calibration patient (the samples are stored patient by patient, so with equally many samples
/// per patient every fold holds out one patient's culture): the RMSECV is the error to expect
/// on a new patient, from which [`DoseMargin::Sd`] derives the harvest margin.
pub fn calibrate(opts: &CohortOptions, instrument: &Instrument) -> Result<SoftSensor, PatError> {
    let cal = cohort::simulate(opts, instrument)?;
    let mut values = cal.reference.values.clone();
    let mut row = 0;
    for c in &cal.cultures {
        for pt in &c.points {
            values[(row, 2)] = (pt.state[0] + pt.state[1]).max(0.0);
            row += 1;
        }
    }
    let reference = Table::new(
        "calibration reference",
        "sample",
        vec!["glucose_mM".into(), "lactate_mM".into(), CELLS.into()],
        cal.reference.ids.clone(),
        values,
    )?;
    SoftSensor::fit(
        &cal.spectra,
        &reference,
        &culture_fit_options(Some(opts.patients.clamp(2, cal.spectra.ids.len().max(2)))),
    )
}

/// The model of the culture soft sensor: PLS with 6 components on first-derivative
/// Savitzky–Golay spectra (window 9, order 2), unscaled, limits at 99 % confidence;
/// `cv_folds` cross-validation folds.
pub(crate) fn culture_fit_options(cv_folds: Option<usize>) -> FitOptions {
    FitOptions {
        components: 6,
        preprocess: vec![Step::Savgol {
            window: 9,
            polyorder: 2,
            deriv: 1,
        }],
        scale: false,
        cv_folds,
        confidence: 0.99,
    }
}

/// The safety margin of the harvest rule over the dose ([`Settings::dose_margin`]).
///
/// The harvest rule compares an *estimate* with the dose; a culture whose estimate errs high
/// is harvested below the dose. With estimation errors of standard deviation σ (cells per mL)
/// in a reactor of V mL, aiming at dose + z·σ·V harvests a culture whose true viable cells are
/// exactly at the dose with a probability of at most 1 − Φ(z) at any one measurement. σ is the
/// soft sensor's cross-validated error (RMSECV, one patient held out per fold, at the
/// sensor's number of components) of the total-cell estimate; the viable estimate is that total
/// times a viability below 1, so its error is no larger from the sensor's side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DoseMargin {
    /// z standard errors of the sensor's cell estimate.
    Sd(f64),
    /// A fixed margin (10⁶ viable cells).
    Cells(f64),
}

impl DoseMargin {
    /// The margin in 10⁶ viable cells for a sensor with cross-validated cell error `rmsecv`
    /// (10⁶/mL) in a reactor of `volume_ml`.
    pub fn cells(self, rmsecv: f64, volume_ml: f64) -> Result<f64, PatError> {
        let m = match self {
            DoseMargin::Sd(z) => {
                if !(z.is_finite() && z >= 0.0) {
                    return Err(PatError::Invalid(format!(
                        "dose margin of {z} standard errors: must be finite and ≥ 0"
                    )));
                }
                z * rmsecv * volume_ml
            }
            DoseMargin::Cells(c) => c,
        };
        if !(m.is_finite() && m >= 0.0) {
            return Err(PatError::Invalid(format!(
                "dose margin {m} × 10⁶ cells: must be finite and ≥ 0"
            )));
        }
        Ok(m)
    }
}

/// One-sided 95 % normal quantile: the default number of standard errors of [`DoseMargin::Sd`].
pub const DOSE_MARGIN_Z: f64 = 1.645;

/// Settings of a cohort comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    /// Patients compared.
    pub patients: usize,
    /// Seed of the compared cohort (parameters and measurement spectra).
    pub seed: u64,
    /// Patients of the calibration cohort of the soft sensor.
    pub calibration_patients: usize,
    /// Seed of the calibration cohort.
    pub calibration_seed: u64,
    /// Controller settings (also the limits, dose and last day of every strategy).
    pub settings: Settings,
    /// Harvest day of the fixed-duration strategy.
    pub fixed_day: f64,
    /// The harvest rule's margin over the dose; it replaces `settings.dose_margin`.
    pub margin: DoseMargin,
}

impl Default for CompareOptions {
    /// 20 patients (seed 1); the sensor calibrated on 8 others (seed 2, [`calibrate`]); the
    /// fixed duration is the last day (12); harvest margin 1.645 standard errors of the sensor's
    /// cell estimate ([`DOSE_MARGIN_Z`]).
    fn default() -> Self {
        let settings = Settings::default();
        CompareOptions {
            patients: 20,
            seed: 1,
            calibration_patients: 8,
            calibration_seed: 2,
            fixed_day: settings.days_max,
            settings,
            margin: DoseMargin::Sd(DOSE_MARGIN_Z),
        }
    }
}

/// The three strategies compared: the controller with harvest at the dose, the fixed
/// schedule with harvest at the dose, and the fixed schedule for a fixed duration.
pub fn strategies(fixed_day: f64) -> Vec<Strategy> {
    vec![
        Strategy {
            name: "mpc".into(),
            feeding: Feeding::Mpc,
            harvest: Harvest::AtDose,
        },
        Strategy {
            name: "fixed-at-dose".into(),
            feeding: Feeding::Fixed,
            harvest: Harvest::AtDose,
        },
        Strategy {
            name: "fixed-duration".into(),
            feeding: Feeding::Fixed,
            harvest: Harvest::Day(fixed_day),
        },
    ]
}

/// One patient under one strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientRun {
    /// Index of the strategy in [`Comparison::strategies`].
    pub strategy: usize,
    /// Patient index.
    pub patient: usize,
    /// The control times.
    pub records: Vec<Record>,
    /// The outcome.
    pub outcome: Outcome,
}

/// A cohort comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The settings it ran with (`settings.dose_margin` is the margin applied).
    pub options: CompareOptions,
    /// The soft sensor's cross-validated error of the total-cell estimate (10⁶/mL).
    pub cells_rmsecv: f64,
    /// The strategies.
    pub strategies: Vec<Strategy>,
    /// The calibrated soft sensor.
    pub sensor: SoftSensor,
    /// Every patient under every strategy (strategy-major).
    pub runs: Vec<PatientRun>,
}

/// Runs the comparison; `progress` is called after each patient run (done, total).
pub fn compare(
    opts: &CompareOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Comparison, PatError> {
    let bed = TestBed::new(opts)?;
    let strategies = strategies(opts.fixed_day);
    let total = strategies.len() * opts.patients;
    let mut runs = Vec::with_capacity(total);
    for (si, strategy) in strategies.iter().enumerate() {
        for i in 0..opts.patients {
            let (records, outcome) = bed.run_patient(strategy, i)?;
            runs.push(PatientRun {
                strategy: si,
                patient: i,
                records,
                outcome,
            });
            progress(runs.len(), total);
        }
    }
    Ok(Comparison {
        options: bed.opts,
        cells_rmsecv: bed.cells_rmsecv,
        strategies,
        sensor: bed.sensor,
        runs,
    })
}

/// Harvest days (days from seeding) of `patients` patients drawn from the patient variability
/// model (ChaCha8, `seed`, patient `i` on stream `i` as in [`compare`]) under `strategy`, in
/// closed loop with the soft sensor of [`CompareOptions::default`] (calibrated on its own
/// synthetic cohort) and the default controller settings, dose and margin. A patient whose
/// culture does not reach the dose is harvested on the last day. These are the expansion
/// durations a scenario takes from the model (`dist = "expansion_model"`).
pub fn harvest_days(
    strategy: &Strategy,
    patients: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<f64>, PatError> {
    let opts = CompareOptions {
        patients,
        seed,
        ..CompareOptions::default()
    };
    let bed = TestBed::new(&opts)?;
    let mut days = Vec::with_capacity(patients);
    for i in 0..patients {
        days.push(bed.run_patient(strategy, i)?.1.harvest_day);
        progress(i + 1, patients);
    }
    Ok(days)
}

/// [`harvest_days`] for a scenario's `dist = "expansion_model"` duration: the spec's strategy
/// (model-predictive or fixed perfusion, harvest at the dose), patients and seed.
pub fn spec_harvest_days(
    spec: &model::ExpansionSpec,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<f64>, PatError> {
    let feeding = match spec.strategy {
        model::ExpansionStrategy::Mpc => Feeding::Mpc,
        model::ExpansionStrategy::FixedAtDose => Feeding::Fixed,
    };
    let strategy = Strategy {
        name: spec.strategy.name().to_string(),
        feeding,
        harvest: Harvest::AtDose,
    };
    harvest_days(&strategy, spec.patients as usize, spec.seed, progress)
}

/// What every closed-loop patient run of a cohort shares: the checked options (with the
/// margin applied), the calibrated soft sensor, the instrument and the models.
struct TestBed {
    opts: CompareOptions,
    cells_rmsecv: f64,
    sensor: SoftSensor,
    instrument: Instrument,
    model: Params,
    variability: Variability,
}

impl TestBed {
    fn new(opts: &CompareOptions) -> Result<TestBed, PatError> {
        opts.settings.check()?;
        cohort::check_patients(opts.patients)?;
        if !(opts.fixed_day.is_finite() && opts.fixed_day > 0.0) {
            return Err(PatError::Invalid(format!(
                "fixed harvest day {}: must be positive",
                opts.fixed_day
            )));
        }
        let instrument = Instrument::default();
        let sensor = calibrate(
            &CohortOptions {
                patients: opts.calibration_patients,
                seed: opts.calibration_seed,
                days: opts.settings.days_max,
                every: 0.5,
                dose: opts.settings.dose,
            },
            &instrument,
        )?;
        let model = Params::default();
        let cells_rmsecv = sensor_cells_rmsecv(&sensor)?;
        let mut opts = opts.clone();
        opts.settings.dose_margin = opts.margin.cells(cells_rmsecv, model.volume_ml)?;
        Ok(TestBed {
            opts,
            cells_rmsecv,
            sensor,
            instrument,
            model,
            variability: Variability::default(),
        })
    }

    /// Patient `i` of the cohort under `strategy`.
    fn run_patient(
        &self,
        strategy: &Strategy,
        i: usize,
    ) -> Result<(Vec<Record>, Outcome), PatError> {
        let plant = self
            .variability
            .patient(&self.model, self.opts.seed, i as u64)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.opts.seed);
        rng.set_stream((2u64 << 32) + i as u64);
        let mut m = SensorMeasurement::new(&self.sensor, &self.instrument, rng)?;
        run(
            &plant,
            &self.model,
            &Initial::default(),
            &self.opts.settings,
            strategy,
            &mut |x| m.measure(x),
        )
    }
}

/// The cross-validated error (RMSECV) of a sensor's total-cell estimate at its number of
/// components (10⁶/mL).
pub fn sensor_cells_rmsecv(sensor: &SoftSensor) -> Result<f64, PatError> {
    let j = sensor.responses.iter().position(|r| r == CELLS);
    let row = sensor
        .cv
        .as_ref()
        .and_then(|cv| cv.rmsecv.get(sensor.components.checked_sub(1)?));
    match (j, row) {
        (Some(j), Some(row)) => Ok(row[j]),
        _ => Err(PatError::Invalid(format!(
            "the soft sensor has no cross-validated error of `{CELLS}`"
        ))),
    }
}

/// Cohort figures of one strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Strategy name.
    pub strategy: String,
    /// Patients.
    pub patients: usize,
    /// Patients whose true viable cells at harvest reach the dose.
    pub reached_dose: usize,
    /// Mean harvest day.
    pub harvest_day: f64,
    /// Mean viable cells at harvest (10⁶).
    pub viable_cells: f64,
    /// Mean medium used (volumes).
    pub medium: f64,
    /// Mean days with glucose below the target.
    pub glucose_low_days: f64,
    /// Mean days with lactate above the limit.
    pub lactate_high_days: f64,
    /// Patients with any violation of either limit.
    pub patients_with_violations: usize,
    /// Share of measurements outside the sensor's domain.
    pub outside_share: f64,
}

impl Comparison {
    /// One summary per strategy.
    pub fn summaries(&self) -> Vec<Summary> {
        self.strategies
            .iter()
            .enumerate()
            .map(|(si, s)| {
                let runs: Vec<&PatientRun> =
                    self.runs.iter().filter(|r| r.strategy == si).collect();
                let n = runs.len().max(1) as f64;
                let mean = |f: &dyn Fn(&Outcome) -> f64| {
                    runs.iter().map(|r| f(&r.outcome)).sum::<f64>() / n
                };
                let measurements: usize = runs.iter().map(|r| r.records.len()).sum();
                let outside: usize = runs.iter().map(|r| r.outcome.outside).sum();
                Summary {
                    strategy: s.name.clone(),
                    patients: runs.len(),
                    reached_dose: runs.iter().filter(|r| r.outcome.reached_dose).count(),
                    harvest_day: mean(&|o| o.harvest_day),
                    viable_cells: mean(&|o| o.viable_cells),
                    medium: mean(&|o| o.medium),
                    glucose_low_days: mean(&|o| o.glucose_low_days),
                    lactate_high_days: mean(&|o| o.lactate_high_days),
                    patients_with_violations: runs
                        .iter()
                        .filter(|r| r.outcome.glucose_low_days + r.outcome.lactate_high_days > 0.0)
                        .count(),
                    outside_share: outside as f64 / measurements.max(1) as f64,
                }
            })
            .collect()
    }

    /// Per patient and strategy: the outcome, as CSV.
    pub fn outcomes_csv(&self) -> String {
        let mut out = String::from(
            "strategy,patient,harvest_day,viable_cells_1e6,reached_dose,medium_volumes,glucose_low_days,lactate_high_days,glucose_min_mM,lactate_max_mM,outside_domain\n",
        );
        for r in &self.runs {
            let o = &r.outcome;
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                self.strategies[r.strategy].name,
                r.patient,
                o.harvest_day,
                o.viable_cells,
                o.reached_dose,
                o.medium,
                o.glucose_low_days,
                o.lactate_high_days,
                o.glucose_min,
                o.lactate_max,
                o.outside
            ));
        }
        out
    }

    /// Every control time of every run, as CSV: the true state, the estimate, the rate
    /// applied, the predicted harvest day and the controller's predicted glucose and lactate
    /// range over its horizon (its prediction band).
    pub fn trajectories_csv(&self) -> String {
        let mut out = String::from(
            "strategy,patient,day,viable_1e6_per_mL,dead_1e6_per_mL,glucose_mM,lactate_mM,medium_volumes,est_cells,est_glucose,est_lactate,outside_domain,perfusion_per_day,predicted_harvest_day,pred_glucose_min,pred_glucose_max,pred_lactate_min,pred_lactate_max\n",
        );
        let opt = |v: Option<f64>| v.map(|d| format!("{d}")).unwrap_or_default();
        for r in &self.runs {
            for rec in &r.records {
                let s = rec.truth;
                let e = rec.estimate;
                let band = |f: fn(&(f64, f64)) -> f64| {
                    let mut it = rec.predicted.iter().map(f);
                    let first = it.next();
                    first.map(|a| it.fold((a, a), |(lo, hi), v| (lo.min(v), hi.max(v))))
                };
                let (g, l) = (band(|p| p.0), band(|p| p.1));
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    self.strategies[r.strategy].name,
                    r.patient,
                    rec.day,
                    s[0],
                    s[1],
                    s[2],
                    s[3],
                    s[4],
                    e.cells,
                    e.glucose,
                    e.lactate,
                    e.outside,
                    rec.perfusion,
                    opt(rec.predicted_harvest),
                    opt(g.map(|b| b.0)),
                    opt(g.map(|b| b.1)),
                    opt(l.map(|b| b.0)),
                    opt(l.map(|b| b.1)),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(x: &State) -> Result<Estimate, PatError> {
        Ok(Estimate {
            glucose: x[2],
            lactate: x[3],
            cells: x[0] + x[1],
            outside: false,
        })
    }

    #[test]
    fn controller_holds_glucose_where_the_fixed_schedule_lets_it_fall() {
        let p = Params::default();
        let s = Settings::default();
        let init = Initial::default();
        let [mpc, fixed, _] = &strategies(12.0)[..] else {
            panic!("three strategies")
        };
        let (recs, a) = run(&p, &p, &init, &s, mpc, &mut exact).expect("mpc");
        let (_, b) = run(&p, &p, &init, &s, fixed, &mut exact).expect("fixed");
        assert!(a.reached_dose && b.reached_dose, "{a:?} {b:?}");
        // the controller keeps glucose at its target (a small dip between control times at most)
        assert!(a.glucose_min > s.glucose_min - 0.5, "{a:?}");
        assert!(a.glucose_low_days < b.glucose_low_days, "{a:?} {b:?}");
        assert!(recs.iter().any(|r| r.perfusion > 0.0));
        assert!(recs.iter().all(|r| r.perfusion <= s.perfusion_max));
        // it predicts a harvest day close to the one reached
        let first = recs
            .iter()
            .find_map(|r| r.predicted_harvest)
            .expect("predicted");
        assert!((first - a.harvest_day).abs() < 1.0, "{first} vs {a:?}");
    }

    #[test]
    fn the_harvest_rule_aims_at_the_dose_plus_its_margin() {
        let p = Params::default();
        let st = &strategies(12.0)[1];
        let base = Settings::default();
        let (_, plain) = run(&p, &p, &Initial::default(), &base, st, &mut exact).expect("runs");
        let margin = Settings {
            dose_margin: 1000.0,
            ..Settings::default()
        };
        let (_, later) = run(&p, &p, &Initial::default(), &margin, st, &mut exact).expect("runs");
        assert!(plain.viable_cells >= base.dose, "{plain:?}");
        assert!(later.viable_cells >= 6000.0, "{later:?}");
        assert!(later.harvest_day > plain.harvest_day, "{plain:?} {later:?}");
        // z standard errors of the sensor's error, in cells of the reactor
        assert_eq!(DoseMargin::Sd(2.0).cells(0.25, 1000.0).expect("ok"), 500.0);
        assert_eq!(
            DoseMargin::Cells(70.0).cells(9.0, 1000.0).expect("ok"),
            70.0
        );
        for bad in [
            DoseMargin::Sd(-1.0),
            DoseMargin::Sd(f64::NAN),
            DoseMargin::Cells(-5.0),
        ] {
            assert!(bad.cells(0.2, 1000.0).is_err(), "{bad:?}");
        }
        let e = Settings {
            dose_margin: f64::INFINITY,
            ..Settings::default()
        }
        .check()
        .expect_err("refused");
        assert!(e.to_string().contains("dose_margin"), "{e}");
    }

    #[test]
    fn the_prediction_band_spans_the_patients_and_contains_the_nominal_model() {
        let p = Params::default();
        let s = Settings::default();
        let x0 = Initial::default().state();
        let plan = vec![0.5; s.horizon];
        let v = Variability::default();
        let band = prediction_band(&p, &v, &s, 1.5, &x0, &plan, 200, 1).expect("band");
        assert_eq!(band.days.len(), s.horizon + 1);
        assert_eq!(band.days[0], 1.5);
        assert_eq!(band.low[0], x0);
        assert_eq!(band.high[0], x0);
        let last = s.horizon;
        // viable cells: the fast patients grow more than the slow ones
        assert!(band.high[last][0] > 1.2 * band.low[last][0], "{band:?}");
        for k in 0..=last {
            for c in [0, 2, 3] {
                assert!(band.low[k][c] <= band.high[k][c]);
                let slack = 1e-9 * band.nominal[k][c].abs().max(1.0);
                assert!(band.nominal[k][c] >= band.low[k][c] - slack, "{k} {c}");
                assert!(band.nominal[k][c] <= band.high[k][c] + slack, "{k} {c}");
            }
        }
        let again = prediction_band(&p, &v, &s, 1.5, &x0, &plan, 200, 1).expect("band");
        assert_eq!(again, band);
        assert!(prediction_band(&p, &v, &s, 1.5, &x0, &plan, 0, 1).is_err());
    }

    #[test]
    fn harvest_days_are_the_cohort_comparisons_harvest_days() {
        let opts = CompareOptions {
            patients: 3,
            seed: 7,
            ..CompareOptions::default()
        };
        let cmp = compare(&opts, &mut |_, _| {}).expect("compared");
        for (si, st) in cmp.strategies.iter().enumerate() {
            let mut calls = 0;
            let days = harvest_days(st, 3, 7, &mut |_, _| calls += 1).expect("days");
            let want: Vec<f64> = cmp
                .runs
                .iter()
                .filter(|r| r.strategy == si)
                .map(|r| r.outcome.harvest_day)
                .collect();
            assert_eq!(days, want, "{}", st.name);
            assert_eq!(calls, 3);
        }
        // harvest at the dose follows the patient: not every patient on the same day
        let mpc = harvest_days(&cmp.strategies[0], 3, 7, &mut |_, _| {}).expect("days");
        assert!(mpc.iter().any(|d| *d != mpc[0]), "{mpc:?}");
        assert!(mpc.iter().all(|d| *d > 0.0 && *d <= opts.settings.days_max));
        let e = harvest_days(&cmp.strategies[0], 0, 7, &mut |_, _| {}).expect_err("no patients");
        assert!(e.to_string().contains("patients"), "{e}");
    }

    #[test]
    fn fixed_duration_runs_to_its_day() {
        let p = Params::default();
        let s = Settings::default();
        let st = Strategy {
            name: "x".into(),
            feeding: Feeding::Fixed,
            harvest: Harvest::Day(5.0),
        };
        let (recs, o) = run(&p, &p, &Initial::default(), &s, &st, &mut exact).expect("runs");
        assert_eq!(o.harvest_day, 5.0);
        assert_eq!(recs.last().expect("records").day, 5.0);
    }

    #[test]
    fn a_sensor_without_the_needed_responses_is_refused() {
        let inst = Instrument::default();
        let cal = cohort::simulate(
            &CohortOptions {
                patients: 2,
                days: 3.0,
                ..CohortOptions::default()
            },
            &inst,
        )
        .expect("cohort");
        let mut reference = cal.reference.clone();
        reference.columns[1] = "other".into();
        let sensor = SoftSensor::fit(
            &cal.spectra,
            &reference,
            &FitOptions {
                components: 2,
                preprocess: vec![],
                scale: false,
                cv_folds: None,
                confidence: 0.95,
            },
        )
        .expect("fits");
        let e = SensorMeasurement::new(&sensor, &inst, ChaCha8Rng::seed_from_u64(1))
            .expect_err("refused");
        assert!(e.to_string().contains("lactate_mM"), "{e}");
    }
}
