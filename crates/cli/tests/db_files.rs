//! Database files from the command line: commands that only read refuse a
//! missing SQLite path instead of creating an empty database; commands that
//! write create it readable by its owner only; `db backup --out` writes
//! through the one output helper (temporary file, rename, `--force`, no
//! symlink followed, nothing left on failure).

use std::path::Path;
use std::process::{Command, Output};

#[path = "support/run.rs"]
mod support;
use support::names;

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atmpflow"))
        .args(args)
        .current_dir(dir)
        .env_remove("ATMPFLOW_DB")
        .env("USER", "tester")
        .output()
        .expect("atmpflow runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{args:?} failed:\n{err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} should fail; stderr:\n{err}");
    err
}

/// Adds the token-only reader `name` to the database `db` (created if missing).
fn add_reader(dir: &Path, name: &str, db: &str) {
    ok(
        dir,
        &[
            "user",
            "add",
            name,
            "--role",
            "reader",
            "--no-password",
            "--db",
            db,
        ],
    );
}

#[test]
fn read_only_commands_refuse_a_missing_database() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    let recipe =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/recipes/car-t-modular.toml");
    let recipe = recipe.to_str().expect("utf-8");
    let cases: &[&[&str]] = &[
        &["aas", "export", "--db", "missing.db", "exported"],
        &[
            "aas",
            "find",
            "--db",
            "missing.db",
            "--capability",
            "centrifugation",
        ],
        &["batch", "verify", "--db", "missing.db"],
        &[
            "batch",
            "report",
            "--db",
            "missing.db",
            "--batch",
            "B-1",
            "--out",
            "rep",
        ],
        &["user", "list", "--db", "missing.db"],
        &["user", "audit", "--db", "missing.db"],
        &["token", "list", "--db", "missing.db"],
        &["db", "status", "--db", "missing.db"],
        &["db", "backup", "--db", "missing.db", "--out", "copy.db"],
        &["recipe", "bind", recipe, "--db", "missing.db"],
    ];
    for args in cases {
        let e = fails(dir, args);
        assert!(e.contains("no database at missing.db"), "{args:?}: {e}");
        assert!(
            names(dir).is_empty(),
            "{args:?} left {:?} behind",
            names(dir)
        );
    }
}

#[cfg(unix)]
#[test]
fn a_command_that_writes_creates_the_database_private() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().expect("tempdir");
    add_reader(d.path(), "dev", "new.db");
    let mode = std::fs::metadata(d.path().join("new.db"))
        .expect("created")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // and the read-only commands now find it
    assert!(ok(d.path(), &["user", "list", "--db", "new.db"]).contains("dev"));
}

#[test]
fn db_backup_goes_through_the_output_helper() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    add_reader(dir, "dev", "plant.db");
    ok(dir, &["db", "backup", "--db", "plant.db", "--out", "b1.db"]);
    assert!(ok(dir, &["user", "list", "--db", "b1.db"]).contains("dev"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("b1.db"))
            .expect("backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "a backup holds token hashes");
    }

    // an existing file is not replaced without --force
    std::fs::write(dir.join("keep.db"), b"precious").expect("write");
    let e = fails(
        dir,
        &["db", "backup", "--db", "plant.db", "--out", "keep.db"],
    );
    assert!(e.contains("keep.db exists") && e.contains("--force"), "{e}");
    assert_eq!(
        std::fs::read(dir.join("keep.db")).expect("read"),
        b"precious"
    );
    // with --force it is replaced by a complete backup
    ok(
        dir,
        &[
            "db", "backup", "--db", "plant.db", "--out", "keep.db", "--force",
        ],
    );
    assert!(ok(dir, &["user", "list", "--db", "keep.db"]).contains("dev"));

    // a planted symlink is never written through
    #[cfg(unix)]
    {
        std::fs::write(dir.join("victim"), b"not a database").expect("victim");
        std::os::unix::fs::symlink(dir.join("victim"), dir.join("link.db")).expect("symlink");
        let e = fails(
            dir,
            &["db", "backup", "--db", "plant.db", "--out", "link.db"],
        );
        assert!(e.contains("link.db exists"), "{e}");
        ok(
            dir,
            &[
                "db", "backup", "--db", "plant.db", "--out", "link.db", "--force",
            ],
        );
        assert_eq!(
            std::fs::read(dir.join("victim")).expect("victim"),
            b"not a database"
        );
        let meta = std::fs::symlink_metadata(dir.join("link.db")).expect("meta");
        assert!(!meta.file_type().is_symlink(), "the link was replaced");
        assert!(ok(dir, &["user", "list", "--db", "link.db"]).contains("dev"));
    }

    // a backup into a folder that does not exist fails and leaves nothing
    let e = fails(
        dir,
        &[
            "db",
            "backup",
            "--db",
            "plant.db",
            "--out",
            "no/such/dir/b.db",
        ],
    );
    assert!(e.contains("no/such/dir"), "{e}");

    // no temporary file (or its journal) is left anywhere
    let left: Vec<String> = names(dir)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn db_backup_of_postgres_is_one_complete_sqlite_file() {
    let Some(url) = store::testing::postgres_url() else {
        return;
    };
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    add_reader(dir, "pg-dev", &url);
    ok(dir, &["db", "backup", "--db", &url, "--out", "pg.db"]);
    // no scratch folder or temporary file is left (the backup's own -wal/-shm
    // may remain after the check reads it, as after any read of a database)
    let names = names(dir);
    assert!(names.iter().any(|n| n == "pg.db"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with('.')), "{names:?}");
    assert!(ok(dir, &["user", "list", "--db", "pg.db"]).contains("pg-dev"));
}
