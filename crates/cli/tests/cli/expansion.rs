//! Step durations from the expansion model (`dist = "expansion_model"`): the simulator draws
//! each culture's duration from the harvest days the closed-loop model gives for the spec.

use crate::support::{assert_ok, run};

/// A plant where nothing waits: one product whose only step is the culture, on more bioreactors
/// than patients can ever occupy, so every vein-to-vein time is one drawn culture duration.
fn scenario(strategy: &str, plus_hours: f64) -> String {
    format!(
        r#"[scenario]
name = "expansion model check"
horizon_days = 200
warmup_days = 0
replications = 3
seed = 7

[[equipment]]
name = "bioreactor"
count = 40
dispatch = "fifo"

[[product]]
name = "car-t"

[[product.step]]
name = "expansion"
duration = {{ dist = "expansion_model", strategy = "{strategy}", patients = 5, seed = 3, plus_hours = {plus_hours} }}
uses = [{{ equipment = "bioreactor" }}]

[[demand]]
product = "car-t"
patients_per_year = 20
target_vein_to_vein_days = 25
"#
    )
}

fn harvest_days(feeding: pat::control::Feeding) -> Vec<f64> {
    let strategy = pat::control::Strategy {
        name: "check".into(),
        feeding,
        harvest: pat::control::Harvest::AtDose,
    };
    pat::control::harvest_days(&strategy, 5, 3, &mut |_, _| {}).expect("the model runs")
}

/// The vein-to-vein days of every patient of the run, from the observations file.
fn vein_to_vein(strategy: &str, plus_hours: f64) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plant.toml");
    std::fs::write(&file, scenario(strategy, plus_hours)).expect("scenario written");
    let v = run(["validate".as_ref(), file.as_os_str()]);
    assert_ok(&v, "validate");
    let obs = dir.path().join("obs.csv");
    let out = dir.path().join("out");
    let o = run([
        "simulate".as_ref(),
        file.as_os_str(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--observations".as_ref(),
        obs.as_os_str(),
    ]);
    assert_ok(&o, "simulate");
    let text = std::fs::read_to_string(&obs).expect("observations written");
    text.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[2] == "vein_to_vein")
        .map(|r| r[6].parse().expect("a number"))
        .collect()
}

#[test]
fn every_culture_lasts_one_of_the_models_harvest_days() {
    for (name, feeding) in [
        ("mpc", pat::control::Feeding::Mpc),
        ("fixed_at_dose", pat::control::Feeding::Fixed),
    ] {
        let days = harvest_days(feeding);
        assert_eq!(days.len(), 5);
        assert!(days.iter().all(|d| (4.0..=20.0).contains(d)), "{days:?}");
        for plus in [0.0, 12.0] {
            let seen = vein_to_vein(name, plus);
            assert!(seen.len() >= 20, "{name}: {} patients", seen.len());
            for x in &seen {
                assert!(
                    days.iter().any(|d| (d + plus / 24.0 - x).abs() < 1e-6),
                    "{name} +{plus} h: vein-to-vein {x} d is none of the harvest days {days:?}"
                );
            }
            // More than one patient's culture is drawn.
            let mut distinct = seen.clone();
            distinct.sort_by(f64::total_cmp);
            distinct.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
            assert!(distinct.len() >= 2, "{name}: {distinct:?}");
        }
    }
}
