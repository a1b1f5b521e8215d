//! Persistence and atomicity of the store.

use std::process::Command;

use store::{Kind, Store, StoreError};

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

#[test]
fn survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("twins.redb");
    {
        let s = Store::open(&path).expect("open");
        s.write(|tx| -> Result<(), E> {
            tx.create(Kind::Shell, "urn:a", br#"{"id":"urn:a"}"#)?;
            tx.create(Kind::Submodel, "urn:s", br#"{"id":"urn:s"}"#)?;
            Ok(())
        })
        .expect("write");
    }
    let s = Store::open(&path).expect("reopen");
    assert_eq!(
        s.get(Kind::Shell, "urn:a").expect("get").as_deref(),
        Some(&br#"{"id":"urn:a"}"#[..])
    );
    assert_eq!(s.count(Kind::Submodel).expect("count"), 1);
    assert_eq!(s.get(Kind::Shell, "urn:missing").expect("get"), None);
}

#[test]
fn failed_write_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(&dir.path().join("db")).expect("open");
    s.write(|tx| -> Result<(), E> { Ok(tx.put(Kind::Shell, "keep", b"1")?) })
        .expect("write");
    // first change succeeds, then the closure fails: neither may be stored
    let r = s.write(|tx| -> Result<(), E> {
        tx.put(Kind::Shell, "keep", b"changed")?;
        tx.put(Kind::Submodel, "new", b"2")?;
        Err(E::Rejected)
    });
    assert!(matches!(r, Err(E::Rejected)));
    // a conflict in the second operation rolls back the first
    let r = s.write(|tx| -> Result<(), E> {
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
    // replace / remove of a missing record fail
    assert!(matches!(
        s.write(|tx| -> Result<(), E> { Ok(tx.replace(Kind::Shell, "nope", b"x")?) }),
        Err(E::Store(StoreError::NotFound { .. }))
    ));
    assert!(matches!(
        s.write(|tx| -> Result<(), E> { Ok(tx.remove(Kind::Shell, "nope")?) }),
        Err(E::Store(StoreError::NotFound { .. }))
    ));
}

#[test]
fn panicking_write_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(&dir.path().join("db")).expect("open");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = s.write(|tx| -> Result<(), E> {
            tx.put(Kind::Shell, "half", b"x")?;
            panic!("interrupted");
        });
    }));
    assert!(r.is_err());
    assert_eq!(s.get(Kind::Shell, "half").expect("get"), None);
    // the database is still usable
    s.write(|tx| -> Result<(), E> { Ok(tx.put(Kind::Shell, "after", b"y")?) })
        .expect("write");
    assert_eq!(s.list(Kind::Shell).expect("list").len(), 1);
}

/// Child side of `killed_writer_leaves_whole_transactions`: writes pairs of
/// records, one transaction per pair, until it is killed.
#[test]
fn child_writer() {
    let Ok(path) = std::env::var("STORE_CHILD_DB") else {
        return;
    };
    let s = Store::open(std::path::Path::new(&path)).expect("open");
    for i in 0..1_000_000u64 {
        let id = format!("{i:08}");
        let payload = vec![b'x'; 4096];
        s.write(|tx| -> Result<(), E> {
            tx.put(Kind::Shell, &id, &payload)?;
            tx.put(Kind::Submodel, &id, &payload)?;
            Ok(())
        })
        .expect("write");
        // progress for the parent (the harness runs this with --nocapture)
        println!("committed {i}");
    }
}

#[test]
fn killed_writer_leaves_whole_transactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    Store::open(&path).expect("create");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env("STORE_CHILD_DB", &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child");
    // let it commit some transactions (however slow the machine), then kill it
    // mid-stream (SIGKILL)
    let out = child.stdout.take().expect("child stdout");
    let mut seen = 0;
    for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
        let Ok(line) = line else { break };
        if line.starts_with("committed ") {
            seen += 1;
            if seen >= 20 {
                break;
            }
        }
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let s = Store::open(&path).expect("reopen after kill");
    let shells = s.list(Kind::Shell).expect("list");
    let subs = s.list(Kind::Submodel).expect("list");
    assert!(
        shells.len() >= 20,
        "the child reported 20 commits, found {}",
        shells.len()
    );
    let a: Vec<&String> = shells.iter().map(|(k, _)| k).collect();
    let b: Vec<&String> = subs.iter().map(|(k, _)| k).collect();
    assert_eq!(a, b, "every transaction is either whole or absent");
    assert!(shells.iter().all(|(_, v)| v.len() == 4096));
}
