//! Helpers shared by the planner's integration tests.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

/// The text of a file of the repository (`rel` from its root); a missing file fails the test
/// with its path.
pub fn read(rel: &str) -> String {
    let p = format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// An order `id` of the product named `product`, released at `release_h` and due the target
/// vein-to-vein time of that product's demand later (at its release if it has no demand).
pub fn order(
    m: &model::Model,
    id: &str,
    product: &str,
    release_h: f64,
    weight: f64,
) -> model::Order {
    let product = m
        .product(product)
        .unwrap_or_else(|| panic!("product {product}"));
    let target = m
        .demand
        .iter()
        .find(|d| d.product == product)
        .map_or(0.0, |d| d.target_v2v_h);
    model::Order {
        id: id.into(),
        product,
        release_h,
        due_h: release_h + target,
        weight,
    }
}
