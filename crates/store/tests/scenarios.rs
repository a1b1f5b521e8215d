//! The planners' stored scenarios (migration 310) on SQLite and (when
//! ATMPFLOW_TEST_PG is set) PostgreSQL: every save a new version with who
//! and when, nothing overwritten, a stale save refused, deletion a last
//! version that hides the scenario from the list, the size limit, and the
//! database refusing UPDATE and DELETE of the tables.

use recipe::DateTime;
use store::scenarios::{self, MAX_TEXT, ScenarioError};
use store::{Db, StoreError, testing};

fn each_engine(test: impl Fn(&str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in testing::urls(dir.path()) {
        test(&url);
    }
}

fn at(s: i64) -> DateTime {
    DateTime::from_unix_seconds(1_796_000_000 + s)
}

#[test]
fn saves_are_versions_and_deletion_keeps_the_earlier_texts() {
    each_engine(|url| {
        let db = Db::connect(url).expect("db");
        let v1 = db
            .transaction(|tx| scenarios::create(tx, "a.toml", "x = 1\n", "paula", at(0)))
            .expect("create");
        assert_eq!((v1.id.as_str(), v1.version), ("scenario-1", 1));
        let other = db
            .transaction(|tx| scenarios::create(tx, "b.toml", "y = 2\n", "pete", at(1)))
            .expect("create");
        assert_eq!(other.id, "scenario-2");
        let v2 = db
            .transaction(|tx| scenarios::save(tx, &v1.id, 1, "a2.toml", "x = 2\n", "pete", at(60)))
            .expect("save");
        assert_eq!((v2.version, v2.by.as_str()), (2, "pete"));
        // a save on the old version is refused, nothing stored
        let stale = db
            .transaction(|tx| scenarios::save(tx, &v1.id, 1, "a.toml", "x = 3\n", "paula", at(70)));
        assert!(
            matches!(
                stale,
                Err(ScenarioError::Stale {
                    seen: 1,
                    latest: 2,
                    ..
                })
            ),
            "{stale:?}"
        );
        let latest = db.read(|tx| scenarios::get(tx, &v1.id, None)).expect("get");
        assert_eq!(
            (latest.text.as_str(), latest.name.as_str()),
            ("x = 2\n", "a2.toml")
        );
        let first = db
            .read(|tx| scenarios::get(tx, &v1.id, Some(1)))
            .expect("get 1");
        assert_eq!(
            (first.text.as_str(), first.by.as_str()),
            ("x = 1\n", "paula")
        );
        assert_eq!(first.at, at(0).to_string());
        let list = db.read(|tx| scenarios::list(tx, 100)).expect("list");
        assert_eq!(
            list.iter()
                .map(|v| (v.id.as_str(), v.version))
                .collect::<Vec<_>>(),
            [("scenario-1", 2), ("scenario-2", 1)]
        );
        // deletion: a third version; the list forgets it, the texts stay
        let d = db
            .transaction(|tx| scenarios::delete(tx, &v1.id, 2, "paula", at(120)))
            .expect("delete");
        assert!(d.deleted && d.version == 3);
        let list = db.read(|tx| scenarios::list(tx, 100)).expect("list");
        assert_eq!(
            list.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
            ["scenario-2"]
        );
        assert!(matches!(
            db.read(|tx| scenarios::get(tx, &v1.id, None)),
            Err(ScenarioError::Deleted { version: 3, .. })
        ));
        assert_eq!(
            db.read(|tx| scenarios::get(tx, &v1.id, Some(2)))
                .expect("v2")
                .text,
            "x = 2\n"
        );
        let saved_after =
            db.transaction(|tx| scenarios::save(tx, &v1.id, 3, "a.toml", "x", "paula", at(130)));
        assert!(
            matches!(saved_after, Err(ScenarioError::Deleted { .. })),
            "{saved_after:?}"
        );
        let hist = db
            .read(|tx| scenarios::versions(tx, &v1.id))
            .expect("versions");
        assert_eq!(
            hist.iter()
                .map(|v| (v.version, v.by.as_str(), v.deleted))
                .collect::<Vec<_>>(),
            [(1, "paula", false), (2, "pete", false), (3, "paula", true)]
        );
        assert!(matches!(
            db.read(|tx| scenarios::get(tx, "scenario-9", None)),
            Err(ScenarioError::NotFound(_))
        ));
    });
}

#[test]
fn too_large_or_unnamed_texts_are_refused_and_the_tables_are_append_only() {
    each_engine(|url| {
        let db = Db::connect(url).expect("db");
        let big = "#".repeat(MAX_TEXT + 1);
        let r = db.transaction(|tx| scenarios::create(tx, "big.toml", &big, "paula", at(0)));
        match r {
            Err(e @ ScenarioError::TooLarge { .. }) => {
                assert!(
                    e.to_string().contains(&format!("{} bytes", MAX_TEXT + 1)),
                    "{e}"
                );
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let r = db.transaction(|tx| scenarios::create(tx, "", "x", "paula", at(0)));
        assert!(matches!(r, Err(ScenarioError::BadName)), "{r:?}");
        assert!(
            db.read(|tx| scenarios::list(tx, 10))
                .expect("list")
                .is_empty()
        );
        db.transaction(|tx| scenarios::create(tx, "a.toml", "x", "paula", at(0)))
            .expect("create");
        for sql in [
            "UPDATE plan_scenario_versions SET text = 'changed'",
            "DELETE FROM plan_scenario_versions",
            "UPDATE plan_scenarios SET created_by = 'someone'",
            "DELETE FROM plan_scenarios",
        ] {
            let r: Result<u64, StoreError> = db.transaction(|tx| tx.execute(sql, &[]));
            let e = r.expect_err(sql).to_string();
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        assert_eq!(
            db.read(|tx| scenarios::get(tx, "scenario-1", None))
                .expect("get")
                .text,
            "x"
        );
    });
}
