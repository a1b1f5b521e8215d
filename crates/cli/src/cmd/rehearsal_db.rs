//! Runs stored into a rehearsal database (`batch dry-run --db`, `plant run --db`): the
//! database's simulated clock, the equipment twins whose uses it counts, and every request
//! stored as a live batch stores it.

use anyhow::Context;
use batch::rehearsal::Journaled;
use recipe::DateTime;
use recipe::recipe::Recipe;

/// Begins the simulated clock of the database at `start` (or joins it where it stands) for
/// `by`, and answers when the run starts: at `start`, or at the clock's time when that is
/// later (noted on standard error: `what` starts then). A database that cannot take the
/// clock is refused as `cannot {doing} into` it.
pub fn begin_clock(
    db: &store::Db,
    start: DateTime,
    by: &str,
    doing: &str,
    what: &str,
) -> anyhow::Result<DateTime> {
    let clock = store::clock::begin(
        db,
        store::auth::Timestamp(start.unix_seconds()),
        by,
        store::auth::Timestamp::now(),
    )
    .with_context(|| format!("cannot {doing} into {}", db.location()))?;
    if clock.0 > start.unix_seconds() {
        eprintln!(
            "note: the rehearsal clock of {} reads {clock}; {what} starts then",
            db.location()
        );
        Ok(DateTime::from_unix_seconds(clock.0))
    } else {
        Ok(start)
    }
}

/// Takes the usage counters the database's equipment twins hold into the inventory (they are
/// the plant's running count), and answers new twins, as of `on`, for the equipment whose
/// counters the database does not hold yet.
pub fn counted_twins(
    db: &store::Db,
    inventory: &mut recipe::Inventory,
    on: recipe::Date,
) -> anyhow::Result<Vec<aas::twins::Twin>> {
    let missing = db
        .read(|tx| store::counters::adopt(tx, inventory))
        .with_context(|| format!("equipment twins in {}", db.location()))?;
    Ok(inventory
        .equipment
        .iter()
        .filter(|e| missing.contains(&e.id))
        .map(|e| aas::twins::equipment_twin(e, on))
        .collect())
}

/// Stores equipment twins and registers them in the database's AAS registry.
pub fn store_twins(tx: &mut store::Tx<'_>, twins: &[aas::twins::Twin]) -> anyhow::Result<()> {
    for t in twins {
        let w = store::batch::write_twin(tx, t.clone())?;
        server::batch::register_twin(tx, None, &w).map_err(|e| anyhow::anyhow!("{}", e.text))?;
    }
    Ok(())
}

/// Stores one request of a run as a live batch stores it (with the batch twin it changes),
/// after moving the database's rehearsal clock, set by `by`, to the request's time.
pub fn store_request(
    tx: &mut store::Tx<'_>,
    j: &Journaled<'_>,
    recipe_text: &str,
    recipe: &Recipe,
    by: &str,
) -> anyhow::Result<()> {
    store::clock::set(
        tx,
        store::auth::Timestamp(j.at.unix_seconds()),
        by,
        store::auth::Timestamp::now(),
    )?;
    if let Some(w) = store::batch::record_journaled(tx, j, recipe_text, recipe)? {
        server::batch::register_twin(tx, None, &w).map_err(|e| anyhow::anyhow!("{}", e.text))?;
    }
    Ok(())
}
