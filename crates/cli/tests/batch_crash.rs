//! Crash safety of live batches: `atmpflow serve` is killed with SIGKILL while a
//! client sends keyed requests on a batch, then restarted on the same database
//! (a SQLite file, and PostgreSQL when ATMPFLOW_TEST_PG is set). Every
//! acknowledged request is still there, a retry with its key returns the same
//! entries and applies nothing twice, the chains verify, and the batch goes on
//! where its record stops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/serve.rs"]
mod serve;
use serve::{Server, root};

const PASSWORD: &str = "crash test password";
const DIN: &str = "A9999251234569";
const COI: &str = "COI-CRASH-1";
/// Keyed requests the client sends across the crash.
const REQUESTS: usize = 60;

/// One request to the batch API: status and JSON body; `None` when the
/// server died before a whole answer arrived.
fn call(host: &str, token: &str, method: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let a = serve::http(
        host,
        token,
        method,
        &format!("/api/batch/v1{path}"),
        "",
        &body,
    )?;
    Some((
        a.status,
        serde_json::from_str(&a.body).unwrap_or(Value::Null),
    ))
}

/// The batch B-CRASH as the server shows it.
fn batch_view(host: &str, token: &str) -> Value {
    let (_, view) = call(host, token, "GET", "/batches/B-CRASH", &Value::Null).expect("batch");
    view
}

fn scan(i: usize, step: &str) -> Value {
    // a label of another patient at the hand-off: refused, but its scan and
    // deviation are kept (two entries per request)
    json!({
        "command": {"action": "start_step", "step": step, "location": "room_c1",
                    "scanned": {"coi": format!("COI-OTHER-{i}"), "din": DIN}},
        "key": format!("scan-{i}")
    })
}

#[test]
fn a_killed_server_loses_no_acknowledged_request_and_applies_none_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = root().join("examples/equipment/modular-plant.toml");
    let recipe = std::fs::read_to_string(root().join("examples/recipes/car-t-modular.toml"))
        .expect("recipe");
    for db in store::testing::urls(dir.path()) {
        let token = serve::account(&db, "crash", "planner,operator,reader", Some(PASSWORD));
        let server = Server::start(
            &db,
            &[
                "--inventory",
                inventory.to_str().expect("utf8"),
                "--as-of",
                "2026-12-01",
            ],
        );
        let order = json!({
            "order": {"batch": "B-CRASH", "patient": "PSN-C", "coi": COI, "din": DIN,
                      "planned_start": "2026-12-01T08:00:00Z"},
            "recipe": recipe,
        });
        let (st, b) = call(&server.host, &token, "POST", "/batches", &order).expect("order");
        assert_eq!(st, 201, "{db}: {b}");
        let receive = json!({
            "command": {"action": "receive_apheresis", "location": "goods-in",
                        "scanned": {"coi": COI, "din": DIN}},
            "key": "rx"
        });
        let (st, b) = call(
            &server.host,
            &token,
            "POST",
            "/batches/B-CRASH/requests",
            &receive,
        )
        .expect("receive");
        assert_eq!(st, 200, "{db}: {b}");
        let view = batch_view(&server.host, &token);
        let step = view["next_step"].as_str().expect("next step").to_string();

        // the client sends keyed requests; the server is killed in the middle
        let mut server = server;
        let done = AtomicUsize::new(0);
        let acknowledged: Vec<(usize, Value)> = std::thread::scope(|sc| {
            let host = server.host.clone();
            let (token, step) = (&token, &step);
            let done = &done;
            let client = sc.spawn(move || {
                let mut acked = Vec::new();
                for i in 0..REQUESTS {
                    match call(
                        &host,
                        token,
                        "POST",
                        "/batches/B-CRASH/requests",
                        &scan(i, step),
                    ) {
                        Some((st, body)) => {
                            assert_eq!(body["refused"]["code"], "blocked", "status {st}: {body}");
                            acked.push((i, body["entries"].clone()));
                            done.store(acked.len(), Ordering::SeqCst);
                        }
                        None => break,
                    }
                }
                acked
            });
            // kill while requests are in flight, after some were acknowledged
            while done.load(Ordering::SeqCst) < REQUESTS / 6 {
                std::thread::sleep(Duration::from_millis(2));
            }
            server.child.kill().expect("SIGKILL");
            let _ = server.child.wait();
            client.join().expect("client")
        });
        assert!(
            acknowledged.len() < REQUESTS,
            "{db}: the server was killed after the client had finished; kill earlier"
        );

        // restart on the same database; the client retries every request with its key
        let server = Server::start(&db, &[]);
        for i in 0..REQUESTS {
            let (_, body) = call(
                &server.host,
                &token,
                "POST",
                "/batches/B-CRASH/requests",
                &scan(i, &step),
            )
            .expect("retry");
            assert_eq!(body["refused"]["code"], "blocked", "{db}: {body}");
            if let Some((_, first)) = acknowledged.iter().find(|(j, _)| *j == i) {
                assert_eq!(
                    body["replayed"], true,
                    "{db}: acknowledged request {i} is stored"
                );
                assert_eq!(
                    &body["entries"], first,
                    "{db}: request {i}: the same entries"
                );
            }
        }
        // every request applied exactly once: order, receipt, two entries per scan
        let view = batch_view(&server.host, &token);
        assert_eq!(view["head_seq"], json!(2 + 2 * REQUESTS), "{db}: {view}");
        assert_eq!(view["stage"], "apheresis_received");
        let (_, v) = call(
            &server.host,
            &token,
            "GET",
            "/batches/B-CRASH/verify",
            &Value::Null,
        )
        .expect("verify");
        assert_eq!(v["verified"], true, "{db}: {v}");
        // the batch goes on where its record stops
        let start = json!({
            "command": {"action": "start_step", "step": step, "location": "room_c1",
                        "scanned": {"coi": COI, "din": DIN}},
            "key": "start-1", "expected_seq": 2 + 2 * REQUESTS
        });
        let (st, b) = call(
            &server.host,
            &token,
            "POST",
            "/batches/B-CRASH/requests",
            &start,
        )
        .expect("start");
        assert_eq!(st, 200, "{db}: {b}");
        assert_eq!(b["stage"], "in_process", "{db}: {b}");
        drop(server);
        let out = serve::ok(&["batch", "verify", "--db", &db], None);
        assert!(out.contains("batch B-CRASH: in process"), "{out}");
    }
}
