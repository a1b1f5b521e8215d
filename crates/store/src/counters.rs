//! Usage counters of the equipment twins, moved by the batches that use
//! the equipment.
//!
//! An equipment twin keeps its counters (e.g. uses of a sterile connector
//! port against its maximum) in its UsageCounters submodel. A batch request
//! that scans equipment is checked against the counters as this transaction
//! reads them ([`current`]), and the uses it books are written back to that
//! submodel in the same transaction as the request's entries
//! ([`write_uses`]), so the AAS API shows the new count and the next scan or
//! binding sees it. A counter is only ever raised; a twin without the
//! counter a use names is an error, never skipped. The twin of equipment `E`
//! is the shell carrying the specific asset id `equipmentId = E` (as the
//! equipment twins built by `aas::twins` do).

use std::borrow::Cow;

use aas::equipment::{raise_usage_counter, usage_counter};
use aas::model::Submodel;
use aas::twins::SEM_USAGE;
use batch::{Body, Entry};
use recipe::equipment::Inventory;

use crate::batch_error::BatchError;
use crate::{Kind, StoreError, Tx};

fn problem(equipment: &str, message: impl Into<String>) -> BatchError {
    BatchError::Equipment {
        equipment: equipment.to_string(),
        message: message.into(),
    }
}

/// The id of the UsageCounters submodel of equipment `equipment`'s twin, if
/// the database holds one. Two twins claiming the same equipment are an error.
pub fn usage_submodel_id(tx: &mut Tx<'_>, equipment: &str) -> Result<Option<String>, BatchError> {
    let rows = tx.query(
        "SELECT DISTINCT r.submodel_id FROM aas_asset_ids a \
         JOIN aas_submodel_refs r ON r.shell_id = a.owner \
         JOIN aas_semantic_ids s ON s.owner = r.submodel_id AND s.kind = 'submodel' \
         WHERE a.kind = 'specific' AND a.name = 'equipmentId' AND a.value = $1 AND s.value = $2 \
         ORDER BY r.submodel_id",
        &[equipment.into(), SEM_USAGE.into()],
    )?;
    match rows.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.text(0)?.to_string())),
        more => Err(problem(
            equipment,
            format!(
                "{} UsageCounters submodels belong to its twins ({}); one is expected",
                more.len(),
                more.iter()
                    .filter_map(|r| r.text(0).ok())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The UsageCounters submodel of equipment `equipment`'s twin as this
/// transaction sees it (its version noted for the write-back), if any.
pub fn usage_submodel(tx: &mut Tx<'_>, equipment: &str) -> Result<Option<Submodel>, BatchError> {
    let Some(id) = usage_submodel_id(tx, equipment)? else {
        return Ok(None);
    };
    let Some(bytes) = tx.get(Kind::Submodel, &id)? else {
        return Err(problem(
            equipment,
            format!("its twin references the UsageCounters submodel {id}, which is not stored"),
        ));
    };
    aas::parse::parse_submodel(&bytes).map(Some).map_err(|e| {
        problem(
            equipment,
            format!("UsageCounters submodel {id}, {}: {}", e.path, e.message),
        )
    })
}

/// `inventory` with the counters of `equipment` as this transaction reads
/// them from its twin (the inventory given may have been read earlier, and
/// another batch may have used the equipment since). Unchanged when the
/// database holds no counters of that equipment.
pub fn current<'a>(
    tx: &mut Tx<'_>,
    inventory: &'a Inventory,
    equipment: &str,
) -> Result<Cow<'a, Inventory>, BatchError> {
    let Some(item) = inventory.equipment.iter().position(|e| e.id == equipment) else {
        return Ok(Cow::Borrowed(inventory));
    };
    if inventory.equipment[item].counters.is_empty() {
        return Ok(Cow::Borrowed(inventory));
    }
    let Some(sm) = usage_submodel(tx, equipment)? else {
        return Ok(Cow::Borrowed(inventory));
    };
    let mut inv = inventory.clone();
    for c in &mut inv.equipment[item].counters {
        let (used, max) = usage_counter(&sm, &c.name)
            .map_err(|p| problem(equipment, format!("UsageCounters submodel {}: {p}", sm.id)))?;
        c.used = used;
        c.max = max;
    }
    Ok(Cow::Owned(inv))
}

/// Writes the counter uses booked by `entries` (their `equipment_used`
/// entries) back to the equipment twins. Each counter must stand where the
/// use was checked (`before`): otherwise the use was checked against a stale
/// count and nothing is written. A twin or counter that is missing is an
/// error naming it.
pub fn write_uses(tx: &mut Tx<'_>, entries: &[Entry]) -> Result<(), BatchError> {
    for e in entries {
        let Body::EquipmentUsed(u) = &e.body else {
            continue;
        };
        if u.counters.is_empty() {
            continue;
        }
        let eq = u.equipment.as_str();
        let Some(mut sm) = usage_submodel(tx, eq)? else {
            return Err(problem(
                eq,
                format!(
                    "no twin with a UsageCounters submodel in the database (a shell with the \
                     specific asset id equipmentId = {eq}), so the use of {} cannot be counted",
                    u.counters
                        .iter()
                        .map(|c| c.counter.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        for c in &u.counters {
            let (stored, _) = usage_counter(&sm, &c.counter)
                .map_err(|p| problem(eq, format!("UsageCounters submodel {}: {p}", sm.id)))?;
            if stored != c.before {
                return Err(problem(
                    eq,
                    format!(
                        "usage counter `{}` stands at {stored} in its twin, but the use was \
                         checked against {}; nothing was stored, send the request again",
                        c.counter, c.before
                    ),
                ));
            }
            raise_usage_counter(&mut sm, &c.counter, c.after)
                .map_err(|p| problem(eq, format!("UsageCounters submodel {}: {p}", sm.id)))?;
        }
        let json = serde_json::to_vec(&sm)
            .map_err(|err| StoreError::Db(format!("cannot serialise submodel {}: {err}", sm.id)))?;
        tx.put(Kind::Submodel, &sm.id, &json)?;
    }
    Ok(())
}

/// Makes an inventory read from a file agree with the database before a
/// rehearsal stores its requests there: for every item with usage counters
/// whose twin the database holds, the twin's counters replace the file's
/// (the twin is the plant's running count). The ids of the items with
/// counters that the database holds no twin of (the caller stores their
/// twins with its first write, so that the uses can be counted).
pub fn adopt(tx: &mut Tx<'_>, inventory: &mut Inventory) -> Result<Vec<String>, BatchError> {
    let mut missing = Vec::new();
    for e in &mut inventory.equipment {
        if e.counters.is_empty() {
            continue;
        }
        let Some(sm) = usage_submodel(tx, &e.id)? else {
            missing.push(e.id.clone());
            continue;
        };
        for c in &mut e.counters {
            let (used, max) = usage_counter(&sm, &c.name)
                .map_err(|p| problem(&e.id, format!("UsageCounters submodel {}: {p}", sm.id)))?;
            c.used = used;
            c.max = max;
        }
    }
    Ok(missing)
}
