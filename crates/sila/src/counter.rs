//! `SilaCellCounter`: a SiLA 2 cell counter driving a recipe step's decision measures.
//!
//! The batch engine's [`DeviceAdapter`] is synchronous; the adapter owns a single-threaded
//! tokio runtime and blocks on it for each run. A run counts one sample with the observable
//! command CountCells (progress reported to a callback and kept), maps the device's
//! responses onto the step's decision measures (e.g. `viability` as a fraction from the
//! device's %) and keeps the device's identity and the time the result was received, for
//! the batch record.

use std::collections::BTreeMap;
use std::time::SystemTime;

use batch::device::{DeviceAdapter, DeviceError, DeviceNote, DeviceReport, DeviceRun, Reading};
use batch::entry::DeviceEventKind;
use recipe::DateTime;

use crate::client::{CellCount, Endpoint, Progress, ServerIdentity, SilaClient};
use crate::error::SilaError;

/// Which response of CountCells feeds a decision measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountOutput {
    /// ViableCellDensity, cells/mL.
    ViableCellDensity,
    /// Viability as a fraction 0–1 (the device's % / 100).
    ViabilityFraction,
    /// Viability in % as the device reports it.
    ViabilityPercent,
}

impl CountOutput {
    /// Every output, in the order of the feature's responses.
    pub const ALL: [CountOutput; 3] = [
        CountOutput::ViableCellDensity,
        CountOutput::ViabilityFraction,
        CountOutput::ViabilityPercent,
    ];

    /// The name used in binding files: `ViableCellDensity`, `Viability` (fraction 0–1) or
    /// `ViabilityPercent`.
    pub fn name(self) -> &'static str {
        match self {
            CountOutput::ViableCellDensity => "ViableCellDensity",
            CountOutput::ViabilityFraction => "Viability",
            CountOutput::ViabilityPercent => "ViabilityPercent",
        }
    }

    /// The output called `name` (see [`CountOutput::name`]).
    pub fn from_name(name: &str) -> Option<CountOutput> {
        CountOutput::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Unit symbol of the value.
    pub fn unit(self) -> &'static str {
        match self {
            CountOutput::ViableCellDensity => "cells/mL",
            CountOutput::ViabilityFraction => "1",
            CountOutput::ViabilityPercent => "%",
        }
    }
}

/// Where a measured value came from: the device's identity and when it was received.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// Equipment id the adapter is bound to.
    pub equipment: String,
    /// Identity the SiLA server reported.
    pub server: ServerIdentity,
    /// When the client received the result (SiLA responses carry no source time stamp).
    pub received: DateTime,
}

/// One count with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct CountRecord {
    /// The count.
    pub count: CellCount,
    /// Device and time.
    pub provenance: Provenance,
}

impl CountRecord {
    /// The count's value for `output`.
    pub fn value(&self, output: CountOutput) -> f64 {
        match output {
            CountOutput::ViableCellDensity => self.count.viable_cell_density_per_ml,
            CountOutput::ViabilityFraction => self.count.viability_percent / 100.0,
            CountOutput::ViabilityPercent => self.count.viability_percent,
        }
    }

    /// Where on the device `output` was read: server address, feature, command, response.
    pub fn address(&self, output: CountOutput) -> String {
        format!(
            "{}/CellCounter/CountCells/{}",
            self.provenance.server.address,
            output.name()
        )
    }

    /// A reading of `output` for recipe field `field`. SiLA responses carry no time stamp of
    /// the device: `source_time` is when the client received the result.
    pub fn reading(&self, field: &str, output: CountOutput) -> Reading {
        let value = self.value(output);
        Reading {
            field: field.to_string(),
            value,
            unit: output.unit().to_string(),
            source_time: Some(self.provenance.received),
            address: Some(self.address(output)),
            bad_status: None,
        }
    }

    /// The record's note of this count: the server's identity, the command execution, the
    /// values and the receipt time (as `source_time`; SiLA gives no device time).
    pub fn note(&self) -> DeviceNote {
        let s = &self.provenance.server;
        DeviceNote {
            event: DeviceEventKind::Program,
            detail: format!(
                "CountCells (execution {}) on SiLA server {} ({} {}, UUID {}) at {}: sample {}, viable cell density {} cells/mL, viability {} %; time = receipt by the client",
                self.count.execution_uuid,
                s.name,
                s.server_type,
                s.version,
                s.uuid,
                s.address,
                self.count.sample_id,
                self.count.viable_cell_density_per_ml,
                self.count.viability_percent
            )
            .char_indices()
            .take_while(|(i, c)| i + c.len_utf8() <= 2000)
            .map(|(_, c)| c)
            .collect(),
            source_time: Some(self.provenance.received),
        }
    }
}

/// What a SiLA 2 server says about itself ([`SilaCellCounter::about`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// Name, type, UUID, version and address.
    pub identity: ServerIdentity,
    /// SiLAService.ServerVendorURL.
    pub vendor_url: String,
    /// The features it implements, with their commands and properties.
    pub features: Vec<crate::feature::FeatureSummary>,
}

/// A progress callback: equipment id and the report.
pub type ProgressFn = Box<dyn FnMut(&str, &Progress) + Send>;

/// A SiLA 2 cell counter as a batch device.
pub struct SilaCellCounter {
    endpoint: Endpoint,
    runtime: tokio::runtime::Runtime,
    client: Option<SilaClient>,
    identity: Option<ServerIdentity>,
    measures: BTreeMap<String, CountOutput>,
    sample_volume_ul: f64,
    on_progress: Option<ProgressFn>,
    last: Option<CountRecord>,
}

impl std::fmt::Debug for SilaCellCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SilaCellCounter")
            .field("endpoint", &self.endpoint)
            .field("measures", &self.measures)
            .field("sample_volume_ul", &self.sample_volume_ul)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl SilaCellCounter {
    /// An adapter for the counter at `endpoint` (equipment id = `endpoint.device`). Decision
    /// measures `viability` (fraction) and `viable_cell_density` (cells/mL) are mapped; the
    /// sample volume is 20 µL (assumption: a typical counting-chamber load).
    pub fn new(endpoint: Endpoint) -> Result<SilaCellCounter, DeviceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DeviceError {
                device: endpoint.device.clone(),
                message: format!("cannot start the SiLA client runtime: {e}"),
            })?;
        let measures = BTreeMap::from([
            ("viability".to_string(), CountOutput::ViabilityFraction),
            (
                "viable_cell_density".to_string(),
                CountOutput::ViableCellDensity,
            ),
        ]);
        Ok(SilaCellCounter {
            endpoint,
            runtime,
            client: None,
            identity: None,
            measures,
            sample_volume_ul: 20.0,
            on_progress: None,
            last: None,
        })
    }

    /// Maps decision measure `measure` onto a CountCells response (replacing any mapping).
    #[must_use]
    pub fn with_measure(mut self, measure: &str, output: CountOutput) -> SilaCellCounter {
        self.measures.insert(measure.to_string(), output);
        self
    }

    /// Sample volume sent with each count, µL (the device checks (0, 1000]).
    #[must_use]
    pub fn with_sample_volume(mut self, microlitres: f64) -> SilaCellCounter {
        self.sample_volume_ul = microlitres;
        self
    }

    /// Calls `f` with each progress report.
    #[must_use]
    pub fn with_progress(mut self, f: ProgressFn) -> SilaCellCounter {
        self.on_progress = Some(f);
        self
    }

    /// The last successful count with the device's identity and receipt time.
    pub fn last_count(&self) -> Option<&CountRecord> {
        self.last.as_ref()
    }

    /// Connects if not connected and reads the identity once per connection.
    fn ensure_connected(&mut self) -> Result<(SilaClient, ServerIdentity), SilaError> {
        if let (Some(c), Some(i)) = (&self.client, &self.identity) {
            return Ok((c.clone(), i.clone()));
        }
        let ep = self.endpoint.clone();
        let (client, identity) = self.runtime.block_on(async {
            let client = SilaClient::connect(&ep).await?;
            let identity = client.identity().await?;
            Ok::<_, SilaError>((client, identity))
        })?;
        self.client = Some(client.clone());
        self.identity = Some(identity.clone());
        Ok((client, identity))
    }

    /// What the server says about itself, for the device's twin (connecting first if
    /// needed): its identity, its vendor URL and the features it implements with their
    /// commands and properties.
    pub fn about(&mut self) -> Result<About, SilaError> {
        let (client, identity) = self.ensure_connected()?;
        let result = self.runtime.block_on(async {
            let vendor_url = client.vendor_url().await?;
            let features = client.features().await?;
            Ok::<_, SilaError>((vendor_url, features))
        });
        if result.is_err() {
            self.client = None;
            self.identity = None;
        }
        let (vendor_url, features) = result?;
        Ok(About {
            identity,
            vendor_url,
            features,
        })
    }

    /// Counts one sample (connecting first if needed). After a connection error the next call
    /// connects anew.
    pub fn count(&mut self, sample_id: &str) -> Result<CountRecord, SilaError> {
        let result = self.count_inner(sample_id);
        if matches!(
            result,
            Err(SilaError::ConnectionLost { .. }
                | SilaError::Timeout { .. }
                | SilaError::Connect { .. })
        ) {
            self.client = None;
            self.identity = None;
        }
        result
    }

    fn count_inner(&mut self, sample_id: &str) -> Result<CountRecord, SilaError> {
        let (client, server) = self.ensure_connected()?;
        let volume = self.sample_volume_ul;
        let device = self.endpoint.device.clone();
        let mut callback = self.on_progress.take();
        let result = self.runtime.block_on(async {
            let mut report = |p: &Progress| {
                if let Some(f) = callback.as_mut() {
                    f(&device, p);
                }
            };
            client.count_cells(sample_id, volume, &mut report).await
        });
        self.on_progress = callback;
        let count = result?;
        let received = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let record = CountRecord {
            count,
            provenance: Provenance {
                equipment: self.endpoint.device.clone(),
                server,
                received: DateTime::from_unix_seconds(received),
            },
        };
        self.last = Some(record.clone());
        Ok(record)
    }
}

/// A sample id for a run: step id and start time, cut to the feature's 128 characters.
fn sample_id_for(run: &DeviceRun<'_>) -> String {
    format!("{}@{}", run.step.id, run.started)
        .chars()
        .take(128)
        .collect()
}

impl DeviceAdapter for SilaCellCounter {
    fn id(&self) -> &str {
        &self.endpoint.device
    }

    /// Counts a sample for the step's decision measures. A defined execution error of the
    /// device (e.g. a clogged chamber) is a failed run (`failed`, a deviation for the
    /// engine); anything else that keeps the value from arriving — no connection, a lost
    /// connection, a time limit, an invalid value — is a [`DeviceError`] naming the device,
    /// the command and the cause. The run's duration is the step's nominal duration: the
    /// counter measures the step, it does not run it.
    fn run(&mut self, run: &DeviceRun<'_>) -> Result<DeviceReport, DeviceError> {
        let step = run.step;
        let device = self.endpoint.device.clone();
        let mut wanted = Vec::new();
        for dec in &step.decision {
            match self.measures.get(&dec.measure) {
                Some(out) => wanted.push((dec.measure.clone(), *out)),
                None => {
                    return Err(DeviceError {
                        device,
                        message: format!(
                            "step `{}`: decision measure `{}` is not one this cell counter provides ({})",
                            step.id,
                            dec.measure,
                            self.measures.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            }
        }
        if wanted.is_empty() {
            return Err(DeviceError {
                device,
                message: format!(
                    "step `{}` has no decision measure for a cell counter to provide",
                    step.id
                ),
            });
        }
        let duration_h = step.duration.nominal_h;
        match self.count(&sample_id_for(run)) {
            Ok(record) => {
                let measures = wanted
                    .into_iter()
                    .map(|(name, out)| (name, record.value(out)))
                    .collect();
                Ok(DeviceReport {
                    duration_h,
                    readings: Vec::new(),
                    measures,
                    failed: None,
                    notes: vec![record.note()],
                    manual: Vec::new(),
                })
            }
            Err(e @ SilaError::DefinedExecution { .. }) => Ok(DeviceReport {
                duration_h,
                readings: Vec::new(),
                measures: BTreeMap::new(),
                failed: Some(e.to_string()),
                notes: Vec::new(),
                manual: Vec::new(),
            }),
            Err(e) => Err(DeviceError {
                message: strip_device(&e.to_string(), &device),
                device,
            }),
        }
    }
}

/// The error's text without its leading `device ID: ` (DeviceError prints it itself).
fn strip_device(text: &str, device: &str) -> String {
    text.strip_prefix(&format!("device {device}: "))
        .unwrap_or(text)
        .to_string()
}
