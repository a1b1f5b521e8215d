//! The HTML reports of real simulation results of a tiny plant.

use std::sync::atomic::AtomicBool;

use sim::{Results, RunOptions};
use testkit::scenarios::{Scenario, fixed, q, triangular};

/// A small, overloaded plant `name`: `devices` devices for ~150 patients a year with a six-day
/// process, so batches queue, fresh material exceeds its hold time and patients are lost. The
/// `rescue` step is optional and never inserted, so nobody ever waits for it.
fn tiny(name: &str, devices: u32) -> String {
    Scenario::new(name, 150, 14, 4, 11)
        .equipment("device", devices)
        .area("room", "C", 3)
        .staff("operators", 1)
        .shift(&["weekdays"], 7.0, 15.0)
        .product("car-t")
        .step("inbound", fixed(1, "days"))
        .set("max_hold_hours", 30)
        .set("on_hold_violation", q("lost"))
        .step("make", triangular(5, 6, 7, "days"))
        .set(
            "uses",
            r#"[{ equipment = "device" }, { area = "room" }, { staff = "operators", hours = 2 }]"#,
        )
        .set("failure", r#"{ probability = 0.1, consequence = "lost" }"#)
        .step("rescue", fixed(1, "days"))
        .set("optional", true)
        .step("release", fixed(2, "days"))
        .demand("car-t", "patients_per_year = 150", 10)
        .text()
}

/// Runs the scenario `text` on one thread with `seed`.
fn run(text: &str, seed: u64) -> Results {
    let model = model::load("tiny.toml", text).unwrap_or_else(|e| panic!("{e:?}"));
    let opts = RunOptions {
        seed: Some(seed),
        threads: 1,
        ..RunOptions::default()
    };
    sim::run(&model, &opts, &|_| {}, &AtomicBool::new(false)).unwrap_or_else(|e| panic!("{e}"))
}

/// The results of the tiny plant `name` with `devices` devices, run with `seed`.
pub fn study(name: &str, devices: u32, seed: u64) -> Results {
    run(&tiny(name, devices), seed)
}

/// Parses the report as XML (the reports are written as polyglot HTML5/XML).
fn xml(html: &str) -> roxmltree::Document<'_> {
    let body = html
        .strip_prefix("<!DOCTYPE html>\n")
        .unwrap_or_else(|| panic!("no HTML5 doctype"));
    match roxmltree::Document::parse(body) {
        Ok(d) => d,
        Err(e) => panic!("report is not well-formed: {e}"),
    }
}

fn svgs<'a>(doc: &'a roxmltree::Document<'a>) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name("svg"))
        .collect()
}

/// The number of rectangles (bars and legend swatches) in a chart.
fn rects(chart: roxmltree::Node<'_, '_>) -> usize {
    chart
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .count()
}

fn svg_titled<'a>(doc: &'a roxmltree::Document<'a>, prefix: &str) -> roxmltree::Node<'a, 'a> {
    let found = svgs(doc).into_iter().find(|s| {
        s.children()
            .find(|c| c.has_tag_name("title"))
            .and_then(|t| t.text())
            .is_some_and(|t| t.starts_with(prefix))
    });
    found.unwrap_or_else(|| panic!("no chart titled {prefix:?}"))
}

#[test]
fn simulation_report_has_every_part_and_is_self_contained() {
    let r = study("<script>alert('x')</script> & plant", 2, 11);
    let html = report::simulation_html(&r);
    let doc = xml(&html);

    // User strings are escaped: the scenario name never appears as markup.
    assert!(!html.contains("<script"), "raw script tag in the report");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; plant"));
    // Nothing is loaded from anywhere.
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<link") && !html.contains("<img") && !html.contains("@import"));

    // Header: seed, generator, replications, hash field, version, control.
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(text.contains("--seed 11 --replications 4"));
    assert!(text.contains(&r.rng));
    assert!(text.contains("4 of 4 requested"));
    assert!(text.contains("dispatching"));
    assert!(text.contains(&r.program_version));

    // Key figures with intervals.
    let tp = &r.throughput_per_year;
    assert!(html.contains(&format!(
        "{:.1} <span class=\"ci\">[{:.1}, {:.1}]</span>",
        tp.mean, tp.ci95[0], tp.ci95[1]
    )));

    // One waiting-time histogram per step with observations; the others are named.
    let with_waits: Vec<&sim::StepResult> = r.steps.iter().filter(|s| s.wait_hours.n > 0).collect();
    assert_eq!(with_waits.len(), 3, "inbound, make, release are waited for");
    let hists = doc
        .descendants()
        .filter(|n| n.has_tag_name("figure") && n.attribute("class") == Some("wait-hist"))
        .count();
    assert_eq!(hists, with_waits.len());
    for s in &with_waits {
        svg_titled(&doc, &format!("Wait before {}", s.name));
    }
    assert!(html.contains("No histogram for <em>rescue</em>"));

    // The vein-to-vein histogram carries the percentile markers.
    let v2v = svg_titled(&doc, "Vein-to-vein time of treated patients");
    let v2v_text: String = v2v.descendants().filter_map(|n| n.text()).collect();
    for p in ["p50", "p90", "p95"] {
        assert!(v2v_text.contains(p), "{p} marker missing");
    }

    // Heat map: one cell per resource and week.
    let weeks = r.resources[0].weekly_utilisation.len();
    assert!(weeks >= 15, "{weeks} weeks");
    let heat = svg_titled(&doc, "Utilisation per resource and week");
    let cells = heat
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.children().any(|c| c.has_tag_name("title")))
        .count();
    assert_eq!(cells, r.resources.len() * weeks);
    // Utilisation bars: one per resource with a whisker each.
    let util = svg_titled(&doc, "Mean utilisation per resource");
    let bars = rects(util);
    assert_eq!(bars, r.resources.len());

    // Losses: the overloaded plant loses patients, every cause is listed.
    assert!(!r.losses.is_empty(), "the tiny plant should lose patients");
    for l in &r.losses {
        assert!(text.contains(&l.cause), "cause {} missing", l.cause);
    }
    // No chart fell back to "no data".
    assert!(!html.contains("class=\"nodata\""));
}

#[test]
fn the_target_line_is_drawn_when_given() {
    let r = study("tgt", 2, 3);
    let html = report::simulation_html_with(
        &r,
        &report::ReportOptions {
            v2v_target_days: Some(10.0),
            scenario_file: Some("my plant.toml".into()),
        },
    );
    xml(&html);
    assert!(html.contains(">target 10.0<"));
    assert!(html.contains("atmpflow simulate &#39;my plant.toml&#39; --seed 3"));
    assert!(!report::simulation_html(&r).contains(">target "));
}

/// A run that streamed its summaries to the files hands the report only the first ones: the
/// page says how many of how many it shows and lists exactly those.
#[test]
fn a_report_of_the_first_replications_says_so() {
    let mut r = study("head", 2, 3);
    let all = report::simulation_html(&r);
    assert!(all.contains("Raw figures of the 4 replications</summary>"));
    r.per_replication.truncate(2);
    let html = report::simulation_html(&r);
    let doc = xml(&html);
    assert!(html.contains(
        "Raw figures of the first 2 of the 4 replications (all are in results.json and \
         replications.csv)</summary>"
    ));
    let table = doc
        .descendants()
        .find(|n| n.has_tag_name("details"))
        .expect("the raw figures");
    let rows = table.descendants().filter(|n| n.has_tag_name("tr")).count();
    assert_eq!(rows, 1 + 2, "a header and the two replications shown");
}
#[test]
fn empty_results_render_no_data_notes_instead_of_panicking() {
    let mut r = study("empty", 2, 5);
    r.vein_to_vein_days.n = 0;
    r.vein_to_vein_days.histogram = sim::Histogram {
        edges: vec![],
        counts: vec![],
    };
    for res in &mut r.resources {
        res.weekly_utilisation.clear();
    }
    for s in &mut r.steps {
        s.wait_hours.n = 0;
    }
    r.losses.clear();
    r.cancelled = true;
    r.replications = 2;
    let html = report::simulation_html(&r);
    let doc = xml(&html);
    let notes = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("nodata"))
        .count();
    assert_eq!(notes, 2, "vein-to-vein histogram and heat map");
    assert!(html.contains("No data: no patient was treated"));
    assert!(html.contains("<td>Vein-to-vein time, p95 (days)</td><td class=\"num\">–</td>"));
    assert!(html.contains("<strong>Cancelled:</strong> only 2 of 4"));
    assert!(html.contains("No patient was lost in any replication."));
    assert!(!html.contains("wait-hist"));

    // No resources and no steps at all.
    r.resources.clear();
    r.steps.clear();
    r.per_replication.clear();
    xml(&report::simulation_html(&r));
}

#[test]
fn comparison_lists_every_scenario_with_intervals_and_charts() {
    let a = study("two devices", 2, 11);
    let b = study("three <devices>", 3, 11);
    let c = study("four devices", 4, 11);
    let html = report::comparison_html(&[a.clone(), b.clone(), c.clone()]);
    let doc = xml(&html);
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<devices>"));
    for r in [&a, &b, &c] {
        let name = report::svg::escape(&r.scenario);
        // In the studies table, the key-figure table and the charts.
        assert!(
            html.matches(&name).count() >= 4,
            "{} listed too rarely",
            r.scenario
        );
        let tp = &r.throughput_per_year;
        assert!(html.contains(&format!(
            "{:.1} <span class=\"ci\">[{:.1}, {:.1}]</span>",
            tp.mean, tp.ci95[0], tp.ci95[1]
        )));
    }
    // Throughput, vein-to-vein, on-time and loss charts with one bar per scenario (+ p95).
    for (title, bars) in [
        ("Doses released per year", 3),
        ("Vein-to-vein time, days", 6 + 2),
        ("Treated within target", 3),
    ] {
        let svg = svg_titled(&doc, title);
        let n = rects(svg);
        assert_eq!(n, bars, "{title}");
    }
    // Utilisation of same-named resources: 3 resources x 3 scenarios + 3 legend swatches.
    let util = svg_titled(&doc, "Mean utilisation with 95 % CI");
    let n = rects(util);
    assert_eq!(n, 3 * 3 + 3);
    // Same seed: the differences are paired with common random numbers.
    assert!(html.contains("common random numbers"));
    assert!(html.contains("three &lt;devices&gt; − two devices"));
}

#[test]
fn paired_differences_flag_real_changes_only() {
    let a = study("base", 2, 11);
    let same = report::comparison_html(&[a.clone(), a.clone()]);
    xml(&same);
    assert!(!same.contains("class=\"good\"") && !same.contains("class=\"bad\""));
    // Duplicate names are numbered in charts.
    assert!(same.contains("#2 base"));
    // The verdicts come first; identical scenarios tie on every figure.
    assert!(same.find("Which scenario does best") < same.find("Key figures side by side"));
    assert!(
        !same.contains("clearly, by"),
        "identical scenarios cannot differ clearly"
    );
    assert!(same.contains("a tie with"));

    // Twice the throughput in every replication is a significant improvement.
    let mut better = a.clone();
    better.scenario = "better".into();
    for x in &mut better.per_replication {
        x.released_per_year *= 2.0;
        x.lost += 3;
    }
    let html = report::comparison_html(&[a, better]);
    let doc = xml(&html);
    let row = doc
        .descendants()
        .filter(|n| n.has_tag_name("tr"))
        .find(|tr| {
            tr.descendants()
                .any(|n| n.text() == Some("Doses released per year"))
                && tr
                    .descendants()
                    .any(|n| n.attribute("class") == Some("good"))
        });
    assert!(row.is_some(), "doubled throughput not flagged as better");
    // The verdicts name the better scenario per figure and say that it is clear.
    let tp_gain = better_tp_gain(&html);
    assert!(tp_gain.contains("<strong>better</strong>"), "{tp_gain}");
    assert!(tp_gain.contains("clearly, by"), "{tp_gain}");
    assert!(
        html.contains("<li>Patients lost per replication: <strong>base</strong>"),
        "fewer patients lost is better"
    );
    let lost = doc
        .descendants()
        .filter(|n| n.has_tag_name("tr"))
        .find(|tr| {
            tr.descendants()
                .any(|n| n.text() == Some("Patients lost per replication"))
        });
    let lost_text: String = lost
        .map(|t| t.descendants().filter_map(|n| n.text()).collect())
        .unwrap_or_default();
    assert!(
        lost_text.contains("3.00 [3.00, 3.00]") && lost_text.contains("worse"),
        "{lost_text}"
    );
}

/// The verdict line on doses per year.
fn better_tp_gain(html: &str) -> String {
    html.lines()
        .find(|l| l.starts_with("<li>Doses released per year:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn only_pages_with_a_sortable_table_carry_the_sorting_script() {
    use report::page::{Cell, document, sortable_table, table};
    let rows = vec![
        vec![Cell::text("concept-1"), Cell::num("1000")],
        vec![Cell::text("concept-1"), Cell::num("200")],
    ];
    let plain = document("t", &table(&["concept", "patients"], &rows));
    assert!(!plain.contains("<script"));
    let page = document("t", &sortable_table(&["concept", "patients"], &rows));
    assert_eq!(page.matches("<script>").count(), 1);
    assert!(page.contains("<table class=\"sortable\">"));
    assert!(page.contains("<input type=\"search\" class=\"filter\""));
    // No network, and still well-formed XML (the script is wrapped in CDATA).
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains(" src="));
    xml(&page);
}

#[test]
fn comparison_of_nothing_is_a_valid_page() {
    let html = report::comparison_html(&[]);
    xml(&html);
    assert!(html.contains("No study to compare."));
}

#[test]
fn reports_are_deterministic() {
    let a = study("det", 2, 9);
    let b = study("det", 2, 9);
    assert_eq!(report::simulation_html(&a), report::simulation_html(&b));
}

/// A step that keeps its device through a 12-hour transfer: the report's utilisation chart and
/// table show the blocked share apart, and the resources table has its columns; a study
/// without blocking shows neither.
#[test]
fn blocked_time_is_shown_apart_from_utilisation_only_when_units_were_kept() {
    let r = kept_study();
    let device = device_index(&r);
    assert!(r.resources[device].blocked.mean > 0.0);
    let html = report::simulation_html(&r);
    let doc = xml(&html);
    let util = svg_titled(&doc, "Mean utilisation per resource");
    let bars = rects(util);
    // Processing and cleaning, and blocked: two bars per resource, and the legend's two
    // swatches (a chart of one series has no legend).
    assert_eq!(bars, 2 * r.resources.len() + 2);
    let legend: String = util.descendants().filter_map(|n| n.text()).collect();
    assert!(legend.contains("processing and cleaning") && legend.contains("blocked"));
    assert!(html.contains("Blocked [95 % CI]"));
    let csv = report::simulation_csv(&r);
    let resources = &csv
        .iter()
        .find(|(n, _)| n == "resources.csv")
        .expect("resources.csv")
        .1;
    let blocked = csv_number(resources, "device,", "blocked_mean");
    assert!((blocked - r.resources[device].blocked.mean).abs() < 1e-6);
    // Without blocking: one bar per resource, no blocked column.
    let plain = report::simulation_html(&study("plain", 2, 11));
    assert!(!plain.contains("Blocked [95 % CI]"));
}

/// The index of the tiny plant's `device` among a study's resources.
fn device_index(r: &Results) -> usize {
    r.resources
        .iter()
        .position(|x| x.name == "device")
        .expect("device")
}

/// The number in column `column` of the first row of a CSV table that starts with `row`.
fn csv_number(csv: &str, row: &str, column: &str) -> f64 {
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = head
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no {column} column"));
    let fields: Vec<&str> = lines
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no row starting {row}"))
        .split(',')
        .collect();
    fields[col].parse().expect("a number")
}

/// The tiny plant whose `make` step keeps its device through a 12-hour transfer.
fn kept_study() -> Results {
    let text = tiny("kept", 2).replace(
        "failure = { probability = 0.1, consequence = \"lost\" }",
        "failure = { probability = 0.1, consequence = \"lost\" }\nkeep = [\"device\"]\n\
         transfer_hours = 12",
    );
    run(&text, 11)
}

/// A comparison with a study whose batches keep units shows the blocked share per resource
/// apart from utilisation (chart, table, per-resource CSV); one without blocking shows none
/// of it and writes no per-resource CSV.
#[test]
fn comparisons_show_blocked_time_only_when_some_resource_was_blocked() {
    let plain = study("plain", 2, 11);
    let kept = kept_study();
    let device = device_index(&kept);
    assert!(kept.resources[device].blocked.mean > 0.0);
    let html = report::comparison_html(&[plain.clone(), kept.clone()]);
    let doc = xml(&html);
    let chart = svg_titled(&doc, "Mean share kept by blocked batches");
    // Three shared resources, two studies: one bar each, and the legend's two swatches.
    let bars = rects(chart);
    assert_eq!(bars, 3 * 2 + 2);
    assert!(html.contains("kept: blocked [95 % CI]"));
    assert!(html.contains("plain: processing and cleaning [95 % CI]"));
    // The device row: the plain study blocks nothing, the kept one its share.
    let row = doc
        .descendants()
        .filter(|n| n.has_tag_name("tr"))
        .find(|tr| tr.descendants().any(|n| n.text() == Some("device")))
        .expect("device row");
    let cells: Vec<String> = row
        .children()
        .filter(|n| n.has_tag_name("td"))
        .map(|td| td.descendants().filter_map(|n| n.text()).collect())
        .collect();
    assert_eq!(cells.len(), 5, "{cells:?}");
    assert!(cells[2].starts_with("0.0"), "{cells:?}");
    let share = format!("{:.1}", 100.0 * kept.resources[device].blocked.mean);
    assert!(cells[4].starts_with(&share), "{cells:?} vs {share}");
    let csv = report::comparison_resources_csv(&[plain.clone(), kept.clone()]).expect("a CSV");
    let blocked = csv_number(&csv, "kept,device,", "blocked_mean");
    assert!((blocked - kept.resources[device].blocked.mean).abs() < 1e-6);
    assert_eq!(
        csv.lines().count(),
        1 + 2 * 3,
        "a row per study and resource"
    );
    // Without blocking anywhere: nothing of it.
    let other = study("other", 3, 11);
    let none = report::comparison_html(&[plain.clone(), other.clone()]);
    assert!(!none.contains("blocked"), "no blocked time to show");
    assert!(report::comparison_resources_csv(&[plain, other]).is_none());
}
