//! Small, dependency-free SVG charts for the HTML reports.
//!
//! Every chart function takes its data and an [`Axes`] (title, labels, size, number format,
//! reference marks) and returns one self-contained `<svg>` element as a string: no scripts,
//! no external fonts, stylesheets or images. Every text is escaped. Charts never panic: empty
//! data or data without a finite value gives a chart-sized "no data" note ([`no_data`]);
//! non-finite values are skipped. Tooltips are `<title>` elements, which browsers show on
//! hover without any script.
//!
//! The functions are shared by every report of the crate (simulation, comparison, plans,
//! costs): [`histogram`], [`bar_chart`] / [`hbar_chart`] (grouped, with 95 % CI whiskers),
//! [`stacked_bars`], [`line_chart`], [`heat_map`], plus the low-level [`Canvas`].

use std::fmt::Write as _;

/// Colour-blind safe palette (Okabe & Ito 2008), used in order for series.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];

/// Colour of series `i` (cycling through [`PALETTE`]).
pub fn series_colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

const FONT: &str = "system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";
const AXIS: &str = "#444";
const GRID: &str = "#e3e3e3";
const MUTED: &str = "#666";

/// Escapes a string for HTML and XML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 and mean nothing in a report.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

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
    fn tick(self, v: f64, step: f64) -> String {
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

    fn stroke(&self) -> (&'static str, &'static str) {
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

    fn w(&self) -> f64 {
        if self.width.is_finite() {
            self.width.clamp(160.0, 4000.0)
        } else {
            640.0
        }
    }

    fn h(&self) -> f64 {
        if self.height.is_finite() {
            self.height.clamp(100.0, 4000.0)
        } else {
            320.0
        }
    }
}

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

    fn finite_ci(&self) -> Option<[f64; 2]> {
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

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Legend name.
    pub name: String,
    /// Points `(x, y)`; a non-finite point breaks the line.
    pub points: Vec<(f64, f64)>,
}

/// A low-level SVG builder: shapes and texts with escaped content.
#[derive(Debug)]
pub struct Canvas {
    buf: String,
}

impl Canvas {
    /// Starts an `<svg>` of this size; `label` becomes its accessible title.
    pub fn new(width: f64, height: f64, label: &str) -> Self {
        let mut buf = String::new();
        let _ = write!(
            buf,
            "<svg class=\"chart\" role=\"img\" \
             width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"{FONT}\" \
             font-size=\"12\"><title>{}</title>",
            escape(label),
            w = num(width),
            h = num(height),
        );
        Self { buf }
    }

    /// A filled rectangle with an optional tooltip.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, tip: &str) {
        let (x, w) = if w < 0.0 { (x + w, -w) } else { (x, w) };
        let (y, h) = if h < 0.0 { (y + h, -h) } else { (y, h) };
        let _ = write!(
            self.buf,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"",
            num(x),
            num(y),
            num(w),
            num(h),
            escape(fill)
        );
        self.close_with_tip("rect", tip);
    }

    /// A line; `dash` is an SVG dash array (empty for solid).
    #[allow(clippy::too_many_arguments)]
    pub fn line(
        &mut self,
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        stroke: &str,
        width: f64,
        dash: &str,
    ) {
        let _ = write!(
            self.buf,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"",
            num(x1),
            num(y1),
            num(x2),
            num(y2),
            escape(stroke),
            num(width)
        );
        if !dash.is_empty() {
            let _ = write!(self.buf, " stroke-dasharray=\"{}\"", escape(dash));
        }
        self.buf.push_str("/>");
    }

    /// A text; `anchor` is `start`, `middle` or `end`; `extra` holds further attributes
    /// written as is (only pass constants).
    pub fn text(&mut self, x: f64, y: f64, s: &str, anchor: &str, extra: &str) {
        let _ = write!(
            self.buf,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{}\" {}>{}</text>",
            num(x),
            num(y),
            escape(anchor),
            extra,
            escape(s)
        );
    }

    /// A text that is cut to `max_chars` with an ellipsis; the full text becomes a tooltip.
    pub fn text_clipped(
        &mut self,
        x: f64,
        y: f64,
        s: &str,
        max_chars: usize,
        anchor: &str,
        extra: &str,
    ) {
        let n = s.chars().count();
        if n <= max_chars.max(2) {
            self.text(x, y, s, anchor, extra);
        } else {
            let cut: String = s.chars().take(max_chars.max(2) - 1).collect();
            let _ = write!(
                self.buf,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"{}\" {}><title>{}</title>{}…</text>",
                num(x),
                num(y),
                escape(anchor),
                extra,
                escape(s),
                escape(&cut)
            );
        }
    }

    /// An open polyline through the points.
    pub fn polyline(&mut self, pts: &[(f64, f64)], stroke: &str, width: f64) {
        if pts.len() < 2 {
            return;
        }
        let p: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{},{}", num(*x), num(*y)))
            .collect();
        let _ = write!(
            self.buf,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" \
             stroke-linejoin=\"round\"/>",
            p.join(" "),
            escape(stroke),
            num(width)
        );
    }

    /// A filled circle with an optional tooltip.
    pub fn circle(&mut self, cx: f64, cy: f64, r: f64, fill: &str, tip: &str) {
        let _ = write!(
            self.buf,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"",
            num(cx),
            num(cy),
            num(r),
            escape(fill)
        );
        self.close_with_tip("circle", tip);
    }

    fn close_with_tip(&mut self, tag: &str, tip: &str) {
        if tip.is_empty() {
            self.buf.push_str("/>");
        } else {
            let _ = write!(self.buf, "><title>{}</title></{tag}>", escape(tip));
        }
    }

    /// Closes the `<svg>` and returns it.
    pub fn finish(mut self) -> String {
        self.buf.push_str("</svg>");
        self.buf
    }
}

/// Makes a chart of this module usable as a stand-alone `.svg` file by adding the SVG
/// namespace (inline SVG in HTML5 needs none, so the reports carry no URL at all).
pub fn standalone(svg: &str) -> String {
    match svg.strip_prefix("<svg ") {
        Some(rest) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" {rest}"
        ),
        None => svg.to_string(),
    }
}

/// Writes a coordinate compactly (two decimals at most, no `-0`, non-finite as 0).
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if s == "-0" { "0".to_string() } else { s }
}

/// Rough width of a text in pixels (no font metrics are available without IO).
fn text_w(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.58
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
struct Scale {
    d0: f64,
    d1: f64,
    p0: f64,
    p1: f64,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
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
fn draw_title(c: &mut Canvas, axes: &Axes) -> f64 {
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
fn draw_legend(c: &mut Canvas, names: &[(String, &str)], x0: f64, y: f64, width: f64) -> f64 {
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
fn draw_note(c: &mut Canvas, axes: &Axes, y: f64) {
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

fn note_h(axes: &Axes) -> f64 {
    if axes.note.is_empty() { 0.0 } else { 16.0 }
}

/// Places mark labels: each label is centred on its line but kept within `[left, right]`;
/// labels are assigned to rows so that labels on one row do not overlap. Returns per mark the
/// x where its label starts and its row.
fn mark_rows(marks: &[(f64, &Mark)], left: f64, right: f64) -> Vec<(f64, usize)> {
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

/// Histogram of binned counts. Bars show the share of all observations; `marks` (e.g.
/// percentiles and a target) are drawn as vertical lines on the x axis. Equal edges (all
/// observations at one value) are drawn as one bar one unit wide and said so in the note.
pub fn histogram(edges: &[f64], counts: &[u64], axes: &Axes) -> String {
    if counts.is_empty() || edges.len() != counts.len() + 1 {
        return no_data(axes, "no bins");
    }
    if edges.iter().any(|e| !e.is_finite()) {
        return no_data(axes, "bin edges are not finite numbers");
    }
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return no_data(axes, "no observations");
    }
    let lo = edges[0].min(edges[edges.len() - 1]);
    let hi = edges[0].max(edges[edges.len() - 1]);
    let degenerate = hi - lo <= 1e-9 * lo.abs().max(1.0);
    // All observations at one value: a thin bar at the left of a one-unit axis.
    let (edges, counts): (Vec<f64>, Vec<u64>) = if degenerate {
        (vec![lo, lo + 0.03], vec![total])
    } else {
        (edges.to_vec(), counts.to_vec())
    };
    let axes = axes.clone();
    let axes = &axes;
    let (w, h) = (axes.w(), axes.h());
    let mut c = Canvas::new(w, h, &axes.title);
    let top0 = draw_title(&mut c, axes);

    let marks = merge_marks(&axes.marks);
    // Show the bins that hold observations (the binning may start at zero far below them).
    let first = counts.iter().position(|&n| n > 0).unwrap_or(0);
    let last = counts
        .iter()
        .rposition(|&n| n > 0)
        .unwrap_or(counts.len() - 1);
    let mut x0 = edges[first].min(edges[last + 1]);
    let mut x1 = edges[first].max(edges[last + 1]);
    if degenerate {
        x1 = lo + 1.0;
    }
    for m in &marks {
        x0 = x0.min(m.value);
        x1 = x1.max(m.value);
    }
    let (xt, xstep) = nice_ticks(x0, x1, 8);
    let xs_lo = xt[0].min(x0);
    let xs_hi = xt.last().copied().unwrap_or(x1).max(x1);

    let shares: Vec<f64> = counts.iter().map(|&n| n as f64 / total as f64).collect();
    let ymax = shares.iter().copied().fold(0.0, f64::max);
    let (yt, ystep) = nice_ticks(0.0, ymax, 5);
    let ys_hi = yt.last().copied().unwrap_or(ymax).max(ymax);
    let ylabels: Vec<String> = yt
        .iter()
        .map(|v| Format::Percent(1).tick(*v, ystep))
        .collect();

    let left = 14.0 + ylabels.iter().map(|s| text_w(s, 11.0)).fold(0.0, f64::max) + 8.0;
    let right = w - 16.0;
    let xs = Scale {
        d0: xs_lo,
        d1: xs_hi,
        p0: left,
        p1: right,
    };
    let placed: Vec<(f64, &Mark)> = marks.iter().map(|m| (xs.at(m.value), m)).collect();
    let rows = mark_rows(&placed, 2.0, w - 2.0);
    let nrows = rows.iter().map(|r| r.1 + 1).max().unwrap_or(0) as f64;
    let top = top0 + nrows * 13.0 + 4.0;
    let bottom = h - 38.0 - note_h(axes);
    let ys = Scale {
        d0: 0.0,
        d1: ys_hi,
        p0: bottom,
        p1: top,
    };

    for (t, l) in yt.iter().zip(&ylabels) {
        let y = ys.at(*t);
        c.line(left, y, right, y, GRID, 1.0, "");
        c.text(left - 5.0, y + 4.0, l, "end", "font-size=\"11\"");
    }
    for (i, &n) in counts.iter().enumerate() {
        let (a, b) = (edges[i].min(edges[i + 1]), edges[i].max(edges[i + 1]));
        let (pa, pb) = (xs.at(a), xs.at(b));
        let y = ys.at(shares[i]);
        let tip = format!(
            "[{}, {}): {} ({})",
            axes.x_format.fmt(a),
            axes.x_format.fmt(b),
            n,
            Format::Percent(1).fmt(shares[i])
        );
        if n > 0 {
            c.rect(
                pa + 0.5,
                y,
                (pb - pa - 1.0).max(1.0),
                bottom - y,
                series_colour(4),
                &tip,
            );
        }
    }
    c.line(left, bottom, right, bottom, AXIS, 1.0, "");
    for t in &xt {
        if *t < xs_lo - 1e-12 || *t > xs_hi + 1e-12 {
            continue;
        }
        let x = xs.at(*t);
        c.line(x, bottom, x, bottom + 4.0, AXIS, 1.0, "");
        c.text(
            x,
            bottom + 16.0,
            &axes.x_format.tick(*t, xstep),
            "middle",
            "font-size=\"11\"",
        );
    }
    for ((px, m), (start, row)) in placed.iter().zip(&rows) {
        let (stroke, dash) = m.stroke();
        c.line(*px, top - 2.0, *px, bottom, stroke, 1.5, dash);
        let ly = top0 + (*row as f64 + 1.0) * 13.0 - 2.0;
        c.text(
            *start,
            ly,
            &m.label,
            "start",
            &format!("font-size=\"11\" fill=\"{stroke}\""),
        );
    }
    if degenerate {
        let msg = format!("all {total} observations equal {}", axes.x_format.fmt(lo));
        c.text(
            (left + right) / 2.0,
            (top + bottom) / 2.0,
            &msg,
            "middle",
            &format!("fill=\"{MUTED}\""),
        );
    }
    if !axes.x_label.is_empty() {
        c.text(
            (left + right) / 2.0,
            bottom + 31.0,
            &axes.x_label,
            "middle",
            "",
        );
    }
    let ylab = if axes.y_label.is_empty() {
        "share of observations"
    } else {
        &axes.y_label
    };
    c.text(
        12.0,
        (top + bottom) / 2.0,
        ylab,
        "middle",
        &format!(
            "transform=\"rotate(-90 12 {})\" font-size=\"11\"",
            num((top + bottom) / 2.0)
        ),
    );
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
}

/// Marks at (almost) the same value and of the same style, merged into one with the labels
/// joined, so that e.g. equal percentiles do not stack three labels on one line.
fn merge_marks(marks: &[Mark]) -> Vec<Mark> {
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
    if categories.is_empty() || series.is_empty() {
        return no_data(axes, "nothing to compare");
    }
    let Some((vlo, vhi)) = value_range(series, axes) else {
        return no_data(axes, "no finite value");
    };
    let (w, h) = (axes.w(), axes.h());
    let mut c = Canvas::new(w, h, &axes.title);
    let mut top = draw_title(&mut c, axes);
    if series.len() > 1 {
        let names: Vec<(String, &str)> = series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), series_colour(i)))
            .collect();
        top = draw_legend(&mut c, &names, 8.0, top - 4.0, w - 16.0);
    }
    let (vt, vstep) = nice_ticks(vlo, vhi, 5);
    let d0 = vt[0].min(vlo);
    let d1 = vt.last().copied().unwrap_or(vhi).max(vhi);
    let labels: Vec<String> = vt.iter().map(|v| axes.format.tick(*v, vstep)).collect();
    let ylab_w = if axes.y_label.is_empty() { 4.0 } else { 18.0 };
    let left = ylab_w + labels.iter().map(|s| text_w(s, 11.0)).fold(0.0, f64::max) + 10.0;
    let right = w - 12.0;
    let band = (right - left) / categories.len() as f64;
    let max_chars = ((band - 4.0) / 6.5).max(3.0) as usize;
    let bottom = h - 22.0 - if axes.x_label.is_empty() { 0.0 } else { 16.0 } - note_h(axes);
    let ys = Scale {
        d0,
        d1,
        p0: bottom,
        p1: top + 6.0,
    };
    for (t, l) in vt.iter().zip(&labels) {
        let y = ys.at(*t);
        c.line(left, y, right, y, GRID, 1.0, "");
        c.text(left - 5.0, y + 4.0, l, "end", "font-size=\"11\"");
    }
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
        c.text_clipped(
            left + band * (ci as f64 + 0.5),
            bottom + 15.0,
            cat,
            max_chars,
            "middle",
            "font-size=\"11\"",
        );
    }
    c.line(left, zero, right, zero, AXIS, 1.0, "");
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
    if !axes.y_label.is_empty() {
        let my = (top + bottom) / 2.0;
        c.text(
            12.0,
            my,
            &axes.y_label,
            "middle",
            &format!("transform=\"rotate(-90 12 {})\" font-size=\"11\"", num(my)),
        );
    }
    if !axes.x_label.is_empty() {
        c.text(
            (left + right) / 2.0,
            bottom + 32.0,
            &axes.x_label,
            "middle",
            "",
        );
    }
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
}

/// Horizontal bars, grouped by category (one bar per series), with 95 % CI whiskers and the
/// value written beside each bar. The height grows with the number of bars when
/// `axes.height` is too small for them.
pub fn hbar_chart(categories: &[String], series: &[Series], axes: &Axes) -> String {
    if categories.is_empty() || series.is_empty() {
        return no_data(axes, "nothing to compare");
    }
    let Some((vlo, vhi)) = value_range(series, axes) else {
        return no_data(axes, "no finite value");
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
        let names: Vec<(String, &str)> = series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), series_colour(i)))
            .collect();
        top = draw_legend(&mut c, &names, 8.0, top - 4.0, w - 16.0);
    }
    let label_chars = 36usize;
    let left = 8.0
        + categories
            .iter()
            .map(|s| text_w(&s.chars().take(label_chars).collect::<String>(), 12.0))
            .fold(0.0, f64::max)
        + 8.0;
    let (vt, vstep) = nice_ticks(vlo, vhi, 5);
    let d0 = vt[0].min(vlo);
    let d1 = vt.last().copied().unwrap_or(vhi).max(vhi);
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
    for t in &vt {
        let x = xs.at(*t);
        c.line(x, top, x, bottom, GRID, 1.0, "");
        c.text(
            x,
            bottom + 15.0,
            &axes.format.tick(*t, vstep),
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
            let x = xs.at(v.mean);
            let tip = bar_tip(
                cat,
                if series.len() > 1 { &s.name } else { "" },
                &v,
                axes.format,
            );
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
    }
    c.line(zero, top, zero, bottom, AXIS, 1.0, "");
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
    if !axes.x_label.is_empty() {
        c.text(
            (left + right) / 2.0,
            bottom + 32.0,
            &axes.x_label,
            "middle",
            "",
        );
    }
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
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
    let names: Vec<(String, &str)> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.clone(), series_colour(i)))
        .collect();
    let top = draw_legend(&mut c, &names, 8.0, top - 4.0, w - 16.0) + 10.0;
    let (vt, vstep) = nice_ticks(vlo, vhi, 5);
    let d1 = vt.last().copied().unwrap_or(vhi).max(vhi);
    let labels: Vec<String> = vt.iter().map(|v| axes.format.tick(*v, vstep)).collect();
    let ylab_w = if axes.y_label.is_empty() { 4.0 } else { 18.0 };
    let left = ylab_w + labels.iter().map(|s| text_w(s, 11.0)).fold(0.0, f64::max) + 10.0;
    let right = w - 12.0;
    let bottom = h - 22.0 - if axes.x_label.is_empty() { 0.0 } else { 16.0 } - note_h(axes);
    let ys = Scale {
        d0: 0.0,
        d1,
        p0: bottom,
        p1: top,
    };
    for (t, l) in vt.iter().zip(&labels) {
        let y = ys.at(*t);
        c.line(left, y, right, y, GRID, 1.0, "");
        c.text(left - 5.0, y + 4.0, l, "end", "font-size=\"11\"");
    }
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
        c.text_clipped(
            left + band * (ci as f64 + 0.5),
            bottom + 15.0,
            cat,
            max_chars,
            "middle",
            "font-size=\"11\"",
        );
    }
    c.line(left, bottom, right, bottom, AXIS, 1.0, "");
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
    if !axes.y_label.is_empty() {
        let my = (top + bottom) / 2.0;
        c.text(
            12.0,
            my,
            &axes.y_label,
            "middle",
            &format!("transform=\"rotate(-90 12 {})\" font-size=\"11\"", num(my)),
        );
    }
    if !axes.x_label.is_empty() {
        c.text(
            (left + right) / 2.0,
            bottom + 32.0,
            &axes.x_label,
            "middle",
            "",
        );
    }
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
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
        let names: Vec<(String, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.name.clone(), series_colour(i)))
            .collect();
        top = draw_legend(&mut c, &names, 8.0, top - 4.0, w - 16.0);
    }
    let (yt, ystep) = nice_ticks(y0, y1, 5);
    let (mut xt, mut xstep) = nice_ticks(x0, x1, 8);
    if x_format_is_integer(axes.x_format) && xstep < 1.0 {
        // Whole numbers only (e.g. replication indices).
        xt.retain(|t| t.fract() == 0.0);
        xstep = 1.0;
    }
    let yd0 = yt[0].min(y0);
    let yd1 = yt.last().copied().unwrap_or(y1).max(y1);
    let xd0 = xt[0].min(x0);
    let xd1 = xt.last().copied().unwrap_or(x1).max(x1);
    let labels: Vec<String> = yt.iter().map(|v| axes.format.tick(*v, ystep)).collect();
    let ylab_w = if axes.y_label.is_empty() { 4.0 } else { 18.0 };
    let left = ylab_w + labels.iter().map(|s| text_w(s, 11.0)).fold(0.0, f64::max) + 10.0;
    let right = w - 14.0;
    let bottom = h - 22.0 - if axes.x_label.is_empty() { 0.0 } else { 16.0 } - note_h(axes);
    let top = top + 6.0;
    let xs = Scale {
        d0: xd0,
        d1: xd1,
        p0: left,
        p1: right,
    };
    let ys = Scale {
        d0: yd0,
        d1: yd1,
        p0: bottom,
        p1: top,
    };
    for (t, l) in yt.iter().zip(&labels) {
        let y = ys.at(*t);
        c.line(left, y, right, y, GRID, 1.0, "");
        c.text(left - 5.0, y + 4.0, l, "end", "font-size=\"11\"");
    }
    c.line(left, bottom, right, bottom, AXIS, 1.0, "");
    c.line(left, top, left, bottom, AXIS, 1.0, "");
    for t in &xt {
        let x = xs.at(*t);
        c.line(x, bottom, x, bottom + 4.0, AXIS, 1.0, "");
        c.text(
            x,
            bottom + 15.0,
            &axes.x_format.tick(*t, xstep),
            "middle",
            "font-size=\"11\"",
        );
    }
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
    if !axes.y_label.is_empty() {
        let my = (top + bottom) / 2.0;
        c.text(
            12.0,
            my,
            &axes.y_label,
            "middle",
            &format!("transform=\"rotate(-90 12 {})\" font-size=\"11\"", num(my)),
        );
    }
    if !axes.x_label.is_empty() {
        c.text(
            (left + right) / 2.0,
            bottom + 32.0,
            &axes.x_label,
            "middle",
            "",
        );
    }
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
}

fn x_format_is_integer(f: Format) -> bool {
    f == Format::Number(0)
}

/// A colour for `t` in `[0, 1]` on a sequential, colour-blind safe scale (viridis).
pub fn ramp(t: f64) -> String {
    const STOPS: [(f64, f64, f64); 6] = [
        (68.0, 1.0, 84.0),
        (65.0, 68.0, 135.0),
        (42.0, 120.0, 142.0),
        (34.0, 168.0, 132.0),
        (122.0, 209.0, 81.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (STOPS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(STOPS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// A heat map: one row per label, one cell per column (`values[row][col]`), coloured on
/// [`ramp`] between `lo` and `hi` (values outside are clamped for the colour; the tooltip
/// shows the true value). Missing or non-finite cells are light grey. Columns are numbered
/// from 1 on the x axis (e.g. weeks).
pub fn heat_map(rows: &[String], values: &[Vec<f64>], lo: f64, hi: f64, axes: &Axes) -> String {
    let ncols = values.iter().map(Vec::len).max().unwrap_or(0);
    if rows.is_empty() || ncols == 0 {
        return no_data(axes, "no cells");
    }
    if !values.iter().flatten().any(|v| v.is_finite()) {
        return no_data(axes, "no finite value");
    }
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let w = axes.w();
    let row_h = 20.0;
    let title_h = if axes.title.is_empty() { 8.0 } else { 30.0 };
    let legend_h = 34.0;
    let foot = 22.0 + if axes.x_label.is_empty() { 0.0 } else { 16.0 } + note_h(axes);
    let h = (title_h + legend_h + row_h * rows.len() as f64 + foot + 4.0).max(axes.h().min(200.0));
    let mut c = Canvas::new(w, h, &axes.title);
    let top = draw_title(&mut c, axes);
    let label_chars = 28usize;
    let left = (8.0
        + rows
            .iter()
            .map(|s| text_w(&s.chars().take(label_chars).collect::<String>(), 12.0))
            .fold(0.0, f64::max)
        + 8.0)
        .min(w * 0.4);
    let right = w - 12.0;
    // Legend: 10 steps of the ramp.
    let lx = left;
    let lw = ((right - left) * 0.4).clamp(120.0, 320.0);
    for k in 0..20 {
        let t = k as f64 / 19.0;
        c.rect(
            lx + lw * k as f64 / 20.0,
            top,
            lw / 20.0 + 0.5,
            10.0,
            &ramp(t),
            "",
        );
    }
    c.text(
        lx,
        top + 23.0,
        &axes.format.fmt(lo),
        "start",
        "font-size=\"11\"",
    );
    c.text(
        lx + lw,
        top + 23.0,
        &format!("≥ {}", axes.format.fmt(hi)),
        "end",
        "font-size=\"11\"",
    );
    c.rect(lx + lw + 16.0, top, 10.0, 10.0, "#dddddd", "");
    c.text(
        lx + lw + 30.0,
        top + 9.0,
        "no value",
        "start",
        "font-size=\"11\"",
    );
    let gtop = top + legend_h;
    let cw = (right - left) / ncols as f64;
    for (ri, name) in rows.iter().enumerate() {
        let y = gtop + row_h * ri as f64;
        c.text_clipped(
            left - 6.0,
            y + row_h / 2.0 + 4.0,
            name,
            label_chars,
            "end",
            "",
        );
        let row = values.get(ri).map(Vec::as_slice).unwrap_or(&[]);
        for col in 0..ncols {
            let v = row.get(col).copied().unwrap_or(f64::NAN);
            let (fill, tip) = if v.is_finite() {
                (
                    ramp((v - lo) / (hi - lo)),
                    format!(
                        "{name}, {} {}: {}",
                        axes.x_label_unit(),
                        col + 1,
                        axes.format.fmt(v)
                    ),
                )
            } else {
                (
                    "#dddddd".to_string(),
                    format!("{name}, {} {}: no value", axes.x_label_unit(), col + 1),
                )
            };
            c.rect(
                left + cw * col as f64,
                y + 1.0,
                cw + 0.3,
                row_h - 2.0,
                &fill,
                &tip,
            );
        }
    }
    let bottom = gtop + row_h * rows.len() as f64;
    let (xt, _) = nice_ticks(1.0, ncols as f64, ((right - left) / 60.0).max(2.0) as usize);
    for t in xt.iter().filter(|t| **t >= 1.0 && **t <= ncols as f64) {
        let x = left + cw * (t - 0.5);
        c.line(x, bottom, x, bottom + 4.0, AXIS, 1.0, "");
        c.text(
            x,
            bottom + 15.0,
            &format!("{t:.0}"),
            "middle",
            "font-size=\"11\"",
        );
    }
    if !axes.x_label.is_empty() {
        c.text(
            (left + right) / 2.0,
            bottom + 32.0,
            &axes.x_label,
            "middle",
            "",
        );
    }
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
}

impl Axes {
    /// The first word of the x label, used to name a heat-map column in tooltips.
    fn x_label_unit(&self) -> &str {
        self.x_label.split_whitespace().next().unwrap_or("column")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        match roxmltree::Document::parse(svg) {
            Ok(d) => d,
            Err(e) => panic!("not well-formed: {e}\n{svg}"),
        }
    }

    fn count(svg: &str, tag: &str) -> usize {
        parse(svg)
            .descendants()
            .filter(|n| n.has_tag_name(tag))
            .count()
    }

    fn is_no_data(svg: &str) -> bool {
        svg.contains("class=\"nodata\"")
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("ok\u{0}"), "ok\u{FFFD}");
    }

    #[test]
    fn standalone_adds_the_namespace() {
        let s = standalone(&no_data(&Axes::new("t"), "r"));
        let doc = parse(&s);
        assert_eq!(
            doc.root_element().tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
    }

    #[test]
    fn formats() {
        assert_eq!(Format::Number(1).fmt(2.25), "2.2");
        assert_eq!(Format::Percent(1).fmt(0.8531), "85.3 %");
        assert_eq!(Format::Number(1).fmt(f64::NAN), "–");
        assert_eq!(Format::Number(0).fmt(-0.2), "0");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(12.50), "12.5");
        assert_eq!(Format::Number(1).tick(0.25, 0.25), "0.25");
        assert_eq!(Format::Number(1).tick(40.0, 20.0), "40");
        assert_eq!(Format::Percent(1).tick(0.2, 0.2), "20 %");
        assert_eq!(Format::Percent(0).tick(0.025, 0.025), "2.5 %");
    }

    #[test]
    fn ticks_are_nice_and_cover_the_range() {
        let (t, s) = nice_ticks(0.0, 0.87, 5);
        assert_eq!(s, 0.2);
        assert_eq!(t.first().copied(), Some(0.0));
        assert!(*t.last().unwrap_or(&0.0) >= 0.87);
        let (t, _) = nice_ticks(13.2, 41.0, 8);
        assert!(t[0] <= 13.2 && *t.last().unwrap_or(&0.0) >= 41.0);
        // Degenerate and non-finite ranges still give ticks.
        assert!(nice_ticks(5.0, 5.0, 5).0.len() >= 2);
        assert!(nice_ticks(f64::NAN, 1.0, 5).0.len() >= 2);
    }

    #[test]
    fn histogram_draws_one_bar_per_nonempty_bin_and_the_marks() {
        let edges = [0.0, 1.0, 2.0, 3.0, 4.0];
        let counts = [5, 0, 10, 5];
        let axes = Axes::new("waits")
            .mark(Mark::new(1.5, "p50", MarkStyle::Percentile))
            .mark(Mark::new(3.6, "p95", MarkStyle::Percentile))
            .mark(Mark::new(6.0, "target <7>", MarkStyle::Target));
        let svg = histogram(&edges, &counts, &axes);
        assert_eq!(count(&svg, "rect"), 3, "{svg}");
        assert!(svg.contains("target &lt;7&gt;"));
        // The axis was extended to show the target beyond the last bin.
        assert!(svg.contains(">6<"), "{svg}");
        // Tooltips give the share.
        assert!(svg.contains("[2.0, 3.0): 10 (50.0 %)"), "{svg}");
    }

    #[test]
    fn histogram_with_equal_edges_draws_one_bar_and_says_so() {
        let svg = histogram(
            &[0.0, 0.0, 0.0],
            &[3, 4],
            &Axes::new("w").x_format(Format::Number(1)),
        );
        assert_eq!(count(&svg, "rect"), 1);
        assert!(svg.contains("all 7 observations equal 0.0"), "{svg}");
    }

    #[test]
    fn empty_or_broken_data_gives_no_data_notes() {
        let a = Axes::new("x");
        assert!(is_no_data(&histogram(&[], &[], &a)));
        assert!(is_no_data(&histogram(&[0.0, 1.0], &[0], &a)));
        assert!(is_no_data(&histogram(&[0.0, 1.0], &[1, 2], &a)));
        assert!(is_no_data(&histogram(&[0.0, f64::NAN], &[1], &a)));
        assert!(is_no_data(&bar_chart(&[], &[], &a)));
        let nan = Series {
            name: "s".into(),
            values: vec![Some(Value::plain(f64::NAN)), None],
        };
        let cats = vec!["a".to_string(), "b".to_string()];
        assert!(is_no_data(&bar_chart(
            &cats,
            std::slice::from_ref(&nan),
            &a
        )));
        assert!(is_no_data(&hbar_chart(&cats, &[nan], &a)));
        assert!(is_no_data(&stacked_bars(
            &cats,
            &[Layer {
                name: "l".into(),
                values: vec![0.0, -1.0]
            }],
            &a
        )));
        assert!(is_no_data(&line_chart(&[], &a)));
        assert!(is_no_data(&line_chart(
            &[Line {
                name: "l".into(),
                points: vec![(f64::NAN, 1.0)]
            }],
            &a
        )));
        assert!(is_no_data(&heat_map(&[], &[], 0.0, 1.0, &a)));
        assert!(is_no_data(&heat_map(
            &cats,
            &[vec![], vec![]],
            0.0,
            1.0,
            &a
        )));
        for svg in [no_data(&a, "r <b>"), histogram(&[], &[], &a)] {
            parse(&svg);
        }
    }

    #[test]
    fn bars_have_whiskers_only_where_there_is_an_interval() {
        let cats = vec!["device".to_string(), "room".to_string()];
        let s = Series {
            name: "util".into(),
            values: vec![
                Some(Value::with_ci(0.7, [0.65, 0.75])),
                Some(Value::plain(0.4)),
            ],
        };
        for svg in [
            bar_chart(
                &cats,
                std::slice::from_ref(&s),
                &Axes::new("u").format(Format::Percent(0)),
            ),
            hbar_chart(
                &cats,
                std::slice::from_ref(&s),
                &Axes::new("u").format(Format::Percent(0)),
            ),
        ] {
            let doc = parse(&svg);
            let bars = doc.descendants().filter(|n| n.has_tag_name("rect")).count();
            assert_eq!(bars, 2);
            // One whisker = three lines in black.
            let whisker = doc
                .descendants()
                .filter(|n| n.has_tag_name("line") && n.attribute("stroke") == Some("#111"))
                .count();
            assert_eq!(whisker, 3, "{svg}");
            assert!(svg.contains("device: 70 % [95 % CI 65 %, 75 %]"), "{svg}");
        }
    }

    #[test]
    fn grouped_bars_show_a_legend_and_every_bar() {
        let cats = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let series: Vec<Series> = (0..3)
            .map(|i| Series {
                name: format!("scenario {i}"),
                values: (0..3)
                    .map(|j| Some(Value::plain(f64::from(i * 3 + j + 1))))
                    .collect(),
            })
            .collect();
        let svg = bar_chart(&cats, &series, &Axes::new("g"));
        // 9 bars + 3 legend swatches.
        assert_eq!(count(&svg, "rect"), 12);
        assert!(svg.contains(">scenario 2<"));
        let svg = hbar_chart(&cats, &series, &Axes::new("g"));
        assert_eq!(count(&svg, "rect"), 12);
    }

    #[test]
    fn negative_values_extend_the_axis_below_zero() {
        let cats = vec!["d".to_string()];
        let s = Series {
            name: String::new(),
            values: vec![Some(Value::with_ci(-2.0, [-3.0, -1.0]))],
        };
        let svg = hbar_chart(&cats, &[s], &Axes::new("diff"));
        assert!(svg.contains(">-3<") || svg.contains(">-3.0<"), "{svg}");
    }

    #[test]
    fn stacked_bars_stack_positive_values() {
        let cats = vec!["x".to_string(), "y".to_string()];
        let layers = vec![
            Layer {
                name: "labour".into(),
                values: vec![1.0, 2.0],
            },
            Layer {
                name: "material".into(),
                values: vec![3.0, f64::NAN],
            },
        ];
        let svg = stacked_bars(&cats, &layers, &Axes::new("cost"));
        // 3 segments + 2 legend swatches.
        assert_eq!(count(&svg, "rect"), 5);
        assert!(svg.contains(">4.0<") && svg.contains(">2.0<"), "{svg}");
    }

    #[test]
    fn line_chart_breaks_at_gaps() {
        let l = Line {
            name: "u".into(),
            points: vec![
                (0.0, 1.0),
                (1.0, 2.0),
                (2.0, f64::NAN),
                (3.0, 1.0),
                (4.0, 0.5),
            ],
        };
        let svg = line_chart(&[l], &Axes::new("l"));
        assert_eq!(count(&svg, "polyline"), 2);
        assert_eq!(count(&svg, "circle"), 4);
    }

    #[test]
    fn heat_map_has_rows_times_columns_cells() {
        let rows = vec!["a".to_string(), "b & c".to_string()];
        let values = vec![vec![0.1, 0.5, 0.9, 1.2], vec![0.0, f64::NAN, 0.3]];
        let svg = heat_map(
            &rows,
            &values,
            0.0,
            1.0,
            &Axes::new("h")
                .x_label("week of window")
                .format(Format::Percent(0)),
        );
        let doc = parse(&svg);
        let cells = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.children().any(|c| c.has_tag_name("title")))
            .count();
        assert_eq!(cells, 8);
        assert!(svg.contains("b &amp; c, week 2: no value"));
        assert!(svg.contains("a, week 4: 120 %"));
    }

    #[test]
    fn ramp_is_monotone_in_lightness_ends() {
        assert_eq!(ramp(0.0), "#440154");
        assert_eq!(ramp(1.0), "#fde725");
        assert_eq!(ramp(f64::NAN), ramp(0.0));
        assert_eq!(ramp(7.0), ramp(1.0));
    }

    #[test]
    fn long_labels_are_clipped_with_the_full_text_as_tooltip() {
        let long = "a-very-long-resource-name-that-goes-on-and-on-and-on".to_string();
        let s = Series {
            name: String::new(),
            values: vec![Some(Value::plain(1.0))],
        };
        let svg = hbar_chart(std::slice::from_ref(&long), &[s], &Axes::new("t"));
        parse(&svg);
        assert!(svg.contains(&format!("<title>{long}</title>")));
        assert!(svg.contains('…'));
    }

    #[test]
    fn odd_sizes_and_values_do_not_panic() {
        let cats: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
        let s = Series {
            name: "s".into(),
            values: (0..50)
                .map(|i| {
                    Some(Value::with_ci(
                        f64::from(i) * 1e9,
                        [f64::NEG_INFINITY, f64::NAN],
                    ))
                })
                .collect(),
        };
        for a in [
            Axes::new("").size(f64::NAN, -5.0),
            Axes::new("t").size(1e9, 1e9),
        ] {
            parse(&bar_chart(&cats, std::slice::from_ref(&s), &a));
            parse(&hbar_chart(&cats, std::slice::from_ref(&s), &a));
            parse(&histogram(&[1e300, -1e300], &[1], &a));
            parse(&heat_map(&cats, &[vec![f64::INFINITY; 3]], 1.0, 1.0, &a));
        }
    }
}
