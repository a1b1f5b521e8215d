//! Set-up the batch crate's test files share: the generic CAR-T process
//! (examples/recipes/car-t-modular.toml) bound to the example modular plant.

use recipe::bind::{Binding, bind_strict};
use recipe::equipment::Inventory;
use recipe::recipe::Recipe;
use recipe::{Date, DateTime};

pub const RECIPE: &str = include_str!("../../../../examples/recipes/car-t-modular.toml");
pub const INVENTORY: &str = include_str!("../../../../examples/equipment/modular-plant.toml");

/// A timestamp written as in the record (`2026-12-01T08:00:00Z`).
pub fn t(s: &str) -> DateTime {
    DateTime::parse(s).expect("timestamp")
}

/// The example recipe, the example plant and the recipe bound to it on 2026-12-01.
pub fn fixtures() -> (Recipe, Inventory, Binding) {
    let recipe = recipe::parse_recipe("car-t-modular.toml", RECIPE).expect("recipe");
    let inventory = recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("inventory");
    let binding = bind_strict(
        &recipe,
        &inventory,
        Date::parse("2026-12-01").expect("date"),
    )
    .expect("binding");
    (recipe, inventory, binding)
}
