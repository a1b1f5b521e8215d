//! The plant's lot register in the database, on SQLite and (when
//! ATMPFLOW_TEST_PG is set) PostgreSQL: registration, bad input that stores
//! nothing, status changes with their append-only history, keyset paging and
//! the register the engine checks lots against.

use batch::engine::LotStatus;
use recipe::{Date, DateTime};
use store::lots::{self, LotError, NewLot};
use store::{Db, StoreError, testing};

fn t(s: &str) -> DateTime {
    DateTime::parse(s).expect("timestamp")
}

fn d(s: &str) -> Date {
    Date::parse(s).expect("date")
}

fn new(material: &str, lot: &str, status: LotStatus) -> NewLot {
    NewLot {
        material: material.into(),
        lot: lot.into(),
        expiry: d("2027-03-01"),
        status,
        reason: None,
    }
}

fn rows(db: &Db, table: &str) -> i64 {
    db.read(|tx| -> Result<i64, StoreError> {
        tx.query_opt(&format!("SELECT COUNT(*) FROM {table}"), &[])?
            .map_or(Ok(0), |r| r.int(0))
    })
    .expect("count")
}

fn register(db: &Db, n: &NewLot) -> Result<lots::Lot, LotError> {
    db.transaction(|tx| lots::register(tx, n, "qc1", t("2026-12-01T08:00:00Z")))
}

#[test]
fn lots_are_registered_changed_with_history_and_paged() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in testing::urls(dir.path()) {
        let db = Db::connect(&url).expect("open");
        // an empty register is not kept: the engine accepts any lot as before
        let r = db
            .read(|tx| lots::register_for_lot(tx, "CAS-1"))
            .expect("register");
        assert!(!r.is_kept());

        let l = register(&db, &new("cassette", "CAS-1", LotStatus::Quarantine)).expect("lot");
        assert_eq!((l.changes, l.status), (1, LotStatus::Quarantine));
        // bad input names the field and stores nothing
        for (bad, field) in [
            (
                new("cassette", "", LotStatus::Released),
                "lot: must not be empty",
            ),
            (
                new("", "X-1", LotStatus::Released),
                "material: must not be empty",
            ),
            (
                new("cassette", "X 1", LotStatus::Released),
                "lot: `X 1` may only contain",
            ),
            (
                NewLot {
                    reason: Some(" ".into()),
                    ..new("cassette", "X-2", LotStatus::Released)
                },
                "reason: must not be empty",
            ),
        ] {
            let e = register(&db, &bad).expect_err("refused");
            assert!(matches!(e, LotError::Invalid { .. }), "{e}");
            assert!(e.to_string().starts_with(field), "{e}");
        }
        let e = register(&db, &new("cassette", "CAS-1", LotStatus::Released)).expect_err("dup");
        assert!(matches!(e, LotError::Exists { .. }), "{e}");
        assert!(e.to_string().starts_with("lot: "), "{e}");
        // the same number for another material is another lot
        register(&db, &new("wash_buffer", "CAS-1", LotStatus::Rejected)).expect("other");
        assert_eq!(rows(&db, "material_lots"), 2);
        assert_eq!(rows(&db, "material_lot_history"), 2);
        // status changes: qa's reason kept, old and new, never the same status twice
        let change = |to: LotStatus, reason: &str, seen: Option<i64>| {
            db.transaction(|tx| {
                lots::set_status(
                    tx,
                    "cassette",
                    "CAS-1",
                    to,
                    reason,
                    seen,
                    "qa1",
                    t("2026-12-01T09:00:00Z"),
                )
            })
        };
        let e = change(LotStatus::Released, "", None).expect_err("no reason");
        assert!(e.to_string().starts_with("reason: "), "{e}");
        let e = change(LotStatus::Quarantine, "again", None).expect_err("same");
        assert!(matches!(e, LotError::Unchanged { .. }), "{e}");
        let e = change(LotStatus::Released, "CoA", Some(7)).expect_err("stale");
        assert!(matches!(e, LotError::Stale { .. }), "{e}");
        let l = change(LotStatus::Released, "CoA 4711 checked", Some(1)).expect("released");
        assert_eq!((l.changes, l.status), (2, LotStatus::Released));
        let e = db
            .transaction(|tx| {
                lots::set_status(
                    tx,
                    "cassette",
                    "NOPE",
                    LotStatus::Rejected,
                    "x",
                    None,
                    "qa1",
                    t("2026-12-01T09:00:00Z"),
                )
            })
            .expect_err("unknown");
        assert!(matches!(e, LotError::NotFound { .. }), "{e}");
        let h = db
            .read(|tx| lots::history(tx, "cassette", "CAS-1"))
            .expect("history");
        assert_eq!(h.len(), 2);
        assert_eq!(
            (h[0].old_status, h[0].new_status, h[0].actor.as_str()),
            (None, LotStatus::Quarantine, "qc1")
        );
        assert_eq!(
            (
                h[1].old_status,
                h[1].new_status,
                h[1].actor.as_str(),
                h[1].reason.as_str()
            ),
            (
                Some(LotStatus::Quarantine),
                LotStatus::Released,
                "qa1",
                "CoA 4711 checked"
            )
        );

        // the database keeps the history append-only and lets only the status move
        for sql in [
            "UPDATE material_lot_history SET reason = 'nothing' WHERE lot = 'CAS-1'",
            "DELETE FROM material_lot_history",
            "DELETE FROM material_lots",
            "UPDATE material_lots SET expiry = '2030-01-01' WHERE lot = 'CAS-1'",
            "UPDATE material_lots SET status = 'released' WHERE material = 'wash_buffer'",
        ] {
            let r = db.transaction(|tx| tx.execute(sql, &[]));
            assert!(r.is_err(), "{sql} was not refused");
        }
        assert_eq!(rows(&db, "material_lot_history"), 3);

        // the register for one lot number: every material's lot of that number
        let r = db
            .read(|tx| lots::register_for_lot(tx, "CAS-1"))
            .expect("register");
        assert!(r.is_kept());
        assert_eq!(r.lots.len(), 2);
        let r = db
            .read(|tx| lots::register_for_lot(tx, "CAS-404"))
            .expect("register");
        assert!(r.is_kept() && r.lots.is_empty(), "kept, knows none");
        let r = db
            .read(|tx| lots::register_for(tx, &["cassette"]))
            .expect("register");
        assert_eq!(r.lots.len(), 1);
        assert_eq!(r.lots[0].status, LotStatus::Released);

        // keyset paging by material and lot, and the material filter
        for i in 0..5 {
            register(&db, &new("beads", &format!("B-{i}"), LotStatus::Released)).expect("lot");
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = db
                .read(|tx| lots::list(tx, None, cursor.as_ref(), 3))
                .expect("page");
            assert!(page.len() <= 3);
            seen.extend(page.into_iter().map(|l| (l.material, l.lot)));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), 7);
        let (page, next) = db
            .read(|tx| lots::list(tx, Some("cassette"), None, 10))
            .expect("filtered");
        assert_eq!((page.len(), next), (1, None));
    }
}
