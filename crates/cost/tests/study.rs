//! Studies: grid expansion, sizing, sharding, determinism across thread counts, Pareto front,
//! tornado, located errors.

use std::sync::atomic::AtomicBool;

use cost::study::{self, MergeError, NamedPart, PointKind, ScenarioFiles, Study};
use model::SourceFile;
use testkit::scenarios::{Scenario, fixed, q, triangular};

/// A small plant: three devices making CAR-T (a 12-day manufacture that fails one time in
/// ten, made again from the back-up material, then a week of QC), its devices and kits priced.
fn plant() -> String {
    Scenario::new("small plant", 200, 30, 2, 1)
        .equipment("device", 3)
        .product("car-t")
        .set("remanufacture_from", q("manufacture"))
        .set("max_remanufactures", 1)
        .step("manufacture", triangular(10, 12, 14, "days"))
        .uses("equipment", "device")
        .set(
            "failure",
            r#"{ probability = 0.1, consequence = "remanufacture" }"#,
        )
        .step("qc-release", fixed(7, "days"))
        .demand("car-t", "patients_per_year = 60", 25)
        .append(
            r#"
[cost]
annualisation = "straight_line"
[[cost.equipment]]
pool = "device"
purchase_eur = 100000
useful_life_years = 10
[[cost.material]]
name = "kit"
eur = 5000
per = "step_run"
step = "manufacture"
"#,
        )
        .text()
}

const SHARED: &str = r#"
[cost]
[[cost.qc_test]]
name = "panel"
eur = 2000
per = "step_run"
step = "qc-release"
[[cost.operating]]
name = "audits"
eur = 30000
per = "year"
"#;

const STUDY: &str = r#"
[study]
name = "test study"
seed = 99
replications = 4
cost = "shared.toml"

[[scenario]]
label = "small"
file = "plant.toml"
[[scenario.sizing]]
param = "equipment.device.count"
per_patient_per_year = 0.05
min = 2

[[scenario]]
label = "big"
file = "plant.toml"
alias = { units = "equipment.device.count" }
[[scenario.sizing]]
param = "units"
per_patient_per_year = 1.0

[[axis]]
param = "demand.*.patients_per_year"
values = [30, 90]

[[axis]]
param = "cost.material.0.eur"
range = { from = 4000, to = 6000, step = 2000 }

[sensitivity]
scenario = "small"
at = { "demand.*.patients_per_year" = 90 }
delta = 0.1
params = ["product.car-t.step.manufacture.failure.probability"]
"#;

fn prepare(study_text: &str) -> Result<Study, study::StudyError> {
    let src = SourceFile::new("study.toml", study_text);
    let spec = study::parse_spec(&src)?;
    let files = spec
        .scenario
        .iter()
        .map(|_| ScenarioFiles {
            scenario: SourceFile::new("plant.toml", plant()),
            shared: Some(SourceFile::new("shared.toml", SHARED)),
            cost: None,
        })
        .collect();
    Study::prepare(spec, files)
}

fn run(st: &Study, idx: &[usize], threads: usize) -> study::StudyPart {
    run_shard(st, [0, 1], idx, threads)
}

/// Runs the points `idx` as shard `shard` (the points need not be the shard's: tests of
/// inconsistent parts use that).
fn run_shard(st: &Study, shard: [usize; 2], idx: &[usize], threads: usize) -> study::StudyPart {
    let never = AtomicBool::new(false);
    let (points, failed, partial) = study::run(st, idx, threads, &|_| {}, &never).expect("runs");
    let mut part = st.part(shard, idx.len());
    part.study_sha256 = "x".to_string();
    part.inputs_sha256 = "y".to_string();
    part.points = points;
    part.failed = failed;
    part.partial = partial;
    part
}

/// Shard `i` of `n` of the study, named like the file the command line writes.
fn shard(st: &Study, i: usize, n: usize, threads: usize) -> NamedPart {
    let idx = study::shard_points(st.points.len(), i, n);
    named(run_shard(st, [i, n], &idx, threads))
}

fn named(part: study::StudyPart) -> NamedPart {
    NamedPart {
        name: format!("study-part-{}-of-{}.json", part.shard[0], part.shard[1]),
        part,
    }
}

/// Merges parts that must merge completely.
fn merge(parts: Vec<NamedPart>) -> study::StudyResult {
    study::merge(&parts, false).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn grid_sizing_and_sensitivity_points() {
    let st = prepare(STUDY).expect("prepares");
    // 2 scenarios x 2 demands x 2 prices, then 2 re-simulated sensitivity points.
    assert_eq!(st.points.len(), 10);
    assert_eq!(st.points[0].label, "small");
    assert_eq!(st.points[4].label, "big");
    // Last axis fastest.
    assert_eq!(st.points[1].values["cost.material.0.eur"], 6000.0);
    assert_eq!(st.points[2].values["demand.*.patients_per_year"], 90.0);
    // Sizing: ceil(90 x 0.05) = 5; at 30 patients the minimum 2 applies.
    assert_eq!(st.points[2].sized["equipment.device.count"], 5.0);
    assert_eq!(st.points[0].sized["equipment.device.count"], 2.0);
    // Scenario "big" sizes `units` (an alias) from demand: 30 and 90 units.
    assert_eq!(st.points[4].sized["units"], 30.0);
    assert_eq!(st.points[6].sized["units"], 90.0);
    // Base point: scenario "small" at 90 patients, first price.
    assert_eq!(st.base, Some(2));
    for p in &st.points[8..] {
        assert!(matches!(p.kind, PointKind::Sensitivity { .. }));
        assert_eq!(p.seed, st.points[2].seed, "common random numbers");
    }
    // Seeds differ between grid points.
    assert_ne!(st.points[0].seed, st.points[1].seed);
}

#[test]
fn shards_and_thread_counts_give_the_same_result() {
    let st = prepare(STUDY).expect("prepares");
    let all: Vec<usize> = (0..st.points.len()).collect();
    let whole = merge(vec![named(run(&st, &all, 1))]);
    let a = shard(&st, 0, 3, 2);
    let b = shard(&st, 1, 3, 1);
    let c = shard(&st, 2, 3, 2);
    let partial = study::merge(&[a.clone(), c.clone()], true).expect("merges");
    assert!(partial.partial);
    assert_eq!(partial.missing, study::shard_points(st.points.len(), 1, 3));
    let merged = merge(vec![c, b, a]);
    assert!(!merged.partial);
    assert_eq!(merged.points, whole.points);
    assert_eq!(merged.pareto, whole.pareto);
    assert_eq!(merged.tornado, whole.tornado);

    // Every grid point is priced; the price axis moves cost per dose by exactly the kit's
    // use per dose (same seed would be needed for equality, so compare within each point).
    for p in merged
        .points
        .iter()
        .filter(|p| p.point.kind == PointKind::Grid)
    {
        let c = p.cost.as_ref().expect("priced");
        assert!(c.per_dose.mean > 0.0);
        assert!(c.by_category["qc"].mean > 0.0, "shared layer merged");
        assert!(
            c.by_category["equipment"].mean > 0.0,
            "scenario layer merged"
        );
    }
    // Sizing changed the plant: 5 devices at 90 patients.
    assert_eq!(merged.points[2].equipment_units, 5);

    // The Pareto front holds no dominated point.
    for &i in &merged.pareto {
        let p = &merged.points[i];
        let (c, v) = (
            p.cost.as_ref().expect("cost").per_dose.mean,
            p.vein_to_vein_p95,
        );
        for q in merged
            .points
            .iter()
            .filter(|q| q.point.kind == PointKind::Grid)
        {
            let qc = q.cost.as_ref().expect("cost").per_dose.mean;
            assert!(
                !(qc < c && q.vein_to_vein_p95 < v),
                "{i} dominated by {}",
                q.point.index
            );
        }
    }
    // Tornado: the kit price and the audit cost move cost per dose, the failure probability
    // (re-simulated) too; bars are sorted widest first.
    let inputs: Vec<&str> = merged.tornado.iter().map(|t| t.input.as_str()).collect();
    assert!(inputs.contains(&"cost.material.0.eur"), "{inputs:?}");
    assert!(inputs.contains(&"cost.operating.0.eur"), "{inputs:?}");
    assert!(
        inputs.contains(&"product.car-t.step.manufacture.failure.probability"),
        "{inputs:?}"
    );
    let widths: Vec<f64> = merged
        .tornado
        .iter()
        .map(|t| (t.high - t.low).abs())
        .collect();
    assert!(widths.windows(2).all(|w| w[0] >= w[1]));
    let audit = merged
        .tornado
        .iter()
        .find(|t| t.input == "cost.operating.0.eur")
        .expect("audit bar");
    assert!(audit.low < audit.base && audit.base < audit.high);
}

#[test]
fn shards_partition_the_points_evenly() {
    for (total, n) in [(200, 20), (23, 4), (5, 8), (0, 3)] {
        let mut seen = vec![0; total];
        for i in 0..n {
            let mine = study::shard_points(total, i, n);
            assert!(mine.len() <= total.div_ceil(n) && mine.len() >= total / n);
            for k in mine {
                seen[k] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "{total}/{n}");
    }
    // The fast axis of a 20 x 10 grid is spread over the shards, not pinned to one value.
    let first = study::shard_points(200, 0, 20);
    let fast: std::collections::BTreeSet<usize> = first.iter().map(|k| k % 10).collect();
    assert!(fast.len() > 3, "{first:?}");
}

#[test]
fn parts_written_to_json_and_read_back_merge_bit_for_bit() {
    let st = prepare(STUDY).expect("prepares");
    let all: Vec<usize> = (0..st.points.len()).collect();
    let whole = merge(vec![named(run(&st, &all, 1))]);
    let parts: Vec<NamedPart> = (0..3)
        .map(|i| {
            let p = shard(&st, i, 3, 1);
            let text = study::part_to_json(&p.part).expect("writes");
            let back = study::part_from_json(&text).expect("reads");
            assert_eq!(back, p.part, "shard {i} reads back exactly");
            NamedPart { part: back, ..p }
        })
        .collect();
    let merged = merge(parts);
    // Compare the bits of every figure (via the JSON text, which prints the shortest
    // decimal that reads back to the same bits) and the structures themselves.
    let json = |r: &study::StudyResult| serde_json::to_string(r).expect("json");
    assert_eq!(json(&merged), json(&whole));
    assert_eq!(merged, whole);
}

#[test]
fn figures_that_are_not_finite_are_not_written_to_a_part() {
    let st = prepare(STUDY).expect("prepares");
    let mut p = run(&st, &[0], 1);
    p.points[0].max_utilisation = f64::NAN;
    let e = study::part_to_json(&p).expect_err("NaN cannot be stored exactly");
    assert!(e.contains("point 0"), "{e}");
}

#[test]
fn part_files_of_another_format_or_damaged_are_refused() {
    let e = study::part_from_json(r#"{"study": "x"}"#).expect_err("no format");
    assert!(e.contains("no `format` field"), "{e}");
    let e = study::part_from_json(r#"{"format": "atmpflow-study-part/0"}"#).expect_err("old");
    assert!(e.contains("atmpflow-study-part/0"), "{e}");
    let e = study::part_from_json("{\"format\": \"atmpflow-study-part/1\",\n \"study\": 5}")
        .expect_err("bad field");
    assert!(e.contains("line 2"), "{e}");
    let e = study::part_from_json("{\"format\": ").expect_err("cut off");
    assert!(e.contains("not JSON"), "{e}");
}

#[test]
fn missing_shards_and_cancelled_parts_are_errors_unless_partial_is_allowed() {
    let st = prepare(STUDY).expect("prepares");
    let (a, c) = (shard(&st, 0, 3, 1), shard(&st, 2, 3, 1));
    let e = study::merge(&[a.clone(), c.clone()], false).expect_err("shard 1 missing");
    let MergeError::Missing {
        missing,
        missing_shards,
        cancelled,
        ..
    } = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(missing, &study::shard_points(st.points.len(), 1, 3));
    assert_eq!(missing_shards, &[[1, 3]]);
    assert!(cancelled.is_empty());
    assert!(e.to_string().contains("study-part-1-of-3.json"), "{e}");

    // A cancelled shard: one of its points never ran.
    let mut b = shard(&st, 1, 3, 1);
    let lost = b.part.points.pop().expect("a point").point.index;
    b.part.partial = true;
    let e = study::merge(&[a.clone(), b.clone(), c.clone()], false).expect_err("cancelled");
    assert!(
        matches!(&e, MergeError::Missing { missing, cancelled, .. }
            if missing == &[lost] && cancelled == &[b.name.clone()]),
        "{e:?}"
    );
    let r = study::merge(&[a, b, c], true).expect("partial allowed");
    assert!(r.partial);
    assert_eq!(r.missing, vec![lost]);
    assert_eq!(r.points.len(), st.points.len() - 1);
}

#[test]
fn a_shard_given_twice_is_an_error_naming_both_parts() {
    let st = prepare(STUDY).expect("prepares");
    let a = shard(&st, 0, 2, 1);
    let mut again = a.clone();
    again.name = "copy.json".to_string();
    let b = shard(&st, 1, 2, 1);
    let e = study::merge(&[a, b, again], true).expect_err("duplicate");
    assert_eq!(
        e,
        MergeError::Duplicate {
            name: "copy.json".to_string(),
            other: "study-part-0-of-2.json".to_string(),
            shard: [0, 2],
        }
    );
}

#[test]
fn parts_of_other_inputs_versions_or_settings_are_foreign() {
    let st = prepare(STUDY).expect("prepares");
    let a = shard(&st, 0, 2, 1);
    let b = shard(&st, 1, 2, 1);
    type Change = fn(&mut study::StudyPart);
    let changes: [(&str, Change); 7] = [
        ("study file SHA-256", |p| p.study_sha256 = "other".into()),
        ("scenario or cost files differ", |p| {
            p.inputs_sha256 = "other".into()
        }),
        ("program version", |p| p.program_version = "9.9.9".into()),
        ("seed", |p| p.seed += 1),
        ("replications per point", |p| p.replications += 1),
        ("random number generator", |p| p.rng = "other".into()),
        ("sensitivity", |p| p.delta = Some(0.3)),
    ];
    for (what, change) in changes {
        let mut f = b.clone();
        change(&mut f.part);
        let e = study::merge(&[a.clone(), f], true).expect_err(what);
        assert!(
            matches!(&e, MergeError::Foreign { name, reason, .. }
                if name == "study-part-1-of-2.json" && reason.contains(what)),
            "{what}: {e:?}"
        );
    }
    // Another sharding of the same study.
    let other = shard(&st, 1, 3, 1);
    let e = study::merge(&[a.clone(), other], true).expect_err("3 vs 2 shards");
    assert!(e.to_string().contains("split into 3 shards, not 2"), "{e}");
}

#[test]
fn parts_whose_points_do_not_fit_their_shard_are_inconsistent() {
    let st = prepare(STUDY).expect("prepares");
    let a = shard(&st, 0, 2, 1);
    let mine = study::shard_points(st.points.len(), 1, 2);
    let theirs = study::shard_points(st.points.len(), 0, 2);
    // A point of shard 0 in a part that says it is shard 1.
    let mut idx = mine.clone();
    idx[0] = theirs[0];
    let wrong = named(run_shard(&st, [1, 2], &idx, 1));
    let e = study::merge(&[a.clone(), wrong], true).expect_err("wrong point");
    assert!(
        matches!(&e, MergeError::Inconsistent { reason, .. }
            if reason.contains(&format!("point {} is not in shard 1/2", theirs[0]))),
        "{e:?}"
    );
    // A part marked complete that lacks a point.
    let mut short = shard(&st, 1, 2, 1);
    short.part.points.pop();
    let e = study::merge(&[a.clone(), short], true).expect_err("lacks a point");
    assert!(e.to_string().contains("marked complete but lacks"), "{e}");
    // A point listed twice.
    let mut twice = shard(&st, 1, 2, 1);
    let dup = twice.part.points[0].clone();
    twice.part.points.push(dup);
    let e = study::merge(&[a, twice], true).expect_err("twice");
    assert!(e.to_string().contains("appears twice"), "{e}");
    // An impossible shard.
    let mut bad = shard(&st, 1, 2, 1);
    bad.part.shard = [2, 2];
    let e = study::merge(&[bad], true).expect_err("shard 2/2");
    assert!(e.to_string().contains("not a valid shard"), "{e}");
    assert_eq!(study::merge(&[], true), Err(MergeError::NoParts));
}

#[test]
fn set_param_finds_fields_by_name_index_and_star() {
    let mut t: toml::Table = toml::from_str(&plant()).expect("toml");
    assert_eq!(
        study::set_param(&mut t, "equipment.device.count", 7.0),
        Ok(1)
    );
    assert_eq!(t["equipment"][0]["count"].as_integer(), Some(7));
    assert_eq!(
        study::set_param(&mut t, "demand.*.patients_per_year", 12.5),
        Ok(1)
    );
    assert_eq!(t["demand"][0]["patients_per_year"].as_float(), Some(12.5));
    assert_eq!(
        study::set_param(&mut t, "product.car-t.step.0.failure.probability", 0.2),
        Ok(1)
    );
    let e = study::set_param(&mut t, "equipment.devise.count", 1.0).expect_err("no such pool");
    assert!(e.contains("devise"), "{e}");
    let e = study::set_param(&mut t, "scenario.name", 1.0).expect_err("not a number");
    assert!(e.contains("not a number"), "{e}");
}

#[test]
fn bad_study_files_name_line_and_field() {
    let bad = STUDY.replace("delta = 0.1", "delta = 2.0");
    let e = match prepare(&bad) {
        Err(study::StudyError::File(e)) => e,
        other => panic!("expected a located error, got {other:?}"),
    };
    assert_eq!(e.errors[0].field, "sensitivity.delta");
    assert_eq!(
        e.errors[0].line,
        bad.lines()
            .position(|l| l.contains("delta = 2.0"))
            .expect("line")
            + 1
    );

    let bad = STUDY.replace("replications = 4", "replications = \"four\"");
    let e = match prepare(&bad) {
        Err(study::StudyError::File(e)) => e,
        other => panic!("expected a located error, got {other:?}"),
    };
    assert_eq!(e.errors[0].field, "study.replications");

    // An axis that matches nothing in a scenario is refused before any simulation.
    let bad = STUDY.replace("cost.material.0.eur", "cost.material.5.eur");
    match prepare(&bad) {
        Err(study::StudyError::Message(m)) => assert!(m.contains("index 5"), "{m}"),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn cost_errors_in_a_layer_name_that_layer() {
    let src = SourceFile::new("study.toml", STUDY);
    let spec = study::parse_spec(&src).expect("parses");
    let bad_shared = SHARED.replace("step = \"qc-release\"", "step = \"qc\"");
    let files = spec
        .scenario
        .iter()
        .map(|_| ScenarioFiles {
            scenario: SourceFile::new("plant.toml", plant()),
            shared: Some(SourceFile::new("shared.toml", bad_shared.as_str())),
            cost: None,
        })
        .collect();
    let e = match Study::prepare(spec, files) {
        Err(study::StudyError::File(e)) => e,
        other => panic!("expected a located error, got {other:?}"),
    };
    assert_eq!(e.file, "shared.toml");
    assert_eq!(e.errors[0].field, "cost.qc_test[0].step");
    assert_eq!(
        e.errors[0].line,
        bad_shared
            .lines()
            .position(|l| l.contains("step = \"qc\""))
            .expect("line")
            + 1
    );
}

#[test]
fn an_axis_on_an_alias_switches_off_the_sizing_rule_of_that_field() {
    let text = r#"
[study]
name = "alias"
seed = 3
replications = 2
cost = "shared.toml"

[[scenario]]
label = "small"
file = "plant.toml"
alias = { units = "equipment.device.count" }
[[scenario.sizing]]
param = "equipment.device.count"
per_patient_per_year = 1.0

[[axis]]
param = "units"
values = [4]
"#;
    let st = prepare(text).expect("prepares");
    assert!(st.points[0].sized.is_empty(), "{:?}", st.points[0].sized);
    let part = run_shard(&st, [0, 1], &[0], 1);
    assert_eq!(part.points[0].equipment_units, 4);
}

#[test]
fn a_plant_that_cannot_keep_up_reports_censored_vein_to_vein_times() {
    // One 12-day device serves about 30 patients a year; 1000 a year overload it, so most of
    // the cohort is still waiting when the run is cut off a year after the horizon.
    let text = r#"
[study]
name = "overload"
seed = 5
replications = 2
cost = "shared.toml"

[[scenario]]
label = "small"
file = "plant.toml"

[[axis]]
param = "equipment.device.count"
values = [1]

[[axis]]
param = "demand.*.patients_per_year"
values = [10, 1000]
"#;
    let st = prepare(text).expect("prepares");
    let all: Vec<usize> = (0..st.points.len()).collect();
    let merged = merge(vec![named(run(&st, &all, 1))]);
    let at = |d: f64| {
        merged
            .points
            .iter()
            .find(|p| p.point.values["demand.*.patients_per_year"] == d)
            .expect("point")
    };
    let (light, heavy) = (at(10.0), at(1000.0));
    assert_eq!(light.vein_to_vein_censored, 0.0);
    assert!(light.vein_to_vein_p95 < 60.0, "{}", light.vein_to_vein_p95);
    assert!(
        heavy.vein_to_vein_censored > 0.5,
        "{}",
        heavy.vein_to_vein_censored
    );
    // Censored patients count at their age at the cut-off (horizon + 365 days), so the p95
    // is at least a year, not the short times of the few who were treated.
    assert!(heavy.vein_to_vein_p95 > 365.0, "{}", heavy.vein_to_vein_p95);
    // The light point has the shorter p95, so it is on the Pareto front whatever its cost.
    assert!(
        merged.pareto.contains(&light.point.index),
        "{:?}",
        merged.pareto
    );
}

#[test]
fn decisions_pick_the_cheapest_point_that_meets_the_target() {
    let text = STUDY.replace(
        "cost = \"shared.toml\"",
        "cost = \"shared.toml\"\ntarget = { p95_vein_to_vein_days = 40 }",
    );
    let st = prepare(&text).expect("prepares");
    let all: Vec<usize> = (0..st.points.len()).collect();
    let r = merge(vec![named(run(&st, &all, 1))]);
    assert_eq!(r.target.p95_vein_to_vein_days, Some(40.0));
    let demand = "demand.*.patients_per_year";
    assert_eq!(study::main_axis(&r.axes), Some(demand));
    let ds = study::decide(&r, &[demand]);
    assert_eq!(
        ds.iter().map(|d| d.at.clone()).collect::<Vec<_>>(),
        vec![vec![30.0], vec![90.0]],
        "ascending demand"
    );
    for d in &ds {
        // Independently: the cheapest grid point at this demand that keeps up and meets
        // the p95 target.
        let pts: Vec<&study::PointResult> = r
            .points
            .iter()
            .filter(|p| p.point.kind == PointKind::Grid && p.point.values[demand] == d.at[0])
            .collect();
        let ok: Vec<&&study::PointResult> = pts
            .iter()
            .filter(|p| p.vein_to_vein_censored == 0.0 && p.vein_to_vein_p95 <= 40.0)
            .collect();
        let best = ok
            .iter()
            .min_by(|a, b| {
                let c = |p: &study::PointResult| p.cost.as_ref().expect("cost").per_dose.mean;
                c(a).total_cmp(&c(b))
            })
            .map(|p| p.point.index);
        assert_eq!(d.winner, best, "{d:?}");
        assert_eq!(d.candidates, pts.len());
        assert_eq!(d.feasible, ok.len());
        if let (Some(w), Some(q)) = (d.winner, d.runner_up) {
            assert_ne!(
                r.points[w].point.label, r.points[q].point.label,
                "runner-up of another concept"
            );
        }
    }
    // An unreachable target leaves no winner.
    let mut strict = r.clone();
    strict.target.p95_vein_to_vein_days = Some(1.0);
    assert!(
        study::decide(&strict, &[demand])
            .iter()
            .all(|d| d.winner.is_none())
    );
    // Two axes: one decision per cell.
    assert_eq!(study::decide(&r, &[demand, "cost.material.0.eur"]).len(), 4);
}

#[test]
fn bad_targets_are_located() {
    let bad = STUDY.replace(
        "cost = \"shared.toml\"",
        "cost = \"shared.toml\"\ntarget = { on_time_fraction = 1.5 }",
    );
    let e = match prepare(&bad) {
        Err(study::StudyError::File(e)) => e,
        other => panic!("expected a located error, got {other:?}"),
    };
    assert_eq!(e.errors[0].field, "study.target.on_time_fraction");
}

#[test]
fn parameters_are_described_with_the_names_the_files_give() {
    let cost: toml::Table = toml::from_str(
        "[[material]]\nname = \"kit\"\neur = 1\n[[role]]\nname = \"operator\"\nsalary_eur_per_year = 2\n",
    )
    .expect("toml");
    assert_eq!(
        study::describe_param(Some(&cost), "material.0.eur"),
        "material “kit” › eur"
    );
    assert_eq!(
        study::describe_param(Some(&cost), "role.0.salary_eur_per_year"),
        "role “operator” › salary eur per year"
    );
    assert_eq!(
        study::describe_param(None, "product.car-t.step.manufacture.failure.probability"),
        "product “car-t” › step “manufacture” › failure › probability"
    );
    assert_eq!(
        study::describe_param(None, "demand.*.patients_per_year"),
        "demand “every” › patients per year"
    );
    // The tornado of the test study carries these names.
    let st = prepare(STUDY).expect("prepares");
    let all: Vec<usize> = (0..st.points.len()).collect();
    let r = merge(vec![named(run(&st, &all, 1))]);
    let kit = r
        .tornado
        .iter()
        .find(|t| t.input == "cost.material.0.eur")
        .expect("kit bar");
    assert_eq!(kit.label, "cost › material “kit” › eur");
}
