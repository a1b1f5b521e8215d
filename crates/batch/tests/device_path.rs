//! The device record path: readings of a bound (real) device reach the record with the
//! device's identity and source timestamp; every device fault ends in a record entry and,
//! where it matters, a deviation; records stored before these fields existed verify as
//! they were written.

mod support;

use std::collections::BTreeMap;

use batch::device::{DeviceError, DeviceNote, DeviceRun};
use batch::entry::{Body, DeviationKind, DeviceEventKind, Source};
use batch::rehearsal::{BoundDevices, RehearsalError};
use batch::{Batch, DeviceAdapter, DeviceReport, Entry, NewOrder, SimulatedDevice, verify_chain};
use support::{options, rehearse_example};
use testkit::{fixtures, t};

fn order() -> NewOrder {
    NewOrder {
        batch: "B-0077".into(),
        patient: "PSN-7f3a".into(),
        coi: "COI-2026-0077".into(),
        din: "A9999251234569".into(),
        planned_start: t("2026-12-01T08:00:00Z"),
        ship_step: None,
    }
}

/// What the scripted device does during the expansion.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    Retry,
    Lost,
    BadTemperature,
    ProgramFails,
    Unreachable,
}

/// A stand-in for a real device: the simulated device's values, stamped with a source
/// time and a node address, and the chosen fault.
struct Scripted {
    id: String,
    inner: SimulatedDevice,
    fault: Fault,
}

const SOURCE_TIME: &str = "2026-12-03T10:15:00Z";

impl DeviceAdapter for Scripted {
    fn id(&self) -> &str {
        &self.id
    }

    fn run(&mut self, run: &DeviceRun<'_>) -> Result<DeviceReport, DeviceError> {
        if self.fault == Fault::Unreachable {
            return Err(DeviceError {
                device: self.id.clone(),
                message: "connect opc.tcp://127.0.0.1:1/: connection refused".into(),
            });
        }
        let mut r = self.inner.run(run)?;
        r.failed = None;
        for x in &mut r.readings {
            x.source_time = Some(t(SOURCE_TIME));
            x.address = Some(format!("ns=2;s=Bioreactor.{}", x.field));
        }
        match self.fault {
            Fault::Retry => r.notes.push(DeviceNote {
                event: DeviceEventKind::Retry,
                detail: "BadConnectionClosed; reconnected on attempt 2".into(),
                source_time: None,
            }),
            Fault::Lost => r.notes.push(DeviceNote {
                event: DeviceEventKind::Lost,
                detail: "BadConnectionClosed after 3 attempts".into(),
                source_time: None,
            }),
            Fault::BadTemperature => {
                if let Some(x) = r
                    .readings
                    .iter_mut()
                    .find(|x| x.field == "parameters.temperature")
                {
                    x.bad_status = Some("BadSensorFailure".into());
                }
            }
            Fault::ProgramFails => {
                r.failed = Some("program Expansion ended in state Aborted".into())
            }
            Fault::None | Fault::Unreachable => {}
        }
        Ok(r)
    }
}

fn run(fault: Fault) -> (Result<Batch, RehearsalError>, Vec<Entry>, String) {
    let (_, _, binding) = fixtures();
    let device = binding
        .get("expansion", "cell_culture")
        .and_then(|a| a.equipment.clone())
        .expect("expansion is bound");
    let mut bound: BoundDevices<'_> = BTreeMap::new();
    bound.insert(
        device.clone(),
        Box::new(Scripted {
            id: device.clone(),
            inner: SimulatedDevice::new(&device, 9),
            fault,
        }),
    );
    let mut stored = Vec::new();
    let result = rehearse_example(
        &order(),
        &options(9),
        &mut bound,
        |j: batch::rehearsal::Journaled<'_>| {
            stored.extend_from_slice(j.entries);
            Ok(())
        },
    );
    (result, stored, device)
}

fn device_events(stored: &[Entry]) -> Vec<(DeviceEventKind, String)> {
    stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::DeviceEvent(d) => Some((d.event, d.detail.clone())),
            _ => None,
        })
        .collect()
}

fn deviations(stored: &[Entry]) -> Vec<(DeviationKind, String, Option<String>)> {
    stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::Deviation(d) => Some((d.kind, d.field.clone(), d.step.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_bound_device_records_its_values_with_source_time_and_address() {
    let (result, stored, device) = run(Fault::None);
    result.expect("rehearsal");
    verify_chain("B-0077", &stored).expect("chain verifies");
    let values: Vec<_> = stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::Value(v) if v.step == "expansion" => Some(v.clone()),
            _ => None,
        })
        .collect();
    assert!(values.len() >= 5, "expansion values: {values:?}");
    for v in &values {
        assert_eq!(
            v.source,
            Source::Device {
                device: device.clone(),
                source_time: Some(t(SOURCE_TIME)),
                address: Some(format!("ns=2;s=Bioreactor.{}", v.field)),
            }
        );
    }
    // Other devices stay simulated: no source time there.
    assert!(stored.iter().any(|e| matches!(&e.body,
        Body::Value(v) if v.step != "expansion"
            && matches!(&v.source, Source::Device { source_time: None, .. }))));
    assert!(device_events(&stored).is_empty());
    assert!(
        deviations(&stored)
            .iter()
            .all(|(k, _, _)| *k != DeviationKind::Device)
    );
    // Stored entries read back hash as written.
    for e in &stored {
        let back: Entry =
            serde_json::from_str(&serde_json::to_string(e).expect("json")).expect("read back");
        assert_eq!(back.compute_hash(), e.hash, "entry {}", e.seq);
    }
}

#[test]
fn a_retry_is_recorded_without_a_deviation() {
    let (result, stored, device) = run(Fault::Retry);
    result.expect("rehearsal");
    verify_chain("B-0077", &stored).expect("chain verifies");
    let ev = device_events(&stored);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].0, DeviceEventKind::Retry);
    assert!(stored.iter().any(|e| matches!(&e.body,
        Body::DeviceEvent(d) if d.device == device && d.step == "expansion")));
    assert!(
        deviations(&stored)
            .iter()
            .all(|(k, _, _)| *k != DeviationKind::Device)
    );
}

#[test]
fn a_lost_connection_is_a_device_deviation_and_a_failed_step() {
    let (_, stored, device) = run(Fault::Lost);
    verify_chain("B-0077", &stored).expect("chain verifies");
    let ev = device_events(&stored);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].0, DeviceEventKind::Lost);
    let devs = deviations(&stored);
    assert!(devs.contains(&(
        DeviationKind::Device,
        format!("device.{device}"),
        Some("expansion".into())
    )));
    assert!(
        devs.iter()
            .any(|(k, _, s)| *k == DeviationKind::Failure && s.as_deref() == Some("expansion")),
        "{devs:?}"
    );
}

#[test]
fn a_bad_status_code_refuses_the_value_with_a_deviation() {
    let (_, stored, _) = run(Fault::BadTemperature);
    verify_chain("B-0077", &stored).expect("chain verifies");
    let bad: Vec<_> = stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::DeviceEvent(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].event, DeviceEventKind::BadValue);
    assert_eq!(bad[0].field.as_deref(), Some("parameters.temperature"));
    assert_eq!(bad[0].detail, "BadSensorFailure");
    assert!(bad[0].value.is_some());
    assert_eq!(bad[0].source_time, Some(t(SOURCE_TIME)));
    // Never recorded as a measured value.
    assert!(!stored.iter().any(|e| matches!(&e.body,
        Body::Value(v) if v.step == "expansion" && v.field == "parameters.temperature")));
    assert!(deviations(&stored).contains(&(
        DeviationKind::Device,
        "parameters.temperature".into(),
        Some("expansion".into())
    )));
}

#[test]
fn a_failing_program_fails_the_step_with_a_deviation() {
    let (_, stored, _) = run(Fault::ProgramFails);
    verify_chain("B-0077", &stored).expect("chain verifies");
    assert!(stored.iter().any(|e| matches!(&e.body,
        Body::StepCompleted(c) if c.step == "expansion"
            && c.failed.as_deref() == Some("program Expansion ended in state Aborted"))));
    assert!(
        deviations(&stored)
            .iter()
            .any(|(k, _, s)| *k == DeviationKind::Failure && s.as_deref() == Some("expansion"))
    );
}

#[test]
fn an_unreachable_device_is_recorded_before_the_run_stops() {
    let (result, stored, device) = run(Fault::Unreachable);
    assert!(
        matches!(&result, Err(RehearsalError::Device(e)) if e.device == device),
        "{:?}",
        result.map(|b| b.stage())
    );
    verify_chain("B-0077", &stored).expect("chain verifies");
    assert_eq!(device_events(&stored)[0].0, DeviceEventKind::Lost);
    let devs = deviations(&stored);
    assert!(devs.iter().any(|(k, _, _)| *k == DeviationKind::Device));
    assert!(devs.iter().any(|(k, _, _)| *k == DeviationKind::Failure));
}

/// A value entry as the engine stored it before readings carried source timestamps
/// (session 16's format): it must read back, hash as written and keep its JSON.
#[test]
fn an_old_device_value_entry_verifies_unchanged() {
    let old = r#"{"batch":"B-0001","seq":1,"at":"2026-12-01T08:00:00Z","by":{"user":"operator1","name":"Oskar Operator","role":"operator"},"body":{"type":"value","step":"thaw","field":"parameters.bath_temperature","value":37.0,"unit":"°C","source":{"kind":"device","device":"thaw_1"}},"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"HASH"}"#;
    let e: Entry = serde_json::from_str(&old.replace("HASH", "0")).expect("old entry reads");
    let Body::Value(v) = &e.body else {
        panic!("a value entry")
    };
    assert_eq!(v.source, Source::device("thaw_1"));
    // The hash computed independently of this crate (SHA-256 of the prefix and the
    // canonical JSON, by scripts outside Rust) at the time the entry was written.
    assert_eq!(e.compute_hash(), OLD_HASH);
    let again = serde_json::to_string(&Entry {
        hash: OLD_HASH.into(),
        ..e.clone()
    })
    .expect("json");
    assert_eq!(again, old.replace("HASH", OLD_HASH));
    verify_chain(
        "B-0001",
        &[Entry {
            hash: OLD_HASH.into(),
            ..e
        }],
    )
    .expect("verifies");
}

const OLD_HASH: &str = "a8aa5d8de0ec6957534d60d163dade222e260127b277eaed279b9f38bedd2869";
