//! Copying a whole database: between engines, into a backup file, back from
//! a backup, and from the earlier redb format. Every copy goes into an empty
//! database of the same schema version, in one transaction, and is verified
//! afterwards: per table the row count and a SHA-256 over the rows (in a
//! canonical order) must be equal on both sides.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::engine::{Engine, Row, Value};
use crate::{Db, Kind, StoreError, Tx, legacy};

/// What was copied: per table (or record kind), rows and content hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub tables: Vec<TableReport>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    pub sha256: String,
}

impl Report {
    /// Rows copied in all tables.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// The tables of the database (without `schema_migrations`), by name.
pub fn tables(tx: &mut Tx<'_>) -> Result<Vec<String>, StoreError> {
    let sql = match tx.engine() {
        Engine::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Engine::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    let mut out = Vec::new();
    for r in tx.query(sql, &[])? {
        let name = r.text(0)?.to_string();
        if name != "schema_migrations" {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0),
        Value::Int(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_be_bytes());
        }
        Value::Real(r) => {
            out.push(2);
            out.extend_from_slice(&r.to_bits().to_be_bytes());
        }
        Value::Text(s) => {
            out.push(3);
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(4);
            out.extend_from_slice(&(b.len() as u64).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// Row count and SHA-256 over the rows' canonical encodings in sorted order
/// (independent of the order the engine returns them in).
fn digest(rows: &[Row]) -> (u64, String) {
    let mut enc: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| {
            let mut b = Vec::new();
            for v in &r.values {
                encode(v, &mut b);
            }
            b
        })
        .collect();
    enc.sort();
    let mut h = Sha256::new();
    for e in &enc {
        h.update((e.len() as u64).to_be_bytes());
        h.update(e);
    }
    (
        enc.len() as u64,
        h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    )
}

fn read_tables(tx: &mut Tx<'_>) -> Result<Vec<(String, Vec<Row>)>, StoreError> {
    let mut out = Vec::new();
    for t in tables(tx)? {
        let rows = tx.query(&format!("SELECT * FROM {}", quote(&t)), &[])?;
        out.push((t, rows));
    }
    Ok(out)
}

fn report(data: &[(String, Vec<Row>)]) -> Report {
    Report {
        tables: data
            .iter()
            .map(|(t, rows)| {
                let (n, sha256) = digest(rows);
                TableReport {
                    table: t.clone(),
                    rows: n,
                    sha256,
                }
            })
            .collect(),
    }
}

/// Whether every table of the database is empty.
pub fn is_empty(db: &Db) -> Result<bool, StoreError> {
    db.read(|tx| {
        for t in tables(tx)? {
            let r = tx.query(&format!("SELECT COUNT(*) FROM {}", quote(&t)), &[])?;
            if r.first().map(|r| r.int(0)).transpose()?.unwrap_or(0) > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    })
}

fn refuse_non_empty(dst: &Db) -> Result<(), StoreError> {
    if !is_empty(dst)? {
        return Err(StoreError::Unavailable(format!(
            "{} already holds data; a copy only goes into an empty database",
            dst.location()
        )));
    }
    Ok(())
}

/// Copies every table of `src` (one consistent snapshot) into the empty
/// database `dst` in one transaction, then verifies counts and hashes.
pub fn copy(src: &Db, dst: &Db) -> Result<Report, StoreError> {
    if src.schema_version() != dst.schema_version() {
        return Err(StoreError::Schema(format!(
            "{} is at schema version {}, {} at {}",
            src.location(),
            src.schema_version(),
            dst.location(),
            dst.schema_version()
        )));
    }
    refuse_non_empty(dst)?;
    let data = src.read(read_tables)?;
    let want = report(&data);
    dst.transaction(|tx| -> Result<(), StoreError> {
        let have = tables(tx)?;
        for (t, rows) in &data {
            if !have.contains(t) {
                return Err(StoreError::Schema(format!(
                    "table {t} of {} does not exist in {}",
                    src.location(),
                    dst.location()
                )));
            }
            let Some(first) = rows.first() else { continue };
            let cols: Vec<String> = first.columns.iter().map(|c| quote(c)).collect();
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                quote(t),
                cols.join(", "),
                marks.join(", ")
            );
            for r in rows {
                tx.execute(&sql, &r.values)?;
            }
        }
        Ok(())
    })?;
    let got = report(&dst.read(read_tables)?);
    verify(&want, &got, dst.location())?;
    Ok(got)
}

fn verify(want: &Report, got: &Report, at: &str) -> Result<(), StoreError> {
    for w in &want.tables {
        match got.tables.iter().find(|g| g.table == w.table) {
            Some(g) if g == w => {}
            Some(g) => {
                return Err(StoreError::Db(format!(
                    "verification failed: table {} has {} rows (hash {}) in {at}, expected {} rows (hash {})",
                    w.table, g.rows, g.sha256, w.rows, w.sha256
                )));
            }
            None => {
                return Err(StoreError::Db(format!(
                    "verification failed: table {} is missing in {at}",
                    w.table
                )));
            }
        }
    }
    Ok(())
}

fn kind_digest(records: &[(String, Vec<u8>)]) -> (u64, String) {
    let mut h = Sha256::new();
    for (id, json) in records {
        h.update((id.len() as u64).to_be_bytes());
        h.update(id.as_bytes());
        h.update((json.len() as u64).to_be_bytes());
        h.update(json);
    }
    (
        records.len() as u64,
        h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    )
}

/// Copies every record of a redb database of the earlier format into the
/// empty database `dst` (one transaction), then verifies per kind the count
/// and a SHA-256 over (id, JSON) in id order.
pub fn from_legacy(path: &Path, dst: &Db) -> Result<Report, StoreError> {
    let records = legacy::read_all(path)?;
    refuse_non_empty(dst)?;
    dst.transaction(|tx| -> Result<(), StoreError> {
        for (kind, id, json) in &records {
            tx.create(*kind, id, json)?;
        }
        Ok(())
    })?;
    let mut want = Report::default();
    let mut got = Report::default();
    for kind in Kind::ALL {
        let mut src: Vec<(String, Vec<u8>)> = records
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, id, j)| (id.clone(), j.clone()))
            .collect();
        src.sort();
        let (n, h) = kind_digest(&src);
        want.tables.push(TableReport {
            table: kind.table().into(),
            rows: n,
            sha256: h,
        });
        let (n, h) = kind_digest(&dst.list(kind)?);
        got.tables.push(TableReport {
            table: kind.table().into(),
            rows: n,
            sha256: h,
        });
    }
    verify(&want, &got, dst.location())?;
    Ok(got)
}
