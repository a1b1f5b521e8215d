//! The client against the SiLA 2 interoperability tester's server
//! (`sila2-interop-communication-tester` from PyPI, `…test_server`): the tester records every
//! call a client makes to its test features and, when stopped, checks them. This drives the
//! observable command `ObservableCommandTest.Count` (progress read to the end, intermediate
//! responses, result) and the unobservable error commands of `ErrorHandlingTest` through this
//! crate's execution-following and error-decoding code, and asserts the tester's verdict on
//! those tests. The messages below are this test's own minimal declarations of the fields
//! used (field numbers as the SiLA 2 gRPC mapping of those features gives them).
//! `#[ignore]`d in the workspace run: `scripts/ci.d/76-sila-device.sh` runs it with
//! `ATMPFLOW_SILA_PYTHON` set.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sila::client::CommandStatus;
use sila::pb::sila2::org::silastandard as fw;
use sila::{Endpoint, SilaClient, SilaError};
use tonic::codegen::http::uri::PathAndQuery;

#[derive(Clone, PartialEq, prost::Message)]
struct CountParameters {
    #[prost(message, optional, tag = "1")]
    n: Option<fw::Integer>,
    #[prost(message, optional, tag = "2")]
    delay: Option<fw::Real>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct IntegerResponse {
    #[prost(message, optional, tag = "1")]
    value: Option<fw::Integer>,
}

const OBS: &str = "/sila2.org.silastandard.test.observablecommandtest.v1.ObservableCommandTest";
const ERR: &str = "/sila2.org.silastandard.test.errorhandlingtest.v1.ErrorHandlingTest";

const TESTS: [&str; 6] = [
    "test_observable_command.py::test_count_called_with_value_5_and_delay_1",
    "test_observable_command.py::test_count_info_read_from_start_to_end",
    "test_observable_command.py::test_count_intermediate_read_from_start_to_end",
    "test_observable_command.py::test_count_result_was_collected",
    "test_error_handling.py::test_raise_defined_execution_error_called",
    "test_error_handling.py::test_raise_undefined_execution_error_called",
];

fn path(service: &str, method: &str) -> PathAndQuery {
    PathAndQuery::try_from(format!("{service}/{method}")).expect("path")
}

/// A gRPC client on `ch` once the channel is ready (a channel that does not get ready is
/// an `unknown` status).
async fn ready(
    ch: tonic::transport::Channel,
) -> Result<tonic::client::Grpc<tonic::transport::Channel>, tonic::Status> {
    let mut g = tonic::client::Grpc::new(ch);
    g.ready()
        .await
        .map_err(|e| tonic::Status::unknown(e.to_string()))?;
    Ok(g)
}

/// A protobuf message a gRPC call can carry.
trait Msg: prost::Message + Send + Sync + 'static {}

impl<T: prost::Message + Send + Sync + 'static> Msg for T {}

async fn unary<Req: Msg, Resp: Msg + Default>(
    ch: tonic::transport::Channel,
    p: PathAndQuery,
    req: Req,
) -> Result<Resp, tonic::Status> {
    let mut g = ready(ch).await?;
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    Ok(g.unary(tonic::Request::new(req), p, codec)
        .await?
        .into_inner())
}

async fn streaming<Req: Msg, Resp: Msg + Default>(
    ch: tonic::transport::Channel,
    p: PathAndQuery,
    req: Req,
) -> Result<tonic::Streaming<Resp>, tonic::Status> {
    let mut g = ready(ch).await?;
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    Ok(g.server_streaming(tonic::Request::new(req), p, codec)
        .await?
        .into_inner())
}

/// The error the tester's ErrorHandlingTest `command` raises, as this crate decodes it.
async fn raised(ch: tonic::transport::Channel, command: &str) -> SilaError {
    let status = unary::<(), ()>(ch, path(ERR, command), ())
        .await
        .expect_err("the command raises an error");
    sila::error::from_status(
        "interop-tester",
        &format!("ErrorHandlingTest.{command}"),
        &status,
    )
}

#[test]
#[ignore = "needs the sila2 interop tester: scripts/ci.d/76-sila-device.sh"]
fn interop_tester_accepts_observable_command_and_error_handling_calls() {
    let python = std::env::var("ATMPFLOW_SILA_PYTHON")
        .expect("ATMPFLOW_SILA_PYTHON: the python of a venv with the interop tester");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut tester = Command::new(python)
        .args(["-m", "sila2_interop_communication_tester.test_server"])
        .args(["--server-address", &format!("127.0.0.1:{port}")])
        .args(TESTS)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the interop tester");
    let stdout = tester.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let started = (0..200).any(|_| {
        rx.recv_timeout(Duration::from_millis(300))
            .is_ok_and(|l| l.contains("Server started"))
    });
    if !started {
        let _ = tester.kill();
        panic!("the interop tester did not start within 60 s");
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut ep = Endpoint::plain("interop-tester", "127.0.0.1", port);
    ep.call_timeout = Duration::from_secs(10);
    ep.command_timeout = Duration::from_secs(30);
    ep.stall_timeout = Duration::from_secs(10);
    let outcome = rt.block_on(async {
        let c = SilaClient::connect(&ep).await.expect("connect");
        let ch = c.channel();
        let conf: fw::CommandConfirmation = unary(
            ch.clone(),
            path(OBS, "Count"),
            CountParameters {
                n: Some(fw::Integer { value: 5 }),
                delay: Some(fw::Real { value: 1.0 }),
            },
        )
        .await
        .expect("Count");
        let exec = conf.command_execution_uuid.expect("execution UUID");
        let deadline = c.command_deadline();
        let intermediate = tokio::spawn({
            let (ch, exec) = (ch.clone(), exec.clone());
            async move {
                let mut s: tonic::Streaming<IntegerResponse> =
                    streaming(ch, path(OBS, "Count_Intermediate"), exec).await?;
                let mut seen = Vec::new();
                while let Some(m) = s.message().await? {
                    seen.push(m.value.map(|v| v.value));
                }
                Ok::<_, tonic::Status>(seen)
            }
        });
        let info = streaming(ch.clone(), path(OBS, "Count_Info"), exec.clone())
            .await
            .expect("Count_Info");
        let (status, progress) = c
            .follow_execution(
                "ObservableCommandTest.Count_Info",
                info,
                deadline,
                &mut |_| {},
            )
            .await
            .expect("follow Count");
        let seen = tokio::time::timeout(Duration::from_secs(15), intermediate)
            .await
            .expect("intermediate responses end")
            .expect("task")
            .expect("Count_Intermediate");
        let result: IntegerResponse = unary(ch.clone(), path(OBS, "Count_Result"), exec)
            .await
            .expect("Count_Result");

        let defined = raised(ch.clone(), "RaiseDefinedExecutionError").await;
        let undefined = raised(ch, "RaiseUndefinedExecutionError").await;
        (status, progress, seen, result, defined, undefined)
    });
    let (status, progress, seen, result, defined, undefined) = outcome;
    assert_eq!(status, CommandStatus::FinishedSuccessfully);
    assert!(progress.len() > 3, "{progress:?}");
    assert_eq!(seen.last().copied().flatten(), Some(4), "{seen:?}");
    assert_eq!(result.value.map(|v| v.value), Some(4));
    assert!(
        matches!(&defined, SilaError::DefinedExecution { identifier, .. }
            if identifier.starts_with("org.silastandard/test/ErrorHandlingTest/v1/DefinedExecutionError/")),
        "{defined:?}"
    );
    assert!(
        matches!(undefined, SilaError::UndefinedExecution { .. }),
        "{undefined:?}"
    );

    // Stop the tester (SIGTERM): it then checks the recorded calls with pytest.
    let pid = tester.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(tester.wait());
    });
    let status = done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the tester did not finish within 120 s")
        .expect("wait");
    let report: Vec<String> = rx.try_iter().collect();
    let passed = report.iter().filter(|l| l.starts_with("PASSED")).count();
    assert!(
        status.success(),
        "interop tester verdict: {status}\n{}",
        report.join("\n")
    );
    assert_eq!(passed, TESTS.len(), "{}", report.join("\n"));
}
