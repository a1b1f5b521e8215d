//! Flow maps: places (regions and sites) joined by flows whose width grows with their amount.
//! With a latitude and longitude for every place the places sit on a schematic map
//! (equirectangular, shrunk in longitude by the cosine of the mean latitude); otherwise regions
//! stand in a column on the left and sites on the right.

use super::axes::*;
use super::canvas::*;

/// What a place is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    /// Where patients are (a circle).
    Region,
    /// An open site (a filled square).
    OpenSite,
    /// A candidate site left closed (an outlined square, grey).
    ClosedSite,
}

/// A place on the map.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// Label.
    pub name: String,
    /// Kind.
    pub kind: PlaceKind,
    /// Latitude and longitude in degrees.
    pub location: Option<(f64, f64)>,
    /// Tooltip.
    pub tip: String,
}

/// A flow between two places (indices into the places).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowLine {
    /// From (a region).
    pub from: usize,
    /// To (a site).
    pub to: usize,
    /// Amount (sets the width).
    pub amount: f64,
    /// Tooltip.
    pub tip: String,
}

/// The flow map. Flows with a non-finite or non-positive amount, or an index out of range,
/// are left out.
pub fn flow_map(places: &[Place], flows: &[FlowLine], axes: &Axes) -> String {
    if places.is_empty() {
        return no_data(axes, "no places");
    }
    let w = axes.w();
    let h = axes.h();
    let mut c = Canvas::new(w, h, &axes.title);
    let top = draw_title(&mut c, axes) + 10.0;
    let (left, right, bottom) = (90.0, w - 150.0, h - 46.0);
    let pos = layout(places, (left, right), (top, bottom));
    let max = flows
        .iter()
        .filter(|f| f.amount.is_finite())
        .map(|f| f.amount)
        .fold(0.0, f64::max);
    for f in flows {
        if !(f.amount.is_finite() && f.amount > 0.0) || f.from >= pos.len() || f.to >= pos.len() {
            continue;
        }
        let (x1, y1) = pos[f.from];
        let (x2, y2) = pos[f.to];
        let width = 1.0 + 9.0 * (f.amount / max).sqrt();
        c.line(x1, y1, x2, y2, PALETTE[0], width, "");
        // an invisible wide line would need opacity; a midpoint dot carries the tooltip
        c.circle(
            (x1 + x2) / 2.0,
            (y1 + y2) / 2.0,
            width / 2.0 + 2.0,
            PALETTE[0],
            &f.tip,
        );
    }
    for (p, &(x, y)) in places.iter().zip(&pos) {
        match p.kind {
            PlaceKind::Region => c.circle(x, y, 6.0, PALETTE[1], &p.tip),
            PlaceKind::OpenSite => {
                c.rect_outlined(x - 7.0, y - 7.0, 14.0, 14.0, PALETTE[2], AXIS, &p.tip)
            }
            PlaceKind::ClosedSite => {
                c.rect_outlined(x - 6.0, y - 6.0, 12.0, 12.0, "#ffffff", MUTED, &p.tip)
            }
        }
        let colour = if p.kind == PlaceKind::ClosedSite {
            "fill=\"#666\" font-size=\"11\""
        } else {
            "font-size=\"11\""
        };
        c.text_clipped(x + 10.0, y + 4.0, &p.name, 26, "start", colour);
    }
    // Legend.
    let ly = h - 16.0;
    c.circle(left, ly - 4.0, 5.0, PALETTE[1], "");
    c.text(left + 9.0, ly, "region", "start", "font-size=\"11\"");
    c.rect_outlined(left + 70.0, ly - 10.0, 12.0, 12.0, PALETTE[2], AXIS, "");
    c.text(left + 87.0, ly, "open site", "start", "font-size=\"11\"");
    c.rect_outlined(left + 160.0, ly - 10.0, 12.0, 12.0, "#ffffff", MUTED, "");
    c.text(
        left + 177.0,
        ly,
        "closed candidate",
        "start",
        "font-size=\"11\"",
    );
    c.line(
        left + 290.0,
        ly - 4.0,
        left + 320.0,
        ly - 4.0,
        PALETTE[0],
        4.0,
        "",
    );
    c.text(
        left + 326.0,
        ly,
        "flow (width ∝ √patients)",
        "start",
        "font-size=\"11\"",
    );
    draw_note(&mut c, axes, ly + 14.0);
    c.finish()
}

/// Pixel positions: on a map when every place has a location, else in two columns.
fn layout(
    places: &[Place],
    (left, right): (f64, f64),
    (top, bottom): (f64, f64),
) -> Vec<(f64, f64)> {
    let located: Option<Vec<(f64, f64)>> = places.iter().map(|p| p.location).collect();
    if let Some(loc) = located {
        let lat0 = loc.iter().map(|l| l.0).sum::<f64>() / loc.len() as f64;
        let k = lat0.to_radians().cos().max(0.1);
        let xs: Vec<f64> = loc.iter().map(|l| l.1 * k).collect();
        let ys: Vec<f64> = loc.iter().map(|l| l.0).collect();
        let (x0, x1) = (
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let (y0, y1) = (
            ys.iter().copied().fold(f64::INFINITY, f64::min),
            ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let span = (x1 - x0).max(y1 - y0).max(1e-6);
        let scale = ((right - left) / span).min((bottom - top) / span);
        let (cx, cy) = ((left + right) / 2.0, (top + bottom) / 2.0);
        let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        return xs
            .iter()
            .zip(&ys)
            .map(|(x, y)| (cx + (x - mx) * scale, cy - (y - my) * scale))
            .collect();
    }
    let regions: Vec<usize> = (0..places.len())
        .filter(|&i| places[i].kind == PlaceKind::Region)
        .collect();
    let sites: Vec<usize> = (0..places.len())
        .filter(|&i| places[i].kind != PlaceKind::Region)
        .collect();
    let mut pos = vec![(0.0, 0.0); places.len()];
    for (col, x) in [(&regions, left), (&sites, right - 60.0)] {
        let n = col.len().max(1) as f64;
        for (k, &i) in col.iter().enumerate() {
            pos[i] = (x, top + (bottom - top) * (k as f64 + 0.5) / n);
        }
    }
    pos
}
