//! SiLA 2 devices of a binding file: a cell counter (`sila::SilaCellCounter`) whose
//! CountCells responses become a step's decision measures (`measures`) and recorded values
//! (`values`), with the server's identity and address in the record.
//!
//! SiLA 2 responses carry no time stamp of the device: the `source_time` of a SiLA value (and
//! of the count's record entry) is when this client received the result.

use std::collections::BTreeMap;
use std::time::Duration;

use batch::device::{DeviceError, DeviceRun};
use batch::{DeviceAdapter, DeviceReport};
use sila::{CountOutput, Endpoint, SilaCellCounter, SilaError};

use crate::binding::{Device, endpoint_of};
use crate::opcua::Description;

/// A SiLA 2 cell counter bound by a binding file.
#[derive(Debug)]
pub struct SilaDevice {
    device: Device,
    counter: SilaCellCounter,
}

fn err(device: &Device, message: impl Into<String>) -> DeviceError {
    DeviceError {
        device: device.equipment.clone(),
        message: message.into(),
    }
}

impl SilaDevice {
    /// An adapter for a bound SiLA 2 device (reads its certificate; connects on first use).
    pub fn new(device: &Device) -> Result<SilaDevice, DeviceError> {
        let (host, port, tls) = endpoint_of(device).map_err(|m| err(device, m))?;
        let mut endpoint = Endpoint::plain(&device.equipment, &host, port);
        endpoint.command_timeout = Duration::from_secs_f64(device.timeout_s.clamp(1.0, 86_400.0));
        if tls {
            let path = device.certificate.as_deref().unwrap_or_default();
            let pem =
                std::fs::read(path).map_err(|e| err(device, format!("certificate {path}: {e}")))?;
            endpoint = endpoint.with_tls(&pem, &host);
        }
        Ok(SilaDevice {
            device: device.clone(),
            counter: SilaCellCounter::new(endpoint)?,
        })
    }

    /// The error's text without its leading `device ID: ` (the record names the device).
    fn without_device(&self, e: &SilaError) -> String {
        let text = e.to_string();
        let prefix = format!("device {}: ", self.device.equipment);
        text.strip_prefix(&prefix).unwrap_or(&text).to_string()
    }

    /// What the server says about itself, as a [`Description`] for its twin: the nameplate
    /// from its SiLAService information (`Manufacturer` = vendor URL, `Model` = server
    /// type, `SerialNumber` = server UUID, and `ServerName`, `SoftwareVersion`), the
    /// programs from its features' commands (`Feature/Command`, the SiLAService feature
    /// left out) and the variables from their properties. SiLA 2 defines no usage counters
    /// and no qualification state: none are reported.
    pub fn describe(&mut self) -> Result<Description, DeviceError> {
        let about = self
            .counter
            .about()
            .map_err(|e| err(&self.device, e.to_string()))?;
        let id = &about.identity;
        let mut d = Description {
            device: id.name.clone(),
            ..Description::default()
        };
        for (k, v) in [
            ("Manufacturer", &about.vendor_url),
            ("Model", &id.server_type),
            ("SerialNumber", &id.uuid),
            ("ServerName", &id.name),
            ("SoftwareVersion", &id.version),
        ] {
            d.nameplate.insert(k.to_string(), v.clone());
        }
        for f in about
            .features
            .iter()
            .filter(|f| f.identifier != "SiLAService")
        {
            d.programs.extend(f.programs());
            d.variables
                .extend(f.properties.iter().map(|p| format!("{}/{p}", f.identifier)));
        }
        Ok(d)
    }

    /// The counter (its last count with provenance).
    pub fn counter(&self) -> &SilaCellCounter {
        &self.counter
    }
}

fn output(device: &Device, name: &str) -> Result<CountOutput, DeviceError> {
    CountOutput::from_name(name)
        .ok_or_else(|| err(device, format!("`{name}` is not a CountCells response")))
}

impl DeviceAdapter for SilaDevice {
    fn id(&self) -> &str {
        &self.device.equipment
    }

    fn handles(&self, step: &str) -> bool {
        self.device.step.contains_key(step)
    }

    /// Counts a sample: the mapped responses become the step's decision measures and
    /// values (source time = receipt time, address = server/feature/command/response), the
    /// count itself a record note naming the server. A defined execution error of the
    /// counter is a failed measurement (`failed`); no answer at all is a [`DeviceError`].
    fn run(&mut self, run: &DeviceRun<'_>) -> Result<DeviceReport, DeviceError> {
        let step = run.step;
        let map = self
            .device
            .step
            .get(&step.id)
            .ok_or_else(|| {
                err(
                    &self.device,
                    format!("nothing is bound to step `{}`", step.id),
                )
            })?
            .clone();
        let sample: String = format!("{}@{}", step.id, run.started)
            .chars()
            .take(128)
            .collect();
        let mut report = DeviceReport {
            duration_h: step.duration.nominal_h,
            readings: Vec::new(),
            measures: BTreeMap::new(),
            failed: None,
            notes: Vec::new(),
            manual: Vec::new(),
        };
        match self.counter.count(&sample) {
            Ok(record) => {
                for (measure, name) in &map.measures {
                    let out = output(&self.device, name)?;
                    report.measures.insert(measure.clone(), record.value(out));
                }
                for (field, name) in &map.values {
                    let out = output(&self.device, name)?;
                    report.readings.push(record.reading(field, out));
                }
                report.notes.push(record.note());
                Ok(report)
            }
            Err(e @ SilaError::DefinedExecution { .. }) => {
                report.failed = Some(self.without_device(&e));
                Ok(report)
            }
            Err(e) => Err(err(&self.device, self.without_device(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::parse_devices;

    #[test]
    fn endpoints_are_checked() {
        let d = |e: &str| {
            let text = format!(
                "[[device]]\nequipment = \"c\"\nprotocol = \"sila2\"\nendpoint = \"{e}\"\n"
            );
            parse_devices("d.toml", &text)
                .map(|d| endpoint_of(&d.device[0]).expect("checked"))
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            d("http://127.0.0.1:50052"),
            Ok(("127.0.0.1".into(), 50052, false))
        );
        assert_eq!(d("http://h:1/"), Ok(("h".into(), 1, false)));
        for bad in [
            "opc.tcp://h:1",
            "http://h",
            "http://:1",
            "http://h:0",
            "http://h:1/x",
        ] {
            let e = d(bad).expect_err(bad);
            assert!(e.contains("d.toml:4:"), "{bad}: {e}");
        }
        let e = d("https://h:1").expect_err("https without a certificate");
        assert!(e.contains("needs `certificate`"), "{e}");
    }
}
