//! Line charts.

use super::axes::*;
use super::canvas::*;

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Legend name.
    pub name: String,
    /// Points `(x, y)`; a non-finite point breaks the line.
    pub points: Vec<(f64, f64)>,
}

/// A shaded band between a lower and an upper curve (e.g. a prediction's uncertainty).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Legend name.
    pub name: String,
    /// The line (index into the chart's lines) whose colour the band takes.
    pub line: usize,
    /// Points `(x, low, high)`; a non-finite point breaks the band.
    pub points: Vec<(f64, f64, f64)>,
}

/// Lines through `(x, y)` points, one colour per line, with a legend for two or more lines.
/// `axes.marks` are vertical lines on the x axis, their labels above the plot in as many rows
/// as they need not to overlap.
pub fn line_chart(lines: &[Line], axes: &Axes) -> String {
    line_chart_with_bands(lines, &[], axes)
}

/// [`line_chart`] with shaded bands drawn under the lines (each as `<path class="band">`,
/// translucent, in its line's colour, listed in the legend).
pub fn line_chart_with_bands(lines: &[Line], bands: &[Band], axes: &Axes) -> String {
    let Some((x0, x1, y0, y1)) = line_bounds(lines, bands, axes) else {
        return no_data(axes, "no finite point");
    };
    let (w, h) = (axes.w(), axes.h());
    let mut c = Canvas::new(w, h, &axes.title);
    let mut top = draw_title(&mut c, axes);
    if lines.len() > 1 || !bands.is_empty() {
        let mut names: Vec<(String, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.name.clone(), series_colour(i)))
            .collect();
        names.extend(
            bands
                .iter()
                .map(|b| (b.name.clone(), series_colour(b.line))),
        );
        top = draw_legend(&mut c, &names, 8.0, top - 4.0, axes.w() - 16.0);
    }
    let yt = Ticks::new(y0, y1, 5);
    let (mut xt, mut xstep) = nice_ticks(x0, x1, 8);
    if x_format_is_integer(axes.x_format) && xstep < 1.0 {
        // Whole numbers only (e.g. replication indices).
        xt.retain(|t| t.fract() == 0.0);
        xstep = 1.0;
    }
    let xt = Ticks::covering(xt, xstep, x0, x1);
    let labels = yt.labels(axes.format);
    let left = left_of(&labels, axes);
    let right = w - 14.0;
    let bottom = plot_bottom(axes, h);
    let xs = Scale {
        d0: xt.lo,
        d1: xt.hi,
        p0: left,
        p1: right,
    };
    let marks = merge_marks(&axes.marks);
    let placed: Vec<(f64, &Mark)> = marks.iter().map(|m| (xs.at(m.value), m)).collect();
    let rows = mark_rows(&placed, 2.0, w - 2.0);
    let nrows = rows.iter().map(|r| r.1 + 1).max().unwrap_or(0) as f64;
    let labels_top = top;
    let top = top + nrows * 13.0 + 6.0;
    let ys = Scale {
        d0: yt.lo,
        d1: yt.hi,
        p0: bottom,
        p1: top,
    };
    draw_value_grid(&mut c, &yt.at, &labels, &ys, (left, right));
    c.line(left, bottom, right, bottom, AXIS, 1.0, "");
    c.line(left, top, left, bottom, AXIS, 1.0, "");
    draw_x_ticks(&mut c, &xt, axes.x_format, &xs, bottom, 15.0);
    for b in bands {
        draw_band(&mut c, b, &xs, &ys);
    }
    for (li, l) in lines.iter().enumerate() {
        draw_line(&mut c, li, l, axes, &xs, &ys);
    }
    draw_mark_rows(&mut c, &placed, &rows, labels_top, (top, bottom));
    if !axes.y_label.is_empty() {
        draw_y_label(&mut c, &axes.y_label, (top, bottom));
    }
    draw_x_label(&mut c, axes, (left, right), bottom + 32.0);
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
}

/// Whether a line point is drawable.
fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// Whether a band point is drawable.
fn band_ok(p: &(f64, f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite() && p.2.is_finite()
}

/// The data range `(x0, x1, y0, y1)` of the lines and bands, widened to the marks and the
/// axes' fixed minimum and maximum; `None` without a finite point.
fn line_bounds(lines: &[Line], bands: &[Band], axes: &Axes) -> Option<(f64, f64, f64, f64)> {
    let pts: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|l| l.points.iter().copied())
        .chain(
            bands
                .iter()
                .flat_map(|b| b.points.iter().filter(|p| band_ok(p)))
                .flat_map(|p| [(p.0, p.1), (p.0, p.2)]),
        )
        .filter(finite)
        .collect();
    if pts.is_empty() {
        return None;
    }
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for (x, y) in &pts {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    for m in axes.marks.iter().filter(|m| m.value.is_finite()) {
        x0 = x0.min(m.value);
        x1 = x1.max(m.value);
    }
    if let Some(m) = axes.min.filter(|m| m.is_finite()) {
        y0 = y0.min(m);
    }
    if let Some(m) = axes.max.filter(|m| m.is_finite()) {
        y1 = y1.max(m);
    }
    Some((x0, x1, y0, y1))
}

/// Draws a band as one shaded area per run of drawable points.
fn draw_band(c: &mut Canvas, b: &Band, xs: &Scale, ys: &Scale) {
    let mut run: Vec<(f64, f64, f64)> = Vec::new();
    for p in b
        .points
        .iter()
        .chain(std::iter::once(&(f64::NAN, 0.0, 0.0)))
    {
        if band_ok(p) {
            run.push((xs.at(p.0), ys.at(p.1), ys.at(p.2)));
        } else {
            let outline: Vec<(f64, f64)> = run
                .iter()
                .map(|q| (q.0, q.2))
                .chain(run.iter().rev().map(|q| (q.0, q.1)))
                .collect();
            c.area(&outline, series_colour(b.line), 0.22, "band", &b.name);
            run.clear();
        }
    }
}

/// Draws line `li` as one polyline per run of drawable points, with a dot and tooltip on
/// each point when it has at most 60.
fn draw_line(c: &mut Canvas, li: usize, l: &Line, axes: &Axes, xs: &Scale, ys: &Scale) {
    let colour = series_colour(li);
    let mut run: Vec<(f64, f64)> = Vec::new();
    for p in &l.points {
        if finite(p) {
            run.push((xs.at(p.0), ys.at(p.1)));
        } else {
            c.polyline(&run, colour, 2.0);
            run.clear();
        }
    }
    c.polyline(&run, colour, 2.0);
    let good: Vec<&(f64, f64)> = l.points.iter().filter(|p| finite(p)).collect();
    if good.len() <= 60 {
        for p in good {
            let tip = format!(
                "{}: {} → {}",
                l.name,
                axes.x_format.fmt(p.0),
                axes.format.fmt(p.1)
            );
            c.circle(xs.at(p.0), ys.at(p.1), 2.5, colour, &tip);
        }
    }
}

fn x_format_is_integer(f: Format) -> bool {
    f == Format::Number(0)
}
