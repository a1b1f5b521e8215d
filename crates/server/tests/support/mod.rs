//! Calling the router directly (no socket) and reading its answer, for the server tests.

use axum::body::to_bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use std::sync::Mutex;

use serde_json::Value;
use server::{AppState, dispatch_with};
use store::auth::{self, NewUser, Role, Timestamp};

/// An answer: status, `Allow` header (405 answers), `ETag` header,
/// `WWW-Authenticate` header (401 answers) and JSON body (`Null` when empty).
#[allow(dead_code)]
pub struct Resp {
    pub status: StatusCode,
    pub allow: Option<String>,
    pub etag: Option<String>,
    pub www_authenticate: Option<String>,
    pub body: Value,
}

/// Sends `method` to `path` under `/api/v3.0` with `body`.
#[allow(dead_code)]
pub fn call(st: &AppState, method: &Method, path: &str, body: &[u8]) -> Resp {
    call_with(st, method, path, None, body)
}

/// A token of an administrator of the state's database (made once per
/// state: the user `test-admin` and its token are added to the database).
#[allow(dead_code)]
pub fn admin_token(st: &AppState) -> String {
    static TOKENS: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    let key = std::ptr::from_ref(st) as usize;
    let mut tokens = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
    let now = Timestamp::now();
    if let Some((_, t)) = tokens.iter().find(|(k, _)| *k == key)
        && auth::authenticate(&st.store, t, now).is_ok()
    {
        return t.clone();
    }
    let user = NewUser {
        name: "test-admin",
        display_name: "Test administrator",
        password: None,
        roles: &[Role::Admin],
    };
    match auth::add_user(&st.store, "test", &user, now) {
        Ok(_) | Err(auth::AuthError::UserExists(_)) => {}
        Err(e) => panic!("cannot add the test user: {e}"),
    }
    let t = auth::create_token(&st.store, "test", "test-admin", &[], "test", None, now)
        .expect("test token")
        .secret;
    tokens.retain(|(k, _)| *k != key);
    tokens.push((key, t.clone()));
    t
}

/// Sends `method` to `path` under `/api/v3.0` with `body` and, if given, an
/// `If-Match` header, as an administrator.
#[allow(dead_code)]
pub fn call_with(
    st: &AppState,
    method: &Method,
    path: &str,
    if_match: Option<&str>,
    body: &[u8],
) -> Resp {
    let token = admin_token(st);
    call_as(st, method, path, Some(&token), if_match, body)
}

/// [`call_with`] with a JSON `body` (no body when it is `null`).
#[allow(dead_code)]
pub fn call_json(
    st: &AppState,
    m: Method,
    path: &str,
    if_match: Option<&str>,
    body: &Value,
) -> Resp {
    let b = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    call_with(st, &m, path, if_match, &b)
}

/// Sends `method` to `path` (under `/api/v3.0` unless it starts with
/// `/health`) with `body`, with the bearer `token` if given.
#[allow(dead_code)]
pub fn call_as(
    st: &AppState,
    method: &Method,
    path: &str,
    token: Option<&str>,
    if_match: Option<&str>,
    body: &[u8],
) -> Resp {
    let full = if path.starts_with("/health") {
        path.to_string()
    } else {
        format!("/api/v3.0{path}")
    };
    let mut headers = HeaderMap::new();
    if let Some(m) = if_match {
        headers.insert(header::IF_MATCH, HeaderValue::from_str(m).expect("header"));
    }
    if let Some(t) = token {
        insert_bearer(&mut headers, t);
    }
    let a = dispatch(st, method, &full, &headers, body);
    let body = if a.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&a.body).expect("JSON body")
    };
    Resp {
        status: a.status,
        allow: a.header(header::ALLOW),
        etag: a.header(header::ETAG),
        www_authenticate: a.header(header::WWW_AUTHENTICATE),
        body,
    }
}

/// An answer of the router as it was sent: status, headers and the whole body.
#[allow(dead_code)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: axum::body::Bytes,
}

impl Answer {
    /// The header `name` as text, if the answer has it.
    #[allow(dead_code)]
    pub fn header(&self, name: header::HeaderName) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_owned())
    }
}

/// Adds `Authorization: Bearer {token}` to `headers`.
#[allow(dead_code)]
pub fn insert_bearer(headers: &mut HeaderMap, token: &str) {
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
}

/// Sends `method` to `path` (the whole path, with the API's base) with `headers` and
/// `body`; a refused request answers as the router renders its error.
#[allow(dead_code)]
pub fn dispatch(
    st: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let uri: Uri = path.parse().expect("uri");
    let r = match dispatch_with(st, method, &uri, headers, body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    Answer {
        status: r.status(),
        headers: r.headers().clone(),
        body: body_bytes(r),
    }
}

/// The one message of a standard AAS error body, checked to carry exactly the
/// standard fields, `status` as its code and the type `Error`.
#[allow(dead_code)]
pub fn only_error_message(body: &Value, status: StatusCode) -> &serde_json::Map<String, Value> {
    let msgs = body["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 1);
    let m = msgs[0].as_object().expect("message object");
    let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["code", "correlationId", "messageType", "text", "timestamp"]
    );
    assert_eq!(m["code"], serde_json::json!(status.as_u16().to_string()));
    assert_eq!(m["messageType"], serde_json::json!("Error"));
    m
}

/// The whole body of an answer, read on a runtime of its own.
#[allow(dead_code)]
pub fn body_bytes(r: Response) -> axum::body::Bytes {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(to_bytes(r.into_body(), usize::MAX))
        .expect("body")
}

/// A server answering on a real socket from its own thread and runtime.
#[allow(dead_code)]
pub struct OnThread {
    pub addr: std::net::SocketAddr,
    /// Send to begin the shutdown.
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Receives once `serve` has returned.
    pub done: std::sync::mpsc::Receiver<()>,
}

impl OnThread {
    /// Signals shutdown and waits (at most `within`) for `serve` to return;
    /// how long that took.
    #[allow(dead_code)]
    pub fn shutdown(&mut self, within: std::time::Duration) -> std::time::Duration {
        let t = std::time::Instant::now();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.done
            .recv_timeout(within)
            .expect("serve returns after shutdown");
        t.elapsed()
    }
}

/// A listener on a free loopback port, ready for [`serve_on_thread`].
#[allow(dead_code)]
pub fn loopback() -> std::net::TcpListener {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    l
}

/// Serves `state` through `gate` on `std_listener` (see [`loopback`]) from
/// a thread of its own (two runtime workers) until `stop` is sent.
#[allow(dead_code)]
pub fn serve_on_thread(
    std_listener: std::net::TcpListener,
    state: std::sync::Arc<AppState>,
    gate: server::Gate,
) -> OnThread {
    on_thread(std_listener, move |listener, stopped| async move {
        server::serve(listener, state, gate, async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    })
}

/// Runs `serve` on `std_listener` from a thread of its own (two runtime
/// workers); `serve` is handed the listener and the receiver of the stop signal.
#[allow(dead_code)]
pub fn on_thread<F, Fut>(std_listener: std::net::TcpListener, serve: F) -> OnThread
where
    F: FnOnce(tokio::net::TcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let addr = std_listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            serve(listener, stopped).await;
        });
        let _ = done_tx.send(());
    });
    OnThread {
        addr,
        stop: Some(stop),
        done,
    }
}

/// Adds the user `name` (shown as `display`) with `roles` and, if given, a
/// password, as the administrator `admin` would.
#[allow(dead_code)]
pub fn add_person(
    db: &store::Db,
    name: &str,
    display: &str,
    password: Option<&str>,
    roles: &[Role],
    now: Timestamp,
) {
    let user = NewUser {
        name,
        display_name: display,
        password,
        roles,
    };
    auth::add_user(db, "admin", &user, now).expect("user");
}

/// Adds the user `name` (shown as `display`, without a password) with `role`,
/// as the administrator `test` would, and makes an API token of it; its secret.
#[allow(dead_code)]
pub fn user_with_token(db: &store::Db, name: &str, display: &str, role: Role) -> String {
    let now = Timestamp::now();
    let user = NewUser {
        name,
        display_name: display,
        password: None,
        roles: &[role],
    };
    auth::add_user(db, "test", &user, now).expect("user");
    auth::create_token(db, "test", name, &[], "", None, now)
        .expect("token")
        .secret
}

/// A new SQLite database `file` in a new temporary folder (removed when dropped) with the
/// user `name` (shown as `display`) having `role` and an API token: the folder, the
/// database and the token's secret.
#[allow(dead_code)]
pub fn temp_db_with_user(
    file: &str,
    name: &str,
    display: &str,
    role: Role,
) -> (tempfile::TempDir, store::Db, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = store::Db::open(&dir.path().join(file)).expect("store");
    let token = user_with_token(&db, name, display, role);
    (dir, db, token)
}

/// Runs `test` on every database engine the tests reach: SQLite in a fresh
/// folder, and PostgreSQL when ATMPFLOW_TEST_PG names one.
#[allow(dead_code)]
pub fn each_engine(test: impl Fn(&str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in store::testing::urls(dir.path()) {
        test(&url);
    }
}

/// A server state on every database engine the tests reach (SQLite below
/// `dir`), each with its URL as it may be printed.
#[allow(dead_code)]
pub fn named_states(dir: &std::path::Path) -> Vec<(String, AppState)> {
    store::testing::urls(dir)
        .into_iter()
        .map(|url| {
            let db = store::Db::connect(&url).expect("open database");
            (
                store::redact(&url),
                AppState::new(db, "http://127.0.0.1:1/api/v3.0"),
            )
        })
        .collect()
}

/// Runs `test` on a server state on every database engine the tests reach (SQLite in a
/// fresh folder, and PostgreSQL when ATMPFLOW_TEST_PG names one), with the database's URL
/// as it may be printed.
#[allow(dead_code)]
pub fn each_state(test: impl Fn(&str, &AppState)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (db, st) in named_states(dir.path()) {
        test(&db, &st);
    }
}

/// Gives `st` a rehearsal clock standing at 2026-12-01 08:00 UTC, moved on by
/// adding seconds to the counter returned.
#[allow(dead_code)]
pub fn rehearsal_clock(st: &mut AppState) -> std::sync::Arc<std::sync::atomic::AtomicI64> {
    use std::sync::atomic::{AtomicI64, Ordering};
    let clock = std::sync::Arc::new(AtomicI64::new(
        recipe::DateTime::parse("2026-12-01T08:00:00Z")
            .expect("time")
            .unix_seconds(),
    ));
    let c = clock.clone();
    st.clock = server::Clock::from_fn(move || c.load(Ordering::SeqCst));
    clock
}

/// Registers the twins of the equipment in `inventory` (TOML text), as of
/// 2026-12-01.
#[allow(dead_code)]
pub fn load_equipment_twins(st: &AppState, inventory: &str) {
    let inventory = recipe::parse_inventory("modular-plant.toml", inventory).expect("inventory");
    let as_of = recipe::Date::parse("2026-12-01").expect("date");
    load_twins_of(st, &inventory, as_of);
}

/// The twins of the equipment in `inventory`, as of `as_of`.
#[allow(dead_code)]
pub fn equipment_twins(
    inventory: &recipe::Inventory,
    as_of: recipe::Date,
) -> Vec<aas::twins::Twin> {
    inventory
        .equipment
        .iter()
        .map(|e| aas::twins::equipment_twin(e, as_of))
        .collect()
}

/// Registers the twins of the equipment in `inventory`, as of `as_of`.
#[allow(dead_code)]
pub fn load_twins_of(st: &AppState, inventory: &recipe::Inventory, as_of: recipe::Date) {
    let twins = equipment_twins(inventory, as_of);
    server::load_environment(st, &aas::twins::environment(&twins)).expect("twins");
}

/// Rehearses `order` of the example CAR-T recipe on the modular plant (as `atmpflow batch
/// dry-run --db` does) into `db`: from the order's planned start, `cast` acting and the
/// simulated devices seeded with `seed`, each request stored with its batch twin as a live
/// batch's request is. `before` sees each request first; its error stops the rehearsal
/// there, nothing of that request stored (a `RehearsalError::Journal` with its text).
/// Its error is as large as `rehearse`'s.
#[allow(dead_code, clippy::result_large_err)]
pub fn rehearse_into(
    db: &store::Db,
    order: &batch::NewOrder,
    cast: &batch::rehearsal::Cast,
    seed: u64,
    mut before: impl FnMut(&batch::Journaled<'_>) -> Result<(), String>,
) -> Result<batch::Batch, batch::rehearsal::RehearsalError> {
    use batch::rehearsal::{BoundDevices, Ordered, Rehearsal, rehearse};
    const RECIPE: &str = include_str!("../../../../examples/recipes/car-t-modular.toml");
    const INVENTORY: &str = include_str!("../../../../examples/equipment/modular-plant.toml");
    let recipe = recipe::parse_recipe("car-t-modular.toml", RECIPE).expect("recipe");
    let mut inventory =
        recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("inventory");
    let start = order.planned_start;
    let binding = recipe::bind_strict(&recipe, &inventory, start.date()).expect("binding");
    let options = Rehearsal {
        seed,
        start,
        excursions: 0.0,
        location: "room_c1".into(),
        clinic: "Treating clinic".into(),
    };
    rehearse(
        Ordered {
            order,
            recipe: &recipe,
            recipe_sha: &batch::engine::recipe_sha256(RECIPE),
            binding: &binding,
        },
        &mut inventory,
        &batch::LotRegister::default(),
        cast,
        &options,
        &mut BoundDevices::new(),
        |j| {
            before(&j)?;
            db.transaction(|tx| -> Result<(), store::batch::BatchError> {
                if let Some(w) = store::batch::record_journaled(tx, &j, RECIPE, &recipe)? {
                    server::batch::register_twin(tx, None, &w)
                        .map_err(|e| store::StoreError::Db(e.text))?;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())
        },
    )
}
