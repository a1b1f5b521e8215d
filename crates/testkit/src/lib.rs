//! Set-up the tests of several crates share, which integration tests of different crates
//! cannot share through a `tests/support` module: the example plant (the generic CAR-T
//! process bound to the example modular plant) and the test devices' server processes.
//!
//! A dev-dependency only: no product code depends on it. It depends on `recipe` alone, so
//! any crate that `recipe` does not depend on can use it in its tests without a dependency
//! cycle. `model`, which `recipe` depends on, uses only what hands it text (the scenario
//! writer in [`scenarios`]): no type of `model`'s crosses that dev-dependency cycle.

pub mod registry;
pub mod scenarios;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use recipe::bind::{Binding, bind_strict};
use recipe::equipment::Inventory;
use recipe::recipe::Recipe;
use recipe::{Date, DateTime};

/// The generic CAR-T process (examples/recipes/car-t-modular.toml).
pub const RECIPE: &str = include_str!("../../../examples/recipes/car-t-modular.toml");
/// The example modular plant (examples/equipment/modular-plant.toml).
pub const INVENTORY: &str = include_str!("../../../examples/equipment/modular-plant.toml");

/// A timestamp written as in the record (`2026-12-01T08:00:00Z`).
pub fn t(s: &str) -> DateTime {
    DateTime::parse(s).expect("timestamp")
}

/// The recipe `name` (its file's `text`), the example modular plant, and the recipe bound
/// to the plant on 2026-12-01.
pub fn plant(name: &str, text: &str) -> (Recipe, Inventory, Binding) {
    let recipe = recipe::parse_recipe(name, text).expect("recipe");
    let inventory = recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("inventory");
    let binding = bind_strict(
        &recipe,
        &inventory,
        Date::parse("2026-12-01").expect("date"),
    )
    .expect("binding");
    (recipe, inventory, binding)
}

/// The generic CAR-T process, the example plant and the process bound to it on 2026-12-01.
pub fn fixtures() -> (Recipe, Inventory, Binding) {
    plant("car-t-modular.toml", RECIPE)
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// A test device's server process, stopped when dropped.
#[derive(Debug)]
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the SiLA 2 test cell counter (scripts/devices/sila_cell_counter/server.py) with
/// `python` on `port` with `args`, and waits (30 s at most) for it to print READY; `what`
/// names the device in the panic messages.
pub fn start_cell_counter(python: &str, port: u16, args: &[&str], what: &str) -> Server {
    let mut child = Command::new(python)
        .arg(repo().join("scripts/devices/sila_cell_counter/server.py"))
        .args(["--port", &port.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start the {what}: {e:?}"));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim() == "READY" {
                let _ = tx.send(());
            }
        }
    });
    let server = Server(child);
    if let Err(e) = rx.recv_timeout(Duration::from_secs(30)) {
        panic!("the {what} did not report READY within 30 s: {e:?}");
    }
    server
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_process_binds_to_the_example_plant() {
        let (recipe, inventory, binding) = fixtures();
        assert!(recipe.step("thaw").is_some());
        assert!(!inventory.equipment.is_empty());
        assert!(
            binding
                .assignments
                .iter()
                .any(|a| a.step == "thaw" && a.equipment.is_some())
        );
    }

    #[test]
    fn the_repository_root_holds_the_examples() {
        assert!(repo().join("examples/recipes/car-t-modular.toml").is_file());
    }

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the free port");
    }
}
