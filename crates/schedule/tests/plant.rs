//! Planning real orders on an example plant and handing the plan to the simulator.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use schedule::{Objective, SolveOptions, check, solve};

fn orders(m: &model::Model, n: usize) -> Vec<model::Order> {
    let product = m.product("car-t").unwrap_or(0);
    (0..n)
        .map(|i| model::Order {
            id: format!("P{i}"),
            product,
            release_h: 20.0 * i as f64, // assumption: one apheresis every 20 h
            due_h: 20.0 * i as f64 + 612.0, // 25.5 days target vein-to-vein (scenario file)
            weight: 1.0,
        })
        .collect()
}

#[test]
fn concept_3_orders_get_a_feasible_plan_that_the_simulator_follows() {
    let path = format!(
        "{}/../../examples/concept-3-modular-plant.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let m = model::load(&path, &text).unwrap_or_else(|e| panic!("{e:?}"));
    let os = orders(&m, 10);
    let (inst, map) =
        schedule::plant::instance_from_model(&m, &os).unwrap_or_else(|e| panic!("{e}"));
    // the processing station serves several steps: one physical device in several stages
    let stations = inst
        .stages
        .iter()
        .filter(|s| {
            s.machines
                .iter()
                .any(|mm| mm.physical.as_deref() == Some("processing-station#1"))
        })
        .count();
    assert!(
        stations >= 2,
        "processing-station#1 should serve several steps"
    );
    let cancel = AtomicBool::new(false);
    let opts = SolveOptions {
        objective: Objective::parse("twt,makespan").unwrap_or_default(),
        time_limit: Some(Duration::from_secs(30)),
        iteration_limit: Some(5),
        ..SolveOptions::default()
    };
    let sol = solve(&inst, &opts, &cancel, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert!(check(&inst, &sol.plan).is_empty());
    let plan = schedule::plant::to_model_plan(&sol.plan, &map, &os);
    assert_eq!(plan.ops.len(), os.len() * map.steps.len());
    for op in &plan.ops {
        assert!(op.start_h >= os[op.order].release_h - 1e-9);
        if let Some(r) = op.resource {
            assert!(op.unit < m.resources[r].capacity);
        }
    }
    let res = sim::run(
        &m,
        &sim::RunOptions {
            replications: Some(2),
            seed: Some(1),
            threads: 1,
            plan: Some(plan),
            ..sim::RunOptions::default()
        },
        &|_| {},
        &cancel,
    );
    assert!(res.is_ok(), "{:?}", res.err());
}

#[test]
fn orders_of_two_products_are_rejected_with_the_order_named() {
    let path = format!(
        "{}/../../examples/concept-3-modular-plant.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let m = model::load(&path, &text).unwrap_or_else(|e| panic!("{e:?}"));
    let mut os = orders(&m, 3);
    os[2].product = 7;
    let e = schedule::plant::instance_from_model(&m, &os);
    assert!(
        matches!(&e, Err(schedule::ScheduleError::Invalid(s)) if s.contains("P2")),
        "{e:?}"
    );
}
