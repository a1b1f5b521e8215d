//! Studies: grid expansion, sizing, sharding, determinism across thread counts, Pareto front,
//! tornado, located errors.

use std::sync::atomic::AtomicBool;

use cost::study::{self, PointKind, ScenarioFiles, Study};
use model::SourceFile;

const PLANT: &str = r#"
[scenario]
name = "small plant"
horizon_days = 200
warmup_days = 30
replications = 2
seed = 1

[[equipment]]
name = "device"
count = 3
dispatch = "fifo"

[[product]]
name = "car-t"
remanufacture_from = "manufacture"
max_remanufactures = 1
[[product.step]]
name = "manufacture"
duration = { dist = "triangular", min = 10, mode = 12, max = 14, unit = "days" }
uses = [{ equipment = "device" }]
failure = { probability = 0.1, consequence = "remanufacture" }
[[product.step]]
name = "qc-release"
duration = { dist = "fixed", value = 7, unit = "days" }

[[demand]]
product = "car-t"
patients_per_year = 60
target_vein_to_vein_days = 25

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
"#;

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
            scenario: SourceFile::new("plant.toml", PLANT),
            shared: Some(SourceFile::new("shared.toml", SHARED)),
            cost: None,
        })
        .collect();
    Study::prepare(spec, files)
}

fn run(st: &Study, idx: &[usize], threads: usize) -> study::StudyPart {
    let never = AtomicBool::new(false);
    let (points, failed, partial) = study::run(st, idx, threads, &|_| {}, &never).expect("runs");
    let mut part = st.part([0, 1], idx.len());
    part.study_sha256 = "x".to_string();
    part.points = points;
    part.failed = failed;
    part.partial = partial;
    part
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
    let whole = study::merge(&[run(&st, &all, 1)]).expect("merges");
    let a = run(&st, &study::shard_points(st.points.len(), 0, 3), 2);
    let b = run(&st, &study::shard_points(st.points.len(), 1, 3), 1);
    let c = run(&st, &study::shard_points(st.points.len(), 2, 3), 2);
    let partial = study::merge(&[a.clone(), c.clone()]).expect("merges");
    assert!(partial.partial);
    assert_eq!(partial.missing, study::shard_points(st.points.len(), 1, 3));
    let merged = study::merge(&[c, b, a]).expect("merges");
    assert!(!merged.partial);
    assert_eq!(merged.points, whole.points);
    assert_eq!(merged.pareto, whole.pareto);
    assert_eq!(merged.tornado, whole.tornado);

    // Every grid point is priced; the price axis moves cost per dose by exactly the kit's
    // use per dose (same seed would be needed for equality, so compare within each point).
    for p in merged.points.iter().filter(|p| p.kind == PointKind::Grid) {
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
        for q in merged.points.iter().filter(|q| q.kind == PointKind::Grid) {
            let qc = q.cost.as_ref().expect("cost").per_dose.mean;
            assert!(
                !(qc < c && q.vein_to_vein_p95 < v),
                "{i} dominated by {}",
                q.index
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
fn parts_of_different_studies_do_not_merge() {
    let st = prepare(STUDY).expect("prepares");
    let a = run(&st, &[0], 1);
    let mut b = run(&st, &[1], 1);
    b.study_sha256 = "other".to_string();
    let e = study::merge(&[a, b]).expect_err("must refuse");
    assert!(e.contains("different studies"), "{e}");
}

#[test]
fn set_param_finds_fields_by_name_index_and_star() {
    let mut t: toml::Table = toml::from_str(PLANT).expect("toml");
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
            scenario: SourceFile::new("plant.toml", PLANT),
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
    let part = run(&st, &[0], 1);
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
    let merged = study::merge(&[run(&st, &all, 1)]).expect("merges");
    let at = |d: f64| {
        merged
            .points
            .iter()
            .find(|p| p.values["demand.*.patients_per_year"] == d)
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
    assert!(merged.pareto.contains(&light.index), "{:?}", merged.pareto);
}
