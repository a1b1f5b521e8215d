//! A bound device against its registered twin (issue #16 item 4, the pure part): the
//! equipment the AAS registry holds for the device's equipment id (as
//! `server::equipment_inventory` reads it back) is compared with what the device says about
//! itself ([`Description`]); a device that is not registered, whose nameplate does not match
//! its twin, or that is not qualified (by its twin on the day, or by its own
//! `QualificationState`) is refused with a message naming device and endpoint. After a run,
//! the counters the device reports raise the twin's usage counters of the same name.
//!
//! [`device_equipment`] makes the equipment a connected device registers as its twin: the
//! plant's record of it (class, capabilities, qualification) with the nameplate and the
//! counters the device reports.
//!
//! Pure: no IO; fetching the twin and writing it back over the registry's REST API is the
//! caller's (`atmpflow device register|check|counters`).

use recipe::{Date, Equipment};

use crate::binding::Device;
use crate::opcua::Description;
use batch::device::DeviceError;

/// Nameplate properties the device reports, with the twin's field they must match.
const NAMEPLATE: [(&str, &str); 3] = [
    ("Manufacturer", "manufacturer"),
    ("Model", "model"),
    ("SerialNumber", "serial"),
];

fn refused(device: &Device, message: String) -> DeviceError {
    DeviceError {
        device: device.equipment.clone(),
        message: format!("{} ({}): {message}", device.equipment, device.endpoint),
    }
}

/// Check that the device bound as `device` is the registered, qualified equipment
/// `registered` (its twin read from the registry; `None`: the registry has no twin with
/// that equipment id) on `as_of`.
pub fn check_registered(
    device: &Device,
    registered: Option<&Equipment>,
    described: &Description,
    as_of: Date,
) -> Result<(), DeviceError> {
    let Some(twin) = registered else {
        return Err(refused(
            device,
            "not registered in the AAS registry: register its twin before binding it".into(),
        ));
    };
    for (property, field) in NAMEPLATE {
        let want = match field {
            "manufacturer" => &twin.manufacturer,
            "model" => &twin.model,
            _ => &twin.serial,
        };
        if let Some(got) = described.nameplate.get(property)
            && got.trim() != want.trim()
        {
            return Err(refused(
                device,
                format!(
                    "the device reports {property} `{got}`, its registered twin has {field} `{want}`: a different device answers at this endpoint"
                ),
            ));
        }
    }
    let validity = twin.qualification.validity(as_of);
    if !validity.is_valid() {
        return Err(refused(
            device,
            format!(
                "registered but not qualified on {as_of} (twin: {})",
                validity.word()
            ),
        ));
    }
    if let Some(state) = &described.qualification
        && !state.trim().eq_ignore_ascii_case("qualified")
    {
        return Err(refused(
            device,
            format!("the device reports QualificationState `{state}`, not `qualified`"),
        ));
    }
    Ok(())
}

/// Check a device a batch is about to run on against what the AAS registry holds for it,
/// before any step runs: `twin` is its registered equipment (`None`: not registered),
/// `programs` the programs its twin lists (`None`: none listed). Every refusal is returned
/// (empty: the device may run): not registered; not qualified on `as_of`; a usage counter
/// that has reached its limit; a step of the binding whose program the twin does not list.
/// Each names the equipment, the endpoint and what is wrong. No device is contacted.
pub fn check_for_batch(
    device: &Device,
    twin: Option<&Equipment>,
    programs: Option<&[String]>,
    as_of: Date,
) -> Vec<DeviceError> {
    let Some(twin) = twin else {
        return vec![refused(
            device,
            "not registered in the AAS registry: register its twin (`atmpflow device register`) before a batch runs on it".into(),
        )];
    };
    let mut out = Vec::new();
    let validity = twin.qualification.validity(as_of);
    if !validity.is_valid() {
        out.push(refused(
            device,
            format!("registered but not qualified on {as_of} (twin: {validity})"),
        ));
    }
    for c in twin.counters.iter().filter(|c| c.used >= c.max) {
        out.push(refused(
            device,
            format!(
                "usage counter `{}` has reached its limit: {} of {} used (twin)",
                c.name, c.used, c.max
            ),
        ));
    }
    for (step, program) in device.programs() {
        let listed = programs.unwrap_or_default();
        if !listed.iter().any(|p| p == &program) {
            let has = if programs.is_none() {
                "its twin lists no programs (register the device again to record them)".to_string()
            } else if listed.is_empty() {
                "its twin lists no programs".to_string()
            } else {
                format!("its twin lists {}", listed.join(", "))
            };
            out.push(refused(
                device,
                format!("step `{step}` runs program `{program}`, not on the device: {has}"),
            ));
        }
    }
    out
}

/// Raise the twin's usage counters to what the device reports for counters of the same
/// name (whole uses, rounded down). A device reporting fewer uses than the twin holds is
/// refused (counters never run back); counters the twin does not keep are left out. The
/// names of the counters that changed.
pub fn update_counters(
    device: &Device,
    twin: &mut Equipment,
    described: &Description,
) -> Result<Vec<String>, DeviceError> {
    let mut changed = Vec::new();
    for counter in &mut twin.counters {
        let Some(&reported) = described.counters.get(&counter.name) else {
            continue;
        };
        if !(reported.is_finite() && reported >= 0.0) {
            return Err(refused(
                device,
                format!("counter `{}` reports {reported}, not a count", counter.name),
            ));
        }
        // Counts are far below 2^53: the conversion is exact for whole numbers.
        let reported = reported.floor() as u64;
        if reported < counter.used {
            return Err(refused(
                device,
                format!(
                    "counter `{}` reports {reported}, below the {} its twin already holds",
                    counter.name, counter.used
                ),
            ));
        }
        if reported > counter.used {
            counter.used = reported;
            changed.push(counter.name.clone());
        }
    }
    Ok(changed)
}

/// The equipment device `device` registers as its twin: `record` (the plant's inventory
/// entry for its equipment id: class, capabilities, qualification, counters) with the
/// nameplate the device reports (Manufacturer, Model, SerialNumber replace the record's)
/// and a usage counter for every counter the device reports that the binding gives a limit
/// for (`limits`). A device reporting a QualificationState other than `qualified` is
/// registered suspended. When the registry already holds a twin (`existing`), its counts
/// are the floor: a device reporting less than its twin holds is refused (counters never
/// run back), so re-registering never lowers a count.
pub fn device_equipment(
    device: &Device,
    record: &Equipment,
    existing: Option<&Equipment>,
    described: &Description,
) -> Result<Equipment, DeviceError> {
    if record.id != device.equipment {
        return Err(refused(
            device,
            format!(
                "the inventory record is `{}`, not this device's equipment",
                record.id
            ),
        ));
    }
    let mut e = record.clone();
    for (property, field) in NAMEPLATE {
        if let Some(v) = described.nameplate.get(property).map(|v| v.trim())
            && !v.is_empty()
        {
            match field {
                "manufacturer" => e.manufacturer = v.to_string(),
                "model" => e.model = v.to_string(),
                _ => e.serial = v.to_string(),
            }
        }
    }
    if let Some(state) = &described.qualification
        && !state.trim().eq_ignore_ascii_case("qualified")
    {
        e.qualification.status = recipe::equipment::QualStatus::Suspended;
    }
    for (name, &max) in &device.limits {
        if !described.counters.contains_key(name) {
            return Err(refused(
                device,
                format!(
                    "the binding gives a limit for counter `{name}`, the device reports no such counter"
                ),
            ));
        }
        if e.counter(name).is_none() {
            e.counters.push(recipe::equipment::UsageCounter {
                name: name.clone(),
                used: 0,
                max,
            });
        } else if let Some(c) = e.counters.iter_mut().find(|c| &c.name == name) {
            c.max = max;
        }
    }
    if let Some(old) = existing {
        for c in &mut e.counters {
            if let Some(o) = old.counter(&c.name) {
                c.used = c.used.max(o.used);
            }
        }
    }
    update_counters(device, &mut e, described)?;
    for c in &e.counters {
        if c.used > c.max {
            return Err(refused(
                device,
                format!(
                    "counter `{}` stands at {}, above its limit of {}",
                    c.name, c.used, c.max
                ),
            ));
        }
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVENTORY: &str = include_str!("../../../examples/equipment/modular-plant.toml");

    fn device() -> Device {
        crate::parse_devices(
            "devices.toml",
            "[[device]]\nequipment = \"X\"\nprotocol = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:4840/b\"\n",
        )
        .expect("binding")
        .device
        .remove(0)
    }

    /// A qualified equipment item of the example plant with a usage counter.
    fn twin() -> Equipment {
        let inv = recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("inventory");
        let mut e = inv
            .equipment
            .into_iter()
            .find(|e| e.qualification.validity(day()).is_valid())
            .expect("a qualified item");
        e.counters = vec![recipe::equipment::UsageCounter {
            name: "ProgramRuns".into(),
            used: 2,
            max: 1000,
        }];
        e
    }

    fn day() -> Date {
        Date::parse("2026-12-01").expect("date")
    }

    fn described(t: &Equipment) -> Description {
        let mut d = Description::default();
        d.nameplate.insert("SerialNumber".into(), t.serial.clone());
        d.nameplate
            .insert("Manufacturer".into(), t.manufacturer.clone());
        d.qualification = Some("qualified".into());
        d.counters.insert("ProgramRuns".into(), 5.0);
        d.counters.insert("OperatingHours".into(), 864.0);
        d
    }

    #[test]
    fn a_registered_qualified_device_binds() {
        let t = twin();
        check_registered(&device(), Some(&t), &described(&t), day()).expect("binds");
    }

    #[test]
    fn unregistered_mismatching_or_unqualified_devices_are_refused() {
        let t = twin();
        let d = described(&t);
        let e = check_registered(&device(), None, &d, day()).expect_err("unregistered");
        assert_eq!(e.device, "X");
        assert!(
            e.message
                .contains("X (opc.tcp://127.0.0.1:4840/b): not registered"),
            "{}",
            e.message
        );
        let mut other = d.clone();
        other
            .nameplate
            .insert("SerialNumber".into(), "SOMEONE-ELSE".into());
        let e = check_registered(&device(), Some(&t), &other, day()).expect_err("other serial");
        assert!(e.message.contains("SOMEONE-ELSE"), "{}", e.message);
        assert!(e.message.contains(&t.serial), "{}", e.message);
        let mut expired = t.clone();
        expired.qualification.status = recipe::equipment::QualStatus::Suspended;
        let e = check_registered(&device(), Some(&expired), &d, day()).expect_err("suspended");
        assert!(
            e.message.contains("not qualified on 2026-12-01"),
            "{}",
            e.message
        );
        let mut says = d.clone();
        says.qualification = Some("requalification due".into());
        let e = check_registered(&device(), Some(&t), &says, day()).expect_err("device says no");
        assert!(e.message.contains("requalification due"), "{}", e.message);
    }

    #[test]
    fn a_device_registers_the_record_with_its_nameplate_and_limited_counters() {
        let mut record = twin();
        record.id = "X".into();
        record.counters.clear();
        let mut d = described(&record);
        d.nameplate.insert("Model".into(), "BR-9".into());
        let mut dev = device();
        dev.limits.insert("ProgramRuns".into(), 2000);
        let e = device_equipment(&dev, &record, None, &d).expect("registers");
        assert_eq!(e.model, "BR-9");
        assert_eq!(e.serial, record.serial);
        // OperatingHours has no limit in the binding: not kept.
        assert_eq!(e.counters.len(), 1, "{:?}", e.counters);
        assert_eq!(
            e.counter("ProgramRuns").map(|c| (c.used, c.max)),
            Some((5, 2000))
        );
        // Re-registering over the twin: the device's higher count wins; a device reporting
        // less than its registered twin holds (reset, or another device) is refused.
        let mut held = e.clone();
        held.counters[0].used = 3;
        let again = device_equipment(&dev, &record, Some(&held), &d).expect("again");
        assert_eq!(again.counter("ProgramRuns").map(|c| c.used), Some(5));
        held.counters[0].used = 9;
        let err = device_equipment(&dev, &record, Some(&held), &d).expect_err("runs back");
        assert!(err.message.contains("below the 9"), "{}", err.message);
        // A device that says it is not qualified is registered suspended.
        let mut says = d.clone();
        says.qualification = Some("requalification due".into());
        let s = device_equipment(&dev, &record, None, &says).expect("suspended");
        assert_eq!(
            s.qualification.status,
            recipe::equipment::QualStatus::Suspended
        );
        // A limit for a counter the device does not report, a count above its limit, and
        // another equipment's record are refused.
        dev.limits.insert("Cycles".into(), 10);
        let err = device_equipment(&dev, &record, None, &d).expect_err("no Cycles");
        assert!(err.message.contains("`Cycles`"), "{}", err.message);
        dev.limits.remove("Cycles");
        dev.limits.insert("ProgramRuns".into(), 3);
        let err = device_equipment(&dev, &record, None, &d).expect_err("above");
        assert!(
            err.message.contains("above its limit of 3"),
            "{}",
            err.message
        );
        record.id = "Y".into();
        assert!(device_equipment(&dev, &record, None, &d).is_err());
    }

    #[test]
    fn a_batch_binds_a_registered_qualified_device_with_its_program_and_counters_left() {
        let mut dev = device();
        dev.step.insert(
            "expansion".into(),
            crate::StepProgram {
                program: "Expansion".into(),
                parameters: Default::default(),
                values: Default::default(),
                results: Default::default(),
                measures: Default::default(),
            },
        );
        let t = twin();
        let programs = vec!["Expansion".to_string(), "Cleaning".to_string()];
        assert!(check_for_batch(&dev, Some(&t), Some(&programs), day()).is_empty());
        let words = |t: Option<&Equipment>, p: Option<&[String]>| -> Vec<String> {
            check_for_batch(&dev, t, p, day())
                .into_iter()
                .map(|e| e.message)
                .collect()
        };
        let e = words(None, Some(&programs));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("X (opc.tcp://127.0.0.1:4840/b): not registered"),
            "{e:?}"
        );
        // Every refusal of one device at once: suspended, counter at its limit, no program.
        let mut bad = t.clone();
        bad.qualification.status = recipe::equipment::QualStatus::Suspended;
        bad.counters[0].used = bad.counters[0].max;
        let e = words(Some(&bad), Some(&programs[1..]));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].contains("not qualified on 2026-12-01"), "{e:?}");
        assert!(
            e[1].contains("usage counter `ProgramRuns` has reached its limit: 1000 of 1000"),
            "{e:?}"
        );
        assert!(
            e[2].contains("step `expansion` runs program `Expansion`, not on the device: its twin lists Cleaning"),
            "{e:?}"
        );
        let e = words(Some(&t), None);
        assert!(
            e[0].contains("its twin lists no programs (register"),
            "{e:?}"
        );
    }

    #[test]
    fn a_sila_counter_runs_its_count_command() {
        let d = crate::parse_devices(
            "d.toml",
            "[[device]]\nequipment = \"c\"\nprotocol = \"sila2\"\nendpoint = \"http://127.0.0.1:50052\"\n[device.step.harvest]\nmeasures = { viability = \"Viability\" }\n",
        )
        .expect("binding");
        assert_eq!(
            d.device[0].programs(),
            vec![(
                "harvest".to_string(),
                crate::binding::SILA_COUNT_PROGRAM.to_string()
            )]
        );
    }

    #[test]
    fn reported_counters_raise_the_twin_and_never_lower_it() {
        let mut t = twin();
        let d = described(&t);
        let changed = update_counters(&device(), &mut t, &d).expect("raised");
        assert_eq!(changed, vec!["ProgramRuns".to_string()]);
        assert_eq!(t.counter("ProgramRuns").map(|c| c.used), Some(5));
        // The same report again changes nothing.
        assert!(
            update_counters(&device(), &mut t, &d)
                .expect("same")
                .is_empty()
        );
        let mut lower = d.clone();
        lower.counters.insert("ProgramRuns".into(), 1.0);
        let e = update_counters(&device(), &mut t, &lower).expect_err("runs back");
        assert!(e.message.contains("below the 5"), "{}", e.message);
        lower.counters.insert("ProgramRuns".into(), f64::NAN);
        assert!(update_counters(&device(), &mut t, &lower).is_err());
    }
}
