//! The closed-loop feeding page of `atmpflow pat control`: for one patient, the trajectories of
//! viable cells, glucose, lactate and perfusion under every strategy, the soft sensor's
//! estimates, the limits, and the controller's prediction band (lowest and highest value it
//! predicted over its horizon at each control time); then the cohort summary.

use pat::control::{Comparison, Record};

use crate::page::{self, Cell};
use crate::svg::{Axes, Format, Line, Mark, MarkStyle, line_chart};

fn series(name: &str, recs: &[Record], f: impl Fn(&Record) -> Option<f64>) -> Line {
    Line {
        name: name.to_string(),
        points: recs
            .iter()
            .map(|r| (r.day, f(r).unwrap_or(f64::NAN)))
            .collect(),
    }
}

/// The page for patient `patient` of the comparison (`None` if it has no such patient).
pub fn control_html(cmp: &Comparison, patient: usize) -> Option<String> {
    let s = &cmp.options.settings;
    let runs: Vec<_> = cmp.runs.iter().filter(|r| r.patient == patient).collect();
    if runs.is_empty() {
        return None;
    }
    let name = |r: &pat::control::PatientRun| cmp.strategies[r.strategy].name.clone();
    let harvest_marks = |axes: Axes| {
        runs.iter().fold(axes, |a, r| {
            a.mark(Mark::new(
                r.outcome.harvest_day,
                format!("harvest {}", name(r)),
                MarkStyle::Percentile,
            ))
        })
    };
    let last_day = runs
        .iter()
        .map(|r| r.outcome.harvest_day)
        .fold(0.0, f64::max);
    let flat = |label: &str, v: f64| Line {
        name: label.to_string(),
        points: vec![(0.0, v), (last_day, v)],
    };
    let mut cells = Vec::new();
    let mut glucose = Vec::new();
    let mut lactate = Vec::new();
    let mut feed = Vec::new();
    for r in &runs {
        let n = name(r);
        cells.push(series(&n, &r.records, |x| Some(x.truth[0])));
        glucose.push(series(&n, &r.records, |x| Some(x.truth[2])));
        lactate.push(series(&n, &r.records, |x| Some(x.truth[3])));
        feed.push(series(&n, &r.records, |x| Some(x.perfusion)));
        if r.records.iter().any(|x| !x.predicted.is_empty()) {
            let pred = |f: fn(&(f64, f64)) -> f64, high: bool| {
                move |x: &Record| {
                    let it = x.predicted.iter().map(f);
                    if high {
                        it.reduce(f64::max)
                    } else {
                        it.reduce(f64::min)
                    }
                }
            };
            glucose.push(series(
                &format!("{n}: predicted, lowest"),
                &r.records,
                pred(|p| p.0, false),
            ));
            glucose.push(series(
                &format!("{n}: predicted, highest"),
                &r.records,
                pred(|p| p.0, true),
            ));
            lactate.push(series(
                &format!("{n}: predicted, lowest"),
                &r.records,
                pred(|p| p.1, false),
            ));
            lactate.push(series(
                &format!("{n}: predicted, highest"),
                &r.records,
                pred(|p| p.1, true),
            ));
            cells.push(series(
                &format!("{n}: sensor estimate, viable + dead"),
                &r.records,
                |x| Some(x.estimate.cells),
            ));
        }
    }
    glucose.push(flat("target", s.glucose_min));
    lactate.push(flat("limit", s.lactate_max));
    cells.push(flat(
        "dose",
        s.dose / pat::expansion::Params::default().volume_ml,
    ));
    let chart = |lines: &[Line], title: &str, y: &str| {
        let axes = harvest_marks(
            Axes::new(title)
                .x_label("day")
                .y_label(y)
                .size(640.0, 340.0)
                .format(Format::Number(1)),
        );
        page::figure(&line_chart(lines, &axes), "")
    };
    let mut body = format!(
        "<h1>Closed-loop feeding, patient {patient}</h1>\n<p class=\"muted\">{} patients, seed {} (ChaCha8); soft sensor calibrated on {} other patients (seed {}); control every {} d over {} steps; glucose ≥ {:.1} mM, lactate ≤ {:.1} mM, at most {} volumes/day; dose {} × 10⁶ viable cells.</p>\n<div class=\"grid wide\">\n",
        cmp.options.patients,
        cmp.options.seed,
        cmp.options.calibration_patients,
        cmp.options.calibration_seed,
        s.step_days,
        s.horizon,
        s.glucose_min,
        s.lactate_max,
        s.perfusion_max,
        s.dose
    );
    body.push_str(&chart(&cells, "Viable cells", "10⁶ cells/mL"));
    body.push_str(&chart(&glucose, "Glucose", "mM"));
    body.push_str(&chart(&lactate, "Lactate", "mM"));
    body.push_str(&chart(&feed, "Perfusion", "volumes/day"));
    body.push_str("</div>\n<h2>Cohort</h2>\n");
    let rows: Vec<Vec<Cell>> = cmp
        .summaries()
        .iter()
        .map(|x| {
            vec![
                Cell::text(&x.strategy),
                Cell::num(&format!("{}/{}", x.reached_dose, x.patients)),
                Cell::num(&format!("{:.2}", x.harvest_day)),
                Cell::num(&format!("{:.2}", x.viable_cells / 1000.0)),
                Cell::num(&format!("{:.2}", x.medium)),
                Cell::num(&format!("{:.2}", x.glucose_low_days)),
                Cell::num(&format!("{:.2}", x.lactate_high_days)),
                Cell::num(&format!("{}", x.patients_with_violations)),
            ]
        })
        .collect();
    body.push_str(&page::table(
        &[
            "strategy",
            "reached dose",
            "mean harvest day",
            "mean viable cells (10⁹)",
            "mean medium (volumes)",
            "days glucose below target",
            "days lactate above limit",
            "patients with a violation",
        ],
        &rows,
    ));
    Some(page::document(
        &format!("Closed-loop feeding, patient {patient}"),
        &body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pat::control::{CompareOptions, compare};

    #[test]
    fn page_is_well_formed_with_four_charts_and_the_cohort_table() {
        let mut opts = CompareOptions {
            patients: 2,
            calibration_patients: 3,
            ..CompareOptions::default()
        };
        opts.settings.days_max = 5.0;
        opts.fixed_day = 5.0;
        let cmp = compare(&opts, &mut |_, _| {}).expect("runs");
        let html = control_html(&cmp, 1).expect("patient 1");
        let doc = roxmltree::Document::parse(html.trim_start_matches("<!DOCTYPE html>\n"))
            .expect("well-formed");
        let svgs = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "svg")
            .count();
        assert_eq!(svgs, 4);
        assert!(html.contains("mpc: predicted, highest"));
        assert!(html.contains("fixed-duration"));
        assert!(control_html(&cmp, 2).is_none());
    }
}
