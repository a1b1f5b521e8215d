//! The network edge over real sockets: Host allow-list, CORS, content type,
//! size limits, timeouts, the connection cap and graceful shutdown.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use server::{AppState, Gate, Limits};

mod support;

struct Running {
    addr: SocketAddr,
    state: Arc<AppState>,
    server: support::OnThread,
    _dir: tempfile::TempDir,
}

fn limits() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(400),
        max_connections: 4,
        max_body: 4096,
        max_uri: 1024,
        max_headers: 2048,
        shutdown_grace: Duration::from_millis(500),
        max_event_streams: 4,
    }
}

fn start(gate: Gate) -> Running {
    let (dir, store, token) = support::temp_db_with_user(
        "db",
        "net-admin",
        "Network test administrator",
        store::auth::Role::Admin,
    );
    let std_listener = support::loopback();
    let addr = std_listener.local_addr().expect("addr");
    TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((addr, token));
    let state = Arc::new(AppState::new(store, format!("http://{addr}/api/v3.0")));
    let srv = support::serve_on_thread(std_listener, state.clone(), gate);
    Running {
        addr,
        state,
        server: srv,
        _dir: dir,
    }
}

fn gate() -> Gate {
    Gate {
        limits: limits(),
        ..Gate::default()
    }
}

/// Sends raw bytes and reads the answer until the server closes or the
/// announced body is complete; `None` when the server closed without answering.
fn exchange(addr: SocketAddr, raw: &[u8]) -> Option<(u16, String, Value)> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // the server may answer (and close) before taking the whole request
    let _ = s.write_all(raw);
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> Option<(u16, String, Value)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head.split(' ').nth(1)?.parse().ok()?;
                let body = &buf[end + 4..end + 4 + len];
                let body = serde_json::from_slice(body).unwrap_or(Value::Null);
                return Some((status, head, body));
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// The API token of the server at `addr`, for each test's server.
static TOKENS: std::sync::Mutex<Vec<(SocketAddr, String)>> = std::sync::Mutex::new(Vec::new());

/// The `Authorization` header line of an administrator of the server at `addr`.
fn auth(addr: SocketAddr) -> String {
    let tokens = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
    let (_, t) = tokens
        .iter()
        .rev()
        .find(|(a, _)| *a == addr)
        .expect("a token for this server");
    format!("Authorization: Bearer {t}\r\n")
}

/// A request with the administrator's token.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> String {
    format!(
        "{method} /api/v3.0{path} HTTP/1.1\r\nHost: {addr}\r\n{}{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        auth(addr),
        body.len()
    )
}

/// The answer is the standard AAS error body with this status.
fn assert_aas_error(a: Option<(u16, String, Value)>, status: u16, needle: &str) -> String {
    let (got, head, body) = a.expect("an answer");
    assert_eq!(got, status, "{head}\n{body}");
    let text = body["messages"][0]["text"].as_str().unwrap_or_default();
    assert_eq!(
        body["messages"][0]["code"],
        Value::String(status.to_string())
    );
    assert!(text.contains(needle), "{text:?} lacks {needle:?}");
    head
}

const CD: &str = r#"{"modelType":"ConceptDescription","id":"urn:cd:1"}"#;
const JSON: &str = "Content-Type: application/json\r\n";

#[test]
fn host_origin_and_content_type_are_checked() {
    let mut r = start(Gate {
        cors_origins: vec!["https://app.example.org".into()],
        ..gate()
    });
    let a = r.addr;
    // DNS rebinding: a foreign host name
    let raw = format!(
        "GET /api/v3.0/shells HTTP/1.1\r\nHost: evil.example:{}\r\nConnection: close\r\n\r\n",
        a.port()
    );
    assert_aas_error(exchange(a, raw.as_bytes()), 421, "evil.example");
    // localhost is this loopback server too
    let raw = format!(
        "GET /api/v3.0/shells HTTP/1.1\r\nHost: localhost:{}\r\n{}Connection: close\r\n\r\n",
        a.port(),
        auth(a)
    );
    assert_eq!(exchange(a, raw.as_bytes()).map(|x| x.0), Some(200));
    // a simple cross-origin form post (no preflight) is refused, nothing stored
    let raw = request(
        a,
        "POST",
        "/concept-descriptions",
        "Content-Type: text/plain\r\n",
        CD,
    );
    assert_aas_error(exchange(a, raw.as_bytes()), 415, "text/plain");
    let raw = request(a, "POST", "/concept-descriptions", "", CD);
    assert_aas_error(exchange(a, raw.as_bytes()), 415, "no Content-Type");
    assert_eq!(
        r.state.store.count(store::Kind::ConceptDescription).ok(),
        Some(0)
    );
    // a method the endpoint does not serve stays 405 whatever the content type
    let raw = request(a, "PATCH", "/concept-descriptions", "", "{}");
    let head = assert_aas_error(exchange(a, raw.as_bytes()), 405, "PATCH");
    assert!(
        head.contains("allow: GET, POST") || head.contains("Allow: GET, POST"),
        "{head}"
    );
    // a page of another origin
    let raw = request(
        a,
        "POST",
        "/concept-descriptions",
        &format!("{JSON}Origin: https://evil.example\r\n"),
        CD,
    );
    assert_aas_error(exchange(a, raw.as_bytes()), 403, "https://evil.example");
    // the allowed origin: preflight, then the write, with CORS headers
    let raw = request(
        a,
        "OPTIONS",
        "/concept-descriptions",
        "Origin: https://app.example.org\r\nAccess-Control-Request-Method: POST\r\n",
        "",
    );
    let (status, head, _) = exchange(a, raw.as_bytes()).expect("preflight answer");
    assert_eq!(status, 204, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://app.example.org"),
        "{head}"
    );
    assert!(head.contains("Authorization, Content-Type"), "{head}");
    let raw = request(
        a,
        "POST",
        "/concept-descriptions",
        &format!("{JSON}Origin: https://app.example.org\r\n"),
        CD,
    );
    let (status, head, _) = exchange(a, raw.as_bytes()).expect("answer");
    assert_eq!(status, 201, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{head}"
    );
    // without --cors-origin no CORS header is ever sent
    let raw = request(a, "GET", "/concept-descriptions", "", "");
    let (_, head, _) = exchange(a, raw.as_bytes()).expect("answer");
    assert!(
        !head.to_ascii_lowercase().contains("access-control"),
        "{head}"
    );
    r.server.shutdown(Duration::from_secs(5));
}

#[test]
fn oversized_requests_get_the_aas_error_body() {
    let mut r = start(gate());
    let a = r.addr;
    let big = format!(
        r#"{{"modelType":"ConceptDescription","id":"urn:cd:{}"}}"#,
        "x".repeat(5000)
    );
    let raw = request(a, "POST", "/concept-descriptions", JSON, &big);
    assert_aas_error(exchange(a, raw.as_bytes()), 413, "4096 bytes");
    // a chunked body without Content-Length is cut at the limit too
    let raw = format!(
        "POST /api/v3.0/concept-descriptions HTTP/1.1\r\nHost: {a}\r\n{}{JSON}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        auth(a),
        big.len()
    );
    assert_aas_error(exchange(a, raw.as_bytes()), 413, "4096 bytes");
    let raw = request(
        a,
        "GET",
        &format!("/shells?idShort={}", "a".repeat(2000)),
        "",
        "",
    );
    assert_aas_error(exchange(a, raw.as_bytes()), 414, "at most 1024");
    let raw = request(
        a,
        "GET",
        "/shells",
        &format!("X-Filler: {}\r\n", "b".repeat(3000)),
        "",
    );
    assert_aas_error(exchange(a, raw.as_bytes()), 431, "at most 2048");
    assert_eq!(
        r.state.store.count(store::Kind::ConceptDescription).ok(),
        Some(0)
    );
    r.server.shutdown(Duration::from_secs(5));
}

#[test]
fn slow_clients_are_cut_off_and_cannot_starve_others() {
    let mut r = start(gate());
    let a = r.addr;
    // headers that never end: the connection is closed after the header timeout
    let mut slow = TcpStream::connect(a).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    slow.write_all(b"GET /api/v3.0/shells HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let t = Instant::now();
    let mut b = [0u8; 64];
    let n = slow.read(&mut b).unwrap_or(0);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let _ = n;
    // a body that never arrives: 408 with the AAS body
    let raw = format!(
        "POST /api/v3.0/concept-descriptions HTTP/1.1\r\nHost: {a}\r\n{}{JSON}Content-Length: 100\r\n\r\n{{",
        auth(a)
    );
    assert_aas_error(exchange(a, raw.as_bytes()), 408, "did not arrive");
    // as many stalled connections as the cap: a normal request still gets its
    // answer once their header timeout frees the slots
    let stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(a).expect("connect");
            s.write_all(b"GET /api/v3.0/shells HTTP/1.1\r\n")
                .expect("write");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    let raw = request(a, "GET", "/shells", "", "");
    assert_eq!(exchange(a, raw.as_bytes()).map(|x| x.0), Some(200));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    drop(stalled);
    r.server.shutdown(Duration::from_secs(5));
}

#[test]
fn shutdown_cuts_a_half_sent_request_and_releases_the_database() {
    let mut r = start(gate());
    let a = r.addr;
    let raw = request(a, "POST", "/concept-descriptions", JSON, CD);
    assert_eq!(exchange(a, raw.as_bytes()).map(|x| x.0), Some(201));
    // a request whose body is still coming when the signal arrives
    let mut half = TcpStream::connect(a).expect("connect");
    half.write_all(
        format!(
            "POST /api/v3.0/concept-descriptions HTTP/1.1\r\nHost: {a}\r\n{}{JSON}Content-Length: 100\r\n\r\n{{",
            auth(a)
        )
            .as_bytes(),
    )
    .expect("write");
    std::thread::sleep(Duration::from_millis(100));
    let took = r.server.shutdown(Duration::from_secs(5));
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    // nothing holds the state any more: the database can be closed and reopened
    let state = Arc::try_unwrap(std::mem::replace(
        &mut r.state,
        Arc::new(AppState::new(
            store::Db::open(&r._dir.path().join("other")).expect("store"),
            "",
        )),
    ))
    .expect("serve released the state");
    drop(state);
    let again = store::Db::open(&r._dir.path().join("db")).expect("database released");
    assert_eq!(again.count(store::Kind::ConceptDescription).ok(), Some(1));
    // and the port is closed
    assert!(TcpStream::connect(a).is_err());
}

#[test]
fn credentials_are_checked_before_the_body_is_read() {
    let mut r = start(gate());
    let a = r.addr;
    // a body that never arrives: without a token the answer is 401 at once
    // (not the 408 of the body timeout) and the connection is closed
    let t = Instant::now();
    let raw = format!(
        "POST /api/v3.0/concept-descriptions HTTP/1.1\r\nHost: {a}\r\n{JSON}Content-Length: 100\r\n\r\n{{"
    );
    let head = assert_aas_error(exchange(a, raw.as_bytes()), 401, "API token");
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer realm=\"atmpflow\""),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    // open endpoints over the socket
    for path in ["/api/v3.0/description", "/health"] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n");
        assert_eq!(
            exchange(a, raw.as_bytes()).map(|x| x.0),
            Some(200),
            "{path}"
        );
    }
    assert_eq!(
        r.state.store.count(store::Kind::ConceptDescription).ok(),
        Some(0)
    );
    r.server.shutdown(Duration::from_secs(5));
}
