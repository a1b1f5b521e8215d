//! Every example file under `examples/` parses and validates.

use std::path::PathBuf;

fn examples(sub: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(sub);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_equipment_example_validates() {
    let files = examples("equipment");
    assert!(
        files.len() >= 2,
        "expected the modular and all-in-one inventories"
    );
    for f in files {
        let src = std::fs::read_to_string(&f).expect("readable");
        let inv = recipe::parse_inventory(&f.display().to_string(), &src)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!inv.equipment.is_empty());
    }
}

/// The path (as messages show it) and the text of the example `examples/{sub}/{name}`.
fn example(sub: &str, name: &str) -> (String, String) {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(sub)
        .join(name);
    let src = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    (f.display().to_string(), src)
}

fn load_recipe(name: &str) -> recipe::Recipe {
    let (path, src) = example("recipes", name);
    recipe::parse_recipe(&path, &src).unwrap_or_else(|e| panic!("{e}"))
}

fn load_inventory(name: &str) -> recipe::Inventory {
    let (path, src) = example("equipment", name);
    recipe::parse_inventory(&path, &src).unwrap_or_else(|e| panic!("{e}"))
}

/// The example recipe `recipe_file`, the example inventory `inventory_file` and the recipe
/// bound to the inventory on 2026-12-01.
fn bound_example(
    recipe_file: &str,
    inventory_file: &str,
) -> (recipe::Recipe, recipe::Inventory, recipe::Binding) {
    let r = load_recipe(recipe_file);
    let inv = load_inventory(inventory_file);
    let b = recipe::bind(&r, &inv, recipe::Date::parse("2026-12-01").expect("date"));
    (r, inv, b)
}

#[test]
fn modular_recipe_binds_to_modular_plant() {
    let (_, _, b) = bound_example("car-t-modular.toml", "modular-plant.toml");
    assert!(b.is_complete(), "{}", b.render_text());
    let chosen = |step: &str, req: &str| b.get(step, req).and_then(|a| a.equipment.clone());
    // centrifuge_1 expired, centrifuge_small too small: centrifuge_2 for wash and harvest.
    assert_eq!(
        chosen("wash", "centrifugation").as_deref(),
        Some("centrifuge_2")
    );
    assert_eq!(
        chosen("harvest", "centrifugation").as_deref(),
        Some("centrifuge_2")
    );
    // thaw_2 has 2 connector uses left, the step needs 3.
    assert_eq!(chosen("thaw", "thawing").as_deref(), Some("thaw_1"));
    // activation and transduction share one small reactor.
    assert_eq!(
        chosen("activation", "cell_culture"),
        chosen("transduction", "cell_culture")
    );
    assert_eq!(
        chosen("formulation", "weighing").as_deref(),
        Some("balance_1")
    );
}

#[test]
fn all_in_one_recipe_binds_one_device_for_the_whole_run() {
    let (_, _, b) = bound_example("car-t-all-in-one.toml", "all-in-one.toml");
    assert!(b.is_complete(), "{}", b.render_text());
    let device: Vec<_> = b
        .assignments
        .iter()
        .filter(|a| a.group.as_deref() == Some("device_run"))
        .map(|a| a.equipment.clone())
        .collect();
    assert_eq!(device.len(), 6);
    // aio_3 expired, aio_4 in qualification; aio_1 and aio_2 tie on validity, aio_1 has more
    // runs left before service.
    assert!(
        device.iter().all(|d| d.as_deref() == Some("aio_1")),
        "{device:?}"
    );
}

#[test]
fn modular_record_shows_its_deviations() {
    let (r, inv, b) = bound_example("car-t-modular.toml", "modular-plant.toml");
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/recipes/records/car-t-modular-batch-0042.toml");
    let src = std::fs::read_to_string(&f).expect("record");
    let rec = recipe::parse_record("rec.toml", &src).unwrap_or_else(|e| panic!("{e}"));
    let d = recipe::diff(&r, Some(&b), Some(&inv), &rec);
    let got: Vec<(String, &str, &str)> = d
        .deviations
        .iter()
        .map(|x| (format!("{:?}", x.kind), x.step.as_str(), x.field.as_str()))
        .collect();
    let want = [
        ("OutOfRange", "wash", "parameters.rcf"),
        ("OutOfRange", "wash", "environment.temperature (sensor)"),
        ("WrongEquipment", "wash", "equipment.centrifugation"),
        ("WrongEquipment", "wash", "equipment.centrifugation"),
        ("Missing", "transduction", "parameters.temperature"),
        ("Late", "expansion", "duration"),
        ("Late", "formulation", "hold"),
        ("Missing", "formulation", "operator"),
        ("Missing", "transport_out", "step"),
        ("Unexpected", "extra_sampling", "step"),
    ];
    let want: Vec<(String, &str, &str)> = want
        .iter()
        .map(|(k, s, f)| (k.to_string(), *s, *f))
        .collect();
    assert_eq!(got, want, "{}", d.render_text());
    // The second wash deviation is the expired qualification on the day of use.
    assert!(d.deviations[3].actual.contains("qualification expired"));
}

fn plan_and_simulate(recipe_file: &str, inventory_file: &str) -> (model::Model, sim::Results) {
    let (r, inv, b) = bound_example(recipe_file, inventory_file);
    let opts = recipe::PlanOptions {
        replications: 4,
        horizon_days: 240.0,
        warmup_days: 30.0,
        seed: 7,
        patients_per_year: 20.0,
        ..recipe::PlanOptions::default()
    };
    let (sc, _notes) = recipe::scenario(&r, &b, &inv, &opts).unwrap_or_else(|e| panic!("{e}"));
    // The scenario goes through its file form, exactly as `atmpflow recipe plan` writes it.
    let text = toml::to_string(&sc).expect("serialises");
    let m = model::load("generated.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let res = sim::run(
        &m,
        &sim::RunOptions::default(),
        &|_| {},
        &std::sync::atomic::AtomicBool::new(false),
    )
    .expect("simulates");
    (m, res)
}

#[test]
fn modular_recipe_yields_a_scenario_that_simulates() {
    let (m, res) = plan_and_simulate("car-t-modular.toml", "modular-plant.toml");
    let p = &m.products[0];
    // Activation and transduction share one small reactor: one merged scenario step.
    assert!(
        p.steps.iter().any(|s| s.name == "activation..transduction"),
        "{:?}",
        p.steps.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    // The expansion step may use any of the three fitting incubators (not the 800 mL one).
    let exp = p
        .steps
        .iter()
        .find(|s| s.name == "expansion")
        .expect("expansion step");
    let pools: Vec<&str> = exp.uses[0]
        .candidates
        .iter()
        .map(|&c| m.resources[c].name.as_str())
        .collect();
    assert_eq!(pools, ["incubator_1+incubator_2+incubator_3"]);
    assert_eq!(m.resources[exp.uses[0].candidates[0]].capacity, 3);
    // Nominal process ≈ 1 + 0.5 h … + 12 d expansion + 7 d release + 1 d shipping.
    let nominal: f64 = p
        .steps
        .iter()
        .filter(|s| !s.optional)
        .map(|s| s.duration.mean() + s.transfer_h)
        .sum::<f64>()
        / 24.0;
    assert!((22.0..26.0).contains(&nominal), "nominal {nominal} days");
    assert!(
        res.throughput_per_year.mean > 5.0,
        "throughput {:?}",
        res.throughput_per_year
    );
    assert!(res.vein_to_vein_days.mean >= nominal * 0.9);
}

#[test]
fn all_in_one_recipe_yields_a_scenario_that_simulates() {
    let (m, res) = plan_and_simulate("car-t-all-in-one.toml", "all-in-one.toml");
    let p = &m.products[0];
    let run = p
        .steps
        .iter()
        .find(|s| s.name == "wash..harvest")
        .expect("merged device run");
    let pools: Vec<&str> = run
        .uses
        .iter()
        .flat_map(|u| u.candidates.iter())
        .map(|&c| m.resources[c].name.as_str())
        .collect();
    assert!(pools.contains(&"aio_1+aio_2"), "{pools:?}");
    assert!(pools.contains(&"room_c2"), "{pools:?}");
    assert!(res.throughput_per_year.mean > 5.0);
}
