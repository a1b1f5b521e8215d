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

/// Lines through `(x, y)` points, one colour per line, with a legend for two or more lines.
/// `axes.marks` are vertical lines on the x axis.
pub fn line_chart(lines: &[Line], axes: &Axes) -> String {
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let pts: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|l| l.points.iter().copied())
        .filter(finite)
        .collect();
    if pts.is_empty() {
        return no_data(axes, "no finite point");
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
    let (w, h) = (axes.w(), axes.h());
    let mut c = Canvas::new(w, h, &axes.title);
    let mut top = draw_title(&mut c, axes);
    if lines.len() > 1 {
        top = draw_series_legend(&mut c, lines.iter().map(|l| l.name.as_str()), top, axes);
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
    let top = top + 6.0;
    let xs = Scale {
        d0: xt.lo,
        d1: xt.hi,
        p0: left,
        p1: right,
    };
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
    for (li, l) in lines.iter().enumerate() {
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
    draw_v_marks(&mut c, axes, &xs, (top, bottom));
    if !axes.y_label.is_empty() {
        draw_y_label(&mut c, &axes.y_label, (top, bottom));
    }
    draw_x_label(&mut c, axes, (left, right), bottom + 32.0);
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
}

fn x_format_is_integer(f: Format) -> bool {
    f == Format::Number(0)
}
