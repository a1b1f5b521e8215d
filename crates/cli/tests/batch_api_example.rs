//! The example `examples/batch/rehearse-through-the-api.sh`: the generic CAR-T
//! process from the order to the infusion confirmation through the batch HTTP
//! API of `atmpflow serve` on a rehearsal clock, each part played by its own
//! account, on SQLite and (when ATMPFLOW_TEST_PG is set) PostgreSQL; and the
//! guards around the rehearsal clock.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "support/serve.rs"]
mod serve;
use serve::{root, run as atmpflow, text};

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

/// The command lines of the running `atmpflow serve` processes on database `url` (read from
/// /proc; none where there is no /proc).
fn servers_on(url: &str) -> Vec<String> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| {
            c.split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        })
        .filter(|args| {
            args.iter().any(|a| a == "serve")
                && args.windows(2).any(|w| w[0] == "--db" && w[1] == url)
        })
        .map(|args| args.join(" "))
        .collect()
}

#[test]
fn the_car_t_process_runs_through_the_api_from_order_to_infusion() {
    let tmp = tempfile::tempdir().expect("tmp");
    let script = root().join("examples/batch/rehearse-through-the-api.sh");
    for (i, url) in store::testing::urls(tmp.path()).iter().enumerate() {
        let work = tmp.path().join(format!("work-{i}"));
        let o = Command::new("bash")
            .arg(&script)
            .arg(url)
            .arg(&work)
            .env("ATMPFLOW", env!("CARGO_BIN_EXE_atmpflow"))
            .output()
            .expect("bash runs");
        let out = text(&o);
        assert!(o.status.success(), "{url}: {out}");
        // the script stops the server it started
        let left = servers_on(url);
        assert!(left.is_empty(), "{url}: servers still running: {left:?}");
        assert!(
            out.contains("batch CAR-T-API-1: infused after"),
            "{url}: {out}"
        );
        assert!(
            out.contains("entries equal the rehearsal's"),
            "{url}: {out}"
        );

        // the record the server stored is the in-process rehearsal's, entry for entry
        let local = read_json(&work.join("rehearsal/record.json"));
        let stored = read_json(&work.join("report/record.json"));
        let entries = local["entries"].as_array().expect("entries");
        assert!(entries.len() > 100, "{url}: {} entries", entries.len());
        assert_eq!(local["entries"], stored["entries"], "{url}");
        // every part was played by its own account, and signatures carry printed names
        let users: std::collections::BTreeSet<&str> = entries
            .iter()
            .filter_map(|e| e["by"]["user"].as_str())
            .collect();
        for u in ["planner1", "operator1", "qc1", "qa1", "qp1", "clinic1"] {
            assert!(users.contains(u), "{url}: no entry by {u}: {users:?}");
        }
        // the times are the rehearsal's: days of process, not the seconds the run took
        let first = entries[0]["at"].as_str().expect("at");
        let last = entries[entries.len() - 1]["at"].as_str().expect("at");
        let days = (recipe::DateTime::parse(last).expect("t").unix_seconds()
            - recipe::DateTime::parse(first).expect("t").unix_seconds())
            / 86_400;
        assert!((7..=30).contains(&days), "{url}: {first} .. {last}");
        assert!(work.join("report/record.html").is_file(), "{url}");

        let db = store::Db::connect(url).expect("db");
        let s = db
            .read(|tx| store::batch::get_summary(tx, "CAR-T-API-1"))
            .expect("read")
            .expect("stored");
        assert_eq!(s.stage, "infused", "{url}");
        // the simulated clock stays in the database, where the run left it
        let clock = db
            .read(store::clock::now)
            .expect("clock")
            .expect("rehearsal");
        assert_eq!(clock.rfc3339(), last, "{url}");

        // a server on the system clock refuses the rehearsal database
        let o = atmpflow(&["serve", "--bind", "127.0.0.1:0", "--db", url], None);
        assert!(!o.status.success(), "{url}");
        assert!(
            text(&o).contains("is a rehearsal database"),
            "{url}: {}",
            text(&o)
        );
    }
}

/// A people file whose parts are all played by one administrator.
fn people(dir: &Path, token: &str) -> PathBuf {
    let mut s = String::new();
    for part in ["planner", "operator", "qc", "qa", "qp", "clinic", "clock"] {
        s.push_str(&format!("[{part}]\ntoken = \"{token}\"\n"));
    }
    let p = dir.join("people.toml");
    std::fs::write(&p, s).expect("write");
    p
}

/// `serve --rehearsal-clock CLOCK` on `url` is refused with `message`.
fn refused_serve(url: &str, clock: &str, message: &str) {
    let o = atmpflow(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--db",
            url,
            "--rehearsal-clock",
            clock,
        ],
        None,
    );
    assert!(!o.status.success(), "{url}");
    assert!(text(&o).contains(message), "{url}: {}", text(&o));
}

#[test]
fn the_rehearsal_clock_is_kept_apart_from_live_records() {
    let tmp = tempfile::tempdir().expect("tmp");
    let recipe = root().join("examples/recipes/car-t-modular.toml");
    let recipe = recipe.to_str().expect("utf8");
    let equipment = root().join("examples/equipment/modular-plant.toml");
    let dry_run_into = |db: &str| {
        atmpflow(
            &[
                "batch",
                "dry-run",
                recipe,
                "--equipment",
                equipment.to_str().expect("utf8"),
                "--db",
                db,
            ],
            None,
        )
    };
    for url in store::testing::urls(tmp.path()) {
        // a batch ordered through a server on the system clock
        let token = serve::account(&url, "planner1", "planner", None);
        let server = serve::Server::start(
            &url,
            &[
                "--inventory",
                equipment.to_str().expect("utf8"),
                "--as-of",
                "2026-12-01",
            ],
        );
        let order = serde_json::json!({
            "order": {"batch": "LIVE-1", "patient": "PSN-L", "coi": "COI-L",
                      "din": "A9999251234569", "planned_start": "2026-12-01T08:00:00Z"},
            "recipe": std::fs::read_to_string(recipe).expect("recipe"),
        });
        let a = serve::http(
            &server.host,
            &token,
            "POST",
            "/api/batch/v1/batches",
            "",
            &order.to_string(),
        )
        .expect("answer");
        assert_eq!(a.status, 201, "{url}: {}", a.body);
        drop(server);
        // … makes a live database: no rehearsal clock, no rehearsal into it
        refused_serve(
            &url,
            "2026-12-01T08:00:00Z",
            "holds 1 batch(es) recorded on the system clock",
        );
        let o = dry_run_into(&url);
        assert!(!o.status.success(), "{url}");
        assert!(
            text(&o).contains("holds 1 batch(es) recorded on the system clock"),
            "{url}: {}",
            text(&o)
        );
        let db = store::Db::connect(&url).expect("db");
        assert_eq!(db.read(store::clock::now).expect("clock"), None, "{url}");

        // a rehearsal into an empty database makes it a rehearsal database, whose clock
        // follows the record; a live server refuses it
        if !url.starts_with("postgres") {
            let fresh = format!("{url}-rehearsal.db");
            let o = dry_run_into(&fresh);
            assert!(o.status.success(), "{}", text(&o));
            let db = store::Db::connect(&fresh).expect("db");
            let clock = db.read(store::clock::now).expect("clock").expect("marked");
            let head = db
                .read(|tx| store::batch::entries(tx, "DRYRUN-1", 1, usize::MAX))
                .expect("entries");
            assert_eq!(
                clock.rfc3339(),
                head.last().expect("entries").at.to_string()
            );
            let o = atmpflow(&["serve", "--bind", "127.0.0.1:0", "--db", &fresh], None);
            assert!(!o.status.success());
            assert!(text(&o).contains("is a rehearsal database"), "{}", text(&o));
        }
        // a bad start time is named
        refused_serve(
            &url,
            "1 December",
            "--rehearsal-clock `1 December`: expected RFC 3339",
        );
    }
}

#[test]
fn a_rehearsal_is_not_sent_to_a_server_on_the_system_clock_or_with_a_bad_people_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("live.db");
    let db = db.to_str().expect("utf8");
    let token = serve::account(db, "admin1", "admin", None);
    let server = serve::Server::start(db, &[]);
    let url = server.root();
    let recipe = root().join("examples/recipes/car-t-modular.toml");
    let recipe = recipe.to_str().expect("utf8");
    let good = people(tmp.path(), &token);
    let run = |people: &Path| {
        atmpflow(
            &[
                "batch",
                "dry-run",
                recipe,
                "--server",
                &url,
                "--people",
                people.to_str().expect("utf8"),
            ],
            None,
        )
    };
    let o = run(&good);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("is not a rehearsal server"), "{t}");

    // a people file with an unknown part names the file and the field
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&good).expect("read") + "[surgeon]\ntoken = \"x\"\n",
    )
    .expect("write");
    let o = run(&bad);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("bad.toml") && t.contains("surgeon"), "{t}");

    // a token the server does not know is named by its part
    let unknown = tmp.path().join("unknown");
    std::fs::create_dir(&unknown).expect("dir");
    let o = run(&people(&unknown, "atf_not-a-token"));
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("people.clock") && t.contains("401"), "{t}");
}
