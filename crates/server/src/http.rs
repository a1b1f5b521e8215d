//! The network edge: accepting connections and checking each request before
//! [`crate::dispatch`] sees it.
//!
//! Connections: at most [`Limits::max_connections`] at once (further clients
//! wait in the listen backlog), request headers must arrive within
//! [`Limits::header_timeout`] (an idle keep-alive connection is closed after
//! the same time), a request body within [`Limits::body_timeout`]. On
//! shutdown the listener is closed first, in-flight requests get
//! [`Limits::shutdown_grace`] to finish, then every connection is cut and
//! [`serve`] returns, releasing the state (and with it the database). Open
//! batch event streams ([`crate::live`]) end as soon as the shutdown begins.
//!
//! Requests: the `Host` header must name this server ([`Gate::allowed_hosts`]:
//! a web page reached through DNS rebinding carries its own host name), a
//! browser `Origin` must be listed ([`Gate::cors_origins`], none by default),
//! writes must declare a JSON body (415 otherwise: a cross-origin `text/plain`
//! form post needs no preflight), and the URI, headers and body are bounded
//! (414, 431, 413). Then the caller is admitted ([`crate::auth::admit`]: 401
//! without a valid API token, 403 without the role the method needs) before
//! the body is read. Every refusal carries the standard AAS error body.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::util::ApiError;
use crate::{AppState, dispatch_conditional};

/// Bounds on what one client may hold or send.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time to send the request line and headers; also how long an idle
    /// keep-alive connection is kept.
    pub header_timeout: Duration,
    /// Time to send the request body once the headers are in.
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest request body in bytes (413 beyond).
    pub max_body: usize,
    /// Longest request target (path and query) in bytes (414 beyond).
    pub max_uri: usize,
    /// Largest sum of header names and values in bytes (431 beyond).
    pub max_headers: usize,
    /// Time in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Server-sent event streams open at once (503 beyond; each holds a
    /// connection and polls the database every second).
    pub max_event_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_body: 16 << 20,
            max_uri: 8 << 10,
            max_headers: 16 << 10,
            shutdown_grace: Duration::from_secs(10),
            max_event_streams: crate::live::DEFAULT_MAX_STREAMS,
        }
    }
}

/// hyper's own read buffer: headers beyond it are refused by hyper itself
/// (plain 431, no AAS body), so it sits well above [`Limits::max_headers`].
const HYPER_BUF: usize = 256 << 10;

/// What a request must satisfy before it is dispatched.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// `Host` values served (`name` matches any port, `name:port` only that
    /// port; compared without case). Empty: decided from the bound address by
    /// [`serve`] (its `ip:port`, and for a loopback address also
    /// `localhost:port`).
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://app.example.org`) allowed to call the API;
    /// a request with any other `Origin` is refused (403).
    pub cors_origins: Vec<String>,
    pub limits: Limits,
}

impl Gate {
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed_hosts.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            host == a
                || host
                    .strip_prefix(a.as_str())
                    .and_then(|rest| rest.strip_prefix(':'))
                    .is_some_and(|port| {
                        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                    })
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.cors_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// Checks the request line and headers; `Some(origin)` when the request
    /// comes from an allowed browser origin.
    fn check_head(&self, p: &Parts) -> Result<Option<HeaderValue>, ApiError> {
        let l = &self.limits;
        let target = p.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
        if target > l.max_uri {
            return Err(ApiError::new(
                StatusCode::URI_TOO_LONG,
                format!(
                    "request target of {target} bytes; at most {} are accepted",
                    l.max_uri
                ),
            ));
        }
        let size: usize = p
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len())
            .sum();
        if size > l.max_headers {
            return Err(ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "request headers of {size} bytes; at most {} are accepted",
                    l.max_headers
                ),
            ));
        }
        let host = p
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| p.uri.authority().map(|a| a.as_str()));
        match host {
            Some(h) if self.host_allowed(h) => {}
            Some(h) => {
                return Err(ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    format!(
                        "Host {h:?} is not served here (allowed: {}; add names with --allowed-host)",
                        self.allowed_hosts.join(", ")
                    ),
                ));
            }
            None => return Err(ApiError::bad("the request has no Host header")),
        }
        let origin = match p.headers.get(header::ORIGIN) {
            None => None,
            // the pages check their own origin (same-origin forms only)
            Some(_) if crate::web::owns(p.uri.path()) => None,
            Some(o) if o.to_str().is_ok_and(|s| self.origin_allowed(s)) => Some(o.clone()),
            Some(o) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "requests from the web origin {:?} are not allowed (allow origins with --cors-origin)",
                        String::from_utf8_lossy(o.as_bytes())
                    ),
                ));
            }
        };
        // (a method the endpoint does not serve is answered 405 by dispatch)
        if matches!(p.method, Method::POST | Method::PUT | Method::PATCH)
            && crate::serves(&p.method, p.uri.path())
            && !is_json(&p.headers)
        {
            let got = p
                .headers
                .get(header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                match got {
                    Some(t) => {
                        format!("request body must be application/json, got Content-Type {t:?}")
                    }
                    None => "request body must be application/json (no Content-Type given)".into(),
                },
            ));
        }
        if let Some(n) = p
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && n > l.max_body as u64
        {
            return Err(too_large(l.max_body));
        }
        Ok(origin)
    }
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {max} bytes"),
    )
}

/// `application/json` or any `…+json` type, parameters allowed.
fn is_json(h: &HeaderMap) -> bool {
    let Some(ct) = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|s| s.ends_with("+json"))
}

/// The methods and headers a browser may use once its origin is allowed.
const CORS_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const CORS_HEADERS: &str = "Authorization, Content-Type, If-Match";

fn with_cors(mut r: Response, origin: Option<HeaderValue>) -> Response {
    if let Some(o) = origin {
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Location, ETag"),
        );
    }
    r
}

/// An error answer after which the connection is closed (the client may
/// still be sending a body nobody reads).
fn closing(e: ApiError) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Answers one request.
pub async fn handle(st: Arc<AppState>, gate: Arc<Gate>, req: Request<Incoming>) -> Response {
    handle_on(st, gate, req, false).await
}

/// A request for one of the web pages ([`crate::web`]): its own admission
/// (session, CSRF token, same origin) instead of the APIs' bearer tokens,
/// and a small form body.
async fn handle_page(st: Arc<AppState>, parts: Parts, body: Incoming, secure: bool) -> Response {
    let max = crate::web::MAX_FORM;
    let read = tokio::time::timeout(Duration::from_secs(30), Limited::new(body, max).collect());
    let body: Bytes = match read.await {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(_)) => return closing(too_large(max)),
        Err(_) => {
            return closing(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the form did not arrive in time",
            ));
        }
    };
    let res = tokio::task::spawn_blocking(move || {
        crate::web::answer(
            &st,
            &parts.method,
            &parts.uri,
            &parts.headers,
            &body,
            secure,
        )
    })
    .await;
    res.unwrap_or_else(|e| ApiError::internal(format!("page failed: {e}")).into_response())
}

/// Answers one request on a plain (`secure` false) or TLS connection.
async fn handle_on(
    st: Arc<AppState>,
    gate: Arc<Gate>,
    req: Request<Incoming>,
    secure: bool,
) -> Response {
    let (parts, body) = req.into_parts();
    let origin = match gate.check_head(&parts) {
        Ok(o) => o,
        Err(e) => return closing(e),
    };
    if crate::web::owns(parts.uri.path()) {
        return handle_page(st, parts, body, secure).await;
    }
    // CORS preflight of an allowed origin
    if parts.method == Method::OPTIONS
        && origin.is_some()
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(CORS_METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(CORS_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return with_cors(r, origin);
    }
    // credentials before the body: an unauthenticated client cannot make the
    // server buffer a body (the database read runs on the blocking pool)
    let admitted = {
        let (st, method, path, headers) = (
            st.clone(),
            parts.method.clone(),
            parts.uri.path().to_owned(),
            parts.headers.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let roles = crate::by_batch_roles(&path);
            crate::auth::admit(&st.store, &method, &path, &headers, roles)
        })
        .await
    };
    match admitted {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return with_cors(closing(e), origin),
        Err(e) => {
            return with_cors(
                closing(ApiError::internal(format!("authentication failed: {e}"))),
                origin,
            );
        }
    }
    let limits = &gate.limits;
    let read = tokio::time::timeout(
        limits.body_timeout,
        Limited::new(body, limits.max_body).collect(),
    )
    .await;
    let body: Bytes = match read {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return with_cors(closing(too_large(limits.max_body)), origin);
        }
        Ok(Err(e)) => {
            return with_cors(
                closing(ApiError::bad(format!("cannot read the request body: {e}"))),
                origin,
            );
        }
        Err(_) => {
            return with_cors(
                closing(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within {} s",
                        limits.body_timeout.as_secs()
                    ),
                )),
                origin,
            );
        }
    };
    // store access is blocking (file IO, fsync): keep it off the async workers
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let res = tokio::task::spawn_blocking(move || {
        let req = crate::Incoming {
            method: &method,
            uri: &uri,
            headers: &headers,
            body: &body,
        };
        dispatch_conditional(&st, &req)
    })
    .await;
    let r = match res {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(format!("request handler failed: {e}")).into_response(),
    };
    with_cors(r, origin)
}

/// The `Host` values a server bound to `addr` answers to by itself.
pub fn default_hosts(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut out = vec![match addr {
        SocketAddr::V4(a) => format!("{}:{port}", a.ip()),
        SocketAddr::V6(a) => format!("[{}]:{port}", a.ip()),
    }];
    if addr.ip().is_loopback() {
        out.push(format!("localhost:{port}"));
    }
    out
}

/// Resolves after SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then drains as
/// described in the module documentation. Returns once every connection has
/// ended.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    gate: Gate,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run(listener, state, gate, None, shutdown).await
}

/// Serves HTTPS (HTTP/1.1 over TLS with `tls`, see [`crate::tls`]) on
/// `listener` like [`serve`]. The TLS handshake counts against the same
/// limits as a request head: it holds one of the [`Limits::max_connections`]
/// slots and must be complete within [`Limits::header_timeout`], and a
/// shutdown drops handshakes in progress. A client that speaks plain HTTP to
/// this port is answered 400 (AAS error body) in plain HTTP and disconnected.
pub async fn serve_tls(
    listener: TcpListener,
    state: Arc<AppState>,
    gate: Gate,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    run(listener, state, gate, Some(acceptor), shutdown).await
}

/// The first byte of a TLS handshake record (a ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// The TLS stream of `sock` once the handshake is done within `within`, or
/// `None` (timeout, handshake error, a client that spoke plain HTTP: that one
/// has been answered by `plain`).
async fn handshake<F: Future<Output = ()>>(
    acceptor: &tokio_rustls::TlsAcceptor,
    sock: tokio::net::TcpStream,
    within: Duration,
    plain: impl FnOnce(tokio::net::TcpStream) -> F,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(within, sock.peek(&mut first))
        .await
        .ok()?
        .ok()?;
    if n == 0 {
        return None;
    }
    if first[0] != TLS_HANDSHAKE {
        plain(sock).await;
        return None;
    }
    tokio::time::timeout(within, acceptor.accept(sock))
        .await
        .ok()?
        .ok()
}

async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    mut gate: Gate,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    if gate.allowed_hosts.is_empty() {
        gate.allowed_hosts = default_hosts(listener.local_addr()?);
    }
    let gate = Arc::new(gate);
    let limits = gate.limits.clone();
    state.live.set_max_streams(limits.max_event_streams);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // set on shutdown: TLS handshakes still in progress are dropped
    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(HYPER_BUF);
    tokio::pin!(shutdown);
    loop {
        // a free slot first: beyond the cap, clients wait in the backlog
        let slot = tokio::select! {
            () = &mut shutdown => break,
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (sock, _peer) = tokio::select! {
            () = &mut shutdown => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                // e.g. out of file descriptors: wait instead of spinning
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while conns.try_join_next().is_some() {}
        let _ = sock.set_nodelay(true);
        let (st, g) = (state.clone(), gate.clone());
        let secure = tls.is_some();
        let svc = hyper::service::service_fn(move |req| {
            let (st, g) = (st.clone(), g.clone());
            async move { Ok::<_, Infallible>(handle_on(st, g, req, secure).await) }
        });
        let Some(acceptor) = tls.clone() else {
            let conn = graceful.watch(http.serve_connection(TokioIo::new(sock), svc));
            conns.spawn(async move {
                let _ = conn.await;
                drop(slot);
            });
            continue;
        };
        let (watcher, mut stop, http) = (graceful.watcher(), stop_seen.clone(), http.clone());
        let within = limits.header_timeout;
        conns.spawn(async move {
            let http = &http;
            let plain = |sock| async move {
                let refuse = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(closing(ApiError::bad(
                        "this port speaks HTTPS only: use an https:// URL",
                    )))
                });
                let _ = http.serve_connection(TokioIo::new(sock), refuse).await;
            };
            let stream = tokio::select! {
                s = handshake(&acceptor, sock, within, plain) => s,
                _ = stop.wait_for(|s| *s) => None,
            };
            if let Some(stream) = stream {
                let _ = watcher
                    .watch(http.serve_connection(TokioIo::new(stream), svc))
                    .await;
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // open event streams end now instead of holding the shutdown
    state.live.shut_down();
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        conns.abort_all();
    }
    while conns.join_next().await.is_some() {}
    Ok(())
}
