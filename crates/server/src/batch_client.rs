//! A client of the batch API (`/api/batch/v1`) of an `atmpflow serve`: who a
//! token belongs to, the server's batch clock, orders, requests, signatures
//! and dispositions. `atmpflow batch dry-run --server` sends a rehearsal
//! through it.

use serde_json::Value;

use crate::BATCH_BASE;
use crate::remote::{agent, untrusted};

/// Largest answer accepted (a page of the record is far smaller).
const MAX_BODY: u64 = 64 << 20;

/// Why a call to the batch API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer (connection, TLS, timeout).
    #[error("{method} {url}: no answer: {reason}")]
    Unreachable {
        method: &'static str,
        url: String,
        reason: String,
    },
    /// An answer that is not JSON.
    #[error("{method} {url}: HTTP {status}, the answer is not JSON: {reason}")]
    Answer {
        method: &'static str,
        url: String,
        status: u16,
        reason: String,
    },
    /// The server address is not an http(s) URL.
    #[error(
        "{0}: not an http:// or https:// URL (expected the server's address, e.g. http://127.0.0.1:8080)"
    )]
    Url(String),
}

/// An answer of the batch API: status and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error text of a refused call (`messages[0].text` of the error
    /// body), or the body itself when it has none.
    pub fn error_text(&self) -> String {
        self.body
            .pointer("/messages/0/text")
            .and_then(Value::as_str)
            .map_or_else(|| self.body.to_string(), str::to_string)
    }
}

/// The batch API of one server.
#[derive(Debug)]
pub struct BatchClient {
    /// The server's root URL, e.g. `http://127.0.0.1:8080`.
    root: String,
    agent: ureq::Agent,
}

impl BatchClient {
    /// `server` is the server's address (`http://host:port`); a trailing
    /// `/api/v3.0` or `/api/batch/v1` is accepted and dropped.
    pub fn new(server: &str) -> Result<BatchClient, ClientError> {
        let mut root = server.trim_end_matches('/');
        for suffix in [crate::BASE_PATH, BATCH_BASE] {
            root = root.strip_suffix(suffix).unwrap_or(root);
        }
        let root = root.trim_end_matches('/').to_string();
        if !root.starts_with("http://") && !root.starts_with("https://") {
            return Err(ClientError::Url(server.to_string()));
        }
        Ok(BatchClient {
            agent: agent(&root, &[]),
            root,
        })
    }

    /// Also trusts these CA certificates over https (a site CA).
    pub fn trusting(mut self, ca: &[rustls::pki_types::CertificateDer<'static>]) -> Self {
        self.agent = agent(&self.root, ca);
        self
    }

    /// The server's root URL.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The AAS API base of the same server (`…/api/v3.0`).
    pub fn aas_base(&self) -> String {
        format!("{}{}", self.root, crate::BASE_PATH)
    }

    /// The path of a batch below `/api/batch/v1` (`/batches/{id}`, the id
    /// percent-encoded as the server writes it into `Location`).
    pub fn batch_path(id: &str) -> String {
        format!(
            "/batches/{}",
            percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
        )
    }

    /// One call: `path` below `/api/batch/v1` (with its query), the body as
    /// JSON when given.
    pub fn call(
        &self,
        token: &str,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{BATCH_BASE}{path}", self.root);
        let auth = format!("Bearer {}", token.trim());
        let unreachable = |e: ureq::Error| ClientError::Unreachable {
            method,
            url: url.clone(),
            reason: if untrusted(&e) {
                format!("{e} (the server's certificate is not trusted: give its CA)")
            } else {
                e.to_string()
            },
        };
        let resp = match (method, body) {
            ("GET", _) => self
                .agent
                .get(&url)
                .header("Authorization", &auth)
                .header("Accept", "application/json")
                .call(),
            (m, b) => {
                let text = b.map_or_else(String::new, Value::to_string);
                let req = match m {
                    "PUT" => self.agent.put(&url),
                    "PATCH" => self.agent.patch(&url),
                    _ => self.agent.post(&url),
                };
                req.header("Authorization", &auth)
                    .header("Accept", "application/json")
                    .header("Content-Type", "application/json")
                    .send(text.as_bytes())
            }
        };
        let mut resp = resp.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(unreachable)?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Answer {
                method,
                url: url.clone(),
                status,
                reason: e.to_string(),
            })?
        };
        Ok(Answer { status, body })
    }
}
