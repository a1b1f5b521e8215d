//! The expansion of the example CAR-T recipe run on the OPC UA test bioreactor
//! (scripts/devices/opcua_bioreactor.py), normally and with each fault injected.
//!
//! Needs Python with asyncua: run by scripts/ci.d/75-opcua-device.sh, which sets
//! ATMPFLOW_OPCUA_PYTHON to its venv's python. Ignored otherwise (`--ignored` runs them).

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use batch::engine::recipe_sha256;
use batch::entry::{Body, DeviationKind, DeviceEventKind, Source};
use batch::rehearsal::{BoundDevices, Cast, Rehearsal, rehearse_on};
use batch::{Entry, LotRegister, NewOrder, verify_chain};
use devices::{OpcuaDevice, parse_devices_for};
use recipe::bind::bind_strict;
use recipe::{Date, DateTime};

const RECIPE: &str = include_str!("../../../examples/recipes/car-t-modular.toml");
const INVENTORY: &str = include_str!("../../../examples/equipment/modular-plant.toml");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/devices/opcua_bioreactor.py")
}

fn start(port: u16, fault: &str) -> Server {
    let python = std::env::var("ATMPFLOW_OPCUA_PYTHON")
        .expect("ATMPFLOW_OPCUA_PYTHON: a python with asyncua (scripts/ci.d/75-opcua-device.sh)");
    let child = Command::new(python)
        .arg(script())
        .args(["--port", &port.to_string(), "--fault", fault])
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

fn binding_text(equipment: &str, port: u16) -> String {
    format!(
        r#"
[[device]]
equipment = "{equipment}"
protocol = "opcua"
endpoint = "opc.tcp://127.0.0.1:{port}/atmpflow/bioreactor"
security = "none"
retries = 2
timeout_s = 60

[device.step.expansion]
program = "Expansion"
parameters = {{ DurationHours = 288, TargetTemperature = 37.0, PerfusionRate = 500 }}
values = {{ "parameters.temperature" = "Temperature", "parameters.co2" = "CO2", "parameters.glucose" = "Glucose", "parameters.perfusion_rate" = "PerfusionRate" }}
results = {{ "parameters.fold_expansion" = "FoldExpansion" }}
measures = {{ viability = "Viability" }}
"#
    )
}

/// Rehearse the batch with the expansion on the test bioreactor; the stored entries.
fn run(port: u16, fault: &str) -> (Vec<Entry>, String, bool) {
    let recipe = recipe::parse_recipe("car-t-modular.toml", RECIPE).expect("recipe");
    let mut inventory =
        recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("inventory");
    let binding = bind_strict(
        &recipe,
        &inventory,
        Date::parse("2026-12-01").expect("date"),
    )
    .expect("binding");
    let equipment = binding
        .assignments
        .iter()
        .find(|a| a.step == "expansion")
        .and_then(|a| a.equipment.clone())
        .expect("expansion bound");
    let devices = parse_devices_for("devices.toml", &binding_text(&equipment, port), &recipe)
        .expect("binding file");
    let _server = start(port, fault);
    let mut bound: BoundDevices<'_> = BTreeMap::new();
    bound.insert(
        equipment.clone(),
        Box::new(OpcuaDevice::new(&devices.device[0]).expect("adapter")),
    );
    let mut stored = Vec::new();
    let options = Rehearsal {
        seed: 3,
        start: DateTime::parse("2026-12-01T08:00:00Z").expect("time"),
        excursions: 0.0,
        location: "room_c1".into(),
        clinic: "University Hospital, ward 4".into(),
    };
    let result = rehearse_on(
        &NewOrder {
            batch: "B-OPCUA".into(),
            patient: "PSN-0001".into(),
            coi: "COI-2026-0100".into(),
            din: "A9999251234569".into(),
            planned_start: options.start,
            ship_step: None,
        },
        &recipe,
        &recipe_sha256(RECIPE),
        &binding,
        &mut inventory,
        &LotRegister::default(),
        &Cast::example(),
        &options,
        &mut bound,
        |j: batch::rehearsal::Journaled<'_>| {
            stored.extend_from_slice(j.entries);
            Ok(())
        },
    );
    if let Err(e) = &result {
        eprintln!("rehearsal ended: {e}");
    }
    verify_chain("B-OPCUA", &stored).expect("the record verifies");
    (stored, equipment, result.is_ok())
}

fn events(stored: &[Entry]) -> Vec<DeviceEventKind> {
    stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::DeviceEvent(d) => Some(d.event),
            _ => None,
        })
        .collect()
}

fn expansion_deviations(stored: &[Entry]) -> Vec<(DeviationKind, String)> {
    stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::Deviation(d) if d.step.as_deref() == Some("expansion") => {
                Some((d.kind, d.field.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_normal_run_records_the_bioreactor_values_with_source_timestamps() {
    let (stored, equipment, ok) = run(48511, "none");
    assert!(ok);
    let values: BTreeMap<String, (f64, Source)> = stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::Value(v) if v.step == "expansion" => {
                Some((v.field.clone(), (v.value, v.source.clone())))
            }
            _ => None,
        })
        .collect();
    for f in [
        "parameters.temperature",
        "parameters.co2",
        "parameters.glucose",
        "parameters.perfusion_rate",
        "parameters.fold_expansion",
    ] {
        let (value, source) = values
            .get(f)
            .unwrap_or_else(|| panic!("{f} recorded: {values:?}"));
        assert!(value.is_finite());
        match source {
            Source::Device {
                device,
                source_time,
                address,
            } => {
                assert_eq!(device, &equipment);
                let t = source_time.expect("source timestamp");
                // The device's clock is now, not the rehearsal's simulated 2026-12 clock.
                assert!(t.unix_seconds() > 1_600_000_000, "{t}");
                assert!(
                    address
                        .as_deref()
                        .is_some_and(|a| a.starts_with("Bioreactor1/"))
                );
            }
            Source::Manual => panic!("{f} came from a person"),
        }
    }
    // The room's temperature is not the bioreactor's: entered by hand.
    assert!(matches!(
        values.get("environment.temperature"),
        Some((_, Source::Manual))
    ));
    let (t, _) = values["parameters.temperature"];
    assert!((36.5..=37.5).contains(&t), "{t}");
    assert_eq!(events(&stored), vec![DeviceEventKind::Program]);
    assert!(
        expansion_deviations(&stored).is_empty(),
        "{:?}",
        expansion_deviations(&stored)
    );
    // The step's duration is the device's elapsed program time (288 h).
    let started = stored.iter().find_map(|e| match &e.body {
        Body::StepStarted(s) if s.step == "expansion" => Some(e.at),
        _ => None,
    });
    let completed = stored.iter().find_map(|e| match &e.body {
        Body::StepCompleted(c) if c.step == "expansion" => Some(e.at),
        _ => None,
    });
    let h = started
        .expect("started")
        .hours_until(completed.expect("completed"));
    assert!((287.0..=289.0).contains(&h), "{h} h");
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_short_disconnect_is_a_retry_entry() {
    let (stored, _, ok) = run(48512, "disconnect");
    assert!(ok);
    let ev = events(&stored);
    assert!(ev.contains(&DeviceEventKind::Retry), "{ev:?}");
    assert!(!ev.contains(&DeviceEventKind::Lost), "{ev:?}");
    assert!(
        expansion_deviations(&stored)
            .iter()
            .all(|(k, _)| *k != DeviationKind::Device)
    );
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_lasting_disconnect_is_a_deviation() {
    let (stored, equipment, _) = run(48513, "lost");
    assert!(events(&stored).contains(&DeviceEventKind::Lost));
    let devs = expansion_deviations(&stored);
    assert!(
        devs.contains(&(DeviationKind::Device, format!("device.{equipment}"))),
        "{devs:?}"
    );
    assert!(
        devs.iter().any(|(k, _)| *k == DeviationKind::Failure),
        "{devs:?}"
    );
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_bad_status_code_is_a_refused_value_and_a_deviation() {
    let (stored, _, _) = run(48514, "bad-status");
    let bad: Vec<_> = stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::DeviceEvent(d) if d.event == DeviceEventKind::BadValue => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].field.as_deref(), Some("parameters.temperature"));
    assert!(
        bad[0].detail.contains("BadSensorFailure"),
        "{}",
        bad[0].detail
    );
    assert!(bad[0].source_time.is_some());
    assert!(!stored.iter().any(|e| matches!(&e.body,
        Body::Value(v) if v.step == "expansion" && v.field == "parameters.temperature")));
    assert!(
        expansion_deviations(&stored)
            .contains(&(DeviationKind::Device, "parameters.temperature".into()))
    );
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_failing_program_fails_the_step() {
    let (stored, _, _) = run(48515, "fail");
    let failed = stored.iter().find_map(|e| match &e.body {
        Body::StepCompleted(c) if c.step == "expansion" => c.failed.clone(),
        _ => None,
    });
    let failed = failed.expect("the expansion failed");
    assert!(
        failed.contains("Aborted") && failed.contains("agitator motor stalled"),
        "{failed}"
    );
    assert!(
        expansion_deviations(&stored)
            .iter()
            .any(|(k, _)| *k == DeviationKind::Failure)
    );
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn browsing_describes_the_device_for_its_twin() {
    let text = binding_text("incubator_1", 48516);
    let devices = devices::parse_devices("devices.toml", &text).expect("binding file");
    let _server = start(48516, "none");
    let mut dev = OpcuaDevice::new(&devices.device[0]).expect("adapter");
    let d = dev.describe().expect("describe");
    assert_eq!(d.device, "Bioreactor1");
    assert_eq!(
        d.nameplate.get("SerialNumber").map(String::as_str),
        Some("BR-TEST-0001")
    );
    assert_eq!(d.qualification.as_deref(), Some("qualified"));
    assert_eq!(d.counters.get("ProgramRuns"), Some(&0.0));
    assert_eq!(d.functional_units, vec!["BioreactorUnit".to_string()]);
    assert_eq!(d.programs, vec!["Expansion".to_string()]);
    for v in ["Temperature", "pH", "DissolvedOxygen", "ViableCellDensity"] {
        assert!(
            d.variables.iter().any(|x| x == v),
            "{v} in {:?}",
            d.variables
        );
    }
}

#[test]
fn an_unreachable_endpoint_is_an_error_not_a_hang() {
    // Nothing listens on port 1 of the loopback: refused at once.
    let text = binding_text("incubator_1", 1);
    let devices = devices::parse_devices("devices.toml", &text).expect("binding file");
    let mut dev = OpcuaDevice::new(&devices.device[0]).expect("adapter");
    let began = Instant::now();
    let e = dev.describe().expect_err("unreachable");
    assert_eq!(e.device, "incubator_1");
    assert!(
        e.message.contains("connect opc.tcp://127.0.0.1:1/"),
        "{}",
        e.message
    );
    assert!(began.elapsed() < Duration::from_secs(30));
}
