//! Rendering of results into self-contained HTML (tables and inline SVG plots) and CSV tables.
//! Pure: every function returns strings; the caller writes the files.
//!
//! [`svg`] holds the chart functions and [`page`] the HTML shell and table helpers that every
//! report of the crate shares.

pub mod cost;
mod csv_out;
pub mod decision;
mod html;
pub mod page;
pub mod record;
pub mod svg;

pub use csv_out::{comparison_csv, simulation_csv};
pub use html::{ReportOptions, comparison_html, simulation_html, simulation_html_with};
