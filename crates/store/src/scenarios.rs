//! The planners' scenarios kept on the server (migration 310): each a list
//! of versions that only grows.
//!
//! A scenario is one row of `plan_scenarios` (its id `scenario-<n>`, who made
//! it and when) and its versions rows of `plan_scenario_versions`: the file
//! name, the TOML text, its SHA-256, who saved it and the server's UTC time.
//! A save adds version `n + 1` on the version `n` that was read, in one
//! transaction, and is refused when another save took that number first
//! ([`ScenarioError::Stale`]). Deleting adds a last version marked deleted
//! (its text empty): the scenario leaves the list, its earlier texts stay.
//! The store does not read the texts (the server checks them with the
//! scenario loader); it only refuses a text longer than [`MAX_TEXT`].

use recipe::DateTime;
use serde::Serialize;

use crate::plans::sha256;
use crate::versioned::{add_after, insert_numbered, max_of};
use crate::{Row, StoreError, Tx, Value};

/// Largest scenario text stored, bytes (assumption: ten times the largest
/// bundled example, well under the scenario loader's own file limit).
pub const MAX_TEXT: usize = 256 << 10;
/// Longest file name stored, characters.
pub const MAX_NAME: usize = 120;
/// Most scenarios one list call returns.
pub const MAX_PAGE: usize = 1000;

/// Why a scenario operation did not happen; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such scenario.
    #[error("no scenario `{0}`")]
    NotFound(String),
    /// No such version.
    #[error("scenario `{id}` has no version {n} (its latest is {latest})")]
    NoVersion { id: String, n: i64, latest: i64 },
    /// The scenario was deleted (its latest version is the deletion).
    #[error("scenario `{id}` was deleted in version {version}; its earlier versions stay readable")]
    Deleted { id: String, version: i64 },
    /// The caller saw another version than the latest.
    #[error(
        "scenario `{id}` is at version {latest}, the change was made on version {seen}; nothing was stored, reload and retry"
    )]
    Stale { id: String, seen: i64, latest: i64 },
    /// The text is longer than [`MAX_TEXT`].
    #[error(
        "the scenario text has {len} bytes, more than the {max} bytes a stored scenario may have"
    )]
    TooLarge { len: usize, max: usize },
    /// The file name is empty or longer than [`MAX_NAME`].
    #[error("the file name must have 1 to {MAX_NAME} characters and no control characters")]
    BadName,
    /// No free scenario number after several attempts.
    #[error("another scenario was created at the same moment; nothing was stored, try again")]
    Busy,
}

/// One version of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    pub id: String,
    /// 1, 2, …
    pub version: i64,
    /// The file name, e.g. `concept-1.toml`.
    pub name: String,
    /// SHA-256 of `text` (lower-case hex).
    pub sha256: String,
    pub by: String,
    /// Server time, UTC.
    pub at: String,
    /// This version deletes the scenario.
    pub deleted: bool,
    /// The TOML text (empty in lists and in a deletion).
    #[serde(skip)]
    pub text: String,
}

const COLUMNS: &str = "scenario_id, n, name, sha256, actor, at, deleted, text";

fn row(r: &Row) -> Result<Version, StoreError> {
    Ok(Version {
        id: r.text(0)?.into(),
        version: r.int(1)?,
        name: r.text(2)?.into(),
        sha256: r.text(3)?.into(),
        by: r.text(4)?.into(),
        at: r.text(5)?.into(),
        deleted: r.int(6)? != 0,
        text: r.text(7)?.into(),
    })
}

fn check(name: &str, text: &str) -> Result<(), ScenarioError> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ScenarioError::BadName);
    }
    if text.len() > MAX_TEXT {
        return Err(ScenarioError::TooLarge {
            len: text.len(),
            max: MAX_TEXT,
        });
    }
    Ok(())
}

/// What a version holds besides its scenario, number, author and time.
struct Content<'a> {
    name: &'a str,
    text: &'a str,
    deleted: bool,
}

/// Inserts version `n` of scenario `id` (`actor` at `at`); the rows inserted
/// (0 when the number was taken).
fn insert(
    tx: &mut Tx<'_>,
    id: &str,
    n: i64,
    c: &Content<'_>,
    actor: &str,
    at: &str,
) -> Result<(Version, u64), StoreError> {
    let out = Version {
        id: id.to_string(),
        version: n,
        name: c.name.to_string(),
        sha256: sha256(c.text),
        by: actor.to_string(),
        at: at.to_string(),
        deleted: c.deleted,
        text: c.text.to_string(),
    };
    let rows = tx.execute(
        &format!(
            "INSERT INTO plan_scenario_versions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (scenario_id, n) DO NOTHING"
        ),
        &[
            id.into(),
            Value::Int(n),
            c.name.into(),
            out.sha256.as_str().into(),
            actor.into(),
            at.into(),
            Value::Int(i64::from(c.deleted)),
            c.text.into(),
        ],
    )?;
    Ok((out, rows))
}

/// Stores a new scenario with `text` as its version 1 (`actor` at `now`).
pub fn create(
    tx: &mut Tx<'_>,
    name: &str,
    text: &str,
    actor: &str,
    now: DateTime,
) -> Result<Version, ScenarioError> {
    check(name, text)?;
    let at = now.to_string();
    let id = insert_numbered(tx, "plan_scenarios", "scenario", |tx, id, seq| {
        tx.execute(
            "INSERT INTO plan_scenarios (id, seq, created_by, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[id.into(), Value::Int(seq), actor.into(), at.as_str().into()],
        )
    })?
    .ok_or(ScenarioError::Busy)?;
    let content = Content {
        name,
        text,
        deleted: false,
    };
    let (v, _) = insert(tx, &id, 1, &content, actor, &at)?;
    Ok(v)
}

/// The latest version number of scenario `id`.
pub fn latest(tx: &mut Tx<'_>, id: &str) -> Result<i64, ScenarioError> {
    max_of(
        tx,
        "SELECT MAX(n) FROM plan_scenario_versions WHERE scenario_id = $1",
        &[id.into()],
    )?
    .ok_or_else(|| ScenarioError::NotFound(id.to_string()))
}

/// Version `n` of scenario `id` with its text, or the latest when `n` is
/// `None` (then a deleted scenario is [`ScenarioError::Deleted`]).
pub fn get(tx: &mut Tx<'_>, id: &str, n: Option<i64>) -> Result<Version, ScenarioError> {
    let last = latest(tx, id)?;
    let want = n.unwrap_or(last);
    let v = tx
        .query_opt_with(
            &format!(
                "SELECT {COLUMNS} FROM plan_scenario_versions WHERE scenario_id = $1 AND n = $2"
            ),
            &[id.into(), Value::Int(want)],
            row,
        )?
        .ok_or(ScenarioError::NoVersion {
            id: id.to_string(),
            n: want,
            latest: last,
        })?;
    if n.is_none() && v.deleted {
        return Err(ScenarioError::Deleted {
            id: id.to_string(),
            version: v.version,
        });
    }
    Ok(v)
}

/// Adds version `seen + 1` of scenario `id` with `content` (`actor` at
/// `now`); refused unless `seen` is the latest version and the scenario is
/// not deleted.
fn next_version(
    tx: &mut Tx<'_>,
    id: &str,
    seen: i64,
    content: Content<'_>,
    actor: &str,
    now: DateTime,
) -> Result<Version, ScenarioError> {
    let last = get(tx, id, None)?.version;
    let at = now.to_string();
    add_after(last, seen, || {
        insert(tx, id, seen + 1, &content, actor, &at)
    })?
    .map_err(|latest| ScenarioError::Stale {
        id: id.to_string(),
        seen,
        latest,
    })
}

/// Saves `text` (under `name`) as version `seen + 1` of scenario `id`;
/// refused unless `seen` is the latest version and the scenario is not
/// deleted. Nothing earlier is changed.
pub fn save(
    tx: &mut Tx<'_>,
    id: &str,
    seen: i64,
    name: &str,
    text: &str,
    actor: &str,
    now: DateTime,
) -> Result<Version, ScenarioError> {
    check(name, text)?;
    let content = Content {
        name,
        text,
        deleted: false,
    };
    next_version(tx, id, seen, content, actor, now)
}

/// Deletes scenario `id`: adds version `seen + 1` marked deleted (same
/// checks as [`save`]); the earlier versions stay.
pub fn delete(
    tx: &mut Tx<'_>,
    id: &str,
    seen: i64,
    actor: &str,
    now: DateTime,
) -> Result<Version, ScenarioError> {
    let name = get(tx, id, None)?.name;
    let content = Content {
        name: &name,
        text: "",
        deleted: true,
    };
    next_version(tx, id, seen, content, actor, now)
}

/// The versions of scenario `id` without their texts, oldest first.
pub fn versions(tx: &mut Tx<'_>, id: &str) -> Result<Vec<Version>, ScenarioError> {
    let rows = tx.query(
        "SELECT scenario_id, n, name, sha256, actor, at, deleted, '' FROM plan_scenario_versions \
         WHERE scenario_id = $1 ORDER BY n",
        &[id.into()],
    )?;
    if rows.is_empty() {
        return Err(ScenarioError::NotFound(id.to_string()));
    }
    Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
}

/// The scenarios that are not deleted, each as its latest version (without
/// text), in the order they were made; at most `limit` (capped at
/// [`MAX_PAGE`]).
pub fn list(tx: &mut Tx<'_>, limit: usize) -> Result<Vec<Version>, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows = tx.query(
        "SELECT v.scenario_id, v.n, v.name, v.sha256, v.actor, v.at, v.deleted, '' \
         FROM plan_scenarios s JOIN plan_scenario_versions v ON v.scenario_id = s.id \
         WHERE v.deleted = 0 AND v.n = (SELECT MAX(n) FROM plan_scenario_versions w WHERE w.scenario_id = s.id) \
         ORDER BY s.seq LIMIT $1",
        &[Value::Int(i64::try_from(limit).unwrap_or(i64::MAX))],
    )?;
    rows.iter().map(row).collect()
}
