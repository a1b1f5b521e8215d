//! Planning real orders on an example plant and handing the plan to the simulator.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use schedule::{Objective, SolveOptions, check, solve};

mod support;
use support::{order, read};

/// An example scenario's path, text and model.
fn example(file: &str) -> (String, String, model::Model) {
    let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = read(&format!("examples/{file}"));
    let m = model::load(&path, &text).unwrap_or_else(|e| panic!("{e:?}"));
    (path, text, m)
}

/// Runs two replications of `m` (seed 1) following `plan`; the run must succeed.
fn simulate_following(m: &model::Model, plan: model::Plan, cancel: &AtomicBool) {
    let res = sim::run(
        m,
        &sim::RunOptions {
            replications: Some(2),
            seed: Some(1),
            threads: 1,
            plan: Some(plan),
            ..sim::RunOptions::default()
        },
        &|_| {},
        cancel,
    );
    assert!(res.is_ok(), "{:?}", res.err());
}

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
    let (_, _, m) = example("concept-3-modular-plant.toml");
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
    simulate_following(&m, plan, &cancel);
}

#[test]
fn orders_of_two_products_are_rejected_with_the_order_named() {
    let (_, _, m) = example("concept-3-modular-plant.toml");
    let mut os = orders(&m, 3);
    os[2].product = 7;
    let e = schedule::plant::instance_from_model(&m, &os);
    assert!(
        matches!(&e, Err(schedule::ScheduleError::Invalid(s)) if s.contains("P2")),
        "{e:?}"
    );
}

fn two_product_plant() -> (model::Model, Vec<model::Order>) {
    let (_, _, m) = example("plant-two-products.toml");
    let csv = read("examples/schedule/plant-two-products-orders.csv");
    let orders = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let release_h: f64 = f[2].parse().unwrap_or_else(|e| panic!("{e}"));
            let weight: f64 = f[4].parse().unwrap_or_else(|e| panic!("{e}"));
            order(&m, f[0], f[1], release_h, weight)
        })
        .collect();
    (m, orders)
}

#[test]
fn two_products_with_shifts_and_maintenance_are_planned_and_followed_by_the_simulator() {
    use schedule::shop::{ResourceKind, ShopOptions, check as shop_check, solve as shop_solve};
    let (m, os) = two_product_plant();
    let (shop, map) = schedule::plant::shop_from_model(&m, &os).unwrap_or_else(|e| panic!("{e}"));
    // the scenario's maintenance windows and shifts are in the plant model
    let r2 = shop
        .resources
        .iter()
        .find(|r| r.name == "rocking-bioreactor#2")
        .unwrap_or_else(|| panic!("unit 2"));
    assert_eq!(r2.capacity_at(340 * 60), 0, "unit 2 is serviced");
    assert_eq!(r2.capacity_at(390 * 60), 1);
    let room = shop
        .resources
        .iter()
        .find(|r| r.name == "grade-c-room")
        .unwrap_or_else(|| panic!("room"));
    assert_eq!(
        (
            room.kind,
            room.capacity_at(180 * 60),
            room.capacity_at(210 * 60)
        ),
        (ResourceKind::Place, 0, 3)
    );
    let ops = shop
        .resources
        .iter()
        .find(|r| r.name == "operators")
        .unwrap_or_else(|| panic!("operators"));
    // Monday 06:00 nobody, 08:00 two, Saturday 08:00 one
    assert_eq!(
        (
            ops.capacity_at(6 * 60),
            ops.capacity_at(8 * 60),
            ops.capacity_at((5 * 24 + 8) * 60)
        ),
        (0, 2, 1)
    );
    assert!(shop.products[1].ops.iter().any(|o| o.blocking));
    let cancel = AtomicBool::new(false);
    let sol = shop_solve(
        &shop,
        &ShopOptions {
            time_limit: None,
            iteration_limit: Some(20),
            seed: 3,
            warm_start: None,
        },
        &cancel,
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(shop_check(&shop, &sol.plan).is_empty());
    // nothing on the serviced unit or in the room during their windows
    for o in &sol.plan.ops {
        for u in &o.uses {
            let r = &shop.resources[u.resource];
            if r.name == "rocking-bioreactor#2" {
                assert!(u.end + 120 <= 336 * 60 || u.start >= 384 * 60, "{:?}", u);
            }
            if r.name == "grade-c-room" {
                assert!(u.end + 30 <= 176 * 60 || u.start >= 200 * 60, "{:?}", u);
            }
        }
    }
    let plan = schedule::plant::shop_plan_to_model(&shop, &sol.plan, &map, &os);
    assert_eq!(plan.ops.len(), sol.plan.ops.len());
    assert!(plan.ops.iter().any(|o| os[o.order].product == 1));
    simulate_following(&m, plan, &cancel);
}

#[test]
fn the_planning_objective_of_the_scenario_is_checked() {
    let bad = [
        ("objective = []", "one to three"),
        ("objective = [\"makespan\", \"makespan\"]", "twice"),
        (
            "objective = [\"makespan\"]\ncombine = \"weighted\"",
            "needs `weights`",
        ),
        ("objective = [\"makespan\"]\nweights = [1.0]", "only with"),
        (
            "objective = [\"makespan\", \"total_flow_time\"]\ncombine = \"weighted\"\nweights = [1.0]",
            "1 weights for 2",
        ),
    ];
    let path = format!(
        "{}/../../examples/plant-two-products.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let original = "objective = [\"weighted_tardiness\", \"makespan\"]   # meet the target vein-to-vein times first\ncombine = \"lexicographic\"";
    assert!(text.contains(original));
    for (section, want) in bad {
        let t = text.replace(original, section);
        let e = model::load("plant.toml", &t).expect_err(section);
        let msg = format!("{e:?}");
        assert!(
            msg.contains(want) && msg.contains("planning"),
            "{section}: {msg}"
        );
    }
    let t = text.replace(
        "unit = 2\nstart_hours = 336.0",
        "unit = 5\nstart_hours = 336.0",
    );
    let e = format!(
        "{:?}",
        model::load("plant.toml", &t).expect_err("unit 5 of 4")
    );
    assert!(e.contains("between 1 and 4"), "{e}");
    let t = text.replace("end_hours = 200.0", "end_hours = 100.0");
    let e = format!(
        "{:?}",
        model::load("plant.toml", &t).expect_err("end before start")
    );
    assert!(e.contains("start_hours < end_hours"), "{e}");
}

/// The planner reads what a step keeps from the model (`model::Keep`): `blocking = true`, or a
/// `keep` that lists every equipment pool and area of the step, is a blocking operation; a
/// `keep` of only some of them is refused with a message naming product, step and pools.
#[test]
fn the_planner_plans_keeping_all_and_refuses_keeping_only_some() {
    let (path, text, _) = example("plant-two-products.toml");
    let (_, os) = two_product_plant();
    let culture = "on_hold_violation = \"proceed\"\nblocking = true\n[[product.step.uses]]\n\
                   capability = \"bioreactor\"";
    assert!(text.contains(culture), "the example's blocking step moved");
    let blocking_of = |text: &str| {
        let m = model::load(&path, text).unwrap_or_else(|e| panic!("{e:?}"));
        schedule::plant::shop_from_model(&m, &os).map(|(shop, _)| {
            shop.products
                .iter()
                .flat_map(|p| &p.ops)
                .filter(|o| o.blocking)
                .map(|o| o.name.clone())
                .collect::<Vec<_>>()
        })
    };
    let all = blocking_of(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all, vec!["bioreactor-culture".to_string()]);
    // The step's only equipment is the bioreactor capability's pool: keeping that pool by name
    // is keeping all.
    let m = model::load(&path, &text).unwrap_or_else(|e| panic!("{e:?}"));
    let step = m
        .products
        .iter()
        .flat_map(|p| &p.steps)
        .find(|s| s.name == "bioreactor-culture")
        .expect("step");
    let pools: Vec<&str> = step.uses[0]
        .candidates
        .iter()
        .map(|&r| m.resources[r].name.as_str())
        .collect();
    let names: Vec<String> = pools.iter().map(|p| format!("\"{p}\"")).collect();
    let by_name = text.replace(
        "blocking = true\n[[product.step.uses]]\ncapability = \"bioreactor\"",
        &format!(
            "keep = [{}]\n[[product.step.uses]]\ncapability = \"bioreactor\"",
            names.join(", ")
        ),
    );
    assert_eq!(blocking_of(&by_name).unwrap_or_else(|e| panic!("{e}")), all);
    // Keeping the bioreactor but not the room place the step also uses: refused.
    let partial = text.replace(
        "blocking = true\n[[product.step.uses]]\ncapability = \"bioreactor\"",
        &format!(
            "keep = [{}]\n[[product.step.uses]]\ncapability = \"bioreactor\"\n\
             [[product.step.uses]]\narea = \"grade-c-room\"",
            names.join(", ")
        ),
    );
    match blocking_of(&partial) {
        Ok(b) => panic!("partial keep planned as {b:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("step bioreactor-culture")
                    && msg.contains("keeps only some of the step's equipment and areas")
                    && msg.contains("The simulator honours `keep`"),
                "{msg}"
            );
        }
    }
}
