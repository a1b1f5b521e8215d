//! Bar charts: grouped vertical and horizontal bars with 95 % CI whiskers, and stacked bars.

use super::axes::*;
use super::canvas::*;

/// A value with an optional 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value {
    /// Point estimate.
    pub mean: f64,
    /// 95 % confidence interval, `[low, high]`.
    pub ci: Option<[f64; 2]>,
}

impl Value {
    /// A value without interval.
    pub fn plain(mean: f64) -> Self {
        Self { mean, ci: None }
    }

    /// A value with its interval.
    pub fn with_ci(mean: f64, ci: [f64; 2]) -> Self {
        Self { mean, ci: Some(ci) }
    }

    pub(super) fn finite_ci(&self) -> Option<[f64; 2]> {
        self.ci
            .filter(|c| c[0].is_finite() && c[1].is_finite())
            .map(|c| [c[0].min(c[1]), c[0].max(c[1])])
    }
}

/// One series of a bar chart: one optional value per category.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name (the legend is shown for two or more series).
    pub name: String,
    /// Values, one per category; `None` draws nothing.
    pub values: Vec<Option<Value>>,
}

/// One layer of a stacked bar chart: one value per category.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Legend name.
    pub name: String,
    /// Values (non-negative), one per category.
    pub values: Vec<f64>,
}

/// The value range of bar-like charts: includes 0, every value and interval end, the marks
/// and the fixed range of the axes; `None` when there is no finite value.
fn value_range(series: &[Series], axes: &Axes) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in series.iter().flat_map(|s| s.values.iter().flatten()) {
        if v.mean.is_finite() {
            lo = lo.min(v.mean);
            hi = hi.max(v.mean);
            if let Some([a, b]) = v.finite_ci() {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
    }
    if !lo.is_finite() {
        return None;
    }
    for m in axes.marks.iter().filter(|m| m.value.is_finite()) {
        lo = lo.min(m.value);
        hi = hi.max(m.value);
    }
    lo = lo.min(0.0);
    hi = hi.max(0.0);
    if let Some(m) = axes.min.filter(|m| m.is_finite()) {
        lo = lo.min(m);
    }
    if let Some(m) = axes.max.filter(|m| m.is_finite()) {
        hi = hi.max(m);
    }
    Some((lo, hi))
}

/// The label of category `index` centred under its band (bands of width `band` from `left`).
fn draw_category(
    c: &mut Canvas,
    cat: &str,
    (left, band): (f64, f64),
    index: usize,
    bottom: f64,
    max_chars: usize,
) {
    c.text_clipped(
        left + band * (index as f64 + 0.5),
        bottom + 15.0,
        cat,
        max_chars,
        "middle",
        "font-size=\"11\"",
    );
}

/// Draws what follows the columns of a vertical bar chart — the base line at `baseline`,
/// reference marks, axis labels, note — and returns the chart.
fn finish_columns(
    mut c: Canvas,
    axes: &Axes,
    ys: &Scale,
    baseline: f64,
    (left, right): (f64, f64),
    (top, bottom): (f64, f64),
) -> String {
    c.line(left, baseline, right, baseline, AXIS, 1.0, "");
    draw_h_marks(&mut c, axes, ys, (left, right));
    if !axes.y_label.is_empty() {
        draw_y_label(&mut c, &axes.y_label, (top, bottom));
    }
    draw_x_label(&mut c, axes, (left, right), bottom + 32.0);
    draw_note(&mut c, axes, axes.h() - 6.0);
    c.finish()
}

/// The value range of a grouped bar chart, or the "no data" note to draw instead.
fn bar_range(categories: &[String], series: &[Series], axes: &Axes) -> Result<(f64, f64), String> {
    if categories.is_empty() || series.is_empty() {
        return Err(no_data(axes, "nothing to compare"));
    }
    value_range(series, axes).ok_or_else(|| no_data(axes, "no finite value"))
}

fn bar_tip(cat: &str, series: &str, v: &Value, f: Format) -> String {
    let who = if series.is_empty() {
        cat.to_string()
    } else {
        format!("{cat} — {series}")
    };
    match v.finite_ci() {
        Some([a, b]) => format!(
            "{who}: {} [95 % CI {}, {}]",
            f.fmt(v.mean),
            f.fmt(a),
            f.fmt(b)
        ),
        None => format!("{who}: {}", f.fmt(v.mean)),
    }
}

/// Vertical bars, grouped by category (one bar per series), with 95 % CI whiskers where a
/// value has an interval.
pub fn bar_chart(categories: &[String], series: &[Series], axes: &Axes) -> String {
    let (vlo, vhi) = match bar_range(categories, series, axes) {
        Ok(range) => range,
        Err(note) => return note,
    };
    let (w, h) = (axes.w(), axes.h());
    let mut c = Canvas::new(w, h, &axes.title);
    let mut top = draw_title(&mut c, axes);
    if series.len() > 1 {
        top = draw_series_legend(&mut c, series.iter().map(|s| s.name.as_str()), top, axes);
    }
    let vt = Ticks::new(vlo, vhi, 5);
    let (d0, d1) = (vt.lo, vt.hi);
    let labels = vt.labels(axes.format);
    let left = left_of(&labels, axes);
    let right = w - 12.0;
    let band = (right - left) / categories.len() as f64;
    let max_chars = ((band - 4.0) / 6.5).max(3.0) as usize;
    let bottom = plot_bottom(axes, h);
    let ys = Scale {
        d0,
        d1,
        p0: bottom,
        p1: top + 6.0,
    };
    draw_value_grid(&mut c, &vt.at, &labels, &ys, (left, right));
    let zero = ys.at(0.0_f64.clamp(d0, d1));
    let inner = band * 0.78;
    let bw = inner / series.len() as f64;
    for (ci, cat) in categories.iter().enumerate() {
        let bx = left + band * ci as f64 + (band - inner) / 2.0;
        for (si, s) in series.iter().enumerate() {
            let Some(v) = s.values.get(ci).copied().flatten() else {
                continue;
            };
            if !v.mean.is_finite() {
                continue;
            }
            let x = bx + bw * si as f64;
            let y = ys.at(v.mean);
            let tip = bar_tip(
                cat,
                if series.len() > 1 { &s.name } else { "" },
                &v,
                axes.format,
            );
            c.rect(
                x + 0.5,
                y.min(zero),
                (bw - 1.0).max(1.0),
                (zero - y).abs(),
                series_colour(si),
                &tip,
            );
            if let Some([a, b]) = v.finite_ci() {
                let mx = x + bw / 2.0;
                let cap = (bw * 0.25).clamp(2.0, 8.0);
                let (ya, yb) = (ys.at(a), ys.at(b));
                c.line(mx, ya, mx, yb, "#111", 1.3, "");
                c.line(mx - cap, ya, mx + cap, ya, "#111", 1.3, "");
                c.line(mx - cap, yb, mx + cap, yb, "#111", 1.3, "");
            }
        }
        draw_category(&mut c, cat, (left, band), ci, bottom, max_chars);
    }
    finish_columns(c, axes, &ys, zero, (left, right), (top, bottom))
}

/// Horizontal bars, grouped by category (one bar per series), with 95 % CI whiskers and the
/// value written beside each bar. The height grows with the number of bars when
/// `axes.height` is too small for them.
pub fn hbar_chart(categories: &[String], series: &[Series], axes: &Axes) -> String {
    let (vlo, vhi) = match bar_range(categories, series, axes) {
        Ok(range) => range,
        Err(note) => return note,
    };
    let w = axes.w();
    let bar_h = if series.len() > 1 { 14.0 } else { 18.0 };
    let band = bar_h * series.len() as f64 + 8.0;
    let legend_h = if series.len() > 1 {
        18.0 * (1.0
            + series
                .iter()
                .map(|s| text_w(&s.name, 12.0) + 30.0)
                .sum::<f64>()
                / (w - 16.0))
            .floor()
            + 6.0
    } else {
        0.0
    };
    let title_h = if axes.title.is_empty() { 8.0 } else { 30.0 };
    let foot = 22.0 + if axes.x_label.is_empty() { 0.0 } else { 16.0 } + note_h(axes);
    let need = title_h + legend_h + band * categories.len() as f64 + foot + 8.0;
    let h = axes.h().max(need);
    let mut c = Canvas::new(w, h, &axes.title);
    let mut top = draw_title(&mut c, axes);
    if series.len() > 1 {
        top = draw_series_legend(&mut c, series.iter().map(|s| s.name.as_str()), top, axes);
    }
    let label_chars = 36usize;
    let left = 8.0
        + categories
            .iter()
            .map(|s| text_w(&s.chars().take(label_chars).collect::<String>(), 12.0))
            .fold(0.0, f64::max)
        + 8.0;
    let vt = Ticks::new(vlo, vhi, 5);
    let (d0, d1) = (vt.lo, vt.hi);
    // Room on the right for the value labels of the longest bars.
    let right = w - 12.0 - 64.0;
    let left = left.min(w * 0.45);
    let bottom = h - foot;
    let xs = Scale {
        d0,
        d1,
        p0: left,
        p1: right,
    };
    let band = (bottom - top - 4.0) / categories.len() as f64;
    for t in &vt.at {
        let x = xs.at(*t);
        c.line(x, top, x, bottom, GRID, 1.0, "");
        c.text(
            x,
            bottom + 15.0,
            &axes.format.tick(*t, vt.step),
            "middle",
            "font-size=\"11\"",
        );
    }
    let zero = xs.at(0.0_f64.clamp(d0, d1));
    for (ci, cat) in categories.iter().enumerate() {
        let by = top + 4.0 + band * ci as f64;
        let inner = (band - 8.0).max(2.0);
        let bh = inner / series.len() as f64;
        c.text_clipped(
            left - 6.0,
            by + band / 2.0,
            cat,
            label_chars,
            "end",
            "dominant-baseline=\"middle\"",
        );
        for (si, s) in series.iter().enumerate() {
            let Some(v) = s.values.get(ci).copied().flatten() else {
                continue;
            };
            if !v.mean.is_finite() {
                continue;
            }
            let y = by + 4.0 + bh * si as f64;
            let name = if series.len() > 1 {
                s.name.as_str()
            } else {
                ""
            };
            draw_hbar(&mut c, axes, &xs, (zero, y, bh), (cat, name, si), &v);
        }
    }
    c.line(zero, top, zero, bottom, AXIS, 1.0, "");
    draw_v_marks(&mut c, axes, &xs, (top, bottom));
    draw_x_label(&mut c, axes, (left, right), bottom + 32.0);
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
}

/// Draws one horizontal bar of series `si` from `zero` at row `y` (height `bh`), with its CI
/// whisker and its value written after the end.
fn draw_hbar(
    c: &mut Canvas,
    axes: &Axes,
    xs: &Scale,
    (zero, y, bh): (f64, f64, f64),
    (cat, name, si): (&str, &str, usize),
    v: &Value,
) {
    let x = xs.at(v.mean);
    let tip = bar_tip(cat, name, v, axes.format);
    c.rect(
        x.min(zero),
        y + 0.5,
        (x - zero).abs(),
        (bh - 1.0).max(1.0),
        series_colour(si),
        &tip,
    );
    let mut end = x.max(zero);
    if let Some([a, b]) = v.finite_ci() {
        let my = y + bh / 2.0;
        let cap = (bh * 0.3).clamp(2.0, 6.0);
        let (xa, xb) = (xs.at(a), xs.at(b));
        c.line(xa, my, xb, my, "#111", 1.3, "");
        c.line(xa, my - cap, xa, my + cap, "#111", 1.3, "");
        c.line(xb, my - cap, xb, my + cap, "#111", 1.3, "");
        end = end.max(xb);
    }
    c.text(
        end + 4.0,
        y + bh / 2.0 + 4.0,
        &axes.format.fmt(v.mean),
        "start",
        &format!("font-size=\"11\" fill=\"{MUTED}\""),
    );
}

/// Vertical stacked bars: one bar per category, one coloured segment per layer (negative and
/// non-finite values count as zero), the total written above each bar.
pub fn stacked_bars(categories: &[String], layers: &[Layer], axes: &Axes) -> String {
    if categories.is_empty() || layers.is_empty() {
        return no_data(axes, "nothing to stack");
    }
    let val = |l: &Layer, i: usize| {
        l.values
            .get(i)
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(0.0)
    };
    let totals: Vec<f64> = (0..categories.len())
        .map(|i| layers.iter().map(|l| val(l, i)).sum())
        .collect();
    let tmax = totals.iter().copied().fold(0.0, f64::max);
    if tmax <= 0.0 {
        return no_data(axes, "every value is zero");
    }
    let series: Vec<Series> = vec![Series {
        name: String::new(),
        values: totals.iter().map(|t| Some(Value::plain(*t))).collect(),
    }];
    let Some((vlo, vhi)) = value_range(&series, axes) else {
        return no_data(axes, "no finite value");
    };
    let (w, h) = (axes.w(), axes.h());
    let mut c = Canvas::new(w, h, &axes.title);
    let top = draw_title(&mut c, axes);
    let top = draw_series_legend(&mut c, layers.iter().map(|l| l.name.as_str()), top, axes) + 10.0;
    let vt = Ticks::new(vlo, vhi, 5);
    let d1 = vt.hi;
    let labels = vt.labels(axes.format);
    let left = left_of(&labels, axes);
    let right = w - 12.0;
    let bottom = plot_bottom(axes, h);
    let ys = Scale {
        d0: 0.0,
        d1,
        p0: bottom,
        p1: top,
    };
    draw_value_grid(&mut c, &vt.at, &labels, &ys, (left, right));
    let band = (right - left) / categories.len() as f64;
    let bw = band * 0.6;
    let max_chars = ((band - 4.0) / 6.5).max(3.0) as usize;
    for (ci, cat) in categories.iter().enumerate() {
        let x = left + band * ci as f64 + (band - bw) / 2.0;
        let mut acc = 0.0;
        for (li, l) in layers.iter().enumerate() {
            let v = val(l, ci);
            if v <= 0.0 {
                continue;
            }
            let (y0, y1) = (ys.at(acc), ys.at(acc + v));
            c.rect(
                x,
                y1,
                bw,
                y0 - y1,
                series_colour(li),
                &format!("{cat} — {}: {}", l.name, axes.format.fmt(v)),
            );
            acc += v;
        }
        c.text(
            x + bw / 2.0,
            ys.at(totals[ci]) - 4.0,
            &axes.format.fmt(totals[ci]),
            "middle",
            &format!("font-size=\"11\" fill=\"{MUTED}\""),
        );
        draw_category(&mut c, cat, (left, band), ci, bottom, max_chars);
    }
    finish_columns(c, axes, &ys, bottom, (left, right), (top, bottom))
}
