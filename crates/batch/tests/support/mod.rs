//! What the batch test files share: the rehearsal of the example process on the example
//! plant.

use batch::engine::recipe_sha256;
use batch::rehearsal::{
    BoundDevices, Cast, Journaled, Ordered, Rehearsal, RehearsalError, rehearse,
};
use batch::{Batch, LotRegister, NewOrder};
use testkit::{RECIPE, fixtures, t};

/// A rehearsal with `seed` from 2026-12-01 08:00 in room_c1 for ward 4 of the University
/// Hospital, without excursions.
pub fn options(seed: u64) -> Rehearsal {
    Rehearsal {
        seed,
        start: t("2026-12-01T08:00:00Z"),
        excursions: 0.0,
        location: "room_c1".into(),
        clinic: "University Hospital, ward 4".into(),
    }
}

/// Rehearses `order` of the example process on the example plant (no lot register kept,
/// the example cast) with `options`, the `bound` devices (none: all simulated) and
/// `journal`. Answers what `rehearse` answers, its error as large
/// as it is there.
#[allow(clippy::result_large_err)]
pub fn rehearse_example(
    order: &NewOrder,
    options: &Rehearsal,
    bound: &mut BoundDevices<'_>,
    journal: impl FnMut(Journaled<'_>) -> Result<(), String>,
) -> Result<Batch, RehearsalError> {
    let (recipe, mut inventory, binding) = fixtures();
    rehearse(
        Ordered {
            order,
            recipe: &recipe,
            recipe_sha: &recipe_sha256(RECIPE),
            binding: &binding,
        },
        &mut inventory,
        &LotRegister::default(),
        &Cast::example(),
        options,
        bound,
        journal,
    )
}
