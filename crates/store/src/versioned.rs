//! What the stored plans and scenarios share: rows numbered one after the
//! other, and versions that are only added, number `n + 1` on the version `n`
//! the caller read.

use crate::{StoreError, Tx, Value};

/// How often a new row's number is taken again when another caller took it
/// at the same moment.
const ID_ATTEMPTS: usize = 8;

/// Inserts a new row of `table`, numbered one after its largest `seq`, with
/// `insert` (given the row's id `{prefix}-{seq}` and `seq`; it answers the
/// rows inserted, 0 when another caller took the number first, and then the
/// next number is tried, a few times). The id of the row, or `None` when
/// every number tried was taken.
pub(crate) fn insert_numbered(
    tx: &mut Tx<'_>,
    table: &str,
    prefix: &str,
    mut insert: impl FnMut(&mut Tx<'_>, &str, i64) -> Result<u64, StoreError>,
) -> Result<Option<String>, StoreError> {
    for _ in 0..ID_ATTEMPTS {
        let seq = max_of(tx, &format!("SELECT MAX(seq) FROM {table}"), &[])?.unwrap_or(0) + 1;
        let id = format!("{prefix}-{seq}");
        if insert(tx, &id, seq)? == 1 {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The one number a `SELECT MAX(…)` query answers; `None` when there is no
/// row to take it from.
pub(crate) fn max_of(
    tx: &mut Tx<'_>,
    sql: &str,
    params: &[Value],
) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_opt(sql, params)?
        .map(|r| r.opt_int(0))
        .transpose()?
        .flatten())
}

/// Adds version `seen + 1` through `insert` (which answers what it stored and
/// the rows it inserted, 0 when the number was taken) if `seen` is `latest`,
/// the latest version read in this transaction. `Ok(Err(n))` when nothing was
/// stored because the latest version is `n`: another change came first.
pub(crate) fn add_after<V>(
    latest: i64,
    seen: i64,
    insert: impl FnOnce() -> Result<(V, u64), StoreError>,
) -> Result<Result<V, i64>, StoreError> {
    if latest != seen {
        return Ok(Err(latest));
    }
    let (v, rows) = insert()?;
    Ok(if rows == 1 { Ok(v) } else { Err(seen + 1) })
}
