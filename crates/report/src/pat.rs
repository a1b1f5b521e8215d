//! The closed-loop feeding page of `atmpflow pat control`: for one patient, the trajectories of
//! viable cells, glucose, lactate and perfusion under every strategy, the soft sensor's
//! estimates, the limits, the harvest days and the controller's predictions: the plans made at
//! the start of every horizon, each as its nominal trajectory of viable cells, glucose and
//! lactate with a shaded band (5th–95th percentile over the cohort's patient-to-patient
//! parameter spread, from the controller's state); then the cohort summary.

use pat::control::{Comparison, Record};

use crate::page::{self, Cell};
use crate::svg::{Axes, Band, Format, Line, Mark, MarkStyle, line_chart_with_bands};

fn series(name: &str, recs: &[Record], f: impl Fn(&Record) -> Option<f64>) -> Line {
    Line {
        name: name.to_string(),
        points: recs
            .iter()
            .map(|r| (r.day, f(r).unwrap_or(f64::NAN)))
            .collect(),
    }
}

/// The controller's predictions shown on the page: the plans made every `horizon` control
/// times (so that their horizons tile the run), each with its band over the patients'
/// variability ([`pat::control::prediction_band`], [`pat::control::BAND_DRAWS`] draws, the
/// cohort's seed).
fn prediction_segments(
    cmp: &Comparison,
    run: &pat::control::PatientRun,
) -> Option<Vec<pat::control::PredictionBand>> {
    let s = &cmp.options.settings;
    let model = pat::expansion::Params::default();
    let variability = pat::expansion::Variability::default();
    run.records
        .iter()
        .enumerate()
        .filter(|(k, x)| k % s.horizon == 0 && !x.plan.is_empty())
        .map(|(_, x)| {
            pat::control::prediction_band(
                &model,
                &variability,
                s,
                x.day,
                &x.belief,
                &x.plan,
                pat::control::BAND_DRAWS,
                cmp.options.seed,
            )
            .ok()
        })
        .collect()
}

/// The page for patient `patient` of the comparison (`None` if it has no such patient, or
/// if the controller's predictions cannot be recomputed from it).
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
    let (mut cell_bands, mut glucose_bands, mut lactate_bands) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut glucose = Vec::new();
    let mut lactate = Vec::new();
    let mut feed = Vec::new();
    for r in &runs {
        let n = name(r);
        cells.push(series(&n, &r.records, |x| Some(x.truth[0])));
        glucose.push(series(&n, &r.records, |x| Some(x.truth[2])));
        lactate.push(series(&n, &r.records, |x| Some(x.truth[3])));
        feed.push(series(&n, &r.records, |x| Some(x.perfusion)));
        if r.records.iter().any(|x| !x.plan.is_empty()) {
            cells.push(series(
                &format!("{n}: sensor estimate, viable + dead"),
                &r.records,
                |x| Some(x.estimate.cells),
            ));
            let segments = prediction_segments(cmp, r)?;
            for (lines, bands, c) in [
                (&mut cells, &mut cell_bands, 0),
                (&mut glucose, &mut glucose_bands, 2),
                (&mut lactate, &mut lactate_bands, 3),
            ] {
                push_prediction(lines, bands, &segments, c, &n, r.outcome.harvest_day);
            }
        }
    }
    glucose.push(flat("target", s.glucose_min));
    lactate.push(flat("limit", s.lactate_max));
    let volume = pat::expansion::Params::default().volume_ml;
    cells.push(flat("dose", s.dose / volume));
    if s.dose_margin > 0.0 {
        cells.push(flat(
            "harvest at (dose + margin)",
            s.harvest_target() / volume,
        ));
    }
    let chart = |lines: &[Line], bands: &[Band], title: &str, y: &str| {
        let axes = harvest_marks(
            Axes::new(title)
                .x_label("day")
                .y_label(y)
                .size(640.0, 340.0)
                .format(Format::Number(1)),
        );
        page::figure(&line_chart_with_bands(lines, bands, &axes), "")
    };
    let mut body = format!(
        "<h1>Closed-loop feeding, patient {patient}</h1>\n<p class=\"muted\">{} patients, seed {} (ChaCha8); soft sensor calibrated on {} other patients (seed {}); control every {} d over {} steps; glucose ≥ {:.1} mM, lactate ≤ {:.1} mM, at most {} volumes/day; dose {} × 10⁶ viable cells, harvest when the estimate reaches the dose plus a margin of {:.0} × 10⁶ (the sensor's cross-validated cell error {:.3} × 10⁶/mL). Predictions: the controller's plan from the start of each horizon, nominal model, shaded 5–95 % over {} patients drawn from the cohort's variability (parameter spread, not the estimate's error).</p>\n<div class=\"grid wide\">\n",
        cmp.options.patients,
        cmp.options.seed,
        cmp.options.calibration_patients,
        cmp.options.calibration_seed,
        s.step_days,
        s.horizon,
        s.glucose_min,
        s.lactate_max,
        s.perfusion_max,
        s.dose,
        s.dose_margin,
        cmp.cells_rmsecv,
        pat::control::BAND_DRAWS,
    );
    body.push_str(&chart(&cells, &cell_bands, "Viable cells", "10⁶ cells/mL"));
    body.push_str(&chart(&glucose, &glucose_bands, "Glucose", "mM"));
    body.push_str(&chart(&lactate, &lactate_bands, "Lactate", "mM"));
    body.push_str(&chart(&feed, &[], "Perfusion", "volumes/day"));
    body.push_str("</div>\n<h2>Cohort</h2>\n");
    body.push_str(&cohort_table(cmp));
    Some(page::document(
        &format!("Closed-loop feeding, patient {patient}"),
        &body,
    ))
}

/// The predicted nominal line and its 5–95 % band of state component `c` over
/// the plans' horizons (cut at the harvest day), pushed onto `lines` and `bands`.
fn push_prediction(
    lines: &mut Vec<Line>,
    bands: &mut Vec<Band>,
    segments: &[pat::control::PredictionBand],
    c: usize,
    n: &str,
    harvest_day: f64,
) {
    let mut nominal = Vec::new();
    let mut band = Vec::new();
    for seg in segments {
        // a plan's horizon may reach past the harvest
        let until = harvest_day + 1e-9;
        for (k, d) in seg.days.iter().enumerate().filter(|(_, d)| **d <= until) {
            nominal.push((*d, seg.nominal[k][c]));
            band.push((*d, seg.low[k][c], seg.high[k][c]));
        }
        nominal.push((f64::NAN, f64::NAN));
        band.push((f64::NAN, f64::NAN, f64::NAN));
    }
    bands.push(Band {
        name: format!("{n}: predicted, 5–95 % over patients"),
        line: lines.len(),
        points: band,
    });
    lines.push(Line {
        name: format!("{n}: predicted (nominal model)"),
        points: nominal,
    });
}

/// The cohort's summary by strategy.
fn cohort_table(cmp: &Comparison) -> String {
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
    page::table(
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
    )
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
        assert!(html.contains("mpc: predicted, 5–95 % over patients"));
        assert!(html.matches("<path class=\"band\"").count() >= 3);
        assert!(html.contains("fixed-duration"));
        assert!(control_html(&cmp, 2).is_none());
    }
}
