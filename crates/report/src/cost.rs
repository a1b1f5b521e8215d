//! Cost reports: the cost section of a simulation report (breakdown per category, every line,
//! fixed and variable parts) and the study report (cost per dose against demand per concept,
//! p95 vein-to-vein against equipment, Pareto front, tornado, concept-by-concept table), each
//! with CSV tables. Charts come from [`crate::svg`], the page shell from [`crate::page`].

use std::collections::BTreeSet;
use std::fmt::Write as _;

use cost::study::{PointKind, PointResult, StudyResult};
use cost::{Category, CostSummary};
use sim::Stat;

use crate::page::{self, Cell, escape, mean_ci};
use crate::svg::{self, Axes, Format, Layer, Series, Value};

fn money(v: f64) -> String {
    Format::Number(0).fmt(v)
}

fn stat_cell(s: &Stat) -> Cell {
    Cell::html(mean_ci(s.mean, s.ci95, Format::Number(0)), true)
}

fn csv_table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(&r);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn f6(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.6}")
    } else {
        String::new()
    }
}

/// The cost section of a simulation report (an HTML fragment with an `id="cost"` section).
pub fn cost_section(c: &CostSummary) -> String {
    let cur = escape(&c.currency);
    let mut b = String::new();
    let _ = writeln!(b, "<section id=\"cost\">\n<h2>Cost of goods</h2>");
    let _ = writeln!(
        b,
        "<p class=\"muted\">Every line is priced per replication from what the simulation \
         counted (batches, runs and failures per step, doses released, patients admitted, staff \
         hours), then averaged with 95&#160;% confidence intervals over {} replications. \
         Amounts in {cur}{}; investments annualised as {}{}.</p>",
        c.replications,
        if c.price_basis.is_empty() {
            String::new()
        } else {
            format!(" ({})", escape(&c.price_basis))
        },
        if c.annualisation == "annuity" {
            "an annuity"
        } else {
            "straight-line depreciation"
        },
        c.discount_rate
            .map(|r| format!(" at a discount rate of {}", Format::Percent(1).fmt(r)))
            .unwrap_or_default()
    );
    b.push_str(&cost_figures(c));
    b.push_str(&cost_charts(c));
    b.push_str(&cost_lines(c));
    let _ = writeln!(
        b,
        "<p class=\"small muted\">The same figures are in <code>results.json</code> (block \
         <code>cost</code>), <code>cost.csv</code> and <code>cost_lines.csv</code>.</p>\n</section>"
    );
    b
}

/// The table of the headline cost figures with their confidence intervals.
fn cost_figures(c: &CostSummary) -> String {
    let rows = vec![
        vec![Cell::text("cost per released dose"), stat_cell(&c.per_dose)],
        vec![
            Cell::text("cost per patient admitted (intention to treat, lost patients included)"),
            stat_cell(&c.per_patient_treated),
        ],
        vec![Cell::text("yearly total"), stat_cell(&c.annual_total)],
        vec![
            Cell::text("  fixed part per year"),
            stat_cell(&c.fixed_annual),
        ],
        vec![
            Cell::text("  variable part per year"),
            stat_cell(&c.variable_annual),
        ],
        vec![
            Cell::text("fixed part per dose"),
            stat_cell(&c.fixed_per_dose),
        ],
        vec![
            Cell::text("variable part per dose"),
            stat_cell(&c.variable_per_dose),
        ],
        vec![
            Cell::text("doses released per year"),
            Cell::html(
                mean_ci(
                    c.doses_per_year.mean,
                    c.doses_per_year.ci95,
                    Format::Number(1),
                ),
                true,
            ),
        ],
        vec![
            Cell::text("total investment (equipment, qualification, rooms)"),
            Cell::num(&money(c.investment)),
        ],
        vec![
            Cell::text("investment per year as annuity / straight-line"),
            Cell::num(&format!(
                "{} / {}",
                money(c.capital_annuity),
                money(c.capital_straight_line)
            )),
        ],
    ];
    page::table(&["figure", &format!("{} [95 % CI]", c.currency)], &rows)
}

/// The cost per dose by category and the fixed/variable split, side by side.
fn cost_charts(c: &CostSummary) -> String {
    let cats: Vec<String> = Category::ALL.iter().map(|k| k.name().to_string()).collect();
    let series = vec![Series {
        name: "per dose".to_string(),
        values: cats
            .iter()
            .map(|k| {
                c.per_dose_by_category
                    .get(k)
                    .map(|s| Value::with_ci(s.mean, s.ci95))
            })
            .collect(),
    }];
    let chart = svg::hbar_chart(
        &cats,
        &series,
        &Axes::new("Cost per dose by category")
            .x_label(format!("{} per dose", c.currency))
            .format(Format::Number(0))
            .size(640.0, 260.0),
    );
    let fixed_var = svg::stacked_bars(
        &["per dose".to_string()],
        &[
            Layer {
                name: "fixed".to_string(),
                values: vec![c.fixed_per_dose.mean],
            },
            Layer {
                name: "variable".to_string(),
                values: vec![c.variable_per_dose.mean],
            },
        ],
        &Axes::new("Fixed and variable parts")
            .y_label(format!("{} per dose", c.currency))
            .format(Format::Number(0))
            .size(300.0, 260.0),
    );
    format!(
        "<div class=\"grid\">{}{}</div>\n",
        page::figure(
            &chart,
            "Whiskers: 95 % confidence interval across replications."
        ),
        page::figure(&fixed_var, "")
    )
}

/// The table of every cost line, per year and per dose.
fn cost_lines(c: &CostSummary) -> String {
    let line_rows: Vec<Vec<Cell>> = c
        .lines
        .iter()
        .map(|l| {
            vec![
                Cell::text(&l.category),
                Cell::text(&l.name),
                Cell::text(&l.behaviour),
                stat_cell(&l.annual),
                stat_cell(&l.per_dose),
            ]
        })
        .collect();
    let mut b = String::from("<h3>Every cost line</h3>\n");
    b.push_str(&page::table(
        &[
            "category",
            "line",
            "fixed / variable",
            "per year [95 % CI]",
            "per dose [95 % CI]",
        ],
        &line_rows,
    ));
    b
}

/// Inserts a section into a report before its footer (or at the end of the body).
pub fn insert_section(html: &str, section: &str) -> String {
    if let Some(i) = html.find("<footer>") {
        format!("{}{section}\n{}", &html[..i], &html[i..])
    } else if let Some(i) = html.rfind("</body>") {
        format!("{}{section}\n{}", &html[..i], &html[i..])
    } else {
        format!("{html}{section}")
    }
}

/// CSV tables of a cost summary: `cost.csv` (key figures and categories) and
/// `cost_lines.csv` (every line).
pub fn cost_csv(c: &CostSummary) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut push = |k: &str, s: &Stat| {
        rows.push(vec![
            k.to_string(),
            f6(s.mean),
            f6(s.ci95[0]),
            f6(s.ci95[1]),
        ]);
    };
    push("per_dose", &c.per_dose);
    push("per_patient_treated", &c.per_patient_treated);
    push("annual_total", &c.annual_total);
    push("fixed_annual", &c.fixed_annual);
    push("variable_annual", &c.variable_annual);
    push("fixed_per_dose", &c.fixed_per_dose);
    push("variable_per_dose", &c.variable_per_dose);
    push("doses_per_year", &c.doses_per_year);
    push("patients_per_year", &c.patients_per_year);
    for (k, s) in &c.by_category {
        push(&format!("annual_{k}"), s);
    }
    for (k, s) in &c.per_dose_by_category {
        push(&format!("per_dose_{k}"), s);
    }
    let summary = csv_table(&["metric", "mean", "ci95_low", "ci95_high"], rows);
    let lines = csv_table(
        &[
            "category",
            "line",
            "behaviour",
            "annual_mean",
            "annual_ci95_low",
            "annual_ci95_high",
            "per_dose_mean",
            "per_dose_ci95_low",
            "per_dose_ci95_high",
        ],
        c.lines
            .iter()
            .map(|l| {
                vec![
                    l.category.clone(),
                    l.name.clone(),
                    l.behaviour.clone(),
                    f6(l.annual.mean),
                    f6(l.annual.ci95[0]),
                    f6(l.annual.ci95[1]),
                    f6(l.per_dose.mean),
                    f6(l.per_dose.ci95[0]),
                    f6(l.per_dose.ci95[1]),
                ]
            })
            .collect(),
    );
    vec![
        ("cost.csv".to_string(), summary),
        ("cost_lines.csv".to_string(), lines),
    ]
}

// ---- studies ------------------------------------------------------------------------------

fn grid(r: &StudyResult) -> Vec<&PointResult> {
    r.points
        .iter()
        .filter(|p| p.point.kind == PointKind::Grid)
        .collect()
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// A self-contained HTML report of a study.
pub fn study_html(r: &StudyResult) -> String {
    let mut b = String::new();
    let cur = r
        .points
        .iter()
        .find_map(|p| p.cost.as_ref().map(|c| c.currency.clone()))
        .unwrap_or_else(|| "EUR".to_string());
    let g = grid(r);
    study_header(&mut b, r, &g);
    b.push_str(&crate::decision::summary(r, &cur));
    study_charts(&mut b, r, &cur);
    cost_breakdown(&mut b, r, &g, &cur);
    points_table(&mut b, r, &g, &cur);
    let _ = writeln!(
        b,
        "<footer>Written by atmpflow {}; study file sha256 {}. The same figures are in \
         study.json, points.csv, pareto.csv and tornado.csv beside this file.</footer>",
        escape(&r.program_version),
        escape(&r.study_sha256)
    );
    page::document(&format!("{} — study report", r.study), &b)
}

/// The header of the study report: title, run settings, and warnings on missing, failed and
/// uncosted points.
fn study_header(b: &mut String, r: &StudyResult, g: &[&PointResult]) {
    let _ = writeln!(b, "<header>\n<h1>{}</h1>", escape(&r.study));
    if !r.description.is_empty() {
        let _ = writeln!(b, "<p>{}</p>", escape(&r.description));
    }
    let _ = writeln!(
        b,
        "<p class=\"muted\">Scenario study: {} points × {} replications; seed {} ({}), point \
         <em>i</em> simulated with a seed derived from the study seed and <em>i</em>.</p>",
        r.points_total,
        r.replications,
        r.seed,
        escape(&r.rng)
    );
    if r.partial {
        let _ = writeln!(
            b,
            "<p class=\"warn\"><strong>Partial result:</strong> {} of {} points are missing \
             (cancelled, or shards not yet merged): {}.</p>",
            r.missing.len(),
            r.points_total,
            escape(&short_list(&r.missing))
        );
    }
    for (i, e) in &r.failed {
        let _ = writeln!(
            b,
            "<p class=\"warn\">Point {i} could not be simulated: {}</p>",
            escape(e)
        );
    }
    let undefined: Vec<&&PointResult> = g.iter().filter(|p| p.cost.is_none()).collect();
    for p in &undefined {
        let _ = writeln!(
            b,
            "<p class=\"warn\">Point {} ({}): {}</p>",
            p.point.index,
            escape(&p.point.label),
            escape(p.cost_error.as_deref().unwrap_or("no cost"))
        );
    }
    b.push_str("</header>\n");
}

/// The charts section: the figures of [`crate::study_charts`] at full page width, then the
/// tornado.
fn study_charts(b: &mut String, r: &StudyResult, cur: &str) {
    let _ = writeln!(b, "<h2>Charts</h2>");
    for f in crate::study_charts::figures(r) {
        b.push_str(&crate::study_charts::render(&f));
    }
    if !r.tornado.is_empty() {
        tornado_figure(b, r, cur);
    }
}

/// The tornado chart: the inputs that move the cost per dose most.
fn tornado_figure(b: &mut String, r: &StudyResult, cur: &str) {
    let shown: Vec<_> = r.tornado.iter().take(15).collect();
    let cats: Vec<String> = shown
        .iter()
        .map(|t| {
            if t.label.is_empty() {
                t.input.clone()
            } else {
                t.label.clone()
            }
        })
        .collect();
    let d = r.delta.unwrap_or(0.0);
    let series = vec![
        Series {
            name: format!("input −{}", Format::Percent(0).fmt(d)),
            values: shown
                .iter()
                .map(|t| Some(Value::plain(t.low - t.base)))
                .collect(),
        },
        Series {
            name: format!("input +{}", Format::Percent(0).fmt(d)),
            values: shown
                .iter()
                .map(|t| Some(Value::plain(t.high - t.base)))
                .collect(),
        },
    ];
    let base = shown.first().map(|t| t.base).unwrap_or(0.0);
    b.push_str(&page::figure(
        &svg::hbar_chart(
            &cats,
            &series,
            &Axes::new(format!(
                "Tornado: change of cost per dose (base {} {cur})",
                money(base)
            ))
            .x_label(format!("{cur} per dose, relative to the base point"))
            .format(Format::Number(0))
            .size(1240.0, 90.0 + 26.0 * shown.len() as f64),
        ),
        &format!(
            "Read: the longest bars are the inputs whose ±{} change moves the cost per dose \
             most — check those figures first. Base point {}{}; the widest {} inputs. Cost \
             inputs are re-priced on the base point's replications; scenario parameters are \
             simulated again with the base point's seed.",
            Format::Percent(0).fmt(d),
            r.base.map(|b| b.to_string()).unwrap_or_default(),
            r.base
                .and_then(|i| r.points.iter().find(|p| p.point.index == i))
                .map(|p| format!(" ({})", crate::decision::configuration(p, &[])))
                .unwrap_or_default(),
            shown.len()
        ),
    ));
}

/// Stacked cost breakdown per point (when there are at most 40 points with a cost), in the
/// order of the point table.
fn cost_breakdown(b: &mut String, r: &StudyResult, g: &[&PointResult], cur: &str) {
    let sorted = in_table_order(r, g);
    let with_cost: Vec<&&PointResult> = sorted.iter().filter(|p| p.cost.is_some()).collect();
    if !with_cost.is_empty() && with_cost.len() <= 40 {
        let cats: Vec<String> = with_cost
            .iter()
            .map(|p| crate::decision::configuration(p, &[]))
            .collect();
        let layers: Vec<Layer> = Category::ALL
            .iter()
            .map(|k| Layer {
                name: k.name().to_string(),
                values: with_cost
                    .iter()
                    .map(|p| {
                        p.cost
                            .as_ref()
                            .and_then(|c| c.per_dose_by_category.get(k.name()))
                            .map_or(0.0, |s| s.mean)
                    })
                    .collect(),
            })
            .collect();
        let _ = writeln!(b, "<h2>Cost breakdown per point</h2>");
        b.push_str(&page::figure(
            &svg::stacked_bars(
                &cats,
                &layers,
                &Axes::new("Cost per dose by category")
                    .y_label(format!("{cur} per dose"))
                    .format(Format::Number(0))
                    .size(1240.0, 420.0),
            ),
            "Read: each bar is one configuration, split into the cost categories of the cost \
             model; compare the heights of the layers to see where the money goes.",
        ));
    }
}

/// Points by concept in study order, then by the axis values in numeric order (axes in file
/// order).
pub fn in_table_order<'a>(r: &StudyResult, g: &[&'a PointResult]) -> Vec<&'a PointResult> {
    let mut sorted = g.to_vec();
    let concept = |p: &PointResult| r.points.iter().position(|q| q.point.label == p.point.label);
    sorted.sort_by(|a, b| {
        concept(a).cmp(&concept(b)).then_with(|| {
            r.axes
                .iter()
                .map(|k| {
                    let v = |p: &PointResult| p.point.values.get(k).copied().unwrap_or(f64::NAN);
                    v(a).total_cmp(&v(b))
                })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    });
    sorted
}

/// The table of every point: concepts in study order, then the axis values in numeric order;
/// sortable by any column and filterable in the browser.
fn points_table(b: &mut String, r: &StudyResult, g: &[&PointResult], cur: &str) {
    let _ = writeln!(b, "<h2>Every point</h2>");
    let axes = r.axes.clone();
    let mut header: Vec<String> = vec!["#".into(), "concept".into()];
    header.extend(axes.iter().map(|a| crate::decision::axis_name(a)));
    header.extend(
        [
            "sized for the demand",
            "equipment units",
            "doses / year",
            &format!("{cur} per dose [95 % CI]"),
            &format!("{cur} per patient (ITT)"),
            &format!("{cur} per year"),
            "v2v p95 days",
            "patients lost",
            "max utilisation",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let sorted = in_table_order(r, g);
    let rows: Vec<Vec<Cell>> = sorted
        .iter()
        .map(|p| {
            let mut row = vec![
                Cell::num(&p.point.index.to_string()),
                Cell::text(&p.point.label),
            ];
            for a in &axes {
                row.push(Cell::num(
                    &p.point.values.get(a).map(|v| trim(*v)).unwrap_or_default(),
                ));
            }
            row.push(Cell::html(
                format!(
                    "<div class=\"sized\">{}</div>",
                    p.point
                        .sized
                        .iter()
                        .map(|(k, v)| {
                            format!(
                                "<span title=\"{}\">{} {}</span>",
                                escape(k),
                                escape(&trim(*v)),
                                escape(&crate::decision::axis_name(k))
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                false,
            ));
            row.push(Cell::num(&p.equipment_units.to_string()));
            row.push(Cell::num(
                &Format::Number(1).fmt(p.throughput_per_year.mean),
            ));
            match &p.cost {
                Some(c) => {
                    row.push(stat_cell(&c.per_dose));
                    row.push(Cell::num(&money(c.per_patient_treated.mean)));
                    row.push(Cell::num(&money(c.annual_total.mean)));
                }
                None => {
                    for _ in 0..3 {
                        row.push(Cell::num("–"));
                    }
                }
            }
            // A plant that did not keep up has patients still in process at the cut-off:
            // its vein-to-vein figures are lower bounds.
            let bound = if p.vein_to_vein_is_lower_bound() {
                "≥ "
            } else {
                ""
            };
            row.push(Cell::num(&format!(
                "{bound}{}",
                Format::Number(1).fmt(p.vein_to_vein_p95)
            )));
            row.push(Cell::num(
                &Format::Percent(1).fmt(p.patients_lost_fraction.mean),
            ));
            row.push(Cell::num(&Format::Percent(0).fmt(p.max_utilisation)));
            row
        })
        .collect();
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    b.push_str(&page::sortable_table(&hdr, &rows));
    if g.iter().any(|p| p.vein_to_vein_is_lower_bound()) {
        b.push_str(
            "<p>“≥” marks points whose plant did not keep up: patients were still in process \
             when the run was cut off (one year after the horizon) and count at their time since \
             apheresis then, so the vein-to-vein figure is a lower bound.</p>\n",
        );
    }
}

fn short_list(v: &[usize]) -> String {
    let s: Vec<String> = v.iter().take(30).map(|x| x.to_string()).collect();
    if v.len() > 30 {
        format!("{}, … ({} in all)", s.join(", "), v.len())
    } else {
        s.join(", ")
    }
}

/// CSV tables of a study: `points.csv`, `pareto.csv`, `tornado.csv`.
pub fn study_csv(r: &StudyResult) -> Vec<(String, String)> {
    vec![
        ("points.csv".to_string(), points_csv(r)),
        ("pareto.csv".to_string(), pareto_csv(r)),
        ("tornado.csv".to_string(), tornado_csv(r)),
    ]
}

/// `points.csv`: one row a point, its axis and sized values, figures and costs.
fn points_csv(r: &StudyResult) -> String {
    let axes: BTreeSet<String> = r
        .points
        .iter()
        .flat_map(|p| p.point.values.keys().cloned())
        .collect();
    let sized: BTreeSet<String> = r
        .points
        .iter()
        .flat_map(|p| p.point.sized.keys().cloned())
        .collect();
    let mut header: Vec<String> = vec!["point".into(), "kind".into(), "concept".into()];
    header.extend(axes.iter().cloned());
    header.extend(sized.iter().map(|s| format!("sized:{s}")));
    for h in [
        "seed",
        "patients_per_year_input",
        "equipment_units",
        "throughput_per_year_mean",
        "vein_to_vein_mean",
        "vein_to_vein_p95",
        "vein_to_vein_censored_fraction",
        "on_time_fraction_mean",
        "patients_lost_fraction_mean",
        "max_utilisation",
        "per_dose_mean",
        "per_dose_ci95_low",
        "per_dose_ci95_high",
        "per_patient_treated_mean",
        "annual_total_mean",
        "fixed_annual_mean",
        "variable_annual_mean",
    ] {
        header.push(h.to_string());
    }
    for k in Category::ALL {
        header.push(format!("per_dose_{}", k.name()));
    }
    header.push("cost_error".into());
    let rows: Vec<Vec<String>> = r
        .points
        .iter()
        .map(|p| point_row(p, &axes, &sized))
        .collect();
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    csv_table(&hdr, rows)
}

/// One row of `points.csv` (the columns of `points_csv`'s header).
fn point_row(p: &PointResult, axes: &BTreeSet<String>, sized: &BTreeSet<String>) -> Vec<String> {
    let mut row = vec![
        p.point.index.to_string(),
        match &p.point.kind {
            PointKind::Grid => "grid".to_string(),
            PointKind::Sensitivity { param, factor } => {
                format!("sensitivity {param} x{factor}")
            }
        },
        p.point.label.clone(),
    ];
    for a in axes {
        row.push(p.point.values.get(a).map(|v| f6(*v)).unwrap_or_default());
    }
    for s in sized {
        row.push(p.point.sized.get(s).map(|v| f6(*v)).unwrap_or_default());
    }
    row.push(p.point.seed.to_string());
    row.push(f6(p.patients_per_year_input));
    row.push(p.equipment_units.to_string());
    row.push(f6(p.throughput_per_year.mean));
    row.push(f6(p.vein_to_vein_mean.mean));
    row.push(f6(p.vein_to_vein_p95));
    row.push(f6(p.vein_to_vein_censored));
    row.push(f6(p.on_time_fraction.mean));
    row.push(f6(p.patients_lost_fraction.mean));
    row.push(f6(p.max_utilisation));
    match &p.cost {
        Some(c) => {
            row.push(f6(c.per_dose.mean));
            row.push(f6(c.per_dose.ci95[0]));
            row.push(f6(c.per_dose.ci95[1]));
            row.push(f6(c.per_patient_treated.mean));
            row.push(f6(c.annual_total.mean));
            row.push(f6(c.fixed_annual.mean));
            row.push(f6(c.variable_annual.mean));
            for k in Category::ALL {
                row.push(
                    c.per_dose_by_category
                        .get(k.name())
                        .map(|s| f6(s.mean))
                        .unwrap_or_default(),
                );
            }
        }
        None => row.extend(std::iter::repeat_n(String::new(), 7 + Category::ALL.len())),
    }
    row.push(p.cost_error.clone().unwrap_or_default());
    row
}

/// `pareto.csv`: the Pareto front in rank order.
fn pareto_csv(r: &StudyResult) -> String {
    csv_table(
        &[
            "rank",
            "point",
            "concept",
            "per_dose_mean",
            "vein_to_vein_p95",
        ],
        r.pareto
            .iter()
            .enumerate()
            .filter_map(|(k, i)| {
                r.points.iter().find(|p| p.point.index == *i).map(|p| {
                    vec![
                        (k + 1).to_string(),
                        p.point.index.to_string(),
                        p.point.label.clone(),
                        p.cost
                            .as_ref()
                            .map(|c| f6(c.per_dose.mean))
                            .unwrap_or_default(),
                        f6(p.vein_to_vein_p95),
                    ]
                })
            })
            .collect(),
    )
}

/// `tornado.csv`: cost per dose at the low, base and high value of each input.
fn tornado_csv(r: &StudyResult) -> String {
    csv_table(
        &[
            "input",
            "base_value",
            "per_dose_low",
            "per_dose_base",
            "per_dose_high",
            "resimulated",
        ],
        r.tornado
            .iter()
            .map(|t| {
                vec![
                    t.input.clone(),
                    t.base_value.map(f6).unwrap_or_default(),
                    f6(t.low),
                    f6(t.base),
                    f6(t.high),
                    t.resimulated.to_string(),
                ]
            })
            .collect(),
    )
}
