//! Versioned schema migrations, applied at start-up.
//!
//! Every migration has a version number, a name and its SQL for each engine
//! (most are the same text; identifiers in PostgreSQL get `COLLATE "C"`).
//! Version ranges keep the owners of the tables apart: 1–99 the Asset
//! Administration Shell and general tables, 100–199 users, tokens and
//! sessions, 200–299 batch records, signatures and scans, 300–399 stored
//! plant plans and the planners' scenarios. The applied versions are kept in `schema_migrations` with a
//! checksum of the SQL that ran; a database whose applied migrations differ
//! from this program's, or that is newer than this program, is refused
//! instead of being touched.

use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::engine::{Conn, Engine, Value};

/// One step of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Migration {
    fn sql(&self, engine: Engine) -> &'static str {
        match engine {
            Engine::Sqlite => self.sqlite,
            Engine::Postgres => self.postgres,
        }
    }

    fn checksum(&self, engine: Engine) -> String {
        let d = Sha256::digest(self.sql(engine).as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A migration from its version, name and file stem (`migrations/STEM.sqlite.sql` and
/// `migrations/STEM.postgres.sql`).
macro_rules! migration {
    ($version:expr, $name:expr, $stem:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/", $stem, ".sqlite.sql")),
            postgres: include_str!(concat!("../migrations/", $stem, ".postgres.sql")),
        }
    };
}

/// Every migration this program knows, in version order.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "aas", "0001_aas"),
    migration!(100, "auth", "0100_auth"),
    migration!(110, "web sessions", "0110_web_sessions"),
    migration!(200, "batch", "0200_batch"),
    migration!(201, "lots", "0201_lots"),
    migration!(290, "rehearsal clock", "0290_rehearsal_clock"),
    migration!(300, "plant plans", "0300_plans"),
    migration!(310, "planner scenarios", "0310_scenarios"),
];

/// An arbitrary constant: the PostgreSQL advisory lock that serialises
/// migrations of several processes starting at once.
const PG_MIGRATION_LOCK: i64 = 0x6174_6d70_666c_6f77;

fn now_sql(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        Engine::Postgres => "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    }
}

/// Applies the pending migrations in one transaction; the version reached.
pub(crate) fn apply(conn: &mut Conn, migrations: &[Migration]) -> Result<i64, StoreError> {
    check_order(migrations)?;
    let engine = conn.engine();
    match engine {
        Engine::Sqlite => conn.batch("BEGIN IMMEDIATE")?,
        Engine::Postgres => {
            conn.batch("BEGIN")?;
            if let Err(e) = conn.execute(
                "SELECT pg_advisory_xact_lock($1)",
                &[Value::Int(PG_MIGRATION_LOCK)],
            ) {
                let _ = conn.batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    match apply_in_tx(conn, migrations, engine) {
        Ok(v) => {
            conn.batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn check_order(migrations: &[Migration]) -> Result<(), StoreError> {
    for w in migrations.windows(2) {
        if w[0].version >= w[1].version {
            return Err(StoreError::Schema(format!(
                "migrations out of order: {} ({}) before {} ({})",
                w[0].version, w[0].name, w[1].version, w[1].name
            )));
        }
    }
    Ok(())
}

fn apply_in_tx(
    conn: &mut Conn,
    migrations: &[Migration],
    engine: Engine,
) -> Result<i64, StoreError> {
    conn.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )?;
    let applied = conn.query(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
        &[],
    )?;
    let mut reached = 0;
    for row in &applied {
        let (v, name, sum) = (row.int(0)?, row.text(1)?, row.text(2)?);
        let Some(m) = migrations.iter().find(|m| m.version == v) else {
            return Err(StoreError::Schema(format!(
                "the database has migration {v} ({name}), which this program does not know: \
                 it was written by a newer or different version of atmpflow"
            )));
        };
        if m.name != name || m.checksum(engine) != sum {
            return Err(StoreError::Schema(format!(
                "migration {v} ({name}) applied to this database differs from this program's \
                 migration {v} ({}); refusing to use it",
                m.name
            )));
        }
        reached = reached.max(v);
    }
    for m in migrations {
        if applied.iter().any(|r| r.int(0).ok() == Some(m.version)) {
            continue;
        }
        conn.batch(m.sql(engine)).map_err(|e| {
            StoreError::Schema(format!("migration {} ({}) failed: {e}", m.version, m.name))
        })?;
        conn.execute(
            &format!(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
                 VALUES ($1, $2, $3, {})",
                now_sql(engine)
            ),
            &[
                Value::Int(m.version),
                m.name.into(),
                m.checksum(engine).into(),
            ],
        )?;
        reached = reached.max(m.version);
    }
    Ok(reached)
}
