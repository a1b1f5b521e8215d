//! The two SQL engines behind one connection type: SQLite (embedded, one file)
//! and PostgreSQL. Queries are written once with `$1, $2, …` placeholders and
//! a portable subset of SQL; values travel as [`Value`] and rows come back as
//! [`Row`].

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::StoreError;

/// Which SQL engine a database runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        })
    }
}

/// A value bound to a placeholder or read from a column. Columns are declared
/// with the portable types `TEXT`, `BIGINT`, `DOUBLE PRECISION` and (per
/// engine) `BLOB`/`BYTEA`; PostgreSQL `BOOLEAN` and `INTEGER` columns are read as
/// [`Value::Int`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// `From<$t> for Value`: the variant `$variant` of the value `$conv` makes of `v`.
macro_rules! value_from {
    ($($t:ty => $variant:ident($conv:expr)),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant($conv(v))
            }
        }
    )*};
}

value_from! {
    i64 => Int(std::convert::identity),
    f64 => Real(std::convert::identity),
    &str => Text(str::to_string),
    String => Text(std::convert::identity),
    &String => Text(String::clone),
    Vec<u8> => Bytes(std::convert::identity),
    &[u8] => Bytes(<[u8]>::to_vec),
    bool => Int(i64::from),
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row: its column names and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub columns: std::sync::Arc<[String]>,
    pub values: Vec<Value>,
}

impl Row {
    fn at(&self, i: usize) -> Result<&Value, StoreError> {
        self.values.get(i).ok_or_else(|| {
            StoreError::Db(format!(
                "the query returned {} columns, column {i} was asked for",
                self.values.len()
            ))
        })
    }

    fn wrong(&self, i: usize, want: &str) -> StoreError {
        let name = self.columns.get(i).map_or("?", String::as_str);
        StoreError::Db(format!(
            "column {i} ({name}) is {:?}, not {want}",
            self.values.get(i)
        ))
    }

    /// A `TEXT` column that is not NULL.
    pub fn text(&self, i: usize) -> Result<&str, StoreError> {
        match self.at(i)? {
            Value::Text(s) => Ok(s),
            _ => Err(self.wrong(i, "text")),
        }
    }

    /// A `TEXT` column that may be NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<&str>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            _ => Err(self.wrong(i, "text or NULL")),
        }
    }

    /// An integer column that is not NULL.
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.at(i)? {
            Value::Int(v) => Ok(*v),
            _ => Err(self.wrong(i, "an integer")),
        }
    }

    /// An integer column that may be NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            _ => Err(self.wrong(i, "an integer or NULL")),
        }
    }

    /// A floating-point column (integers are widened).
    pub fn real(&self, i: usize) -> Result<f64, StoreError> {
        match self.at(i)? {
            Value::Real(v) => Ok(*v),
            Value::Int(v) => Ok(*v as f64),
            _ => Err(self.wrong(i, "a number")),
        }
    }

    /// A `BLOB`/`BYTEA` column that is not NULL.
    pub fn bytes(&self, i: usize) -> Result<&[u8], StoreError> {
        match self.at(i)? {
            Value::Bytes(b) => Ok(b),
            _ => Err(self.wrong(i, "bytes")),
        }
    }
}

/// Rewrites `$N` placeholders to SQLite's `?N` outside quoted text.
fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    out.push(c);
                } else if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                    out.push('?');
                } else {
                    out.push(c);
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Value conversion per engine
// ---------------------------------------------------------------------------

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Real(v) => match *ty {
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Bytes(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// Column `i` of a PostgreSQL row read as `T` and widened to `W` (a narrower integer or
/// float column read as the 64-bit value the store works with).
fn pg_widened<'r, T: postgres::types::FromSql<'r>, W: From<T>>(
    row: &'r postgres::Row,
    i: usize,
) -> Result<Option<W>, postgres::Error> {
    Ok(row.try_get::<_, Option<T>>(i)?.map(W::from))
}

fn pg_value(row: &postgres::Row, i: usize) -> Result<Value, StoreError> {
    use postgres::types::Type;
    let col = &row.columns()[i];
    let e = |err: postgres::Error| StoreError::Db(format!("column {}: {err}", col.name()));
    let ty = col.type_();
    Ok(match *ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(e)?.into(),
        Type::INT4 => pg_widened::<i32, i64>(row, i).map_err(e)?.into(),
        Type::INT2 => pg_widened::<i16, i64>(row, i).map_err(e)?.into(),
        Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(e)?.into(),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(e)?.into(),
        Type::FLOAT4 => pg_widened::<f32, f64>(row, i).map_err(e)?.into(),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i).map_err(e)?.into(),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            row.try_get::<_, Option<String>>(i).map_err(e)?.into()
        }
        _ => {
            return Err(StoreError::Db(format!(
                "column {} has type {ty}, which the store does not read; cast it to TEXT, BIGINT, DOUBLE PRECISION or BYTEA in the query",
                col.name()
            )));
        }
    })
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

pub(crate) fn sqlite_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        let detail = msg.clone().unwrap_or_else(|| f.to_string());
        return match f.code {
            C::DiskFull => StoreError::Unavailable(format!(
                "the disk holding the database is full ({detail}); nothing of this change was stored"
            )),
            C::ReadOnly => StoreError::Unavailable(format!(
                "the database is read-only ({detail}); nothing of this change was stored"
            )),
            C::CannotOpen | C::PermissionDenied => {
                StoreError::Unavailable(format!("cannot open the database file: {detail}"))
            }
            C::DatabaseBusy | C::DatabaseLocked => StoreError::Retry(format!(
                "the database stayed locked by another writer ({detail})"
            )),
            C::SystemIoFailure => StoreError::Unavailable(format!(
                "input/output error on the database file ({detail}); nothing of this change was stored"
            )),
            C::DatabaseCorrupt | C::NotADatabase => StoreError::Unavailable(format!(
                "the file is not a readable SQLite database ({detail})"
            )),
            _ => StoreError::Db(detail),
        };
    }
    StoreError::Db(e.to_string())
}

pub(crate) fn pg_err(e: postgres::Error) -> StoreError {
    use postgres::error::SqlState;
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let text = format!("{}: {}", db.severity(), db.message());
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            return StoreError::Retry(text);
        }
        if *code == SqlState::DISK_FULL || *code == SqlState::READ_ONLY_SQL_TRANSACTION {
            return StoreError::Unavailable(format!("{text}; nothing of this change was stored"));
        }
        return StoreError::Db(text);
    }
    if e.is_closed() {
        return StoreError::Unavailable(format!("the connection to PostgreSQL was lost: {e}"));
    }
    StoreError::Db(e.to_string())
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

/// One open connection.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres {
        client: Box<postgres::Client>,
        statements: HashMap<String, postgres::Statement>,
    },
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conn::Sqlite(_) => f.write_str("Conn::Sqlite"),
            Conn::Postgres { .. } => f.write_str("Conn::Postgres"),
        }
    }
}

impl Conn {
    pub(crate) fn engine(&self) -> Engine {
        match self {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres { .. } => Engine::Postgres,
        }
    }

    /// Runs statements without parameters (DDL, BEGIN/COMMIT).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(sqlite_err),
            Conn::Postgres { client, .. } => client.batch_execute(sql).map_err(pg_err),
        }
    }

    fn pg_statement(
        client: &mut postgres::Client,
        statements: &mut HashMap<String, postgres::Statement>,
        sql: &str,
    ) -> Result<postgres::Statement, StoreError> {
        if let Some(s) = statements.get(sql) {
            return Ok(s.clone());
        }
        let s = client.prepare(sql).map_err(pg_err)?;
        if statements.len() > 256 {
            statements.clear();
        }
        statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Runs one statement; the number of rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c
                    .prepare_cached(&sqlite_placeholders(sql))
                    .map_err(sqlite_err)?;
                let n = st
                    .execute(rusqlite::params_from_iter(params.iter()))
                    .map_err(sqlite_err)?;
                Ok(n as u64)
            }
            Conn::Postgres { client, statements } => {
                let st = Self::pg_statement(client, statements, sql)?;
                client.execute(&st, &pg_params(params)).map_err(pg_err)
            }
        }
    }

    /// Runs one query; all its rows.
    pub(crate) fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c
                    .prepare_cached(&sqlite_placeholders(sql))
                    .map_err(sqlite_err)?;
                let columns: std::sync::Arc<[String]> =
                    st.column_names().into_iter().map(str::to_string).collect();
                let n = columns.len();
                let mut rows = st
                    .query(rusqlite::params_from_iter(params.iter()))
                    .map_err(sqlite_err)?;
                let mut out = Vec::new();
                while let Some(r) = rows.next().map_err(sqlite_err)? {
                    let mut values = Vec::with_capacity(n);
                    for i in 0..n {
                        values.push(sqlite_value(r.get_ref(i).map_err(sqlite_err)?));
                    }
                    out.push(Row {
                        columns: columns.clone(),
                        values,
                    });
                }
                Ok(out)
            }
            Conn::Postgres { client, statements } => {
                let st = Self::pg_statement(client, statements, sql)?;
                let rows = client.query(&st, &pg_params(params)).map_err(pg_err)?;
                let columns: std::sync::Arc<[String]> =
                    st.columns().iter().map(|c| c.name().to_string()).collect();
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let mut values = Vec::with_capacity(columns.len());
                    for i in 0..columns.len() {
                        values.push(pg_value(r, i)?);
                    }
                    out.push(Row {
                        columns: columns.clone(),
                        values,
                    });
                }
                Ok(out)
            }
        }
    }
}

/// Where and how to open connections (the pool's connection factory).
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Sqlite(std::path::PathBuf),
    Postgres(Box<postgres::Config>),
}

/// How long a writer waits for SQLite's write lock before giving up.
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl Target {
    pub(crate) fn open(&self) -> Result<Conn, StoreError> {
        match self {
            Target::Sqlite(path) => {
                use rusqlite::OpenFlags;
                let c = rusqlite::Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_CREATE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )
                .map_err(|e| match sqlite_err(e) {
                    StoreError::Db(m) | StoreError::Unavailable(m) => StoreError::Unavailable(
                        format!("cannot open database file {}: {m}", path.display()),
                    ),
                    other => other,
                })?;
                c.busy_timeout(SQLITE_BUSY_TIMEOUT).map_err(sqlite_err)?;
                // WAL: readers never block the writer; FULL: a commit is on disk
                // before it is acknowledged (survives power loss, not only a crash)
                let mode: String = c
                    .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                    .map_err(sqlite_err)?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(StoreError::Unavailable(format!(
                        "{}: SQLite refused write-ahead logging (journal mode stays {mode})",
                        path.display()
                    )));
                }
                c.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
                    .map_err(sqlite_err)?;
                c.set_prepared_statement_cache_capacity(128);
                Ok(Conn::Sqlite(c))
            }
            Target::Postgres(cfg) => {
                let client = cfg.connect(postgres::NoTls).map_err(|e| {
                    StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}"))
                })?;
                Ok(Conn::Postgres {
                    client: Box::new(client),
                    statements: HashMap::new(),
                })
            }
        }
    }
}

/// The pool's view of [`Target`].
#[derive(Debug)]
pub(crate) struct Manager(pub(crate) Target);

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = StoreError;

    fn connect(&self) -> Result<Conn, StoreError> {
        self.0.open()
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), StoreError> {
        match conn {
            Conn::Sqlite(_) => Ok(()),
            Conn::Postgres { client, .. } => client
                .is_valid(Duration::from_secs(5))
                .map_err(|e| StoreError::Unavailable(format!("PostgreSQL connection: {e}"))),
        }
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        match conn {
            Conn::Sqlite(c) => !c.is_autocommit(),
            Conn::Postgres { client, .. } => client.is_closed(),
        }
    }
}

/// Parameters as the PostgreSQL client takes them.
fn pg_params(params: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sqlite_placeholders;

    #[test]
    fn placeholders_outside_quotes_only() {
        assert_eq!(
            sqlite_placeholders("SELECT '$1', \"$2\" FROM t WHERE a = $1 AND b = $12"),
            "SELECT '$1', \"$2\" FROM t WHERE a = ?1 AND b = ?12"
        );
        assert_eq!(sqlite_placeholders("a = $x"), "a = $x");
    }
}
