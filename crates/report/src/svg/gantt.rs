//! Gantt charts: one row per resource or per job, one bar per operation on a time axis in
//! hours (labelled in days for long plans).

use super::axes::{Axes, no_data};
use super::canvas::{Canvas, text_w};

/// One row of a Gantt chart.
#[derive(Debug, Clone, PartialEq)]
pub struct GanttRow {
    /// Label written left of the row (cut with an ellipsis when too long).
    pub label: String,
    /// The operations in the row.
    pub bars: Vec<GanttBar>,
}

/// One operation of a Gantt chart.
#[derive(Debug, Clone, PartialEq)]
pub struct GanttBar {
    /// Start, hours from the start of the plan.
    pub start: f64,
    /// End, hours from the start of the plan.
    pub end: f64,
    /// Colour index: bars with the same index have the same colour (e.g. one per patient);
    /// [`GanttBar::GREY`] draws the bar grey (unavailable time such as maintenance).
    pub colour: usize,
    /// Tooltip.
    pub tip: String,
    /// Drawn with a thick dashed black outline (an operation a re-plan moved); a chart with
    /// such bars has a legend saying so.
    pub moved: bool,
}

impl GanttBar {
    /// Colour index of grey bars: times a resource is not available.
    pub const GREY: usize = usize::MAX;
}

const LABEL_W: f64 = 190.0;
const ROW_H: f64 = 18.0;
const TOP: f64 = 28.0;
/// Tick steps of the time axis in hours; the first that gives at most 14 ticks is used.
const STEPS_H: [f64; 11] = [
    1.0, 2.0, 4.0, 6.0, 12.0, 24.0, 48.0, 96.0, 168.0, 336.0, 720.0,
];

/// Colour of index `i`: hues a golden angle apart, so that neighbouring indices differ
/// clearly however many there are (the series palette has only eight colours).
fn hue(i: usize) -> String {
    if i == GanttBar::GREY {
        return "#bbb".to_string();
    }
    let h = (i as f64 * 137.508) % 360.0;
    format!("hsl({h:.0},55%,62%)")
}

/// A Gantt chart of `rows`, `axes.width` wide (the height follows from the number of rows;
/// `axes.title` is the accessible title). Bars with non-finite times are left out; without
/// rows or without any finite bar the chart is a "no data" note. The time axis ends at the last
/// bar or at the axes' upper range ([`Axes::range`]), whichever is later.
pub fn gantt(rows: &[GanttRow], axes: &Axes) -> String {
    if rows.is_empty() {
        return no_data(axes, "no rows");
    }
    let finite = |b: &&GanttBar| b.start.is_finite() && b.end.is_finite();
    let Some(end) = rows
        .iter()
        .flat_map(|r| r.bars.iter().filter(finite))
        .map(|b| b.end.max(b.start))
        .reduce(f64::max)
    else {
        return no_data(axes, "no operation with finite times");
    };
    // the time axis runs to the last bar, or further if the axes ask for it (charts of one plan
    // that should share a scale)
    let end = axes.max.map_or(end, |m| end.max(m));
    let hours = if end > 0.0 { end } else { 1.0 };
    let w = axes.w();
    let marked = rows.iter().any(|r| r.bars.iter().any(|b| b.moved));
    // the chart, then (with marked bars) a legend line under the time axis
    let base = TOP + ROW_H * rows.len() as f64 + 24.0;
    let h = if marked { base + 22.0 } else { base };
    let x = |t: f64| LABEL_W + (w - LABEL_W - 10.0) * (t / hours);
    let mut c = Canvas::new(w, h, &axes.title);
    let step = STEPS_H
        .into_iter()
        .find(|&st| hours / st <= 14.0)
        .unwrap_or(1440.0);
    let mut t = 0.0;
    while t <= hours {
        let label = if step >= 24.0 {
            format!("day {:.0}", t / 24.0)
        } else {
            format!("{t:.0} h")
        };
        c.line(x(t), TOP - 4.0, x(t), base - 20.0, "#ddd", 1.0, "");
        c.text(
            x(t),
            base - 6.0,
            &label,
            "middle",
            "font-size=\"11\" fill=\"#555\"",
        );
        t += step;
    }
    let label_chars = ((LABEL_W - 8.0) / text_w("x", 11.0)) as usize;
    for (r, row) in rows.iter().enumerate() {
        let y = TOP + r as f64 * ROW_H;
        c.text_clipped(
            4.0,
            y + 13.0,
            &row.label,
            label_chars,
            "start",
            "font-size=\"11\" fill=\"#222\"",
        );
        for b in row.bars.iter().filter(finite) {
            let (x0, x1) = (x(b.start.min(b.end)), x(b.end.max(b.start)));
            let (bw, bh) = ((x1 - x0).max(0.8), ROW_H - 4.0);
            if b.moved {
                c.rect_marked(x0, y + 2.0, bw, bh, &hue(b.colour), &b.tip);
            } else {
                c.rect_outlined(x0, y + 2.0, bw, bh, &hue(b.colour), "#333", &b.tip);
            }
        }
    }
    if marked {
        c.rect_marked(LABEL_W, base + 3.0, 28.0, ROW_H - 4.0, "#fff", "");
        c.text(
            LABEL_W + 36.0,
            base + 15.0,
            "moved by the re-plan (start or resources changed)",
            "start",
            "font-size=\"11\" fill=\"#222\"",
        );
    }
    c.finish()
}
