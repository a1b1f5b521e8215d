//! The orders file: good files are read as written, every bad file in
//! `tests/fixtures/orders/` is rejected with the line, column and message that `expect.txt`
//! gives for it.

use std::path::{Path, PathBuf};

use model::orders::read_orders;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scenario() -> model::Model {
    let file = root().join("examples/concept-3-modular-plant.toml");
    let text = std::fs::read_to_string(&file).expect("example readable");
    match model::load(&file.display().to_string(), &text) {
        Ok(m) => m,
        Err(e) => panic!("example does not load: {e}"),
    }
}

#[test]
fn every_bad_orders_file_is_rejected_at_its_line_and_column() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/orders");
    let expect = std::fs::read_to_string(dir.join("expect.txt")).expect("expect.txt");
    let model = scenario();
    let mut checked = Vec::new();
    for line in expect
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.splitn(3, " | ").collect();
        let [file, at, message] = parts[..] else {
            panic!("expect.txt: `FILE | LINE:COLUMN | MESSAGE` expected, got {line}");
        };
        let text = std::fs::read_to_string(dir.join(file)).expect("fixture readable");
        let err = match read_orders(file, &text, &model) {
            Ok(orders) => panic!("{file}: accepted ({} orders)", orders.len()),
            Err(e) => e,
        };
        let want_at = (at != "-").then(|| {
            let (l, c) = at.split_once(':').expect("LINE:COLUMN");
            (
                l.parse::<u64>().expect("line"),
                c.parse::<usize>().expect("column"),
            )
        });
        assert_eq!(err.file, file);
        assert_eq!(err.at, want_at, "{file}: {err}");
        assert!(err.message.contains(message), "{file}: {err}");
        let shown = err.to_string();
        let prefix = match want_at {
            Some((l, c)) => format!("{file}:{l}:{c}: "),
            None => format!("{file}: "),
        };
        assert!(shown.starts_with(&prefix), "{shown}");
        checked.push(file.to_string());
    }
    // every fixture has an expectation
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    files.sort();
    checked.sort();
    assert_eq!(files, checked);
}

#[test]
fn the_example_orders_are_read_with_defaults_for_empty_cells() {
    let model = scenario();
    let file = root().join("examples/schedule/concept-3-orders.csv");
    let text = std::fs::read_to_string(&file).expect("example orders");
    let orders = read_orders("concept-3-orders.csv", &text, &model).expect("valid");
    assert_eq!(orders.len(), 16);
    let target = model.demand[0].target_v2v_h;
    assert_eq!(orders[0].id, "P001");
    assert_eq!(orders[0].weight, 2.0);
    assert_eq!(orders[1].release_h, 27.0);
    assert_eq!(
        orders[1].due_h,
        27.0 + target,
        "empty due_h: release + target"
    );
}

#[test]
fn columns_in_any_order_and_case_quoted_cells_and_blank_lines() {
    let model = scenario();
    let text =
        "Weight, RELEASE_H ,product,id,due_h\n\n  \n1.5, 12 ,car-t,\"P,1\",100\n,0,car-t,P2,\n";
    let orders = read_orders("o.csv", text, &model).expect("valid");
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[0].id, "P,1");
    assert_eq!(
        (orders[0].release_h, orders[0].due_h, orders[0].weight),
        (12.0, 100.0, 1.5)
    );
    assert_eq!(orders[1].weight, 1.0);
    assert_eq!(orders[1].product, model.product("car-t").expect("product"));
}
