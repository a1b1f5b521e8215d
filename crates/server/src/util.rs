//! Responses, errors, query parameters and paging shared by all handlers.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

static CORRELATION: AtomicU64 = AtomicU64::new(1);

/// The current UTC time as `YYYY-MM-DDThh:mm:ssZ`.
pub fn now_rfc3339() -> String {
    store::auth::Timestamp::now().rfc3339()
}

/// An API error: becomes the standard error body
/// `{"messages":[{"code","messageType","text","timestamp","correlationId"}]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub text: String,
    /// The `Allow` header of a 405 answer: the methods the resource serves.
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, text: impl Into<String>) -> Self {
        ApiError {
            status,
            text: text.into(),
            allow: None,
        }
    }
    /// 405 for `method` at `path`, whose resource serves `allow` (comma-separated).
    pub fn method_not_allowed(method: &str, path: &str, allow: impl Into<String>) -> Self {
        let allow = allow.into();
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            text: format!("{method} is not supported at {path} (supported: {allow})"),
            allow: Some(allow),
        }
    }
    pub fn bad(text: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, text)
    }
    pub fn not_found(text: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, text)
    }
    pub fn conflict(text: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, text)
    }
    pub fn internal(text: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, text)
    }

    pub fn into_response(self) -> Response {
        let n = CORRELATION.fetch_add(1, Ordering::Relaxed);
        let kind = if self.status.is_server_error() {
            "Exception"
        } else {
            "Error"
        };
        let body = json!({
            "messages": [{
                "code": self.status.as_u16().to_string(),
                "messageType": kind,
                "text": self.text,
                "timestamp": now_rfc3339(),
                "correlationId": format!("atmpflow-{n}"),
            }]
        });
        let mut r = json_response(self.status, &body);
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            r.headers_mut().insert(header::ALLOW, allow);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: the scheme this server accepts
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"atmpflow\""),
            );
        }
        r
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict { kind, id } => {
                ApiError::conflict(format!("{} with id {id:?} already exists", kind_name(kind)))
            }
            store::StoreError::NotFound { kind, id } => {
                ApiError::not_found(format!("no {} with id {id:?}", kind_name(kind)))
            }
            e @ store::StoreError::Retry(_) => ApiError::conflict(e.to_string()),
            store::StoreError::Precondition(m) => ApiError::new(StatusCode::PRECONDITION_FAILED, m),
            e @ store::StoreError::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            e => ApiError::internal(e.to_string()),
        }
    }
}

impl From<aas::ParseError> for ApiError {
    fn from(e: aas::ParseError) -> Self {
        ApiError::bad(format!("invalid request body at {}: {}", e.path, e.message))
    }
}

pub fn kind_name(k: store::Kind) -> &'static str {
    match k {
        store::Kind::Shell => "Asset Administration Shell",
        store::Kind::Submodel => "Submodel",
        store::Kind::ConceptDescription => "Concept Description",
        store::Kind::ShellDescriptor => "Asset Administration Shell Descriptor",
        store::Kind::SubmodelDescriptor => "Submodel Descriptor",
        store::Kind::AssetLink => "asset link",
    }
}

pub type ApiResult = Result<Response, ApiError>;

pub fn json_response<T: Serialize>(status: StatusCode, v: &T) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub fn ok<T: Serialize>(v: &T) -> ApiResult {
    Ok(json_response(StatusCode::OK, v))
}

pub fn created<T: Serialize>(v: &T, location: &str) -> ApiResult {
    let mut r = json_response(StatusCode::CREATED, v);
    if let Ok(h) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, h);
    }
    Ok(r)
}

pub fn no_content() -> ApiResult {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// What an AAS API handler is asked: the method, the query and the body of one
/// request (the path is passed apart, as each handler matches its own part of it).
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub method: &'a axum::http::Method,
    pub query: &'a Query,
    pub body: &'a [u8],
}

/// Parsed query parameters, checked as they are read.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// `level` modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Deep,
    Core,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a repeatable parameter; comma-separated values are split.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The page size: `limit` if given (at most [`MAX_PAGE_SIZE`]), else
    /// [`DEFAULT_PAGE_SIZE`].
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_PAGE_SIZE),
            // digits only, not all zero; a number beyond any page is the largest page
            Some(s) if s.bytes().all(|b| b.is_ascii_digit()) && s.bytes().any(|b| b != b'0') => {
                Ok(s.parse::<usize>()
                    .map_or(MAX_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE)))
            }
            Some(s) => Err(ApiError::bad(format!(
                "limit must be a positive integer, got {s:?}"
            ))),
        }
    }

    /// The decoded cursor (a base64url-encoded position).
    pub fn cursor(&self) -> Result<Option<String>, ApiError> {
        match self.get("cursor") {
            None => Ok(None),
            Some(c) => aas::ids::decode(c).map(Some).ok_or_else(|| {
                ApiError::bad(format!("cursor {c:?} is not one this server issued"))
            }),
        }
    }

    pub fn level(&self) -> Result<Level, ApiError> {
        match self.get("level") {
            None | Some("deep") => Ok(Level::Deep),
            Some("core") => Ok(Level::Core),
            Some(o) => Err(ApiError::bad(format!(
                "level must be `deep` or `core`, got {o:?}"
            ))),
        }
    }

    /// Whether Blob values are included (`extent`).
    pub fn with_blob(&self) -> Result<bool, ApiError> {
        match self.get("extent") {
            // the API's default is withoutBlobValue
            None | Some("withoutBlobValue") => Ok(false),
            Some("withBlobValue") => Ok(true),
            Some(o) => Err(ApiError::bad(format!(
                "extent must be `withBlobValue` or `withoutBlobValue`, got {o:?}"
            ))),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        // case-insensitive: Python clients send `True`
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(o) => Err(ApiError::bad(format!(
                "{name} must be `true` or `false`, got {o:?}"
            ))),
        }
    }

    /// A base64url-encoded identifier parameter.
    pub fn id(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => decode_id(v).map(Some),
        }
    }

    /// All base64url-encoded identifiers of a repeatable parameter.
    pub fn ids(&self, name: &str) -> Result<Vec<String>, ApiError> {
        self.all(name).into_iter().map(decode_id).collect()
    }

    /// `assetIds`: base64url-encoded JSON `{"name": …, "value": …}` objects.
    pub fn asset_ids(&self) -> Result<Vec<(String, String)>, ApiError> {
        let mut out = Vec::new();
        for raw in self.all("assetIds") {
            let text = aas::ids::decode(raw)
                .ok_or_else(|| ApiError::bad(format!("assetIds value {raw:?} is not base64url")))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                ApiError::bad(format!("assetIds value is not a JSON SpecificAssetId: {e}"))
            })?;
            match (
                v.get("name").and_then(Value::as_str),
                v.get("value").and_then(Value::as_str),
            ) {
                (Some(n), Some(val)) => out.push((n.to_string(), val.to_string())),
                _ => {
                    return Err(ApiError::bad(
                        "assetIds needs objects with string `name` and `value`",
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Decodes a base64url identifier from a path or query; the identifier must
/// pass [`aas::ids::identifier_problem`].
pub fn decode_id(seg: &str) -> Result<String, ApiError> {
    let id = aas::ids::decode(seg)
        .ok_or_else(|| ApiError::bad(format!("{seg:?} is not a base64url-encoded identifier")))?;
    match aas::ids::identifier_problem(&id) {
        None => Ok(id),
        Some(m) => Err(ApiError::bad(format!("identifier {seg:?} {m}"))),
    }
}

/// Items per page when the request gives no `limit`.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest page served; a larger `limit` is served as this many items.
pub const MAX_PAGE_SIZE: usize = 1000;

/// One page of `items` (already in a stable order) with their keys: starts at
/// the cursor key, returns at most `limit` items and the cursor of the next page.
pub fn page<T: Serialize>(items: Vec<(String, T)>, q: &Query) -> ApiResult {
    let limit = q.limit()?;
    let cursor = q.cursor()?;
    let start = match &cursor {
        None => 0,
        Some(c) => items
            .iter()
            .position(|(k, _)| k.as_str() >= c.as_str())
            .unwrap_or(items.len()),
    };
    let end = start.saturating_add(limit).min(items.len());
    let next = items.get(end).map(|(k, _)| k.clone());
    let result: Vec<&T> = items[start..end].iter().map(|(_, v)| v).collect();
    paged(&result, next.as_deref())
}

/// A page the database already cut: its items and the key the next page
/// starts at (sent as a base64url cursor).
pub fn paged<T: Serialize>(result: &[T], next: Option<&str>) -> ApiResult {
    let mut meta = serde_json::Map::new();
    if let Some(n) = next {
        meta.insert("cursor".into(), Value::String(aas::ids::encode(n)));
    }
    ok(&json!({ "paging_metadata": meta, "result": result }))
}

/// Keys for positional paging (submodel elements): zero-padded indices sort
/// like the numbers.
pub fn index_key(i: usize) -> String {
    format!("{i:010}")
}

pub(crate) fn to_bytes<T: Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|e| ApiError::internal(format!("cannot serialise: {e}")))
}

pub(crate) fn from_bytes<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(b)
        .map_err(|e| ApiError::internal(format!("stored record is unreadable: {e}")))
}

/// One page of the `kind` records that pass `filter`, as the request's
/// `cursor` and `limit` ask (cut by the database), and the next page's key;
/// shared by the repositories and the registries.
pub(crate) fn db_page<T: serde::de::DeserializeOwned>(
    db: &store::Db,
    kind: store::Kind,
    filter: &store::Filter,
    q: &Query,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let (limit, cursor) = (q.limit()?, q.cursor()?);
    let p = db.read(|tx| tx.page(kind, filter, cursor.as_deref(), Some(limit)))?;
    let items = p
        .items
        .iter()
        .map(|(_, b)| from_bytes(b))
        .collect::<Result<Vec<T>, ApiError>>()?;
    Ok((items, p.next))
}

/// [`db_page`] answered as one page of the API's paged result.
pub(crate) fn db_paged<T: serde::de::DeserializeOwned + Serialize>(
    db: &store::Db,
    kind: store::Kind,
    filter: &store::Filter,
    q: &Query,
) -> ApiResult {
    let (items, next) = db_page::<T>(db, kind, filter, q)?;
    paged(&items, next.as_deref())
}

/// The answer when a stored record of `kind` with `id` is missing.
fn no_record(kind: store::Kind, id: &str) -> ApiError {
    ApiError::not_found(format!("no {} with id {id:?}", kind_name(kind)))
}

/// The stored record of `kind` with `id`, read outside a transaction; 404
/// naming the kind when there is none.
pub(crate) fn get_record<T: serde::de::DeserializeOwned>(
    db: &store::Db,
    kind: store::Kind,
    id: &str,
) -> Result<T, ApiError> {
    match db.get(kind, id)? {
        Some(b) => from_bytes(&b),
        None => Err(no_record(kind, id)),
    }
}

/// The stored record of `kind` with `id`, read inside the transaction `tx`;
/// 404 naming the kind when there is none.
pub(crate) fn tx_record<T: serde::de::DeserializeOwned>(
    tx: &mut store::Tx<'_>,
    kind: store::Kind,
    id: &str,
) -> Result<T, ApiError> {
    match tx.get(kind, id)? {
        Some(b) => from_bytes(&b),
        None => Err(no_record(kind, id)),
    }
}

/// Refuses a PUT body whose id is not the one named in the path.
pub(crate) fn same_id(body_id: &str, path_id: &str) -> Result<(), ApiError> {
    if body_id == path_id {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "body id {body_id:?} differs from the id in the path {path_id:?}"
        )))
    }
}

/// `POST` to a collection: stores `value` as a new `kind` record under `id`
/// (refused if the id is taken), runs `also` in the same transaction (the
/// registry and discovery entries that follow the record), and answers 201
/// with its location `{base}/{collection}/{id}`.
pub(crate) fn create_record<T: Serialize>(
    st: &crate::AppState,
    kind: store::Kind,
    collection: &str,
    id: &str,
    value: &T,
    mut also: impl FnMut(&mut store::Tx<'_>) -> Result<(), ApiError>,
) -> ApiResult {
    st.store.transaction(|tx| -> Result<(), ApiError> {
        tx.create(kind, id, &to_bytes(value)?)?;
        also(tx)
    })?;
    let at = format!("{}/{collection}/{}", st.base_url, aas::ids::encode(id));
    created(value, &at)
}

/// Parses a JSON body, naming the field of the first problem.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let v: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad(format!("request body: {inner}"))
        } else {
            ApiError::bad(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad(format!("request body: {e}")))?;
    Ok(v)
}
