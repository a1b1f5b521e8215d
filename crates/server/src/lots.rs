//! The plant's lot register under `/api/batch/v1/lots`: list (filtered by
//! material, keyset-paged), one lot with its status history, registration
//! (roles qc or qa) and status changes with a reason (role qa). Every change
//! is one transaction with its history row (`store::lots`); the batch engine
//! checks recorded lots against this register.

use axum::http::{Method, StatusCode};
use batch::Role;
use batch::engine::LotStatus;
use serde::Deserialize;
use store::auth::Principal;
use store::lots::{self, LotError, NewLot};

use crate::AppState;
use crate::BATCH_BASE;
use crate::caller::{actor, may_read, now};
use crate::util::parse_json;
use crate::util::{ApiError, ApiResult, Query, created, ok};

impl From<LotError> for ApiError {
    fn from(e: LotError) -> Self {
        match e {
            LotError::Store(s) => s.into(),
            e @ LotError::Invalid { .. } => ApiError::bad(e.to_string()),
            e @ LotError::NotFound { .. } => ApiError::not_found(e.to_string()),
            e @ (LotError::Exists { .. } | LotError::Stale { .. } | LotError::Unchanged { .. }) => {
                ApiError::conflict(e.to_string())
            }
        }
    }
}

/// Refuses a caller without one of `roles`.
fn require(p: &Principal, roles: &[Role], action: &str) -> Result<(), ApiError> {
    let a = actor(p);
    if a.roles.iter().any(|r| roles.contains(r)) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{action} needs the role {}; {} has {}",
            roles
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
            p.user,
            if a.roles.is_empty() {
                "no batch role".to_string()
            } else {
                a.roles
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    ))
}

/// Answers the lot register paths (`segs` below [`BATCH_BASE`], starting
/// with `lots`).
pub(crate) fn dispatch(
    st: &AppState,
    p: &Principal,
    method: &Method,
    segs: &[&str],
    q: &Query,
    body: &[u8],
) -> ApiResult {
    match (segs, method) {
        (["lots"], &Method::GET) => list(st, p, q),
        (["lots"], _) => register(st, p, body),
        (["lots", material, lot], _) => get(st, p, material, lot),
        (["lots", material, lot, "status"], _) => set_status(st, p, material, lot, body),
        _ => Err(ApiError::not_found("no such endpoint")),
    }
}

/// A page cursor: the material and lot number the page starts at, joined
/// by `~` (which neither may contain).
fn cursor_text(c: &lots::Cursor) -> String {
    format!("{}~{}", c.0, c.1)
}

fn parse_cursor(s: &str) -> lots::Cursor {
    match s.split_once('~') {
        Some((m, l)) => (m.to_string(), l.to_string()),
        None => (s.to_string(), String::new()),
    }
}

fn list(st: &AppState, p: &Principal, q: &Query) -> ApiResult {
    may_read(p)?;
    let limit = q.limit()?;
    let material = q.get("material").filter(|m| !m.is_empty());
    let cursor = q.get("cursor").map(parse_cursor);
    let (items, next) = st
        .store
        .read(|tx| lots::list(tx, material, cursor.as_ref(), limit))?;
    ok(&serde_json::json!({
        "result": items,
        "paging_metadata": { "cursor": next.as_ref().map(cursor_text) },
    }))
}

fn get(st: &AppState, p: &Principal, material: &str, lot: &str) -> ApiResult {
    may_read(p)?;
    let (l, history) = st.store.read(|tx| -> Result<_, ApiError> {
        let l = lots::get(tx, material, lot)?.ok_or_else(|| {
            ApiError::from(LotError::NotFound {
                material: material.to_string(),
                lot: lot.to_string(),
            })
        })?;
        Ok((l, lots::history(tx, material, lot)?))
    })?;
    let mut v = serde_json::to_value(&l)
        .map_err(|e| ApiError::internal(format!("cannot serialise: {e}")))?;
    v["history"] = serde_json::to_value(&history)
        .map_err(|e| ApiError::internal(format!("cannot serialise: {e}")))?;
    ok(&v)
}

fn location(l: &lots::Lot) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!("{BATCH_BASE}/lots/{}/{}", enc(&l.material), enc(&l.lot))
}

/// `POST /lots`: QC or QA registers a lot.
fn register(st: &AppState, p: &Principal, body: &[u8]) -> ApiResult {
    require(p, &[Role::Qc, Role::Qa], "registering a lot")?;
    let new: NewLot = parse_json(body)?;
    lots::check(&new)?;
    let at = now(st);
    let l = st
        .store
        .transaction(|tx| lots::register(tx, &new, &p.user, at))?;
    created(&l, &location(&l))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: LotStatus,
    reason: String,
    /// The number of changes the caller saw (`changes` of the lot).
    #[serde(default)]
    expected_changes: Option<i64>,
}

/// `POST /lots/{material}/{lot}/status`: QA releases, quarantines or rejects
/// a lot, with a reason.
fn set_status(st: &AppState, p: &Principal, material: &str, lot: &str, body: &[u8]) -> ApiResult {
    require(p, &[Role::Qa], "changing the status of a lot")?;
    let b: StatusBody = parse_json(body)?;
    let at = now(st);
    let l = st.store.transaction(|tx| {
        lots::set_status(
            tx,
            material,
            lot,
            b.status,
            &b.reason,
            b.expected_changes,
            &p.user,
            at,
        )
    })?;
    ok(&l)
}
