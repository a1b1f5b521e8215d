//! Calling the router directly (no socket) and reading its answer, for the server tests.

use axum::body::to_bytes;
use axum::http::{Method, StatusCode, Uri, header};
use serde_json::Value;
use server::{AppState, dispatch};

/// An answer: status, `Allow` header (405 answers) and JSON body (`Null` when empty).
pub struct Resp {
    pub status: StatusCode,
    pub allow: Option<String>,
    pub body: Value,
}

/// Sends `method` to `path` under `/api/v3.0` with `body`.
pub fn call(st: &AppState, method: &Method, path: &str, body: &[u8]) -> Resp {
    let uri: Uri = format!("/api/v3.0{path}").parse().expect("uri");
    let r = match dispatch(st, method, &uri, body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let status = r.status();
    let allow = r
        .headers()
        .get(header::ALLOW)
        .map(|v| v.to_str().expect("ASCII Allow header").to_owned());
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
        body,
    }
}
