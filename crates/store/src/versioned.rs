//! What the stored plans and scenarios share: rows numbered one after the
//! other, and versions that are only added, number `n + 1` on the version `n`
//! the caller read.

use crate::{StoreError, Tx, Value};

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
