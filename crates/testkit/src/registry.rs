//! Equipment inventories the tests of several crates parse or register as twins in the
//! equipment registry.

/// An inventory (site `test`) of one qualified centrifuge module `cfg_1`: 100–1000 x g,
/// up to 0.5 L, closed; DQ 2025-01-10 to PQ 2025-03-01, requalification due 2026-03-01;
/// its sterile connector port used 47 of 50 times.
pub const CENTRIFUGE: &str = include_str!("../fixtures/registry-centrifuge.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_centrifuge_inventory_is_valid() {
        let inv = recipe::parse_inventory("registry-centrifuge.toml", CENTRIFUGE).expect("valid");
        assert!(inv.get("cfg_1").is_some());
    }
}
