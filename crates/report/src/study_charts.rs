//! The charts of a study report as a model ([`figures`]) and its rendering ([`render`]):
//! curves only along an ordered axis with the other axes fixed (one panel per value of the
//! other axis, or per concept when there are more than [`MAX_LINES`] curves), scatters for
//! unordered points, points that miss the study's target drawn open on dashed segments,
//! value axes cut at a stated value with the points beyond marked, and a one-line reading aid
//! for every figure.

use std::fmt::Write as _;

use cost::study::{self, PointKind, PointResult, StudyResult};

use crate::decision::{axis_name, axis_value, configuration};
use crate::page::escape;
use crate::svg::{Axes, Curve, Format, Mark, MarkStyle, XyChart, XyPoint, nice_ticks, xy_chart};

/// More curves than this in one chart become small multiples.
pub const MAX_LINES: usize = 5;

/// One figure: a title, a reading aid and one or more panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Heading above the figure.
    pub title: String,
    /// One line telling the reader how to read it.
    pub reading: String,
    /// The charts (one, or small multiples).
    pub panels: Vec<Panel>,
}

/// One chart of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// What is drawn.
    pub chart: XyChart,
    /// Title, labels, size and formats.
    pub axes: Axes,
}

/// The study's concepts in study order.
fn concepts(r: &StudyResult) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for p in &r.points {
        if !v.contains(&p.point.label) {
            v.push(p.point.label.clone());
        }
    }
    v
}

fn grid(r: &StudyResult) -> impl Iterator<Item = &PointResult> {
    r.points.iter().filter(|p| p.point.kind == PointKind::Grid)
}

fn per_dose(p: &PointResult) -> Option<&sim::Stat> {
    p.cost.as_ref().map(|c| &c.per_dose)
}

fn currency(r: &StudyResult) -> String {
    r.points
        .iter()
        .find_map(|p| p.cost.as_ref().map(|c| c.currency.clone()))
        .unwrap_or_else(|| "EUR".to_string())
}

/// The distinct values of an axis in ascending order.
fn values_of(r: &StudyResult, axis: &str) -> Vec<f64> {
    let mut v: Vec<f64> = grid(r)
        .filter_map(|p| p.point.values.get(axis).copied())
        .collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| a.to_bits() == b.to_bits());
    v
}

/// Whole numbers print without decimals.
fn x_format(vals: &[f64]) -> Format {
    if vals.iter().all(|v| v.fract() == 0.0) {
        Format::Number(0)
    } else {
        Format::Number(2)
    }
}

/// A tooltip: the configuration, its cost per dose and p95, and why it misses the target.
fn tip(r: &StudyResult, p: &PointResult, cur: &str) -> String {
    let cost = per_dose(p).map_or("no cost".to_string(), |s| {
        let f = |v: f64| Format::Number(0).fmt(v);
        format!(
            "{} {cur} per dose [{}, {}]",
            f(s.mean),
            f(s.ci95[0]),
            f(s.ci95[1])
        )
    });
    format!(
        "{}: {cost}; p95 vein-to-vein {}{} days; {}",
        configuration(p, &[]),
        if p.vein_to_vein_is_lower_bound() {
            "≥ "
        } else {
            ""
        },
        Format::Number(1).fmt(p.vein_to_vein_p95),
        r.target
            .shortfall(p)
            .map_or("meets the target".to_string(), |s| format!(
                "misses the target: {s}"
            ))
    )
}

/// A point of cost per dose at `x`, with its interval when it meets the target.
fn cost_point(r: &StudyResult, p: &PointResult, x: f64, cur: &str) -> Option<XyPoint> {
    let s = per_dose(p)?;
    let ok = r.target.shortfall(p).is_none();
    Some(XyPoint {
        x,
        y: s.mean,
        band: ok.then_some(s.ci95),
        ok,
        tip: tip(r, p, cur),
    })
}

/// Where a cost axis is cut: a round value a quarter above the dearest upper interval end of
/// the points that meet the target (three times the median cost when none does), so that
/// overloaded plants do not flatten the curves that matter.
fn cost_cut(r: &StudyResult) -> Option<f64> {
    let ok_hi = grid(r)
        .filter(|p| r.target.shortfall(p).is_none())
        .filter_map(|p| per_dose(p).map(|s| s.ci95[1].max(s.mean)))
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let base = if ok_hi.is_finite() {
        1.25 * ok_hi
    } else {
        let mut all: Vec<f64> = grid(r)
            .filter_map(|p| per_dose(p).map(|s| s.mean))
            .filter(|v| v.is_finite())
            .collect();
        all.sort_by(f64::total_cmp);
        3.0 * *all.get(all.len() / 2)?
    };
    round_up(base)
}

/// `v` rounded up to a tick of a nice axis from 0.
fn round_up(v: f64) -> Option<f64> {
    (v.is_finite() && v > 0.0).then(|| {
        let (t, _) = nice_ticks(0.0, v, 10);
        t.last().copied().unwrap_or(v)
    })
}

/// Where a vein-to-vein axis is cut: twice the p95 target, or a quarter above the slowest
/// point that meets the target if that is higher; no cut without a p95 target.
fn days_cut(r: &StudyResult) -> Option<f64> {
    let t = r.target.p95_vein_to_vein_days?;
    let ok_hi = grid(r)
        .filter(|p| r.target.shortfall(p).is_none())
        .map(|p| p.vein_to_vein_p95)
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    round_up((2.0 * t).max(1.25 * ok_hi))
}

/// The y range shared by the panels of a figure: the lowest value to the cut.
fn shared_range(panels: &[Panel], cut: Option<f64>) -> Option<[f64; 2]> {
    let vals = panels
        .iter()
        .flat_map(|p| &p.chart.curves)
        .flat_map(|c| &c.points)
        .flat_map(|p| [Some(p.y), p.band.map(|b| b[0]), p.band.map(|b| b[1])])
        .flatten()
        .filter(|v| v.is_finite());
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    lo.is_finite().then(|| [lo, cut.map_or(hi, |c| hi.min(c))])
}

/// Hatched stretches around the `xs` where `none` holds, halfway to their neighbours.
fn stretches(xs: &[f64], none: &[bool]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = Vec::new();
    for (i, x) in xs.iter().enumerate() {
        if !none[i] {
            continue;
        }
        let a = if i == 0 { *x } else { (xs[i - 1] + x) / 2.0 };
        let b = xs.get(i + 1).map_or(*x, |n| (x + n) / 2.0);
        match out.last_mut() {
            Some(last) if last[1] >= a => last[1] = b,
            _ => out.push([a, b]),
        }
    }
    out
}

/// Every figure of a study report, in the order they are shown.
pub fn figures(r: &StudyResult) -> Vec<Figure> {
    let Some(main) = study::main_axis(&r.axes) else {
        return vec![pareto(r)];
    };
    let other = r.axes.iter().map(String::as_str).find(|a| *a != main);
    let mut v = vec![best_cost(r, main)];
    if let Some(o) = other {
        v.push(cost_panels(r, main, o));
    }
    v.push(days(r, main, other));
    v.push(pareto(r));
    v
}

/// Colour of a reference curve drawn in every panel (black, the last of the palette).
const REFERENCE: usize = 7;

/// Curves split into small multiples (one per curve, each with the `reference` curve
/// behind it) when there are too many for one chart; every panel gets the same y range.
fn split(
    curves: Vec<Curve>,
    reference: Option<Curve>,
    chart: XyChart,
    axes: Axes,
    cut: Option<f64>,
) -> Vec<Panel> {
    let mut panels = if curves.len() > MAX_LINES {
        curves
            .into_iter()
            .map(|c| Panel {
                axes: Axes {
                    title: c.name.clone(),
                    ..axes.clone()
                }
                .size(400.0, 270.0),
                chart: XyChart {
                    legend: reference.is_some(),
                    curves: reference.iter().cloned().chain([c]).collect(),
                    ..chart.clone()
                },
            })
            .collect()
    } else {
        vec![Panel {
            chart: XyChart {
                curves,
                legend: true,
                ..chart
            },
            axes,
        }]
    };
    if panels.len() > 1 {
        let range = shared_range(&panels, cut);
        for p in &mut panels {
            p.chart.y_range = range;
        }
    }
    panels
}

/// Cost per dose of each concept's cheapest configuration meeting the target along the main
/// axis; where a concept has none, its cheapest configuration drawn open.
fn best_cost(r: &StudyResult, main: &str) -> Figure {
    let cur = currency(r);
    let xs = values_of(r, main);
    let mut curves = Vec::new();
    for (ci, label) in concepts(r).iter().enumerate() {
        let mut points = Vec::new();
        for x in &xs {
            let at: Vec<&PointResult> = grid(r)
                .filter(|p| p.point.label == *label && p.point.values.get(main) == Some(x))
                .collect();
            let cheapest = |ok: bool| {
                at.iter()
                    .copied()
                    .filter(|p| (r.target.shortfall(p).is_none()) == ok)
                    .filter_map(|p| per_dose(p).map(|s| (p, s.mean)))
                    .min_by(|a, b| {
                        a.1.total_cmp(&b.1)
                            .then(a.0.point.index.cmp(&b.0.point.index))
                    })
                    .map(|(p, _)| p)
            };
            if let Some(p) = cheapest(true).or_else(|| cheapest(false)) {
                points.extend(cost_point(r, p, *x, &cur));
            }
        }
        curves.push(Curve {
            name: label.clone(),
            colour: ci,
            points,
            joined: true,
        });
    }
    let none: Vec<bool> = xs
        .iter()
        .map(|x| {
            !grid(r).any(|p| p.point.values.get(main) == Some(x) && r.target.shortfall(p).is_none())
        })
        .collect();
    // The cheapest configuration of any concept meeting the target: behind every panel.
    let reference = Curve {
        name: "cheapest of all concepts".to_string(),
        colour: REFERENCE,
        points: study::decide(r, &[main])
            .iter()
            .filter_map(|d| {
                let w = grid(r).find(|p| Some(p.point.index) == d.winner)?;
                let q = cost_point(r, w, d.at[0], &cur)?;
                Some(XyPoint { band: None, ..q })
            })
            .collect(),
        joined: true,
    };
    let cut = cost_cut(r);
    let chart = XyChart {
        y_cut: cut,
        stretches: stretches(&xs, &none),
        stretch_label: "no concept meets the target".to_string(),
        ..XyChart::default()
    };
    let axes = Axes::new("")
        .x_label(axis_name(main))
        .y_label(format!("{cur} per dose"))
        .format(Format::Number(0))
        .x_format(x_format(&xs))
        .size(1240.0, 400.0);
    let panels = split(curves, Some(reference), chart, axes, cut);
    Figure {
        title: format!(
            "Cost per dose against {}: each concept's cheapest configuration that meets the target",
            axis_name(main)
        ),
        reading: format!(
            "Read: at your {} the lowest filled point is the concept to build; the shaded band is \
             its 95 % interval; open points on dashed segments: no configuration of that concept \
             meets the target there (its cheapest one is shown); hatched: no concept does.",
            axis_name(main)
        ),
        panels,
    }
}

/// For two-axis studies: cost per dose along the main axis, one panel per value of the
/// other axis, one curve per concept.
fn cost_panels(r: &StudyResult, main: &str, other: &str) -> Figure {
    let cur = currency(r);
    let cut = cost_cut(r);
    let xs = values_of(r, main);
    let mut panels = Vec::new();
    for v in values_of(r, other) {
        let curves = curves_along(
            r,
            main,
            |p| p.point.values.get(other) == Some(&v),
            |p, x| cost_point(r, p, x, &cur),
        );
        panels.push(Panel {
            chart: XyChart {
                curves,
                y_cut: cut,
                legend: true,
                ..XyChart::default()
            },
            axes: Axes::new(format!("{} {}", axis_value(v), axis_name(other)))
                .x_label(axis_name(main))
                .y_label(format!("{cur} per dose"))
                .format(Format::Number(0))
                .x_format(x_format(&xs))
                .size(400.0, 280.0),
        });
    }
    let range = shared_range(&panels, cut);
    for p in &mut panels {
        p.chart.y_range = range;
    }
    Figure {
        title: format!(
            "Cost per dose against {}, one panel per number of {}",
            axis_name(main),
            axis_name(other)
        ),
        reading: format!(
            "Read: within a panel ({} fixed), filled points meet the target; open points on \
             dashed segments do not (too slow, or the plant cannot keep up with the demand).",
            axis_name(other)
        ),
        panels,
    }
}

/// One curve per concept through the grid points that pass `keep`, in ascending order of
/// `axis`; `point` makes the chart point of a grid point at x.
fn curves_along(
    r: &StudyResult,
    axis: &str,
    keep: impl Fn(&PointResult) -> bool,
    point: impl Fn(&PointResult, f64) -> Option<XyPoint>,
) -> Vec<Curve> {
    concepts(r)
        .iter()
        .enumerate()
        .map(|(ci, label)| {
            let mut pts: Vec<(&PointResult, f64)> = grid(r)
                .filter(|p| p.point.label == *label && keep(p))
                .filter_map(|p| p.point.values.get(axis).map(|x| (p, *x)))
                .collect();
            pts.sort_by(|a, b| a.1.total_cmp(&b.1));
            pts.dedup_by(|a, b| a.1.to_bits() == b.1.to_bits());
            Curve {
                name: label.clone(),
                colour: ci,
                points: pts.into_iter().filter_map(|(p, x)| point(p, x)).collect(),
                joined: true,
            }
        })
        .filter(|c| !c.points.is_empty())
        .collect()
}

/// p95 vein-to-vein time: for two axes against the other axis, one panel per main-axis value;
/// for one axis against it, one curve per concept. The p95 target is a red line.
fn days(r: &StudyResult, main: &str, other: Option<&str>) -> Figure {
    let cut = days_cut(r);
    let point = |p: &PointResult, x: f64| {
        let ok = r.target.shortfall(p).is_none();
        p.vein_to_vein_p95.is_finite().then(|| XyPoint {
            x,
            y: p.vein_to_vein_p95,
            band: None,
            ok,
            tip: tip(r, p, &currency(r)),
        })
    };
    let axes_of = |title: String, x: &str| {
        let mut a = Axes::new(title)
            .x_label(axis_name(x))
            .y_label("p95 vein-to-vein days")
            .format(Format::Number(0))
            .x_format(x_format(&values_of(r, x)));
        a.min = Some(0.0);
        if let Some(t) = r.target.p95_vein_to_vein_days {
            a = a.mark(Mark::new(t, format!("target {t} days"), MarkStyle::Target));
        }
        a
    };
    let panels = match other {
        Some(o) => {
            let mut panels: Vec<Panel> = values_of(r, main)
                .into_iter()
                .map(|v| Panel {
                    chart: XyChart {
                        curves: curves_along(r, o, |p| p.point.values.get(main) == Some(&v), point),
                        y_cut: cut,
                        legend: true,
                        ..XyChart::default()
                    },
                    axes: axes_of(format!("{} {}", axis_value(v), axis_name(main)), o)
                        .size(400.0, 280.0),
                })
                .collect();
            let range = shared_range(&panels, cut);
            for p in &mut panels {
                p.chart.y_range = range;
            }
            panels
        }
        None => split(
            curves_along(r, main, |_| true, point),
            None,
            XyChart {
                y_cut: cut,
                ..XyChart::default()
            },
            axes_of(String::new(), main).size(1240.0, 380.0),
            cut,
        ),
    };
    let (x, per) = match other {
        Some(o) => (o, format!(", one panel per {}", axis_name(main))),
        None => (main, String::new()),
    };
    Figure {
        title: format!("p95 vein-to-vein time against {}{per}", axis_name(x)),
        reading: format!(
            "Read: points under the red target line meet it; open points miss the target (a \
             plant that cannot keep up shows a lower bound){}.",
            if other.is_some() {
                format!(
                    "; the first filled point of a panel is the fewest {} that serve that demand",
                    axis_name(x)
                )
            } else {
                String::new()
            }
        ),
        panels,
    }
}

/// Cost per dose against p95 vein-to-vein time: every configuration a dot (unordered, so not
/// joined), the Pareto front as a curve along increasing p95.
fn pareto(r: &StudyResult) -> Figure {
    let cur = currency(r);
    let labels = concepts(r);
    let mut curves: Vec<Curve> = labels
        .iter()
        .enumerate()
        .map(|(ci, label)| Curve {
            name: label.clone(),
            colour: ci,
            points: grid(r)
                .filter(|p| p.point.label == *label && p.vein_to_vein_p95.is_finite())
                .filter_map(|p| cost_point(r, p, p.vein_to_vein_p95, &cur))
                .collect(),
            joined: false,
        })
        .collect();
    let mut front: Vec<XyPoint> = r
        .pareto
        .iter()
        .filter_map(|i| grid(r).find(|p| p.point.index == *i))
        .filter(|p| p.vein_to_vein_p95.is_finite())
        .filter_map(|p| {
            cost_point(r, p, p.vein_to_vein_p95, &cur).map(|q| XyPoint {
                band: None,
                ok: true,
                ..q
            })
        })
        .collect();
    front.sort_by(|a, b| a.x.total_cmp(&b.x));
    front.dedup_by(|a, b| a.x.to_bits() == b.x.to_bits());
    if front.len() > 1 {
        curves.push(Curve {
            name: "Pareto front".to_string(),
            colour: REFERENCE,
            points: front,
            joined: true,
        });
    }
    let mut chart = XyChart {
        curves,
        y_cut: cost_cut(r),
        x_cut: days_cut(r),
        legend: true,
        ..XyChart::default()
    };
    if let Some(t) = r.target.p95_vein_to_vein_days {
        chart
            .x_marks
            .push(Mark::new(t, format!("target {t} days"), MarkStyle::Target));
    }
    Figure {
        title: "Cost per dose against p95 vein-to-vein time: every configuration".to_string(),
        reading: "Read: each dot is one configuration (whiskers: 95 % interval of its cost); \
                  down and left is cheaper and faster; open dots miss the target; the line \
                  joins the Pareto front (no other configuration is both cheaper and faster)."
            .to_string(),
        panels: vec![Panel {
            chart,
            axes: Axes::new("")
                .x_label("p95 vein-to-vein days")
                .y_label(format!("{cur} per dose"))
                .format(Format::Number(0))
                .x_format(Format::Number(0))
                .size(1240.0, 420.0),
        }],
    }
}

/// A figure as HTML: its heading, its panels (a grid of small multiples when there are
/// several) and its reading aid.
pub fn render(f: &Figure) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<h3>{}</h3>", escape(&f.title));
    let _ = write!(b, "<figure>");
    if f.panels.len() > 1 {
        b.push_str("<div class=\"panels\">");
    }
    for p in &f.panels {
        b.push_str(&xy_chart(&p.chart, &p.axes));
    }
    if f.panels.len() > 1 {
        b.push_str("</div>");
    }
    let _ = writeln!(
        b,
        "<figcaption>{}</figcaption></figure>",
        escape(&f.reading)
    );
    b
}
