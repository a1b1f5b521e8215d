//! `store`: the one SQL database of everything the server keeps.
//!
//! Two engines behind one interface: SQLite (the default: one file, nothing to
//! install, write-ahead log, several readers and one writer) and PostgreSQL
//! (several server processes on one database). [`Db::connect`] takes a file
//! path or a `postgres://` URL, applies the pending [migrations](migrate) and
//! returns a pool of connections.
//!
//! Every change happens inside [`Db::transaction`]: the closure's changes are
//! committed together when it returns `Ok` and dropped entirely when it
//! returns `Err` or panics, so a failed or interrupted write leaves nothing
//! partial behind. One request is one transaction. Records read in a
//! transaction are written back only if nobody changed them meanwhile (each
//! row carries a version); when another process won the race the whole
//! closure runs again on the new state, a few times, before the change is
//! refused with [`StoreError::Retry`]. [`Db::read`] gives a consistent
//! read-only snapshot.
//!
//! Besides the AAS records ([`Kind`], [`Tx::get`], [`Tx::put`], …, in
//! `aas.rs`), a transaction runs any SQL of the portable subset with `$1, $2`
//! placeholders: [`Tx::execute`] and [`Tx::query`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod aas;
pub mod auth;
pub mod batch;
mod batch_cache;
mod batch_error;
pub mod clock;
pub mod cond;
pub mod copy;
pub mod counters;
mod engine;
pub mod legacy;
pub mod lots;
pub mod migrate;
mod paging;
pub mod plans;
pub mod scenarios;
pub mod session;
mod versioned;

pub use aas::{Filter, Kind, Page};
use engine::{Conn, Manager, Target};
pub use engine::{Engine, Row, Value};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An error reported by the database engine.
    #[error("database error: {0}")]
    Db(String),
    /// The database cannot be used at all (cannot open or connect, disk full,
    /// read-only); nothing of the change was stored.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The schema of the database does not fit this program.
    #[error("database schema: {0}")]
    Schema(String),
    /// Another writer changed the same records first and retrying did not
    /// help; nothing of this change was stored.
    #[error("concurrent change: {0}; nothing of this change was stored, try again")]
    Retry(String),
    #[error("{kind:?} `{id}` already exists")]
    Conflict { kind: Kind, id: String },
    #[error("{kind:?} `{id}` not found")]
    NotFound { kind: Kind, id: String },
    /// The record is not in the state a condition (`If-Match`) names; nothing
    /// of the change was stored.
    #[error("precondition failed: {0}")]
    Precondition(String),
    /// A record that is not UTF-8 JSON text.
    #[error("{kind:?} `{id}`: {reason}")]
    Invalid {
        kind: Kind,
        id: String,
        reason: String,
    },
}

/// How many times a transaction is run when other writers keep winning.
const ATTEMPTS: u32 = 8;

/// An open database: a pool of connections to one SQLite file or one
/// PostgreSQL database.
#[derive(Debug)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    engine: Engine,
    location: String,
    version: i64,
    /// Write transactions of this process on a SQLite file take turns here
    /// instead of in SQLite's busy handler, which sleeps in steps of up to
    /// 100 ms and so puts long waits into the tail latency. Other processes
    /// on the same file still meet at SQLite's write lock.
    writer: parking_lot::Mutex<()>,
    /// Batches replayed by this handle (see `batch_cache`).
    batches: batch_cache::BatchCache<batch::Stored>,
}

/// What a record read in this transaction looked like (for the version check
/// of a later write).
#[derive(Debug, Clone, Copy)]
enum Seen {
    Absent,
    Version(i64),
    /// Written by this transaction (its row lock is held).
    Written,
}

/// One transaction (see [`Db::transaction`] and [`Db::read`]).
pub struct Tx<'a> {
    conn: &'a mut Conn,
    seen: HashMap<(Kind, String), Seen>,
    read_only: bool,
    /// Another writer won a race: run the closure again.
    retry: bool,
    /// A statement failed: the transaction must not commit.
    failed: Option<String>,
    /// Lock the rows read (PostgreSQL `FOR UPDATE`): set when an attempt
    /// lost a race, so that the next one cannot lose it again.
    lock_reads: bool,
    /// Batches replayed by this handle, checked against the head rows read
    /// in this transaction.
    batches: &'a batch_cache::BatchCache<batch::Stored>,
    /// Replayed batches this transaction leaves: kept for later
    /// transactions once it commits, dropped if it does not.
    keep: Vec<batch::Stored>,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("engine", &self.conn.engine())
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// Where a `--db` argument points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite:PATH` or
    /// anything else is a SQLite file path.
    pub fn parse(url: &str) -> Location {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Location::Postgres(url.to_string())
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let path = path.strip_prefix("sqlite:").unwrap_or(path);
            Location::Sqlite(PathBuf::from(path))
        }
    }
}

/// A `--db` argument fit for messages: PostgreSQL URLs lose their password.
pub fn redact(url: &str) -> String {
    match Location::parse(url) {
        Location::Sqlite(p) => p.display().to_string(),
        Location::Postgres(u) => match u.parse::<postgres::Config>() {
            Ok(cfg) => pg_display(&cfg),
            Err(_) => "postgres://…".into(),
        },
    }
}

/// A PostgreSQL URL without its password, for messages.
fn pg_display(cfg: &postgres::Config) -> String {
    let host = cfg
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(s) => s.clone(),
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        cfg.get_user().unwrap_or(""),
        cfg.get_dbname().unwrap_or("")
    )
}

/// Creates a new database file readable by its owner only.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    // a SQLite URI (`file:…?mode=ro`) is opened as it says
    if path.exists() || path.to_str().is_some_and(|p| p.starts_with("file:")) {
        return Ok(());
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create database file {}: {e}",
            path.display()
        ))),
    }
}

impl Db {
    /// Opens the database at `url` (a SQLite file path, created if missing,
    /// or a `postgres://` URL) and applies the pending migrations.
    pub fn connect(url: &str) -> Result<Db, StoreError> {
        Self::connect_with(url, migrate::MIGRATIONS)
    }

    /// Opens a SQLite database file (created if missing).
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        Self::open_location(Location::Sqlite(path.to_path_buf()), migrate::MIGRATIONS)
    }

    /// [`Db::connect`] with an explicit list of migrations (tests).
    pub fn connect_with(url: &str, migrations: &[migrate::Migration]) -> Result<Db, StoreError> {
        Self::open_location(Location::parse(url), migrations)
    }

    fn open_location(loc: Location, migrations: &[migrate::Migration]) -> Result<Db, StoreError> {
        let (target, location, max) = match loc {
            Location::Sqlite(path) => {
                if path.as_os_str().is_empty() {
                    return Err(StoreError::Unavailable("empty database path".into()));
                }
                create_private_file(&path)?;
                let shown = path.display().to_string();
                (Target::Sqlite(path), shown, 8)
            }
            Location::Postgres(url) => {
                let cfg: postgres::Config = url.parse().map_err(|e| {
                    StoreError::Unavailable(format!("not a valid PostgreSQL URL: {e}"))
                })?;
                let shown = pg_display(&cfg);
                (Target::Postgres(Box::new(cfg)), shown, 8)
            }
        };
        // an SQLite file that is not one may be a database of the earlier format
        let redb_hint = |e: StoreError| match e {
            StoreError::Unavailable(m) if m.contains("not a readable SQLite database") => {
                StoreError::Unavailable(format!(
                    "{location}: {m}; a database of the earlier file format (redb) is copied \
                     with `atmpflow db migrate --from {location} --to NEW.db`"
                ))
            }
            other => other,
        };
        // the first connection is opened directly: a wrong path or URL fails
        // at once, not after the pool's connection timeout
        let mut first = target.open().map_err(redb_hint)?;
        let engine = first.engine();
        let version = migrate::apply(&mut first, migrations).map_err(redb_hint)?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(max)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .build_unchecked(Manager(target));
        Ok(Db {
            pool,
            engine,
            location,
            version,
            writer: parking_lot::Mutex::new(()),
            batches: batch_cache::BatchCache::new(
                batch_cache::CAPACITY,
                batch_cache::MEMORY_BUDGET,
            ),
        })
    }

    /// The engine this database runs on.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The file path or the URL (without password), for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// How many batches this handle keeps replayed between transactions
    /// (at most [`batch::CACHE_CAPACITY`]).
    pub fn cached_batches(&self) -> usize {
        self.batches.len()
    }

    /// Sets how many batches, and how much memory their records in all
    /// (bytes, `batch::Batch::memory_estimate`), this handle keeps replayed
    /// (defaults [`batch::CACHE_CAPACITY`] and [`batch::CACHE_MEMORY_BUDGET`]);
    /// what is kept now is dropped.
    pub fn limit_batch_cache(&mut self, batches: usize, memory: usize) {
        self.batches = batch_cache::BatchCache::new(batches, memory);
    }

    /// Whether this handle keeps batch `id` replayed (the next request on it
    /// skips the replay if nobody has written the batch since).
    pub fn is_batch_cached(&self, id: &str) -> bool {
        self.batches.contains(id)
    }

    /// The highest migration applied.
    pub fn schema_version(&self) -> i64 {
        self.version
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.pool.get().map_err(|e| {
            StoreError::Unavailable(format!("no database connection to {}: {e}", self.location))
        })
    }

    /// Runs `f` in one write transaction: committed if `f` returns `Ok`,
    /// rolled back (nothing stored) if it returns `Err` or panics. When
    /// another writer changed records `f` read before it could write them,
    /// `f` runs again from the start (so it must not have effects outside
    /// the transaction that cannot be repeated).
    pub fn transaction<T, E>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        // on SQLite one writer of this process at a time (see `writer`); a
        // writer that waits longer than the busy timeout goes on without its
        // turn, so a transaction opened inside another cannot wait forever
        let _turn = match self.engine {
            Engine::Sqlite => self.writer.try_lock_for(engine::SQLITE_BUSY_TIMEOUT),
            Engine::Postgres => None,
        };
        let mut conn = self.conn()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(&mut conn, false, attempt > 1, &mut f)? {
                Attempt::Done(r) => return r,
                Attempt::Retry(why) => {
                    if attempt >= ATTEMPTS {
                        return Err(StoreError::Retry(why).into());
                    }
                    std::thread::sleep(Duration::from_millis(2u64 << attempt.min(6)));
                }
            }
        }
    }

    /// Runs `f` on a consistent read-only snapshot.
    pub fn read<T, E>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.conn()?;
        match self.attempt(&mut conn, true, false, &mut f)? {
            Attempt::Done(r) => r,
            Attempt::Retry(why) => Err(StoreError::Retry(why).into()),
        }
    }

    fn attempt<T, E>(
        &self,
        conn: &mut Conn,
        read_only: bool,
        lock_reads: bool,
        f: &mut impl FnMut(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<Attempt<Result<T, E>>, StoreError> {
        let begin = match (self.engine, read_only) {
            (Engine::Sqlite, false) => "BEGIN IMMEDIATE",
            (Engine::Sqlite, true) => "BEGIN",
            (Engine::Postgres, false) => "BEGIN ISOLATION LEVEL READ COMMITTED",
            (Engine::Postgres, true) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        conn.batch(begin)?;
        let mut guard = Rollback { conn: Some(conn) };
        let (result, retry, failed, keep) = {
            let mut tx = Tx {
                conn: guard.conn.as_deref_mut().ok_or_else(internal)?,
                seen: HashMap::new(),
                read_only,
                retry: false,
                failed: None,
                lock_reads: lock_reads && self.engine == Engine::Postgres,
                batches: &self.batches,
                keep: Vec::new(),
            };
            let r = f(&mut tx);
            (r, tx.retry, tx.failed, tx.keep)
        };
        let conn = guard.conn.take().ok_or_else(internal)?;
        match result {
            Err(_) if retry => {
                rollback(conn);
                Ok(Attempt::Retry(failed.unwrap_or_else(|| {
                    "another writer changed the same records".into()
                })))
            }
            Err(e) => {
                rollback(conn);
                Ok(Attempt::Done(Err(e)))
            }
            Ok(_) if failed.is_some() => {
                rollback(conn);
                let why = failed.unwrap_or_default();
                if retry {
                    return Ok(Attempt::Retry(why));
                }
                Err(StoreError::Db(format!(
                    "a statement of this transaction failed ({why}); nothing was stored"
                )))
            }
            Ok(v) => match conn.batch(if read_only { "ROLLBACK" } else { "COMMIT" }) {
                Ok(()) => {
                    for s in keep {
                        self.batches.put(s);
                    }
                    Ok(Attempt::Done(Ok(v)))
                }
                Err(StoreError::Retry(why)) => {
                    rollback(conn);
                    Ok(Attempt::Retry(why))
                }
                Err(e) => {
                    rollback(conn);
                    Err(e)
                }
            },
        }
    }

    /// Reads one AAS record (its JSON).
    pub fn get(&self, kind: Kind, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|tx| tx.get(kind, id))
    }

    /// All AAS records of a kind, ordered by id.
    pub fn list(&self, kind: Kind) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.read(|tx| tx.list(kind))
    }

    /// Number of AAS records of a kind.
    pub fn count(&self, kind: Kind) -> Result<u64, StoreError> {
        self.read(|tx| tx.count(kind))
    }

    /// A consistent online copy of a SQLite database into a new file `out`
    /// (PostgreSQL databases are copied with [`copy::copy`] or `pg_dump`).
    pub fn backup_sqlite(&self, out: &Path) -> Result<(), StoreError> {
        if out.exists() {
            return Err(StoreError::Unavailable(format!(
                "{} exists; a backup is never written over a file",
                out.display()
            )));
        }
        // VACUUM INTO accepts an empty file: create it private first
        create_private_file(out)?;
        let r = self.backup_sqlite_into(out);
        if r.is_err() {
            let _ = std::fs::remove_file(out);
        }
        r
    }

    /// [`Db::backup_sqlite`] into `out`, an empty regular file the caller has
    /// just created (e.g. a temporary file that is renamed into place once
    /// the copy is complete and verified). Anything else at `out` — a file
    /// with content, a symlink, a folder — is refused.
    pub fn backup_sqlite_into(&self, out: &Path) -> Result<(), StoreError> {
        if self.engine != Engine::Sqlite {
            return Err(StoreError::Unavailable(
                "backup_sqlite needs a SQLite database".into(),
            ));
        }
        match std::fs::symlink_metadata(out) {
            Ok(m) if m.file_type().is_file() && m.len() == 0 => {}
            Ok(_) => {
                return Err(StoreError::Unavailable(format!(
                    "{} is not an empty file; a backup is never written over data",
                    out.display()
                )));
            }
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot back up into {}: {e}",
                    out.display()
                )));
            }
        }
        let target = out.to_str().ok_or_else(|| {
            StoreError::Unavailable(format!("{} is not a UTF-8 path", out.display()))
        })?;
        let mut conn = self.conn()?;
        conn.execute("VACUUM INTO $1", &[target.into()])?;
        Ok(())
    }
}

/// Ends a failed transaction. SQLite ends a transaction by itself on some
/// errors (a full disk, an I/O error), so ROLLBACK may find none to end: the
/// error that ended it is the one to report, not the ROLLBACK's. A connection
/// still inside a transaction is discarded by the pool (`has_broken`).
fn rollback(conn: &mut Conn) {
    let _ = conn.batch("ROLLBACK");
}

fn internal() -> StoreError {
    StoreError::Db("transaction state lost".into())
}

enum Attempt<R> {
    Done(R),
    Retry(String),
}

/// Rolls back when a transaction closure panics (the connection then goes
/// back to the pool clean, or is dropped if even that fails).
struct Rollback<'a> {
    conn: Option<&'a mut Conn>,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            // on failure the pool sees the connection still in a transaction
            // (SQLite) or closed (PostgreSQL) and discards it
            let _ = c.batch("ROLLBACK");
        }
    }
}

impl Tx<'_> {
    /// The engine, for the rare statement whose SQL differs between engines.
    pub fn engine(&self) -> Engine {
        self.conn.engine()
    }

    fn note<T>(&mut self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &r {
            match e {
                StoreError::Retry(why) => {
                    self.retry = true;
                    self.failed.get_or_insert_with(|| why.clone());
                }
                StoreError::Conflict { .. }
                | StoreError::NotFound { .. }
                | StoreError::Precondition(_) => {}
                other => {
                    self.failed.get_or_insert_with(|| other.to_string());
                }
            }
        }
        r
    }

    /// Runs one statement with `$1, $2, …` placeholders; the number of rows
    /// it changed. A failed statement fails the whole transaction.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let r = self.conn.execute(sql, params);
        self.note(r)
    }

    /// Runs one query with `$1, $2, …` placeholders; all its rows.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let r = self.conn.query(sql, params);
        self.note(r)
    }

    /// The first row of a query, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row of a query, if any, as `read` reads it.
    pub fn query_opt_with<T, E: From<StoreError>>(
        &mut self,
        sql: &str,
        params: &[Value],
        read: impl FnOnce(&Row) -> Result<T, E>,
    ) -> Result<Option<T>, E> {
        self.query_opt(sql, params)?.map(|r| read(&r)).transpose()
    }
}

/// Helpers for tests that run on both engines.
pub mod testing {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The environment variable naming the PostgreSQL test database
    /// (`postgres://user@host/db`); tests that need PostgreSQL run when it
    /// is set.
    pub const PG_ENV: &str = "ATMPFLOW_TEST_PG";

    static COUNTER: AtomicU64 = AtomicU64::new(0);

    /// A URL of a new, empty schema in the PostgreSQL test database (so
    /// tests running at once do not see each other's rows), or `None` when
    /// [`PG_ENV`] is unset. Panics when it is set but unusable: a test run
    /// that was asked to cover PostgreSQL must not silently skip it.
    #[allow(clippy::panic)]
    pub fn postgres_url() -> Option<String> {
        let base = std::env::var(PG_ENV).ok().filter(|s| !s.is_empty())?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let schema = format!(
            "t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos % 1_000_000_000
        );
        let mut client = postgres::Client::connect(&base, postgres::NoTls)
            .unwrap_or_else(|e| panic!("{PG_ENV}={base}: cannot connect: {e}"));
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap_or_else(|e| panic!("{PG_ENV}: cannot create schema {schema}: {e}"));
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
    }

    /// Switches off the database's guards of the batch tables (the triggers
    /// that refuse UPDATE and DELETE of the record), as someone with the
    /// database owner's rights could, so that tests can tamper with rows and
    /// check that `batch verify` names them.
    pub fn disable_batch_guards(db: &crate::Db) -> Result<(), crate::StoreError> {
        db.transaction(|tx| -> Result<(), crate::StoreError> {
            match tx.engine() {
                crate::Engine::Sqlite => {
                    let rows = tx.query(
                        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'batch%'",
                        &[],
                    )?;
                    for r in rows {
                        tx.execute(&format!("DROP TRIGGER \"{}\"", r.text(0)?), &[])?;
                    }
                }
                crate::Engine::Postgres => {
                    for t in ["batch_entries", "batch_requests", "batch_recipes", "batches"] {
                        tx.execute(&format!("ALTER TABLE {t} DISABLE TRIGGER USER"), &[])?;
                    }
                }
            }
            Ok(())
        })
    }

    /// The databases a test runs on: a SQLite file in `dir`, and a fresh
    /// PostgreSQL schema when [`PG_ENV`] is set.
    pub fn urls(dir: &std::path::Path) -> Vec<String> {
        let mut out = vec![dir.join("test.db").display().to_string()];
        out.extend(postgres_url());
        out
    }
}
