//! Self-contained HTML reports of simulation studies: tables with 95 % confidence intervals
//! and inline SVG charts (see [`crate::svg`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use sim::{Replication, ResourceResult, Results, Stat};

use crate::page::{self, Cell, escape, mean_ci};
use crate::svg::{self, Axes, Format, Layer, Mark, MarkStyle, Series, Value};

/// What the report shows beyond the [`Results`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportOptions {
    /// Target vein-to-vein time, days, drawn on the vein-to-vein histogram.
    pub v2v_target_days: Option<f64>,
    /// Scenario file as the user named it, for the re-run command line.
    pub scenario_file: Option<String>,
}

/// A self-contained HTML report of one study.
pub fn simulation_html(r: &Results) -> String {
    simulation_html_with(r, &ReportOptions::default())
}

/// A self-contained HTML report of one study, with options.
pub fn simulation_html_with(r: &Results, opts: &ReportOptions) -> String {
    let mut b = String::new();
    header(&mut b, r, opts);
    key_figures(&mut b, r);
    vein_to_vein(&mut b, r, opts);
    utilisation(&mut b, r);
    waiting(&mut b, r);
    losses(&mut b, r);
    replications(&mut b, r);
    footer(&mut b, r);
    page::document(&format!("{} — simulation report", r.scenario), &b)
}

/// A fraction's interval cut to `[0, 1]` (the t interval of a mean of fractions can reach
/// past the possible range when replications are few).
fn frac(s: &Stat) -> Stat {
    let c = |v: f64| if v.is_finite() { v.clamp(0.0, 1.0) } else { v };
    Stat {
        mean: s.mean,
        ci95: [c(s.ci95[0]), c(s.ci95[1])],
    }
}

/// A non-negative quantity's interval cut at zero (counts, rates, times).
fn nonneg(s: &Stat) -> Stat {
    let c = |v: f64| if v.is_finite() { v.max(0.0) } else { v };
    Stat {
        mean: s.mean,
        ci95: [c(s.ci95[0]), c(s.ci95[1])],
    }
}

/// A cell with mean and interval; every figure shown this way is a non-negative quantity.
fn stat_cell(s: &Stat, f: Format) -> Cell {
    let s = nonneg(s);
    Cell::html(mean_ci(s.mean, s.ci95, f), true)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn header(b: &mut String, r: &Results, opts: &ReportOptions) {
    let _ = writeln!(b, "<header>\n<h1>{}</h1>", escape(&r.scenario));
    let _ = writeln!(
        b,
        "<p class=\"muted\">Monte-Carlo simulation study: {} of the plant, statistics across \
         replications with 95&#160;% confidence intervals.</p>",
        plural(u64::from(r.replications), "replication", "replications")
    );
    if r.cancelled {
        let _ = writeln!(
            b,
            "<p class=\"warn\"><strong>Cancelled:</strong> only {} of {} replications finished. \
             The figures below use the finished ones; intervals are wider than planned.</p>",
            r.replications, r.replications_requested
        );
    }
    if r.replications < 10 {
        let _ = writeln!(
            b,
            "<p class=\"warn\">Only {} replications: confidence intervals are wide and \
             percentiles rest on few runs. Use more replications before deciding.</p>",
            r.replications
        );
    }
    let file = opts.scenario_file.as_deref().unwrap_or("SCENARIO.toml");
    let rerun = format!(
        "atmpflow simulate {} --seed {} --replications {}",
        shell_word(file),
        r.seed,
        r.replications_requested
    );
    let sha = if r.scenario_sha256.is_empty() {
        "<span class=\"muted\">not recorded</span>".to_string()
    } else {
        format!("<code>{}</code>", escape(&r.scenario_sha256))
    };
    let _ = writeln!(
        b,
        "<dl class=\"meta\">\
         <dt>Seed</dt><dd><code>{}</code></dd>\
         <dt>Random numbers</dt><dd>{}</dd>\
         <dt>Replications</dt><dd>{} of {} requested{}</dd>\
         <dt>Control</dt><dd>{}</dd>\
         <dt>Scenario SHA-256</dt><dd>{}</dd>\
         <dt>Program</dt><dd>atmpflow {}</dd>\
         <dt>Re-run</dt><dd><code>{}</code></dd>\
         </dl>",
        r.seed,
        escape(&r.rng),
        r.replications,
        r.replications_requested,
        if r.cancelled { " (cancelled)" } else { "" },
        escape(&control_text(&r.control)),
        sha,
        escape(&r.program_version),
        escape(&rerun),
    );
    b.push_str(
        "<nav class=\"toc\"><a href=\"#key\">Key figures</a><a href=\"#v2v\">Vein-to-vein</a>\
         <a href=\"#util\">Utilisation</a><a href=\"#wait\">Waiting times</a>\
         <a href=\"#loss\">Losses</a><a href=\"#reps\">Replications</a></nav>\n</header>\n",
    );
}

fn control_text(c: &str) -> String {
    match c {
        "plan" => "plan: batches follow a given production plan".to_string(),
        "dispatching" => {
            "dispatching: batches start by the resources' dispatching rules".to_string()
        }
        other => other.to_string(),
    }
}

/// Quotes a file name for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+,:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The key figures: (label, value cell, note).
fn key_rows(r: &Results) -> Vec<(String, Cell, String)> {
    let v = &r.vein_to_vein_days;
    let n1 = Format::Number(1);
    let pooled = if v.censored == 0 {
        format!("pooled over {} treated patients", v.n)
    } else {
        format!(
            "pooled over {} patients, of whom {} were still in process at the cut-off and count \
             at their time since apheresis then: the figure is a lower bound",
            v.n, v.censored
        )
    };
    // Without a treated patient there is no vein-to-vein time (the statistics read 0).
    let days = |x: f64| {
        if v.n == 0 {
            Cell::num("–")
        } else {
            Cell::num(&n1.fmt(x))
        }
    };
    vec![
        (
            "Doses released per year".into(),
            stat_cell(&r.throughput_per_year, n1),
            "observation window".into(),
        ),
        (
            "Vein-to-vein time, mean (days)".into(),
            if v.n == 0 {
                Cell::num("–")
            } else {
                Cell::html(mean_ci(v.mean, v.ci95, n1), true)
            },
            "mean of replication means".into(),
        ),
        (
            "Vein-to-vein time, median p50 (days)".into(),
            days(v.p50),
            pooled.clone(),
        ),
        (
            "Vein-to-vein time, p90 (days)".into(),
            days(v.p90),
            pooled.clone(),
        ),
        ("Vein-to-vein time, p95 (days)".into(), days(v.p95), pooled),
        (
            "Treated within target".into(),
            stat_cell(&frac(&r.on_time_fraction), Format::Percent(1)),
            "fraction of treated patients".into(),
        ),
        (
            "Patients in cohort".into(),
            stat_cell(&r.patients, n1),
            "apheresis in the window, per replication".into(),
        ),
        (
            "Patients lost".into(),
            stat_cell(&r.patients_lost, n1),
            "per replication".into(),
        ),
        (
            "Patients lost, fraction".into(),
            stat_cell(&frac(&r.patients_lost_fraction), Format::Percent(1)),
            "of the cohort".into(),
        ),
        (
            "Patients unfinished at cut-off".into(),
            stat_cell(&r.patients_unfinished, n1),
            "censored, per replication".into(),
        ),
        (
            "Work in process (batches)".into(),
            stat_cell(&r.wip, Format::Number(2)),
            "time average".into(),
        ),
        (
            "Batches started per year".into(),
            stat_cell(&r.batches_started_per_year, n1),
            String::new(),
        ),
        (
            "Batches reworked per year".into(),
            stat_cell(&r.reworked_per_year, Format::Number(2)),
            "sent back to an earlier step".into(),
        ),
        (
            "Batches re-manufactured per year".into(),
            stat_cell(&r.remanufactured_per_year, Format::Number(2)),
            "made again from stored material".into(),
        ),
    ]
}

fn key_figures(b: &mut String, r: &Results) {
    b.push_str("<section id=\"key\">\n<h2>Key figures</h2>\n");
    let rows: Vec<Vec<Cell>> = key_rows(r)
        .into_iter()
        .map(|(label, value, note)| {
            vec![
                Cell::text(&label),
                value,
                Cell::html(
                    format!("<span class=\"muted\">{}</span>", escape(&note)),
                    false,
                ),
            ]
        })
        .collect();
    b.push_str(&page::table(
        &["Key figure", "Mean [95 % CI]", "Note"],
        &rows,
    ));
    b.push_str("</section>\n");
}

fn vein_to_vein(b: &mut String, r: &Results, opts: &ReportOptions) {
    b.push_str("<section id=\"v2v\">\n<h2>Vein-to-vein time</h2>\n");
    let v = &r.vein_to_vein_days;
    let mut axes = Axes::new("Vein-to-vein time of treated patients")
        .x_label("days from apheresis to infusion")
        .y_label("share of treated patients")
        .size(900.0, 340.0)
        .mark(Mark::new(v.p50, format!("p50 {:.1}", v.p50), MarkStyle::Percentile))
        .mark(Mark::new(v.p90, format!("p90 {:.1}", v.p90), MarkStyle::Percentile))
        .mark(Mark::new(v.p95, format!("p95 {:.1}", v.p95), MarkStyle::Percentile))
        .note(if v.censored == 0 {
            format!(
                "{} treated patients pooled over {} replications; the last bin also holds the few above the 99.5th percentile.",
                v.n, r.replications
            )
        } else {
            format!(
                "{} patients pooled over {} replications, {} of them still in process at the cut-off (counted at their time since apheresis then, a lower bound); the last bin also holds the few above the 99.5th percentile.",
                v.n, r.replications, v.censored
            )
        });
    if let Some(t) = opts.v2v_target_days.filter(|t| t.is_finite()) {
        axes = axes.mark(Mark::new(t, format!("target {t:.1}"), MarkStyle::Target));
    }
    let svg = if v.n == 0 {
        svg::no_data(&axes, "no patient was treated in the observation window")
    } else {
        svg::histogram(&v.histogram.edges, &v.histogram.counts, &axes)
    };
    b.push_str(&page::figure(&svg, ""));
    b.push_str("</section>\n");
}

fn utilisation(b: &mut String, r: &Results) {
    b.push_str("<section id=\"util\">\n<h2>Utilisation</h2>\n");
    let cats: Vec<String> = r.resources.iter().map(|x| x.name.clone()).collect();
    // Units kept by blocked batches (steps with `blocking` or `keep`) are shown apart, only
    // when some resource was kept.
    let blocked = r.resources.iter().any(|x| x.blocked.mean > 0.0);
    let mut series = vec![Series {
        name: "utilisation".into(),
        values: r
            .resources
            .iter()
            .map(|x| {
                Some(Value::with_ci(
                    x.utilisation.mean,
                    frac(&x.utilisation).ci95,
                ))
            })
            .collect(),
    }];
    if blocked {
        series[0].name = "processing and cleaning".into();
        series.push(Series {
            name: "blocked".into(),
            values: r
                .resources
                .iter()
                .map(|x| Some(Value::with_ci(x.blocked.mean, frac(&x.blocked).ci95)))
                .collect(),
        });
    }
    let x_label = if blocked {
        "share of installed capacity: processing and cleaning, and kept by blocked batches"
    } else {
        "share of installed capacity occupied (processing and cleaning)"
    };
    let axes = Axes::new("Mean utilisation per resource with 95 % CI")
        .x_label(x_label)
        .format(Format::Percent(0))
        .range(0.0, 1.0)
        .size(900.0, 120.0)
        .mark(Mark::new(1.0, "capacity", MarkStyle::Limit));
    b.push_str(&page::figure(&svg::hbar_chart(&cats, &series, &axes), ""));
    let rows: Vec<Vec<Cell>> = r
        .resources
        .iter()
        .map(|x| {
            let mut row = vec![
                Cell::text(&x.name),
                Cell::text(&x.kind),
                Cell::num(&x.capacity.to_string()),
                stat_cell(&frac(&x.utilisation), Format::Percent(1)),
                stat_cell(&x.busy_hours_per_year, Format::Number(0)),
                stat_cell(&x.breakdowns_per_year, Format::Number(2)),
            ];
            if blocked {
                row.push(stat_cell(&frac(&x.blocked), Format::Percent(1)));
                row.push(stat_cell(&x.blocked_hours_per_year, Format::Number(0)));
            }
            row
        })
        .collect();
    if rows.is_empty() {
        b.push_str("<p class=\"muted\">The scenario has no resources.</p>\n");
    } else {
        let mut head = vec![
            "Resource",
            "Kind",
            "Capacity",
            "Utilisation [95 % CI]",
            "Busy unit-hours per year",
            "Breakdowns per year",
        ];
        if blocked {
            head.push("Blocked [95 % CI]");
            head.push("Blocked unit-hours per year");
        }
        b.push_str(&page::table(&head, &rows));
        if blocked {
            b.push_str(
                "<p class=\"muted small\">Utilisation is processing and cleaning; blocked is \
                 the share kept by batches whose step ended and whose next step has not \
                 started (<code>blocking</code> or <code>keep</code>). The units are occupied \
                 the sum of both.</p>\n",
            );
        }
    }
    b.push_str("<h3>Utilisation per week</h3>\n");
    let weekly: Vec<Vec<f64>> = r
        .resources
        .iter()
        .map(|x| x.weekly_utilisation.clone())
        .collect();
    let axes = Axes::new("Utilisation per resource and week (mean over replications)")
        .x_label("week of the observation window")
        .format(Format::Percent(0))
        .size(1200.0, 200.0)
        .note("Week 1 starts when the warm-up ends. Hover a cell for its value.");
    b.push_str(&page::figure(
        &svg::heat_map(&cats, &weekly, 0.0, 1.0, &axes),
        "",
    ));
    b.push_str("</section>\n");
}

fn step_label(r: &Results, i: usize) -> String {
    let s = &r.steps[i];
    let products: BTreeSet<&str> = r.steps.iter().map(|s| s.product.as_str()).collect();
    if products.len() > 1 {
        format!("{} / {}", s.product, s.name)
    } else {
        s.name.clone()
    }
}

fn waiting(b: &mut String, r: &Results) {
    b.push_str("<section id=\"wait\">\n<h2>Waiting time before each step</h2>\n");
    b.push_str(
        "<p class=\"muted small\">From the moment a batch is ready for a step until the step \
         starts, in hours. Mean with 95&#160;% CI across replications; percentiles pooled over \
         all waits of all replications.</p>\n",
    );
    let h1 = Format::Number(1);
    let rows: Vec<Vec<Cell>> = r
        .steps
        .iter()
        .map(|s| {
            let w = &s.wait_hours;
            let (mean, p50, p90, p95) = if w.n == 0 {
                let dash = || Cell::num("–");
                (dash(), dash(), dash(), dash())
            } else {
                (
                    Cell::html(mean_ci(w.mean, [w.ci95[0].max(0.0), w.ci95[1]], h1), true),
                    Cell::num(&h1.fmt(w.p50)),
                    Cell::num(&h1.fmt(w.p90)),
                    Cell::num(&h1.fmt(w.p95)),
                )
            };
            vec![
                Cell::text(&s.product),
                Cell::text(&s.name),
                Cell::num(&w.n.to_string()),
                mean,
                p50,
                p90,
                p95,
                stat_cell(&s.hold_violations, Format::Number(2)),
                stat_cell(&s.starts_per_year, h1),
                stat_cell(&s.failures_per_year, Format::Number(2)),
            ]
        })
        .collect();
    if rows.is_empty() {
        b.push_str("<p class=\"muted\">The scenario has no steps.</p>\n</section>\n");
        return;
    }
    b.push_str(&page::table(
        &[
            "Product",
            "Step",
            "Waits",
            "Mean wait, h [95 % CI]",
            "p50, h",
            "p90, h",
            "p95, h",
            "Hold violations / replication",
            "Runs / year",
            "Failed runs / year",
        ],
        &rows,
    ));
    b.push_str("<div class=\"grid\">\n");
    let mut empty = Vec::new();
    for (i, s) in r.steps.iter().enumerate() {
        let w = &s.wait_hours;
        let label = step_label(r, i);
        if w.n == 0 {
            empty.push(label);
            continue;
        }
        let axes = Axes::new(format!("Wait before {label}"))
            .x_label("hours")
            .size(420.0, 230.0)
            .mark(Mark::new(w.p50, "p50", MarkStyle::Percentile))
            .mark(Mark::new(w.p90, "p90", MarkStyle::Percentile))
            .mark(Mark::new(w.p95, "p95", MarkStyle::Percentile))
            .note(format!("{} waits", w.n));
        let _ = writeln!(
            b,
            "<figure class=\"wait-hist\">{}</figure>",
            svg::histogram(&w.histogram.edges, &w.histogram.counts, &axes)
        );
    }
    b.push_str("</div>\n");
    if !empty.is_empty() {
        let names: Vec<String> = empty
            .iter()
            .map(|s| format!("<em>{}</em>", escape(s)))
            .collect();
        let _ = writeln!(
            b,
            "<p class=\"muted\">No histogram for {}: no batch waited for {} in the observation \
             window (the step never became due, e.g. an optional step).</p>",
            names.join(", "),
            if empty.len() == 1 { "it" } else { "them" }
        );
    }
    b.push_str("</section>\n");
}

fn losses(b: &mut String, r: &Results) {
    b.push_str("<section id=\"loss\">\n<h2>Patients lost by cause</h2>\n");
    if r.losses.is_empty() {
        b.push_str("<p>No patient was lost in any replication.</p>\n</section>\n");
        return;
    }
    let total: f64 = r.losses.iter().map(|l| l.count.mean).sum();
    let rows: Vec<Vec<Cell>> = r
        .losses
        .iter()
        .map(|l| {
            let share = if total > 0.0 {
                l.count.mean / total
            } else {
                f64::NAN
            };
            vec![
                Cell::text(&l.cause),
                stat_cell(&l.count, Format::Number(2)),
                Cell::num(&Format::Percent(1).fmt(share)),
            ]
        })
        .collect();
    b.push_str(&page::table(
        &[
            "Cause",
            "Patients lost per replication [95 % CI]",
            "Share of losses",
        ],
        &rows,
    ));
    let cats: Vec<String> = r.losses.iter().map(|l| l.cause.clone()).collect();
    let series = vec![Series {
        name: "lost".into(),
        values: r
            .losses
            .iter()
            .map(|l| Some(Value::with_ci(l.count.mean, nonneg(&l.count).ci95)))
            .collect(),
    }];
    let axes = Axes::new("Patients lost per replication, by cause")
        .format(Format::Number(1))
        .size(900.0, 100.0);
    b.push_str(&page::figure(&svg::hbar_chart(&cats, &series, &axes), ""));
    b.push_str("</section>\n");
}

fn rep_v2v_mean(x: &Replication) -> Option<f64> {
    x.vein_to_vein_mean_days
}

fn rep_on_time(x: &Replication) -> f64 {
    if x.treated == 0 {
        0.0
    } else {
        f64::from(x.on_time) / f64::from(x.treated)
    }
}

fn replications(b: &mut String, r: &Results) {
    b.push_str("<section id=\"reps\">\n<h2>Replications</h2>\n");
    let pts: Vec<(f64, f64)> = r
        .per_replication
        .iter()
        .map(|x| (f64::from(x.index), x.released_per_year))
        .collect();
    let axes = Axes::new("Doses released per year in each replication")
        .x_label("replication (random stream)")
        .x_format(Format::Number(0))
        .size(900.0, 240.0);
    let (first, last) = (
        pts.first().map_or(0.0, |p| p.0),
        pts.last().map_or(0.0, |p| p.0),
    );
    let m = r.throughput_per_year.mean;
    let lines = [
        svg::Line {
            name: "replication".into(),
            points: pts,
        },
        svg::Line {
            name: "mean over replications".into(),
            points: vec![(first, m), (last, m)],
        },
    ];
    b.push_str(&page::figure(
        &svg::line_chart(&lines, &axes),
        &format!(
            "Spread between replications; the mean is {:.1} with 95 % CI [{:.1}, {:.1}].",
            r.throughput_per_year.mean,
            r.throughput_per_year.ci95[0],
            r.throughput_per_year.ci95[1]
        ),
    ));
    let shown = r.per_replication.len();
    if shown < r.replications as usize {
        // A long run keeps only its first replications for the page; the files have all.
        let _ = writeln!(
            b,
            "<details><summary>Raw figures of the first {shown} of the {} replications (all \
             are in results.json and replications.csv)</summary>",
            r.replications
        );
    } else {
        let _ = writeln!(
            b,
            "<details><summary>Raw figures of the {shown} replications</summary>"
        );
    }
    let rows: Vec<Vec<Cell>> = r
        .per_replication
        .iter()
        .map(|x| {
            vec![
                Cell::num(&x.index.to_string()),
                Cell::num(&format!("{:.1}", x.released_per_year)),
                Cell::num(&x.patients.to_string()),
                Cell::num(&x.lost.to_string()),
                Cell::num(&x.unfinished.to_string()),
                Cell::num(&x.treated.to_string()),
                Cell::num(&Format::Percent(1).fmt(rep_on_time(x))),
                Cell::num(&rep_v2v_mean(x).map_or("–".to_string(), |m| format!("{m:.1}"))),
                Cell::num(&format!("{:.2}", x.wip)),
            ]
        })
        .collect();
    b.push_str(&page::table(
        &[
            "Replication",
            "Doses per year",
            "Patients",
            "Lost",
            "Unfinished",
            "Treated",
            "On time",
            "Mean vein-to-vein, days",
            "WIP",
        ],
        &rows,
    ));
    b.push_str("</details>\n</section>\n");
}

fn footer(b: &mut String, r: &Results) {
    let _ = writeln!(
        b,
        "<footer>Means carry 95&#160;% confidence intervals (Student t with n&#8722;1 degrees of \
         freedom) across {} independent replications, cut to the possible range (not below 0, fractions not above 100&#160;%); \
         percentiles and histograms pool all \
         observations of all replications. Replication <em>r</em> draws from stream <em>r</em> \
         of {} seeded with {}, so the same seed gives the same numbers on any number of \
         threads. Written by atmpflow {}; the same figures are in results.json and the CSV \
         tables beside this file.</footer>",
        r.replications,
        escape(&r.rng),
        r.seed,
        escape(&r.program_version)
    );
}

// ---------------------------------------------------------------------------------------
// Comparison

/// A self-contained HTML report comparing several studies.
pub fn comparison_html(rs: &[Results]) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<header>\n<h1>Comparison of {}</h1>",
        plural(rs.len() as u64, "scenario", "scenarios")
    );
    if rs.is_empty() {
        b.push_str("<p class=\"warn\">No study to compare.</p>\n</header>\n");
        return page::document("Scenario comparison", &b);
    }
    let labels = labels(rs);
    b.push_str(
        "<nav class=\"toc\"><a href=\"#verdict\">Which does best</a><a href=\"#studies\">Studies</a><a href=\"#key\">Key figures</a>\
         <a href=\"#diff\">Differences</a><a href=\"#charts\">Charts</a>\
         <a href=\"#util\">Utilisation</a><a href=\"#loss\">Losses</a></nav>\n</header>\n",
    );
    verdicts(&mut b, rs, &labels);
    studies(&mut b, rs, &labels);
    side_by_side(&mut b, rs, &labels);
    differences(&mut b, rs, &labels);
    comparison_charts(&mut b, rs, &labels);
    comparison_utilisation(&mut b, rs, &labels);
    comparison_losses(&mut b, rs, &labels);
    let _ = writeln!(
        b,
        "<footer>Means carry 95&#160;% confidence intervals (Student t) across replications; \
         differences are paired by replication index. Written by atmpflow {}.</footer>",
        escape(&rs[0].program_version)
    );
    let title = rs
        .iter()
        .map(|r| r.scenario.as_str())
        .collect::<Vec<_>>()
        .join(" vs ");
    page::document(&format!("Comparison: {title}"), &b)
}

/// The comparison's answer first: for each key figure with a better direction, the scenario
/// that does best (mean over its replications) and whether it does so clearly — the 95 % CI of
/// its paired difference to the next best excludes zero — or ties.
fn verdicts(b: &mut String, rs: &[Results], labels: &[String]) {
    if rs.len() < 2 {
        return;
    }
    b.push_str(
        "<section id=\"verdict\">\n<h2>Which scenario does best</h2>\n<ul class=\"decision\">\n",
    );
    for (name, f, fmt, higher_better) in measures() {
        let Some(hb) = higher_better else { continue };
        let means: Vec<(usize, f64)> = rs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let v: Vec<f64> = r
                    .per_replication
                    .iter()
                    .filter_map(f)
                    .filter(|v| v.is_finite())
                    .collect();
                (!v.is_empty()).then(|| (i, v.iter().sum::<f64>() / v.len() as f64))
            })
            .collect();
        let mut order = means.clone();
        order.sort_by(|a, b| {
            let o = a.1.total_cmp(&b.1);
            if hb { o.reverse() } else { o }
        });
        let (Some(best), Some(next)) = (order.first(), order.get(1)) else {
            continue;
        };
        let verdict = match paired_diff(&rs[next.0], &rs[best.0], f) {
            Some((d, _)) if d.ci95[0] > 0.0 || d.ci95[1] < 0.0 => format!(
                "clearly, by {} [{}, {}] against {}",
                fmt.fmt(d.mean.abs()),
                fmt.fmt(d.ci95[0].abs().min(d.ci95[1].abs())),
                fmt.fmt(d.ci95[0].abs().max(d.ci95[1].abs())),
                labels[next.0]
            ),
            Some(_) => format!(
                "a tie with {} (the 95 % interval of the paired difference includes zero)",
                labels[next.0]
            ),
            None => format!(
                "against {} (too few paired replications to tell)",
                labels[next.0]
            ),
        };
        let _ = writeln!(
            b,
            "<li>{}: <strong>{}</strong> ({}) — {}.</li>",
            escape(name),
            escape(&labels[best.0]),
            escape(&fmt.fmt(best.1)),
            escape(&verdict)
        );
    }
    b.push_str("</ul>\n</section>\n");
}

/// Chart labels: scenario names, numbered when two share a name.
fn labels(rs: &[Results]) -> Vec<String> {
    let names: BTreeSet<&str> = rs.iter().map(|r| r.scenario.as_str()).collect();
    if names.len() == rs.len() {
        rs.iter().map(|r| r.scenario.clone()).collect()
    } else {
        rs.iter()
            .enumerate()
            .map(|(i, r)| format!("#{} {}", i + 1, r.scenario))
            .collect()
    }
}

fn studies(b: &mut String, rs: &[Results], labels: &[String]) {
    b.push_str("<section id=\"studies\">\n<h2>Studies</h2>\n");
    for (r, l) in rs.iter().zip(labels) {
        if r.cancelled {
            let _ = writeln!(
                b,
                "<p class=\"warn\"><strong>{}</strong> was cancelled: {} of {} replications finished.</p>",
                escape(l),
                r.replications,
                r.replications_requested
            );
        }
    }
    let rows: Vec<Vec<Cell>> = rs
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(i, (r, l))| {
            let sha = if r.scenario_sha256.is_empty() {
                "<span class=\"muted\">not recorded</span>".to_string()
            } else {
                format!(
                    "<code title=\"{}\">{}</code>",
                    escape(&r.scenario_sha256),
                    escape(&r.scenario_sha256.chars().take(12).collect::<String>())
                )
            };
            vec![
                Cell::num(&(i + 1).to_string()),
                Cell::text(l),
                Cell::num(&r.seed.to_string()),
                Cell::num(&format!(
                    "{} of {}",
                    r.replications, r.replications_requested
                )),
                Cell::text(&r.control),
                Cell::html(sha, false),
                Cell::text(&r.rng),
            ]
        })
        .collect();
    b.push_str(&page::table(
        &[
            "#",
            "Scenario",
            "Seed",
            "Replications",
            "Control",
            "Scenario SHA-256",
            "Random numbers",
        ],
        &rows,
    ));
    let seeds: BTreeSet<u64> = rs.iter().map(|r| r.seed).collect();
    if seeds.len() == 1 {
        b.push_str(
            "<p class=\"muted small\">All studies use the same seed: replication <em>r</em> of \
             every scenario draws from the same random stream (common random numbers), which \
             makes the paired differences below sharper.</p>\n",
        );
    } else {
        b.push_str(
            "<p class=\"muted small\">The studies use different seeds, so the paired differences \
             below do not benefit from common random numbers; they remain valid but wider.</p>\n",
        );
    }
    b.push_str("</section>\n");
}

fn side_by_side(b: &mut String, rs: &[Results], labels: &[String]) {
    b.push_str("<section id=\"key\">\n<h2>Key figures side by side</h2>\n");
    let per: Vec<Vec<(String, Cell, String)>> = rs.iter().map(key_rows).collect();
    let mut header: Vec<&str> = vec!["Key figure"];
    header.extend(labels.iter().map(String::as_str));
    let mut rows = Vec::new();
    for (k, (label, _, _)) in per[0].iter().enumerate() {
        let mut row = vec![Cell::text(label)];
        for p in &per {
            row.push(p.get(k).map_or_else(|| Cell::num("–"), |c| c.1.clone()));
        }
        rows.push(row);
    }
    b.push_str(&page::table(&header, &rows));
    b.push_str(
        "<p class=\"muted small\">Mean [95&#160;% CI] across replications; vein-to-vein \
         percentiles are pooled over all treated patients and carry no interval.</p>\n</section>\n",
    );
}

/// A per-replication measure for paired differences: name, extractor, format, whether
/// higher is better (`None`: neither).
type Measure = (
    &'static str,
    fn(&Replication) -> Option<f64>,
    Format,
    Option<bool>,
);

fn measures() -> Vec<Measure> {
    vec![
        (
            "Doses released per year",
            |x| Some(x.released_per_year),
            Format::Number(1),
            Some(true),
        ),
        (
            "Vein-to-vein time, mean (days)",
            rep_v2v_mean,
            Format::Number(2),
            Some(false),
        ),
        (
            "Treated within target",
            |x| Some(rep_on_time(x)),
            Format::Percent(1),
            Some(true),
        ),
        (
            "Patients lost per replication",
            |x| Some(f64::from(x.lost)),
            Format::Number(2),
            Some(false),
        ),
        (
            "Work in process (batches)",
            |x| Some(x.wip),
            Format::Number(2),
            None,
        ),
    ]
}

/// Paired difference `b − a` over replications with the same index: mean with 95 % CI and
/// the number of pairs; `None` with fewer than two pairs.
fn paired_diff(
    a: &Results,
    bb: &Results,
    f: fn(&Replication) -> Option<f64>,
) -> Option<(Stat, usize)> {
    let by_index: BTreeMap<u32, &Replication> =
        a.per_replication.iter().map(|x| (x.index, x)).collect();
    let diffs: Vec<f64> = bb
        .per_replication
        .iter()
        .filter_map(|y| {
            let x = by_index.get(&y.index)?;
            Some(f(y)? - f(x)?)
        })
        .filter(|d| d.is_finite())
        .collect();
    (diffs.len() >= 2).then(|| (sim::mean_ci(&diffs), diffs.len()))
}

fn differences(b: &mut String, rs: &[Results], labels: &[String]) {
    b.push_str("<section id=\"diff\">\n<h2>Differences to the first scenario</h2>\n");
    if rs.len() < 2 {
        b.push_str(
            "<p class=\"muted\">Only one study: nothing to compare against.</p>\n</section>\n",
        );
        return;
    }
    let _ = writeln!(
        b,
        "<p class=\"muted small\">Each figure minus that of <strong>{}</strong>, paired by \
         replication index, with the 95&#160;% CI of the mean difference. A difference whose \
         interval excludes zero is marked.</p>",
        escape(&labels[0])
    );
    let mut header: Vec<String> = vec!["Key figure".into()];
    header.extend(labels[1..].iter().map(|l| format!("{l} − {}", labels[0])));
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut rows = Vec::new();
    for (name, f, fmt, higher_better) in measures() {
        let mut row = vec![Cell::text(name)];
        for r in &rs[1..] {
            let cell = match paired_diff(&rs[0], r, f) {
                None => Cell::num("–"),
                Some((d, _)) => {
                    let signif = d.ci95[0] > 0.0 || d.ci95[1] < 0.0;
                    let mut html = mean_ci(d.mean, d.ci95, fmt);
                    if signif {
                        let class = match higher_better {
                            Some(hb) if hb == (d.mean > 0.0) => "good",
                            Some(_) => "bad",
                            None => "muted",
                        };
                        let word = match class {
                            "good" => "better",
                            "bad" => "worse",
                            _ => "differs",
                        };
                        let _ = write!(html, " <strong class=\"{class}\">{word}</strong>");
                    }
                    Cell::html(html, true)
                }
            };
            row.push(cell);
        }
        rows.push(row);
    }
    b.push_str(&page::table(&header_refs, &rows));
    b.push_str("</section>\n");
}

fn comparison_charts(b: &mut String, rs: &[Results], labels: &[String]) {
    b.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    let one = |name: &str, f: &dyn Fn(&Results) -> Value| Series {
        name: name.to_string(),
        values: rs.iter().map(|r| Some(f(r))).collect(),
    };
    let tp = one("doses per year", &|r| {
        Value::with_ci(
            r.throughput_per_year.mean,
            nonneg(&r.throughput_per_year).ci95,
        )
    });
    let h = 70.0 + 24.0 * rs.len() as f64;
    let axes = Axes::new("Doses released per year").size(1240.0, h);
    b.push_str(&page::figure(
        &svg::hbar_chart(labels, &[tp], &axes),
        "Read: longer bars release more doses per year; whiskers are 95 % intervals — bars \
         whose whiskers overlap may not differ.",
    ));
    let mean = one("mean [95 % CI]", &|r| {
        Value::with_ci(r.vein_to_vein_days.mean, r.vein_to_vein_days.ci95)
    });
    let p95 = one("p95 (pooled)", &|r| Value::plain(r.vein_to_vein_days.p95));
    let axes = Axes::new("Vein-to-vein time, days").size(1240.0, h + 24.0 * rs.len() as f64);
    b.push_str(&page::figure(
        &svg::hbar_chart(labels, &[mean, p95], &axes),
        "Read: shorter is better; the mean carries its 95 % interval, the p95 (pooled over all \
         treated patients) is what nearly every patient waits at most.",
    ));
    let ot = one("on time", &|r| {
        Value::with_ci(r.on_time_fraction.mean, frac(&r.on_time_fraction).ci95)
    });
    let axes = Axes::new("Treated within target")
        .format(Format::Percent(0))
        .range(0.0, 1.0)
        .size(1240.0, h);
    b.push_str(&page::figure(
        &svg::hbar_chart(labels, &[ot], &axes),
        "Read: the share of patients treated within the scenario's vein-to-vein target; \
         longer is better.",
    ));
    let lost = one("lost", &|r| {
        Value::with_ci(
            r.patients_lost_fraction.mean,
            frac(&r.patients_lost_fraction).ci95,
        )
    });
    let axes = Axes::new("Patients lost, fraction of cohort")
        .format(Format::Percent(1))
        .size(1240.0, h);
    b.push_str(&page::figure(
        &svg::hbar_chart(labels, &[lost], &axes),
        "Read: the share of admitted patients who got no dose; shorter is better.",
    ));
    b.push_str("</section>\n");
}

/// The resource called `name` in one study's results.
fn resource<'a>(r: &'a Results, name: &str) -> Option<&'a ResourceResult> {
    r.resources.iter().find(|x| x.name == name)
}

/// One series per study over the resources in `names`: the share `pick` takes from each
/// resource (clamped to 0–1 with its 95 % interval), a gap where the study lacks it.
fn resource_series(
    rs: &[Results],
    labels: &[String],
    names: &[String],
    pick: impl Fn(&ResourceResult) -> &Stat,
) -> Vec<Series> {
    rs.iter()
        .zip(labels)
        .map(|(r, l)| Series {
            name: l.clone(),
            values: names
                .iter()
                .map(|n| {
                    resource(r, n).map(|x| {
                        let s = pick(x);
                        Value::with_ci(s.mean, frac(s).ci95)
                    })
                })
                .collect(),
        })
        .collect()
}

fn comparison_utilisation(b: &mut String, rs: &[Results], labels: &[String]) {
    b.push_str("<section id=\"util\">\n<h2>Utilisation of resources with the same name</h2>\n");
    // Resource names in first-seen order, with how many studies have them.
    let mut order: Vec<String> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in rs {
        let mut names: Vec<&str> = Vec::new();
        for x in &r.resources {
            if !names.contains(&x.name.as_str()) {
                names.push(&x.name);
            }
        }
        for n in names {
            let c = seen.entry(n.to_string()).or_insert(0);
            if *c == 0 {
                order.push(n.to_string());
            }
            *c += 1;
        }
    }
    let need = if rs.len() > 1 { 2 } else { 1 };
    let shared: Vec<String> = order
        .iter()
        .filter(|n| seen.get(*n).copied().unwrap_or(0) >= need)
        .cloned()
        .collect();
    let only: Vec<String> = order
        .iter()
        .filter(|n| seen.get(*n).copied().unwrap_or(0) < need)
        .cloned()
        .collect();
    let series = resource_series(rs, labels, &shared, |x| &x.utilisation);
    let axes = Axes::new("Mean utilisation with 95 % CI")
        .format(Format::Percent(0))
        .range(0.0, 1.0)
        .size(1240.0, 120.0)
        .mark(Mark::new(1.0, "capacity", MarkStyle::Limit));
    let svg = if shared.is_empty() {
        svg::no_data(&axes, "no resource name occurs in two studies")
    } else {
        svg::hbar_chart(&shared, &series, &axes)
    };
    b.push_str(&page::figure(
        &svg,
        "Read: one group per resource that the scenarios share, one bar per scenario; near the \
         capacity line the resource is the bottleneck and queues grow.",
    ));
    if !only.is_empty() {
        let names: Vec<String> = only
            .iter()
            .map(|n| format!("<em>{}</em>", escape(n)))
            .collect();
        let _ = writeln!(
            b,
            "<p class=\"muted small\">In one study only: {}.</p>",
            names.join(", ")
        );
    }
    if crate::csv_out::comparison_has_blocking(rs) {
        comparison_blocked(b, rs, labels, &shared, &order);
    }
    b.push_str("</section>\n");
}

/// The share of each resource kept by blocked batches (a step ended, its next not yet
/// started: `blocking` or `keep`), apart from utilisation: a chart over the resources the
/// studies share and a table of every resource. Shown only when some resource was blocked.
fn comparison_blocked(
    b: &mut String,
    rs: &[Results],
    labels: &[String],
    shared: &[String],
    all: &[String],
) {
    b.push_str("<h3>Kept by blocked batches</h3>\n");
    let series = resource_series(rs, labels, shared, |x| &x.blocked);
    let axes = Axes::new("Mean share kept by blocked batches with 95 % CI")
        .format(Format::Percent(0))
        .range(0.0, 1.0)
        .size(1240.0, 120.0);
    let svg = if shared.is_empty() {
        svg::no_data(&axes, "no resource name occurs in two studies")
    } else {
        svg::hbar_chart(shared, &series, &axes)
    };
    b.push_str(&page::figure(
        &svg,
        "Read: one group per shared resource, one bar per scenario; the share of installed \
         capacity held by batches that finished a step and wait for their next one. It comes \
         on top of the utilisation above (processing and cleaning).",
    ));
    let mut head: Vec<String> = vec!["Resource".into()];
    for l in labels {
        head.push(format!("{l}: processing and cleaning [95 % CI]"));
        head.push(format!("{l}: blocked [95 % CI]"));
    }
    let head_refs: Vec<&str> = head.iter().map(String::as_str).collect();
    let rows: Vec<Vec<Cell>> = all
        .iter()
        .map(|n| {
            let mut row = vec![Cell::text(n)];
            for r in rs {
                match resource(r, n) {
                    Some(x) => {
                        row.push(stat_cell(&frac(&x.utilisation), Format::Percent(1)));
                        row.push(stat_cell(&frac(&x.blocked), Format::Percent(1)));
                    }
                    None => {
                        row.push(Cell::num("–"));
                        row.push(Cell::num("–"));
                    }
                }
            }
            row
        })
        .collect();
    b.push_str(&page::table(&head_refs, &rows));
    b.push_str(
        "<p class=\"muted small\">Utilisation is processing and cleaning; blocked is the share \
         kept by batches whose step ended and whose next step has not started \
         (<code>blocking</code> or <code>keep</code>). The units are occupied the sum of both.</p>\n",
    );
}

fn comparison_losses(b: &mut String, rs: &[Results], labels: &[String]) {
    b.push_str("<section id=\"loss\">\n<h2>Patients lost by cause</h2>\n");
    let causes: BTreeSet<&str> = rs
        .iter()
        .flat_map(|r| r.losses.iter().map(|l| l.cause.as_str()))
        .collect();
    if causes.is_empty() {
        b.push_str("<p>No patient was lost in any replication of any study.</p>\n</section>\n");
        return;
    }
    let layers: Vec<Layer> = causes
        .iter()
        .map(|c| Layer {
            name: (*c).to_string(),
            values: rs
                .iter()
                .map(|r| {
                    r.losses
                        .iter()
                        .find(|l| l.cause == *c)
                        .map_or(0.0, |l| l.count.mean)
                })
                .collect(),
        })
        .collect();
    let axes = Axes::new("Patients lost per replication, by cause (means)")
        .format(Format::Number(1))
        .size(1240.0, 320.0);
    b.push_str(&page::figure(
        &svg::stacked_bars(labels, &layers, &axes),
        "Read: one bar per scenario, split by why patients were lost; lower is better.",
    ));
    let mut header: Vec<&str> = vec!["Cause"];
    header.extend(labels.iter().map(String::as_str));
    let rows: Vec<Vec<Cell>> = causes
        .iter()
        .map(|c| {
            let mut row = vec![Cell::text(c)];
            for r in rs {
                row.push(match r.losses.iter().find(|l| l.cause == *c) {
                    Some(l) => stat_cell(&l.count, Format::Number(2)),
                    None => Cell::num("0"),
                });
            }
            row
        })
        .collect();
    b.push_str(&page::table(&header, &rows));
    b.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("examples/a-b.toml"), "examples/a-b.toml");
        assert_eq!(shell_word("my plant's.toml"), "'my plant'\\''s.toml'");
        assert_eq!(shell_word(""), "''");
    }
}
