//! The decision a study was run for, first on its report: per value of the main axis (demand
//! when swept) the cheapest configuration that meets the study's target, with its cost per
//! dose and interval and whether it wins clearly; for two-axis studies a decision map (which
//! concept wins in each cell). The charts are in [`crate::study_charts`].

use std::fmt::Write as _;

use cost::study::{self, Decision, PointResult, StudyResult};

use crate::page::{Cell, escape, mean_ci, table};
use crate::svg::{Format, series_colour};

/// An axis parameter in words with its unit: `demand.*.patients_per_year` reads "patients
/// per year", `equipment.incubator.count` "incubator units", an alias stays as it is.
pub fn axis_name(param: &str) -> String {
    let segs: Vec<&str> = param.split('.').collect();
    match segs.as_slice() {
        [one] => one.replace('_', " "),
        [.., "patients_per_year"] => "patients per year".to_string(),
        [.., "patients_per_week"] => "patients per week".to_string(),
        [.., pool, "count"] => format!("{pool} units"),
        [.., pool, "capacity"] => format!("{pool} places"),
        ["cost", rest @ ..] => format!("cost › {}", study::describe_param(None, &rest.join("."))),
        _ => study::describe_param(None, param),
    }
}

/// An axis value as a number (no trailing zeros).
pub fn axis_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Format::Number(0).fmt(v)
    } else {
        format!("{v}")
    }
}

fn point(r: &StudyResult, i: usize) -> Option<&PointResult> {
    r.points.iter().find(|p| p.point.index == i)
}

/// The configuration of a point: its concept and the values of the axes other than `skip`.
pub fn configuration(p: &PointResult, skip: &[&str]) -> String {
    let others: Vec<String> = p
        .point
        .values
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| format!("{} {}", axis_value(*v), axis_name(k)))
        .collect();
    if others.is_empty() {
        p.point.label.clone()
    } else {
        format!("{} with {}", p.point.label, others.join(", "))
    }
}

fn per_dose(p: &PointResult) -> Option<&sim::Stat> {
    p.cost.as_ref().map(|c| &c.per_dose)
}

/// The decision section: target, one row and sentence per main-axis value, and the map.
pub fn summary(r: &StudyResult, currency: &str) -> String {
    let mut b = String::new();
    let main = study::main_axis(&r.axes);
    let by: Vec<&str> = main.into_iter().collect();
    let decisions = study::decide(r, &by);
    let _ = writeln!(b, "<h2>Decision</h2>");
    let _ = writeln!(
        b,
        "<p>What to build: the cheapest configuration (by mean cost per dose) that meets the \
         target — {}.</p>",
        escape(&r.target.describe())
    );
    let main_name = main.map(axis_name).unwrap_or_default();
    let mut rows = Vec::new();
    let mut sentences = Vec::new();
    for d in &decisions {
        let at = d.at.first().map(|v| axis_value(*v)).unwrap_or_default();
        let winner = d.winner.and_then(|i| point(r, i));
        let runner = d.runner_up.and_then(|i| point(r, i));
        let mut row = Vec::new();
        if main.is_some() {
            row.push(Cell::num(&at));
        }
        // A winner meets the target, so it has a cost.
        match winner.and_then(|w| per_dose(w).map(|c| (w, *c))) {
            Some((w, c)) => {
                let verdict = match (d.clear, runner) {
                    (true, Some(q)) => format!("clear: cheaper than {}", q.point.label),
                    (true, None) => "only concept that meets the target".to_string(),
                    (false, Some(q)) => format!(
                        "tie with {} ({})",
                        q.point.label,
                        per_dose(q).map_or(String::new(), |s| {
                            let f = |v: f64| Format::Number(0).fmt(v);
                            format!("{} [{}, {}]", f(s.mean), f(s.ci95[0]), f(s.ci95[1]))
                        })
                    ),
                    (false, None) => String::new(),
                };
                row.push(Cell::text(&configuration(w, &by)));
                row.push(Cell::html(mean_ci(c.mean, c.ci95, Format::Number(0)), true));
                row.push(Cell::num(&Format::Number(1).fmt(w.vein_to_vein_p95)));
                row.push(Cell::text(&verdict));
                row.push(Cell::num(&format!("{} of {}", d.feasible, d.candidates)));
                sentences.push(format!(
                    "{}build {} at about {} {currency} per dose ({}).",
                    if main.is_some() {
                        format!("At {at} {main_name}: ")
                    } else {
                        String::new()
                    },
                    configuration(w, &by),
                    Format::Number(0).fmt(c.mean),
                    if d.clear { "clear winner" } else { "tie" },
                ));
            }
            None => {
                row.push(Cell::html(
                    "<strong class=\"bad\">no configuration meets the target</strong>".into(),
                    false,
                ));
                for _ in 0..3 {
                    row.push(Cell::num("–"));
                }
                row.push(Cell::num(&format!("0 of {}", d.candidates)));
                sentences.push(format!(
                    "At {at} {main_name}: no configuration of the study meets the target."
                ));
            }
        }
        rows.push(row);
    }
    let cost_head = format!("{currency} per dose [95 % CI]");
    let mut head: Vec<&str> = Vec::new();
    if main.is_some() {
        head.push(&main_name);
    }
    head.extend([
        "build",
        cost_head.as_str(),
        "p95 vein-to-vein days",
        "winner",
        "configurations meeting the target",
    ]);
    b.push_str("<ul class=\"decision\">\n");
    for s in sentences {
        let _ = writeln!(b, "<li>{}</li>", escape(&s));
    }
    b.push_str("</ul>\n");
    if r.axes.len() == 2
        && let Some(m) = main
    {
        b.push_str(&decision_map(r, m));
    }
    let _ = writeln!(
        b,
        "<h3>The figures behind each recommendation</h3>\n<p class=\"small muted\">“Clear”: \
         the winner's 95 % interval of cost per dose lies below that of the best configuration \
         of any other concept; otherwise the two are a tie at this number of replications.</p>"
    );
    b.push_str(&table(&head, &rows));
    b
}

/// An amount in thousands with one decimal (`28335` → `28.3 k`), for the cells of the map
/// (the exact figure is in the cell's tooltip).
fn thousands(v: f64) -> String {
    format!("{} k", Format::Number(1).fmt(v / 1000.0))
}

/// For two-axis studies: a table of the other axis (rows) × the main axis (columns), each
/// cell naming and coloured by the concept that is cheapest while meeting the target; pale
/// where its interval overlaps another concept's, hatched where no concept meets it.
fn decision_map(r: &StudyResult, main: &str) -> String {
    let Some(other) = r.axes.iter().map(String::as_str).find(|a| *a != main) else {
        return String::new();
    };
    let cells = study::decide(r, &[other, main]);
    // The configuration recommended at each value of the main axis: outlined in its column.
    let picks: Vec<usize> = study::decide(r, &[main])
        .iter()
        .filter_map(|d| d.winner)
        .collect();
    let mut cols: Vec<f64> = cells.iter().map(|d| d.at[1]).collect();
    cols.sort_by(f64::total_cmp);
    cols.dedup();
    let mut rows_at: Vec<f64> = cells.iter().map(|d| d.at[0]).collect();
    rows_at.sort_by(f64::total_cmp);
    rows_at.dedup();
    let labels: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for p in &r.points {
            if !v.contains(&p.point.label) {
                v.push(p.point.label.clone());
            }
        }
        v
    };
    let colour = |label: &str| series_colour(labels.iter().position(|l| l == label).unwrap_or(0));
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h3>Decision map: cheapest concept meeting the target, {} × {}</h3>",
        escape(&axis_name(other)),
        escape(&axis_name(main))
    );
    b.push_str("<div class=\"scroll\"><table class=\"map\">\n<tr><th>");
    let _ = write!(
        b,
        "{} ↓<br/>{} →</th>",
        escape(&axis_name(other)),
        escape(&axis_name(main))
    );
    for c in &cols {
        let _ = write!(b, "<th class=\"num\">{}</th>", axis_value(*c));
    }
    b.push_str("</tr>\n");
    for rv in &rows_at {
        let _ = write!(b, "<tr><th class=\"num\">{}</th>", axis_value(*rv));
        for cv in &cols {
            let d: Option<&Decision> = cells
                .iter()
                .find(|d| d.at[0].to_bits() == rv.to_bits() && d.at[1].to_bits() == cv.to_bits());
            match d.and_then(|d| d.winner.and_then(|i| point(r, i)).map(|w| (d, w))) {
                Some((d, w)) => {
                    let cost = per_dose(w).map_or(0.0, |s| s.mean);
                    let _ = write!(
                        b,
                        "<td class=\"map-cell{}{}\" style=\"background:{}\" title=\"{}\">{} <span \
                         class=\"small\">{}</span></td>",
                        if d.clear { "" } else { " tie" },
                        if picks.contains(&w.point.index) {
                            " pick"
                        } else {
                            ""
                        },
                        colour(&w.point.label),
                        escape(&format!(
                            "point {}: {} per dose; {}{}",
                            w.point.index,
                            Format::Number(0).fmt(cost),
                            if picks.contains(&w.point.index) {
                                "the recommendation for this column; "
                            } else {
                                ""
                            },
                            if d.clear {
                                "clear"
                            } else {
                                "tie with another concept"
                            }
                        )),
                        escape(&w.point.label),
                        thousands(cost)
                    );
                }
                None => {
                    b.push_str(
                        "<td class=\"map-none\" title=\"no concept meets the target\">none</td>",
                    );
                }
            }
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</table></div>\n");
    b.push_str(
        "<p class=\"small muted\">Read: each cell names the concept that is cheapest per dose \
         among those meeting the target with that many units, and its cost per dose in \
         thousands; the \
         outlined cell of a column is the recommendation above. Pale cells: its 95 % interval \
         overlaps the best other concept's (a tie). Hatched “none”: no concept meets the target \
         there.</p>\n",
    );
    b
}
