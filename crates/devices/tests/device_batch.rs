//! Issue #16 "Done when": one batch of examples/recipes/car-t-modular-devices.toml whose
//! expansion runs on the OPC UA test bioreactor (scripts/devices/opcua_bioreactor.py) and
//! whose cell count — the expansion's decision measure — comes from the SiLA 2 test cell
//! counter (scripts/devices/sila_cell_counter/server.py), bound by the example binding
//! examples/devices/test-devices.toml, with faults injected: a short OPC UA disconnect (a
//! retry entry), a bad status code on the bioreactor's temperature (a refused value and a
//! deviation) and a failing second count on the SiLA device at harvest (a deviation). The
//! record must be complete: every device value with its source, every fault a retry entry
//! or a deviation, the hash chain verifying.
//!
//! Needs Python with asyncua and sila2: run by scripts/ci.d/77-device-batch.sh, which sets
//! ATMPFLOW_OPCUA_PYTHON and ATMPFLOW_SILA_PYTHON. Ignored otherwise.

mod support;

use std::collections::BTreeSet;

use batch::Entry;
use batch::entry::{Body, DeviationKind, DeviceEventKind, Source};
use support::{Order, Plant, rehearse_devices};
use testkit::{Server, free_port};

const RECIPE: &str = include_str!("../../../examples/recipes/car-t-modular-devices.toml");
const BINDING: &str = include_str!("../../../examples/devices/test-devices.toml");

fn python(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var}: a python with the test device's package (scripts/ci.d/77-device-batch.sh)")
    })
}

fn start_bioreactor(port: u16, fault: &str) -> Server {
    support::start_bioreactor(&python("ATMPFLOW_OPCUA_PYTHON"), port, fault, &[])
}

fn start_counter(port: u16, args: &[&str]) -> Server {
    let args = [&["--count-seconds", "1"][..], args].concat();
    testkit::start_cell_counter(
        &python("ATMPFLOW_SILA_PYTHON"),
        port,
        &args,
        "test cell counter",
    )
}

/// The batch rehearsed on both devices.
const ORDER: Order<'static> = Order {
    batch: "B-DEVICES",
    patient: "PSN-0002",
    coi: "COI-2026-0200",
    seed: 5,
};

/// Runs the batch against both devices; the stored entries and whether it ran to the end.
fn run(opcua_fault: &str, sila_args: &[&str]) -> (Vec<Entry>, bool) {
    let mut plant = Plant::new("car-t-modular-devices.toml", RECIPE);
    let at = |step: &str| -> BTreeSet<String> {
        plant
            .binding
            .assignments
            .iter()
            .filter(|a| a.step == step)
            .filter_map(|a| a.equipment.clone())
            .collect()
    };
    // The example binding file names what the binder picks.
    assert!(
        at("expansion").contains("incubator_3"),
        "{:?}",
        at("expansion")
    );
    assert!(
        at("expansion").contains("counter_1"),
        "{:?}",
        at("expansion")
    );
    assert!(at("harvest").contains("counter_1"), "{:?}", at("harvest"));
    let (opcua_port, sila_port) = (free_port(), free_port());
    let text = BINDING
        .replace("127.0.0.1:4840", &format!("127.0.0.1:{opcua_port}"))
        .replace("127.0.0.1:50052", &format!("127.0.0.1:{sila_port}"));
    let devices = devices::parse_devices_for("test-devices.toml", &text, &plant.recipe)
        .expect("binding file");
    let _bioreactor = start_bioreactor(opcua_port, opcua_fault);
    let _counter = start_counter(sila_port, sila_args);
    let mut bound = devices::bind_all(&devices).expect("adapters");
    let (stored, result) = rehearse_devices(&ORDER, &mut plant, &mut bound);
    (stored, result.is_ok())
}

fn device_events(stored: &[Entry]) -> Vec<(String, String, DeviceEventKind, String)> {
    stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::DeviceEvent(d) => {
                Some((d.step.clone(), d.device.clone(), d.event, d.detail.clone()))
            }
            _ => None,
        })
        .collect()
}

fn deviations(stored: &[Entry]) -> Vec<(Option<String>, DeviationKind, String, String)> {
    stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::Deviation(d) => Some((d.step.clone(), d.kind, d.field.clone(), d.actual.clone())),
            _ => None,
        })
        .collect()
}

#[test]
#[ignore = "needs the asyncua and sila2 test devices (scripts/ci.d/77-device-batch.sh)"]
fn a_batch_on_both_test_devices_with_faults_has_a_complete_record() {
    let (stored, ok) = run(
        "disconnect,bad-status",
        &["--fault", "clogged", "--fault-after", "1"],
    );
    assert!(ok, "the batch ran to its end");
    let events = device_events(&stored);
    let devs = deviations(&stored);
    for d in &devs {
        println!("deviation: {d:?}");
    }
    for e in &events {
        println!("device event: {e:?}");
    }
    // OPC UA short disconnect: a retry entry of the bioreactor, no lost connection.
    assert!(
        events.iter().any(|(s, d, k, _)| s == "expansion"
            && d == "incubator_3"
            && *k == DeviceEventKind::Retry),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|(_, d, k, _)| d == "incubator_3" && *k == DeviceEventKind::Lost)
    );
    // OPC UA bad status: the temperature is refused (not a value) and is a deviation.
    assert!(events.iter().any(|(s, d, k, detail)| s == "expansion"
        && d == "incubator_3"
        && *k == DeviceEventKind::BadValue
        && detail.contains("BadSensorFailure")));
    assert!(
        devs.iter()
            .any(|(s, k, f, _)| s.as_deref() == Some("expansion")
                && *k == DeviationKind::Device
                && f == "parameters.temperature")
    );
    // The expansion's cell count: the SiLA counter's viability drives the decision, and the
    // count is in the record under the counter's name with the server's identity and the
    // receipt time.
    let decision = stored.iter().find_map(|e| match &e.body {
        Body::Decision(d) if d.step == "expansion" && d.measure == "viability" => Some(d.value),
        _ => None,
    });
    assert_eq!(
        decision,
        Some(0.925),
        "viability 92.5 % from the test counter"
    );
    let count = stored.iter().find_map(|e| match &e.body {
        Body::DeviceEvent(d)
            if d.step == "expansion"
                && d.device == "counter_1"
                && d.event == DeviceEventKind::Program =>
        {
            Some(d.clone())
        }
        _ => None,
    });
    let count = count.expect("the expansion's count is recorded under counter_1");
    assert!(
        count.detail.contains("Test cell counter"),
        "{}",
        count.detail
    );
    assert!(
        count.detail.contains("viability 92.5 %"),
        "{}",
        count.detail
    );
    assert!(
        count
            .source_time
            .is_some_and(|t| t.unix_seconds() > 1_600_000_000)
    );
    // SiLA failure at harvest (ChamberClogged on the second count): a deviation of the
    // counter; the viability is then entered by people.
    assert!(
        events.iter().any(|(s, d, k, detail)| s == "harvest"
            && d == "counter_1"
            && *k == DeviceEventKind::BadValue
            && detail.contains("ChamberClogged")),
        "{events:?}"
    );
    assert!(
        devs.iter()
            .any(|(s, k, f, _)| s.as_deref() == Some("harvest")
                && *k == DeviationKind::Device
                && f == "device.counter_1"),
        "{devs:?}"
    );
    // Completeness: every value written by a connected device names it, a source time and
    // an address (simulated equipment of the other steps has neither).
    let mut device_values = 0;
    for e in &stored {
        if let Body::Value(v) = &e.body {
            if let Source::Device {
                device,
                source_time,
                address,
            } = &v.source
                && (device == "incubator_3" || device == "counter_1")
            {
                device_values += 1;
                assert!(source_time.is_some(), "{v:?}");
                assert!(address.is_some(), "{v:?}");
            }
            if v.step == "expansion" && v.field == "parameters.temperature" {
                panic!("a refused value was recorded: {v:?}");
            }
        }
    }
    assert!(device_values >= 4, "{device_values} device values");
    // Every fault event is a retry entry or has its deviation; nothing else is silent.
    for (step, dev, kind, _) in &events {
        match kind {
            DeviceEventKind::Retry | DeviceEventKind::Program => {}
            DeviceEventKind::Lost | DeviceEventKind::BadValue => assert!(
                devs.iter()
                    .any(|(s, k, _, _)| s.as_deref() == Some(step.as_str())
                        && *k == DeviationKind::Device),
                "{step} {dev} {kind:?} without a deviation"
            ),
        }
    }
    let device_devs = devs.iter().filter(|d| d.1 == DeviationKind::Device).count();
    let faults = events
        .iter()
        .filter(|e| matches!(e.2, DeviceEventKind::Lost | DeviceEventKind::BadValue))
        .count();
    assert_eq!(device_devs, faults, "one deviation per fault: {devs:?}");
}
