//! The example study and cost files load against the example scenarios, and a point runs.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use cost::study::{self, ScenarioFiles, Study};
use model::SourceFile;

fn read(path: &Path) -> SourceFile {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    SourceFile::new(path.display().to_string(), text)
}

fn concepts_study(replications: u32) -> Study {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/studies");
    let src = read(&root.join("concepts-by-demand.toml"));
    let mut spec = study::parse_spec(&src).unwrap_or_else(|e| panic!("{e}"));
    spec.study.replications = replications;
    let shared = spec.study.cost.as_ref().map(|c| read(&root.join(c)));
    let files = spec
        .scenario
        .iter()
        .map(|s| ScenarioFiles {
            scenario: read(&root.join(&s.file)),
            shared: shared.clone(),
            cost: s.cost.as_ref().map(|c| read(&root.join(c))),
        })
        .collect();
    Study::prepare(spec, files).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn concepts_by_demand_study_prepares_and_runs_a_point() {
    let st = concepts_study(2);
    // Seven scenarios at three demands plus two re-simulated sensitivity points.
    assert_eq!(st.points.len(), 23);
    // At 200 patients/year the sizing rules reproduce the example plants exactly.
    let p = &st.points[1];
    assert_eq!(p.values["demand.*.patients_per_year"], 200.0);
    assert_eq!(p.sized["equipment.all-in-one-device.count"], 10.0);
    let never = AtomicBool::new(false);
    let (done, failed, _) = study::run(&st, &[1], 1, &|_| {}, &never).expect("runs");
    assert!(failed.is_empty(), "{failed:?}");
    let c = done[0].cost.as_ref().expect("priced");
    // Every category of the shared and the concept layer is present.
    for k in [
        "equipment",
        "facility",
        "labour",
        "materials",
        "qc",
        "operating",
    ] {
        assert!(c.by_category[k].mean > 0.0, "{k} is zero");
    }
    // Far below the > EUR 250,000 list price of a dose and above the materials alone.
    assert!(
        c.per_dose.mean > 20_000.0 && c.per_dose.mean < 250_000.0,
        "{:?}",
        c.per_dose
    );
}

#[test]
fn concepts_by_demand_study_shows_scale_effects_and_the_limit_of_strategy_a() {
    let st = concepts_study(3);
    let grid: Vec<usize> = st
        .points
        .iter()
        .filter(|p| p.kind == study::PointKind::Grid)
        .map(|p| p.index)
        .collect();
    let never = AtomicBool::new(false);
    let (done, failed, _) = study::run(&st, &grid, 0, &|_| {}, &never).expect("runs");
    assert!(failed.is_empty(), "{failed:?}");
    let at = |label: &str, demand: f64| {
        done.iter()
            .find(|p| {
                p.point.label == label && p.point.values["demand.*.patients_per_year"] == demand
            })
            .unwrap_or_else(|| panic!("no point {label} at {demand}"))
    };
    for label in [
        "concept-1",
        "concept-2",
        "concept-3",
        "concept-4",
        "strategy-A",
        "strategy-A-2xA",
        "strategy-B",
    ] {
        let (small, mid) = (at(label, 50.0), at(label, 200.0));
        let cost = |p: &study::PointResult| p.cost.as_ref().expect("priced").per_dose.mean;
        // Fixed costs spread over more doses: cheaper per dose at 200 than at 50 a year.
        assert!(
            cost(mid) < cost(small),
            "{label}: {} at 200 vs {} at 50",
            cost(mid),
            cost(small)
        );
        // Plants sized for their demand keep up: nobody is still waiting at the cut-off.
        assert_eq!(small.vein_to_vein_censored, 0.0, "{label} at 50");
        assert_eq!(mid.vein_to_vein_censored, 0.0, "{label} at 200");
    }
    // The sized concepts keep up at 1000 a year too; strategy A's unscaled grade-A area
    // (one batch at a time) cannot, so its vein-to-vein times are lower bounds.
    for label in [
        "concept-1",
        "concept-2",
        "concept-3",
        "concept-4",
        "strategy-B",
    ] {
        let p = at(label, 1000.0);
        assert_eq!(p.vein_to_vein_censored, 0.0, "{label} at 1000");
        assert!(p.vein_to_vein_p95 < 60.0, "{label}: {}", p.vein_to_vein_p95);
    }
    let a = at("strategy-A", 1000.0);
    assert!(a.vein_to_vein_censored > 0.0);
    assert!(a.vein_to_vein_p95 > 365.0, "{}", a.vein_to_vein_p95);
}
