//! Points and curves on two numeric axes: scatters (unordered points) and curves along an
//! ordered axis, with 95 % bands or whiskers, points that fail a requirement drawn open and
//! joined by dashed segments, axes cut at a stated value (points beyond drawn as arrow heads
//! on the edge), shaded x stretches and reference marks.

use super::axes::*;
use super::canvas::*;

/// One point of an [`XyChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct XyPoint {
    /// Position on the x axis.
    pub x: f64,
    /// Position on the y axis.
    pub y: f64,
    /// A 95 % interval of `y` (a band along a curve, a whisker on a scatter).
    pub band: Option<[f64; 2]>,
    /// Whether the point meets what the chart asks of it (drawn filled; otherwise open).
    pub ok: bool,
    /// Tooltip.
    pub tip: String,
}

/// A series of an [`XyChart`]: joined along x (a curve) or not (a scatter).
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend name.
    pub name: String,
    /// Palette index of its colour ([`series_colour`]).
    pub colour: usize,
    /// The points; a curve's in strictly increasing x.
    pub points: Vec<XyPoint>,
    /// Joined by segments (only between neighbours whose x increases).
    pub joined: bool,
}

impl Curve {
    /// Whether x strictly increases along the points (the only order a curve may be drawn
    /// in).
    pub fn ordered(&self) -> bool {
        self.points.windows(2).all(|w| w[0].x < w[1].x)
    }
}

/// What an [`xy_chart`] draws; `Axes::marks` are horizontal reference lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct XyChart {
    /// The series.
    pub curves: Vec<Curve>,
    /// The y axis ends here; points above are drawn as arrow heads on the top edge.
    pub y_cut: Option<f64>,
    /// The x axis ends here; points beyond are drawn as arrow heads on the right edge.
    pub x_cut: Option<f64>,
    /// Hatched x stretches (`[from, to]`), e.g. where nothing meets the requirement.
    pub stretches: Vec<[f64; 2]>,
    /// What the hatched stretches mean (written in them when there is room).
    pub stretch_label: String,
    /// Vertical reference lines.
    pub x_marks: Vec<Mark>,
    /// Fixed y range `[low, high]` (panels of one figure share it).
    pub y_range: Option<[f64; 2]>,
    /// Draw a legend of the curves.
    pub legend: bool,
}

impl XyChart {
    /// Points above the y cut or beyond the x cut.
    pub fn beyond_cut(&self) -> usize {
        self.curves
            .iter()
            .flat_map(|c| &c.points)
            .filter(|p| self.clips(p))
            .count()
    }

    fn clips(&self, p: &XyPoint) -> bool {
        self.y_cut.is_some_and(|c| p.y > c) || self.x_cut.is_some_and(|c| p.x > c)
    }
}

fn finite(p: &XyPoint) -> bool {
    p.x.is_finite() && p.y.is_finite()
}

/// The data range of a chart: x and y, cut where the chart says.
fn extent(ch: &XyChart, axes: &Axes) -> Option<[f64; 4]> {
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    let xc = ch.x_cut.unwrap_or(f64::INFINITY);
    let yc = ch.y_cut.unwrap_or(f64::INFINITY);
    for p in ch
        .curves
        .iter()
        .flat_map(|c| &c.points)
        .filter(|p| finite(p))
    {
        x0 = x0.min(p.x);
        x1 = x1.max(p.x.min(xc));
        y0 = y0.min(p.y);
        y1 = y1.max(p.y.min(yc));
        if let Some([lo, hi]) = p.band.filter(|b| b[0].is_finite() && b[1].is_finite()) {
            y0 = y0.min(lo);
            y1 = y1.max(hi.min(yc));
        }
    }
    if !x0.is_finite() {
        return None;
    }
    for s in &ch.stretches {
        x0 = x0.min(s[0]);
        x1 = x1.max(s[1].min(xc));
    }
    for m in ch.x_marks.iter().filter(|m| m.value.is_finite()) {
        x0 = x0.min(m.value);
        x1 = x1.max(m.value.min(xc));
    }
    for m in axes.marks.iter().filter(|m| m.value.is_finite()) {
        y0 = y0.min(m.value);
        y1 = y1.max(m.value.min(yc));
    }
    if let Some([lo, hi]) = ch.y_range {
        y0 = y0.min(lo);
        y1 = y1.max(hi.min(yc));
    }
    if let Some(m) = axes.min.filter(|m| m.is_finite()) {
        y0 = y0.min(m);
    }
    Some([x0, x1, y0, y1])
}

/// Hatches the rectangle `[x0, x1] × [top, bottom]` with 45° lines.
fn hatch(c: &mut Canvas, (x0, x1): (f64, f64), (top, bottom): (f64, f64), tip: &str) {
    c.rect(x0, top, x1 - x0, bottom - top, "#f2f2f2", tip);
    let h = bottom - top;
    let mut t = x0 - h;
    while t < x1 {
        let s0 = (x0 - t).max(0.0);
        let s1 = (x1 - t).min(h);
        if s1 > s0 {
            c.line(t + s0, bottom - s0, t + s1, bottom - s1, "#c8c8c8", 1.0, "");
        }
        t += 9.0;
    }
}

/// Draws `ch` on `axes`: one colour per curve, bands under curves, whiskers on scatters,
/// open points and dashed joins where a point is not `ok`, arrow heads on the edge for points
/// beyond a cut (the note under the plot says how many and where the axis was cut).
pub fn xy_chart(ch: &XyChart, axes: &Axes) -> String {
    let Some([x0, x1, y0, y1]) = extent(ch, axes) else {
        return no_data(axes, "no finite point");
    };
    let beyond = ch.beyond_cut();
    let axes = with_cut_note(ch, axes, beyond);
    let (w, h) = (axes.w(), axes.h());
    let mut c = Canvas::new(w, h, &axes.title);
    let mut top = draw_title(&mut c, &axes);
    if ch.legend {
        let mut names: Vec<(String, &str)> = Vec::new();
        for cv in &ch.curves {
            if !names.iter().any(|(n, _)| *n == cv.name) {
                names.push((cv.name.clone(), series_colour(cv.colour)));
            }
        }
        top = draw_legend(&mut c, &names, 8.0, top - 4.0, w - 16.0);
    }
    let yt = Ticks::new(y0, y1, 5);
    let (mut xt, mut xstep) = nice_ticks(x0, x1, 8);
    if axes.x_format == Format::Number(0) && xstep < 1.0 {
        xt.retain(|t| t.fract() == 0.0);
        xstep = 1.0;
    }
    let xt = Ticks::covering(xt, xstep, x0, x1);
    let labels = yt.labels(axes.format);
    let left = left_of(&labels, &axes);
    let right = w - 14.0;
    let bottom = plot_bottom(&axes, h);
    let top = top + 8.0;
    // A cut axis ends at the cut, not at the next tick beyond it.
    let y_hi = match ch.y_cut {
        Some(cut) if beyond > 0 => cut.max(y0),
        _ => yt.hi,
    };
    let x_hi = match ch.x_cut {
        Some(cut) if beyond > 0 => cut.max(x0),
        _ => xt.hi,
    };
    let xs = Scale {
        d0: xt.lo,
        d1: x_hi,
        p0: left,
        p1: right,
    };
    let ys = Scale {
        d0: yt.lo,
        d1: y_hi,
        p0: bottom,
        p1: top,
    };
    let px = |x: f64| xs.at(x.min(x_hi));
    let py = |y: f64| ys.at(y.min(y_hi));
    draw_stretches(&mut c, ch, &px, xt.lo, (top, bottom));
    let (ticks, tick_labels): (Vec<f64>, Vec<String>) = yt
        .at
        .iter()
        .zip(labels)
        .filter(|(t, _)| **t <= y_hi + 1e-9 * y_hi.abs().max(1.0))
        .map(|(t, l)| (*t, l))
        .unzip();
    draw_value_grid(&mut c, &ticks, &tick_labels, &ys, (left, right));
    c.line(left, bottom, right, bottom, AXIS, 1.0, "");
    c.line(left, top, left, bottom, AXIS, 1.0, "");
    let xt_shown = Ticks {
        at: xt.at.iter().copied().filter(|t| *t <= x_hi).collect(),
        step: xt.step,
        lo: xt.lo,
        hi: x_hi,
    };
    draw_x_ticks(&mut c, &xt_shown, axes.x_format, &xs, bottom, 15.0);
    draw_h_marks(&mut c, &axes, &ys, (left, right));
    draw_x_marks(&mut c, ch, &px, (top, bottom));
    for cv in &ch.curves {
        draw_curve(&mut c, cv, ch, (&px, &py));
    }
    if !axes.y_label.is_empty() {
        draw_y_label(&mut c, &axes.y_label, (top, bottom));
    }
    draw_x_label(&mut c, &axes, (left, right), bottom + 32.0);
    draw_note(&mut c, &axes, h - 6.0);
    c.finish()
}

/// `axes` with a note saying where the axes were cut and how many points lie beyond the cut
/// (unchanged when none does).
fn with_cut_note(ch: &XyChart, axes: &Axes, beyond: usize) -> Axes {
    let mut axes = axes.clone();
    if beyond > 0 {
        let mut cuts = Vec::new();
        if let Some(c) = ch.y_cut {
            cuts.push(format!("y axis cut at {}", axes.format.fmt(c)));
        }
        if let Some(c) = ch.x_cut {
            cuts.push(format!("x axis cut at {}", axes.x_format.fmt(c)));
        }
        let n = format!(
            "{}; {beyond} point{} beyond the cut drawn as arrow heads on the edge (hover for the value).",
            cuts.join(", "),
            if beyond == 1 { "" } else { "s" }
        );
        axes.note = if axes.note.is_empty() {
            n
        } else {
            format!("{} {n}", axes.note)
        };
    }
    axes
}

/// Hatches the chart's stretches of x (from `x_lo` on), labelled where the label fits.
fn draw_stretches(
    c: &mut Canvas,
    ch: &XyChart,
    px: &dyn Fn(f64) -> f64,
    x_lo: f64,
    (top, bottom): (f64, f64),
) {
    for s in &ch.stretches {
        let (a, b) = (px(s[0].max(x_lo)), px(s[1]));
        if b > a {
            hatch(c, (a, b), (top, bottom), &ch.stretch_label);
            if text_w(&ch.stretch_label, 11.0) + 8.0 < b - a {
                c.text(
                    (a + b) / 2.0,
                    top + 14.0,
                    &ch.stretch_label,
                    "middle",
                    &format!("font-size=\"11\" fill=\"{MUTED}\" class=\"stretch-label\""),
                );
            }
        }
    }
}

/// Draws the chart's vertical marks with their labels at the top of the plot.
fn draw_x_marks(c: &mut Canvas, ch: &XyChart, px: &dyn Fn(f64) -> f64, (top, bottom): (f64, f64)) {
    for m in ch.x_marks.iter().filter(|m| m.value.is_finite()) {
        let (stroke, dash) = m.stroke();
        let x = px(m.value);
        c.line(x, top, x, bottom, stroke, 1.5, dash);
        c.text(
            x + 3.0,
            top + 10.0,
            &m.label,
            "start",
            &format!("font-size=\"11\" fill=\"{stroke}\" class=\"mark-label\""),
        );
    }
}

/// One series: band or whiskers, joins, then its points.
fn draw_curve(
    c: &mut Canvas,
    cv: &Curve,
    ch: &XyChart,
    (px, py): (&dyn Fn(f64) -> f64, &dyn Fn(f64) -> f64),
) {
    let colour = series_colour(cv.colour);
    let pts: Vec<&XyPoint> = cv.points.iter().filter(|p| finite(p)).collect();
    let band = |p: &XyPoint| p.band.filter(|b| b[0].is_finite() && b[1].is_finite());
    if cv.joined {
        // Bands over runs of neighbouring points that have one.
        let mut run: Vec<(f64, f64, f64)> = Vec::new();
        for p in pts.iter().map(Some).chain(std::iter::once(None)) {
            match p.and_then(|p| band(p).map(|b| (p, b))) {
                Some((p, [lo, hi])) if run.last().is_none_or(|l| px(p.x) > l.0) => {
                    run.push((px(p.x), py(lo), py(hi)));
                }
                _ => {
                    let outline: Vec<(f64, f64)> = run
                        .iter()
                        .map(|q| (q.0, q.2))
                        .chain(run.iter().rev().map(|q| (q.0, q.1)))
                        .collect();
                    c.area(
                        &outline,
                        colour,
                        0.18,
                        "band",
                        &format!("{}: 95 % interval", cv.name),
                    );
                    run.clear();
                    if let Some((p, [lo, hi])) = p.and_then(|p| band(p).map(|b| (p, b))) {
                        run.push((px(p.x), py(lo), py(hi)));
                    }
                }
            }
        }
        // Solid runs between points that are both ok, dashed segments elsewhere.
        let mut solid: Vec<(f64, f64)> = Vec::new();
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b.x <= a.x {
                c.polyline(&solid, colour, 2.0);
                solid.clear();
                continue;
            }
            let (pa, pb) = ((px(a.x), py(a.y)), (px(b.x), py(b.y)));
            if a.ok && b.ok {
                if solid.is_empty() {
                    solid.push(pa);
                }
                solid.push(pb);
            } else {
                c.polyline(&solid, colour, 2.0);
                solid.clear();
                c.polyline_dashed(&[pa, pb], colour, 1.2, "4 3");
            }
        }
        c.polyline(&solid, colour, 2.0);
    } else {
        for p in &pts {
            if let Some([lo, hi]) = band(p) {
                c.line(px(p.x), py(lo), px(p.x), py(hi), colour, 1.0, "");
            }
        }
    }
    let r = if cv.joined { 3.0 } else { 3.5 };
    for p in pts {
        let (x, y) = (px(p.x), py(p.y));
        if ch.clips(p) {
            let right = ch.x_cut.is_some_and(|c| p.x > c) && !ch.y_cut.is_some_and(|c| p.y > c);
            c.arrow_head(x, y, 4.5, !right, colour, &p.tip);
        } else if p.ok {
            c.circle(x, y, r, colour, &p.tip);
        } else {
            c.ring(x, y, r, colour, &p.tip);
        }
    }
}
