//! Stored plant plans (migration 300): the plans of the planner API
//! (`/api/plan/v1`), each a list of versions that only grows.
//!
//! A plan is one row of `plant_plans` (its id `plan-<n>`, the scenario name,
//! who made it and when) and its versions rows of `plant_plan_versions`: the
//! plan document as JSON text, its SHA-256, who made the change, the server's
//! UTC time and the event (the history line the change added). Nothing is
//! changed in place; a change adds version `n + 1` on the version `n` that
//! was read, in one transaction, and is refused when another change took
//! that number first ([`PlanError::Stale`]). The store does not read the
//! documents: the server checks them before they are stored.

use recipe::DateTime;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::versioned::{add_after, insert_numbered, max_of};
use crate::{Row, StoreError, Tx, Value, paging};

/// Most plans one list call returns.
pub const MAX_PAGE: usize = 1000;

/// Why a plan operation did not happen; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such plan.
    #[error("no plan `{0}`")]
    NotFound(String),
    /// No such version of a plan.
    #[error("plan `{id}` has no version {n} (its latest is {latest})")]
    NoVersion { id: String, n: i64, latest: i64 },
    /// The caller saw another version than the latest.
    #[error(
        "plan `{id}` is at version {latest}, the change was made on version {seen}; nothing was stored, reload and retry"
    )]
    Stale { id: String, seen: i64, latest: i64 },
    /// No free plan number after several attempts (plans created at the
    /// same moment by other callers).
    #[error("another plan was created at the same moment; nothing was stored, try again")]
    Busy,
}

/// A plan without its document (lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanInfo {
    pub id: String,
    pub scenario: String,
    pub created_by: String,
    pub created_at: String,
    /// The latest version.
    pub version: i64,
    /// Who made the latest version, and when.
    pub updated_by: String,
    pub updated_at: String,
}

/// One version of a plan, with its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    pub id: String,
    /// 1, 2, …
    pub version: i64,
    /// SHA-256 of `document` (lower-case hex).
    pub sha256: String,
    pub by: String,
    /// Server time, UTC.
    pub at: String,
    /// What made this version (the document's last history line).
    pub event: String,
    /// The plan document, JSON text.
    #[serde(skip)]
    pub document: String,
}

/// The lower-case hex SHA-256 of a document.
pub fn sha256(document: &str) -> String {
    Sha256::digest(document.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn version_row(r: &Row) -> Result<Version, StoreError> {
    Ok(Version {
        id: r.text(0)?.into(),
        version: r.int(1)?,
        sha256: r.text(2)?.into(),
        by: r.text(3)?.into(),
        at: r.text(4)?.into(),
        event: r.text(5)?.into(),
        document: r.text(6)?.into(),
    })
}

const VERSION_COLUMNS: &str = "plan_id, n, sha256, actor, at, event, document";

fn insert_version(
    tx: &mut Tx<'_>,
    id: &str,
    n: i64,
    document: &str,
    actor: &str,
    at: &str,
    event: &str,
) -> Result<(Version, u64), StoreError> {
    let v = Version {
        id: id.to_string(),
        version: n,
        sha256: sha256(document),
        by: actor.to_string(),
        at: at.to_string(),
        event: event.to_string(),
        document: document.to_string(),
    };
    let rows = tx.execute(
        &format!(
            "INSERT INTO plant_plan_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (plan_id, n) DO NOTHING"
        ),
        &[
            id.into(),
            Value::Int(n),
            v.sha256.as_str().into(),
            actor.into(),
            at.into(),
            event.into(),
            document.into(),
        ],
    )?;
    Ok((v, rows))
}

/// Stores a new plan with `document` as its version 1 (`actor` at `now`,
/// `event` what made it).
pub fn create(
    tx: &mut Tx<'_>,
    scenario: &str,
    document: &str,
    event: &str,
    actor: &str,
    now: DateTime,
) -> Result<Version, PlanError> {
    let at = now.to_string();
    let id = insert_numbered(tx, "plant_plans", "plan", |tx, id, seq| {
        tx.execute(
            "INSERT INTO plant_plans (id, seq, scenario, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                id.into(),
                Value::Int(seq),
                scenario.into(),
                actor.into(),
                at.as_str().into(),
            ],
        )
    })?
    .ok_or(PlanError::Busy)?;
    let (v, _) = insert_version(tx, &id, 1, document, actor, &at, event)?;
    Ok(v)
}

/// The latest version number of plan `id`.
pub fn latest(tx: &mut Tx<'_>, id: &str) -> Result<i64, PlanError> {
    max_of(
        tx,
        "SELECT MAX(n) FROM plant_plan_versions WHERE plan_id = $1",
        &[id.into()],
    )?
    .ok_or_else(|| PlanError::NotFound(id.to_string()))
}

/// Version `n` of plan `id`, or its latest when `n` is `None`.
pub fn get(tx: &mut Tx<'_>, id: &str, n: Option<i64>) -> Result<Version, PlanError> {
    let last = latest(tx, id)?;
    let want = n.unwrap_or(last);
    tx.query_opt_with(
        &format!("SELECT {VERSION_COLUMNS} FROM plant_plan_versions WHERE plan_id = $1 AND n = $2"),
        &[id.into(), Value::Int(want)],
        version_row,
    )?
    .ok_or(PlanError::NoVersion {
        id: id.to_string(),
        n: want,
        latest: last,
    })
}

/// Adds version `seen + 1` of plan `id` with `document`; refused
/// ([`PlanError::Stale`]) unless `seen` is the latest version.
pub fn add_version(
    tx: &mut Tx<'_>,
    id: &str,
    seen: i64,
    document: &str,
    event: &str,
    actor: &str,
    now: DateTime,
) -> Result<Version, PlanError> {
    let last = latest(tx, id)?;
    let at = now.to_string();
    add_after(last, seen, || {
        insert_version(tx, id, seen + 1, document, actor, &at, event)
    })?
    .map_err(|latest| PlanError::Stale {
        id: id.to_string(),
        seen,
        latest,
    })
}

/// The versions of plan `id` without their documents, oldest first.
pub fn versions(tx: &mut Tx<'_>, id: &str) -> Result<Vec<Version>, PlanError> {
    let rows = tx.query(
        "SELECT plan_id, n, sha256, actor, at, event, '' FROM plant_plan_versions \
         WHERE plan_id = $1 ORDER BY n",
        &[id.into()],
    )?;
    if rows.is_empty() {
        return Err(PlanError::NotFound(id.to_string()));
    }
    Ok(rows.iter().map(version_row).collect::<Result<_, _>>()?)
}

/// Plans in the order they were made, from number `cursor` (inclusive); at
/// most `limit` (capped at [`MAX_PAGE`]), and the number the next page
/// starts at.
pub fn list(
    tx: &mut Tx<'_>,
    cursor: Option<i64>,
    limit: usize,
) -> Result<(Vec<PlanInfo>, Option<i64>), StoreError> {
    let (limit, n) = paging::one_more(limit, MAX_PAGE);
    let rows = tx.query(
        "SELECT p.id, p.scenario, p.created_by, p.created_at, v.n, v.actor, v.at, p.seq \
         FROM plant_plans p JOIN plant_plan_versions v ON v.plan_id = p.id \
         WHERE p.seq >= $1 AND v.n = (SELECT MAX(n) FROM plant_plan_versions w WHERE w.plan_id = p.id) \
         ORDER BY p.seq LIMIT $2",
        &[Value::Int(cursor.unwrap_or(0)), n],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    let mut next = None;
    for (i, r) in rows.iter().enumerate() {
        if i == limit {
            next = Some(r.int(7)?);
            break;
        }
        out.push(PlanInfo {
            id: r.text(0)?.into(),
            scenario: r.text(1)?.into(),
            created_by: r.text(2)?.into(),
            created_at: r.text(3)?.into(),
            version: r.int(4)?,
            updated_by: r.text(5)?.into(),
            updated_at: r.text(6)?.into(),
        });
    }
    Ok((out, next))
}
