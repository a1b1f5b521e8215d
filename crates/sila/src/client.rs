//! The SiLA 2 client: connection, server identity, properties, commands (unobservable and
//! observable with progress) and subscriptions, each call under a time limit and every value
//! checked before it is returned.

use std::time::Duration;

use tokio::time::{Instant, timeout, timeout_at};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::check;
pub use crate::check::{CommandStatus, Progress};
use crate::error::{SilaError, from_status};
use crate::feature::{self, FeatureSummary};
use crate::pb::sila2::org::atmpflow::devices::cellcounter::v1 as cc;
use crate::pb::sila2::org::silastandard as fw;
use crate::pb::sila2::org::silastandard::core::silaservice::v1 as svc;

/// Fully qualified CellCounter feature identifier (originator/category/feature/version).
pub const CELL_COUNTER_FEATURE: &str = "org.atmpflow/devices/CellCounter/v1";

/// Where a SiLA 2 server is and how long each call may take.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Equipment id of the device (named in every error).
    pub device: String,
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS settings; `None` for plain gRPC (local tests only).
    pub tls: Option<Tls>,
    /// Limit for connecting and for every unary call.
    pub call_timeout: Duration,
    /// Limit for a whole observable command, from its start to its result.
    pub command_timeout: Duration,
    /// Limit between two messages of a stream (progress or subscription).
    pub stall_timeout: Duration,
}

impl Endpoint {
    /// A plain endpoint with the default limits (10 s per call, 10 min per command, 60 s
    /// between stream messages: assumptions for a bench-top counter).
    pub fn plain(device: &str, host: &str, port: u16) -> Endpoint {
        Endpoint {
            device: device.to_string(),
            host: host.to_string(),
            port,
            tls: None,
            call_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(600),
            stall_timeout: Duration::from_secs(60),
        }
    }

    /// The same endpoint over TLS, trusting `ca_pem` (a PEM certificate: the server's own
    /// self-signed certificate or the CA that signed it) for the name `domain`.
    #[must_use]
    pub fn with_tls(mut self, ca_pem: &[u8], domain: &str) -> Endpoint {
        self.tls = Some(Tls {
            ca_pem: ca_pem.to_vec(),
            domain: domain.to_string(),
        });
        self
    }

    fn address(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// TLS settings of an [`Endpoint`].
#[derive(Debug, Clone)]
pub struct Tls {
    /// PEM certificate(s) to trust.
    pub ca_pem: Vec<u8>,
    /// Server name the certificate must carry.
    pub domain: String,
}

/// Who the server says it is (SiLAService feature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// SiLA Server UUID.
    pub uuid: String,
    /// SiLA Server Name.
    pub name: String,
    /// SiLA Server Type.
    pub server_type: String,
    /// SiLA Server Version.
    pub version: String,
    /// Address it was reached at.
    pub address: String,
}

/// Device state (the CellCounter's DeviceState property).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// Ready.
    Idle,
    /// A count is running.
    Counting,
    /// The device needs attention.
    Fault,
}

/// The result of one CountCells command.
#[derive(Debug, Clone, PartialEq)]
pub struct CellCount {
    /// The sample id sent.
    pub sample_id: String,
    /// Command execution UUID given by the server.
    pub execution_uuid: String,
    /// Viable cells per mL (checked: finite, 0–1e9).
    pub viable_cell_density_per_ml: f64,
    /// Viability, % (checked: finite, 0–100).
    pub viability_percent: f64,
    /// Progress reports received, in order.
    pub progress: Vec<Progress>,
}

/// A connected SiLA 2 client for one server.
#[derive(Debug, Clone)]
pub struct SilaClient {
    device: String,
    address: String,
    channel: Channel,
    call_timeout: Duration,
    command_timeout: Duration,
    stall_timeout: Duration,
}

const COUNT: &str = "CellCounter.CountCells";

impl SilaClient {
    /// Connects (within the endpoint's call time limit).
    pub async fn connect(ep: &Endpoint) -> Result<SilaClient, SilaError> {
        let address = ep.address();
        let err = |cause: String| SilaError::Connect {
            device: ep.device.clone(),
            address: address.clone(),
            cause,
        };
        let mut builder = tonic::transport::Endpoint::from_shared(address.clone())
            .map_err(|e| err(format!("invalid address: {e}")))?
            // No HTTP/2 keep-alive pings: gRPC servers answer frequent pings with GOAWAY
            // ("too many pings"); a dead connection is found by the stall limit instead.
            .connect_timeout(ep.call_timeout);
        if let Some(tls) = &ep.tls {
            let config = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&tls.ca_pem))
                .domain_name(tls.domain.clone());
            builder = builder
                .tls_config(config)
                .map_err(|e| err(format!("TLS settings: {e}")))?;
        }
        let channel = match timeout(ep.call_timeout, builder.connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(err(transport_cause(&e))),
            Err(_) => return Err(err(format!("no connection within {:?}", ep.call_timeout))),
        };
        Ok(SilaClient {
            device: ep.device.clone(),
            address,
            channel,
            call_timeout: ep.call_timeout,
            command_timeout: ep.command_timeout,
            stall_timeout: ep.stall_timeout,
        })
    }

    /// Equipment id of the device.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Runs one unary call under the call time limit and maps its errors.
    async fn unary<T, F>(&self, call: &str, fut: F) -> Result<T, SilaError>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match timeout(self.call_timeout, fut).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err(from_status(&self.device, call, &status)),
            Err(_) => Err(SilaError::Timeout {
                device: self.device.clone(),
                call: call.to_string(),
                after: self.call_timeout,
                what: "the answer".into(),
            }),
        }
    }

    fn missing(&self, call: &str, field: &str) -> SilaError {
        SilaError::Protocol {
            device: self.device.clone(),
            call: call.to_string(),
            message: format!("response field {field} is missing"),
        }
    }

    /// Response field `field` of unary call `call` (`fut`), which `pick` takes from the
    /// response; an error when the response lacks it.
    async fn unary_field<T, V, F>(
        &self,
        call: &str,
        field: &str,
        fut: F,
        pick: impl FnOnce(T) -> Option<V>,
    ) -> Result<V, SilaError>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        pick(self.unary(call, fut).await?).ok_or_else(|| self.missing(call, field))
    }

    /// The SiLA String in response field `field` of unary call `call`, checked as text of
    /// at most `max` characters.
    async fn text_field<T, F>(
        &self,
        call: &str,
        field: &str,
        fut: F,
        pick: impl FnOnce(T) -> Option<fw::String>,
        max: usize,
    ) -> Result<String, SilaError>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let value = self.unary_field(call, field, fut, pick).await?.value;
        check::text(&self.device, call, field, &value, max)
    }

    /// Reads the server's identity (SiLAService: name, UUID, type, version).
    pub async fn identity(&self) -> Result<ServerIdentity, SilaError> {
        let mut c = svc::si_la_service_client::SiLaServiceClient::new(self.channel.clone());
        let call = "SiLAService.Get_ServerUUID";
        let get = c.get_server_uuid(svc::GetServerUuidParameters {});
        let uuid = self
            .unary_field(call, "ServerUUID", get, |r| r.server_uuid)
            .await?
            .value;
        check::uuid(&self.device, call, "ServerUUID", &uuid)?;
        let call = "SiLAService.Get_ServerName";
        let get = c.get_server_name(svc::GetServerNameParameters {});
        let name = self
            .text_field(call, "ServerName", get, |r| r.server_name, 255)
            .await?;
        let call = "SiLAService.Get_ServerType";
        let get = c.get_server_type(svc::GetServerTypeParameters {});
        let server_type = self
            .text_field(call, "ServerType", get, |r| r.server_type, 255)
            .await?;
        let call = "SiLAService.Get_ServerVersion";
        let get = c.get_server_version(svc::GetServerVersionParameters {});
        let version = self
            .text_field(call, "ServerVersion", get, |r| r.server_version, 255)
            .await?;
        Ok(ServerIdentity {
            uuid: uuid.to_ascii_lowercase(),
            name,
            server_type,
            version,
            address: self.address.clone(),
        })
    }

    /// Reads the server's vendor URL (SiLAService.ServerVendorURL).
    pub async fn vendor_url(&self) -> Result<String, SilaError> {
        let mut c = svc::si_la_service_client::SiLaServiceClient::new(self.channel.clone());
        let call = "SiLAService.Get_ServerVendorURL";
        let get = c.get_server_vendor_url(svc::GetServerVendorUrlParameters {});
        self.text_field(call, "ServerVendorURL", get, |r| r.server_vendor_url, 2048)
            .await
    }

    /// The features the server implements (SiLAService.ImplementedFeatures), each with the
    /// commands and properties its definition (SiLAService.GetFeatureDefinition) declares.
    pub async fn features(&self) -> Result<Vec<FeatureSummary>, SilaError> {
        let mut c = svc::si_la_service_client::SiLaServiceClient::new(self.channel.clone());
        let call = "SiLAService.Get_ImplementedFeatures";
        let ids = self
            .unary(
                call,
                c.get_implemented_features(svc::GetImplementedFeaturesParameters {}),
            )
            .await?
            .implemented_features;
        let mut out = Vec::new();
        for id in ids.into_iter().take(256) {
            let id = check::text(&self.device, call, "ImplementedFeatures", &id.value, 255)?;
            let def = "SiLAService.GetFeatureDefinition";
            let get = c.get_feature_definition(svc::GetFeatureDefinitionParameters {
                feature_identifier: Some(fw::String { value: id.clone() }),
            });
            let xml = self
                .unary_field(def, "FeatureDefinition", get, |r| r.feature_definition)
                .await?
                .value;
            let summary = feature::summarize(&id, &xml).map_err(|message| SilaError::Protocol {
                device: self.device.clone(),
                call: def.to_string(),
                message,
            })?;
            out.push(summary);
        }
        Ok(out)
    }

    fn counter(&self) -> cc::cell_counter_client::CellCounterClient<Channel> {
        cc::cell_counter_client::CellCounterClient::new(self.channel.clone())
    }

    /// Reads the DeviceState property (unobservable).
    pub async fn device_state(&self) -> Result<DeviceState, SilaError> {
        let call = "CellCounter.Get_DeviceState";
        let mut counter = self.counter();
        let get = counter.get_device_state(cc::GetDeviceStateParameters {});
        let state = self
            .unary_field(call, "DeviceState", get, |r| r.device_state)
            .await?
            .value;
        match state.as_str() {
            "Idle" => Ok(DeviceState::Idle),
            "Counting" => Ok(DeviceState::Counting),
            "Fault" => Ok(DeviceState::Fault),
            _ => Err(SilaError::BadValue {
                device: self.device.clone(),
                call: call.into(),
                field: "DeviceState".into(),
                value: check::clip(&state),
                rule: "one of Idle, Counting, Fault".into(),
            }),
        }
    }

    /// Runs the SelfTest command (unobservable).
    pub async fn self_test(&self) -> Result<bool, SilaError> {
        let call = "CellCounter.SelfTest";
        let mut counter = self.counter();
        let run = counter.self_test(cc::SelfTestParameters {});
        Ok(self
            .unary_field(call, "Passed", run, |r| r.passed)
            .await?
            .value)
    }

    /// Subscribes to the observable property ChamberTemperature, takes `n` values (°C, each
    /// checked to be finite) and ends the subscription.
    pub async fn chamber_temperature(&self, n: usize) -> Result<Vec<f64>, SilaError> {
        let call = "CellCounter.Subscribe_ChamberTemperature";
        let mut stream = self
            .unary(
                call,
                self.counter()
                    .subscribe_chamber_temperature(cc::SubscribeChamberTemperatureParameters {}),
            )
            .await?;
        let mut values = Vec::with_capacity(n.min(1024));
        while values.len() < n {
            let msg = self.next_of(call, &mut stream, None).await?;
            let Some(msg) = msg else {
                return Err(SilaError::ConnectionLost {
                    device: self.device.clone(),
                    call: call.into(),
                    cause: format!("subscription ended after {} of {n} values", values.len()),
                });
            };
            let v = msg
                .chamber_temperature
                .ok_or_else(|| self.missing(call, "ChamberTemperature"))?
                .value;
            values.push(check::real(
                &self.device,
                call,
                "ChamberTemperature",
                v,
                check::Range::any(),
            )?);
        }
        Ok(values)
    }

    /// The next message of a stream, under the stall limit (and the command deadline).
    async fn next_of<T>(
        &self,
        call: &str,
        stream: &mut tonic::Streaming<T>,
        deadline: Option<Instant>,
    ) -> Result<Option<T>, SilaError> {
        let stall = Instant::now() + self.stall_timeout;
        let (until, limit, what) = match deadline {
            Some(d) if d < stall => (d, self.command_timeout, "the command to finish"),
            _ => (stall, self.stall_timeout, "the next stream message"),
        };
        match timeout_at(until, stream.message()).await {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(status)) => Err(from_status(&self.device, call, &status)),
            Err(_) => Err(SilaError::Timeout {
                device: self.device.clone(),
                call: call.to_string(),
                after: limit,
                what: what.into(),
            }),
        }
    }

    /// The gRPC channel (for calls of features this crate has no typed client for).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The command time limit from now: the deadline to pass to [`Self::follow_execution`].
    pub fn command_deadline(&self) -> Instant {
        Instant::now() + self.command_timeout
    }

    /// Follows an observable command's `X_Info` stream until the command finishes: each
    /// ExecutionInfo is checked and passed to `on_progress`. Returns the final status and all
    /// reports. Errors: the stream ends or breaks before a final status (lost connection), no
    /// message within the stall limit or the deadline passes (time limit), an invalid report.
    pub async fn follow_execution(
        &self,
        info_call: &str,
        mut info: tonic::Streaming<fw::ExecutionInfo>,
        deadline: Instant,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<(CommandStatus, Vec<Progress>), SilaError> {
        let mut progress = Vec::new();
        loop {
            let Some(msg) = self.next_of(info_call, &mut info, Some(deadline)).await? else {
                return Err(SilaError::ConnectionLost {
                    device: self.device.clone(),
                    call: info_call.into(),
                    cause: "execution info stream ended before the command finished".into(),
                });
            };
            let p = check::execution_info(&self.device, info_call, &msg)?;
            on_progress(&p);
            let status = p.status;
            progress.push(p);
            if matches!(
                status,
                CommandStatus::FinishedSuccessfully | CommandStatus::FinishedWithError
            ) {
                return Ok((status, progress));
            }
        }
    }

    /// Runs the observable command CountCells: starts it, follows its ExecutionInfo stream
    /// (each report checked and passed to `on_progress`) until it finishes, then reads the
    /// result. Limits: the call limit for each unary call, the stall limit between progress
    /// reports, the command limit for the whole.
    pub async fn count_cells(
        &self,
        sample_id: &str,
        sample_volume_ul: f64,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<CellCount, SilaError> {
        let deadline = Instant::now() + self.command_timeout;
        // The feature's parameter constraints, checked before anything is sent.
        let n = sample_id.chars().count();
        if !(1..=128).contains(&n) {
            return Err(SilaError::Validation {
                device: self.device.clone(),
                call: COUNT.into(),
                parameter: format!("{CELL_COUNTER_FEATURE}/Command/CountCells/Parameter/SampleId"),
                message: format!("length {n} outside 1–128 (checked before sending)"),
            });
        }
        if !(sample_volume_ul.is_finite() && sample_volume_ul > 0.0 && sample_volume_ul <= 1000.0) {
            return Err(SilaError::Validation {
                device: self.device.clone(),
                call: COUNT.into(),
                parameter: format!(
                    "{CELL_COUNTER_FEATURE}/Command/CountCells/Parameter/SampleVolume"
                ),
                message: format!(
                    "{sample_volume_ul} µL outside (0, 1000] µL (checked before sending)"
                ),
            });
        }
        let mut client = self.counter();
        let confirmation = self
            .unary(
                COUNT,
                client.count_cells(cc::CountCellsParameters {
                    sample_id: Some(fw::String {
                        value: sample_id.to_string(),
                    }),
                    sample_volume: Some(fw::Real {
                        value: sample_volume_ul,
                    }),
                }),
            )
            .await?;
        let uuid = confirmation
            .command_execution_uuid
            .ok_or_else(|| self.missing(COUNT, "commandExecutionUUID"))?
            .value;
        check::uuid(&self.device, COUNT, "commandExecutionUUID", &uuid)?;
        let exec = fw::CommandExecutionUuid {
            value: uuid.clone(),
        };

        let info_call = "CellCounter.CountCells_Info";
        let info = self
            .unary(info_call, client.count_cells_info(exec.clone()))
            .await?;
        let (final_status, progress) = self
            .follow_execution(info_call, info, deadline, on_progress)
            .await?;

        let result_call = "CellCounter.CountCells_Result";
        let responses = self
            .unary(result_call, client.count_cells_result(exec))
            .await?;
        if final_status == CommandStatus::FinishedWithError {
            return Err(SilaError::Protocol {
                device: self.device.clone(),
                call: result_call.into(),
                message: "the command finished with an error but its result carries none".into(),
            });
        }
        let vcd = responses
            .viable_cell_density
            .ok_or_else(|| self.missing(result_call, "ViableCellDensity"))?
            .value;
        let viability = responses
            .viability
            .ok_or_else(|| self.missing(result_call, "Viability"))?
            .value;
        Ok(CellCount {
            sample_id: sample_id.to_string(),
            execution_uuid: uuid.to_ascii_lowercase(),
            viable_cell_density_per_ml: check::real(
                &self.device,
                result_call,
                "ViableCellDensity",
                vcd,
                check::Range::closed(0.0, 1e9),
            )?,
            viability_percent: check::real(
                &self.device,
                result_call,
                "Viability",
                viability,
                check::Range::closed(0.0, 100.0),
            )?,
            progress,
        })
    }
}

/// The innermost cause of a transport error (tonic's own text is only "transport error").
fn transport_cause(e: &tonic::transport::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    check::clip(&text)
}
