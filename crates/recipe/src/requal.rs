//! Requalification windows for the production planner, from an equipment inventory's
//! qualification records (`atmpflow schedule SCENARIO --orders … --equipment INVENTORY.toml`).
//!
//! Which inventory item is which unit of the scenario (documented in `docs/scheduling.md`):
//! * an equipment pool with `inventory = ["id", …]` names its units' inventory ids, unit 1
//!   first;
//! * any other pool matches the items whose id is `<pool>_<k>`, where `<pool>` is the pool
//!   name in lower case with every character other than a letter or digit written `_`, and
//!   `k` is the unit (1 to the pool's `count`): pool `rocking-bioreactor` unit 2 is
//!   `rocking_bioreactor_2`;
//! * refused, with the place in the file: an id in a pool's `inventory` list that the
//!   inventory does not have; an item `<pool>_<k>` with `k` not a unit of the pool (unknown
//!   unit); two pools whose names give the same `<pool>`; an item claimed by a pool's list
//!   and matched by another pool's name;
//! * items that match no pool (instruments, areas, other plants) and units without an item
//!   are left as they are.
//!
//! What a unit's record means for the plan (time 0 is 00:00 local on the calendar anchor's
//! `start`, so this needs the scenario's `[calendar]`):
//! * status other than `qualified`, no PQ, or a requalification date on or before the start
//!   → out of use for the whole plan;
//! * PQ after the start → out of use until 00:00 local of the PQ date;
//! * requalification date D after the start → out of use from 00:00 local of D for the
//!   pool's `requalification_hours` (24 when not given — an assumption);
//!
//! The windows join the scenario's maintenance windows: the planner plans nothing on the
//! unit during them and the checker verifies it.

use model::scenario::EquipmentPool;
use model::{Anchor, FieldPath, MaintenanceWindow, Model, Problem, ResourceKind};

use crate::equipment::{Equipment, Inventory, QualStatus};

/// Hours a unit is out of use from 00:00 of its requalification date when the pool does not
/// say (an assumption: one working day for the requalification runs and their release).
pub const DEFAULT_REQUALIFICATION_HOURS: f64 = 24.0;

/// Hours after time 0 that "the whole plan" covers: the planner's horizon is at most five
/// years.
pub const WHOLE_PLAN_H: f64 = 5.0 * 8760.0 + 24.0 * 7.0 * 8.0;

/// Problems, each in the file it belongs to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequalProblems {
    /// In the scenario file.
    pub scenario: Vec<Problem>,
    /// In the inventory file.
    pub inventory: Vec<Problem>,
}

/// A requalification window for one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitWindow {
    /// Model resource (an equipment pool).
    pub resource: usize,
    /// The window (`unit` is 1-based).
    pub window: MaintenanceWindow,
}

/// The lower-case, `_`-separated form of a pool name used in inventory ids.
pub fn id_stem(pool: &str) -> String {
    pool.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The requalification windows of every unit of `model` that the inventory `inv` (named
/// `inv_name` in reasons) describes. See the module's rules.
pub fn windows(
    model: &Model,
    inv: &Inventory,
    inv_name: &str,
) -> Result<Vec<UnitWindow>, RequalProblems> {
    let mut pr = RequalProblems::default();
    let Some(anchor) = &model.calendar else {
        pr.scenario.push(Problem::new(
            FieldPath::root(),
            "the equipment's qualification dates need a calendar: add a `[calendar]` table \
             (start = the date of time 0, time_zone) to the scenario",
        ));
        return Err(pr);
    };
    let pools = &model.scenario.equipment;
    let owner = owners(pools, inv, inv_name, &mut pr);
    if !(pr.scenario.is_empty() && pr.inventory.is_empty()) {
        return Err(pr);
    }
    let Some(start) = crate::Date::parse(&anchor.start.to_string()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (ei, e) in inv.equipment.iter().enumerate() {
        let Some((pi, unit)) = owner[ei] else {
            continue;
        };
        // equipment pools are the model's first resources, in file order
        let resource = pi;
        if model.resources.get(resource).map(|r| r.kind) != Some(ResourceKind::Equipment) {
            continue;
        }
        let hours = pools[pi]
            .requalification_hours
            .unwrap_or(DEFAULT_REQUALIFICATION_HOURS);
        unit_windows(anchor, start, resource, unit, hours, e, &mut out);
    }
    out.sort_by(|a, b| {
        (a.resource, a.window.unit)
            .cmp(&(b.resource, b.window.unit))
            .then(a.window.start_h.total_cmp(&b.window.start_h))
    });
    Ok(out)
}

/// (pool index in the scenario, unit 1-based) of each inventory item: from the
/// pools' `inventory` lists, then by name (`<pool stem>_<unit>`). Problems go to `pr`.
fn owners(
    pools: &[EquipmentPool],
    inv: &Inventory,
    inv_name: &str,
    pr: &mut RequalProblems,
) -> Vec<Option<(usize, u32)>> {
    let mut owner: Vec<Option<(usize, u32)>> = vec![None; inv.equipment.len()];
    let index_of = |id: &str| inv.equipment.iter().position(|e| e.id == id);
    for (pi, p) in pools.iter().enumerate() {
        let Some(ids) = &p.inventory else { continue };
        for (k, id) in ids.iter().enumerate() {
            match index_of(id) {
                None => pr.scenario.push(Problem::new(
                    FieldPath::root()
                        .key("equipment")
                        .idx(pi)
                        .key("inventory")
                        .idx(k),
                    format!("no equipment `{id}` in the inventory {inv_name}"),
                )),
                Some(e) => owner[e] = Some((pi, k as u32 + 1)),
            }
        }
    }
    let stems = name_stems(pools, pr);
    for (ei, e) in inv.equipment.iter().enumerate() {
        for (stem, pi) in &stems {
            let Some(rest) =
                e.id.to_ascii_lowercase()
                    .strip_prefix(&format!("{stem}_"))
                    .map(str::to_string)
            else {
                continue;
            };
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let count = pools[*pi].count;
            let unit = rest.parse::<u32>().ok().filter(|u| (1..=count).contains(u));
            let at = FieldPath::root().key("equipment").idx(ei).key("id");
            match (unit, owner[ei]) {
                (None, _) => pr.inventory.push(Problem::new(
                    at,
                    format!(
                        "unknown unit: `{}` names unit {rest} of pool `{}`, which has {count} \
                         unit(s)",
                        e.id, pools[*pi].name
                    ),
                )),
                (Some(_), Some((other, _))) => pr.inventory.push(Problem::new(
                    at,
                    format!(
                        "`{}` is listed in the `inventory` of pool `{}` and matches pool `{}` \
                         by name; a device is one unit of one pool",
                        e.id, pools[other].name, pools[*pi].name
                    ),
                )),
                (Some(u), None) => owner[ei] = Some((*pi, u)),
            }
        }
    }
    owner
}

/// (id stem, pool index) of the pools without an `inventory` list, matched by
/// name; two pools with one stem are a problem in `pr`.
fn name_stems(pools: &[EquipmentPool], pr: &mut RequalProblems) -> Vec<(String, usize)> {
    let mut stems: Vec<(String, usize)> = Vec::new();
    for (pi, p) in pools.iter().enumerate() {
        if p.inventory.is_some() {
            continue;
        }
        let stem = id_stem(&p.name);
        if let Some((_, other)) = stems.iter().find(|(s, _)| *s == stem) {
            pr.scenario.push(Problem::new(
                FieldPath::root().key("equipment").idx(pi).key("name"),
                format!(
                    "pools `{}` and `{}` both match inventory ids `{stem}_<unit>`; give each \
                     its units' ids with `inventory = [...]`",
                    pools[*other].name, p.name
                ),
            ));
            continue;
        }
        stems.push((stem, pi));
    }
    stems
}

/// The windows of one unit (`resource`, `unit`) that inventory item `e`'s
/// qualification gives, pushed onto `out`.
fn unit_windows(
    anchor: &Anchor,
    start: crate::Date,
    resource: usize,
    unit: u32,
    hours: f64,
    e: &Equipment,
    out: &mut Vec<UnitWindow>,
) {
    let q = &e.qualification;
    let whole = |reason: String| UnitWindow {
        resource,
        window: MaintenanceWindow {
            unit: Some(unit),
            start_h: 0.0,
            end_h: WHOLE_PLAN_H,
            reason,
        },
    };
    let minute = |d: crate::Date| midnight_min(anchor, start, d);
    if q.status != QualStatus::Qualified {
        out.push(whole(format!(
            "qualification status {} (inventory {})",
            q.status, e.id
        )));
        return;
    }
    match q.pq {
        None => {
            out.push(whole(format!("no completed PQ (inventory {})", e.id)));
            return;
        }
        Some(pq) if pq > start => {
            let end = minute(pq).map_or(WHOLE_PLAN_H, |m| m as f64 / 60.0);
            out.push(UnitWindow {
                resource,
                window: MaintenanceWindow {
                    unit: Some(unit),
                    start_h: 0.0,
                    end_h: end.min(WHOLE_PLAN_H),
                    reason: format!("not qualified before PQ on {pq} (inventory {})", e.id),
                },
            });
        }
        Some(_) => {}
    }
    if let Some(due) = q.next_requalification {
        if due <= start {
            out.push(whole(format!(
                "requalification was due {due}, before the start of the plan (inventory {})",
                e.id
            )));
        } else if let Some(m) = minute(due) {
            let a = m as f64 / 60.0;
            if a < WHOLE_PLAN_H {
                out.push(UnitWindow {
                    resource,
                    window: MaintenanceWindow {
                        unit: Some(unit),
                        start_h: a,
                        end_h: a + hours,
                        reason: format!("requalification due {due} (inventory {})", e.id),
                    },
                });
            }
        }
    }
}

/// Elapsed minutes from time 0 to 00:00 local of `d` (after `start`); `None` beyond the
/// calendar's range.
fn midnight_min(anchor: &Anchor, start: crate::Date, d: crate::Date) -> Option<i64> {
    let days = start.days_until(d);
    if days > 366 * 10 {
        return None;
    }
    anchor.midnight(anchor.date(days)?)
}

/// [`windows`] added to the pools' maintenance windows of `model`.
pub fn apply(model: &mut Model, inv: &Inventory, inv_name: &str) -> Result<usize, RequalProblems> {
    let w = windows(model, inv, inv_name)?;
    let n = w.len();
    for u in w {
        model.resources[u.resource].maintenance.push(u.window);
    }
    Ok(n)
}
