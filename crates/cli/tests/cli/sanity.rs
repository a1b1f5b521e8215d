//! Sanity checks of simulation results against what capacity arithmetic and the paper predict.

use crate::support::{by_name, example, num, simulate};

fn load(stem: &str) -> model::Model {
    let f = example(stem);
    model::load(stem, &std::fs::read_to_string(&f).expect("readable")).expect("compiles")
}

/// Seed paper §6.2.1.2: a second, specialised area A relieves the single area A.
#[test]
fn a_second_area_a_shortens_vein_to_vein_time() {
    let args = ["--replications", "10", "--seed", "11", "--threads", "2"];
    let (_d1, one) = simulate(&example("strategy-a-integrated"), &args);
    let (_d2, two) = simulate(&example("strategy-a-two-areas"), &args);
    let (m1, m2) = (
        num(&one, "/vein_to_vein_days/mean"),
        num(&two, "/vein_to_vein_days/mean"),
    );
    assert!(
        num(&two, "/vein_to_vein_days/ci95/1") < num(&one, "/vein_to_vein_days/ci95/0"),
        "two areas A ({m2:.2} days) should beat one ({m1:.2} days) beyond the intervals"
    );
    // The single area A is the bottleneck; each specialised area carries part of its load.
    let u1 = num(by_name(&one, "resources", "area-a"), "/utilisation/mean");
    let prep = num(
        by_name(&two, "resources", "area-a-prep"),
        "/utilisation/mean",
    );
    let harvest = num(
        by_name(&two, "resources", "area-a-harvest"),
        "/utilisation/mean",
    );
    assert!(u1 > 0.7, "single area A busy {u1:.2}");
    assert!(
        ((prep + harvest) - u1).abs() < 0.1 * u1,
        "the two areas share the one area's work: {prep:.2} + {harvest:.2} vs {u1:.2}"
    );
    // Expanded cultures queue for the single area A and exceed their hold time.
    let hv = |r: &serde_json::Value| {
        r["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["name"] == "harvest-formulation")
            .map(|s| num(s, "/hold_violations/mean"))
            .expect("harvest step")
    };
    assert!(
        hv(&one) > 5.0 * hv(&two).max(1.0),
        "hold violations before harvest: one area {} vs two areas {}",
        hv(&one),
        hv(&two)
    );
}

/// Strategy B: module breakdowns happen at the rate the MTBF implies, and spares keep the
/// plant going.
#[test]
fn the_farming_matrix_records_breakdowns_and_keeps_its_throughput() {
    let m = load("strategy-b-farming-matrix");
    let (_d, r) = simulate(
        &example("strategy-b-farming-matrix"),
        &["--replications", "10", "--threads", "2"],
    );
    let mut with_failures = 0;
    for res in m.resources.iter() {
        let Some(bd) = &res.breakdowns else { continue };
        with_failures += 1;
        // Units fail independently at 1/MTBF while up; downtime is a few per cent at most.
        let expected = f64::from(res.capacity) * 365.0 * 24.0 / bd.mtbf_h;
        let got = num(
            by_name(&r, "resources", &res.name),
            "/breakdowns_per_year/mean",
        );
        assert!(
            (got - expected).abs() < 0.2 * expected,
            "{}: {got:.1} breakdowns/year, MTBF predicts {expected:.1}",
            res.name
        );
    }
    assert!(with_failures >= 2, "the example must give modules failures");
    let thr = num(&r, "/throughput_per_year/mean");
    assert!((180.0..=220.0).contains(&thr), "throughput {thr}");
    let lost = num(&r, "/patients_lost/mean") / num(&r, "/patients/mean");
    assert!(lost < 0.02, "spares keep losses low, lost {lost:.3}");
}

/// Concept 1: each batch blocks a device for the whole process, so device utilisation is
/// (starts × (mean duration + cleaning)) / (devices × hours) — the arithmetic behind the
/// paper's "poor utilisation".
#[test]
fn all_in_one_device_utilisation_matches_capacity_arithmetic() {
    let m = load("concept-1-all-in-one");
    let (_d, r) = simulate(
        &example("concept-1-all-in-one"),
        &["--replications", "12", "--threads", "2"],
    );
    let device = m.resource("all-in-one-device").expect("device pool");
    let cap = f64::from(m.resources[device].capacity);
    let p = &m.products[0];
    let (si, step) = p
        .steps
        .iter()
        .enumerate()
        .find(|(_, s)| s.uses.iter().any(|u| u.candidates.contains(&device)))
        .expect("a step uses the device");
    let starts = num(&r["steps"][si], "/starts_per_year/mean");
    // Demand arithmetic: 200 patients/year, a few per cent made twice, some lost before.
    assert!(
        (170.0..=230.0).contains(&starts),
        "device starts/year {starts}"
    );
    let busy_h = step.duration.mean() + step.cleaning_h;
    let predicted = starts * busy_h / (cap * 365.0 * 24.0);
    let util = by_name(&r, "resources", "all-in-one-device");
    let got = num(util, "/utilisation/mean");
    assert!(
        (got - predicted).abs() <= 0.1 * predicted,
        "utilisation {got:.3}, arithmetic predicts {predicted:.3}"
    );
    // Load from the demand alone: 200/year × busy hours / capacity, within 15 %.
    let from_demand = 200.0 * busy_h / (cap * 365.0 * 24.0);
    assert!(
        (got - from_demand).abs() <= 0.15 * from_demand,
        "utilisation {got:.3} vs {from_demand:.3} from the demand alone"
    );
}

/// In-process decisions: the optional extra wash runs about as often as the viability
/// distribution falls below its threshold.
#[test]
fn optional_steps_run_as_often_as_their_decision_triggers() {
    let (_d, r) = simulate(
        &example("concept-2-chained-devices"),
        &["--replications", "10", "--threads", "2"],
    );
    let starts = |name: &str| {
        r["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| num(s, "/starts_per_year/mean"))
            .expect("step")
    };
    // Viability ~ N(0.82, 0.08) truncated to [0.30, 0.99]: P(< 0.70) = 0.0668 / 0.983 = 0.068.
    let share = starts("extra-wash") / starts("thaw-wash");
    assert!(
        (0.045..=0.095).contains(&share),
        "extra wash after {share:.3} of washes"
    );
    // Fold expansion lognormal(mean 30, sd 12): P(< 15) = 0.054.
    let share = starts("extended-expansion") / starts("expansion");
    assert!(
        (0.03..=0.08).contains(&share),
        "extended expansion after {share:.3}"
    );
}
