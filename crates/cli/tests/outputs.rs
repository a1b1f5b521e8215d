//! Files the binary writes: collision-free export names, no clobbering without
//! `--force`, nothing written through a symlink, no leftovers.

use std::path::Path;
use std::process::{Command, Output};

#[path = "support/run.rs"]
mod support;
use support::{names as files, run};

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `simulate SCENARIO` (two replications, quiet) into `out`, streaming its
/// observations to `obs`.
fn simulate_args<'a>(scenario: &'a Path, out: &'a Path, obs: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    vec![
        os("simulate"),
        scenario.as_os_str(),
        os("--replications"),
        os("2"),
        os("--quiet"),
        os("--out"),
        out.as_os_str(),
        os("--observations"),
        obs.as_os_str(),
    ]
}

/// The example scenario the `simulate` tests run.
fn concept_1() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/concept-1-all-in-one.toml")
}

/// Whether `path` is a symbolic link itself (not followed).
fn is_symlink(path: impl AsRef<Path>) -> bool {
    std::fs::symlink_metadata(path)
        .expect("meta")
        .file_type()
        .is_symlink()
}

/// A new temporary folder with a database `twins.db` holding `n` shells that all have the
/// idShort `Same`: the folder and the database's path.
fn db_with_same_id_shorts(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("twins.db");
    let st = server::AppState::new(store::Db::open(&path).expect("store"), "http://x/api/v3.0");
    let shells: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({"modelType": "AssetAdministrationShell", "id": format!("urn:aas:{i}"),
                "idShort": "Same", "assetInformation": {"assetKind": "Instance", "globalAssetId": format!("urn:asset:{i}")}})
        })
        .collect();
    let env = serde_json::json!({ "assetAdministrationShells": shells });
    let env = aas::parse::parse_environment(env.to_string().as_bytes()).expect("environment");
    server::load_environment(&st, &env).expect("load");
    (d, path)
}

/// `aas export --db DB OUT`.
fn export_args<'a>(db: &'a Path, out: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    vec![
        os("aas"),
        os("export"),
        os("--db"),
        db.as_os_str(),
        out.as_os_str(),
    ]
}

#[test]
fn export_names_never_collide_and_existing_files_need_force() {
    let (d, db) = db_with_same_id_shorts(5);
    let out = d.path().join("out");
    let args = export_args(&db, &out);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let names = files(&out);
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("Same-") && n.ends_with(".json")),
        "{names:?}"
    );
    // a second export refuses to replace, and changes nothing
    let before: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(out.join(n)).expect("read"))
        .collect();
    let o = run(&args);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let after: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(out.join(n)).expect("read"))
        .collect();
    assert_eq!(before, after);
    let mut forced = args.to_vec();
    forced.push(os("--force"));
    let o = run(&forced);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files(&out), names, "no temporary file left");
}

#[cfg(unix)]
#[test]
fn a_planted_symlink_is_never_written_through() {
    let (d, db) = db_with_same_id_shorts(1);
    let out = d.path().join("out");
    std::fs::create_dir(&out).expect("out");
    let victim = d.path().join("victim.txt");
    std::fs::write(&victim, "precious").expect("victim");
    // the name the export will use, found by a first export elsewhere
    let probe = d.path().join("probe");
    let o = run(&export_args(&db, &probe));
    assert!(o.status.success(), "{}", stderr(&o));
    let name = files(&probe).pop().expect("one file");
    std::os::unix::fs::symlink(&victim, out.join(&name)).expect("symlink");
    let args = export_args(&db, &out);
    assert!(!run(&args).status.success());
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious"
    );
    let mut forced = args.to_vec();
    forced.push(os("--force"));
    assert!(run(&forced).status.success());
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious"
    );
    assert!(!is_symlink(out.join(&name)));
}

#[cfg(unix)]
#[test]
fn simulate_leaves_no_partial_files_and_never_replaces_without_force() {
    let d = tempfile::tempdir().expect("tempdir");
    let scenario = concept_1();
    let out = d.path().join("sim");
    let obs = d.path().join("obs.csv");
    let args = simulate_args(&scenario, &out, &obs);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let names = files(&out);
    assert!(
        names
            .iter()
            .all(|n| !n.contains("partial") && !n.ends_with(".tmp")),
        "{names:?}"
    );
    assert!(names.contains(&"report.html".to_string()), "{names:?}");
    let o = run(&args);
    assert!(!o.status.success(), "rerun without --force must refuse");
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let obs_before = std::fs::read(&obs).expect("observations");
    let mut forced = args.clone();
    forced.push(os("--force"));
    let o = run(&forced);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files(&out), names, "the same files, nothing left over");
    assert_eq!(
        std::fs::read(&obs).expect("observations"),
        obs_before,
        "same seed, same rows"
    );
    let leftovers: Vec<String> = files(d.path())
        .into_iter()
        .filter(|n| n.ends_with(".tmp") || n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `simulate --observations` once streamed into `NAME.partial` opened with a plain
/// create, so a symlink planted at that name was written through.
#[cfg(unix)]
#[test]
fn simulate_never_writes_through_a_planted_partial_symlink() {
    let d = tempfile::tempdir().expect("tempdir");
    let scenario = concept_1();
    let victim = d.path().join("victim.txt");
    std::fs::write(&victim, "precious").expect("victim");
    let obs = d.path().join("obs.csv");
    let out = d.path().join("sim");
    std::fs::create_dir(&out).expect("out");
    for planted in [
        d.path().join("obs.csv.partial"),
        out.join("report.html.partial"),
    ] {
        std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
    }
    let o = run(&simulate_args(&scenario, &out, &obs));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious"
    );
    let csv = std::fs::read_to_string(&obs).expect("observations");
    assert!(
        csv.starts_with("replication,"),
        "{}",
        &csv[..csv.len().min(80)]
    );
    assert!(!is_symlink(&obs));
}

/// `aas export` once left a truncated JSON file when the disk filled. The file size
/// limit (RLIMIT_FSIZE, with SIGXFSZ ignored so a write past it fails with EFBIG as
/// on a full disk) stops the export mid-file: it must fail with a message and leave
/// no file that is not whole JSON, and no temporary file.
#[cfg(unix)]
#[test]
fn export_on_a_full_disk_fails_and_leaves_no_truncated_file() {
    let d = tempfile::tempdir().expect("tempdir");
    let out = d.path().join("out");
    // 8 blocks of 512 bytes: the first environment of the demo export is larger
    let o = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 8; exec \"$0\" aas export --demo --as-of 2026-12-01 \"$1\"")
        .arg(env!("CARGO_BIN_EXE_atmpflow"))
        .arg(&out)
        .output()
        .expect("sh runs");
    assert!(
        !o.status.success(),
        "the export cannot have fitted in 4 KiB"
    );
    let err = stderr(&o);
    assert!(
        err.contains("cannot write") || err.contains("too large"),
        "{err}"
    );
    let left = if out.exists() {
        files(&out)
    } else {
        Vec::new()
    };
    for name in left {
        let bytes = std::fs::read(out.join(&name)).expect("read");
        assert!(
            name.ends_with(".json") && serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
            "{name}: {} bytes left that are not a whole export",
            bytes.len()
        );
    }
}
