//! What the device test files share: the test devices' server processes and a batch
//! rehearsed on bound devices.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use batch::engine::recipe_sha256;
use batch::rehearsal::{BoundDevices, Cast, Ordered, Rehearsal, RehearsalError, rehearse};
use batch::{Batch, Entry, LotRegister, NewOrder, verify_chain};
use recipe::DateTime;
use recipe::bind::Binding;
use recipe::equipment::Inventory;
use recipe::recipe::Recipe;
use testkit::{Server, repo};

/// Starts the OPC UA test bioreactor (scripts/devices/opcua_bioreactor.py) with `python` on
/// `port`, injecting `fault`, with `extra` arguments; returns once its address space is up.
pub fn start_bioreactor(python: &str, port: u16, fault: &str, extra: &[String]) -> Server {
    let child = Command::new(python)
        .arg(repo().join("scripts/devices/opcua_bioreactor.py"))
        .args(["--port", &port.to_string(), "--fault", fault])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the test bioreactor");
    let server = Server(child);
    let began = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "test bioreactor did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // asyncua listens a moment before its address space is complete.
    std::thread::sleep(Duration::from_millis(500));
    server
}

/// A recipe bound to the example plant: the recipe file's text, the recipe, the plant's
/// equipment and the binding.
pub struct Plant {
    pub text: &'static str,
    pub recipe: Recipe,
    pub inventory: Inventory,
    pub binding: Binding,
}

impl Plant {
    /// Recipe file `name` (`text`) bound to the example plant on 2026-12-01.
    pub fn new(name: &str, text: &'static str) -> Plant {
        let (recipe, inventory, binding) = testkit::plant(name, text);
        Plant {
            text,
            recipe,
            inventory,
            binding,
        }
    }
}

/// The batch a device test rehearses, and for whom.
pub struct Order<'a> {
    pub batch: &'a str,
    pub patient: &'a str,
    pub coi: &'a str,
    /// The rehearsal's random seed.
    pub seed: u64,
}

/// Rehearses `order` on `plant` from 2026-12-01 08:00 with the `bound` devices; every entry
/// the rehearsal journals (their hash chain verified), and how it ended (an error is
/// printed).
pub fn rehearse_devices(
    order: &Order<'_>,
    plant: &mut Plant,
    bound: &mut BoundDevices<'_>,
) -> (Vec<Entry>, Result<Batch, RehearsalError>) {
    let mut stored = Vec::new();
    let options = Rehearsal {
        seed: order.seed,
        start: DateTime::parse("2026-12-01T08:00:00Z").expect("time"),
        excursions: 0.0,
        location: "room_c1".into(),
        clinic: "University Hospital, ward 4".into(),
    };
    let new_order = NewOrder {
        batch: order.batch.into(),
        patient: order.patient.into(),
        coi: order.coi.into(),
        din: "A9999251234569".into(),
        planned_start: options.start,
        ship_step: None,
    };
    let result = rehearse(
        Ordered {
            order: &new_order,
            recipe: &plant.recipe,
            recipe_sha: &recipe_sha256(plant.text),
            binding: &plant.binding,
        },
        &mut plant.inventory,
        &LotRegister::default(),
        &Cast::example(),
        &options,
        bound,
        |j: batch::rehearsal::Journaled<'_>| {
            stored.extend_from_slice(j.entries);
            Ok(())
        },
    );
    if let Err(e) = &result {
        eprintln!("rehearsal ended: {e}");
    }
    verify_chain(order.batch, &stored).expect("the record's hash chain verifies");
    (stored, result)
}
