//! The virtual plant (`atmpflow plant run`): the same orders through the execution engine and
//! through the simulator following the same plan must agree, and re-planning records what
//! moved.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::{
    assert_no_panic, assert_ok, assert_stderr_has, bin, repo_path, run, stderr, stdout,
};

fn read(p: &Path) -> Value {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The modular CAR-T recipe without its operator needs: the virtual plant's people act at
/// once, while the simulator puts steps with operators on the weekday shift calendar, so
/// those waits are a rule the plant does not follow (docs/virtual-plant.md).
fn recipe_without_operators(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_path("examples/recipes/car-t-modular.toml"))
        .expect("example recipe");
    let kept: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("operators"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        kept.len() < text.len(),
        "the example recipe has operator needs to remove"
    );
    let p = dir.join("car-t-modular-no-operators.toml");
    std::fs::write(&p, kept).expect("write recipe");
    p
}

/// Five orders two days apart (ASSUMPTION: a demo order book; the modular plant has one
/// unit per step, so orders this close queue at the expansion bioreactor).
fn orders(dir: &Path) -> PathBuf {
    let mut s = String::from("id,product,release_h,due_h,weight\n");
    for i in 0..5 {
        s.push_str(&format!("P{},car_t_modular,{}.0,,1\n", i + 1, i * 48));
    }
    let p = dir.join("orders.csv");
    std::fs::write(&p, s).expect("write orders");
    p
}

fn plant(dir: &Path, recipe: &Path, out: &str, extra: &[&str]) -> (PathBuf, Value) {
    let out = dir.join(out);
    let o = run(plant_args(dir, recipe, &out, extra));
    assert_ok(&o, "plant run");
    let summary = read(&out.join("summary.json"));
    (out, summary)
}

/// The arguments of a plant run on the modular plant inventory (unless `extra` names another).
fn plant_args(dir: &Path, recipe: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let equipment = match extra.iter().position(|a| *a == "--equipment") {
        Some(_) => Vec::new(),
        None => vec![
            "--equipment".to_string(),
            repo_path("examples/equipment/modular-plant.toml")
                .display()
                .to_string(),
        ],
    };
    let mut args: Vec<String> = vec![
        "plant".into(),
        "run".into(),
        recipe.display().to_string(),
        "--orders".into(),
        orders(dir).display().to_string(),
        "--horizon-days".into(),
        "90".into(),
        "--iterations".into(),
        "10".into(),
        "--quiet".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(equipment);
    args.extend(extra.iter().map(|s| (*s).to_string()));
    args
}

/// Runs `atmpflow plant run RECIPE` on the modular plant inventory with `orders` into `out`,
/// with only the options in `extra` (none of the ones `plant_args` adds).
fn plain_plant_run(recipe: &Path, orders: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        "plant".as_ref(),
        "run".as_ref(),
        recipe.as_os_str(),
        "--equipment".as_ref(),
    ];
    let equipment = repo_path("examples/equipment/modular-plant.toml");
    args.extend([
        equipment.as_os_str(),
        "--orders".as_ref(),
        orders.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    args.extend(extra.iter().map(OsStr::new));
    run(args)
}

/// The modular plant inventory with every requalification moved to 2099 (for a run that
/// starts months after 2026-12-01, when the example's qualifications have expired).
fn requalified_inventory(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_path("examples/equipment/modular-plant.toml"))
        .expect("example inventory");
    let mut moved = 0;
    let out: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("next_requalification") {
                moved += 1;
                "next_requalification = 2099-01-01\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(moved > 3, "the example inventory has requalification dates");
    let p = dir.join("modular-plant-2099.toml");
    std::fs::write(&p, out).expect("write inventory");
    p
}

/// Whether two estimates lie within each other's 95 % intervals (the intervals overlap).
fn agree(what: &str, a: (f64, f64), b: (f64, f64)) -> Result<(), String> {
    let (lo_a, hi_a) = a;
    let (lo_b, hi_b) = b;
    if lo_a <= hi_b && lo_b <= hi_a {
        Ok(())
    } else {
        Err(format!(
            "{what}: virtual plant [{lo_a:.3}, {hi_a:.3}] vs simulate [{lo_b:.3}, {hi_b:.3}]"
        ))
    }
}

fn interval(stat: &Value) -> (f64, f64) {
    let m = stat["mean"].as_f64().expect("mean");
    let h = stat["half_width_95"].as_f64().unwrap_or(0.0);
    (m - h, m + h)
}

fn ci(stat: &Value) -> (f64, f64) {
    (
        stat["ci95"][0].as_f64().expect("ci95 low"),
        stat["ci95"][1].as_f64().expect("ci95 high"),
    )
}

#[test]
fn virtual_plant_and_simulator_agree_on_the_same_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let recipe = recipe_without_operators(d);
    // re-planning off: the simulator follows one plan throughout, so must the plant
    let (out, vp) = plant(d, &recipe, "vp", &["--runs", "20", "--no-replan"]);
    let sim_out = d.join("sim");
    let o = run([
        "simulate".as_ref(),
        out.join("scenario.toml").as_os_str(),
        "--plan".as_ref(),
        out.join("plan.json").as_os_str(),
        "--replications".as_ref(),
        "40".as_ref(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        sim_out.as_os_str(),
    ]);
    assert_ok(&o, "simulate --plan");
    let sim = read(&sim_out.join("results.json"));
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut check = |r: Result<(), String>| {
        checked += 1;
        if let Err(e) = r {
            problems.push(e);
        }
    };
    check(agree(
        "throughput per year",
        interval(&vp["released_per_year"]),
        ci(&sim["throughput_per_year"]),
    ));
    check(agree(
        "vein-to-vein days",
        interval(&vp["vein_to_vein_mean_days"]),
        ci(&sim["vein_to_vein_days"]),
    ));
    let stages = vp["stages"].as_array().expect("stages");
    for (k, name) in stages.iter().enumerate() {
        let name = name.as_str().expect("stage name");
        let step = sim["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("simulate has no step {name}"));
        check(agree(
            &format!("wait before {name}, hours"),
            interval(&vp["wait_mean_h"][k]),
            ci(&step["wait_hours"]),
        ));
    }
    assert!(checked >= 10, "only {checked} figures compared");
    assert!(
        problems.is_empty(),
        "the virtual plant and the simulator disagree:\n{}",
        problems.join("\n")
    );
    // the figures are not trivially equal: the batches waited somewhere and were treated
    let v2v = vp["vein_to_vein_mean_days"]["mean"].as_f64().unwrap_or(0.0);
    assert!(v2v > 20.0 && v2v < 40.0, "vein-to-vein {v2v} days");
    assert_eq!(vp["runs"].as_array().map(Vec::len), Some(20));
}

#[test]
fn virtual_plant_replans_records_moves_and_marks_its_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let recipe = repo_path("examples/recipes/car-t-modular.toml");
    let (out, vp) = plant(d, &recipe, "vp", &["--runs", "2", "--replan-after-h", "2"]);
    assert_eq!(vp["virtual_plant"], true);
    assert_eq!(vp["dry_run"], true);
    let replans = std::fs::read_to_string(out.join("replans.csv")).expect("replans.csv");
    let ok: Vec<&str> = replans
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(','))
        .collect();
    assert!(
        !ok.is_empty(),
        "no successful re-plan although steps ended hours from plan:\n{replans}"
    );
    let moves = std::fs::read_to_string(out.join("moves.csv")).expect("moves.csv");
    assert!(moves.lines().count() > 1, "no move recorded:\n{moves}");
    let batches = std::fs::read_to_string(out.join("batches.csv")).expect("batches.csv");
    let rows: Vec<&str> = batches.lines().skip(1).collect();
    assert_eq!(rows.len(), 10, "2 runs of 5 orders:\n{batches}");
    for r in rows {
        let f: Vec<&str> = r.split(',').collect();
        assert!(f[2].starts_with("VP-"), "batch id not marked: {r}");
        let entries: usize = f[7].parse().expect("entries");
        assert!(entries > 20, "a batch with {entries} record entries: {r}");
    }
}

#[test]
fn virtual_plant_keeps_the_virtual_clock_and_refuses_bad_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let recipe = repo_path("examples/recipes/car-t-modular.toml");
    // about 1000 simulated hours at 10^7 times real time take at least 0.3 s
    let (_, vp) = plant(d, &recipe, "fast", &["--speed", "1e7", "--no-replan"]);
    let end_h = vp["runs"][0]["end_h"].as_f64().expect("end_h");
    let wall = vp["wall_seconds"].as_f64().expect("wall_seconds");
    assert!(end_h > 500.0, "end {end_h} h");
    assert!(
        wall >= end_h * 3600.0 / 1e7 * 0.95,
        "{wall} s for {end_h} simulated hours at 1e7x"
    );
    for (flag, value, says) in [
        ("--speed", "0", "--speed"),
        ("--speed", "fast", "--speed"),
        ("--runs", "0", "--runs"),
        ("--replan-after-h", "NaN", "--replan-after-h"),
    ] {
        let o = plain_plant_run(&recipe, &orders(d), &d.join("bad"), &[flag, value]);
        assert!(!o.status.success(), "{flag} {value} accepted");
        assert_no_panic(&o);
        assert!(stderr(&o).contains(says), "{flag} {value}: {}", stderr(&o));
    }
    // orders of a product the recipe does not make: located error, no panic
    let bad = d.join("bad-orders.csv");
    std::fs::write(
        &bad,
        "id,product,release_h,due_h,weight\nX1,no_such_product,0,,1\n",
    )
    .expect("write");
    let o = plain_plant_run(&recipe, &bad, &d.join("bad2"), &[]);
    assert!(!o.status.success());
    assert_no_panic(&o);
    assert_stderr_has(&o, "bad-orders.csv");
}

/// Rows of batches.csv: (batch id, status, entries).
fn batch_rows(out: &Path) -> Vec<(String, String, u64)> {
    let text = std::fs::read_to_string(out.join("batches.csv")).expect("batches.csv");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[2].to_string(),
                f[5].to_string(),
                f[7].parse().expect("entries"),
            )
        })
        .collect()
}

#[test]
fn virtual_plant_stores_its_batches_as_rehearsal_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let recipe = repo_path("examples/recipes/car-t-modular.toml");
    for (n, db) in store::testing::urls(d).into_iter().enumerate() {
        let (out, vp) = plant(d, &recipe, &format!("db{n}"), &["--no-replan", "--db", &db]);
        let rows = batch_rows(&out);
        assert_eq!(rows.len(), 5, "{rows:?}");
        // every entry of every batch was stored, one request at a time
        let total: u64 = rows.iter().map(|r| r.2).sum();
        assert_eq!(vp["db"]["entries"].as_u64(), Some(total), "{}", vp["db"]);
        let requests = vp["db"]["requests"].as_u64().unwrap_or(0);
        assert!(
            requests > 5 * 20 && requests <= total,
            "{requests} requests"
        );
        assert!(vp["db"]["requests_per_second"].as_f64().unwrap_or(0.0) > 0.0);
        // the chains and the derived rows verify, batch by batch
        let o = run(["batch", "verify", "--db", &db]);
        assert_ok(&o, "batch verify");
        let said = stdout(&o);
        for (id, _, entries) in &rows {
            assert!(id.starts_with("VP-1-"), "batch id not marked: {id}");
            assert!(
                said.contains(&format!("batch {id}: "))
                    && said.contains(&format!(", {entries} entries")),
                "{id} with {entries} entries not verified:\n{said}"
            );
        }
        // a released batch's record reads back whole
        let (id, status, entries) = rows
            .iter()
            .find(|r| r.1 == "infused")
            .expect("an infused batch")
            .clone();
        let rep = d.join(format!("report{n}"));
        let o = run([
            "batch",
            "report",
            "--db",
            &db,
            "--batch",
            &id,
            "--out",
            &rep.display().to_string(),
        ]);
        assert_ok(&o, "batch report");
        assert!(
            stdout(&o).contains(&format!("{status}, {entries} entries")),
            "{}",
            stdout(&o)
        );
        let record = read(&rep.join("record.json"));
        assert_eq!(
            record["entries"].as_array().map(Vec::len),
            Some(entries as usize)
        );
        // the database is a rehearsal database: its clock is simulated and stands at the end
        let sdb = store::Db::connect(&db).expect("open");
        let clock = sdb
            .read(store::clock::now)
            .expect("clock")
            .expect("a rehearsal clock");
        assert!(clock.0 > 1_796_083_200, "clock {clock}"); // after 2026-12-01
        drop(sdb);
        // the same seed again: refused, nothing overwritten
        let again = d.join(format!("again{n}"));
        let o = run(plant_args(
            d,
            &recipe,
            &again,
            &["--no-replan", "--db", &db],
        ));
        assert!(!o.status.success(), "a re-run overwrote the records");
        assert_no_panic(&o);
        assert_stderr_has(&o, "already exists");
        // another seed appends under new ids, after the clock (which stands weeks after
        // 2026-12-01: the run binds on an inventory qualified beyond it)
        let (out2, _) = plant(
            d,
            &recipe,
            &format!("db{n}b"),
            &[
                "--no-replan",
                "--seed",
                "2",
                "--db",
                &db,
                "--equipment",
                &requalified_inventory(d).display().to_string(),
            ],
        );
        let o = run(["batch", "verify", "--db", &db]);
        assert_ok(&o, "batch verify after a second run");
        let said = stdout(&o);
        for (id, _, entries) in rows.iter().chain(batch_rows(&out2).iter()) {
            assert!(
                said.contains(&format!("batch {id}: ")),
                "{id} missing:\n{said}"
            );
            let line = said
                .lines()
                .find(|l| l.starts_with(&format!("batch {id}: ")))
                .unwrap_or("");
            assert!(line.contains(&format!(", {entries} entries")), "{line}");
        }
        assert_eq!(
            said.lines().filter(|l| l.starts_with("batch VP-")).count(),
            10,
            "{said}"
        );
    }
}

#[test]
fn virtual_plant_killed_mid_run_leaves_records_that_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let recipe = repo_path("examples/recipes/car-t-modular.toml");
    let db = d.join("killed.db").display().to_string();
    // ~1000 simulated hours at 10^5 times real time: about 36 s of wall time
    let args = plant_args(
        d,
        &recipe,
        &d.join("killed"),
        &["--no-replan", "--speed", "1e5", "--db", &db],
    );
    let mut child = bin().args(&args).spawn().expect("spawn");
    let t0 = std::time::Instant::now();
    let mut seen = 0;
    while t0.elapsed() < std::time::Duration::from_secs(120) && seen < 2 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        if std::path::Path::new(&db).is_file()
            && let Ok(sdb) = store::Db::connect(&db)
        {
            seen = sdb.read(store::batch::ids).map(|v| v.len()).unwrap_or(0);
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the plant ended before it was killed: {st}");
        }
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(seen >= 2, "no batches stored within 120 s");
    let o = run(["batch", "verify", "--db", &db]);
    assert_ok(&o, "batch verify after kill -9");
    let said = stdout(&o);
    assert!(
        said.lines()
            .filter(|l| l.starts_with("batch VP-1-"))
            .count()
            >= 2,
        "{said}"
    );
    // a batch in process when the plant died is still in process in its record
    assert!(
        said.lines().any(|l| !l.contains("infused")),
        "every batch finished although the plant was killed:\n{said}"
    );
}
