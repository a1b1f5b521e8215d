//! The low-level SVG builder shared by every chart: shapes and texts with escaped content,
//! compact coordinates, the colours (series palette, sequential ramp) and the escaper used by
//! every page of the crate.

use std::fmt::Write as _;

/// Colour-blind safe palette (Okabe & Ito 2008), used in order for series.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];

/// Colour of series `i` (cycling through [`PALETTE`]).
pub fn series_colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

pub(super) const FONT: &str =
    "system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";
pub(super) const AXIS: &str = "#444";
pub(super) const GRID: &str = "#e3e3e3";
pub(super) const MUTED: &str = "#666";

/// Escapes a string for HTML and XML text and attribute values. Control characters other
/// than newline and tab become U+FFFD: XML 1.0 does not allow them and they mean nothing in
/// a report.
pub fn escape(s: &str) -> String {
    escape_with(s, true)
}

/// Escapes a string for HTML text and attribute values and keeps every other character,
/// control characters included: for text a person edits in a form, where a carriage
/// return must come back as it was sent.
pub fn escape_markup(s: &str) -> String {
    escape_with(s, false)
}

fn escape_with(s: &str, replace_controls: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if replace_controls && c.is_control() && c != '\n' && c != '\t' => {
                out.push('\u{FFFD}')
            }
            c => out.push(c),
        }
    }
    out
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
        self.open_rect(x, y, w, h, fill);
        self.close_with_tip("rect", tip);
    }

    /// A filled rectangle with a hairline outline in `outline` and an optional tooltip
    /// (bars that touch each other, e.g. in a Gantt chart).
    #[allow(clippy::too_many_arguments)]
    pub fn rect_outlined(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: &str,
        outline: &str,
        tip: &str,
    ) {
        self.open_rect(x, y, w, h, fill);
        let _ = write!(
            self.buf,
            " stroke=\"{}\" stroke-width=\"0.3\"",
            escape(outline)
        );
        self.close_with_tip("rect", tip);
    }

    /// A filled rectangle with a thick dashed black outline and an optional tooltip: a bar
    /// singled out by its shape, not by its colour alone (what a re-plan moved).
    pub fn rect_marked(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, tip: &str) {
        self.open_rect(x, y, w, h, fill);
        self.buf
            .push_str(" stroke=\"#000\" stroke-width=\"2\" stroke-dasharray=\"5 2\"");
        self.close_with_tip("rect", tip);
    }

    /// Writes `<rect` with position, size (negative sizes flipped) and fill, left open.
    fn open_rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str) {
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
        self.polyline_dashed(pts, stroke, width, "");
    }

    /// An open polyline through the points; `dash` is an SVG dash array (empty for solid).
    pub fn polyline_dashed(&mut self, pts: &[(f64, f64)], stroke: &str, width: f64, dash: &str) {
        if pts.len() < 2 {
            return;
        }
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{}\"", escape(dash))
        };
        let p: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{},{}", num(*x), num(*y)))
            .collect();
        let _ = write!(
            self.buf,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" \
             stroke-linejoin=\"round\"{dash}/>",
            p.join(" "),
            escape(stroke),
            num(width)
        );
    }

    /// A closed, filled area through the points (at least three), translucent with
    /// `opacity`, with a class and an optional tooltip.
    pub fn area(&mut self, pts: &[(f64, f64)], fill: &str, opacity: f64, class: &str, tip: &str) {
        if pts.len() < 3 {
            return;
        }
        let mut d = String::new();
        for (i, (x, y)) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{},{}",
                if i == 0 { "M" } else { " L" },
                num(*x),
                num(*y)
            );
        }
        let _ = write!(
            self.buf,
            "<path class=\"{}\" d=\"{d} Z\" fill=\"{}\" fill-opacity=\"{}\" stroke=\"none\"",
            escape(class),
            escape(fill),
            num(opacity)
        );
        self.close_with_tip("path", tip);
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

    /// An open circle (white inside, outlined in `stroke`) with an optional tooltip.
    pub fn ring(&mut self, cx: f64, cy: f64, r: f64, stroke: &str, tip: &str) {
        let _ = write!(
            self.buf,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"#fff\" stroke=\"{}\" \
             stroke-width=\"1.5\"",
            num(cx),
            num(cy),
            num(r),
            escape(stroke)
        );
        self.close_with_tip("circle", tip);
    }

    /// A filled triangle of half-width `r` pointing up (`up`) or right from its tip at
    /// (`x`, `y`): the mark of a value beyond the end of an axis.
    pub fn arrow_head(&mut self, x: f64, y: f64, r: f64, up: bool, fill: &str, tip: &str) {
        let pts = if up {
            [(x, y), (x - r, y + 1.6 * r), (x + r, y + 1.6 * r)]
        } else {
            [(x, y), (x - 1.6 * r, y - r), (x - 1.6 * r, y + r)]
        };
        let _ = write!(
            self.buf,
            "<polygon class=\"beyond\" points=\"{}\" fill=\"{}\"",
            pts.iter()
                .map(|(a, b)| format!("{},{}", num(*a), num(*b)))
                .collect::<Vec<_>>()
                .join(" "),
            escape(fill)
        );
        self.close_with_tip("polygon", tip);
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
pub(super) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if s == "-0" { "0".to_string() } else { s }
}

/// Rough width of a text in pixels (no font metrics are available without IO).
pub(super) fn text_w(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.58
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
