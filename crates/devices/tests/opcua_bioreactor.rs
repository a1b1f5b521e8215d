//! The expansion of the example CAR-T recipe run on the OPC UA test bioreactor
//! (scripts/devices/opcua_bioreactor.py), normally and with each fault injected.
//!
//! Needs Python with asyncua: run by scripts/ci.d/75-opcua-device.sh, which sets
//! ATMPFLOW_OPCUA_PYTHON to its venv's python. Ignored otherwise (`--ignored` runs them).

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use batch::Entry;
use batch::device::DeviceError;
use batch::entry::{Body, DeviationKind, DeviceEventKind, Source};
use batch::rehearsal::BoundDevices;
use devices::{Description, OpcuaDevice, parse_devices_for};
use support::{Order, Plant, rehearse_devices};
use testkit::Server;

const RECIPE: &str = include_str!("../../../examples/recipes/car-t-modular.toml");

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/devices/opcua_bioreactor.py")
}

fn python() -> String {
    std::env::var("ATMPFLOW_OPCUA_PYTHON")
        .expect("ATMPFLOW_OPCUA_PYTHON: a python with asyncua (scripts/ci.d/75-opcua-device.sh)")
}

/// Throw-away certificates made now by scripts/devices/make_test_certs.py (removed on drop).
struct Certs(PathBuf);

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Certs {
    fn make(tag: &str) -> Certs {
        let dir =
            std::env::temp_dir().join(format!("atmpflow-opcua-certs-{}-{tag}", std::process::id()));
        let status = Command::new(python())
            .arg(script().with_file_name("make_test_certs.py"))
            .arg(&dir)
            .status()
            .expect("run make_test_certs.py");
        assert!(status.success(), "make_test_certs.py failed");
        Certs(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }

    /// The bioreactor's arguments for a secured server trusting the test CA's clients.
    fn server_args(&self) -> Vec<String> {
        vec![
            "--security".into(),
            "sign-and-encrypt".into(),
            "--cert".into(),
            self.path("server.der"),
            "--key".into(),
            self.path("server.pem"),
            "--trust".into(),
            self.path("ca.der"),
        ]
    }
}

fn start(port: u16, fault: &str) -> Server {
    start_with(port, fault, &[])
}

fn start_with(port: u16, fault: &str, extra: &[String]) -> Server {
    support::start_bioreactor(&python(), port, fault, extra)
}

/// Certificates made now (`tag` names their folder) and a secured bioreactor on `port`
/// that trusts the test CA's clients.
fn start_secured(tag: &str, port: u16) -> (Certs, Server) {
    let certs = Certs::make(tag);
    let server = start_with(port, "none", &certs.server_args());
    (certs, server)
}

fn binding_text(equipment: &str, port: u16) -> String {
    binding_text_secured(equipment, port, "security = \"none\"")
}

/// The binding with `security` lines of a secured device: the client's certificate and key
/// and the server's pin.
fn secured(client: &str, key: &str, pin: &str) -> String {
    format!("security = \"sign-and-encrypt\"\ncertificate = \"{client}\"\nkey = \"{key}\"\n{pin}")
}

fn binding_text_secured(equipment: &str, port: u16, security: &str) -> String {
    format!(
        r#"
[[device]]
equipment = "{equipment}"
protocol = "opcua"
endpoint = "opc.tcp://127.0.0.1:{port}/atmpflow/bioreactor"
{security}
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
    run_secured(port, fault, None)
}

/// The batch rehearsed on the bioreactor.
const ORDER: Order<'static> = Order {
    batch: "B-OPCUA",
    patient: "PSN-0001",
    coi: "COI-2026-0100",
    seed: 3,
};

/// `run` on a secured bioreactor, with certificates made now (`tag` names their folder).
fn run_on_secured(tag: &str, port: u16, fault: &str) -> (Vec<Entry>, bool) {
    let certs = Certs::make(tag);
    let (stored, _, ok) = run_secured(port, fault, Some(&certs));
    (stored, ok)
}

/// `run`, on a secured bioreactor when `certs` are given.
fn run_secured(port: u16, fault: &str, certs: Option<&Certs>) -> (Vec<Entry>, String, bool) {
    let mut plant = Plant::new("car-t-modular.toml", RECIPE);
    let equipment = plant
        .binding
        .get("expansion", "cell_culture")
        .and_then(|a| a.equipment.clone())
        .expect("expansion bound");
    let text = match certs {
        Some(c) => binding_text_secured(
            &equipment,
            port,
            &secured(
                &c.path("client.der"),
                &c.path("client.pem"),
                &format!("server_certificate = \"{}\"", c.path("server.der")),
            ),
        ),
        None => binding_text(&equipment, port),
    };
    let devices = parse_devices_for("devices.toml", &text, &plant.recipe).expect("binding file");
    let _server = start_with(
        port,
        fault,
        &certs.map(Certs::server_args).unwrap_or_default(),
    );
    let mut bound: BoundDevices<'_> = BTreeMap::new();
    bound.insert(
        equipment.clone(),
        Box::new(OpcuaDevice::new(&devices.device[0]).expect("adapter")),
    );
    let (stored, result) = rehearse_devices(&ORDER, &mut plant, &mut bound);
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
    assert_reconnected(&stored);
}

/// The outage is noted as a retry: nothing is lost, and the step ends without a device deviation.
fn assert_reconnected(stored: &[Entry]) {
    let ev = events(stored);
    let devs = expansion_deviations(stored);
    assert!(
        ev.contains(&DeviceEventKind::Retry),
        "{ev:?}; expansion deviations: {devs:?}"
    );
    assert!(!ev.contains(&DeviceEventKind::Lost), "{ev:?}");
    assert!(
        devs.iter().all(|(k, _)| *k != DeviationKind::Device),
        "{devs:?}"
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
    let _server = start(48516, "none");
    let d = describe(&text).expect("describe");
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
    let began = Instant::now();
    let e = describe(&text).expect_err("unreachable");
    assert_eq!(e.device, "incubator_1");
    assert!(
        e.message.contains("connect opc.tcp://127.0.0.1:1/"),
        "{}",
        e.message
    );
    assert!(began.elapsed() < Duration::from_secs(30));
}

/// What the one device of binding file `text` says about itself when asked.
fn describe(text: &str) -> Result<Description, DeviceError> {
    let devices = devices::parse_devices("devices.toml", text).expect("binding file");
    OpcuaDevice::new(&devices.device[0])
        .expect("adapter")
        .describe()
}

/// SHA-256 of a file, as lower-case hex.
fn file_sha256(path: &str) -> String {
    batch::entry::sha256_hex(&std::fs::read(path).expect("read the certificate"))
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_sign_and_encrypt_session_runs_the_program_and_reads_values() {
    let (stored, ok) = run_on_secured("run", 48517, "none");
    assert!(ok);
    let device_values: Vec<&str> = stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::Value(v)
                if v.step == "expansion" && matches!(v.source, Source::Device { .. }) =>
            {
                Some(v.field.as_str())
            }
            _ => None,
        })
        .collect();
    for f in ["parameters.temperature", "parameters.fold_expansion"] {
        assert!(device_values.contains(&f), "{f} in {device_values:?}");
    }
    assert_eq!(events(&stored), vec![DeviceEventKind::Program]);
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_pinned_thumbprint_describes_the_secured_device() {
    let (certs, _server) = start_secured("thumb", 48518);
    // Colons between the bytes, upper case: as certificate tools print them.
    let hex = file_sha256(&certs.path("server.der")).to_uppercase();
    let pairs: Vec<&str> = (0..32).map(|i| &hex[2 * i..2 * i + 2]).collect();
    let text = binding_text_secured(
        "incubator_1",
        48518,
        &secured(
            &certs.path("client.der"),
            &certs.path("client.pem"),
            &format!("server_thumbprint = \"{}\"", pairs.join(":")),
        ),
    );
    let d = describe(&text).expect("describe over SignAndEncrypt");
    assert_eq!(d.device, "Bioreactor1");
    assert_eq!(d.programs, vec!["Expansion".to_string()]);
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_wrong_pinned_server_certificate_is_refused() {
    let (certs, _server) = start_secured("wrongpin", 48519);
    let other = certs.path("other-server.der");
    for pin in [
        format!("server_certificate = \"{other}\""),
        format!("server_thumbprint = \"{}\"", file_sha256(&other)),
    ] {
        let text = binding_text_secured(
            "incubator_1",
            48519,
            &secured(&certs.path("client.der"), &certs.path("client.pem"), &pin),
        );
        let e = describe(&text).expect_err("a server certificate other than the pinned one");
        eprintln!("{}", e.message);
        assert_eq!(e.device, "incubator_1");
        let served = file_sha256(&certs.path("server.der"));
        assert!(e.message.contains("refused"), "{}", e.message);
        assert!(e.message.contains(&served), "{}", e.message);
        if pin.starts_with("server_certificate") {
            assert!(e.message.contains(&other), "{}", e.message);
        } else {
            assert!(e.message.contains("server_thumbprint"), "{}", e.message);
        }
    }
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_client_certificate_the_device_does_not_trust_is_refused() {
    let (certs, _server) = start_secured("stranger", 48520);
    let stranger = certs.path("stranger.der");
    let text = binding_text_secured(
        "incubator_1",
        48520,
        &secured(
            &stranger,
            &certs.path("stranger.pem"),
            &format!("server_certificate = \"{}\"", certs.path("server.der")),
        ),
    );
    let began = Instant::now();
    let e = describe(&text).expect_err("the device trusts only its CA's clients");
    eprintln!("{}", e.message);
    assert_eq!(e.device, "incubator_1");
    assert!(e.message.contains("refused the session"), "{}", e.message);
    assert!(e.message.contains(&stranger), "{}", e.message);
    assert!(began.elapsed() < Duration::from_secs(30));
    // A key file that is not there: named, before anything is sent.
    let gone = certs.path("gone.pem");
    let text = text.replace(&certs.path("stranger.pem"), &gone);
    let e = describe(&text).expect_err("no key file");
    assert!(
        e.message
            .contains(&format!("client key `{gone}`: cannot read it")),
        "{}",
        e.message
    );
}

#[test]
fn missing_or_unreadable_client_files_are_located_errors() {
    let dir = std::env::temp_dir().join(format!("atmpflow-opcua-nofiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let missing = dir.join("client.der").display().to_string();
    let text = binding_text_secured(
        "nofiles_probe",
        1,
        &secured(
            &missing,
            &dir.join("client.pem").display().to_string(),
            &format!("server_thumbprint = \"{}\"", "ab".repeat(32)),
        ),
    );
    let e = describe(&text).expect_err("no certificate file");
    assert_eq!(e.device, "nofiles_probe");
    assert!(
        e.message
            .contains(&format!("client certificate `{missing}`: cannot read it")),
        "{}",
        e.message
    );
    // A certificate that is not one.
    let garbage = dir.join("garbage.der");
    std::fs::write(&garbage, b"not a certificate").expect("write");
    let text = text.replace(&missing, &garbage.display().to_string());
    let e = describe(&text).expect_err("not a certificate");
    assert!(e.message.contains("not a certificate"), "{}", e.message);
    assert!(e.message.contains("garbage.der"), "{}", e.message);
    let _ = std::fs::remove_dir_all(&dir);
    // The connection's PKI folder is removed on the error path too.
    let leftover: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with(&format!(
                "atmpflow-opcua-pki-{}-nofiles_probe-",
                std::process::id()
            ))
        })
        .collect();
    assert!(leftover.is_empty(), "{leftover:?}");
}

#[test]
#[ignore = "needs the asyncua test bioreactor (scripts/ci.d/75-opcua-device.sh)"]
fn a_short_disconnect_of_a_secured_device_reconnects_to_the_pinned_server() {
    let (stored, ok) = run_on_secured("reconnect", 48521, "disconnect");
    assert!(ok);
    assert_reconnected(&stored);
}
