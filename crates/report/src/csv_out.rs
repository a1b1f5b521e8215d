//! CSV tables of a simulation study.

use sim::{DistStat, ResourceResult, Results, Stat};

/// A mean and its 95 % interval as three CSV fields (six decimals).
fn mean_ci_cols(mean: f64, ci95: [f64; 2]) -> [String; 3] {
    [
        format!("{:.6}", mean),
        format!("{:.6}", ci95[0]),
        format!("{:.6}", ci95[1]),
    ]
}

fn stat_cols(s: &Stat) -> [String; 3] {
    mean_ci_cols(s.mean, s.ci95)
}

/// A pooled distribution as six CSV fields: mean, 95 % interval, p50, p90, p95.
fn dist_cols(d: &DistStat) -> impl Iterator<Item = String> {
    mean_ci_cols(d.mean, d.ci95)
        .into_iter()
        .chain([d.p50, d.p90, d.p95].map(|p| format!("{:.6}", p)))
}

/// A CSV table whose header row is given as one line of comma-separated column names.
pub(crate) fn table_of_line(header: &str, rows: Vec<Vec<String>>) -> String {
    table(&header.split(',').collect::<Vec<_>>(), rows)
}

/// A CSV table with a header row (fields quoted where needed).
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail except on invalid UTF-8, which cannot occur here.
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(&r);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// Columns of `replications.csv`.
const REPLICATIONS_HEADER: [&str; 9] = [
    "replication",
    "released_per_year",
    "patients",
    "lost",
    "unfinished",
    "treated",
    "on_time",
    "vein_to_vein_days_mean",
    "wip",
];

/// One replication's row of `replications.csv`.
fn replication_row(x: &sim::Replication) -> Vec<String> {
    vec![
        x.index.to_string(),
        format!("{:.6}", x.released_per_year),
        x.patients.to_string(),
        x.lost.to_string(),
        x.unfinished.to_string(),
        x.treated.to_string(),
        x.on_time.to_string(),
        format!("{:.6}", x.vein_to_vein_mean_days.unwrap_or(0.0)),
        format!("{:.6}", x.wip),
    ]
}

/// The header line of `replications.csv`, for a writer that streams its rows
/// ([`replications_csv_line`]) instead of taking them from [`simulation_csv`].
pub fn replications_csv_header() -> String {
    table(&REPLICATIONS_HEADER, Vec::new())
}

/// One replication's line of `replications.csv`, as [`simulation_csv`] writes it.
pub fn replications_csv_line(x: &sim::Replication) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let _ = w.write_record(replication_row(x));
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// CSV tables of a study: `(file name, contents)` pairs.
pub fn simulation_csv(r: &Results) -> Vec<(String, String)> {
    vec![
        ("summary.csv".to_string(), summary_csv(r)),
        ("resources.csv".to_string(), resources_csv(r)),
        ("steps.csv".to_string(), steps_csv(r)),
        (
            "losses.csv".to_string(),
            table(
                &["cause", "mean", "ci95_low", "ci95_high"],
                r.losses
                    .iter()
                    .map(|l| {
                        let mut v = vec![l.cause.clone()];
                        v.extend(stat_cols(&l.count));
                        v
                    })
                    .collect(),
            ),
        ),
        (
            "replications.csv".to_string(),
            table(
                &REPLICATIONS_HEADER,
                r.per_replication.iter().map(replication_row).collect(),
            ),
        ),
    ]
}

/// `summary.csv`: each key figure's mean and 95 % interval.
fn summary_csv(r: &Results) -> String {
    let summary_rows = [
        ("throughput_per_year", &r.throughput_per_year),
        ("on_time_fraction", &r.on_time_fraction),
        ("patients_lost", &r.patients_lost),
        ("patients_lost_fraction", &r.patients_lost_fraction),
        ("patients", &r.patients),
        ("patients_unfinished", &r.patients_unfinished),
        ("wip", &r.wip),
        ("batches_started_per_year", &r.batches_started_per_year),
        ("reworked_per_year", &r.reworked_per_year),
        ("remanufactured_per_year", &r.remanufactured_per_year),
    ]
    .iter()
    .map(|(k, s)| {
        let mut v = vec![(*k).to_string()];
        v.extend(stat_cols(s));
        v
    })
    .chain(std::iter::once({
        let v = &r.vein_to_vein_days;
        let mut row = vec!["vein_to_vein_days_mean".to_string()];
        row.extend(mean_ci_cols(v.mean, v.ci95));
        row
    }))
    .collect();
    table(&["metric", "mean", "ci95_low", "ci95_high"], summary_rows)
}

/// The leading columns of a resource's row: what it is and its utilisation.
const RESOURCE_LEAD: [&str; 6] = [
    "resource",
    "kind",
    "capacity",
    "utilisation_mean",
    "utilisation_ci95_low",
    "utilisation_ci95_high",
];

/// The columns of the share of a resource kept by blocked batches.
const BLOCKED_COLUMNS: [&str; 4] = [
    "blocked_mean",
    "blocked_ci95_low",
    "blocked_ci95_high",
    "blocked_hours_per_year_mean",
];

/// A resource's fields under [`RESOURCE_LEAD`].
fn resource_lead(x: &ResourceResult) -> Vec<String> {
    let mut row = vec![x.name.clone(), x.kind.clone(), x.capacity.to_string()];
    row.extend(stat_cols(&x.utilisation));
    row
}

/// A resource's fields under [`BLOCKED_COLUMNS`].
fn blocked_cols(x: &ResourceResult) -> impl Iterator<Item = String> {
    stat_cols(&x.blocked)
        .into_iter()
        .chain([format!("{:.3}", x.blocked_hours_per_year.mean)])
}

/// `resources.csv`: one row per resource.
fn resources_csv(r: &Results) -> String {
    let header = [
        &RESOURCE_LEAD[..],
        &["busy_hours_per_year_mean", "breakdowns_per_year_mean"],
        &BLOCKED_COLUMNS,
    ]
    .concat();
    table(
        &header,
        r.resources
            .iter()
            .map(|x| {
                let mut row = resource_lead(x);
                row.push(format!("{:.3}", x.busy_hours_per_year.mean));
                row.push(format!("{:.3}", x.breakdowns_per_year.mean));
                row.extend(blocked_cols(x));
                row
            })
            .collect(),
    )
}

/// `steps.csv`: one row per product step.
fn steps_csv(r: &Results) -> String {
    table(
        &[
            "product",
            "step",
            "wait_hours_mean",
            "wait_hours_ci95_low",
            "wait_hours_ci95_high",
            "wait_hours_p50",
            "wait_hours_p90",
            "wait_hours_p95",
            "hold_violations_mean",
            "starts_per_year_mean",
            "failures_per_year_mean",
        ],
        r.steps
            .iter()
            .map(|s| {
                let mut row = vec![s.product.clone(), s.name.clone()];
                row.extend(dist_cols(&s.wait_hours));
                row.push(format!("{:.6}", s.hold_violations.mean));
                row.push(format!("{:.3}", s.starts_per_year.mean));
                row.push(format!("{:.3}", s.failures_per_year.mean));
                row
            })
            .collect(),
    )
}

/// One CSV row of key figures per study.
pub fn comparison_csv(rs: &[Results]) -> String {
    let mut rows = Vec::new();
    for r in rs {
        let mut row = vec![
            r.scenario.clone(),
            r.scenario_sha256.clone(),
            r.seed.to_string(),
        ];
        row.extend(stat_cols(&r.throughput_per_year));
        row.extend(dist_cols(&r.vein_to_vein_days));
        row.extend(stat_cols(&r.on_time_fraction));
        row.extend(stat_cols(&r.patients_lost));
        rows.push(row);
    }
    table(
        &[
            "scenario",
            "scenario_sha256",
            "seed",
            "throughput_per_year_mean",
            "throughput_per_year_ci95_low",
            "throughput_per_year_ci95_high",
            "vein_to_vein_days_mean",
            "vein_to_vein_days_ci95_low",
            "vein_to_vein_days_ci95_high",
            "vein_to_vein_days_p50",
            "vein_to_vein_days_p90",
            "vein_to_vein_days_p95",
            "on_time_fraction_mean",
            "on_time_fraction_ci95_low",
            "on_time_fraction_ci95_high",
            "patients_lost_mean",
            "patients_lost_ci95_low",
            "patients_lost_ci95_high",
        ],
        rows,
    )
}

/// Whether some resource of some study kept units for blocked batches (steps with `blocking`
/// or `keep`): only then do comparisons show the blocked share.
pub fn comparison_has_blocking(rs: &[Results]) -> bool {
    rs.iter()
        .any(|r| r.resources.iter().any(|x| x.blocked.mean > 0.0))
}

/// One row per study and resource: utilisation (processing and cleaning) and the share kept
/// by blocked batches, each with its 95 % interval, and the blocked unit-hours per year.
/// `None` when no resource of any study was blocked (the comparison then has no such table).
pub fn comparison_resources_csv(rs: &[Results]) -> Option<String> {
    if !comparison_has_blocking(rs) {
        return None;
    }
    let mut rows = Vec::new();
    for r in rs {
        for x in &r.resources {
            let mut row = vec![r.scenario.clone()];
            row.extend(resource_lead(x));
            row.extend(blocked_cols(x));
            rows.push(row);
        }
    }
    let header = [&["scenario"][..], &RESOURCE_LEAD, &BLOCKED_COLUMNS].concat();
    Some(table(&header, rows))
}
