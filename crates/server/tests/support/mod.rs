//! Calling the router directly (no socket) and reading its answer, for the server tests.

use axum::body::to_bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde_json::Value;
use server::{AppState, dispatch_with};

/// An answer: status, `Allow` header (405 answers), `ETag` header and JSON
/// body (`Null` when empty).
#[allow(dead_code)]
pub struct Resp {
    pub status: StatusCode,
    pub allow: Option<String>,
    pub etag: Option<String>,
    pub body: Value,
}

/// Sends `method` to `path` under `/api/v3.0` with `body`.
#[allow(dead_code)]
pub fn call(st: &AppState, method: &Method, path: &str, body: &[u8]) -> Resp {
    call_with(st, method, path, None, body)
}

/// Sends `method` to `path` under `/api/v3.0` with `body` and, if given, an
/// `If-Match` header.
pub fn call_with(
    st: &AppState,
    method: &Method,
    path: &str,
    if_match: Option<&str>,
    body: &[u8],
) -> Resp {
    let uri: Uri = format!("/api/v3.0{path}").parse().expect("uri");
    let mut headers = HeaderMap::new();
    if let Some(m) = if_match {
        headers.insert(header::IF_MATCH, HeaderValue::from_str(m).expect("header"));
    }
    let r = match dispatch_with(st, method, &uri, &headers, body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let status = r.status();
    let header_text = |name| {
        r.headers()
            .get(name)
            .map(|v: &HeaderValue| v.to_str().expect("ASCII header").to_owned())
    };
    let allow = header_text(header::ALLOW);
    let etag = header_text(header::ETAG);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bytes = rt
        .block_on(to_bytes(r.into_body(), usize::MAX))
        .expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    Resp {
        status,
        allow,
        etag,
        body,
    }
}
