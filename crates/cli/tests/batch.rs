//! `atmpflow batch`: dry run of the generic CAR-T recipe on the example modular plant, chain
//! verification (and its failure on a tampered record file), report from a record file.

use std::path::Path;
use std::process::{Command, Output};

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

/// `batch dry-run` of the generic CAR-T recipe on the example modular plant, with `extra`
/// arguments, run in `dir`.
fn dry_run(dir: &Path, extra: &[&str]) -> Output {
    let recipe = root().join("examples/recipes/car-t-modular.toml");
    let equipment = root().join("examples/equipment/modular-plant.toml");
    let mut args = vec![
        "batch",
        "dry-run",
        recipe.to_str().expect("utf8"),
        "--equipment",
        equipment.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    atmpflow(dir, &args)
}

/// The standard output of a command that must succeed (its error output says why not).
fn ok_stdout(o: &Output) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

#[test]
fn dry_run_verify_tamper_and_report() {
    let tmp = tempfile::tempdir().expect("tmp");
    let recipe = root().join("examples/recipes/car-t-modular.toml");
    let out = tmp.path().join("run");
    let o = dry_run(
        tmp.path(),
        &[
            "--seed",
            "5",
            "--excursions",
            "0.2",
            "--out",
            out.to_str().expect("utf8"),
        ],
    );
    let stdout = ok_stdout(&o);
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
    let report_with = |recipe: &Path| {
        atmpflow(
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
        )
    };
    let o = report_with(&recipe);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(again.join("record.html")).expect("html"),
        std::fs::read(out.join("record.html")).expect("html"),
        "the report from the file equals the dry run's"
    );
    let other = root().join("examples/recipes/car-t-all-in-one.toml");
    let o = report_with(&other);
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
    let run = |extra: &[&str]| {
        let mut args = vec!["--out", "out"];
        args.extend_from_slice(extra);
        dry_run(tmp.path(), &args)
    };
    let o = run(&["--din", "A999926000002X"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("din: check character"));
    let o = run(&["--start", "2026-12-01T08:00:00"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--start"));
    let o = run(&["--excursions", "2"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("between 0 and 1"));
}

fn sql(db: &store::Db, statement: &str) {
    let n = db
        .transaction(|tx| tx.execute(statement, &[]))
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    assert_eq!(n, 1, "{statement}");
}

#[test]
fn dry_run_into_the_database_verify_names_tampered_rows_and_report() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file_run = tmp.path().join("file-run");
    for url in store::testing::urls(tmp.path()) {
        let shown = store::redact(&url);
        let run = |extra: &[&str]| {
            let mut args = vec!["--seed", "5", "--excursions", "0.2", "--db", &url];
            args.extend_from_slice(extra);
            dry_run(tmp.path(), &args)
        };
        let o = run(&["--out", file_run.to_str().expect("utf8"), "--force"]);
        let stdout = ok_stdout(&o);
        assert!(stdout.contains("infused after"), "{stdout}");
        assert!(stdout.contains("stored in"), "{stdout}");
        // the same batch id again is refused, the stored batch untouched
        let o = run(&[]);
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("batch DRYRUN-1 already exists"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let verify = |batch: Option<&str>| {
            let mut args = vec!["batch", "verify", "--db", &url];
            if let Some(b) = batch {
                args.extend_from_slice(&["--batch", b]);
            }
            atmpflow(tmp.path(), &args)
        };
        let o = verify(None);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{shown}: {stdout}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout.starts_with("batch DRYRUN-1: infused, "), "{stdout}");
        assert!(stdout.contains("signature(s) and"), "{stdout}");
        let o = verify(Some("NO-SUCH-BATCH"));
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("no batch NO-SUCH-BATCH"));
        // the report from the database equals the report of the same rehearsal's file
        let from_db = tmp.path().join("from-db");
        let report_from_db = || {
            atmpflow(
                tmp.path(),
                &[
                    "--force",
                    "batch",
                    "report",
                    "--db",
                    &url,
                    "--batch",
                    "DRYRUN-1",
                    "--out",
                    from_db.to_str().expect("utf8"),
                ],
            )
        };
        let o = report_from_db();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for f in ["record.json", "record.html", "batch-twin.aas.json"] {
            assert_eq!(
                std::fs::read(from_db.join(f)).expect("db report"),
                std::fs::read(file_run.join(f)).expect("file report"),
                "{f}"
            );
        }
        // a row changed outside the program in any batch table is named, and no report
        // is written from it
        let db = store::Db::connect(&url).expect("open");
        store::testing::disable_batch_guards(&db).expect("guards off");
        let cases = [
            (
                "UPDATE batch_entries SET entry = REPLACE(entry, 'Oskar', 'Oscar') WHERE batch = 'DRYRUN-1' AND seq = 3",
                "UPDATE batch_entries SET entry = REPLACE(entry, 'Oscar', 'Oskar') WHERE batch = 'DRYRUN-1' AND seq = 3",
                "batch_entries batch DRYRUN-1 entry 3: ",
            ),
            (
                "UPDATE batch_entries SET hash = prev WHERE batch = 'DRYRUN-1' AND seq = 6",
                "UPDATE batch_entries SET hash = (SELECT e.prev FROM batch_entries e WHERE e.batch = 'DRYRUN-1' AND e.seq = 7) WHERE batch = 'DRYRUN-1' AND seq = 6",
                "batch_entries batch DRYRUN-1 entry 6: ",
            ),
            (
                "UPDATE batch_requests SET actor = 'mallory' WHERE batch = 'DRYRUN-1' AND n = 2",
                "UPDATE batch_requests SET actor = 'operator1' WHERE batch = 'DRYRUN-1' AND n = 2",
                "batch_requests batch DRYRUN-1 request 2: ",
            ),
            (
                "UPDATE batch_recipes SET recipe_id = 'other'",
                "UPDATE batch_recipes SET recipe_id = 'car_t_modular'",
                "batch_recipes recipe ",
            ),
            (
                "UPDATE batches SET din = 'A999926000002' WHERE id = 'DRYRUN-1'",
                "UPDATE batches SET din = 'A999926000001' WHERE id = 'DRYRUN-1'",
                "batches batch DRYRUN-1: column din",
            ),
        ];
        for (tamper, undo, named) in cases {
            sql(&db, tamper);
            let o = verify(Some("DRYRUN-1"));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success(), "{tamper}");
            assert!(err.contains(named), "{tamper}: {err}");
            let o = report_from_db();
            assert!(
                !o.status.success(),
                "report from a tampered record: {tamper}"
            );
            sql(&db, undo);
            assert!(verify(None).status.success(), "after undoing {tamper}");
        }
        // the equipment twins the first rehearsal stored keep counting: a second batch
        // starts from their counters and moves them on
        let port = |db: &store::Db| {
            db.read(|tx| -> Result<u64, store::batch::BatchError> {
                let sm = store::counters::usage_submodel(tx, "thaw_1")?.expect("thaw_1 twin");
                Ok(aas::equipment::usage_counter(&sm, "sterile_connector_port")
                    .expect("counter")
                    .0)
            })
            .expect("counter")
        };
        let first = port(&db);
        assert!(first > 112, "the file says 112 before any batch: {first}");
        let o = run(&[
            "--batch",
            "DRYRUN-2",
            "--din",
            "A999926000002",
            "--coi",
            "COI-2",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let second = port(&db);
        assert_eq!(second - first, first - 112, "{shown}: same uses again");
        assert!(verify(None).status.success());
    }
}

#[test]
fn lots_are_registered_listed_and_changed_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("lots.db");
    let db = db.to_str().expect("utf8");
    let run = |args: &[&str]| {
        let mut all = vec!["lot"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--db", db]);
        atmpflow(tmp.path(), &all)
    };
    let o = run(&["add", "cassette", "CAS-1", "--expiry", "2027-03-01"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (args, says) in [
        (
            vec!["add", "cassette", "CAS-1", "--expiry", "2027-03-01"],
            "registered already",
        ),
        (
            vec!["add", "cassette", "", "--expiry", "2027-03-01"],
            "lot: must not be empty",
        ),
        (
            vec!["add", "cassette", "CAS-2", "--expiry", "2027-02-30"],
            "--expiry",
        ),
        (
            vec![
                "add",
                "cassette",
                "CAS-2",
                "--expiry",
                "2027-03-01",
                "--status",
                "ok",
            ],
            "unknown status `ok`",
        ),
        (
            vec!["status", "cassette", "CAS-1", "released", "--reason", ""],
            "reason: must not be empty",
        ),
        (
            vec![
                "status",
                "cassette",
                "CAS-1",
                "quarantined",
                "--reason",
                "again",
            ],
            "quarantined already",
        ),
    ] {
        let o = run(&args);
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let o = run(&[
        "status", "cassette", "CAS-1", "released", "--reason", "CoA 4711",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["list"]);
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with("cassette\tCAS-1\t2027-03-01\treleased\tos:"),
        "{out}"
    );
    assert!(lines[1].contains("\t2\t"), "two changes: {out}");
}

#[test]
fn dry_run_until_disposition_leaves_the_batch_for_the_qualified_person() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("until.db");
    let db = db.to_str().expect("utf8");
    let o = dry_run(
        tmp.path(),
        &["--seed", "5", "--db", db, "--until-disposition"],
    );
    let stdout = ok_stdout(&o);
    assert!(
        stdout.starts_with("batch DRYRUN-1: awaiting disposition after "),
        "{stdout}"
    );
    assert!(
        stdout.contains("stopped before the disposition"),
        "{stdout}"
    );
    // what was stored is the record up to the disposition, and its chain verifies
    let o = atmpflow(tmp.path(), &["batch", "verify", "--db", db]);
    let stdout = ok_stdout(&o);
    assert!(
        stdout.starts_with("batch DRYRUN-1: awaiting disposition, "),
        "{stdout}"
    );
}
