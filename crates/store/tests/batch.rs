//! Batch records in the database, on SQLite and (when ATMPFLOW_TEST_PG is set)
//! on PostgreSQL: one transaction per request with the twin, idempotency keys,
//! optimistic concurrency, append-only guards and tamper detection.

#[path = "support/thaw.rs"]
mod thaw;

use batch::engine::recipe_sha256;
use batch::entry::Label;
use batch::rehearsal::{BoundDevices, Cast, Ordered, Rehearsal, rehearse};
use batch::{Command, LotRegister, NewOrder, Request, Stage};
use recipe::equipment::Inventory;
use recipe::{Date, DateTime};
use store::batch::{self as sb, BatchError, Outcome, RequestMeta};
use store::{Db, Kind, StoreError, testing};
use testkit::{RECIPE, fixtures, t};

const DIN: &str = "A9999251234569";
const COI: &str = "COI-2026-0042";

fn order(id: &str) -> NewOrder {
    NewOrder {
        batch: id.into(),
        patient: "PSN-7f3a".into(),
        coi: COI.into(),
        din: DIN.into(),
        planned_start: t("2026-12-01T08:00:00Z"),
        ship_step: None,
    }
}

fn label() -> Label {
    Label {
        coi: COI.into(),
        din: DIN.into(),
    }
}

/// Orders a batch of the example recipe in its own transaction, as the example planner
/// with an empty lot register.
/// Opens `order` of the example process bound to the example plant, `inventory` its
/// equipment.
fn open_order(
    db: &Db,
    order: &NewOrder,
    inventory: &Inventory,
    at: DateTime,
) -> Result<sb::Opened, BatchError> {
    let (recipe, _, binding) = fixtures();
    let cast = Cast::example();
    db.transaction(|tx| {
        sb::open(
            tx,
            order,
            RECIPE,
            &recipe,
            &binding,
            &cast.planner,
            inventory,
            &LotRegister::default(),
            at,
        )
    })
}

/// Batch `id` as stored in `db`.
fn stored(db: &Db, id: &str) -> sb::Stored {
    db.read(|tx| sb::load(tx, id))
        .expect("load")
        .unwrap_or_else(|| panic!("batch {id} is stored"))
}

fn each_engine(test: impl Fn(&str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in testing::urls(dir.path()) {
        test(&url);
    }
}

fn count(db: &Db, sql: &str) -> i64 {
    db.read(|tx| -> Result<i64, StoreError> { tx.query_opt(sql, &[])?.map_or(Ok(0), |r| r.int(0)) })
        .expect("count")
}

fn receive(key: Option<&str>, location: &str) -> Request {
    Request {
        command: Command::ReceiveApheresis {
            location: location.into(),
            scanned: label(),
        },
        key: key.map(str::to_string),
        expected_seq: None,
    }
}

#[test]
fn a_request_is_stored_once_with_its_twin_and_keys_are_idempotent() {
    let (_, inventory, _) = fixtures();
    each_engine(|url| {
        let db = Db::connect(url).expect("open");
        let opened = open_order(&db, &order("B-1"), &inventory, t("2026-12-01T07:00:00Z"))
            .expect("open batch");
        assert!(!opened.replayed);
        assert_eq!(opened.batch.stage(), Stage::Ordered);
        // ordering the same batch again returns it; another order is refused
        let again = open_order(&db, &order("B-1"), &inventory, t("2026-12-01T07:05:00Z"))
            .expect("same order");
        assert!(again.replayed);
        let mut other = order("B-1");
        other.patient = "PSN-other".into();
        let e = open_order(&db, &other, &inventory, t("2026-12-01T07:05:00Z"))
            .expect_err("other order");
        assert!(
            matches!(e, BatchError::Exists(ref id) if id == "B-1"),
            "{e}"
        );

        let run = |req: &Request, at: &str| run_on(&db, "B-1", req.clone(), t(at));
        let (first, twin) =
            run(&receive(Some("rx-1"), "room_c1"), "2026-12-01T08:00:00Z").expect("receive");
        assert!(twin.is_some(), "the twin is written with the entries");
        assert!(!first.replayed());
        assert_eq!(first.batch().stage(), Stage::ApheresisReceived);
        assert_eq!(first.version(), 2);
        let entries = count(&db, "SELECT COUNT(*) FROM batch_entries");
        // the same key and content: the first result, nothing applied twice
        let (second, twin) =
            run(&receive(Some("rx-1"), "room_c1"), "2026-12-01T08:30:00Z").expect("repeat");
        assert!(twin.is_none());
        assert!(second.replayed());
        assert_eq!(second.entries(), first.entries());
        assert_eq!(count(&db, "SELECT COUNT(*) FROM batch_entries"), entries);
        // the same key with other content is refused
        let e = run(&receive(Some("rx-1"), "elsewhere"), "2026-12-01T08:30:00Z")
            .expect_err("key reuse");
        assert!(matches!(e, BatchError::KeyReused { .. }), "{e}");
        // a request the engine refuses stores nothing
        let e = run(&receive(Some("rx-2"), "room_c1"), "2026-12-01T08:40:00Z")
            .expect_err("second receipt");
        assert!(matches!(e, BatchError::Refused(_)), "{e}");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM batch_entries"), entries);
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM batch_requests WHERE idem_key = 'rx-2'"
            ),
            0
        );
        // the twin's Batch Record submodel follows the record
        let (_, subs) = sb::twin_ids(first.batch());
        let sm = db
            .get(Kind::Submodel, &subs[0])
            .expect("get")
            .expect("twin");
        assert!(
            String::from_utf8_lossy(&sm).contains("apheresis_received"),
            "status in the submodel"
        );
        let v = db
            .read(|tx| sb::verify(tx, "B-1"))
            .expect("verify")
            .expect("verifies");
        assert_eq!(v.entries, entries as u64);
        assert_eq!(v.requests, 2);
        // reopening the database resumes the batch where its record stops
        drop(db);
        let db = Db::connect(url).expect("reopen");
        let s = stored(&db, "B-1");
        assert_eq!(s.batch.stage(), Stage::ApheresisReceived);
        assert_eq!(s.version, 2);
    });
}

#[test]
fn a_stale_head_update_is_refused_and_nothing_is_written() {
    let (recipe, inventory, _) = fixtures();
    let cast = Cast::example();
    let lots = LotRegister::default();
    each_engine(|url| {
        let db = Db::connect(url).expect("open");
        open_order(&db, &order("B-2"), &inventory, t("2026-12-01T07:00:00Z")).expect("open batch");
        // two writers read version 1; the first one's change lands
        let read = stored(&db, "B-2");
        let ctx = batch::Ctx {
            recipe: &recipe,
            inventory: &inventory,
            lots: &lots,
            now: t("2026-12-01T08:00:00Z"),
        };
        let a = read
            .batch
            .execute(&receive(None, "room_a"), &cast.operator, &ctx)
            .expect("a");
        let b = read
            .batch
            .execute(&receive(None, "room_b"), &cast.operator, &ctx)
            .expect("b");
        fn meta(hash: &Option<String>, at: DateTime) -> RequestMeta<'_> {
            RequestMeta {
                key: None,
                request: hash.as_deref().unwrap_or_default(),
                actor: "operator1",
                at,
            }
        }
        // a writer appends what it applied on the version both read
        let append = |w: &batch::engine::Applied| {
            let hash = w.entries[0].request.clone();
            db.transaction(|tx| {
                sb::append(
                    tx,
                    &read,
                    read.version,
                    &w.batch,
                    &w.entries,
                    &meta(&hash, ctx.now),
                    None,
                )
            })
        };
        append(&a).expect("first writer");
        let e = append(&b).expect_err("second writer on the old version");
        assert!(
            matches!(
                e,
                BatchError::Stale {
                    expected: 1,
                    found: 2,
                    ..
                }
            ),
            "{e}"
        );
        let s = stored(&db, "B-2");
        assert_eq!(
            s.batch.entries().len(),
            2,
            "the first change kept, the second not applied"
        );
        match &s.batch.entries()[1].body {
            batch::Body::Custody(c) => assert_eq!(c.location, "room_a"),
            other => panic!("unexpected {other:?}"),
        }
        db.read(|tx| sb::verify(tx, "B-2"))
            .expect("verify")
            .expect("verifies");
    });
}

/// Stores the twin of every equipment item (they keep the usage counters).
fn store_twins(db: &Db, inventory: &Inventory) {
    let as_of = Date::parse("2026-12-01").expect("date");
    db.transaction(|tx| -> Result<(), StoreError> {
        for e in &inventory.equipment {
            sb::write_twin(tx, aas::twins::equipment_twin(e, as_of))?;
        }
        Ok(())
    })
    .expect("twins");
}

/// The fixtures' inventory with the counters its equipment twins hold (the twins are
/// stored first unless the database has them).
fn inventory_with_twins(db: &Db) -> Inventory {
    let (_, mut inventory, _) = fixtures();
    let missing = db
        .read(|tx| store::counters::adopt(tx, &mut inventory))
        .expect("adopt");
    if !missing.is_empty() {
        store_twins(db, &inventory);
    }
    inventory
}

/// Rehearses a whole batch, storing every request as a live batch is stored
/// (the equipment twins are stored first unless the database has them).
fn rehearse_into(db: &Db, id: &str, seed: u64, excursions: f64) -> batch::Batch {
    let mut inventory = inventory_with_twins(db);
    rehearse_with(db, id, seed, excursions, &mut inventory).expect("rehearsal")
}

/// Rehearses batch `id` (on the fixtures' recipe and binding, with `inventory`), every
/// journaled step recorded in `db`; the error is the rehearsal's message.
fn rehearse_with(
    db: &Db,
    id: &str,
    seed: u64,
    excursions: f64,
    inventory: &mut Inventory,
) -> Result<batch::Batch, String> {
    let (recipe, _, binding) = fixtures();
    let mut ord = order(id);
    ord.din = "A999925123456".into();
    rehearse(
        Ordered {
            order: &ord,
            recipe: &recipe,
            recipe_sha: &recipe_sha256(RECIPE),
            binding: &binding,
        },
        inventory,
        &LotRegister::default(),
        &Cast::example(),
        &Rehearsal {
            seed,
            start: t("2026-12-01T08:00:00Z"),
            excursions,
            location: "room_c1".into(),
            clinic: "Clinic".into(),
        },
        &mut BoundDevices::new(),
        |j| {
            db.transaction(|tx| sb::record_journaled(tx, &j, RECIPE, &recipe))
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
    .map_err(|e| format!("{e:#}"))
}

fn sql(db: &Db, statement: &str) -> Result<u64, StoreError> {
    db.transaction(|tx| tx.execute(statement, &[]))
}

#[test]
fn the_database_refuses_changes_to_the_record_and_verify_names_every_tampered_row() {
    each_engine(|url| {
        let db = Db::connect(url).expect("open");
        let b = rehearse_into(&db, "B-T", 3, 0.2);
        assert_eq!(b.stage(), Stage::Infused);
        let v = db
            .read(|tx| sb::verify(tx, "B-T"))
            .expect("verify")
            .expect("the stored rehearsal verifies");
        assert_eq!(v.entries, b.entries().len() as u64);
        assert!(v.signatures > 0);

        // the database itself refuses UPDATE and DELETE of the record
        for s in [
            "UPDATE batch_entries SET actor = 'mallory' WHERE batch = 'B-T' AND seq = 2",
            "DELETE FROM batch_entries WHERE batch = 'B-T' AND seq = 2",
            "UPDATE batch_requests SET actor = 'mallory' WHERE batch = 'B-T' AND n = 2",
            "DELETE FROM batch_requests WHERE batch = 'B-T'",
            "UPDATE batch_recipes SET text = 'x'",
            "DELETE FROM batch_recipes",
            "DELETE FROM batches WHERE id = 'B-T'",
            "UPDATE batches SET patient = 'PSN-other' WHERE id = 'B-T'",
            "UPDATE batches SET head_seq = 1 WHERE id = 'B-T'",
        ] {
            let e = sql(&db, s).expect_err(s);
            let m = e.to_string();
            assert!(
                m.contains("append-only") || m.contains("refused"),
                "{s}: {m}"
            );
        }
        db.read(|tx| sb::verify(tx, "B-T"))
            .expect("verify")
            .expect("unchanged");

        // someone with the database's owner rights switches the guards off:
        // each changed row is named by verify
        testing::disable_batch_guards(&db).expect("disable guards");
        let cases: &[(&str, &str, &str, Option<u64>)] = &[
            (
                "UPDATE batch_entries SET entry = REPLACE(entry, 'room_c1', 'room_c2') WHERE batch = 'B-T' AND seq = 2",
                "UPDATE batch_entries SET entry = REPLACE(entry, 'room_c2', 'room_c1') WHERE batch = 'B-T' AND seq = 2",
                "batch_entries",
                Some(2),
            ),
            (
                "UPDATE batch_entries SET entry = REPLACE(entry, '\"batch\":\"B-T\",', '\"batch\": \"B-T\",') WHERE batch = 'B-T' AND seq = 4",
                "UPDATE batch_entries SET entry = REPLACE(entry, '\"batch\": \"B-T\",', '\"batch\":\"B-T\",') WHERE batch = 'B-T' AND seq = 4",
                "batch_entries",
                Some(4),
            ),
            (
                "UPDATE batch_entries SET actor = 'mallory' WHERE batch = 'B-T' AND seq = 5",
                "UPDATE batch_entries SET actor = 'operator1' WHERE batch = 'B-T' AND seq = 5",
                "batch_entries",
                Some(5),
            ),
            (
                "UPDATE batch_entries SET seq = 1000 WHERE batch = 'B-T' AND seq = 7",
                "UPDATE batch_entries SET seq = 7 WHERE batch = 'B-T' AND seq = 1000",
                "batch_entries",
                Some(7),
            ),
            (
                "UPDATE batch_requests SET actor = 'mallory' WHERE batch = 'B-T' AND n = 3",
                "UPDATE batch_requests SET actor = 'operator1' WHERE batch = 'B-T' AND n = 3",
                "batch_requests",
                None,
            ),
            (
                "UPDATE batch_requests SET last_seq = last_seq + 1 WHERE batch = 'B-T' AND n = 2",
                "UPDATE batch_requests SET last_seq = last_seq - 1 WHERE batch = 'B-T' AND n = 2",
                "batch_requests",
                None,
            ),
            (
                "UPDATE batch_recipes SET text = text || ' '",
                "UPDATE batch_recipes SET text = SUBSTR(text, 1, LENGTH(text) - 1)",
                "batch_recipes",
                None,
            ),
            (
                "UPDATE batches SET stage = 'released' WHERE id = 'B-T'",
                "UPDATE batches SET stage = 'infused' WHERE id = 'B-T'",
                "batches",
                None,
            ),
            (
                "UPDATE batches SET version = version + 1 WHERE id = 'B-T'",
                "UPDATE batches SET version = version - 1 WHERE id = 'B-T'",
                "batches",
                None,
            ),
            (
                "UPDATE aas_submodels SET json = REPLACE(json, 'infused', 'released') WHERE id LIKE '%B-T%'",
                "UPDATE aas_submodels SET json = REPLACE(json, '\"released\"', '\"infused\"') WHERE id LIKE '%B-T%'",
                "aas_submodels",
                None,
            ),
        ];
        for (tamper, undo, table, seq) in cases {
            assert_eq!(sql(&db, tamper).expect(tamper), 1, "{tamper}");
            let f = db
                .read(|tx| sb::verify(tx, "B-T"))
                .expect("verify")
                .expect_err(tamper);
            assert_eq!(f.table, *table, "{tamper}: {f}");
            if seq.is_some() {
                assert_eq!(f.seq, *seq, "{tamper}: {f}");
            }
            assert!(
                f.to_string().contains("B-T") || f.table == "batch_recipes",
                "{f}"
            );
            assert_eq!(sql(&db, undo).expect(undo), 1, "{undo}");
            db.read(|tx| sb::verify(tx, "B-T"))
                .expect("verify")
                .unwrap_or_else(|f| panic!("after undoing {tamper}: {f}"));
        }
        // a removed entry and a removed head row
        sql(
            &db,
            "DELETE FROM batch_entries WHERE batch = 'B-T' AND seq = 9",
        )
        .expect("delete");
        let f = db
            .read(|tx| sb::verify(tx, "B-T"))
            .expect("verify")
            .expect_err("gap");
        assert_eq!((f.table, f.seq), ("batch_entries", Some(9)), "{f}");
        // the head row cannot go while its entries are stored
        let e = sql(&db, "DELETE FROM batches WHERE id = 'B-T'").expect_err("delete head");
        assert!(e.to_string().to_lowercase().contains("foreign key"), "{e}");
        assert!(db.read(sb::orphans).expect("orphans").is_empty());
    });
}

#[test]
fn outcomes_report_what_was_stored() {
    // the accessor methods of an outcome agree with its variant
    let (_, inventory, _) = fixtures();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&dir.path().join("o.db").display().to_string()).expect("open");
    open_order(&db, &order("B-3"), &inventory, t("2026-12-01T07:00:00Z")).expect("open");
    // a wrong label at receipt is refused, but its scan and deviation are kept
    let mut wrong = receive(Some("rx-wrong"), "room_c1");
    if let Command::ReceiveApheresis { scanned, .. } = &mut wrong.command {
        scanned.coi = "COI-OTHER".into();
    }
    let (o, _) =
        run_on(&db, "B-3", wrong.clone(), t("2026-12-01T08:00:00Z")).expect("stored refusal");
    let Outcome::Refused {
        refusal, entries, ..
    } = &o
    else {
        panic!("expected a refusal, got {o:?}");
    };
    assert_eq!(refusal.code, "blocked");
    assert!(!entries.is_empty());
    // retrying the same key gives the same refusal, nothing new
    let (again, _) = run_on(&db, "B-3", wrong, t("2026-12-01T08:05:00Z")).expect("repeat");
    assert!(again.replayed());
    assert!(matches!(again, Outcome::Refused { .. }));
    assert_eq!(again.entries(), o.entries());
    db.read(|tx| sb::verify(tx, "B-3"))
        .expect("verify")
        .expect("verifies");
}

/// The counters of every equipment twin in the database, by (equipment, counter).
fn stored_counters(db: &Db, inventory: &Inventory) -> Vec<(String, String, u64, u64)> {
    db.read(|tx| -> Result<_, BatchError> {
        let mut out = Vec::new();
        for e in &inventory.equipment {
            let Some(sm) = store::counters::usage_submodel(tx, &e.id)? else {
                continue;
            };
            for c in &e.counters {
                let (used, max) =
                    aas::equipment::usage_counter(&sm, &c.name).expect("counter in the twin");
                out.push((e.id.clone(), c.name.clone(), used, max));
            }
        }
        Ok(out)
    })
    .expect("counters")
}

#[test]
fn counter_uses_reach_the_equipment_twins_with_the_entries() {
    each_engine(|url| {
        let db = Db::connect(url).expect("open");
        // without the twins the first counted use is an error naming the equipment and
        // counter, and that request stores nothing
        let (_, mut inventory, _) = fixtures();
        let start = inventory.clone();
        let err = rehearse_with(&db, "B-NOTWIN", 1, 0.0, &mut inventory)
            .expect_err("no twin to count on");
        let text = format!("{err:#}");
        assert!(
            text.contains("no twin with a UsageCounters submodel")
                && text.contains("sterile_connector_port"),
            "{text}"
        );
        let stored = stored(&db, "B-NOTWIN");
        assert!(
            !stored
                .batch
                .entries()
                .iter()
                .any(|e| matches!(e.body, batch::Body::EquipmentUsed(_))),
            "the use that could not be counted was not stored"
        );

        // with the twins, every use is counted in the twin: the stored counters are
        // exactly the rehearsal's own count, and never below the start
        let (_, inv0, _) = fixtures();
        store_twins(&db, &inv0);
        let versions_before = db
            .read(|tx| -> Result<_, BatchError> {
                let id = store::counters::usage_submodel_id(tx, "thaw_1")?.expect("thaw_1 twin");
                Ok((id.clone(), tx.version(Kind::Submodel, &id)?))
            })
            .expect("version");
        let b = rehearse_into(&db, "B-COUNT", 5, 0.0);
        assert_eq!(b.stage(), Stage::Infused);
        let mut counted = start.clone();
        batch::engine::apply_counter_uses(&mut counted, b.entries());
        let want: Vec<_> = counted
            .equipment
            .iter()
            .flat_map(|e| {
                e.counters
                    .iter()
                    .map(|c| (e.id.clone(), c.name.clone(), c.used, c.max))
            })
            .collect();
        let got = stored_counters(&db, &counted);
        assert_eq!(got, want);
        let moved = got
            .iter()
            .zip(&stored_counters_of(&start))
            .filter(|(a, b)| a.2 > b.2)
            .count();
        assert!(moved >= 3, "uses counted on {moved} counters: {got:?}");
        let after = db
            .read(|tx| tx.version(Kind::Submodel, &versions_before.0))
            .expect("version");
        assert!(after > versions_before.1, "the twin's version moved");
        db.read(|tx| sb::verify(tx, "B-COUNT"))
            .expect("verify")
            .expect("verifies");

        // a twin that lacks the counter a use names is an error naming it
        let id = versions_before.0.clone();
        db.transaction(|tx| -> Result<(), StoreError> {
            let mut sm: aas::Submodel =
                serde_json::from_slice(&tx.get(Kind::Submodel, &id)?.expect("stored"))
                    .expect("submodel");
            sm.submodel_elements.clear();
            tx.put(Kind::Submodel, &id, &serde_json::to_vec(&sm).expect("json"))
        })
        .expect("strip the counters");
        let (_, mut inventory, _) = fixtures();
        let err =
            rehearse_with(&db, "B-NOCOUNTER", 1, 0.0, &mut inventory).expect_err("no counter");
        let text = format!("{err:#}");
        assert!(
            text.contains("equipment thaw_1")
                && text.contains("no usage counter `sterile_connector_port`"),
            "{text}"
        );
    });
}

fn stored_counters_of(inv: &Inventory) -> Vec<(String, String, u64, u64)> {
    inv.equipment
        .iter()
        .flat_map(|e| {
            e.counters
                .iter()
                .map(|c| (e.id.clone(), c.name.clone(), c.used, c.max))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The replayed batches a database handle keeps between transactions
// ---------------------------------------------------------------------------

/// Opens batch `id` and brings it to its thaw step with the thaw module scanned (the
/// equipment twins are stored first unless the database has them); the thaw module's id.
fn open_at_thaw(db: &Db, id: &str) -> String {
    let (_, _, binding) = fixtures();
    let inventory = inventory_with_twins(db);
    let at = t("2026-12-01T08:00:00Z");
    open_order(db, &order(id), &inventory, at).expect("open batch");
    let device = binding
        .get("thaw", "thawing")
        .and_then(|a| a.equipment.clone())
        .expect("thaw is bound");
    run_on(db, id, receive(None, "goods-in"), at).expect("receive");
    for c in thaw::to_thaw(&label(), "A999925123456", &device) {
        run_on(db, id, Request::new(c), at).expect("to the thaw step");
    }
    device
}

/// Runs one request on batch `id` in its own transaction.
fn run_on(
    db: &Db,
    id: &str,
    req: Request,
    at: DateTime,
) -> Result<(Outcome, Option<sb::TwinWrite>), BatchError> {
    let (_, inventory, _) = fixtures();
    let cast = Cast::example();
    db.transaction(|tx| {
        sb::execute(
            tx,
            id,
            &req,
            &cast.operator,
            &inventory,
            &LotRegister::default(),
            at,
        )
    })
}

/// A block of 10 bath temperatures from `first_ms` (one per 100 ms), `hot` ones at 39 °C
/// (outside the recipe's 36–38 °C) and the rest at 37 °C.
fn series(device: &str, first_ms: i64, hot: bool) -> Request {
    Request::new(Command::RecordSeries {
        step: "thaw".into(),
        field: "bath_temperature".into(),
        unit: "°C".into(),
        device: device.into(),
        address: None,
        samples: (0..10)
            .map(|i| batch::engine::Sample {
                time_ms: first_ms + 100 * i,
                value: if hot { 39.0 } else { 37.0 },
            })
            .collect(),
    })
}

/// The time of stream block `n` (one block a second from 08:10).
fn block_ms(n: i64) -> i64 {
    t("2026-12-01T08:10:00Z").unix_seconds() * 1000 + 1000 * n
}

fn at_block(n: i64) -> DateTime {
    DateTime::from_unix_seconds(block_ms(n).div_euclid(1000) + 1)
}

/// Stream block `n` of the thaw module `device` on batch `id`, in its own transaction.
fn block(
    db: &Db,
    id: &str,
    device: &str,
    n: i64,
    hot: bool,
) -> Result<(Outcome, Option<sb::TwinWrite>), BatchError> {
    run_on(db, id, series(device, block_ms(n), hot), at_block(n))
}

/// The number of the last entry of batch `id`, replayed from the database.
fn head_seq(db: &Db, id: &str) -> u64 {
    db.read(|tx| sb::load_replayed(tx, id))
        .expect("load")
        .expect("stored")
        .batch
        .head_seq()
}

/// A new handle on `url` with batch `id` at its thaw step: the handle, the thaw module and
/// the number of the batch's last entry.
fn fresh_at_thaw(url: &str, id: &str) -> (Db, String, u64) {
    let db = Db::connect(url).expect("open");
    let device = open_at_thaw(&db, id);
    let h = head_seq(&db, id);
    (db, device, h)
}

fn verifies(db: &Db, id: &str) -> sb::Verified {
    db.read(|tx| sb::verify(tx, id))
        .expect("verify")
        .unwrap_or_else(|f| panic!("{id} does not verify: {f}"))
}

#[test]
fn a_write_by_another_handle_is_seen_by_the_next_request() {
    each_engine(|url| {
        // two handles on one database stand in for two server processes
        let first = Db::connect(url).expect("open");
        let second = Db::connect(url).expect("open again");
        let device = open_at_thaw(&first, "B-C1");
        assert!(first.is_batch_cached("B-C1"), "the handle keeps its batch");
        let h = head_seq(&first, "B-C1");
        let (o, _) = block(&first, "B-C1", &device, 0, false).expect("block 0 on the first handle");
        assert_eq!((o.entries()[0].seq, o.version()), (h + 1, 8));
        // the second handle replays the batch and appends blocks 1 and 2
        for n in 1..=2 {
            block(&second, "B-C1", &device, n, false).expect("block on the second handle");
        }
        assert!(second.is_batch_cached("B-C1"));
        // the first handle's kept state (version 8) is stale: it must not be used
        let (o, _) = block(&first, "B-C1", &device, 3, false).expect("block 3 on the first handle");
        let e = &o.entries()[0];
        assert_eq!(
            (e.seq, o.version()),
            (h + 4, 11),
            "continues the second's entries"
        );
        match &e.body {
            batch::Body::Series(b) => assert_eq!(b.block, 4, "the fourth block of the series"),
            other => panic!("unexpected {other:?}"),
        }
        // a block that overlaps one the other handle stored is refused on the fresh state
        let e = block(&second, "B-C1", &device, 3, false)
            .expect_err("block 3 again on the second handle");
        assert!(matches!(e, BatchError::Refused(_)), "{e}");
        let v = verifies(&first, "B-C1");
        assert_eq!((v.entries, v.requests), (h + 4, 11));
        for db in [&first, &second] {
            let s = stored(db, "B-C1");
            assert_eq!((s.batch.head_seq(), s.version), (h + 4, 11));
        }
    });
}

#[test]
fn a_rolled_back_transaction_leaves_no_cached_state() {
    each_engine(|url| {
        let (db, device, h) = fresh_at_thaw(url, "B-C2");
        let (_, inventory, _) = fixtures();
        let cast = Cast::example();
        // the request succeeds, then the transaction fails: nothing stored, nothing kept
        let e = db
            .transaction(|tx| -> Result<(), BatchError> {
                sb::execute(
                    tx,
                    "B-C2",
                    &series(&device, block_ms(0), false),
                    &cast.operator,
                    &inventory,
                    &LotRegister::default(),
                    at_block(0),
                )?;
                Err(BatchError::NotFound(
                    "a later step of this transaction".into(),
                ))
            })
            .expect_err("rolled back");
        assert!(matches!(e, BatchError::NotFound(_)), "{e}");
        assert!(
            !db.is_batch_cached("B-C2"),
            "the rolled-back state is not kept"
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM batch_entries WHERE batch = 'B-C2'"
            ),
            h as i64
        );
        // the same block again: the next request replays from the database and stores it
        let (o, _) = block(&db, "B-C2", &device, 0, false).expect("block 0 after the rollback");
        assert_eq!((o.entries()[0].seq, o.version()), (h + 1, 8));
        assert!(db.is_batch_cached("B-C2"));
        // a refused request drops the kept state too
        block(&db, "B-C2", &device, 0, false).expect_err("block 0 twice");
        assert!(!db.is_batch_cached("B-C2"));
        block(&db, "B-C2", &device, 1, false).expect("block 1");
        assert_eq!(verifies(&db, "B-C2").entries, h + 2);
    });
}

#[test]
fn the_kept_batches_stay_within_their_memory_budget() {
    each_engine(|url| {
        let mut db = Db::connect(url).expect("open");
        let device = open_at_thaw(&db, "B-C5");
        open_at_thaw(&db, "B-C6");
        let h = head_seq(&db, "B-C5");
        assert_eq!(head_seq(&db, "B-C6"), h, "both at their thaw step");
        // room for one batch's record and a few blocks, not for two
        let one = db
            .read(|tx| sb::load_replayed(tx, "B-C5"))
            .expect("load")
            .expect("stored")
            .batch
            .memory_estimate();
        assert!(one > 0);
        db.limit_batch_cache(8, one + 3 * (batch::engine::ENTRY_MEMORY + 12 * 10));
        block(&db, "B-C5", &device, 0, false).expect("B-C5 block 0");
        assert!(db.is_batch_cached("B-C5"));
        block(&db, "B-C6", &device, 0, false).expect("B-C6 block 0");
        assert!(db.is_batch_cached("B-C6"), "the batch just used is kept");
        assert!(
            !db.is_batch_cached("B-C5"),
            "the batch used least recently is dropped to keep the budget"
        );
        assert_eq!(db.cached_batches(), 1);
        // the dropped batch is replayed at its next request and goes on where it stood
        let (o, _) = block(&db, "B-C5", &device, 1, false).expect("B-C5 block 1");
        assert_eq!(o.entries()[0].seq, h + 2);
        assert!(db.is_batch_cached("B-C5") && !db.is_batch_cached("B-C6"));
        // a batch larger than the whole budget is still kept while it is the only one
        db.limit_batch_cache(8, 1);
        block(&db, "B-C6", &device, 1, false).expect("B-C6 block 1");
        assert!(db.is_batch_cached("B-C6"));
        assert_eq!(db.cached_batches(), 1);
        assert_eq!(verifies(&db, "B-C5").entries, h + 2);
        assert_eq!(verifies(&db, "B-C6").entries, h + 2);
    });
}

#[test]
fn series_blocks_leave_the_twin_alone_until_an_excursion_changes_it() {
    each_engine(|url| {
        let (db, device, h) = fresh_at_thaw(url, "B-C3");
        let (o, twin) = block(&db, "B-C3", &device, 0, false).expect("block in range");
        assert!(twin.is_none(), "a block in range does not change the twin");
        assert_eq!(o.entries().len(), 1);
        verifies(&db, "B-C3");
        let (o, twin) = block(&db, "B-C3", &device, 1, true).expect("block out of range");
        assert_eq!(
            o.entries().len(),
            2,
            "the block and its excursion's deviation"
        );
        assert!(twin.is_some(), "the deviation is written to the twin");
        assert_eq!(verifies(&db, "B-C3").entries, h + 3);
    });
}

#[test]
fn a_corrupted_entry_is_found_by_the_first_load_of_a_handle() {
    each_engine(|url| {
        let (db, device, h) = fresh_at_thaw(url, "B-C4");
        let bad = h + 2;
        for n in 0..3 {
            block(&db, "B-C4", &device, n, false).expect("block");
        }
        testing::disable_batch_guards(&db).expect("disable guards");
        let tamper = format!(
            "UPDATE batch_entries SET entry = REPLACE(entry, '37.0', '36.5') \
             WHERE batch = 'B-C4' AND seq = {bad}"
        );
        assert_eq!(sql(&db, &tamper).expect("tamper"), 1);
        // a new handle (a restarted server) replays every entry and checks the chain
        let fresh = Db::connect(url).expect("reopen");
        let e = fresh
            .read(|tx| sb::load(tx, "B-C4"))
            .expect_err("the altered entry is found");
        assert!(
            matches!(&e, BatchError::Corrupt { batch, message } if batch == "B-C4" && message.contains(&format!("entry {bad}: content does not match its hash"))),
            "{e}"
        );
        let e =
            block(&fresh, "B-C4", &device, 3, false).expect_err("no request on an altered record");
        assert!(matches!(e, BatchError::Corrupt { .. }), "{e}");
        assert!(!fresh.is_batch_cached("B-C4"));
        // the handle that wrote the batch still keeps it (nobody moved its head row), but a
        // full replay and `batch verify` read every row whatever a handle keeps
        assert!(db.is_batch_cached("B-C4"));
        let e = db
            .read(|tx| sb::load_replayed(tx, "B-C4"))
            .expect_err("the full replay finds the altered entry");
        assert!(matches!(e, BatchError::Corrupt { .. }), "{e}");
        let f = db
            .read(|tx| sb::verify(tx, "B-C4"))
            .expect("verify")
            .expect_err("verify names the entry");
        assert_eq!((f.table, f.seq), ("batch_entries", Some(bad)), "{f}");
    });
}
