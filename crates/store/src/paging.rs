//! Pages of a list: the query asks for one row more than the page holds, and
//! that row, when it comes, is where the next page starts.

use crate::Value;

/// The page size for the `limit` a caller asked for (at least 1, at most
/// `max`), and the `LIMIT` value that asks for one row more.
pub(crate) fn one_more(limit: usize, max: usize) -> (usize, Value) {
    let limit = limit.clamp(1, max);
    (
        limit,
        Value::Int(i64::try_from(limit + 1).unwrap_or(i64::MAX)),
    )
}

/// Splits `items` (at most one more than `limit`) into the page and where
/// the next page starts, which `start` takes from the item after the page.
pub(crate) fn split<T, C>(
    mut items: Vec<T>,
    limit: usize,
    start: impl FnOnce(T) -> C,
) -> (Vec<T>, Option<C>) {
    let next = if items.len() > limit {
        items.pop().map(start)
    } else {
        None
    };
    (items, next)
}
