//! End-to-end tests of `atmpflow recipe check | bind | diff | plan` on the example files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[path = "support/run.rs"]
mod support;
use support::{out_err as s, run};

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// `atmpflow recipe COMMAND RECIPE --equipment INVENTORY --as-of DAY`, then `more`.
fn recipe_on_plant(
    command: &str,
    recipe: &Path,
    inventory: &Path,
    day: &str,
    more: &[&std::ffi::OsStr],
) -> Output {
    let mut a: Vec<&std::ffi::OsStr> = args![
        "recipe",
        command,
        recipe.as_os_str(),
        "--equipment",
        inventory.as_os_str(),
        "--as-of",
        day
    ]
    .to_vec();
    a.extend_from_slice(more);
    run(&a)
}

/// Plans `recipe` on `inventory` as of 2026-12-01 with `replications` into the scenario
/// `out`, which must succeed.
fn plan(recipe: &Path, inventory: &Path, replications: &str, out: &Path) {
    let more = args!["--replications", replications, "--out", out.as_os_str()];
    let o = recipe_on_plant("plan", recipe, inventory, "2026-12-01", more);
    let (o1, e1) = s(&o);
    assert!(o.status.success(), "{o1}\n{e1}");
}

const MODULAR: &str = "examples/recipes/car-t-modular.toml";
const PLANT: &str = "examples/equipment/modular-plant.toml";
const RECORD: &str = "examples/recipes/records/car-t-modular-batch-0042.toml";

#[test]
fn check_accepts_every_example_file() {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        "examples/recipes",
        "examples/equipment",
        "examples/recipes/records",
    ] {
        for e in std::fs::read_dir(repo(dir)).expect("dir") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 5);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atmpflow"));
    cmd.arg("recipe").arg("check").args(&files);
    let o = cmd.output().expect("runs");
    let (out, err) = s(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(out.matches(": ok — ").count(), files.len(), "{out}");
    assert!(!out.contains("warning"), "{out}");
}

#[test]
fn check_reports_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("atmpflow-recipe-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let src = std::fs::read_to_string(repo(MODULAR)).expect("example");
    let bad = src.replacen(
        "capability = \"centrifugation\"",
        "capability = \"spinner\"",
        1,
    );
    let line = bad
        .lines()
        .position(|l| l.contains("\"spinner\""))
        .expect("line")
        + 1;
    let path = dir.join("bad.toml");
    std::fs::write(&path, &bad).expect("write");
    let o = run(args!["recipe", "check", path.as_os_str()]);
    let (_, err) = s(&o);
    assert!(!o.status.success());
    // miette wraps long lines to the terminal width: compare with the wrapping removed.
    let err = err
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.contains(&format!(
            "bad.toml:{line}:1: field `step[2].requires[0].capability`"
        )),
        "{err}"
    );
    assert!(err.contains("unknown capability `spinner`"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bind_then_diff_lists_the_deviations() {
    let dir = std::env::temp_dir().join(format!("atmpflow-recipe-bind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let bound = dir.join("bound.json");
    let o = recipe_on_plant(
        "bind",
        &repo(MODULAR),
        &repo(PLANT),
        "2026-12-01",
        args!["--out", bound.as_os_str()],
    );
    let (out, err) = s(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("rejected centrifuge_1: qualification expired"),
        "{out}"
    );
    assert!(out.contains("all 13 requirement(s) bound"), "{out}");

    let o = run(args![
        "recipe",
        "diff",
        repo(MODULAR).as_os_str(),
        "--bound",
        bound.as_os_str(),
        "--equipment",
        repo(PLANT).as_os_str(),
        "--record",
        repo(RECORD).as_os_str(),
        "--json"
    ]);
    let (out, err) = s(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["deviations"].as_array().map(Vec::len), Some(10), "{out}");
    assert_eq!(v["counts"]["wrong equipment"], 2);
    assert_eq!(v["counts"]["late"], 2);

    let o = run(args![
        "recipe",
        "diff",
        repo(MODULAR).as_os_str(),
        "--record",
        repo(RECORD).as_os_str(),
        "--strict"
    ]);
    assert!(!o.status.success(), "--strict fails on deviations");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bind_fails_clearly_when_nothing_fits() {
    // By 2028 every module's requalification is overdue.
    let o = recipe_on_plant("bind", &repo(MODULAR), &repo(PLANT), "2028-01-01", &[]);
    let (_, err) = s(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("no equipment fits step `thaw` requirement `thawing`"),
        "{err}"
    );
    assert!(err.contains("thaw_1: qualification expired"), "{err}");
}

#[test]
fn plan_writes_a_scenario_that_validates() {
    let dir = std::env::temp_dir().join(format!("atmpflow-recipe-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    for (i, (recipe, inv)) in [
        (MODULAR, PLANT),
        (
            "examples/recipes/car-t-all-in-one.toml",
            "examples/equipment/all-in-one.toml",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        // one file per plan: an existing output is replaced only with --force
        let out = dir.join(format!("scenario-{i}.toml"));
        plan(&repo(recipe), &repo(inv), "3", &out);
        let o = run(args!["validate", out.as_os_str()]);
        let (o2, e2) = s(&o);
        assert!(o.status.success(), "{o2}\n{e2}");
        assert!(o2.contains("1 product(s)"), "{o2}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The modular recipe with its perfusion phase steered by a soft sensor (`sensor`, relative to
/// the recipe) and `controller`.
fn controlled_recipe(sensor: &str, controller: &str) -> String {
    let text = std::fs::read_to_string(repo(MODULAR)).expect("example recipe");
    let plain = r#"phases = ["seed", "feed / perfuse", "in-process count", "decide harvest"]"#;
    assert!(
        text.contains(plain),
        "the example's expansion phases changed"
    );
    text.replace(
        plain,
        &format!(
            r#"phases = ["seed", {{ name = "feed / perfuse", soft_sensor = "{sensor}", controller = "{controller}", patients = 4, seed = 2 }}, "in-process count", "decide harvest"]"#
        ),
    )
}

/// A phase names its soft sensor and controller: `check` loads the sensor and refuses one
/// that does not estimate what the controller needs, at the recipe's field; `plan` turns the
/// step's duration into the expansion model's harvest days.
#[test]
fn a_controlled_phase_names_a_checked_soft_sensor_and_plans_with_the_model() {
    let dir = tempfile::tempdir().expect("tmp");
    // The sensor the closed loop uses, as `pat control` writes it.
    let ctl = dir.path().join("ctl");
    let o = run(args![
        "pat",
        "control",
        "--patients",
        "1",
        "--quiet",
        "--out",
        ctl.as_os_str()
    ]);
    assert!(o.status.success(), "{}", s(&o).1);
    std::fs::copy(ctl.join("sensor.json"), dir.path().join("sensor.json")).expect("copy");
    // A glucose-only calibration (PLS1): not enough for the controller.
    let cal = dir.path().join("cal");
    let o = run(args![
        "pat",
        "simulate",
        "--patients",
        "2",
        "--out",
        cal.as_os_str()
    ]);
    assert!(o.status.success(), "{}", s(&o).1);
    let reference = std::fs::read_to_string(cal.join("reference.csv")).expect("reference");
    let glucose: String = reference
        .lines()
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let glucose_csv = dir.path().join("glucose.csv");
    std::fs::write(&glucose_csv, glucose).expect("written");
    let o = run(args![
        "pat",
        "fit",
        "--spectra",
        cal.join("spectra.csv").as_os_str(),
        "--reference",
        glucose_csv.as_os_str(),
        "--components",
        "3",
        "--out",
        dir.path().join("glucose-only.json").as_os_str()
    ]);
    assert!(o.status.success(), "{}", s(&o).1);

    let good = dir.path().join("good.toml");
    std::fs::write(&good, controlled_recipe("sensor.json", "mpc")).expect("written");
    let o = run(args!["recipe", "check", good.as_os_str()]);
    let (out, err) = s(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("phase `feed / perfuse` controlled (mpc) on soft sensor")
            && out.contains("responses glucose_mM, lactate_mM, cells_1e6_per_mL"),
        "{out}"
    );

    // Bad: the sensor lacks responses, the file is missing, the controller is unknown, two
    // controlled phases.
    let line_of = |text: &str| {
        text.lines()
            .position(|l| l.contains("soft_sensor"))
            .map(|i| i + 1)
            .expect("a controlled phase")
    };
    for (name, text, field, message) in [
        (
            "glucose-only.toml",
            controlled_recipe("glucose-only.json", "mpc"),
            "step[6].phases[1].soft_sensor",
            "the controller needs lactate_mM, cells_1e6_per_mL too",
        ),
        (
            "missing.toml",
            controlled_recipe("no-such-sensor.json", "mpc"),
            "step[6].phases[1].soft_sensor",
            "no-such-sensor.json",
        ),
        (
            "unknown-controller.toml",
            controlled_recipe("sensor.json", "pid"),
            "step[6].phases[1]",
            "unknown variant `pid`",
        ),
        (
            "two-controlled.toml",
            controlled_recipe("sensor.json", "mpc").replace(
                r#""in-process count""#,
                r#"{ name = "count", controller = "mpc" }"#,
            ),
            "step[6].phases[2]",
            "phase `feed / perfuse` is already controlled",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &text).expect("written");
        let o = run(args!["recipe", "check", path.as_os_str()]);
        let (out, err) = s(&o);
        assert!(!o.status.success(), "{name} accepted:\n{out}");
        assert!(err.contains(field), "{name}: no field {field}:\n{err}");
        assert!(err.contains(message), "{name}: no `{message}`:\n{err}");
        assert!(
            err.contains(&format!("{name}:{}:", line_of(&text))),
            "{name}: not located at line {}:\n{err}",
            line_of(&text)
        );
        assert!(!err.contains("panicked"), "{err}");
    }

    // Plan: the expansion step's duration is the expansion model's; the scenario validates
    // and simulates.
    for (controller, strategy) in [("mpc", "mpc"), ("fixed_schedule", "fixed_at_dose")] {
        let recipe = dir.path().join(format!("{controller}.toml"));
        std::fs::write(&recipe, controlled_recipe("sensor.json", controller)).expect("written");
        let out = dir.path().join(format!("{controller}-scenario.toml"));
        plan(&recipe, &repo(PLANT), "2", &out);
        let scenario = std::fs::read_to_string(&out).expect("scenario");
        let table = format!(
            "dist = \"expansion_model\"\nstrategy = \"{strategy}\"\npatients = 4\nseed = 2\n"
        );
        assert!(scenario.contains(&table), "{scenario}");
        assert!(
            scenario.contains("its duration comes from the expansion model (4 patients, seed 2)"),
            "{scenario}"
        );
        let o = run(args![
            "simulate",
            out.as_os_str(),
            "--quiet",
            "--out",
            dir.path().join(format!("{controller}-run")).as_os_str()
        ]);
        let (o2, e2) = s(&o);
        assert!(o.status.success(), "{o2}\n{e2}");
    }
}
