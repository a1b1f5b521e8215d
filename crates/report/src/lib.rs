//! Rendering of results into self-contained HTML (tables and inline SVG plots) and CSV tables.
//! Pure: every function returns strings; the caller writes the files.
//!
//! Every page and chart of atmpflow is drawn here: the simulation and comparison reports, the
//! cost and study reports ([`cost`]), the production plan ([`plant_html`]). [`svg`] holds the
//! charts and [`page`] the HTML shell and table helpers that all of them share.

pub mod cost;
mod csv_out;
pub mod decision;
mod html;
pub mod network;
pub mod page;
pub mod pat;
mod plan;
pub mod record;
pub mod study_charts;
pub mod svg;

pub use csv_out::{
    comparison_csv, comparison_has_blocking, comparison_resources_csv, replications_csv_header,
    replications_csv_line, simulation_csv,
};
pub use html::{ReportOptions, comparison_html, simulation_html, simulation_html_with};
pub use network::{NetworkMeta, network_csv, network_html, network_study_csv, network_study_html};
pub use plan::{moves_csv, plan_csv, plant_csv, plant_csv_local, plant_html};
