//! The production planner end to end: the two-product example plant is planned, asked for
//! apheresis dates, booked into, disrupted and re-planned from the command line; every plan
//! document is re-read and re-checked by the next command, and bad input is located.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::{
    assert_no_panic, assert_ok, assert_stderr_has, example, repo_path, run, stderr, stdout,
};

fn read(p: &std::path::Path) -> Value {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `atmpflow schedule EXAMPLE --orders <the two-product orders> --quiet --out OUT EXTRA…`.
fn plan_plant(scenario: &str, out: &Path, extra: &[&OsStr]) -> Output {
    let (sc, orders) = (
        example(scenario),
        repo_path("examples/schedule/plant-two-products-orders.csv"),
    );
    let mut args: Vec<&OsStr> = vec![
        "schedule".as_ref(),
        sc.as_os_str(),
        "--orders".as_ref(),
        orders.as_os_str(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend_from_slice(extra);
    run(args)
}

/// `atmpflow schedule promise PLAN --product PRODUCT --from-day FROM --to-day TO EXTRA…`.
fn promise(plan: &Path, product: &str, days: (&str, &str), extra: &[&OsStr]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        "schedule".as_ref(),
        "promise".as_ref(),
        plan.as_os_str(),
        "--product".as_ref(),
        product.as_ref(),
        "--from-day".as_ref(),
        days.0.as_ref(),
        "--to-day".as_ref(),
        days.1.as_ref(),
    ];
    args.extend_from_slice(extra);
    run(args)
}

/// `atmpflow schedule replan PLAN --events EVENTS --as-of-h AS_OF --iterations N EXTRA…`.
fn replan(plan: &Path, events: &Path, as_of_h: &str, iterations: &str, extra: &[&OsStr]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        "schedule".as_ref(),
        "replan".as_ref(),
        plan.as_os_str(),
        "--events".as_ref(),
        events.as_os_str(),
        "--as-of-h".as_ref(),
        as_of_h.as_ref(),
        "--iterations".as_ref(),
        iterations.as_ref(),
    ];
    args.extend_from_slice(extra);
    run(args)
}

/// Re-plans `plan` after the example events of the two-product plant as of hour 210 (10
/// iterations), quietly into `out`.
fn replan_example_events(plan: &Path, out: &Path) -> Output {
    replan(
        plan,
        &repo_path("examples/schedule/plant-two-products-events.csv"),
        "210",
        "10",
        &["--quiet".as_ref(), "--out".as_ref(), out.as_os_str()],
    )
}

#[test]
fn plan_promise_book_disrupt_and_replan_the_two_product_plant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let plan_dir = d.join("plan");
    let (copy_json, copy_csv) = (d.join("copy.json"), d.join("copy.csv"));
    let o = plan_plant(
        "plant-two-products",
        &plan_dir,
        &[
            "--iterations".as_ref(),
            "20".as_ref(),
            "--json".as_ref(),
            copy_json.as_os_str(),
            "--csv".as_ref(),
            copy_csv.as_os_str(),
        ],
    );
    assert_ok(&o, "schedule --orders");
    for (copy, original) in [("copy.json", "plan.json"), ("copy.csv", "plan.csv")] {
        let bytes = |p: std::path::PathBuf| {
            std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        assert_eq!(
            bytes(d.join(copy)),
            bytes(plan_dir.join(original)),
            "--json/--csv hold the same {original}"
        );
    }
    let plan = read(&plan_dir.join("plan.json"));
    assert_eq!(plan["format"], "atmpflow-plant-plan/1");
    let jobs = plan["shop"]["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 16);
    let products: std::collections::BTreeSet<u64> =
        jobs.iter().filter_map(|j| j["product"].as_u64()).collect();
    assert_eq!(products.len(), 2, "two products in one plan");
    assert!(
        plan["plan"]["ops"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "model plan for the simulator"
    );
    let html = std::fs::read_to_string(plan_dir.join("schedule.html")).expect("html");
    assert!(html.contains("<svg") && html.contains("rocking-bioreactor#2"));

    // the simulator follows the plan
    let o = run([
        "simulate".as_ref(),
        example("plant-two-products").as_os_str(),
        "--plan".as_ref(),
        plan_dir.join("plan.json").as_os_str(),
        "--replications".as_ref(),
        "2".as_ref(),
        "--out".as_ref(),
        d.join("sim").as_os_str(),
    ]);
    assert_ok(&o, "simulate --plan");

    // which apheresis dates can a car-t-short patient get in weeks 2-4?
    let answer = d.join("promise.json");
    let o = promise(
        &plan_dir.join("plan.json"),
        "car-t-short",
        ("7", "28"),
        &[
            "--weekdays".as_ref(),
            "--id".as_ref(),
            "X001".as_ref(),
            "--json".as_ref(),
            answer.as_os_str(),
        ],
    );
    assert_ok(&o, "schedule promise");
    let a = read(&answer);
    let offers = a["offers"].as_array().expect("offers");
    assert_eq!(offers.len(), 16, "weekdays of days 7..=28");
    let earliest = a["earliest"]["release"].as_i64().expect("an on-time date");
    assert!(stdout(&o).contains("earliest on-time apheresis"));
    assert!(
        a["seconds"].as_f64().is_some_and(|s| s < 1.0),
        "well under a second"
    );

    // book it; nothing committed moves
    let booked = d.join("booked");
    let day = (earliest / 1440).to_string();
    let o = promise(
        &plan_dir.join("plan.json"),
        "car-t-short",
        ("7", "28"),
        &[
            "--id".as_ref(),
            "X001".as_ref(),
            "--book".as_ref(),
            day.as_ref(),
            "--out".as_ref(),
            booked.as_os_str(),
        ],
    );
    assert_ok(&o, "schedule promise --book");
    let b = read(&booked.join("plan.json"));
    assert_eq!(b["shop"]["jobs"].as_array().map(Vec::len), Some(17));
    let old_ops = plan["plant_plan"]["ops"].as_array().expect("ops");
    let new_ops = b["plant_plan"]["ops"].as_array().expect("ops");
    assert_eq!(
        &new_ops[..old_ops.len()],
        &old_ops[..],
        "committed work stays"
    );

    // disruption as of hour 210: re-plan
    let re = d.join("replan");
    let o = replan_example_events(&booked.join("plan.json"), &re);
    assert_ok(&o, "schedule replan");
    let r = read(&re.join("plan.json"));
    let names: Vec<&str> = r["shop"]["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["name"].as_str())
        .collect();
    assert!(
        names.contains(&"U001") && names.contains(&"O003/re"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"O007") && !names.contains(&"O003"),
        "{names:?}"
    );
    let html = std::fs::read_to_string(re.join("schedule.html")).expect("html");
    assert!(html.contains("What moved"));
    let moves = std::fs::read_to_string(re.join("moves.csv")).expect("moves");
    assert!(moves.starts_with("order,step,old_start_h,new_start_h"));
    assert!(r["history"].as_array().is_some_and(|h| h.len() == 3));
}

#[test]
fn bad_events_and_bad_plans_are_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let plan_dir = d.join("plan");
    let o = plan_plant(
        "plant-two-products",
        &plan_dir,
        &["--iterations".as_ref(), "2".as_ref()],
    );
    assert_ok(&o, "schedule --orders");
    let plan = plan_dir.join("plan.json");
    let cases = [
        ("kind,order\nexplode,O001\n", "line 2: kind"),
        ("kind,order\nfailed,NOPE\n", "line 2: order"),
        (
            "kind,resource,from_h,to_h\nbreakdown,operators,10,5\n",
            "line 2: to_h",
        ),
        ("kind,order,step,hours\ndelay,O001,nope,3\n", "line 2: step"),
        (
            "kind,order,step,hours\ndelay,O001,selection,x\n",
            "line 2: hours",
        ),
        ("kind,colour\nnew,red\n", "line 1: colour"),
        ("kind,order,product,release_h\nnew,Z,car-t\n", "line 2"),
    ];
    for (text, want) in cases {
        let ev = d.join("events.csv");
        std::fs::write(&ev, text).expect("write");
        let o = replan(&plan, &ev, "100", "1", &[]);
        assert!(!o.status.success(), "{text}");
        assert_no_panic(&o);
        let e = stderr(&o);
        assert!(e.contains("events.csv") && e.contains(want), "{text}: {e}");
    }
    // a plan document that was tampered with is refused, with the reason
    let mut doc: Value = read(&plan);
    doc["plant_plan"]["ops"][0]["start"] = Value::from(-10_000);
    let bad = d.join("bad.json");
    std::fs::write(&bad, doc.to_string()).expect("write");
    let o = promise(&bad, "car-t", ("1", "2"), &[]);
    assert!(!o.status.success());
    assert_no_panic(&o);
    assert_stderr_has(&o, "does not fit its plant");
    std::fs::write(&bad, "{\"format\": 1").expect("write");
    let o = promise(&bad, "car-t", ("1", "2"), &[]);
    assert!(!o.status.success());
    assert_stderr_has(&o, "bad.json:1:");
    // an unknown product
    let o = promise(&plan, "car-x", ("1", "2"), &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("car-x") && stderr(&o).contains("car-t-short"));
}

/// The plant on the Berlin calendar with the example inventory: local date-times in the
/// outputs, the inventory's requalification windows in the plan (and planned around), and a
/// replan of that plan keeps them; bad inventories are refused at the place in the file.
#[test]
fn calendar_and_inventory_requalification_reach_the_plan_and_its_replan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let plan_dir = d.join("plan");
    let inv = repo_path("examples/equipment/plant-two-products.toml");
    let plan_args = |inv: &std::path::Path, out: &std::path::Path| {
        plan_plant(
            "plant-two-products-calendar",
            out,
            &[
                "--equipment".as_ref(),
                inv.as_os_str(),
                "--iterations".as_ref(),
                "10".as_ref(),
            ],
        )
    };
    let o = plan_args(&inv, &plan_dir);
    assert_ok(&o, "schedule --equipment");
    let csv = std::fs::read_to_string(plan_dir.join("plan.csv")).expect("csv");
    assert!(
        csv.starts_with("order,product,step,start_h,end_h,start_local,end_local,resources\n"),
        "{csv}"
    );
    assert!(csv.contains("2027-03-22 09:00 +01:00"), "O001 at 9 h local");
    let plan = read(&plan_dir.join("plan.json"));
    assert_eq!(plan["calendar"]["time_zone"], "Europe/Berlin");
    let reasons: Vec<&str> = plan["downtime"]
        .as_array()
        .expect("downtime")
        .iter()
        .filter_map(|w| w["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"requalification due 2027-04-01 (inventory station_b)"),
        "{reasons:?}"
    );
    // the suspended bioreactor 3 carries nothing
    let ops = plan["plant_plan"]["ops"].as_array().expect("ops");
    let bio3 = plan["shop"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .position(|r| r["name"] == "rocking-bioreactor#3")
        .expect("unit 3");
    assert!(ops.iter().all(|op| {
        op["uses"]
            .as_array()
            .expect("uses")
            .iter()
            .all(|u| u["resource"].as_u64() != Some(bio3 as u64))
    }));
    let html = std::fs::read_to_string(plan_dir.join("schedule.html")).expect("html");
    assert!(html.contains("Out of use") && html.contains("inventory rocking_bioreactor_3"));
    // re-planned: the calendar and the windows stay
    let re = d.join("re");
    let o = replan_example_events(&plan_dir.join("plan.json"), &re);
    assert_ok(&o, "replan of the calendar plan");
    let p2 = read(&re.join("plan.json"));
    assert_eq!(p2["calendar"], plan["calendar"]);
    assert_eq!(p2["downtime"], plan["downtime"]);
    // bad inventory: an unknown unit, located in the inventory file
    let bad = d.join("bad.toml");
    let text = std::fs::read_to_string(&inv).expect("inventory").replace(
        "id = \"rocking_bioreactor_3\"",
        "id = \"rocking_bioreactor_9\"",
    );
    std::fs::write(&bad, text).expect("write");
    let o = plan_args(&bad, &d.join("bad-out"));
    assert_no_panic(&o);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("unknown unit") && e.contains("bad.toml:") && e.contains("equipment[4].id"),
        "{e}"
    );
    // an inventory on a scenario without a calendar
    let o = plan_plant(
        "plant-two-products",
        &d.join("no-cal"),
        &["--equipment".as_ref(), inv.as_os_str()],
    );
    assert!(!o.status.success());
    assert_stderr_has(&o, "[calendar]");
}
