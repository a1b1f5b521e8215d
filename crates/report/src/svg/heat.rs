//! Heat maps (e.g. resource × week utilisation).

use super::axes::*;
use super::canvas::*;

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
    draw_heat_legend(&mut c, axes, (lo, hi), left, (right - left) * 0.4, top);
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
        let cells = CellRow {
            name,
            y,
            left,
            cw,
            row_h,
        };
        draw_heat_row(&mut c, axes, &cells, row, ncols, (lo, hi));
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
    draw_x_label(&mut c, axes, (left, right), bottom + 32.0);
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
}

/// The colour legend above the grid: 20 steps of the ramp from `lo` to `hi` over about
/// `width`, and the grey of "no value".
fn draw_heat_legend(
    c: &mut Canvas,
    axes: &Axes,
    (lo, hi): (f64, f64),
    lx: f64,
    width: f64,
    top: f64,
) {
    let lw = width.clamp(120.0, 320.0);
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
}

/// Where one row of cells goes: its label, top, left edge, cell width and row height.
struct CellRow<'a> {
    name: &'a str,
    y: f64,
    left: f64,
    cw: f64,
    row_h: f64,
}

/// Draws one row's `ncols` cells coloured on the ramp between `lo` and `hi`, grey where a
/// value is missing, each with its value as tooltip.
fn draw_heat_row(
    c: &mut Canvas,
    axes: &Axes,
    r: &CellRow,
    row: &[f64],
    ncols: usize,
    (lo, hi): (f64, f64),
) {
    let CellRow {
        name,
        y,
        left,
        cw,
        row_h,
    } = *r;
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
