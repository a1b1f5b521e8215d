//! End-to-end tests of `atmpflow recipe check | bind | diff | plan` on the example files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atmpflow"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn s(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
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
    let o = run(args![
        "recipe",
        "bind",
        repo(MODULAR).as_os_str(),
        "--equipment",
        repo(PLANT).as_os_str(),
        "--as-of",
        "2026-12-01",
        "--out",
        bound.as_os_str()
    ]);
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
    let o = run(args![
        "recipe",
        "bind",
        repo(MODULAR).as_os_str(),
        "--equipment",
        repo(PLANT).as_os_str(),
        "--as-of",
        "2028-01-01"
    ]);
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
        let o = run(args![
            "recipe",
            "plan",
            repo(recipe).as_os_str(),
            "--equipment",
            repo(inv).as_os_str(),
            "--as-of",
            "2026-12-01",
            "--replications",
            "3",
            "--out",
            out.as_os_str()
        ]);
        let (o1, e1) = s(&o);
        assert!(o.status.success(), "{o1}\n{e1}");
        let o = run(args!["validate", out.as_os_str()]);
        let (o2, e2) = s(&o);
        assert!(o.status.success(), "{o2}\n{e2}");
        assert!(o2.contains("1 product(s)"), "{o2}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
