//! A simulated cohort of cultures: each patient's parameters drawn from the variability model,
//! the culture run on the fixed perfusion schedule, sampled at regular times, with a
//! synthetic Raman spectrum and the true concentrations (the reference values a lab would
//! measure) for every sample.
//!
//! Random numbers: ChaCha8 seeded with the cohort seed; patient `i` draws its parameters from
//! stream `i` and its spectra from stream `2³² + i`, so a patient's data do not depend on how
//! many patients are simulated.

use nalgebra::DMatrix;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::PatError;
use crate::expansion::{self, Initial, Params, Variability};
use crate::raman::{self, Composition, Instrument};
use crate::table::Table;

/// Settings of a simulated cohort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortOptions {
    /// Number of patients.
    pub patients: usize,
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
    /// Days simulated per culture.
    pub days: f64,
    /// Sampling interval (days).
    pub every: f64,
    /// Harvest dose (10⁶ viable cells in the reactor).
    pub dose: f64,
}

impl Default for CohortOptions {
    /// Assumption: a harvest target of 5 × 10⁹ viable cells (an upper CAR-T manufacturing
    /// target before formulation); 12 days (the upper end of the 7–12-day expansion,
    /// domain.md §8), sampled every 12 h.
    fn default() -> Self {
        CohortOptions {
            patients: 10,
            seed: 1,
            days: 12.0,
            every: 0.5,
            dose: 5000.0,
        }
    }
}

/// One patient's culture.
#[derive(Debug, Clone, PartialEq)]
pub struct Culture {
    /// Patient index in the cohort.
    pub patient: usize,
    /// The drawn parameters.
    pub params: Params,
    /// The trajectory at the sampling times.
    pub points: Vec<expansion::Point>,
    /// Day the dose is reached on the fixed schedule (`None`: not within the simulated days).
    pub harvest_day: Option<f64>,
}

/// A simulated cohort with its spectra and reference values.
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    /// One culture per patient.
    pub cultures: Vec<Culture>,
    /// Spectra, one row per sample, ids `pNNN-dDD.D`.
    pub spectra: Table,
    /// Reference values (glucose mM, lactate mM, viable 10⁶/mL) with the same ids.
    pub reference: Table,
}

/// Refuses cohorts of no patient or of more than 10 000.
pub(crate) fn check_patients(n: usize) -> Result<(), PatError> {
    if n == 0 || n > 10_000 {
        return Err(PatError::Invalid(format!(
            "{n} patients: between 1 and 10000 are possible"
        )));
    }
    Ok(())
}

/// Simulates the cohort.
pub fn simulate(opts: &CohortOptions, instrument: &Instrument) -> Result<Cohort, PatError> {
    check_patients(opts.patients)?;
    if !(opts.dose.is_finite() && opts.dose > 0.0) {
        return Err(PatError::Invalid(format!(
            "dose {}: must be positive",
            opts.dose
        )));
    }
    let base = Params::default();
    let var = Variability::default();
    let mut cultures = Vec::with_capacity(opts.patients);
    let (mut ids, mut rows, mut refs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..opts.patients {
        let params = var.patient(&base, opts.seed, i as u64)?;
        let points = expansion::simulate(
            &params,
            &Initial::default(),
            opts.days,
            opts.every,
            |_, y| expansion::fixed_schedule(y[0]),
        )?;
        let harvest_day = expansion::harvest_day(&points, params.volume_ml, opts.dose);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream((1u64 << 32) + i as u64);
        for pt in &points {
            let s = pt.state;
            let c = Composition {
                glucose: s[2].max(0.0),
                lactate: s[3].max(0.0),
                cells: (s[0] + s[1]).max(0.0),
            };
            rows.extend(raman::spectrum(&c, instrument, &mut rng)?);
            refs.extend([c.glucose, c.lactate, s[0].max(0.0)]);
            ids.push(format!("p{i:03}-d{:04.1}", pt.day));
        }
        cultures.push(Culture {
            patient: i,
            params,
            points,
            harvest_day,
        });
    }
    let n = ids.len();
    let wavenumbers: Vec<String> = raman::axis().iter().map(|x| format!("{x}")).collect();
    let p = wavenumbers.len();
    let spectra = Table::new(
        "spectra.csv",
        "sample",
        wavenumbers,
        ids.clone(),
        DMatrix::from_row_slice(n, p, &rows),
    )?;
    let reference = Table::new(
        "reference.csv",
        "sample",
        vec![
            "glucose_mM".into(),
            "lactate_mM".into(),
            "viable_1e6_per_mL".into(),
        ],
        ids,
        DMatrix::from_row_slice(n, 3, &refs),
    )?;
    Ok(Cohort {
        cultures,
        spectra,
        reference,
    })
}

impl Cohort {
    /// The trajectories as CSV: patient, day, viable, dead, glucose, lactate, medium used,
    /// perfusion.
    pub fn trajectories_csv(&self) -> String {
        let mut out = String::from(
            "patient,day,viable_1e6_per_mL,dead_1e6_per_mL,glucose_mM,lactate_mM,medium_volumes,perfusion_per_day\n",
        );
        for c in &self.cultures {
            for pt in &c.points {
                let s = pt.state;
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    c.patient, pt.day, s[0], s[1], s[2], s[3], s[4], pt.perfusion
                ));
            }
        }
        out
    }

    /// Per patient: growth rate, lag, glucose uptake and harvest day.
    pub fn patients_csv(&self) -> String {
        let mut out = String::from(
            "patient,mu_max_per_day,lag_days,q_glucose_mM_per_day_per_1e6,harvest_day\n",
        );
        for c in &self.cultures {
            let h = c.harvest_day.map(|d| format!("{d}")).unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{},{h}\n",
                c.patient, c.params.mu_max, c.params.lag_days, c.params.q_glucose
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::SoftSensor;

    /// A cohort of `patients` with `seed`, their cultures followed for `days` (every 12 h)
    /// with the default instrument.
    fn cohort(patients: usize, seed: u64, days: f64) -> Cohort {
        let opts = CohortOptions {
            patients,
            seed,
            days,
            ..CohortOptions::default()
        };
        simulate(&opts, &Instrument::default()).expect("simulates")
    }

    /// The whole chain: cultures → spectra → soft sensor → estimates, with the error.
    #[test]
    fn soft_sensor_recovers_concentrations_of_new_patients() {
        let cal = cohort(8, 11, 12.0);
        let test = cohort(3, 12, 12.0);
        assert!(cal.cultures.iter().all(|c| c.harvest_day.is_some()));
        let opts = crate::control::culture_fit_options(Some(8));
        let sensor = SoftSensor::fit(&cal.spectra, &cal.reference, &opts).expect("fits");
        let preds = sensor.predict(&test.spectra).expect("predicts");
        let n = preds.len() as f64;
        let rmsep: Vec<f64> = (0..3)
            .map(|j| {
                (preds
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.values[j] - test.reference.values[(i, j)]).powi(2))
                    .sum::<f64>()
                    / n)
                    .sqrt()
            })
            .collect();
        // Glucose and lactate to about a millimolar, cells to a fraction of 10⁶/mL.
        assert!(
            rmsep[0] < 1.0 && rmsep[1] < 2.0 && rmsep[2] < 1.0,
            "RMSEP {rmsep:?}"
        );
        let inside = preds.iter().filter(|p| !p.domain.is_outside()).count();
        assert!(inside as f64 > 0.8 * n, "{inside} of {n} inside");
    }

    #[test]
    fn cohorts_are_reproducible_per_patient() {
        let a = cohort(2, 3, 2.0);
        let b = cohort(3, 3, 2.0);
        let rows = a.spectra.ids.len();
        assert_eq!(
            a.spectra.values,
            b.spectra.values.rows(0, rows).into_owned()
        );
        assert!(
            simulate(
                &CohortOptions {
                    patients: 0,
                    ..CohortOptions::default()
                },
                &Instrument::default()
            )
            .is_err()
        );
    }
}
