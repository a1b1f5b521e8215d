//! Helpers shared by the simulator's integration tests.

use std::sync::atomic::AtomicBool;

use model::Model;
use sim::{Results, RunOptions};

/// Loads a scenario from text; a scenario that does not load fails the test with its errors.
pub fn load(text: &str) -> Model {
    match model::load("test.toml", text) {
        Ok(m) => m,
        Err(e) => panic!("scenario does not load: {e}\n{text}"),
    }
}

/// Runs all replications on `threads` threads (0 = all cores), with the scenario's seed or
/// `seed`.
pub fn run_with(m: &Model, threads: usize, seed: Option<u64>) -> Results {
    let opts = RunOptions {
        threads,
        seed,
        ..RunOptions::default()
    };
    match sim::run(m, &opts, &|_| {}, &AtomicBool::new(false)) {
        Ok(r) => r,
        Err(e) => panic!("simulation failed: {e}"),
    }
}

/// Asserts that `got` equals `want` up to rounding.
pub fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: got {got}, expected exactly {want}"
    );
}
