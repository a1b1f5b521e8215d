//! Dispatching when pools with different rules meet: batches competing for units of one pool
//! are ranked by that pool's own rule, whatever the rule of their step's other pools.
//!
//! The cases are deterministic (fixed durations, apheresis times given), so the order in which
//! batches get the contested pool shows in their waiting and vein-to-vein times.

mod common;

use common::run_with;
use common::{close, load, observed};
use model::Model;
use sim::{Observation, Observed, Results};
use testkit::scenarios::{Scenario, fixed, q, triangular};

fn wait(r: &Results, name: &str) -> f64 {
    match r.steps.iter().find(|s| s.name == name) {
        Some(s) => s.wait_hours.mean,
        None => panic!("no step `{name}` in results"),
    }
}

/// Vein-to-vein hours of the treated patients of each replication, in the order they were
/// released.
fn v2v_hours(obs: &[Vec<Observation>]) -> Vec<Vec<f64>> {
    obs.iter()
        .map(|rep| {
            rep.iter()
                .filter(|o| o.what == Observed::VeinToVein { censored: false })
                .map(|o| o.value * 24.0)
                .collect()
        })
        .collect()
}

fn assert_v2v(obs: &[Vec<Observation>], want: &[f64]) {
    assert!(!obs.is_empty(), "no replications");
    for rep in v2v_hours(obs) {
        assert_eq!(rep.len(), want.len(), "released patients: {rep:?}");
        for (got, want) in rep.iter().zip(want) {
            close("vein-to-vein hours", *got, *want);
        }
    }
}

/// The plant `s` with three patients: P0 and P1 of product `first` arriving at 0 h and 6 h and
/// due 30 days later, and P2 of product `second` arriving at 12 h and due 5 days later.
fn three_patients(s: Scenario, first: &str, second: &str) -> Model {
    load(
        &s.demand(first, "apheresis_days = [0, 0.25]", 30)
            .demand(second, "apheresis_days = [0.5]", 5)
            .text(),
    )
}

/// Two products share one operator (staff pool, `edd`). Product `long` also needs a bioreactor
/// from a pool ranked `fifo` (its first use), product `short` only the operator. The
/// bioreactors are not scarce; the operator is.
fn shared_staff() -> Model {
    three_patients(
        Scenario::new("shared edd operator, fifo bioreactors", 5, 0, 2, 1)
            .equipment("bioreactor", 2)
            .staff("operator", 1)
            .dispatch("edd")
            .shift(&["all"], 0, 24)
            .product("long")
            .step("expand", fixed(24, "hours"))
            .set(
                "uses",
                r#"[{ equipment = "bioreactor" }, { staff = "operator" }]"#,
            )
            .product("short")
            .step("fill", fixed(24, "hours"))
            .uses("staff", "operator"),
        "long",
        "short",
    )
}

#[test]
fn a_shared_pool_ranks_batches_of_different_steps_by_its_own_rule() {
    // P0 (long, arrives 0 h) holds the operator 0–24 h. P1 (long, ready at 6 h, due 6 h + 30
    // days) and P2 (short, ready at 12 h, due 12 h + 5 days) both wait for the operator. At
    // 24 h the operator ranks them by due date: P2 24–48 h, then P1 48–72 h, although P1 became
    // ready first and its step's first pool (the bioreactors) ranks first in, first out.
    // (Ranking P1 by that pool's rule would start P1 first: P1 released at 48 h, P2 at 72 h.)
    for threads in [1, 2] {
        let (r, obs) = observed(&shared_staff(), threads);
        // Released in the order P0 (24 h), P2 (48 - 12 = 36 h), P1 (72 - 6 = 66 h).
        assert_v2v(&obs, &[24.0, 36.0, 66.0]);
        close(
            "wait before expand (P0 0 h, P1 42 h)",
            wait(&r, "expand"),
            21.0,
        );
        close("wait before fill (P2)", wait(&r, "fill"), 12.0);
    }
}

/// One step uses a bioreactor (`fifo`, first use, not scarce) and the grade-B suite (`edd`,
/// second use, one batch at a time), with `bioreactors` units ranked by `bioreactor_rule` and
/// the suite ranked by `suite_rule`.
fn second_use(bioreactors: u32, bioreactor_rule: &str, suite_rule: &str) -> Model {
    three_patients(
        Scenario::new("fifo bioreactors first, edd suite second", 5, 0, 2, 1)
            .equipment("bioreactor", bioreactors)
            .dispatch(bioreactor_rule)
            .area("suite", "B", 1)
            .dispatch(suite_rule)
            .product("p")
            .step("expand", fixed(24, "hours"))
            .set(
                "uses",
                r#"[{ equipment = "bioreactor" }, { area = "suite" }]"#,
            ),
        "p",
        "p",
    )
}

#[test]
fn a_steps_second_pool_ranks_its_competitors_by_its_own_rule() {
    // P0 (arrives 0 h) holds a bioreactor and the suite 0–24 h. P1 (ready 6 h, due 6 h + 30
    // days) and P2 (ready 12 h, due 12 h + 5 days) wait for the same step. At 24 h two
    // bioreactors are free (enough for both) but the suite takes one batch: the suite ranks by
    // due date, so P2 runs 24–48 h and P1 48–72 h, although the step's first pool is `fifo`.
    let (_, obs) = observed(&second_use(2, "fifo", "edd"), 0);
    assert_v2v(&obs, &[24.0, 36.0, 66.0]);
    // With the rules swapped the suite ranks first in, first out: P1 24–48 h, P2 48–72 h.
    let (_, obs) = observed(&second_use(2, "edd", "fifo"), 0);
    assert_v2v(&obs, &[24.0, 42.0, 60.0]);
}

#[test]
fn pools_that_disagree_start_the_batch_that_became_ready_first() {
    // One bioreactor and one suite: both pools are scarce at 24 h. The bioreactors (`edd`)
    // rank P2 first, the suite (`fifo`) ranks P1 first; neither batch is first at both, so the
    // one that became ready first starts: P1 24–48 h, then P2 48–72 h.
    for (bio, suite) in [("edd", "fifo"), ("fifo", "edd")] {
        let (_, obs) = observed(&second_use(1, bio, suite), 0);
        assert_v2v(&obs, &[24.0, 42.0, 60.0]);
    }
    // When both pools agree, their rule decides.
    let (_, obs) = observed(&second_use(1, "edd", "edd"), 0);
    assert_v2v(&obs, &[24.0, 36.0, 66.0]);
    let (_, obs) = observed(&second_use(1, "fifo", "fifo"), 0);
    assert_v2v(&obs, &[24.0, 42.0, 60.0]);
}

/// A plant with every rule: alternatives (two bioreactor pools by capability), shared
/// operators on shifts, hold limits, cleaning, breakdowns with hand-over to a spare, failures.
fn mixed() -> Model {
    load(
        &Scenario::new("mixed rules", 120, 20, 6, 11)
            .equipment("bioreactor-a", 2)
            .set("capabilities", r#"["expansion"]"#)
            .equipment("bioreactor-b", 1)
            .set("capabilities", r#"["expansion"]"#)
            .dispatch("least_slack")
            .set(
                "failures",
                r#"{ mtbf_hours = 300, repair = { dist = "exponential", mean = 12, unit = "hours" }, on_failure = "transfer" }"#,
            )
            .area("suite", "B", 1)
            .dispatch("edd")
            .staff("operators", 2)
            .dispatch("edd")
            .shift(&["weekdays"], 7, 19)
            .shift(&["sat"], 8, 14)
            .set("count", 1)
            .product("auto")
            .step("prepare", triangular(2, 3, 5, "hours"))
            .set("uses", r#"[{ area = "suite" }, { staff = "operators" }]"#)
            .set("cleaning_hours", 1)
            .set("max_hold_hours", 48)
            .set("on_hold_violation", q("repeat"))
            .step(
                "expand",
                r#"{ dist = "uniform", min = 5, max = 8, unit = "days" }"#,
            )
            .set(
                "uses",
                r#"[{ capability = "expansion" }, { staff = "operators", hours = 2 }]"#,
            )
            .set("cleaning_hours", 4)
            .set("failure", r#"{ probability = 0.05, consequence = "repeat" }"#)
            .step("harvest", fixed(4, "hours"))
            .set(
                "uses",
                r#"[{ staff = "operators", count = 2 }, { area = "suite" }]"#,
            )
            .set("cleaning_hours", 1)
            .product("manual")
            .set("max_rework", 3)
            .step(
                "process",
                r#"{ dist = "lognormal", mean = 30, sd = 8, unit = "hours" }"#,
            )
            .set(
                "uses",
                r#"[{ equipment = "bioreactor-b" }, { staff = "operators" }]"#,
            )
            .set("max_hold_hours", 24)
            .set("on_hold_violation", q("proceed"))
            .step("release", fixed(6, "hours"))
            .uses("staff", "operators")
            .demand("auto", "patients_per_year = 220", 14)
            .demand("manual", "patients_per_year = 60", 6)
            .text(),
    )
}

#[test]
fn mixed_rules_give_the_same_numbers_on_any_thread_count() {
    let m = mixed();
    let one = run_with(&m, 1, None);
    let two = run_with(&m, 2, None);
    assert!(
        one.patients.mean > 50.0,
        "too few patients to mean anything"
    );
    assert_eq!(one.per_replication.len(), 6);
    match (serde_json::to_string(&one), serde_json::to_string(&two)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (a, b) => panic!("results do not serialise: {:?} {:?}", a.err(), b.err()),
    }
}
