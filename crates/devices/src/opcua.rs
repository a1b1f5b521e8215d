//! The OPC UA client adapter (async-opcua, client only) for devices modelled in the style
//! of OPC UA LADS: `DeviceSet/<device>/FunctionalUnitSet/<unit>` with a `FunctionSet` of
//! measured variables and a `ProgramManager` (`ProgramTemplateSet`, `ActiveProgram`,
//! `ResultSet`, methods `StartProgram` and `Stop`). Everything is found by browsing from
//! the Objects folder by browse name, never by hard-coded node ids.
//!
//! A step runs as: connect (security None or SignAndEncrypt with Basic256Sha256), browse,
//! check that the program exists, subscribe to the mapped measured variables, call
//! `StartProgram`, follow `ActiveProgram/CurrentState` until `Completed`, `Aborted` or
//! `Stopped`, then read the mapped variables (value, status code, source timestamp) and
//! results. A dropped connection is waited out (the client reconnects) and recorded as a
//! retry; one that stays down longer than the binding's retries is recorded as lost.
//! The trait is synchronous: each adapter owns a single-threaded tokio runtime and
//! blocks on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batch::device::{DeviceError, DeviceNote, DeviceRun, Reading};
use batch::entry::{DeviceEventKind, sha256_hex};
use batch::{DeviceAdapter, DeviceReport};
use opcua::client::{ClientBuilder, DataChangeCallback, IdentityToken, Session};
use opcua::crypto::{CertificateStore, SecurityPolicy, X509};
use opcua::types::{
    BrowseDescription, BrowseDirection, DataValue, MessageSecurityMode, MonitoredItemCreateRequest,
    NodeId, ObjectId, ReadValueId, ReferenceTypeId, TimestampsToReturn, UserTokenPolicy, Variant,
};
use recipe::DateTime;

use crate::binding::{Device, Security, StepProgram, host_port, unit_of};

/// What a device tells about itself (for its twin and for checking the binding).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Description {
    /// Browse name of the device under `DeviceSet`.
    pub device: String,
    /// Nameplate properties found on the device (Manufacturer, Model, SerialNumber, …).
    pub nameplate: BTreeMap<String, String>,
    /// `QualificationState`, if the device reports one.
    pub qualification: Option<String>,
    /// Numeric counters on the device (ProgramRuns, OperatingHours, …).
    pub counters: BTreeMap<String, f64>,
    /// Functional units.
    pub functional_units: Vec<String>,
    /// Program templates of the chosen functional unit.
    pub programs: Vec<String>,
    /// Measured variables of the chosen functional unit.
    pub variables: Vec<String>,
}

/// Nodes of one functional unit, found by browsing.
#[derive(Debug, Clone)]
struct Unit {
    description: Description,
    device_node: NodeId,
    variables: BTreeMap<String, NodeId>,
    program_manager: NodeId,
    start: NodeId,
    active: BTreeMap<String, NodeId>,
    results: BTreeMap<String, NodeId>,
}

/// A device reached over OPC UA.
#[derive(Debug)]
pub struct OpcuaDevice {
    device: Device,
    rt: tokio::runtime::Runtime,
}

fn err(device: &Device, message: impl Into<String>) -> DeviceError {
    DeviceError {
        device: device.equipment.clone(),
        message: message.into(),
    }
}

fn as_f64(v: &Variant) -> Option<f64> {
    match v {
        Variant::Double(x) => Some(*x),
        Variant::Float(x) => Some(f64::from(*x)),
        Variant::Int16(x) => Some(f64::from(*x)),
        Variant::Int32(x) => Some(f64::from(*x)),
        Variant::Int64(x) => Some(*x as f64),
        Variant::UInt16(x) => Some(f64::from(*x)),
        Variant::UInt32(x) => Some(f64::from(*x)),
        Variant::UInt64(x) => Some(*x as f64),
        Variant::Byte(x) => Some(f64::from(*x)),
        _ => None,
    }
}

fn as_text(v: &Variant) -> Option<String> {
    match v {
        Variant::String(s) => s.value().clone(),
        Variant::LocalizedText(t) => t.text.value().clone(),
        _ => None,
    }
}

fn source_time(dv: &DataValue) -> Option<DateTime> {
    dv.source_timestamp
        .as_ref()
        .map(|t| DateTime::from_unix_seconds(t.as_chrono().timestamp()))
}

impl OpcuaDevice {
    /// An adapter for a bound device (nothing is connected yet).
    pub fn new(device: &Device) -> Result<OpcuaDevice, DeviceError> {
        host_port(&device.endpoint).map_err(|m| err(device, m))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(device, format!("cannot start the runtime: {e}")))?;
        Ok(OpcuaDevice {
            device: device.clone(),
            rt,
        })
    }

    /// Connect, browse and describe the device (nameplate, counters, units, programs).
    pub fn describe(&mut self) -> Result<Description, DeviceError> {
        let device = self.device.clone();
        self.rt.block_on(async move {
            let connection = connect(&device).await?;
            let unit = browse_unit(&device, &connection.session).await;
            connection.close().await;
            Ok(unit?.description)
        })
    }
}

/// A connected session, its event loop and the session's own PKI folder (removed when the
/// connection is dropped).
struct Connection {
    session: Arc<Session>,
    handle: tokio::task::JoinHandle<opcua::types::StatusCode>,
    _pki: PkiDir,
}

impl Connection {
    async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.session.disconnect()).await;
        self.handle.abort();
    }
}

/// A PKI folder of one connection: `trusted/` holds only the pinned server certificate, so
/// async-opcua trusts that one and no other.
struct PkiDir(PathBuf);

impl Drop for PkiDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pki_dir(device: &Device) -> Result<PkiDir, DeviceError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name: String = device
        .equipment
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    let dir = std::env::temp_dir().join(format!(
        "atmpflow-opcua-pki-{}-{name}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["trusted", "rejected", "private"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| {
            err(
                device,
                format!("cannot make the PKI folder {}: {e}", dir.display()),
            )
        })?;
    }
    Ok(PkiDir(dir))
}

/// A certificate file (`.der` or `.pem`), read and parsed, or a located error.
fn read_certificate(device: &Device, what: &str, path: &str) -> Result<X509, DeviceError> {
    let p = Path::new(path);
    if let Err(e) = std::fs::metadata(p) {
        return Err(err(device, format!("{what} `{path}`: cannot read it: {e}")));
    }
    CertificateStore::read_cert(p).map_err(|e| {
        err(
            device,
            format!("{what} `{path}`: not a certificate (`.der` or `.pem`): {e}"),
        )
    })
}

/// The client's certificate and key paths (absolute), checked to be readable.
fn client_files(device: &Device) -> Result<(PathBuf, PathBuf), DeviceError> {
    let cert = device.certificate.clone().unwrap_or_default();
    let key = device.key.clone().unwrap_or_default();
    read_certificate(device, "client certificate", &cert)?;
    if let Err(e) = std::fs::metadata(&key) {
        return Err(err(
            device,
            format!("client key `{key}`: cannot read it: {e}"),
        ));
    }
    opcua::crypto::PrivateKey::read_pem_file(Path::new(&key)).map_err(|e| {
        err(
            device,
            format!("client key `{key}`: not an RSA private key in PEM: {e:?}"),
        )
    })?;
    let absolute = |p: &str| std::path::absolute(p).map_err(|e| err(device, format!("`{p}`: {e}")));
    Ok((absolute(&cert)?, absolute(&key)?))
}

/// Check the certificate a server presents against the binding's pin (the certificate file
/// and/or the SHA-256 thumbprint); a mismatch is refused, naming both.
fn check_pin(device: &Device, presented: &X509) -> Result<(), DeviceError> {
    let der = presented
        .to_der()
        .map_err(|e| err(device, format!("the server's certificate: {e}")))?;
    let got = sha256_hex(&der);
    if let Some(path) = &device.server_certificate {
        let pinned = read_certificate(device, "server certificate", path)?;
        let want = sha256_hex(
            &pinned
                .to_der()
                .map_err(|e| err(device, format!("server certificate `{path}`: {e}")))?,
        );
        if want != got {
            return Err(err(
                device,
                format!(
                    "{}: the server presents a certificate (SHA-256 {got}) that is not the pinned `{path}` (SHA-256 {want}): refused",
                    device.endpoint
                ),
            ));
        }
    }
    if let Some(t) = &device.server_thumbprint {
        let want = crate::binding::normalize_thumbprint(t).ok_or_else(|| {
            err(
                device,
                format!("server_thumbprint `{t}` is not 64 hex digits"),
            )
        })?;
        if want != got {
            return Err(err(
                device,
                format!(
                    "{}: the server presents a certificate (SHA-256 {got}) that does not match server_thumbprint {want}: refused",
                    device.endpoint
                ),
            ));
        }
    }
    Ok(())
}

fn client_builder(device: &Device, pki: &Path) -> ClientBuilder {
    ClientBuilder::new()
        .application_name("atmpflow device adapter")
        .application_uri(CLIENT_APPLICATION_URI)
        .product_uri("urn:atmpflow")
        .session_retry_limit(i32::try_from(device.retries.max(1) * 4).unwrap_or(i32::MAX))
        .session_retry_initial(Duration::from_millis(250))
        .session_retry_max(Duration::from_millis(500))
        .keep_alive_interval(Duration::from_millis(500))
        .request_timeout(Duration::from_secs(5))
        .session_timeout(30_000)
        .pki_dir(pki)
        .trust_server_certs(false)
        .create_sample_keypair(false)
}

/// The application URI the client presents; a client certificate for `sign-and-encrypt`
/// carries it as its subject alternative name (URI).
pub const CLIENT_APPLICATION_URI: &str = "urn:atmpflow:devices";

async fn connect(device: &Device) -> Result<Connection, DeviceError> {
    let pki = pki_dir(device)?;
    let connecting = tokio::time::timeout(Duration::from_secs(10), async {
        match device.security {
            Security::None => {
                let mut client = client_builder(device, &pki.0)
                    .client()
                    .map_err(|e| err(device, format!("client configuration: {}", e.join("; "))))?;
                let endpoint: opcua::types::EndpointDescription = (
                    device.endpoint.as_str(),
                    "None",
                    MessageSecurityMode::None,
                    UserTokenPolicy::anonymous(),
                )
                    .into();
                client
                    .connect_to_matching_endpoint(endpoint, IdentityToken::Anonymous)
                    .await
                    .map_err(|e| err(device, format!("connect {}: {e}", device.endpoint)))
            }
            Security::SignAndEncrypt => {
                let (cert, key) = client_files(device)?;
                let mut client = client_builder(device, &pki.0)
                    .certificate_path(cert)
                    .private_key_path(key)
                    .client()
                    .map_err(|e| err(device, format!("client configuration: {}", e.join("; "))))?;
                let endpoints = client
                    .get_server_endpoints_from_url(device.endpoint.as_str())
                    .await
                    .map_err(|e| err(device, format!("connect {}: {e}", device.endpoint)))?;
                let policy = SecurityPolicy::Basic256Sha256.to_uri();
                let mut endpoint = endpoints
                    .iter()
                    .find(|e| {
                        e.security_mode == MessageSecurityMode::SignAndEncrypt
                            && e.security_policy_uri.as_ref() == policy
                    })
                    .cloned()
                    .ok_or_else(|| {
                        err(
                            device,
                            format!(
                                "{} offers no SignAndEncrypt Basic256Sha256 endpoint (it offers {})",
                                device.endpoint,
                                endpoints
                                    .iter()
                                    .map(|e| format!(
                                        "{:?} {}",
                                        e.security_mode,
                                        SecurityPolicy::from_uri(e.security_policy_uri.as_ref())
                                    ))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                let presented =
                    X509::from_byte_string(&endpoint.server_certificate).map_err(|e| {
                        err(
                            device,
                            format!("{}: the server's certificate: {e}", device.endpoint),
                        )
                    })?;
                check_pin(device, &presented)?;
                // Trust exactly the pinned certificate for this session (reconnects included).
                let trusted = pki
                    .0
                    .join("trusted")
                    .join(CertificateStore::cert_file_name(&presented));
                let der = presented
                    .to_der()
                    .map_err(|e| err(device, format!("the server's certificate: {e}")))?;
                std::fs::write(&trusted, der)
                    .map_err(|e| err(device, format!("cannot write {}: {e}", trusted.display())))?;
                endpoint.endpoint_url = device.endpoint.as_str().into();
                client
                    .connect_to_endpoint_directly(endpoint, IdentityToken::Anonymous)
                    .map_err(|e| err(device, format!("connect {}: {e}", device.endpoint)))
            }
        }
    });
    let (session, event_loop) = connecting
        .await
        .map_err(|_| err(device, format!("connect {}: timed out", device.endpoint)))??;
    let mut handle = event_loop.spawn();
    let refused = |status: opcua::types::StatusCode| {
        let hint = match (device.security, device.certificate.as_deref()) {
            (Security::SignAndEncrypt, Some(cert)) => format!(
                " (does the device trust the client certificate `{cert}`, and does that carry the URI {CLIENT_APPLICATION_URI}?)"
            ),
            _ => String::new(),
        };
        err(
            device,
            format!(
                "connect {}: the device refused the session: {status}{hint}",
                device.endpoint
            ),
        )
    };
    tokio::select! {
        connected = tokio::time::timeout(Duration::from_secs(10), session.wait_for_connection()) => {
            if connected == Ok(true) {
                return Ok(Connection { session, handle, _pki: pki });
            }
            handle.abort();
            Err(err(
                device,
                format!("connect {}: no session within 10 s", device.endpoint),
            ))
        }
        ended = &mut handle => {
            match ended {
                Ok(status) => Err(refused(status)),
                Err(e) => Err(err(device, format!("connect {}: {e}", device.endpoint))),
            }
        }
    }
}

async fn children(
    device: &Device,
    session: &Session,
    node: &NodeId,
) -> Result<Vec<(String, NodeId)>, DeviceError> {
    let d = BrowseDescription {
        node_id: node.clone(),
        browse_direction: BrowseDirection::Forward,
        reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
        include_subtypes: true,
        node_class_mask: 0,
        result_mask: 0x3f,
    };
    let results = session
        .browse(&[d], 1000, None)
        .await
        .map_err(|e| err(device, format!("browse {node}: {e}")))?;
    Ok(results
        .into_iter()
        .flat_map(|r| r.references.unwrap_or_default())
        .map(|r| (r.browse_name.name.to_string(), r.node_id.node_id))
        .collect())
}

async fn child(
    device: &Device,
    session: &Session,
    node: &NodeId,
    name: &str,
) -> Result<NodeId, DeviceError> {
    children(device, session, node)
        .await?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, id)| id)
        .ok_or_else(|| {
            err(
                device,
                format!("no `{name}` under {node} (not a LADS-style device?)"),
            )
        })
}

async fn read(
    device: &Device,
    session: &Session,
    nodes: &[NodeId],
) -> Result<Vec<DataValue>, DeviceError> {
    let ids: Vec<ReadValueId> = nodes.iter().cloned().map(ReadValueId::from).collect();
    session
        .read(&ids, TimestampsToReturn::Both, 0.0)
        .await
        .map_err(|e| err(device, format!("read: {e}")))
}

async fn browse_unit(device: &Device, session: &Session) -> Result<Unit, DeviceError> {
    let objects: NodeId = ObjectId::ObjectsFolder.into();
    let set = child(device, session, &objects, "DeviceSet").await?;
    let (name, dev) = children(device, session, &set)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| err(device, "DeviceSet is empty"))?;
    let mut description = Description {
        device: name,
        ..Description::default()
    };
    let props = children(device, session, &dev).await?;
    let values = read(
        device,
        session,
        &props.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(),
    )
    .await?;
    for ((n, _), dv) in props.iter().zip(values) {
        let Some(v) = dv.value.as_ref() else { continue };
        if let Some(t) = as_text(v) {
            if n == "QualificationState" {
                description.qualification = Some(t);
            } else {
                description.nameplate.insert(n.clone(), t);
            }
        } else if let Some(x) = as_f64(v) {
            description.counters.insert(n.clone(), x);
        }
    }
    let fus = child(device, session, &dev, "FunctionalUnitSet").await?;
    let units = children(device, session, &fus).await?;
    description.functional_units = units.iter().map(|(n, _)| n.clone()).collect();
    let unit = match &device.functional_unit {
        Some(want) => units.iter().find(|(n, _)| n == want),
        None => units.first(),
    }
    .map(|(_, id)| id.clone())
    .ok_or_else(|| {
        err(
            device,
            format!(
                "no functional unit {}(the device has {})",
                device
                    .functional_unit
                    .as_deref()
                    .map(|u| format!("`{u}` "))
                    .unwrap_or_default(),
                description.functional_units.join(", ")
            ),
        )
    })?;
    let fs = child(device, session, &unit, "FunctionSet").await?;
    let variables: BTreeMap<String, NodeId> =
        children(device, session, &fs).await?.into_iter().collect();
    description.variables = variables.keys().cloned().collect();
    let pm = child(device, session, &unit, "ProgramManager").await?;
    let pm_children: BTreeMap<String, NodeId> =
        children(device, session, &pm).await?.into_iter().collect();
    let get = |n: &str| {
        pm_children
            .get(n)
            .cloned()
            .ok_or_else(|| err(device, format!("the program manager has no `{n}`")))
    };
    let templates = children(device, session, &get("ProgramTemplateSet")?).await?;
    description.programs = templates.iter().map(|(n, _)| n.clone()).collect();
    let active = children(device, session, &get("ActiveProgram")?)
        .await?
        .into_iter()
        .collect();
    let results = children(device, session, &get("ResultSet")?)
        .await?
        .into_iter()
        .collect();
    Ok(Unit {
        description,
        device_node: dev,
        variables,
        start: get("StartProgram")?,
        program_manager: pm,
        active,
        results,
    })
}

/// How a program run ended.
enum Ended {
    Completed,
    Failed(String),
    Lost(String),
    TimedOut,
}

async fn run_step(device: &Device, run: &DeviceRun<'_>) -> Result<DeviceReport, DeviceError> {
    let step = run.step;
    let program = device
        .step
        .get(&step.id)
        .ok_or_else(|| err(device, format!("no program is bound to step `{}`", step.id)))?;
    let connection = connect(device).await?;
    let result = drive(device, &connection.session, run, program).await;
    connection.close().await;
    result
}

/// The last value of each subscribed variable, by node id.
type LastValues = Arc<Mutex<BTreeMap<String, DataValue>>>;

/// Runs the step's program on the device: checks that the device has the program,
/// subscribes to the mapped measured variables, starts the program, waits for its end and
/// reads the measured values, results and decision measures.
async fn drive(
    device: &Device,
    session: &Arc<Session>,
    run: &DeviceRun<'_>,
    program: &StepProgram,
) -> Result<DeviceReport, DeviceError> {
    let step = run.step;
    let unit = browse_unit(device, session).await?;
    if !unit.description.programs.contains(&program.program) {
        return Err(err(
            device,
            format!(
                "the device has no program `{}` (it has {})",
                program.program,
                unit.description.programs.join(", ")
            ),
        ));
    }
    let (watched, last) = subscribe(device, session, &unit, program).await?;
    let (run_id, started) = start_program(device, session, &unit, program).await?;
    let mut notes = vec![started];
    let ended = await_end(device, session, &unit, program, &run_id, &mut notes).await?;
    let mut report = DeviceReport {
        duration_h: step.duration.nominal_h,
        readings: Vec::new(),
        measures: BTreeMap::new(),
        failed: None,
        notes,
        manual: Vec::new(),
    };
    match ended {
        Ended::Completed => {}
        Ended::Failed(why) => {
            report.failed = Some(why);
            return Ok(report);
        }
        Ended::TimedOut => {
            report.failed = Some(format!(
                "program {} did not end within {} s",
                program.program, device.timeout_s
            ));
            return Ok(report);
        }
        Ended::Lost(why) => {
            report.notes.push(DeviceNote {
                event: DeviceEventKind::Lost,
                detail: why,
                source_time: None,
            });
            return Ok(report);
        }
    }
    read_measured(
        device,
        session,
        step,
        &unit,
        program,
        &watched,
        &last,
        &mut report,
    )
    .await?;
    read_results(device, session, step, &unit, program, &mut report).await?;
    let _ = unit.device_node;
    Ok(report)
}

/// Subscribes to the mapped measured variables (the last value of each is kept); answers
/// their nodes, in the program's order, and the last values.
async fn subscribe(
    device: &Device,
    session: &Arc<Session>,
    unit: &Unit,
    program: &StepProgram,
) -> Result<(Vec<NodeId>, LastValues), DeviceError> {
    let last: LastValues = Arc::default();
    let mut watched = Vec::new();
    for (field, var) in &program.values {
        let id = unit.variables.get(var).ok_or_else(|| {
            err(
                device,
                format!(
                    "`{field}` maps to `{var}`, which the functional unit does not have (it has {})",
                    unit.description.variables.join(", ")
                ),
            )
        })?;
        watched.push(id.clone());
    }
    if !watched.is_empty() {
        let sink = last.clone();
        let sub = session
            .create_subscription(
                Duration::from_millis(100),
                100,
                10,
                0,
                0,
                true,
                DataChangeCallback::new(move |dv, item| {
                    if let Ok(mut m) = sink.lock() {
                        m.insert(item.item_to_monitor().node_id.to_string(), dv);
                    }
                }),
            )
            .await
            .map_err(|e| err(device, format!("subscribe: {e}")))?;
        session
            .create_monitored_items(
                sub,
                TimestampsToReturn::Both,
                watched
                    .iter()
                    .cloned()
                    .map(MonitoredItemCreateRequest::from)
                    .collect(),
            )
            .await
            .map_err(|e| err(device, format!("monitor: {e}")))?;
    }
    Ok((watched, last))
}

/// Starts the program with its parameters; answers the device's run id and the note that
/// says what was started.
async fn start_program(
    device: &Device,
    session: &Session,
    unit: &Unit,
    program: &StepProgram,
) -> Result<(String, DeviceNote), DeviceError> {
    let params = program
        .parameters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";");
    let call = session
        .call_one((
            unit.program_manager.clone(),
            unit.start.clone(),
            Some(vec![
                Variant::from(program.program.as_str()),
                Variant::from(params.as_str()),
            ]),
        ))
        .await
        .map_err(|e| err(device, format!("StartProgram: {e}")))?;
    if !call.status_code.is_good() {
        return Err(err(
            device,
            format!("StartProgram {}: {}", program.program, call.status_code),
        ));
    }
    let run_id = call
        .output_arguments
        .unwrap_or_default()
        .first()
        .and_then(as_text)
        .unwrap_or_default();
    let note = DeviceNote {
        event: DeviceEventKind::Program,
        detail: format!(
            "started program {} (run {run_id}) with {}",
            program.program,
            if params.is_empty() {
                "no parameters"
            } else {
                &params
            }
        ),
        source_time: None,
    };
    Ok((run_id, note))
}

/// Polls the program's state until it ends, the device's time-out passes or the connection
/// stays lost longer than the retries allow; a connection that comes back is noted.
async fn await_end(
    device: &Device,
    session: &Session,
    unit: &Unit,
    program: &StepProgram,
    run_id: &str,
    notes: &mut Vec<DeviceNote>,
) -> Result<Ended, DeviceError> {
    let state_node = unit
        .active
        .get("CurrentState")
        .cloned()
        .ok_or_else(|| err(device, "ActiveProgram has no CurrentState"))?;
    let began = Instant::now();
    let allowed_outage = Duration::from_secs(2 * u64::from(device.retries.max(1)));
    let mut outage: Option<(Instant, String)> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if began.elapsed().as_secs_f64() > device.timeout_s {
            return Ok(Ended::TimedOut);
        }
        match read(device, session, std::slice::from_ref(&state_node)).await {
            Ok(v) => {
                if let Some((since, why)) = outage.take() {
                    notes.push(DeviceNote {
                        event: DeviceEventKind::Retry,
                        detail: format!(
                            "connection dropped ({why}); reconnected after {:.1} s",
                            since.elapsed().as_secs_f64()
                        ),
                        source_time: None,
                    });
                }
                let state = v
                    .first()
                    .and_then(|d| d.value.as_ref())
                    .and_then(as_text)
                    .unwrap_or_default();
                match state.as_str() {
                    "Completed" => return Ok(Ended::Completed),
                    "Aborted" | "Stopped" => {
                        let why = error_message(device, session, unit).await;
                        return Ok(Ended::Failed(format!(
                            "program {} (run {run_id}) ended in state {state}{}",
                            program.program,
                            if why.is_empty() {
                                String::new()
                            } else {
                                format!(": {why}")
                            }
                        )));
                    }
                    _ => {}
                }
            }
            Err(e) => {
                let (since, _) = outage.get_or_insert_with(|| (Instant::now(), e.message.clone()));
                if since.elapsed() > allowed_outage {
                    return Ok(Ended::Lost(format!(
                        "no connection for {:.1} s ({}); gave up after {} retries",
                        since.elapsed().as_secs_f64(),
                        e.message,
                        device.retries
                    )));
                }
            }
        }
    }
}

/// The active program's error message (empty when the device has none or gives none).
async fn error_message(device: &Device, session: &Session, unit: &Unit) -> String {
    match unit.active.get("ErrorMessage") {
        Some(n) => read(device, session, std::slice::from_ref(n))
            .await
            .ok()
            .and_then(|v| v.first().and_then(|d| d.value.clone()))
            .and_then(|v| as_text(&v))
            .unwrap_or_default(),
        None => String::new(),
    }
}

/// The measured variables: read once more at the end (value, status, source time); the
/// subscription's last value stands in if the read gives nothing.
#[allow(clippy::too_many_arguments)]
async fn read_measured(
    device: &Device,
    session: &Session,
    step: &recipe::recipe::Step,
    unit: &Unit,
    program: &StepProgram,
    watched: &[NodeId],
    last: &LastValues,
    report: &mut DeviceReport,
) -> Result<(), DeviceError> {
    let finals = read(device, session, watched).await?;
    for ((field, var), (id, dv)) in program.values.iter().zip(watched.iter().zip(finals)) {
        let dv = if dv.value.is_some() {
            dv
        } else {
            last.lock()
                .ok()
                .and_then(|m| m.get(&id.to_string()).cloned())
                .unwrap_or(dv)
        };
        report.readings.push(reading(
            step,
            field,
            &format!("{}/{var}", unit.description.device),
            &dv,
        ));
    }
    Ok(())
}

/// The program's results, decision measures and elapsed hours; a mapped result the device
/// does not have is a refused reading.
async fn read_results(
    device: &Device,
    session: &Session,
    step: &recipe::recipe::Step,
    unit: &Unit,
    program: &StepProgram,
    report: &mut DeviceReport,
) -> Result<(), DeviceError> {
    let result_nodes: Vec<(String, String, NodeId)> = program
        .results
        .iter()
        .map(|(f, v)| (f.clone(), v.clone()))
        .chain(
            program
                .measures
                .iter()
                .map(|(m, v)| (format!("measure:{m}"), v.clone())),
        )
        .chain(std::iter::once((
            "elapsed".to_string(),
            "ElapsedHours".to_string(),
        )))
        .filter_map(|(f, v)| unit.results.get(&v).map(|id| (f, v, id.clone())))
        .collect();
    let values = read(
        device,
        session,
        &result_nodes
            .iter()
            .map(|(_, _, id)| id.clone())
            .collect::<Vec<_>>(),
    )
    .await?;
    for ((field, var, _), dv) in result_nodes.iter().zip(values) {
        let x = dv.value.as_ref().and_then(as_f64);
        if field == "elapsed" {
            if let Some(h) = x.filter(|h| h.is_finite() && *h >= 0.0) {
                report.duration_h = h;
            }
        } else if let Some(m) = field.strip_prefix("measure:") {
            if let Some(v) = x.filter(|v| v.is_finite()) {
                report.measures.insert(m.to_string(), v);
            }
        } else {
            report.readings.push(reading(
                step,
                field,
                &format!("{}/Result/{var}", unit.description.device),
                &dv,
            ));
        }
    }
    for (f, v) in &program.results {
        if !unit.results.contains_key(v) {
            report.readings.push(Reading {
                bad_status: Some(format!("no result `{v}` on the device")),
                ..Reading::plain(f, f64::NAN, &unit_of(step, f))
            });
        }
    }
    Ok(())
}

fn reading(step: &recipe::recipe::Step, field: &str, address: &str, dv: &DataValue) -> Reading {
    let status = dv.status.unwrap_or(opcua::types::StatusCode::Good);
    let value = dv.value.as_ref().and_then(as_f64);
    let bad_status = if !status.is_good() {
        Some(format!("{status}"))
    } else if value.is_none_or(|v| !v.is_finite()) {
        Some("no numeric value".to_string())
    } else {
        None
    };
    Reading {
        field: field.to_string(),
        value: value.unwrap_or(f64::NAN),
        unit: unit_of(step, field),
        source_time: source_time(dv),
        address: Some(address.to_string()),
        bad_status,
    }
}

impl DeviceAdapter for OpcuaDevice {
    fn id(&self) -> &str {
        &self.device.equipment
    }

    fn run(&mut self, run: &DeviceRun<'_>) -> Result<DeviceReport, DeviceError> {
        let device = self.device.clone();
        self.rt.block_on(run_step(&device, run))
    }

    fn handles(&self, step: &str) -> bool {
        self.device.step.contains_key(step)
    }
}
