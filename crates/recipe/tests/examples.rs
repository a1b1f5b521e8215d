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
