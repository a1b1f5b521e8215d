//! Persistence, atomicity, paging, concurrency and migrations of the store,
//! on SQLite and (when ATMPFLOW_TEST_PG is set) on PostgreSQL.

use std::process::Command;

use store::{Db, Filter, Kind, StoreError, Value, testing};

#[derive(Debug)]
enum E {
    Store(StoreError),
    Rejected,
}
impl From<StoreError> for E {
    fn from(e: StoreError) -> Self {
        E::Store(e)
    }
}

fn each_engine(test: impl Fn(&str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in testing::urls(dir.path()) {
        test(&url);
    }
}

/// A new temporary folder (removed when dropped) and the path of file `name` in it.
fn db_file(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    (dir, path)
}

/// Runs `test` on a new database of each engine.
fn each_db(test: impl Fn(&Db)) {
    each_engine(|url| test(&Db::connect(url).expect("open")));
}

/// Writes record `id` of `kind` in a transaction of its own.
fn put(db: &Db, kind: Kind, id: &str, body: &[u8]) -> Result<(), E> {
    db.transaction(|tx| -> Result<(), E> { Ok(tx.put(kind, id, body)?) })
}

/// The first page of shells that filter `f` selects.
fn shells(db: &Db, f: &Filter) -> store::Page {
    db.read(|tx| tx.page(Kind::Shell, f, None, None))
        .expect("page")
}

#[test]
fn survives_reopen() {
    each_engine(|url| {
        {
            let s = Db::connect(url).expect("open");
            s.transaction(|tx| -> Result<(), E> {
                tx.create(Kind::Shell, "urn:a", br#"{"id":"urn:a"}"#)?;
                tx.create(Kind::Submodel, "urn:s", br#"{"id":"urn:s"}"#)?;
                Ok(())
            })
            .expect("write");
        }
        let s = Db::connect(url).expect("reopen");
        assert_eq!(
            s.get(Kind::Shell, "urn:a").expect("get").as_deref(),
            Some(&br#"{"id":"urn:a"}"#[..])
        );
        assert_eq!(s.count(Kind::Submodel).expect("count"), 1);
        assert_eq!(s.get(Kind::Shell, "urn:missing").expect("get"), None);
        assert_eq!(
            s.schema_version(),
            store::migrate::MIGRATIONS.last().map_or(0, |m| m.version)
        );
    });
}

#[cfg(unix)]
#[test]
fn sqlite_file_is_private_and_in_wal_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = db_file("new.db");
    let db = Db::open(&path).expect("open");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let r = db
        .read(|tx| tx.query("PRAGMA journal_mode", &[]))
        .expect("pragma");
    assert_eq!(r[0].text(0).expect("text"), "wal");
}

#[test]
fn failed_write_leaves_nothing() {
    each_db(|s| {
        put(s, Kind::Shell, "keep", b"1").expect("write");
        // first change succeeds, then the closure fails: neither may be stored
        let r = s.transaction(|tx| -> Result<(), E> {
            tx.put(Kind::Shell, "keep", b"changed")?;
            tx.put(Kind::Submodel, "new", b"2")?;
            Err(E::Rejected)
        });
        assert!(matches!(r, Err(E::Rejected)));
        // a conflict in the second operation rolls back the first
        let r = s.transaction(|tx| -> Result<(), E> {
            tx.put(Kind::Submodel, "new", b"2")?;
            tx.create(Kind::Shell, "keep", b"dup")?;
            Ok(())
        });
        assert!(matches!(r, Err(E::Store(StoreError::Conflict { .. }))));
        assert_eq!(
            s.get(Kind::Shell, "keep").expect("get").as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(s.get(Kind::Submodel, "new").expect("get"), None);
        assert!(matches!(
            s.transaction(|tx| -> Result<(), E> { Ok(tx.replace(Kind::Shell, "nope", b"x")?) }),
            Err(E::Store(StoreError::NotFound { .. }))
        ));
        assert!(matches!(
            s.transaction(|tx| -> Result<(), E> { Ok(tx.remove(Kind::Shell, "nope")?) }),
            Err(E::Store(StoreError::NotFound { .. }))
        ));
        // a failing SQL statement whose error the closure swallows still
        // keeps the transaction from committing
        let r = s.transaction(|tx| -> Result<(), E> {
            tx.put(Kind::Shell, "swallowed", b"1")?;
            let _ = tx.execute("INSERT INTO no_such_table VALUES (1)", &[]);
            Ok(())
        });
        assert!(matches!(r, Err(E::Store(StoreError::Db(_)))), "{r:?}");
        assert_eq!(s.get(Kind::Shell, "swallowed").expect("get"), None);
        // JSON that is not UTF-8 text is refused
        let r = put(s, Kind::Shell, "bin", &[0xff, 0xfe]);
        assert!(matches!(r, Err(E::Store(StoreError::Invalid { .. }))));
    });
}

#[test]
fn panicking_write_leaves_nothing() {
    each_db(|s| {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = s.transaction(|tx| -> Result<(), E> {
                tx.put(Kind::Shell, "half", b"x")?;
                panic!("interrupted");
            });
        }));
        assert!(r.is_err());
        assert_eq!(s.get(Kind::Shell, "half").expect("get"), None);
        // the database is still usable
        put(s, Kind::Shell, "after", b"y").expect("write");
        assert_eq!(s.list(Kind::Shell).expect("list").len(), 1);
    });
}

fn shell(
    id: &str,
    id_short: &str,
    global: &str,
    specific: &[(&str, &str)],
    subs: &[&str],
) -> Vec<u8> {
    let spec: Vec<_> = specific
        .iter()
        .map(|(n, v)| serde_json::json!({"name": n, "value": v}))
        .collect();
    let refs: Vec<_> = subs
        .iter()
        .map(|s| serde_json::json!({"type": "ModelReference", "keys": [{"type": "Submodel", "value": s}]}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "id": id, "idShort": id_short, "modelType": "AssetAdministrationShell",
        "assetInformation": {"assetKind": "Instance", "globalAssetId": global, "specificAssetIds": spec},
        "submodels": refs,
    }))
    .expect("json")
}

#[test]
fn filtered_pages_use_the_indexes() {
    each_db(|s| {
        s.transaction(|tx| -> Result<(), E> {
            for i in 0..50 {
                let id = format!("urn:shell:{i:03}");
                let short = if i % 2 == 0 { "even" } else { "odd" };
                let serial = format!("SN{i}");
                let subs = [format!("urn:sm:{}", i % 5)];
                let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
                tx.put(
                    Kind::Shell,
                    &id,
                    &shell(&id, short, &format!("urn:asset:{i}"), &[("serial", &serial)], &subs),
                )?;
            }
            for i in 0..5 {
                let id = format!("urn:sm:{i}");
                let sem = if i < 2 { "urn:sem:cap" } else { "urn:sem:qual" };
                tx.put(
                    Kind::Submodel,
                    &id,
                    &serde_json::to_vec(&serde_json::json!({
                        "id": id, "idShort": "S", "semanticId": {"type": "ExternalReference", "keys": [{"type": "GlobalReference", "value": sem}]}
                    }))
                    .expect("json"),
                )?;
            }
            Ok(())
        })
        .expect("fill");
        // keyset paging over everything: pages join up without gaps or repeats
        let mut seen = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let p = s
                .read(|tx| tx.page(Kind::Shell, &Filter::default(), from.as_deref(), Some(7)))
                .expect("page");
            assert!(p.items.len() <= 7);
            seen.extend(p.items.into_iter().map(|(k, _)| k));
            match p.next {
                Some(n) => from = Some(n),
                None => break,
            }
        }
        let want: Vec<String> = (0..50).map(|i| format!("urn:shell:{i:03}")).collect();
        assert_eq!(seen, want);
        // filters
        let f = Filter {
            id_short: Some("odd".into()),
            asset_ids: vec![("serial".into(), "SN7".into())],
            ..Filter::default()
        };
        let p = shells(s, &f);
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.items[0].0, "urn:shell:007");
        let f = Filter {
            asset_ids: vec![("globalAssetId".into(), "urn:asset:8".into())],
            ..Filter::default()
        };
        let p = shells(s, &f);
        assert_eq!(p.items.len(), 1);
        // a specific asset id called globalAssetId does not match the global one
        let f = Filter {
            asset_ids: vec![("globalAssetId".into(), "SN8".into())],
            ..Filter::default()
        };
        assert!(shells(s, &f).items.is_empty());
        let f = Filter {
            semantic_id: Some("urn:sem:cap".into()),
            ..Filter::default()
        };
        let p = s
            .read(|tx| tx.page(Kind::Submodel, &f, None, Some(1)))
            .expect("page");
        assert_eq!(p.items[0].0, "urn:sm:0");
        assert_eq!(p.next.as_deref(), Some("urn:sm:1"));
        // owners through the reference index; updated when a shell changes
        let owners = s
            .read(|tx| tx.shells_referencing("urn:sm:3"))
            .expect("owners");
        assert_eq!(owners.len(), 10);
        s.transaction(|tx| -> Result<(), E> {
            tx.put(
                Kind::Shell,
                "urn:shell:003",
                &shell("urn:shell:003", "odd", "g", &[], &[]),
            )?;
            tx.remove(Kind::Shell, "urn:shell:008")?;
            Ok(())
        })
        .expect("change");
        let owners = s
            .read(|tx| tx.shells_referencing("urn:sm:3"))
            .expect("owners");
        assert_eq!(owners.len(), 8);
        // discovery: by the link records alone (the server keeps a stored
        // shell's link record in step with its asset information)
        s.transaction(|tx| -> Result<(), E> {
            for (id, serial) in [
                ("urn:elsewhere", "SN9"),
                ("urn:shell:009", "SN9"),
                ("urn:shell:008", "SN8"),
            ] {
                let json = format!(r#"[{{"name":"serial","value":"{serial}"}}]"#);
                tx.put(Kind::AssetLink, id, json.as_bytes())?;
            }
            Ok(())
        })
        .expect("link");
        let (ids, next) = s
            .read(|tx| tx.lookup_shells(&[("serial".into(), "SN9".into())], None, None))
            .expect("lookup");
        assert_eq!(
            ids,
            vec!["urn:elsewhere".to_string(), "urn:shell:009".to_string()]
        );
        assert_eq!(next, None);
        // a shell's own asset ids are no link: only a link record is found
        let (ids, _) = s
            .read(|tx| tx.lookup_shells(&[("serial".into(), "SN1".into())], None, None))
            .expect("lookup");
        assert!(ids.is_empty(), "{ids:?}");
        s.transaction(|tx| -> Result<(), E> { Ok(tx.remove(Kind::AssetLink, "urn:shell:008")?) })
            .expect("unlink");
        let (ids, _) = s
            .read(|tx| tx.lookup_shells(&[("serial".into(), "SN8".into())], None, None))
            .expect("lookup");
        assert!(ids.is_empty(), "a deleted link is not found: {ids:?}");
    });
}

#[test]
fn general_sql_in_the_same_transaction() {
    each_engine(|url| {
        let s = Db::connect_with(url, &[store::migrate::MIGRATIONS[0], store::migrate::Migration {
            version: 99,
            name: "test_users",
            sqlite: "CREATE TABLE test_users (name TEXT PRIMARY KEY, n BIGINT NOT NULL, w DOUBLE PRECISION, b BLOB)",
            postgres: "CREATE TABLE test_users (name TEXT PRIMARY KEY, n BIGINT NOT NULL, w DOUBLE PRECISION, b BYTEA)",
        }])
        .expect("open");
        assert_eq!(s.schema_version(), 99);
        s.transaction(|tx| -> Result<(), E> {
            tx.execute(
                "INSERT INTO test_users (name, n, w, b) VALUES ($1, $2, $3, $4)",
                &[
                    "ana".into(),
                    7i64.into(),
                    0.5f64.into(),
                    Value::Bytes(vec![0, 1, 255]),
                ],
            )?;
            tx.put(Kind::Submodel, "urn:sm", b"{}")?;
            Ok(())
        })
        .expect("write");
        let r = s
            .read(|tx| {
                tx.query_opt(
                    "SELECT name, n, w, b FROM test_users WHERE n > $1",
                    &[5i64.into()],
                )
            })
            .expect("read")
            .expect("row");
        assert_eq!(r.text(0).expect("name"), "ana");
        assert_eq!(r.int(1).expect("n"), 7);
        assert!((r.real(2).expect("w") - 0.5).abs() < 1e-12);
        assert_eq!(r.bytes(3).expect("b"), &[0, 1, 255]);
        assert!(r.text(1).is_err(), "a number is not text");
        // a program that does not know migration 99 refuses the database
        match Db::connect(url) {
            Err(StoreError::Schema(m)) => assert!(m.contains("99"), "{m}"),
            other => panic!("expected a schema error, got {other:?}"),
        }
    });
}

#[test]
fn concurrent_read_modify_write_loses_nothing() {
    each_db(|s| {
        put(s, Kind::Submodel, "counter", b"0").expect("init");
        let threads = 4;
        let per = 25;
        std::thread::scope(|sc| {
            for _ in 0..threads {
                sc.spawn(|| {
                    for _ in 0..per {
                        s.transaction(|tx| -> Result<(), E> {
                            let b = tx.get(Kind::Submodel, "counter")?.expect("exists");
                            let n: u64 =
                                std::str::from_utf8(&b).expect("utf8").parse().expect("num");
                            tx.put(Kind::Submodel, "counter", (n + 1).to_string().as_bytes())?;
                            Ok(())
                        })
                        .expect("increment");
                    }
                });
            }
        });
        let b = s
            .get(Kind::Submodel, "counter")
            .expect("get")
            .expect("exists");
        assert_eq!(
            std::str::from_utf8(&b).expect("utf8"),
            (threads * per).to_string()
        );
    });
}

#[test]
fn stale_version_is_refused_not_lost() {
    each_engine(|url| {
        let s = Db::connect(url).expect("open");
        let other = Db::connect(url).expect("second process's view");
        put(&s, Kind::Shell, "x", b"1").expect("init");
        let mut attempts = 0;
        // the closure reads, then another writer changes the record before
        // it writes: its first attempt must not overwrite that change
        let r = s.transaction(|tx| -> Result<(), E> {
            attempts += 1;
            let cur = tx.get(Kind::Shell, "x")?.expect("exists");
            if attempts == 1 && s.engine() == store::Engine::Postgres {
                other
                    .transaction(|t2| -> Result<(), E> { Ok(t2.put(Kind::Shell, "x", b"2")?) })
                    .expect("other writer");
            }
            let mut next = cur.clone();
            next.push(b'+');
            tx.put(Kind::Shell, "x", &next)?;
            Ok(())
        });
        r.expect("retried and applied");
        let got = s.get(Kind::Shell, "x").expect("get").expect("exists");
        if s.engine() == store::Engine::Postgres {
            assert_eq!(attempts, 2, "the first attempt saw a stale version");
            assert_eq!(got, b"2+");
        } else {
            // SQLite has one writer at a time: nobody can interleave
            assert_eq!(got, b"1+");
        }
    });
}

#[test]
fn copies_verify_and_refuse_non_empty_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old.redb");
    store::legacy::write_all(
        &old,
        &[
            (
                Kind::Shell,
                "urn:a",
                &shell("urn:a", "A", "urn:asset:a", &[("serial", "1")], &["urn:s"]),
            ),
            (Kind::Submodel, "urn:s", br#"{"id":"urn:s"}"#),
            (
                Kind::AssetLink,
                "urn:b",
                br#"[{"name":"serial","value":"2"}]"#,
            ),
        ],
    )
    .expect("old file");
    assert!(store::legacy::is_redb(&old));
    let db = Db::open(&dir.path().join("new.db")).expect("new");
    let rep = store::copy::from_legacy(&old, &db).expect("migrate");
    assert_eq!(rep.rows(), 3);
    assert_eq!(
        db.read(|tx| tx.shells_referencing("urn:s")).expect("refs"),
        vec!["urn:a"]
    );
    // a second run refuses: the target holds data
    match store::copy::from_legacy(&old, &db) {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("already holds data"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // opening the old file as a new database says how to migrate it
    match Db::open(&old) {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("db migrate"), "{m}"),
        other => panic!("expected an error, got {other:?}"),
    }
    // whole-database copy (backup/restore, engine to engine)
    let mut targets = vec![dir.path().join("copy.db").display().to_string()];
    targets.extend(testing::postgres_url());
    for t in &targets {
        let dst = Db::connect(t).expect("target");
        let r = store::copy::copy(&db, &dst).expect("copy");
        assert!(
            r.tables
                .iter()
                .any(|t| t.table == "aas_asset_ids" && t.rows == 3)
        );
        assert_eq!(
            dst.get(Kind::Submodel, "urn:s").expect("get").as_deref(),
            Some(&br#"{"id":"urn:s"}"#[..])
        );
        assert!(
            store::copy::copy(&db, &dst).is_err(),
            "non-empty target refused"
        );
    }
    // online backup of SQLite
    let bak = dir.path().join("backup.db");
    db.backup_sqlite(&bak).expect("backup");
    assert!(db.backup_sqlite(&bak).is_err(), "never overwrites");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&bak).expect("meta").permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "a backup holds patient data: mode {mode:o}"
        );
    }
    let restored = Db::open(&bak).expect("open backup");
    assert_eq!(restored.count(Kind::Shell).expect("count"), 1);
}

#[cfg(unix)]
#[test]
fn read_only_database_gives_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = db_file("ro.db");
    {
        let db = Db::open(&path).expect("create");
        put(&db, Kind::Shell, "a", b"1").expect("write");
    }
    // root ignores file modes: open the file read-only through SQLite's URI instead
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400));
    let url = format!("file:{}?mode=ro", path.display());
    match Db::connect(&url) {
        Ok(db) => {
            let r = put(&db, Kind::Shell, "b", b"2");
            match r {
                Err(E::Store(StoreError::Unavailable(m))) => {
                    assert!(m.contains("read-only"), "{m}")
                }
                other => panic!("expected a read-only error, got {other:?}"),
            }
        }
        Err(StoreError::Unavailable(m) | StoreError::Schema(m)) => {
            assert!(m.contains("read-only") || m.contains("readonly"), "{m}")
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Child side of `killed_writer_leaves_whole_transactions`: writes pairs of
/// records, one transaction per pair, until it is killed.
#[test]
fn child_writer() {
    let Ok(url) = std::env::var("STORE_CHILD_DB") else {
        return;
    };
    let start: u64 = std::env::var("STORE_CHILD_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let s = Db::connect(&url).expect("open");
    for i in start..start + 1_000_000u64 {
        let id = format!("{i:08}");
        let payload = vec![b'x'; 4096];
        s.transaction(|tx| -> Result<(), E> {
            tx.put(Kind::Shell, &id, &payload)?;
            tx.put(Kind::Submodel, &id, &payload)?;
            Ok(())
        })
        .expect("write");
        // acknowledged: the parent may count on it
        println!("committed {i}");
    }
}

#[test]
fn killed_writer_leaves_whole_transactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in testing::urls(dir.path()) {
        Db::connect(&url).expect("create");
        let mut acknowledged: Vec<u64> = Vec::new();
        // repeated: kill, restart, write on, kill again
        for round in 0..3u64 {
            let exe = std::env::current_exe().expect("test binary");
            let mut child = Command::new(exe)
                .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
                .env("STORE_CHILD_DB", &url)
                .env("STORE_CHILD_START", (round * 100_000).to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn child");
            let out = child.stdout.take().expect("child stdout");
            let mut seen = 0;
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("committed ") {
                    acknowledged.push(n.parse().expect("number"));
                    seen += 1;
                    if seen >= 15 {
                        break;
                    }
                }
            }
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
        let s = Db::connect(&url).expect("reopen after kill");
        let shells = s.list(Kind::Shell).expect("list");
        let subs = s.list(Kind::Submodel).expect("list");
        for n in &acknowledged {
            let id = format!("{n:08}");
            assert!(
                shells.iter().any(|(k, _)| *k == id),
                "{url}: acknowledged write {id} is missing"
            );
        }
        let a: Vec<&String> = shells.iter().map(|(k, _)| k).collect();
        let b: Vec<&String> = subs.iter().map(|(k, _)| k).collect();
        assert_eq!(a, b, "{url}: every transaction is either whole or absent");
        assert!(shells.iter().all(|(_, v)| v.len() == 4096));
    }
}

/// A database that runs out of space refuses the change with a clear error,
/// stores nothing of it, and keeps everything committed before. The file is
/// capped with SQLite's `max_page_count` on the writing connection, which
/// gives exactly the error a full disk gives (SQLITE_FULL).
#[test]
fn full_database_gives_a_clear_error_and_keeps_what_was_stored() {
    let (_dir, path) = db_file("full.db");
    let db = Db::open(&path).expect("create");
    let kept: Vec<u8> = b"\"kept\"".to_vec();
    db.transaction(|tx| -> Result<(), E> {
        for i in 0..20 {
            tx.put(Kind::Shell, &format!("kept-{i:02}"), &kept)?;
        }
        Ok(())
    })
    .expect("first write");
    let big = format!("\"{}\"", "x".repeat(64 * 1024)).into_bytes();
    let r = db.transaction(|tx| -> Result<(), E> {
        let pages = tx.query("PRAGMA page_count", &[])?;
        let pages = pages[0].int(0).expect("page count");
        tx.query(&format!("PRAGMA max_page_count = {}", pages + 4), &[])?;
        tx.put(Kind::Shell, "kept-00", b"\"overwritten\"")?;
        for i in 0..64 {
            tx.put(Kind::Submodel, &format!("big-{i:02}"), &big)?;
        }
        Ok(())
    });
    match r {
        Err(E::Store(StoreError::Unavailable(m))) => {
            assert!(m.contains("full"), "{m}");
            assert!(m.contains("nothing of this change was stored"), "{m}");
        }
        other => panic!("expected a disk-full error, got {other:?}"),
    }
    drop(db);
    // a fresh process view: every committed record, nothing of the failed change
    let db = Db::open(&path).expect("reopen");
    assert_eq!(db.count(Kind::Shell).expect("count"), 20);
    assert_eq!(db.count(Kind::Submodel).expect("count"), 0);
    assert_eq!(
        db.get(Kind::Shell, "kept-00").expect("get").as_deref(),
        Some(&kept[..])
    );
    // and the database takes writes again once there is room
    put(&db, Kind::Submodel, "after", &big).expect("write after");
    assert_eq!(db.count(Kind::Submodel).expect("count"), 1);
}
