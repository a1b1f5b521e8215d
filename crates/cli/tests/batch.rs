//! `atmpflow batch`: dry run of the generic CAR-T recipe on the example modular plant, chain
//! verification (and its failure on a tampered record file), report from a record file.

use std::path::Path;
use std::process::Command;

fn atmpflow(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_atmpflow"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn dry_run_verify_tamper_and_report() {
    let tmp = tempfile::tempdir().expect("tmp");
    let recipe = root().join("examples/recipes/car-t-modular.toml");
    let equipment = root().join("examples/equipment/modular-plant.toml");
    let out = tmp.path().join("run");
    let o = atmpflow(
        tmp.path(),
        &[
            "batch",
            "dry-run",
            recipe.to_str().expect("utf8"),
            "--equipment",
            equipment.to_str().expect("utf8"),
            "--seed",
            "5",
            "--excursions",
            "0.2",
            "--out",
            out.to_str().expect("utf8"),
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.starts_with("batch DRYRUN-1: infused after "),
        "{stdout}"
    );
    for f in ["record.json", "record.html", "batch-twin.aas.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let record = out.join("record.json");
    let o = atmpflow(
        tmp.path(),
        &["batch", "verify", record.to_str().expect("utf8")],
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("signature(s) verified"));
    // Change one stored value outside the program: verification fails naming the entry.
    let text = std::fs::read_to_string(&record).expect("read");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let entries = json["entries"].as_array_mut().expect("entries");
    let (i, e) = entries
        .iter_mut()
        .enumerate()
        .find(|(_, e)| e["body"]["type"] == "value")
        .expect("a value");
    let seq = e["seq"].as_u64().expect("seq");
    e["body"]["value"] = serde_json::json!(12345.0);
    assert!(i > 0);
    let bad = tmp.path().join("tampered.json");
    std::fs::write(&bad, serde_json::to_string(&json).expect("json")).expect("write");
    let o = atmpflow(
        tmp.path(),
        &["batch", "verify", bad.to_str().expect("utf8")],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "batch DRYRUN-1 entry {seq}: content does not match its hash"
        )),
        "{err}"
    );
    // The report from the record file; a record of another recipe version is refused.
    let again = tmp.path().join("again");
    let o = atmpflow(
        tmp.path(),
        &[
            "batch",
            "report",
            record.to_str().expect("utf8"),
            "--recipe",
            recipe.to_str().expect("utf8"),
            "--out",
            again.to_str().expect("utf8"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(again.join("record.html")).expect("html"),
        std::fs::read(out.join("record.html")).expect("html"),
        "the report from the file equals the dry run's"
    );
    let other = root().join("examples/recipes/car-t-all-in-one.toml");
    let o = atmpflow(
        tmp.path(),
        &[
            "batch",
            "report",
            record.to_str().expect("utf8"),
            "--recipe",
            other.to_str().expect("utf8"),
            "--out",
            again.to_str().expect("utf8"),
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("runs recipe car_t_modular"));
    // Malformed record files are refused with file, line and column.
    let junk = tmp.path().join("junk.json");
    std::fs::write(
        &junk,
        "{\"format\": \"atmpflow-batch-record/1\",\n \"batch\": 7}",
    )
    .expect("w");
    let o = atmpflow(
        tmp.path(),
        &["batch", "verify", junk.to_str().expect("utf8")],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("junk.json:2:"), "{err}");
}

#[test]
fn dry_run_refuses_bad_arguments() {
    let tmp = tempfile::tempdir().expect("tmp");
    let recipe = root().join("examples/recipes/car-t-modular.toml");
    let equipment = root().join("examples/equipment/modular-plant.toml");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "batch",
            "dry-run",
            recipe.to_str().expect("utf8"),
            "--equipment",
            equipment.to_str().expect("utf8"),
            "--out",
            "out",
        ];
        args.extend_from_slice(extra);
        atmpflow(tmp.path(), &args)
    };
    let o = run(&["--din", "A999926000002X"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("din: check character"));
    let o = run(&["--start", "2026-12-01T08:00:00"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--start"));
    let o = run(&["--excursions", "2"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("between 0 and 1"));
}
