//! The example study and cost files load against the example scenarios, and a point runs.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use cost::study::{self, ScenarioFiles, Study};
use model::SourceFile;

fn read(path: &Path) -> SourceFile {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    SourceFile::new(path.display().to_string(), text)
}

#[test]
fn concepts_by_demand_study_prepares_and_runs_a_point() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/studies");
    let src = read(&root.join("concepts-by-demand.toml"));
    let mut spec = study::parse_spec(&src).unwrap_or_else(|e| panic!("{e}"));
    spec.study.replications = 2;
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
    let st = Study::prepare(spec, files).unwrap_or_else(|e| panic!("{e}"));
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
