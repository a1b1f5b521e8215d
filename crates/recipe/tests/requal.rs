//! Requalification windows from an equipment inventory for the production planner
//! (`recipe::requal`): which item is which unit, and what its qualification record means.

use recipe::requal::{self, DEFAULT_REQUALIFICATION_HOURS, WHOLE_PLAN_H};

fn read(rel: &str) -> String {
    let p = format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn example() -> (model::Model, recipe::Inventory) {
    let m = model::load("s.toml", &read("examples/plant-two-products-calendar.toml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let inv = recipe::parse_inventory(
        "i.toml",
        &read("examples/equipment/plant-two-products.toml"),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    (m, inv)
}

/// One qualified bioreactor item with the given status and dates.
fn item(id: &str, status: &str, pq: &str, next: &str) -> String {
    format!(
        "[[equipment]]\nid = \"{id}\"\nname = \"x\"\nclass = \"device\"\nmanufacturer = \"m\"\n\
         model = \"m\"\nserial = \"s\"\n[equipment.capabilities.cell_culture]\nclosed = true\n\
         [equipment.qualification]\nstatus = \"{status}\"\ndq = 2025-01-01\niq = 2025-01-02\n\
         oq = 2025-01-03\npq = {pq}\nnext_requalification = {next}\n"
    )
}

/// An inventory of `items` and the two stations the example lists by id (qualified until 2040).
fn inventory(items: &[String]) -> recipe::Inventory {
    let mut all = items.to_vec();
    for id in ["station_a", "station_b"] {
        if !items.iter().any(|i| i.contains(&format!("\"{id}\""))) {
            all.push(item(id, "qualified", "2025-02-01", "2040-01-01"));
        }
    }
    let text = format!("[inventory]\nsite = \"t\"\n\n{}", all.join("\n"));
    recipe::parse_inventory("t.toml", &text).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn the_example_inventory_gives_its_windows_on_the_local_calendar() {
    let (m, inv) = example();
    let w = requal::windows(&m, &inv, "inv").unwrap_or_else(|e| panic!("{e:?}"));
    let pool = |name: &str| {
        m.resources
            .iter()
            .position(|r| r.name == name)
            .expect("pool")
    };
    let anchor = m.calendar.as_ref().expect("anchored");
    let got: Vec<(usize, Option<u32>, String, f64, String)> = w
        .iter()
        .map(|u| {
            (
                u.resource,
                u.window.unit,
                anchor.local((u.window.start_h * 60.0).round() as i64),
                u.window.end_h - u.window.start_h,
                u.window.reason.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                pool("processing-station"),
                Some(1),
                "2028-03-01 00:00 +01:00".to_string(),
                16.0,
                "requalification due 2028-03-01 (inventory station_a)".to_string()
            ),
            (
                pool("processing-station"),
                Some(2),
                "2027-04-01 00:00 +02:00".to_string(),
                16.0,
                "requalification due 2027-04-01 (inventory station_b)".to_string()
            ),
            (
                pool("rocking-bioreactor"),
                Some(1),
                "2027-04-06 00:00 +02:00".to_string(),
                DEFAULT_REQUALIFICATION_HOURS,
                "requalification due 2027-04-06 (inventory rocking_bioreactor_1)".to_string()
            ),
            (
                pool("rocking-bioreactor"),
                Some(2),
                "2028-03-01 00:00 +01:00".to_string(),
                DEFAULT_REQUALIFICATION_HOURS,
                "requalification due 2028-03-01 (inventory rocking_bioreactor_2)".to_string()
            ),
            (
                pool("rocking-bioreactor"),
                Some(3),
                "2027-03-22 00:00 +01:00".to_string(),
                WHOLE_PLAN_H,
                "qualification status suspended (inventory rocking_bioreactor_3)".to_string()
            ),
        ]
    );
    // 00:00 local on 1 April is 10 days minus the hour of the spring change after time 0
    assert_eq!(w[1].window.start_h, 10.0 * 24.0 - 1.0);
}

#[test]
fn expired_not_yet_qualified_and_far_dates() {
    let (m, _) = example();
    let inv = inventory(&[
        // expired before the start (2027-03-22): out of use for the whole plan
        item(
            "rocking_bioreactor_1",
            "qualified",
            "2025-02-01",
            "2027-03-01",
        ),
        // PQ only on 2027-03-24: out of use until then
        item(
            "rocking_bioreactor_2",
            "qualified",
            "2027-03-24",
            "2034-03-24",
        ),
        // requalification long after the plan's horizon: nothing
        item(
            "rocking_bioreactor_4",
            "qualified",
            "2025-02-01",
            "2040-01-01",
        ),
    ]);
    let w = requal::windows(&m, &inv, "inv").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!((w[0].window.unit, w[0].window.start_h), (Some(1), 0.0));
    assert_eq!(w[0].window.end_h, WHOLE_PLAN_H);
    assert!(
        w[0].window.reason.contains("was due 2027-03-01"),
        "{}",
        w[0].window.reason
    );
    assert_eq!(w[1].window.unit, Some(2));
    assert_eq!((w[1].window.start_h, w[1].window.end_h), (0.0, 48.0));
}

#[test]
fn unknown_units_ids_and_ambiguous_pools_are_refused_in_their_file() {
    let (m, _) = example();
    // unit 5 of a pool of 4
    let inv = inventory(&[item(
        "rocking_bioreactor_5",
        "qualified",
        "2025-02-01",
        "2028-01-01",
    )]);
    let e = requal::windows(&m, &inv, "inv").expect_err("unknown unit");
    assert!(e.scenario.is_empty());
    assert_eq!(e.inventory[0].path.to_string(), "equipment[0].id");
    assert!(
        e.inventory[0].message.contains("unknown unit"),
        "{:?}",
        e.inventory
    );
    // an id in a pool's list that the inventory lacks (station_a, station_b)
    let inv = recipe::parse_inventory(
        "t.toml",
        &format!(
            "[inventory]\nsite = \"t\"\n{}",
            item("station_a", "qualified", "2025-02-01", "2028-01-01")
        ),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let e = requal::windows(&m, &inv, "inv").expect_err("station_b missing");
    assert_eq!(e.scenario[0].path.to_string(), "equipment[0].inventory[1]");
    // two pools whose names give the same id stem
    let text = read("examples/plant-two-products-calendar.toml").replace(
        "name = \"controlled-rate-freezer\"",
        "name = \"rocking_bioreactor\"",
    );
    let m2 = model::load("s.toml", &text).unwrap_or_else(|e| panic!("{e:?}"));
    let e = requal::windows(&m2, &inventory(&[]), "inv").expect_err("ambiguous");
    assert!(
        e.scenario[0].message.contains("both match"),
        "{:?}",
        e.scenario
    );
    // no calendar
    let plain = model::load("p.toml", &read("examples/plant-two-products.toml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let e = requal::windows(&plain, &inventory(&[]), "inv").expect_err("needs an anchor");
    assert!(e.scenario[0].message.contains("[calendar]"));
}

#[test]
fn apply_adds_the_windows_to_the_pools_maintenance() {
    let (mut m, inv) = example();
    let bio = m
        .resources
        .iter()
        .position(|r| r.name == "rocking-bioreactor")
        .expect("pool");
    let before = m.resources[bio].maintenance.len();
    let n = requal::apply(&mut m, &inv, "inv").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(n, 5);
    assert_eq!(m.resources[bio].maintenance.len(), before + 3);
}
