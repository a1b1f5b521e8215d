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

/// Two products share one operator (staff pool, `edd`). Product `long` also needs a bioreactor
/// from a pool ranked `fifo` (its first use), product `short` only the operator. The
/// bioreactors are not scarce; the operator is.
const SHARED_STAFF: &str = r#"
[scenario]
name = "shared edd operator, fifo bioreactors"
horizon_days = 5
warmup_days = 0
replications = 2
seed = 1

[[equipment]]
name = "bioreactor"
count = 2
dispatch = "fifo"

[[staff]]
name = "operator"
count = 1
dispatch = "edd"

[[staff.shift]]
days = ["all"]
start_hour = 0
end_hour = 24

[[product]]
name = "long"

[[product.step]]
name = "expand"
duration = { dist = "fixed", value = 24, unit = "hours" }
uses = [{ equipment = "bioreactor" }, { staff = "operator" }]

[[product]]
name = "short"

[[product.step]]
name = "fill"
duration = { dist = "fixed", value = 24, unit = "hours" }
uses = [{ staff = "operator" }]

[[demand]]
product = "long"
apheresis_days = [0, 0.25]
target_vein_to_vein_days = 30

[[demand]]
product = "short"
apheresis_days = [0.5]
target_vein_to_vein_days = 5
"#;

#[test]
fn a_shared_pool_ranks_batches_of_different_steps_by_its_own_rule() {
    // P0 (long, arrives 0 h) holds the operator 0–24 h. P1 (long, ready at 6 h, due 6 h + 30
    // days) and P2 (short, ready at 12 h, due 12 h + 5 days) both wait for the operator. At
    // 24 h the operator ranks them by due date: P2 24–48 h, then P1 48–72 h, although P1 became
    // ready first and its step's first pool (the bioreactors) ranks first in, first out.
    // (Ranking P1 by that pool's rule would start P1 first: P1 released at 48 h, P2 at 72 h.)
    for threads in [1, 2] {
        let (r, obs) = observed(&load(SHARED_STAFF), threads);
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
/// second use, one batch at a time).
const SECOND_USE: &str = r#"
[scenario]
name = "fifo bioreactors first, edd suite second"
horizon_days = 5
warmup_days = 0
replications = 2
seed = 1

[[equipment]]
name = "bioreactor"
count = BIOREACTORS
dispatch = "BIOREACTOR_RULE"

[[area]]
name = "suite"
grade = "B"
capacity = 1
dispatch = "SUITE_RULE"

[[product]]
name = "p"

[[product.step]]
name = "expand"
duration = { dist = "fixed", value = 24, unit = "hours" }
uses = [{ equipment = "bioreactor" }, { area = "suite" }]

[[demand]]
product = "p"
apheresis_days = [0, 0.25]
target_vein_to_vein_days = 30

[[demand]]
product = "p"
apheresis_days = [0.5]
target_vein_to_vein_days = 5
"#;

fn second_use(bioreactors: u32, bioreactor_rule: &str, suite_rule: &str) -> Model {
    load(
        &SECOND_USE
            .replace("BIOREACTORS", &bioreactors.to_string())
            .replace("BIOREACTOR_RULE", bioreactor_rule)
            .replace("SUITE_RULE", suite_rule),
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
const MIXED: &str = r#"
[scenario]
name = "mixed rules"
horizon_days = 120
warmup_days = 20
replications = 6
seed = 11

[[equipment]]
name = "bioreactor-a"
count = 2
capabilities = ["expansion"]
dispatch = "fifo"

[[equipment]]
name = "bioreactor-b"
count = 1
capabilities = ["expansion"]
dispatch = "least_slack"
failures = { mtbf_hours = 300, repair = { dist = "exponential", mean = 12, unit = "hours" }, on_failure = "transfer" }

[[area]]
name = "suite"
grade = "B"
capacity = 1
dispatch = "edd"

[[staff]]
name = "operators"
count = 2
dispatch = "edd"

[[staff.shift]]
days = ["weekdays"]
start_hour = 7
end_hour = 19

[[staff.shift]]
days = ["sat"]
start_hour = 8
end_hour = 14
count = 1

[[product]]
name = "auto"

[[product.step]]
name = "prepare"
duration = { dist = "triangular", min = 2, mode = 3, max = 5, unit = "hours" }
uses = [{ area = "suite" }, { staff = "operators" }]
cleaning_hours = 1
max_hold_hours = 48
on_hold_violation = "repeat"

[[product.step]]
name = "expand"
duration = { dist = "uniform", min = 5, max = 8, unit = "days" }
uses = [{ capability = "expansion" }, { staff = "operators", hours = 2 }]
cleaning_hours = 4
failure = { probability = 0.05, consequence = "repeat" }

[[product.step]]
name = "harvest"
duration = { dist = "fixed", value = 4, unit = "hours" }
uses = [{ staff = "operators", count = 2 }, { area = "suite" }]
cleaning_hours = 1

[[product]]
name = "manual"
max_rework = 3

[[product.step]]
name = "process"
duration = { dist = "lognormal", mean = 30, sd = 8, unit = "hours" }
uses = [{ equipment = "bioreactor-b" }, { staff = "operators" }]
max_hold_hours = 24
on_hold_violation = "proceed"

[[product.step]]
name = "release"
duration = { dist = "fixed", value = 6, unit = "hours" }
uses = [{ staff = "operators" }]

[[demand]]
product = "auto"
patients_per_year = 220
target_vein_to_vein_days = 14

[[demand]]
product = "manual"
patients_per_year = 60
target_vein_to_vein_days = 6
"#;

#[test]
fn mixed_rules_give_the_same_numbers_on_any_thread_count() {
    let m = load(MIXED);
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
