//! Synthetic Raman spectra of a culture, so the whole chain — culture → spectra → soft sensor
//! → estimates — can be run and its error measured without an instrument.
//!
//! A spectrum on 800–1800 cm⁻¹ (4 cm⁻¹ steps) is the sum of: glucose bands (Gaussian), lactate
//! bands (Gaussian), a cell signal (Lorentzian protein and lipid bands, scaled by viable plus
//! dead cells), the medium's water band, a fluorescence baseline (a quadratic whose size grows
//! with cell density and varies per spectrum), an instrument shift of the wavenumber axis
//! (normal, per spectrum) and detector noise (normal). Band positions are the usual
//! assignments of the literature (glucose ~1125, 1060 and 911 cm⁻¹; lactate ~856, 1043 and
//! 1420 cm⁻¹; phenylalanine 1003, CH₂ 1450 and amide I 1655 cm⁻¹); their intensities, widths
//! and the noise levels are assumptions chosen so that glucose and lactate are recoverable at
//! millimolar precision, as reported for in-line Raman in cell culture.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::PatError;

/// A band: centre (cm⁻¹), half width (cm⁻¹), intensity per unit of its analyte.
type Band = (f64, f64, f64);

const GLUCOSE: [Band; 3] = [
    (1125.0, 12.0, 0.030),
    (1060.0, 14.0, 0.018),
    (911.0, 10.0, 0.012),
];
const LACTATE: [Band; 3] = [
    (856.0, 10.0, 0.025),
    (1043.0, 12.0, 0.015),
    (1420.0, 16.0, 0.012),
];
const CELLS: [Band; 3] = [
    (1003.0, 5.0, 0.060),
    (1450.0, 20.0, 0.080),
    (1655.0, 25.0, 0.070),
];
const WATER: Band = (1640.0, 60.0, 1.0);

/// Instrument and sample effects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    /// Standard deviation of the detector noise (intensity units).
    pub noise_sd: f64,
    /// Standard deviation of the wavenumber shift (cm⁻¹).
    pub shift_sd: f64,
    /// Fluorescence baseline per 10⁶ cells/mL (intensity at the axis end).
    pub baseline_per_cell: f64,
    /// Relative spread of the baseline between spectra.
    pub baseline_cv: f64,
}

impl Default for Instrument {
    /// Assumptions (see the module text).
    fn default() -> Self {
        Instrument {
            noise_sd: 0.01,
            shift_sd: 0.5,
            baseline_per_cell: 0.05,
            baseline_cv: 0.3,
        }
    }
}

/// The wavenumber axis (cm⁻¹).
pub fn axis() -> Vec<f64> {
    (0..=250).map(|i| 800.0 + 4.0 * i as f64).collect()
}

/// What a spectrum is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Composition {
    /// Glucose (mM).
    pub glucose: f64,
    /// Lactate (mM).
    pub lactate: f64,
    /// Viable plus dead cells (10⁶/mL).
    pub cells: f64,
}

/// One synthetic spectrum on [`axis`].
pub fn spectrum<R: Rng>(
    c: &Composition,
    inst: &Instrument,
    rng: &mut R,
) -> Result<Vec<f64>, PatError> {
    let bad = |m: String| PatError::Invalid(format!("synthetic spectrum: {m}"));
    let values = [
        c.glucose,
        c.lactate,
        c.cells,
        inst.noise_sd,
        inst.shift_sd,
        inst.baseline_per_cell,
        inst.baseline_cv,
    ];
    if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(bad(format!(
            "{c:?} / {inst:?}: every value must be finite and ≥ 0"
        )));
    }
    let normal = |sd: f64| Normal::new(0.0, sd).map_err(|e| bad(e.to_string()));
    let shift: f64 = normal(inst.shift_sd)?.sample(rng);
    let noise = normal(inst.noise_sd)?;
    let spread: f64 = normal(inst.baseline_cv)?.sample(rng);
    let base = inst.baseline_per_cell * c.cells * (1.0 + spread).max(0.0);
    let curve: f64 = rng.random_range(0.5..1.5);
    let gauss = |x: f64, (m, w, a): Band| a * (-((x - m - shift) / w).powi(2)).exp();
    let lorentz = |x: f64, (m, w, a): Band| a / (1.0 + ((x - m - shift) / w).powi(2));
    Ok(axis()
        .into_iter()
        .map(|x| {
            let u = (x - 800.0) / 1000.0;
            let mut v = gauss(x, WATER);
            v += GLUCOSE
                .iter()
                .map(|b| c.glucose * gauss(x, *b))
                .sum::<f64>();
            v += LACTATE
                .iter()
                .map(|b| c.lactate * gauss(x, *b))
                .sum::<f64>();
            v += CELLS.iter().map(|b| c.cells * lorentz(x, *b)).sum::<f64>();
            v += base * (u + curve * u * u);
            v + noise.sample(rng)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn bands_appear_where_their_analyte_is() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let inst = Instrument {
            noise_sd: 0.0,
            shift_sd: 0.0,
            baseline_per_cell: 0.0,
            baseline_cv: 0.0,
        };
        let blank = spectrum(
            &Composition {
                glucose: 0.0,
                lactate: 0.0,
                cells: 0.0,
            },
            &inst,
            &mut rng,
        )
        .expect("ok");
        let sugar = spectrum(
            &Composition {
                glucose: 10.0,
                lactate: 0.0,
                cells: 0.0,
            },
            &inst,
            &mut rng,
        )
        .expect("ok");
        let ax = axis();
        let at = |wn: f64| {
            ax.iter()
                .position(|x| (*x - wn).abs() < 2.1)
                .expect("on axis")
        };
        assert!((sugar[at(1124.0)] - blank[at(1124.0)] - 0.3).abs() < 0.01);
        assert!((sugar[at(1500.0)] - blank[at(1500.0)]).abs() < 1e-6);
        assert_eq!(ax.len(), 251);
        let bad = Composition {
            glucose: -1.0,
            lactate: 0.0,
            cells: 0.0,
        };
        assert!(spectrum(&bad, &inst, &mut rng).is_err());
    }
}
