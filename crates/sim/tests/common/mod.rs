//! Helpers shared by the simulator's integration tests.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use std::sync::atomic::AtomicBool;

use model::Model;
use sim::{Observation, Results, RunOptions, Stat};

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

/// Runs as [`run_with`] and also collects the raw observations of every replication, which
/// arrive in replication order.
pub fn observed(m: &Model, threads: usize) -> (Results, Vec<Vec<Observation>>) {
    let opts = RunOptions {
        threads,
        ..RunOptions::default()
    };
    let mut obs: Vec<Vec<Observation>> = Vec::new();
    let mut sink = |r: u32, o: &[Observation]| {
        if r as usize != obs.len() {
            return Err(format!("replication {r} arrived after {}", obs.len()));
        }
        obs.push(o.to_vec());
        Ok(())
    };
    match sim::run_observed(m, &opts, &|_| {}, &AtomicBool::new(false), &mut sink) {
        Ok(r) => (r, obs),
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

/// Asserts that `expected` lies in the 95 % interval and that the interval's half width is at
/// most `max_rel` of the expected value (so that a wrong engine cannot pass by being noisy).
pub fn assert_in_ci(what: &str, s: Stat, expected: f64, max_rel: f64) {
    let [lo, hi] = s.ci95;
    eprintln!(
        "{what}: expected {expected:.5}, simulated {:.5} [{lo:.5}, {hi:.5}]",
        s.mean
    );
    assert!(
        lo <= expected && expected <= hi,
        "{what}: expected {expected:.5} outside the 95 % interval [{lo:.5}, {hi:.5}] (mean {:.5})",
        s.mean
    );
    let half = 0.5 * (hi - lo);
    assert!(
        half <= max_rel * expected.abs(),
        "{what}: interval half width {half:.5} is wider than {:.1} % of {expected:.5}; the check \
         would be too weak",
        max_rel * 100.0
    );
}
