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

fn load_recipe(name: &str) -> recipe::Recipe {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/recipes")
        .join(name);
    let src = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    recipe::parse_recipe(&f.display().to_string(), &src).unwrap_or_else(|e| panic!("{e}"))
}

fn load_inventory(name: &str) -> recipe::Inventory {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/equipment")
        .join(name);
    let src = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    recipe::parse_inventory(&f.display().to_string(), &src).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn modular_recipe_binds_to_modular_plant() {
    let r = load_recipe("car-t-modular.toml");
    let inv = load_inventory("modular-plant.toml");
    let as_of = recipe::Date::parse("2026-12-01").expect("date");
    let b = recipe::bind(&r, &inv, as_of);
    eprintln!("{}", b.render_text());
    assert!(b.is_complete());
}

#[test]
fn all_in_one_recipe_binds_one_device_for_the_whole_run() {
    let r = load_recipe("car-t-all-in-one.toml");
    let inv = load_inventory("all-in-one.toml");
    let as_of = recipe::Date::parse("2026-12-01").expect("date");
    let b = recipe::bind(&r, &inv, as_of);
    eprintln!("{}", b.render_text());
    assert!(b.is_complete());
}
