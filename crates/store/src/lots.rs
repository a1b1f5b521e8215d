//! The plant's register of material lots (migration 201).
//!
//! One row per lot of a material (`material_lots`: expiry day, release status,
//! who registered it and when) and an append-only history of its status
//! (`material_lot_history`: who, when, old and new status, why; the first row
//! is the registration). Only the status of a lot ever changes, always with a
//! history row, on the state that was read; the database refuses anything else
//! (triggers). The batch engine checks every recorded lot against the
//! [`LotRegister`] built here ([`register_for_lot`], [`register_for`]): known,
//! of that material, released, unexpired. A plant whose register is empty
//! keeps the behaviour of a plant without one (every lot accepted with the
//! expiry the operator enters).

use batch::engine::{KnownLot, LotRegister, LotStatus};
use recipe::{Date, DateTime};
use serde::{Deserialize, Serialize};

use crate::{Row, StoreError, Tx, Value, paging};

/// Most lots one list call returns.
pub const MAX_PAGE: usize = 1000;

/// Why a lot register operation did not happen; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum LotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad input: the field at fault and what is wrong with it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The lot is registered already.
    #[error("lot: `{lot}` of material {material} is registered already")]
    Exists { material: String, lot: String },
    /// No such lot.
    #[error("no lot `{lot}` of material {material} in the register")]
    NotFound { material: String, lot: String },
    /// The lot has that status already.
    #[error("status: lot `{lot}` of material {material} is {status} already")]
    Unchanged {
        material: String,
        lot: String,
        status: &'static str,
    },
    /// The lot's status changed since it was read.
    #[error(
        "lot `{lot}` of material {material} changed while this change was made; nothing was stored, reload and retry"
    )]
    Stale { material: String, lot: String },
}

fn from_refusal(r: batch::Refusal) -> LotError {
    let field = r.field().unwrap_or("request").to_string();
    let text = r.to_string();
    let message = text
        .strip_prefix(&format!("{field}: "))
        .map(str::to_string)
        .unwrap_or(text);
    LotError::Invalid { field, message }
}

fn quarantined() -> LotStatus {
    LotStatus::Quarantine
}

/// A lot to register.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewLot {
    /// Material id, as the recipes name it.
    pub material: String,
    /// Lot number.
    pub lot: String,
    /// Usable up to and including this day.
    pub expiry: Date,
    /// Release status (default: quarantined, awaiting QC).
    #[serde(default = "quarantined")]
    pub status: LotStatus,
    /// Why (e.g. the goods receipt or certificate of analysis); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A registered lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lot {
    pub material: String,
    pub lot: String,
    pub expiry: Date,
    pub status: LotStatus,
    pub registered_by: String,
    pub registered_at: String,
    /// Status changes so far (history rows, the registration included).
    pub changes: i64,
    pub updated_at: String,
}

/// One row of a lot's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub n: i64,
    pub at: String,
    pub actor: String,
    /// `None` for the registration.
    pub old_status: Option<LotStatus>,
    pub new_status: LotStatus,
    pub reason: String,
}

/// The word stored for a status.
pub fn status_word(s: LotStatus) -> &'static str {
    match s {
        LotStatus::Released => "released",
        LotStatus::Quarantine => "quarantined",
        LotStatus::Rejected => "rejected",
    }
}

fn parse_status(s: &str) -> Result<LotStatus, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| StoreError::Db(format!("material_lots: unknown stored status `{s}`")))
}

const COLUMNS: &str =
    "material, lot, expiry, status, registered_by, registered_at, changes, updated_at";

fn lot_row(r: &Row) -> Result<Lot, StoreError> {
    let expiry = r.text(2)?;
    Ok(Lot {
        material: r.text(0)?.into(),
        lot: r.text(1)?.into(),
        expiry: Date::parse(expiry).ok_or_else(|| {
            StoreError::Db(format!("material_lots: unreadable expiry `{expiry}`"))
        })?,
        status: parse_status(r.text(3)?)?,
        registered_by: r.text(4)?.into(),
        registered_at: r.text(5)?.into(),
        changes: r.int(6)?,
        updated_at: r.text(7)?.into(),
    })
}

fn check_reason(reason: &str) -> Result<(), LotError> {
    batch::engine::check_reason(reason).map_err(from_refusal)
}

/// Checks a lot to register, naming the field of the first problem.
pub fn check(new: &NewLot) -> Result<(), LotError> {
    KnownLot {
        material: new.material.clone(),
        lot: new.lot.clone(),
        expiry: new.expiry,
        status: new.status,
    }
    .check()
    .map_err(from_refusal)?;
    if let Some(r) = &new.reason {
        check_reason(r)?;
    }
    Ok(())
}

/// One lot.
pub fn get(tx: &mut Tx<'_>, material: &str, lot: &str) -> Result<Option<Lot>, StoreError> {
    tx.query_opt_with(
        &format!("SELECT {COLUMNS} FROM material_lots WHERE material = $1 AND lot = $2"),
        &[material.into(), lot.into()],
        lot_row,
    )
}

/// The status history of a lot, oldest first.
pub fn history(tx: &mut Tx<'_>, material: &str, lot: &str) -> Result<Vec<Change>, StoreError> {
    tx.query(
        "SELECT n, at, actor, old_status, new_status, reason FROM material_lot_history \
         WHERE material = $1 AND lot = $2 ORDER BY n",
        &[material.into(), lot.into()],
    )?
    .iter()
    .map(|r| {
        Ok(Change {
            n: r.int(0)?,
            at: r.text(1)?.into(),
            actor: r.text(2)?.into(),
            old_status: r.opt_text(3)?.map(parse_status).transpose()?,
            new_status: parse_status(r.text(4)?)?,
            reason: r.text(5)?.into(),
        })
    })
    .collect()
}

fn add_history(
    tx: &mut Tx<'_>,
    lot: &Lot,
    old: Option<LotStatus>,
    actor: &str,
    reason: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO material_lot_history (material, lot, n, at, actor, old_status, new_status, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            lot.material.as_str().into(),
            lot.lot.as_str().into(),
            Value::Int(lot.changes),
            lot.updated_at.as_str().into(),
            actor.into(),
            old.map(status_word).into(),
            status_word(lot.status).into(),
            reason.into(),
        ],
    )?;
    Ok(())
}

/// Registers a lot (`actor` registers it at `now`), with its first history
/// row. A lot of that material with that number is refused
/// ([`LotError::Exists`]).
pub fn register(
    tx: &mut Tx<'_>,
    new: &NewLot,
    actor: &str,
    now: DateTime,
) -> Result<Lot, LotError> {
    check(new)?;
    if get(tx, &new.material, &new.lot)?.is_some() {
        return Err(LotError::Exists {
            material: new.material.clone(),
            lot: new.lot.clone(),
        });
    }
    let at = now.to_string();
    let lot = Lot {
        material: new.material.clone(),
        lot: new.lot.clone(),
        expiry: new.expiry,
        status: new.status,
        registered_by: actor.to_string(),
        registered_at: at.clone(),
        changes: 1,
        updated_at: at.clone(),
    };
    let n = tx.execute(
        &format!(
            "INSERT INTO material_lots ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (material, lot) DO NOTHING"
        ),
        &[
            lot.material.as_str().into(),
            lot.lot.as_str().into(),
            lot.expiry.to_string().into(),
            status_word(lot.status).into(),
            actor.into(),
            at.as_str().into(),
            Value::Int(1),
            at.as_str().into(),
        ],
    )?;
    if n != 1 {
        return Err(LotError::Exists {
            material: new.material.clone(),
            lot: new.lot.clone(),
        });
    }
    add_history(
        tx,
        &lot,
        None,
        actor,
        new.reason.as_deref().unwrap_or("registered"),
    )?;
    Ok(lot)
}

/// Moves a lot to status `to` with a reason (`actor` at `now`), with its
/// history row. The status must change, and `expected_changes`, when given,
/// must be the number of changes the caller saw.
#[allow(clippy::too_many_arguments)]
pub fn set_status(
    tx: &mut Tx<'_>,
    material: &str,
    lot: &str,
    to: LotStatus,
    reason: &str,
    expected_changes: Option<i64>,
    actor: &str,
    now: DateTime,
) -> Result<Lot, LotError> {
    check_reason(reason)?;
    let Some(cur) = get(tx, material, lot)? else {
        return Err(LotError::NotFound {
            material: material.to_string(),
            lot: lot.to_string(),
        });
    };
    if expected_changes.is_some_and(|n| n != cur.changes) {
        return Err(LotError::Stale {
            material: material.to_string(),
            lot: lot.to_string(),
        });
    }
    if cur.status == to {
        return Err(LotError::Unchanged {
            material: material.to_string(),
            lot: lot.to_string(),
            status: status_word(to),
        });
    }
    let next = Lot {
        status: to,
        changes: cur.changes + 1,
        updated_at: now.to_string(),
        ..cur.clone()
    };
    let n = tx.execute(
        "UPDATE material_lots SET status = $1, changes = $2, updated_at = $3 \
         WHERE material = $4 AND lot = $5 AND changes = $6",
        &[
            status_word(to).into(),
            Value::Int(next.changes),
            next.updated_at.as_str().into(),
            material.into(),
            lot.into(),
            Value::Int(cur.changes),
        ],
    )?;
    if n != 1 {
        return Err(LotError::Stale {
            material: material.to_string(),
            lot: lot.to_string(),
        });
    }
    add_history(tx, &next, Some(cur.status), actor, reason)?;
    Ok(next)
}

/// Where a page of lots starts: a material and a lot number.
pub type Cursor = (String, String);

/// Lots ordered by material and lot number from `cursor` (inclusive),
/// optionally of one material; at most `limit` (capped at [`MAX_PAGE`]), and
/// where the next page starts.
pub fn list(
    tx: &mut Tx<'_>,
    material: Option<&str>,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Result<(Vec<Lot>, Option<Cursor>), StoreError> {
    let (limit, n) = paging::one_more(limit, MAX_PAGE);
    let (cm, cl) = cursor
        .map(|(m, l)| (m.as_str(), l.as_str()))
        .unwrap_or(("", ""));
    let rows = tx.query(
        &format!(
            "SELECT {COLUMNS} FROM material_lots \
             WHERE (material > $1 OR (material = $1 AND lot >= $2)) AND ($3 = '' OR material = $3) \
             ORDER BY material, lot LIMIT $4"
        ),
        &[cm.into(), cl.into(), material.unwrap_or("").into(), n],
    )?;
    let out = rows.iter().map(lot_row).collect::<Result<Vec<_>, _>>()?;
    Ok(paging::split(out, limit, |l| (l.material, l.lot)))
}

fn known(l: Lot) -> KnownLot {
    KnownLot {
        material: l.material,
        lot: l.lot,
        expiry: l.expiry,
        status: l.status,
    }
}

fn kept(tx: &mut Tx<'_>) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt("SELECT 1 FROM material_lots LIMIT 1", &[])?
        .is_some())
}

/// The register as far as a request recording lot number `lot` needs it:
/// every lot with that number (of any material, so that a lot of another
/// material is named as such), and whether the plant keeps a register at all.
pub fn register_for_lot(tx: &mut Tx<'_>, lot: &str) -> Result<LotRegister, StoreError> {
    let lots = tx
        .query(
            &format!("SELECT {COLUMNS} FROM material_lots WHERE lot = $1 ORDER BY material"),
            &[lot.into()],
        )?
        .iter()
        .map(|r| lot_row(r).map(known))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LotRegister {
        kept: !lots.is_empty() || kept(tx)?,
        lots,
    })
}

/// The register as far as the given materials go (e.g. those of a recipe),
/// and whether the plant keeps a register at all.
pub fn register_for(tx: &mut Tx<'_>, materials: &[&str]) -> Result<LotRegister, StoreError> {
    let mut lots = Vec::new();
    for m in materials {
        for r in tx.query(
            &format!("SELECT {COLUMNS} FROM material_lots WHERE material = $1 ORDER BY lot"),
            &[(*m).into()],
        )? {
            lots.push(known(lot_row(&r)?));
        }
    }
    Ok(LotRegister {
        kept: !lots.is_empty() || kept(tx)?,
        lots,
    })
}
