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
