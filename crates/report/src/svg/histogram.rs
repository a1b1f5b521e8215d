//! Histograms of binned counts with percentile and target marks.

use super::axes::*;
use super::canvas::*;

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
    let xt = Ticks::new(x0, x1, 8);

    let shares: Vec<f64> = counts.iter().map(|&n| n as f64 / total as f64).collect();
    let ymax = shares.iter().copied().fold(0.0, f64::max);
    let yt = Ticks::new(0.0, ymax, 5);
    let ylabels = yt.labels(Format::Percent(1));

    let left = 14.0 + ylabels.iter().map(|s| text_w(s, 11.0)).fold(0.0, f64::max) + 8.0;
    let right = w - 16.0;
    let xs = Scale {
        d0: xt.lo,
        d1: xt.hi,
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
        d1: yt.hi,
        p0: bottom,
        p1: top,
    };

    draw_value_grid(&mut c, &yt.at, &ylabels, &ys, (left, right));
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
    draw_x_ticks(&mut c, &xt, axes.x_format, &xs, bottom, 16.0);
    draw_mark_rows(&mut c, &placed, &rows, top0, (top, bottom));
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
    draw_x_label(&mut c, axes, (left, right), bottom + 31.0);
    let ylab = if axes.y_label.is_empty() {
        "share of observations"
    } else {
        &axes.y_label
    };
    draw_y_label(&mut c, ylab, (top, bottom));
    draw_note(&mut c, axes, h - 6.0);
    c.finish()
}
