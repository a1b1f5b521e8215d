//! What every chart shares: the axes description ([`Axes`]: title, labels, size, number
//! formats, reference marks), tick positions, the data-to-pixel scale and the drawing of
//! titles, legends, value grids, axis labels, reference marks and notes.

use super::canvas::{AXIS, Canvas, GRID, MUTED, num, series_colour, text_w};

/// How numbers on a value axis and in tooltips are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A plain number with this many decimals.
    Number(usize),
    /// A fraction written as a percentage with this many decimals (0.853 → `85.3 %`).
    Percent(usize),
}

impl Format {
    /// Writes `v`; non-finite values become an en dash.
    pub fn fmt(self, v: f64) -> String {
        if !v.is_finite() {
            return "–".to_string();
        }
        match self {
            Format::Number(d) => fix_neg_zero(format!("{v:.d$}")),
            Format::Percent(d) => format!("{} %", fix_neg_zero(format!("{:.d$}", v * 100.0))),
        }
    }

    /// Like [`Format::fmt`] but with a few more decimals when the tick step needs them.
    /// Tick labels carry just the decimals the step needs (0.25 → 2, 20 → 0), so that
    /// neighbouring labels always differ.
    pub(super) fn tick(self, v: f64, step: f64) -> String {
        let need = |scale: f64| -> usize {
            let s = (step * scale).abs();
            if s <= 0.0 || !s.is_finite() {
                return 0;
            }
            (0..6)
                .find(|k| {
                    let x = s * 10f64.powi(*k);
                    (x - x.round()).abs() < 1e-6 * x.max(1.0)
                })
                .unwrap_or(6) as usize
        };
        match self {
            Format::Number(_) => Format::Number(need(1.0)).fmt(v),
            Format::Percent(_) => Format::Percent(need(100.0)).fmt(v),
        }
    }
}

fn fix_neg_zero(s: String) -> String {
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// How a reference mark is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkStyle {
    /// A dashed dark line (percentiles, means).
    Percentile,
    /// A solid red line (targets, limits).
    Target,
    /// A dotted grey line (capacity, 100 %).
    Limit,
}

/// A labelled line across the value axis (or the x axis of a histogram / line chart).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Position in data units.
    pub value: f64,
    /// Label written beside the line.
    pub label: String,
    /// Look.
    pub style: MarkStyle,
}

impl Mark {
    /// A mark.
    pub fn new(value: f64, label: impl Into<String>, style: MarkStyle) -> Self {
        Self {
            value,
            label: label.into(),
            style,
        }
    }

    pub(super) fn stroke(&self) -> (&'static str, &'static str) {
        match self.style {
            MarkStyle::Percentile => ("#222", "5 3"),
            MarkStyle::Target => ("#C0392B", ""),
            MarkStyle::Limit => ("#888", "2 3"),
        }
    }
}

/// Title, labels, size, number format and reference marks of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Axes {
    /// Title written above the plot (may be empty).
    pub title: String,
    /// Label of the x axis (categories axis for vertical bars).
    pub x_label: String,
    /// Label of the y axis (value axis for vertical bars).
    pub y_label: String,
    /// Width in pixels.
    pub width: f64,
    /// Height in pixels.
    pub height: f64,
    /// Format of the value axis.
    pub format: Format,
    /// Format of the x axis of histograms and line charts.
    pub x_format: Format,
    /// Reference marks on the value axis (x axis for histograms and line charts).
    pub marks: Vec<Mark>,
    /// Fixed lower end of the value axis.
    pub min: Option<f64>,
    /// Fixed upper end of the value axis (extended when data exceed it).
    pub max: Option<f64>,
    /// A note written under the plot (e.g. what the last bin holds).
    pub note: String,
}

impl Axes {
    /// Axes with a title, 640 × 320 px, numbers with one decimal.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            width: 640.0,
            height: 320.0,
            format: Format::Number(1),
            x_format: Format::Number(1),
            marks: Vec::new(),
            min: None,
            max: None,
            note: String::new(),
        }
    }

    /// Sets the x axis label.
    pub fn x_label(mut self, s: impl Into<String>) -> Self {
        self.x_label = s.into();
        self
    }

    /// Sets the y axis label.
    pub fn y_label(mut self, s: impl Into<String>) -> Self {
        self.y_label = s.into();
        self
    }

    /// Sets the size in pixels.
    pub fn size(mut self, width: f64, height: f64) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// Sets the value format.
    pub fn format(mut self, f: Format) -> Self {
        self.format = f;
        self
    }

    /// Sets the x format (histograms, line charts).
    pub fn x_format(mut self, f: Format) -> Self {
        self.x_format = f;
        self
    }

    /// Adds a reference mark.
    pub fn mark(mut self, m: Mark) -> Self {
        self.marks.push(m);
        self
    }

    /// Fixes the value range (the upper end still grows to fit the data).
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// Sets the note under the plot.
    pub fn note(mut self, s: impl Into<String>) -> Self {
        self.note = s.into();
        self
    }

    pub(super) fn w(&self) -> f64 {
        if self.width.is_finite() {
            self.width.clamp(160.0, 4000.0)
        } else {
            640.0
        }
    }

    pub(super) fn h(&self) -> f64 {
        if self.height.is_finite() {
            self.height.clamp(100.0, 4000.0)
        } else {
            320.0
        }
    }

    /// The first word of the x label, used to name a heat-map column in tooltips.
    pub(super) fn x_label_unit(&self) -> &str {
        self.x_label.split_whitespace().next().unwrap_or("column")
    }
}

/// "Nice" tick positions (steps of 1, 2 or 5 × 10^k) covering `[lo, hi]`, about `target` of
/// them. Returns the ticks and the step.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (vec![0.0, 1.0], 1.0);
    }
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    if !(hi - lo).is_finite() {
        return (vec![lo, hi], hi);
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let mut ticks = Vec::new();
    let mut k = 0.0;
    loop {
        let t = start + k * step;
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        if t >= hi - step * 1e-9 || ticks.len() > 200 {
            break;
        }
        k += 1.0;
    }
    (ticks, step)
}

/// A linear map from data to pixels.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scale {
    pub(super) d0: f64,
    pub(super) d1: f64,
    pub(super) p0: f64,
    pub(super) p1: f64,
}

impl Scale {
    pub(super) fn at(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span.abs() < f64::MIN_POSITIVE {
            return self.p0;
        }
        self.p0 + (v - self.d0) / span * (self.p1 - self.p0)
    }
}

/// A chart-sized note saying that there is nothing to plot, and why.
pub fn no_data(axes: &Axes, reason: &str) -> String {
    let (w, h) = (axes.w(), axes.h().min(140.0));
    let mut c = Canvas::new(w, h, &format!("{}: no data", axes.title));
    c.rect(0.5, 0.5, w - 1.0, h - 1.0, "#fafafa", "");
    if !axes.title.is_empty() {
        c.text(
            12.0,
            22.0,
            &axes.title,
            "start",
            "font-size=\"14\" font-weight=\"600\"",
        );
    }
    c.text(
        w / 2.0,
        h / 2.0 + 8.0,
        &format!("No data: {reason}"),
        "middle",
        &format!("fill=\"{MUTED}\" font-style=\"italic\" class=\"nodata\""),
    );
    c.finish()
}

/// Draws the title; returns the y below it.
pub(super) fn draw_title(c: &mut Canvas, axes: &Axes) -> f64 {
    if axes.title.is_empty() {
        8.0
    } else {
        let max = ((axes.w() - 16.0) / 8.0).max(8.0) as usize;
        c.text_clipped(
            8.0,
            20.0,
            &axes.title,
            max,
            "start",
            "font-size=\"14\" font-weight=\"600\"",
        );
        30.0
    }
}

/// Draws a legend row (wrapping); returns the y below it.
pub(super) fn draw_legend(
    c: &mut Canvas,
    names: &[(String, &str)],
    x0: f64,
    y: f64,
    width: f64,
) -> f64 {
    let mut x = x0;
    let mut y = y;
    for (name, colour) in names {
        let label: String = name.chars().take(40).collect();
        let w = 16.0 + text_w(&label, 12.0) + 14.0;
        if x > x0 && x + w > x0 + width {
            x = x0;
            y += 18.0;
        }
        c.rect(x, y + 2.0, 11.0, 11.0, colour, name);
        c.text(x + 15.0, y + 12.0, &label, "start", "");
        x += w;
    }
    y + 22.0
}

/// Draws the note under the plot.
pub(super) fn draw_note(c: &mut Canvas, axes: &Axes, y: f64) {
    if !axes.note.is_empty() {
        let max = ((axes.w() - 16.0) / 6.2).max(8.0) as usize;
        c.text_clipped(
            8.0,
            y,
            &axes.note,
            max,
            "start",
            &format!("fill=\"{MUTED}\" font-size=\"11\""),
        );
    }
}

pub(super) fn note_h(axes: &Axes) -> f64 {
    if axes.note.is_empty() { 0.0 } else { 16.0 }
}

/// Places mark labels: each label is centred on its line but kept within `[left, right]`;
/// labels are assigned to rows so that labels on one row do not overlap. Returns per mark the
/// x where its label starts and its row.
pub(super) fn mark_rows(marks: &[(f64, &Mark)], left: f64, right: f64) -> Vec<(f64, usize)> {
    let mut ends: Vec<f64> = Vec::new();
    let mut order: Vec<usize> = (0..marks.len()).collect();
    order.sort_by(|a, b| marks[*a].0.total_cmp(&marks[*b].0));
    let mut out = vec![(0.0, 0); marks.len()];
    for i in order {
        let (px, m) = marks[i];
        let w = text_w(&m.label, 11.0);
        let start = (px - w / 2.0).min(right - w).max(left);
        let row = ends
            .iter()
            .position(|e| *e + 4.0 < start)
            .unwrap_or(ends.len());
        if row == ends.len() {
            ends.push(start + w);
        } else {
            ends[row] = start + w;
        }
        out[i] = (start, row);
    }
    out
}

/// Draws vertical marks from `top` to `bottom` with their labels in the rows of
/// [`mark_rows`] (13 px each, the first row ending 11 px below `labels_top`); each label is a
/// `<text class="mark-label">`.
pub(super) fn draw_mark_rows(
    c: &mut Canvas,
    placed: &[(f64, &Mark)],
    rows: &[(f64, usize)],
    labels_top: f64,
    (top, bottom): (f64, f64),
) {
    for ((px, m), (start, row)) in placed.iter().zip(rows) {
        let (stroke, dash) = m.stroke();
        c.line(*px, top - 2.0, *px, bottom, stroke, 1.5, dash);
        let ly = labels_top + (*row as f64 + 1.0) * 13.0 - 2.0;
        c.text(
            *start,
            ly,
            &m.label,
            "start",
            &format!("font-size=\"11\" fill=\"{stroke}\" class=\"mark-label\""),
        );
    }
}

/// Marks at (almost) the same value and of the same style, merged into one with the labels
/// joined, so that e.g. equal percentiles do not stack three labels on one line.
pub(super) fn merge_marks(marks: &[Mark]) -> Vec<Mark> {
    let mut out: Vec<Mark> = Vec::new();
    for m in marks.iter().filter(|m| m.value.is_finite()) {
        let same = out.iter_mut().find(|o| {
            o.style == m.style && (o.value - m.value).abs() <= 1e-9 * o.value.abs().max(1.0)
        });
        match same {
            Some(o) => {
                o.label.push_str(", ");
                o.label.push_str(&m.label);
            }
            None => out.push(m.clone()),
        }
    }
    out
}

/// The ticks of an axis and the data range it shows: the data range widened to the outer
/// ticks.
pub(super) struct Ticks {
    /// Tick positions in data units.
    pub(super) at: Vec<f64>,
    /// Distance between ticks.
    pub(super) step: f64,
    /// Lower end of the axis.
    pub(super) lo: f64,
    /// Upper end of the axis.
    pub(super) hi: f64,
}

impl Ticks {
    /// About `target` nice ticks covering `[lo, hi]`.
    pub(super) fn new(lo: f64, hi: f64, target: usize) -> Self {
        let (at, step) = nice_ticks(lo, hi, target);
        Self::covering(at, step, lo, hi)
    }

    /// These ticks on an axis that shows at least `[lo, hi]`.
    pub(super) fn covering(at: Vec<f64>, step: f64, lo: f64, hi: f64) -> Self {
        let first = at.first().copied().unwrap_or(lo).min(lo);
        let last = at.last().copied().unwrap_or(hi).max(hi);
        Self {
            at,
            step,
            lo: first,
            hi: last,
        }
    }

    /// The tick labels in format `f`, with just the decimals the step needs.
    pub(super) fn labels(&self, f: Format) -> Vec<String> {
        self.at.iter().map(|v| f.tick(*v, self.step)).collect()
    }
}

/// Left edge of a plot whose value labels (and rotated y label, if any) are written left of
/// it.
pub(super) fn left_of(labels: &[String], axes: &Axes) -> f64 {
    let ylab_w = if axes.y_label.is_empty() { 4.0 } else { 18.0 };
    ylab_w + labels.iter().map(|s| text_w(s, 11.0)).fold(0.0, f64::max) + 10.0
}

/// Lower edge of a plot `h` high with tick labels, the x label and the note below it.
pub(super) fn plot_bottom(axes: &Axes, h: f64) -> f64 {
    h - 22.0 - if axes.x_label.is_empty() { 0.0 } else { 16.0 } - note_h(axes)
}

/// The legend of named series in palette order, drawn under the title at `top`; returns the
/// y below it.
pub(super) fn draw_series_legend<'a>(
    c: &mut Canvas,
    names: impl IntoIterator<Item = &'a str>,
    top: f64,
    axes: &Axes,
) -> f64 {
    let names: Vec<(String, &str)> = names
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), series_colour(i)))
        .collect();
    draw_legend(c, &names, 8.0, top - 4.0, axes.w() - 16.0)
}

/// Horizontal grid lines at the value ticks, with their labels left of the plot.
pub(super) fn draw_value_grid(
    c: &mut Canvas,
    ticks: &[f64],
    labels: &[String],
    ys: &Scale,
    (left, right): (f64, f64),
) {
    for (t, l) in ticks.iter().zip(labels) {
        let y = ys.at(*t);
        c.line(left, y, right, y, GRID, 1.0, "");
        c.text(left - 5.0, y + 4.0, l, "end", "font-size=\"11\"");
    }
}

/// Tick marks and labels of an x axis along `bottom`, the labels `label_dy` below it.
pub(super) fn draw_x_ticks(
    c: &mut Canvas,
    ticks: &Ticks,
    f: Format,
    xs: &Scale,
    bottom: f64,
    label_dy: f64,
) {
    for t in &ticks.at {
        if *t < ticks.lo - 1e-12 || *t > ticks.hi + 1e-12 {
            continue;
        }
        let x = xs.at(*t);
        c.line(x, bottom, x, bottom + 4.0, AXIS, 1.0, "");
        c.text(
            x,
            bottom + label_dy,
            &f.tick(*t, ticks.step),
            "middle",
            "font-size=\"11\"",
        );
    }
}

/// The reference marks of `axes` as horizontal lines across the plot, each label
/// right-aligned above its line.
pub(super) fn draw_h_marks(c: &mut Canvas, axes: &Axes, ys: &Scale, (left, right): (f64, f64)) {
    for m in axes.marks.iter().filter(|m| m.value.is_finite()) {
        let (stroke, dash) = m.stroke();
        let y = ys.at(m.value);
        c.line(left, y, right, y, stroke, 1.5, dash);
        c.text(
            right - 2.0,
            y - 3.0,
            &m.label,
            "end",
            &format!("font-size=\"11\" fill=\"{stroke}\""),
        );
    }
}

/// The reference marks of `axes` as vertical lines through the plot, each label right of
/// its line at the top.
pub(super) fn draw_v_marks(c: &mut Canvas, axes: &Axes, xs: &Scale, (top, bottom): (f64, f64)) {
    for m in axes.marks.iter().filter(|m| m.value.is_finite()) {
        let (stroke, dash) = m.stroke();
        let x = xs.at(m.value);
        c.line(x, top, x, bottom, stroke, 1.5, dash);
        c.text(
            x + 3.0,
            top + 9.0,
            &m.label,
            "start",
            &format!("font-size=\"11\" fill=\"{stroke}\""),
        );
    }
}

/// A y-axis label, rotated, centred between `top` and `bottom`.
pub(super) fn draw_y_label(c: &mut Canvas, label: &str, (top, bottom): (f64, f64)) {
    let my = (top + bottom) / 2.0;
    c.text(
        12.0,
        my,
        label,
        "middle",
        &format!("transform=\"rotate(-90 12 {})\" font-size=\"11\"", num(my)),
    );
}

/// The x label of `axes` (if any), centred under the plot at `y`.
pub(super) fn draw_x_label(c: &mut Canvas, axes: &Axes, (left, right): (f64, f64), y: f64) {
    if !axes.x_label.is_empty() {
        c.text((left + right) / 2.0, y, &axes.x_label, "middle", "");
    }
}
