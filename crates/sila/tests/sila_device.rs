//! Integration tests against the SiLA 2 test cell counter
//! (`scripts/devices/sila_cell_counter/server.py`, sila2 from PyPI). They need the Python of
//! a virtual environment with sila2 in `ATMPFLOW_SILA_PYTHON`, so they are `#[ignore]`d in the
//! workspace test run; `scripts/ci.d/76-sila-device.sh` makes the environment and runs them
//! with `--ignored`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batch::device::{DeviceAdapter, DeviceError, DeviceReport, DeviceRun};
use sila::client::{CommandStatus, DeviceState};
use sila::{Endpoint, SilaCellCounter, SilaClient, SilaError};
use testkit::{Server, free_port, repo};

const SERVER_UUID: &str = "5d2c1a7e-0f3b-4c59-9a8e-7b1e3c2d4f60";

/// A running test device; killed when dropped.
struct Device {
    _server: Server,
    port: u16,
}

/// Starts the device with `args` and waits (30 s at most) for it to print READY.
fn start(fault: &str, extra: &[&str]) -> Device {
    let python = std::env::var("ATMPFLOW_SILA_PYTHON")
        .expect("ATMPFLOW_SILA_PYTHON: the python of a venv with sila2 (see scripts/ci.d/76-sila-device.sh)");
    let port = free_port();
    let args = [&["--fault", fault, "--count-seconds", "1.5"][..], extra].concat();
    let server = testkit::start_cell_counter(&python, port, &args, "test device");
    Device {
        _server: server,
        port,
    }
}

fn endpoint(d: &Device) -> Endpoint {
    let mut ep = Endpoint::plain("counter-1", "127.0.0.1", d.port);
    ep.call_timeout = Duration::from_secs(5);
    ep.command_timeout = Duration::from_secs(20);
    ep.stall_timeout = Duration::from_secs(5);
    ep
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn expansion_step() -> recipe::recipe::Step {
    let path = repo().join("examples/recipes/car-t-modular.toml");
    let text = std::fs::read_to_string(&path).expect("read the example recipe");
    let recipe =
        recipe::recipe::parse_recipe("car-t-modular.toml", &text).expect("parse the recipe");
    recipe
        .step("expansion")
        .expect("the expansion step")
        .clone()
}

/// Runs `step` (the example's expansion) on `counter`, started on 2026-12-04 at 09:00.
fn run_step(
    counter: &mut SilaCellCounter,
    step: &recipe::recipe::Step,
) -> Result<DeviceReport, DeviceError> {
    counter.run(&DeviceRun {
        step,
        started: recipe::DateTime::parse("2026-12-04T09:00:00Z").expect("date"),
    })
}

/// Runs `test` on a runtime of its own with a client connected to `ep`.
fn with_client<T>(ep: &Endpoint, test: impl AsyncFnOnce(&SilaClient) -> T) -> T {
    runtime().block_on(async {
        let c = SilaClient::connect(ep).await.expect("connect");
        test(&c).await
    })
}

#[test]
#[ignore = "needs the sila2 test device: scripts/ci.d/76-sila-device.sh"]
fn normal_count_reports_progress_identity_properties_and_values() {
    let d = start("none", &[]);
    with_client(&endpoint(&d), async |c| {
        let id = c.identity().await.expect("identity");
        assert_eq!(id.uuid, SERVER_UUID);
        assert_eq!(id.name, "Test cell counter");
        assert_eq!(id.server_type, "CellCounter");
        assert_eq!(c.device_state().await.expect("state"), DeviceState::Idle);
        assert!(c.self_test().await.expect("self test"));
        let temps = c.chamber_temperature(3).await.expect("subscription");
        assert_eq!(temps.len(), 3);
        assert!(temps.iter().all(|t| (22.0..=23.1).contains(t)), "{temps:?}");

        let mut seen = Vec::new();
        let count = c
            .count_cells("batch-1/expansion", 20.0, &mut |p| seen.push(p.clone()))
            .await
            .expect("count");
        assert_eq!(count.viable_cell_density_per_ml, 1.25e6);
        assert_eq!(count.viability_percent, 92.5);
        assert_eq!(seen, count.progress);
        assert!(seen.len() >= 3, "progress reports: {seen:?}");
        assert_eq!(
            seen.last().map(|p| p.status),
            Some(CommandStatus::FinishedSuccessfully)
        );
        let fractions: Vec<f64> = seen.iter().filter_map(|p| p.fraction).collect();
        assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
        assert!(
            fractions.iter().any(|f| *f > 0.0 && *f < 1.0),
            "{fractions:?}"
        );
        assert!(
            seen.iter()
                .any(|p| p.remaining.is_some_and(|r| r > Duration::ZERO))
        );
        // Validation before sending: nothing reaches the device.
        let e = c
            .count_cells("", 20.0, &mut |_| {})
            .await
            .expect_err("must be refused");
        assert!(matches!(e, SilaError::Validation { .. }), "{e:?}");
        let e = c
            .count_cells("s", f64::NAN, &mut |_| {})
            .await
            .expect_err("must be refused");
        assert!(e.to_string().contains("SampleVolume"), "{e}");
    });
}

#[test]
#[ignore = "needs the sila2 test device: scripts/ci.d/76-sila-device.sh"]
fn adapter_fills_the_decision_measure_with_identity_and_progress() {
    let d = start("none", &[]);
    let progress = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&progress);
    let mut counter = SilaCellCounter::new(endpoint(&d))
        .expect("adapter")
        .with_progress(Box::new(move |dev, p| {
            sink.lock()
                .expect("lock")
                .push((dev.to_string(), p.fraction));
        }));
    let step = expansion_step();
    let report = run_step(&mut counter, &step).expect("run");
    assert_eq!(report.failed, None);
    assert_eq!(report.measures.get("viability"), Some(&0.925));
    assert_eq!(report.duration_h, step.duration.nominal_h);
    let last = counter.last_count().expect("last count");
    assert_eq!(last.provenance.equipment, "counter-1");
    assert_eq!(last.provenance.server.uuid, SERVER_UUID);
    assert!(last.count.sample_id.starts_with("expansion@"));
    let p = progress.lock().expect("lock");
    assert!(
        p.len() >= 3 && p.iter().all(|(dev, _)| dev == "counter-1"),
        "{p:?}"
    );
}

#[test]
#[ignore = "needs the sila2 test device: scripts/ci.d/76-sila-device.sh"]
fn tls_with_a_self_signed_certificate_made_now() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let dir = std::env::temp_dir().join(format!("atmpflow-sila-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let cert_pem = cert.cert.pem();
    std::fs::write(&cert_path, &cert_pem).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let d = start(
        "none",
        &[
            "--cert",
            cert_path.to_str().expect("utf-8"),
            "--key",
            key_path.to_str().expect("utf-8"),
        ],
    );
    let rt = runtime();
    rt.block_on(async {
        let mut ep = endpoint(&d).with_tls(cert_pem.as_bytes(), "localhost");
        ep.host = "localhost".into();
        let c = SilaClient::connect(&ep).await.expect("TLS connect");
        assert_eq!(c.identity().await.expect("identity").uuid, SERVER_UUID);
        let count = c
            .count_cells("tls", 10.0, &mut |_| {})
            .await
            .expect("count over TLS");
        assert_eq!(count.viability_percent, 92.5);

        // Another self-signed certificate is not trusted.
        let other =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let mut bad = endpoint(&d).with_tls(other.cert.pem().as_bytes(), "localhost");
        bad.host = "localhost".into();
        let e = match SilaClient::connect(&bad).await {
            Ok(c) => c.identity().await.map(|_| ()).expect_err("must be refused"),
            Err(e) => e,
        };
        assert!(e.to_string().contains("counter-1"), "{e}");
        // Plain gRPC to the TLS server fails too.
        let e = match SilaClient::connect(&endpoint(&d)).await {
            Ok(c) => c.identity().await.map(|_| ()).expect_err("must be refused"),
            Err(e) => e,
        };
        assert!(
            matches!(
                e,
                SilaError::ConnectionLost { .. } | SilaError::Connect { .. }
            ),
            "{e:?}"
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs the sila2 test device: scripts/ci.d/76-sila-device.sh"]
fn clogged_chamber_is_a_defined_execution_error_and_a_failed_run() {
    let d = start("clogged", &[]);
    with_client(&endpoint(&d), async |c| {
        let e = c
            .count_cells("s1", 20.0, &mut |_| {})
            .await
            .expect_err("must be refused");
        match &e {
            SilaError::DefinedExecution {
                identifier,
                message,
                call,
                device,
            } => {
                assert_eq!(
                    identifier,
                    "org.atmpflow/devices/CellCounter/v1/DefinedExecutionError/ChamberClogged"
                );
                assert!(message.contains("flow stopped"), "{message}");
                assert_eq!(call, "CellCounter.CountCells_Result");
                assert_eq!(device, "counter-1");
            }
            other => panic!("expected a defined execution error, got {other:?}"),
        }
        assert_eq!(c.device_state().await.expect("state"), DeviceState::Fault);
    });
    let mut counter = SilaCellCounter::new(endpoint(&d)).expect("adapter");
    let step = expansion_step();
    let report = run_step(&mut counter, &step).expect("a failed run is a report");
    let why = report.failed.expect("failed");
    assert!(
        why.contains("counter-1") && why.contains("CountCells") && why.contains("ChamberClogged"),
        "{why}"
    );
    assert!(report.measures.is_empty());
}

#[test]
#[ignore = "needs the sila2 test device: scripts/ci.d/76-sila-device.sh"]
fn server_vanishing_mid_command_is_a_lost_connection() {
    let d = start("vanish", &[]);
    let mut counter = SilaCellCounter::new(endpoint(&d)).expect("adapter");
    let step = expansion_step();
    let t = Instant::now();
    let e = run_step(&mut counter, &step).expect_err("must be refused");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(e.device, "counter-1");
    assert!(e.message.contains("CountCells"), "{e}");
    assert!(
        e.message.contains("connection lost") || e.message.contains("no answer"),
        "{e}"
    );
    // The next run connects anew and fails clearly (the server is gone).
    let e = run_step(&mut counter, &step).expect_err("must be refused");
    assert_eq!(e.device, "counter-1");
    assert!(
        e.message.contains("cannot connect") || e.message.contains("connection lost"),
        "{e}"
    );
}

#[test]
#[ignore = "needs the sila2 test device: scripts/ci.d/76-sila-device.sh"]
fn stalled_command_times_out() {
    let d = start("slow", &[]);
    let mut ep = endpoint(&d);
    ep.stall_timeout = Duration::from_secs(2);
    ep.command_timeout = Duration::from_secs(4);
    let t = Instant::now();
    let e = with_client(&ep, async |c| {
        c.count_cells("s1", 20.0, &mut |_| {})
            .await
            .expect_err("must be refused")
    });
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    match &e {
        SilaError::Timeout { call, device, .. } => {
            assert_eq!(call, "CellCounter.CountCells_Info");
            assert_eq!(device, "counter-1");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
#[ignore = "needs the sila2 test device: scripts/ci.d/76-sila-device.sh"]
fn out_of_range_values_are_refused() {
    let d = start("bad-value", &[]);
    let (count, temperature) = with_client(&endpoint(&d), async |c| {
        let count = c
            .count_cells("s1", 20.0, &mut |_| {})
            .await
            .expect_err("must be refused");
        let temperature = c.chamber_temperature(2).await.expect_err("must be refused");
        (count, temperature)
    });
    // The sila2 server checks its own response constraints: the NaN viability never leaves
    // it and arrives as an undefined execution error naming the constraint.
    let text = count.to_string();
    assert!(
        text.contains("counter-1") && text.contains("CountCells") && text.contains("Constraint"),
        "{text}"
    );
    assert!(
        matches!(count, SilaError::UndefinedExecution { .. }),
        "{count:?}"
    );
    // An unconstrained Real still has to be finite: the client refuses the NaN itself.
    match &temperature {
        SilaError::BadValue {
            field, value, call, ..
        } => {
            assert_eq!(field, "ChamberTemperature");
            assert_eq!(value, "NaN");
            assert_eq!(call, "CellCounter.Subscribe_ChamberTemperature");
        }
        other => panic!("expected a refused value, got {other:?}"),
    }
}

#[test]
fn no_server_is_a_clear_connect_error() {
    let rt = runtime();
    let mut ep = Endpoint::plain("counter-9", "127.0.0.1", free_port());
    ep.call_timeout = Duration::from_secs(3);
    let e = rt
        .block_on(SilaClient::connect(&ep))
        .expect_err("must be refused");
    let text = e.to_string();
    assert!(matches!(e, SilaError::Connect { .. }), "{e:?}");
    assert!(
        text.contains("counter-9") && text.contains("127.0.0.1"),
        "{text}"
    );
}
