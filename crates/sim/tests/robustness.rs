//! No scenario makes the checker or the simulator panic or run without end.
//!
//! A property test generates scenarios whose numbers are mostly ordinary and sometimes
//! extreme (zero, negative, tiny, huge, infinite, NaN, the largest integers); each one either
//! fails `compile` with problems or simulates to results in which every cohort patient is
//! accounted for (treated + lost + still in process = arrived), or stops at the event budget
//! with its error, or (steps that keep their units) at a detected deadlock with its error. Loops that the checks cannot see are stopped by the event budget.

mod common;

use std::sync::atomic::AtomicBool;

use model::scenario::{
    Area, Breakdowns, Consequence, Decision, Demand, Dispatch, Distribution, EquipmentPool,
    Failure, Grade, OnBreakdown, Product, Scenario, Settings, Shift, StaffPool, Step, TimeUnit,
    Use,
};
use proptest::prelude::*;
use sim::{RunOptions, SimError};
use testkit::scenarios;

/// A number that is usually ordinary and sometimes one of the values that break programs.
fn num(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        40 => lo..hi,
        1 => prop::sample::select(vec![
            0.0,
            -0.0,
            -1.0,
            1e-300,
            1e-20,
            f64::MIN_POSITIVE,
            1e9,
            1e160,
            1e300,
            1e308,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]),
    ]
}

fn units() -> impl Strategy<Value = u32> {
    prop_oneof![
        30 => 1u32..5,
        1 => prop::sample::select(vec![0, 100_000, 100_001, u32::MAX]),
    ]
}

fn unit() -> impl Strategy<Value = TimeUnit> {
    prop::sample::select(vec![TimeUnit::Minutes, TimeUnit::Hours, TimeUnit::Days])
}

fn duration() -> impl Strategy<Value = Distribution> {
    prop_oneof![
        (num(0.0, 10.0), unit()).prop_map(|(value, u)| Distribution::Fixed {
            value,
            unit: Some(u)
        }),
        (num(0.0, 5.0), num(0.0, 5.0), unit()).prop_map(|(a, w, u)| Distribution::Uniform {
            min: a,
            max: a + w,
            unit: Some(u)
        }),
        (num(0.0, 5.0), num(0.0, 5.0), num(0.0, 5.0), unit()).prop_map(|(a, b, c, u)| {
            Distribution::Triangular {
                min: a,
                mode: a + b,
                max: a + b + c,
                unit: Some(u),
            }
        }),
        (num(0.1, 10.0), num(0.01, 5.0), unit()).prop_map(|(mean, sd, u)| {
            Distribution::Lognormal {
                mean,
                sd,
                unit: Some(u),
            }
        }),
        (num(0.1, 10.0), num(0.01, 5.0), unit()).prop_map(|(mean, sd, u)| {
            Distribution::TruncatedNormal {
                mean,
                sd,
                min: 0.0,
                max: mean * 3.0,
                unit: Some(u),
            }
        }),
        (num(0.01, 10.0), unit()).prop_map(|(mean, u)| Distribution::Exponential {
            mean,
            unit: Some(u)
        }),
        (prop::collection::vec(num(0.0, 10.0), 1..4), unit()).prop_map(|(values, u)| {
            Distribution::Empirical {
                values,
                weights: None,
                unit: Some(u),
            }
        }),
    ]
}

fn consequence(steps: usize) -> impl Strategy<Value = Consequence> {
    prop_oneof![
        4 => Just(Consequence::Repeat),
        4 => Just(Consequence::Lost),
        4 => Just(Consequence::Remanufacture),
        1 => Just(Consequence::Proceed),
        4 => (0..steps).prop_map(|i| Consequence::Goto(format!("s{i}"))),
    ]
}

/// The resources every generated scenario has: equipment `e0`, `e1`, area `a0`, staff `p0`.
const RESOURCES: [(&str, &str); 4] = [
    ("equipment", "e0"),
    ("equipment", "e1"),
    ("area", "a0"),
    ("staff", "p0"),
];

/// A step's `blocking` and `keep`: mostly none, sometimes all, some names of the generated
/// resources (which the step may not use, or a staff pool: then `compile` refuses), or both.
fn blocking() -> impl Strategy<Value = (Option<bool>, Vec<String>)> {
    let names = prop::collection::vec(
        prop::sample::select(
            RESOURCES
                .iter()
                .map(|r| r.1.to_string())
                .collect::<Vec<_>>(),
        ),
        0..3,
    );
    prop_oneof![
        6 => Just((None, Vec::new())),
        2 => Just((Some(true), Vec::new())),
        1 => Just((Some(false), Vec::new())),
        3 => names.clone().prop_map(|k| (None, k)),
        1 => (any::<bool>(), names).prop_map(|(b, k)| (Some(b), k)),
    ]
}

fn step(i: usize, steps: usize) -> impl Strategy<Value = Step> {
    (
        duration(),
        prop::collection::vec(
            (
                0..RESOURCES.len(),
                prop_oneof![12 => Just(1u32), 1 => units()],
                prop::option::of(num(0.1, 5.0)),
            ),
            0..3,
        ),
        num(0.0, 3.0),
        num(0.0, 3.0),
        prop::option::of((num(0.5, 48.0), consequence(steps))),
        prop::option::of((num(0.0, 1.0), consequence(steps))),
        prop::option::of((num(0.0, 1.0), num(0.0, 1.0), consequence(steps))),
        blocking(),
    )
        .prop_map(
            move |(
                duration,
                uses,
                cleaning,
                transfer,
                hold,
                failure,
                decision,
                (blocking, keep),
            )| Step {
                name: format!("s{i}"),
                duration,
                uses: uses
                    .into_iter()
                    .map(|(r, count, hours)| {
                        let (kind, name) = RESOURCES[r];
                        let name = Some(name.to_string());
                        Use {
                            equipment: name.clone().filter(|_| kind == "equipment"),
                            area: name.clone().filter(|_| kind == "area"),
                            staff: name.filter(|_| kind == "staff"),
                            capability: None,
                            count,
                            hours,
                        }
                    })
                    .collect(),
                cleaning_hours: cleaning,
                transfer_hours: transfer,
                max_hold_hours: hold.as_ref().map(|h| h.0),
                on_hold_violation: hold.map(|h| h.1),
                failure: failure.map(|(probability, consequence)| Failure {
                    probability,
                    consequence,
                }),
                decision: decision
                    .map(|(mean, below, then)| Decision {
                        measure: "viability".to_string(),
                        value: Distribution::Uniform {
                            min: 0.0,
                            max: mean.abs().min(1e300),
                            unit: None,
                        },
                        below: Some(below),
                        above: None,
                        then,
                    })
                    .into_iter()
                    .collect(),
                optional: false,
                blocking,
                keep,
            },
        )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..5).prop_flat_map(|steps| {
        (
            (num(20.0, 200.0), num(0.0, 0.5), any::<u64>()),
            (units(), units(), units(), units()),
            prop::option::of((num(10.0, 500.0), duration())),
            (num(0.0, 12.0), num(12.0, 24.0), prop::option::of(units())),
            prop::collection::vec(step(0, steps), steps),
            prop_oneof![4 => (0u32..3).prop_map(Some), 1 => Just(None)],
            prop_oneof![
                3 => num(5.0, 200.0).prop_map(|r| (Some(r), None)),
                1 => prop::collection::vec(num(0.0, 50.0), 0..5).prop_map(|d| (None, Some(d))),
            ],
            num(5.0, 60.0),
        )
            .prop_map(
                |(
                    (horizon, warmup_frac, seed),
                    (e0, e1, a0, p0),
                    breakdowns,
                    (start, end, shift_count),
                    mut step_list,
                    max_rework,
                    (rate, days),
                    target,
                )| {
                    let last = step_list.len() - 1;
                    for (i, s) in step_list.iter_mut().enumerate() {
                        s.name = format!("s{i}");
                        if i == last {
                            // The last step has no next step to hold for.
                            s.max_hold_hours = None;
                            s.on_hold_violation = None;
                        }
                    }
                    Scenario {
                        scenario: Settings {
                            name: "generated".to_string(),
                            description: String::new(),
                            horizon_days: horizon,
                            warmup_days: horizon * warmup_frac,
                            replications: 2,
                            seed,
                        },
                        equipment: vec![
                            EquipmentPool {
                                name: "e0".to_string(),
                                count: e0,
                                capabilities: vec![],
                                dispatch: Dispatch::Fifo,
                                failures: breakdowns.map(|(mtbf_hours, repair)| Breakdowns {
                                    mtbf_hours,
                                    repair,
                                    on_failure: OnBreakdown::Transfer,
                                }),
                                maintenance: vec![],
                                inventory: None,
                                requalification_hours: None,
                            },
                            EquipmentPool {
                                name: "e1".to_string(),
                                count: e1,
                                capabilities: vec![],
                                dispatch: Dispatch::LeastSlack,
                                failures: None,
                                maintenance: vec![],
                                inventory: None,
                                requalification_hours: None,
                            },
                        ],
                        area: vec![Area {
                            name: "a0".to_string(),
                            grade: Grade::B,
                            capacity: a0,
                            floor_m2: None,
                            capabilities: vec![],
                            dispatch: Dispatch::Edd,
                            maintenance: vec![],
                        }],
                        staff: vec![StaffPool {
                            name: "p0".to_string(),
                            count: p0,
                            capabilities: vec![],
                            dispatch: Dispatch::Fifo,
                            shift: vec![Shift {
                                days: vec!["weekdays".to_string()],
                                start_hour: start,
                                end_hour: end,
                                count: shift_count,
                            }],
                        }],
                        product: vec![Product {
                            name: "p".to_string(),
                            remanufacture_from: Some("s0".to_string()),
                            max_remanufactures: 1,
                            max_rework,
                            step: step_list,
                        }],
                        demand: vec![Demand {
                            product: "p".to_string(),
                            patients_per_year: rate,
                            patients_per_week: None,
                            apheresis_days: days,
                            target_vein_to_vein_days: target,
                            weight: 1.0,
                        }],
                        planning: None,
                        calendar: None,
                        cost: None,
                    }
                },
            )
    })
}

/// Events one generated replication may handle (small, so that every case ends quickly).
const BUDGET: u64 = 200_000;

/// Runs a generated scenario on one thread within the event [`BUDGET`].
fn run_within_budget(m: &model::Model) -> Result<sim::Results, SimError> {
    let opts = RunOptions {
        threads: 1,
        event_budget: Some(BUDGET),
        ..RunOptions::default()
    };
    sim::run(m, &opts, &|_| {}, &AtomicBool::new(false))
}

/// `n` generated cases a property, none written to a file of failures to replay.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn random_scenarios_never_panic_or_hang(sc in scenario()) {
        let Ok(m) = model::compile(&sc) else {
            // Rejected with problems: that is the checker doing its job.
            return Ok(());
        };
        match run_within_budget(&m) {
            Ok(r) => {
                for rep in &r.per_replication {
                    prop_assert_eq!(
                        rep.patients,
                        rep.treated + rep.lost + rep.unfinished,
                        "arrived = treated + lost + in process"
                    );
                    if let Some(v) = rep.vein_to_vein_mean_days {
                        prop_assert!(v.is_finite() && v >= 0.0, "vein-to-vein {}", v);
                    }
                    prop_assert!(rep.wip.is_finite());
                    prop_assert!(rep.utilisation.iter().all(|u| u.is_finite()));
                    prop_assert!(rep.blocked.iter().all(|u| u.is_finite() && *u >= 0.0));
                    if !m.has_blocking() {
                        prop_assert!(rep.blocked.iter().all(|u| *u == 0.0));
                    }
                }
            }
            Err(SimError::EventBudget { budget, .. }) => prop_assert_eq!(budget, BUDGET),
            // Blocked batches that keep what each other needs: detected, never a hang.
            Err(SimError::Deadlock { batches, resources, .. }) => {
                prop_assert!(m.has_blocking());
                prop_assert!(!batches.is_empty() && !resources.is_empty());
            }
            Err(e) => prop_assert!(false, "unexpected error: {}", e),
        }
    }
}

/// A step of no duration that fails and repeats almost surely keeps the simulator at one
/// instant for ever; the event budget ends the run with an error naming the replication and
/// what kept it busy.
#[test]
fn a_loop_at_one_instant_stops_at_the_event_budget() {
    let m = common::load(
        &scenarios::Scenario::new("zero-time rework loop", 30, 0, 4, 1)
            .product("p")
            .step("release-test", scenarios::fixed(0, "hours"))
            .set(
                "failure",
                r#"{ probability = 0.99999999, consequence = "repeat" }"#,
            )
            .demand("p", "patients_per_year = 50", 20)
            .text(),
    );
    for threads in [1, 2] {
        let opts = RunOptions {
            threads,
            event_budget: Some(50_000),
            ..RunOptions::default()
        };
        match sim::run(&m, &opts, &|_| {}, &AtomicBool::new(false)) {
            Err(e @ SimError::EventBudget { .. }) => {
                let SimError::EventBudget {
                    replication, most, ..
                } = &e
                else {
                    unreachable!()
                };
                // The earliest failing replication, whatever the thread count.
                assert_eq!(*replication, 0, "{e}");
                assert!(most.ends_with("step ends"), "{e}");
                assert!(e.to_string().contains("event budget"), "{e}");
            }
            Ok(_) => panic!("the loop finished"),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

/// One step of an ordinary scenario with blocking: the resources it uses (indices into
/// `e0`, `e1`, `a0`), which of them it keeps (`None`: `blocking = true`), an optional failure
/// probability with its consequence, and an optional hold limit that loses the batch.
type BlockingStep = (
    Vec<usize>,
    Option<Vec<usize>>,
    Option<(f64, usize)>,
    Option<f64>,
);

fn blocking_step() -> impl Strategy<Value = BlockingStep> {
    (
        prop::sample::subsequence(vec![0usize, 1, 2], 1..=3),
        prop::collection::vec(any::<bool>(), 3),
        0..4u8,
        prop::option::of((0.0..0.3f64, 0..3usize)),
        prop::option::of(1.0..48.0f64),
    )
        .prop_map(|(uses, pick, mode, failure, hold)| {
            let keep = match mode {
                0 => Some(Vec::new()),
                1 => None,
                _ => Some(
                    uses.iter()
                        .copied()
                        .filter(|&u| pick[u])
                        .collect::<Vec<_>>(),
                ),
            };
            (uses, keep, failure, hold)
        })
}

/// An ordinary scenario (no extreme numbers) whose steps keep some or all of their units, so
/// that most generated cases simulate, some with blocked batches and some into a deadlock.
fn blocking_scenario() -> impl Strategy<Value = String> {
    (
        (1u32..3, 1u32..3, 1u32..3),
        prop::collection::vec(blocking_step(), 2..5),
        (5.0..80.0f64, any::<u64>()),
    )
        .prop_map(|((e0, e1, a0), steps, (rate, seed))| {
            let names = ["e0", "e1", "a0"];
            let kinds = ["equipment", "equipment", "area"];
            let mut s = format!(
                "[scenario]\nname = \"blocking\"\nhorizon_days = 200\nwarmup_days = 20\n\
                 replications = 2\nseed = {seed}\n\n\
                 [[equipment]]\nname = \"e0\"\ncount = {e0}\ndispatch = \"fifo\"\n\n\
                 [[equipment]]\nname = \"e1\"\ncount = {e1}\ndispatch = \"edd\"\n\n\
                 [[area]]\nname = \"a0\"\ngrade = \"C\"\ncapacity = {a0}\n\
                 dispatch = \"least_slack\"\n\n[[product]]\nname = \"p\"\nmax_rework = 3\n"
            );
            let last = steps.len() - 1;
            for (i, (uses, keep, failure, hold)) in steps.iter().enumerate() {
                let uses: Vec<String> = uses
                    .iter()
                    .map(|&u| format!("{{ {} = \"{}\" }}", kinds[u], names[u]))
                    .collect();
                s.push_str(&format!(
                    "[[product.step]]\nname = \"s{i}\"\n\
                     duration = {{ dist = \"exponential\", mean = 10, unit = \"hours\" }}\n\
                     uses = [{}]\ncleaning_hours = 1\ntransfer_hours = 0.5\n",
                    uses.join(", ")
                ));
                match keep {
                    None => s.push_str("blocking = true\n"),
                    Some(k) => {
                        let k: Vec<String> =
                            k.iter().map(|&u| format!("\"{}\"", names[u])).collect();
                        s.push_str(&format!("keep = [{}]\n", k.join(", ")));
                    }
                }
                if let Some((p, c)) = failure {
                    let c = ["\"repeat\"", "\"lost\"", "{ goto = \"s0\" }"][*c];
                    s.push_str(&format!(
                        "failure = {{ probability = {p}, consequence = {c} }}\n"
                    ));
                }
                if let Some(h) = hold
                    && i != last
                {
                    s.push_str(&format!(
                        "max_hold_hours = {h}\non_hold_violation = \"lost\"\n"
                    ));
                }
            }
            s.push_str(&format!(
                "\n[[demand]]\nproduct = \"p\"\npatients_per_year = {rate}\n\
                 target_vein_to_vein_days = 30\n"
            ));
            s
        })
}

proptest! {
    #![proptest_config(cases(64))]

    /// Scenarios with blocking steps either simulate with every patient accounted for and the
    /// blocked time within the installed capacity, or end at a detected deadlock (or the event
    /// budget): never a panic, never a hang.
    #[test]
    fn random_blocking_scenarios_conserve_patients_or_report_a_deadlock(text in blocking_scenario()) {
        let m = match model::load("blocking.toml", &text) {
            Ok(m) => m,
            Err(e) => {
                prop_assert!(false, "an ordinary scenario is refused: {}\n{}", e, text);
                unreachable!()
            }
        };
        match run_within_budget(&m) {
            Ok(r) => {
                for rep in &r.per_replication {
                    prop_assert_eq!(rep.patients, rep.treated + rep.lost + rep.unfinished);
                    for (u, b) in rep.utilisation.iter().zip(&rep.blocked) {
                        prop_assert!(b.is_finite() && *b >= 0.0);
                        prop_assert!(u + b <= 1.0 + 1e-9, "occupied {} + blocked {}", u, b);
                    }
                }
            }
            Err(SimError::EventBudget { budget, .. }) => prop_assert_eq!(budget, BUDGET),
            Err(SimError::Deadlock { batches, resources, .. }) => {
                prop_assert!(batches.contains("keeps") && !resources.is_empty());
            }
            Err(e) => prop_assert!(false, "unexpected error: {}", e),
        }
    }
}
