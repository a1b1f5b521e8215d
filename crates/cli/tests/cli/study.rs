//! `atmpflow study` and `study merge` on the example studies: shards merge into exactly the
//! unsharded result, and missing, duplicated, foreign or damaged parts are refused with their
//! own exit codes.

use std::path::{Path, PathBuf};

use super::support::{assert_no_panic, assert_ok, assert_stderr_has, repo_path, run, stderr};

const REPS: &str = "2";

/// Runs a study (whole when `shard` is `None`) into `out`.
fn study(file: &Path, shard: Option<&str>, reps: &str, out: &Path) {
    let mut args: Vec<std::ffi::OsString> = vec![
        "study".into(),
        file.into(),
        "--replications".into(),
        reps.into(),
        "--quiet".into(),
        "--out".into(),
        out.into(),
    ];
    if let Some(s) = shard {
        args.extend(["--shard".into(), s.into()]);
    }
    let o = run(&args);
    assert_ok(&o, &format!("study {} {shard:?}", file.display()));
}

fn merge(parts: &[PathBuf], extra: &[&str], out: &Path) -> std::process::Output {
    let mut args: Vec<std::ffi::OsString> = vec!["study".into(), "merge".into()];
    args.extend(parts.iter().map(|p| p.clone().into_os_string()));
    args.extend(["--quiet".into(), "--out".into(), out.into()]);
    args.extend(extra.iter().map(|s| (*s).into()));
    let o = run(&args);
    assert_no_panic(&o);
    o
}

fn part(dir: &Path, i: usize, n: usize) -> PathBuf {
    dir.join(format!("study-part-{i}-of-{n}.json"))
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Runs `file` whole and in `n` shards and checks that the merged outputs are byte for
/// byte those of the whole run.
fn shards_merge_exactly(file: &str, n: usize, reps: &str) {
    let file = repo_path(file);
    let tmp = tempfile::tempdir().expect("temp dir");
    let whole = tmp.path().join("whole");
    study(&file, None, reps, &whole);
    let parts = tmp.path().join("parts");
    for i in 0..n {
        study(&file, Some(&format!("{i}/{n}")), reps, &parts);
    }
    let merged = tmp.path().join("merged");
    // Parts in reverse order: the order they are given in does not matter.
    let list: Vec<PathBuf> = (0..n).rev().map(|i| part(&parts, i, n)).collect();
    let o = merge(&list, &[], &merged);
    assert_ok(&o, "merge");
    decision_first(&whole);
    for f in [
        "study.json",
        "points.csv",
        "pareto.csv",
        "tornado.csv",
        "study.html",
    ] {
        assert!(
            read(&whole.join(f)) == read(&merged.join(f)),
            "{f} of the merged shards differs from the unsharded run"
        );
    }
}

#[test]
fn shards_of_the_concepts_study_merge_bit_for_bit() {
    shards_merge_exactly("examples/studies/concepts-by-demand.toml", 3, REPS);
}

/// The 200-point study with the fewest replications that give intervals (the grid, the
/// sizing and the sensitivity points are all there; more replications only take longer).
#[test]
fn shards_of_the_incubators_study_merge_bit_for_bit() {
    shards_merge_exactly("examples/studies/incubators-by-demand.toml", 3, REPS);
}

/// From the chart model: every curve that is drawn joined runs along strictly increasing x
/// (no polyline through unordered points), at most `MAX_LINES` curves share a chart (beside
/// a reference), and every figure has a reading aid.
fn charts_join_only_ordered_points(r: &cost::study::StudyResult) {
    let figures = report::study_charts::figures(r);
    assert!(figures.len() >= 3, "{} figures", figures.len());
    for f in &figures {
        assert!(f.reading.starts_with("Read:"), "{}", f.title);
        for p in &f.panels {
            let lines = p
                .chart
                .curves
                .iter()
                .filter(|c| c.joined)
                .filter(|c| c.name != "cheapest of all concepts" && c.name != "Pareto front")
                .count();
            assert!(
                lines <= report::study_charts::MAX_LINES,
                "{}: {lines} lines in one chart",
                f.title
            );
            for c in &p.chart.curves {
                assert!(
                    !c.joined || c.ordered(),
                    "{} / {}: a line through unordered points {:?}",
                    f.title,
                    c.name,
                    c.points.iter().map(|p| p.x).collect::<Vec<_>>()
                );
            }
        }
    }
}

#[test]
fn missing_duplicated_foreign_and_damaged_parts_have_their_own_exit_codes() {
    let file = repo_path("examples/studies/concepts-by-demand.toml");
    let tmp = tempfile::tempdir().expect("temp dir");
    let parts = tmp.path().join("parts");
    for i in 0..3 {
        study(&file, Some(&format!("{i}/3")), REPS, &parts);
    }
    let (p0, p1, p2) = (part(&parts, 0, 3), part(&parts, 1, 3), part(&parts, 2, 3));
    let out = tmp.path().join("out");

    // A shard missing: exit 3, nothing written, the message names the shard.
    let o = merge(&[p0.clone(), p2.clone()], &[], &out);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_stderr_has(&o, "no part for shard 1/3");
    assert_stderr_has(&o, "--allow-partial");
    assert!(!out.join("study.json").exists());

    // --allow-partial writes the report marked partial.
    let o = merge(&[p0.clone(), p2.clone()], &["--allow-partial"], &out);
    assert_ok(&o, "merge --allow-partial");
    let json: serde_json::Value =
        serde_json::from_slice(&read(&out.join("study.json"))).expect("json");
    assert_eq!(json["partial"], true);
    assert!(!json["missing"].as_array().expect("missing").is_empty());
    let html = String::from_utf8(read(&out.join("study.html"))).expect("utf-8");
    assert!(html.contains("Partial result"));

    // The same shard twice: exit 4, naming both files.
    let copy = tmp.path().join("copy-of-0.json");
    std::fs::copy(&p0, &copy).expect("copy");
    let o = merge(
        &[p0.clone(), p1.clone(), p2.clone(), copy.clone()],
        &["--allow-partial"],
        &out,
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_stderr_has(&o, "copy-of-0.json");

    // A shard run with other settings (replications) or another sharding: exit 5.
    let other = tmp.path().join("other");
    study(&file, Some("1/3"), "3", &other);
    let o = merge(&[p0.clone(), part(&other, 1, 3), p2.clone()], &[], &out);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_stderr_has(&o, "replications per point 3, not 2");

    // A part of another study file: exit 5.
    let inc = repo_path("examples/studies/incubators-by-demand.toml");
    let foreign = tmp.path().join("foreign");
    study(&inc, Some("5/40"), REPS, &foreign);
    let o = merge(&[p0.clone(), part(&foreign, 5, 40)], &[], &out);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_stderr_has(&o, "study file SHA-256");

    // A damaged part (cut off) and a file that is no part at all: exit 1, named.
    let text = read(&p1);
    let cut = tmp.path().join("cut.json");
    std::fs::write(&cut, &text[..text.len() / 2]).expect("write");
    let o = merge(&[p0.clone(), cut, p2.clone()], &[], &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_stderr_has(&o, "cut.json: not JSON");
    let o = merge(&[out.join("study.json")], &[], &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_stderr_has(&o, "not a study part file");

    // An edited part whose points are not its shard's: exit 5.
    let edited = tmp.path().join("edited.json");
    let s = String::from_utf8(text).expect("utf-8");
    let shard1 = s.replace("\"shard\": [\n    1,", "\"shard\": [\n    0,");
    assert_ne!(s, shard1, "the shard field is where the test expects it");
    std::fs::write(&edited, shard1).expect("write");
    let o = merge(&[edited, p2], &[], &out);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_stderr_has(&o, "is not in shard 0/3");
}

/// The report of the concepts study answers the planner's question first (see
/// [`decision_first`]).
#[test]
fn the_concepts_report_puts_the_decision_first() {
    let file = repo_path("examples/studies/concepts-by-demand.toml");
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("out");
    study(&file, None, REPS, &out);
    decision_first(&out);
}

/// The report in `out` parses as XML; its decision section names, per demand, the
/// configuration that the study's own numbers make the cheapest one meeting the target
/// (computed here, independently of `study::decide`), before any chart; the point table is in
/// numeric order of the axis values within each concept; no chart joins unordered points.
fn decision_first(out: &Path) {
    let text = String::from_utf8(read(&out.join("study.json"))).expect("utf-8");
    let r: cost::study::StudyResult = serde_json::from_str(&text).expect("study.json");
    let target = r
        .target
        .p95_vein_to_vein_days
        .expect("the example states a p95 target");
    let html = String::from_utf8(read(&out.join("study.html"))).expect("utf-8");
    roxmltree::Document::parse(html.trim_start_matches("<!DOCTYPE html>\n"))
        .expect("the report is well-formed XML");
    let decision = html.find("<h2>Decision</h2>").expect("decision section");
    let charts = html.find("<h2>Charts</h2>").expect("charts");
    assert!(decision < charts, "the decision comes before the charts");
    let section = &html[decision..charts];
    let demand = "demand.*.patients_per_year";
    let grid = || {
        r.points
            .iter()
            .filter(|p| p.point.kind == cost::study::PointKind::Grid)
    };
    let mut demands: Vec<f64> = grid().map(|p| p.point.values[demand]).collect();
    demands.sort_by(f64::total_cmp);
    demands.dedup();
    let mut last = 0;
    for d in demands {
        // Cheapest grid point at this demand that keeps up and meets the p95 target.
        let best = grid()
            .filter(|p| p.point.values[demand] == d)
            .filter(|p| p.vein_to_vein_censored == 0.0 && p.vein_to_vein_p95 <= target)
            .filter_map(|p| p.cost.as_ref().map(|c| (p, c.per_dose.mean)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let sentence = match best {
            Some((p, _)) => {
                let others: Vec<String> = p
                    .point
                    .values
                    .iter()
                    .filter(|(k, _)| k.as_str() != demand)
                    .map(|(k, v)| format!("{v} {}", k.replace('_', " ")))
                    .collect();
                let with = if others.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", others.join(", "))
                };
                format!("At {d} patients per year: build {}{with} at", p.point.label)
            }
            None => format!("At {d} patients per year: no configuration"),
        };
        let at = section
            .find(&sentence)
            .unwrap_or_else(|| panic!("`{sentence}` in\n{section}"));
        assert!(at > last, "demands in ascending order");
        last = at;
    }
    charts_join_only_ordered_points(&r);
    // The point table: rows by concept in study order, then the axis values in numeric
    // order (axes in file order).
    let table = &html[html.find("<h2>Every point</h2>").expect("point table")..];
    let rows: Vec<&cost::study::PointResult> = table
        .split("<tr><td class=\"num\">")
        .skip(1)
        .map(|row| {
            let i: usize = row[..row.find('<').expect("cell end")]
                .parse()
                .expect("point number");
            r.points.iter().find(|p| p.point.index == i).expect("point")
        })
        .collect();
    assert_eq!(rows.len(), grid().count(), "one row a grid point");
    let concept =
        |p: &cost::study::PointResult| r.points.iter().position(|q| q.point.label == p.point.label);
    for w in rows.windows(2) {
        let key = |p: &cost::study::PointResult| {
            (
                concept(p),
                r.axes
                    .iter()
                    .map(|a| p.point.values[a])
                    .collect::<Vec<f64>>(),
            )
        };
        let (a, b) = (key(w[0]), key(w[1]));
        assert!(
            a.0 < b.0 || (a.0 == b.0 && a.1 < b.1),
            "rows out of numeric order: {a:?} before {b:?}"
        );
    }
}
