//! Process analytical technology (PAT) for the expansion step of a cell-therapy process.
//!
//! The soft sensor turns spectra into concentrations by a multivariate calibration:
//! - [`table`]: numeric CSV tables (header row, sample id, numbers) with located errors;
//! - [`preprocess`]: standard normal variate and Savitzky–Golay filtering, row by row;
//! - [`pls`]: partial least squares regression (PLS1 and PLS2 by NIPALS), numerically the
//!   algorithm of scikit-learn's `PLSRegression`;
//! - [`sensor`]: a fitted, serialisable soft sensor with K-fold cross-validation, Hotelling T²
//!   and Q residuals with confidence limits, and applicability-domain flags on every prediction.
//!
//! The culture side:
//! - [`expansion`]: a T-cell expansion model (cells, glucose, lactate; perfusion as input) with
//!   cited parameters and a patient-to-patient variability model;
//! - [`raman`]: synthetic Raman spectra of a culture;
//! - [`cohort`]: simulated cohorts of cultures with spectra and reference values, to run the
//!   chain culture → spectra → soft sensor → estimates.
//!
//! Everything here is pure: texts come in, values go out; no file, clock or environment is read.

pub mod cohort;
pub mod control;
pub mod expansion;
pub mod mpc;
pub mod pls;
pub mod preprocess;
pub mod raman;
pub mod sensor;
pub mod table;

/// Everything that can go wrong in this crate; each message says what and where.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatError {
    /// A problem in a user-supplied table, with file, line and field.
    #[error(transparent)]
    Table(#[from] table::TableError),
    /// An invalid preprocessing specification or a sample it cannot process.
    #[error("preprocessing: {0}")]
    Preprocess(String),
    /// Invalid settings or data for the regression.
    #[error("{0}")]
    Invalid(String),
}

/// The lower bound a named setting must respect (besides being finite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// At least zero.
    NonNegative,
    /// Above zero.
    Positive,
}

/// Checks that each of the named `values` is finite and within `bound`, in order; the message
/// names the first that is not, as "`name` = value: must be finite and ≥ 0" (or "> 0").
pub(crate) fn check_finite(values: &[(&str, f64)], bound: Bound) -> Result<(), String> {
    for &(name, x) in values {
        let (within, rule) = match bound {
            Bound::NonNegative => (x >= 0.0, "≥ 0"),
            Bound::Positive => (x > 0.0, "> 0"),
        };
        if !(x.is_finite() && within) {
            return Err(format!("`{name}` = {x}: must be finite and {rule}"));
        }
    }
    Ok(())
}
