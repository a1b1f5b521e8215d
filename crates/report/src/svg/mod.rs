//! Small, dependency-free SVG charts for the HTML reports.
//!
//! Every chart function takes its data and an [`Axes`] (title, labels, size, number format,
//! reference marks) and returns one self-contained `<svg>` element as a string: no scripts,
//! no external fonts, stylesheets or images. Every text is escaped. Charts never panic: empty
//! data or data without a finite value gives a chart-sized "no data" note ([`no_data`]);
//! non-finite values are skipped. Tooltips are `<title>` elements, which browsers show on
//! hover without any script.
//!
//! The module has three layers:
//! * `canvas`: the low-level [`Canvas`] (shapes and escaped texts), the colours and the one
//!   [`escape`] of the crate;
//! * `axes`: what every chart shares — [`Axes`], [`Format`], [`Mark`], [`nice_ticks`], the
//!   data-to-pixel scale and the drawing of titles, legends, value grids, axis labels, marks
//!   and notes;
//! * the chart kinds, shared by every report of the crate (simulation, comparison, plans,
//!   costs, studies): [`histogram`], [`bar_chart`] / [`hbar_chart`] (grouped, with 95 % CI
//!   whiskers), [`stacked_bars`], [`line_chart`], [`xy_chart`] (scatters and curves
//!   with bands, open points that miss a requirement and cut axes), [`heat_map`], [`gantt`]
//!   and [`flow_map`] (places joined by flows, on a schematic map when every place has
//!   coordinates).

mod axes;
mod bars;
mod canvas;
mod flowmap;
mod gantt;
mod heat;
mod histogram;
mod line;
#[cfg(test)]
mod tests;
mod xy;

pub use axes::{Axes, Format, Mark, MarkStyle, nice_ticks, no_data};
pub use bars::{Layer, Series, Value, bar_chart, hbar_chart, stacked_bars};
pub use canvas::{Canvas, PALETTE, escape, escape_markup, ramp, series_colour, standalone};
pub use flowmap::{FlowLine, Place, PlaceKind, flow_map};
pub use gantt::{GanttBar, GanttRow, gantt};
pub use heat::heat_map;
pub use histogram::histogram;
pub use line::{Band, Line, line_chart, line_chart_with_bands};
pub use xy::{Curve, XyChart, XyPoint, xy_chart};
