//! `server`: the AAS API v3.0 (Part 2) over HTTP for atmpflow's twins.
//!
//! The AAS API lives under `/api/v3.0`: the AAS Repository (`/shells`), the
//! Submodel Repository (`/submodels`), the Concept Description Repository, the
//! AAS and Submodel Registries (`/shell-descriptors`, `/submodel-descriptors`),
//! Discovery (`/lookup/shells`), `/serialization` and `/description`.
//!
//! Identifiers in paths are base64url without padding; idShortPaths are plain
//! (URL-encoded). Writes are parsed and validated against the metamodel before
//! anything is stored, and each write is one store transaction: a rejected or
//! failed write leaves the database unchanged. Shells and submodels register
//! themselves in the registries in the same transaction.
//!
//! Beside it: the batch API (`/api/batch/v1`, [`batch`]) and the plant
//! planner's API (`/api/plan/v1`, [`plans`]), which decide by the caller's
//! batch roles.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use store::{Db, Kind};

pub mod auth;
pub mod batch;
pub mod batch_client;
mod caller;
mod find;
pub mod http;
pub mod live;
mod lots;
pub mod plans;
mod registry;
pub mod remote;
mod repo;
mod routes;
pub mod tls;
pub mod util;
pub mod watch;
pub mod web;

pub use find::{Found, find_equipment};
pub use http::{Gate, Limits, serve, serve_tls, shutdown_signal};
pub use registry::MAX_ASSET_LINKS;
pub use remote::{
    HttpRegistry, Registry, RegistryError, RegistryInventory, StoreRegistry, equipment_inventory,
};
pub use util::ApiError;

/// Where the batch API lives.
pub const BATCH_BASE: &str = "/api/batch/v1";
use util::{ApiResult, Call, Query};

/// The base path of every endpoint.
pub const BASE_PATH: &str = "/api/v3.0";

/// Service profiles this server implements (returned by `/description`).
///
/// Only what is served is claimed. Reads, the POST/PUT/DELETE writes and the
/// PATCH operations of submodels and submodel elements are served as listed
/// in the route table; the full repository and service profiles (SSP-001 of
/// the AAS and Submodel Repository and of the AAS and Submodel Service) also
/// require storing file attachments and thumbnails (`PUT`/`DELETE …/attachment`,
/// `…/thumbnail`) and invoking Operations (`…/invoke`), which this server does
/// not do, so those profiles are claimed in their read form (SSP-002).
pub const PROFILES: &[&str] = &[
    "https://admin-shell.io/aas/API/3/0/AssetAdministrationShellRepositoryServiceSpecification/SSP-002",
    "https://admin-shell.io/aas/API/3/0/SubmodelRepositoryServiceSpecification/SSP-002",
    "https://admin-shell.io/aas/API/3/0/AssetAdministrationShellServiceSpecification/SSP-002",
    "https://admin-shell.io/aas/API/3/0/SubmodelServiceSpecification/SSP-002",
    "https://admin-shell.io/aas/API/3/0/ConceptDescriptionRepositoryServiceSpecification/SSP-001",
    "https://admin-shell.io/aas/API/3/0/AssetAdministrationShellRegistryServiceSpecification/SSP-001",
    "https://admin-shell.io/aas/API/3/0/SubmodelRegistryServiceSpecification/SSP-001",
    "https://admin-shell.io/aas/API/3/0/DiscoveryServiceSpecification/SSP-001",
];

/// Shared state of the running server.
#[derive(Debug)]
pub struct AppState {
    pub store: std::sync::Arc<Db>,
    /// Public base URL including the base path, e.g.
    /// `http://127.0.0.1:8080/api/v3.0`; used for registry endpoints.
    pub base_url: String,
    /// The server time of batch record entries (UTC).
    pub clock: Clock,
    /// Live updates: announcements of committed batch entries to the open
    /// event streams, their count and the shutdown signal.
    pub live: std::sync::Arc<live::Live>,
}

impl AppState {
    pub fn new(store: Db, base_url: impl Into<String>) -> Self {
        AppState {
            store: std::sync::Arc::new(store),
            base_url: base_url.into(),
            clock: Clock::system(),
            live: std::sync::Arc::default(),
        }
    }
}

/// Where the server reads the time it writes into batch records: this
/// machine's UTC clock, the simulated clock of a rehearsal database (moved
/// forward by an administrator, `PUT /api/batch/v1/clock`), or (tests) a
/// function of the caller's.
#[derive(Clone)]
pub struct Clock {
    read: std::sync::Arc<dyn Fn() -> i64 + Send + Sync>,
    simulated: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
}

impl Clock {
    /// This machine's clock.
    pub fn system() -> Clock {
        Clock::from_fn(|| store::auth::Timestamp::now().0)
    }
    /// A clock that reads `f` (seconds since 1970-01-01T00:00:00Z).
    pub fn from_fn(f: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock {
            read: std::sync::Arc::new(f),
            simulated: None,
        }
    }
    /// The simulated clock of a rehearsal database, reading `start` until it is
    /// moved (see `store::clock`).
    pub fn rehearsal(start: i64) -> Clock {
        let t = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(start));
        let r = t.clone();
        Clock {
            read: std::sync::Arc::new(move || r.load(std::sync::atomic::Ordering::SeqCst)),
            simulated: Some(t),
        }
    }
    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn now(&self) -> i64 {
        (self.read)()
    }
    /// Whether this is a rehearsal's simulated clock.
    pub fn is_simulated(&self) -> bool {
        self.simulated.is_some()
    }
    /// Moves a simulated clock forward to `to` (never back); false for
    /// any other clock.
    pub(crate) fn advance_to(&self, to: i64) -> bool {
        match &self.simulated {
            Some(t) => {
                t.fetch_max(to, std::sync::atomic::Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

pub(crate) fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The percent-decoded segments of `path` below the AAS base path, or `None`
/// when the path is not below it (`/api/v3.0shells` is not).
fn segments(path: &str) -> Option<Vec<String>> {
    segments_below(BASE_PATH, path)
}

/// The percent-decoded segments of `path` below `base`, or `None` when the
/// path is not below it (a path that merely starts with the same letters is
/// not).
pub(crate) fn segments_below(base: &str, path: &str) -> Option<Vec<String>> {
    let rest = path
        .strip_prefix(base)
        .filter(|r| r.is_empty() || r.starts_with('/'))?;
    Some(
        rest.split('/')
            .filter(|s| !s.is_empty())
            .map(decode_segment)
            .collect(),
    )
}

/// One of the server's own JSON APIs below a base path (the batch API, the plan API): its
/// route table decides from the path alone which methods are served, before any identifier
/// in it is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubApi {
    pub base: &'static str,
    pub allowed: fn(&[&str]) -> Option<&'static [Method]>,
}

impl SubApi {
    /// Whether `path` is below this API.
    pub(crate) fn owns(&self, path: &str) -> bool {
        segments_below(self.base, path).is_some()
    }

    /// Whether `method` is served at `path` (a path of this API).
    pub(crate) fn serves(&self, method: &Method, path: &str) -> bool {
        segments_below(self.base, path).is_some_and(|s| {
            let s: Vec<&str> = s.iter().map(String::as_str).collect();
            (self.allowed)(&s).is_some_and(|a| a.contains(method))
        })
    }

    /// The decoded segments of `path` below the base when `method` is served there; 404 for
    /// a path that is no endpoint, 405 with `Allow` for a method the endpoint does not serve.
    pub(crate) fn route(&self, method: &Method, path: &str) -> Result<Vec<String>, ApiError> {
        let no_endpoint = || ApiError::not_found(format!("no such endpoint: {path}"));
        let segs = segments_below(self.base, path).ok_or_else(no_endpoint)?;
        let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let allow = (self.allowed)(&refs).ok_or_else(no_endpoint)?;
        if !allow.contains(method) {
            return Err(ApiError::method_not_allowed(
                method.as_str(),
                path,
                routes::allow_header(allow),
            ));
        }
        Ok(segs)
    }

    /// A request to this API as its handlers take it: the segments [`Self::route`]
    /// admits, then the caller its credentials name (401 without valid ones), and the
    /// parsed query.
    pub(crate) fn admit(
        &self,
        st: &AppState,
        req: &Incoming<'_>,
    ) -> Result<(Vec<String>, auth::Principal, Query), util::ApiError> {
        let segs = self.route(req.method, req.uri.path())?;
        let principal = auth::authenticate(&st.store, req.headers)?;
        Ok((segs, principal, Query::parse(req.uri.query())))
    }
}

/// Whether `method` is served at `path` (by the route table alone).
pub(crate) fn serves(method: &Method, path: &str) -> bool {
    for api in [batch::API, plans::API] {
        if api.owns(path) {
            return api.serves(method, path);
        }
    }
    segments(path).is_some_and(|segs| {
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        routes::allowed(&segs).is_some_and(|a| a.contains(method))
    })
}

/// The record whose state a request at `segs` reads or changes as a whole,
/// for its entity tag: a shell (and its asset information and submodel
/// references), a submodel (and its elements, also through a shell), a
/// concept description, a descriptor, the discovery links of a shell.
fn tagged_record(segs: &[&str]) -> Option<(Kind, String)> {
    let id = |seg: &str| aas::ids::decode(seg);
    let submodel = |sm: &str, rest: &[&str]| match rest {
        [] | ["submodel-elements", ..] => Some((Kind::Submodel, id(sm)?)),
        [m] if ["$metadata", "$value", "$path"].contains(m) => Some((Kind::Submodel, id(sm)?)),
        _ => None,
    };
    match segs {
        ["shells", aas, "submodels", sm, rest @ ..] if !aas.starts_with('$') => submodel(sm, rest),
        ["shells", aas] | ["shells", aas, "asset-information" | "submodel-refs", ..]
            if !aas.starts_with('$') =>
        {
            Some((Kind::Shell, id(aas)?))
        }
        ["submodels", sm, rest @ ..] if !sm.starts_with('$') => submodel(sm, rest),
        ["concept-descriptions", cd] => Some((Kind::ConceptDescription, id(cd)?)),
        ["shell-descriptors", aas, ..] => Some((Kind::ShellDescriptor, id(aas)?)),
        ["submodel-descriptors", sm] => Some((Kind::SubmodelDescriptor, id(sm)?)),
        ["lookup", "shells", aas] => Some((Kind::AssetLink, id(aas)?)),
        _ => None,
    }
}

/// Answers one request with its headers, as the network edge does after
/// reading the body: the caller is admitted first ([`auth::admit`]: 401
/// without valid credentials, 403 without the access the method needs), then
/// the request is routed by [`dispatch_conditional`].
pub fn dispatch_with(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult {
    let path = uri.path();
    auth::admit(&st.store, method, path, headers, by_batch_roles(path))?;
    dispatch_conditional(
        st,
        &Incoming {
            method,
            uri,
            headers,
            body,
        },
    )
}

/// One request as read from the network: its method, target, headers and body.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Whether `path` belongs to an API whose handlers decide by the caller's batch
/// roles (the batch and plan APIs), so that admission checks authentication alone.
pub(crate) fn by_batch_roles(path: &str) -> bool {
    batch::API.owns(path) || plans::API.owns(path)
}

/// Routes one request with its headers: conditional requests on the record
/// the path names (see [`tagged_record`]). A successful `GET` carries that
/// record's `ETag` (its row version and content digest, read in the same
/// snapshot as the body); a `PUT`, `POST` or `DELETE` with an `If-Match` that
/// does not name the record's current state is refused with 412 and changes
/// nothing, checked in the transaction that makes the change. Without
/// `If-Match` the last writer wins, but a change is never lost: a write
/// that raced another one is run again on the new state, or refused with 409.
pub(crate) fn dispatch_conditional(st: &AppState, req: &Incoming<'_>) -> ApiResult {
    let Incoming {
        method,
        uri,
        headers,
        body,
    } = *req;
    if uri.path() == auth::HEALTH_PATH {
        return health(st, method);
    }
    if batch::API.owns(uri.path()) {
        return batch::dispatch(st, req);
    }
    if plans::API.owns(uri.path()) {
        return plans::dispatch(st, req);
    }
    let unsafe_method = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let if_match = match headers.get(header::IF_MATCH) {
        Some(v) if unsafe_method => {
            let v = v
                .to_str()
                .map_err(|_| ApiError::bad("If-Match: the header is not visible ASCII"))?;
            Some(store::cond::IfMatch::parse(v).map_err(ApiError::bad)?)
        }
        _ => None,
    };
    let target = segments(uri.path()).and_then(|segs| {
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        tagged_record(&segs)
    });
    let Some((kind, id)) = target else {
        return dispatch(st, method, uri, body);
    };
    let cond = store::cond::Condition { kind, id, if_match };
    let (r, seen) = store::cond::with_condition(cond, || dispatch(st, method, uri, body));
    let mut r = r?;
    if *method == Method::GET
        && r.status() == StatusCode::OK
        && let Some(tag) = seen.etag.and_then(|t| HeaderValue::from_str(&t).ok())
    {
        r.headers_mut().insert(header::ETAG, tag);
    }
    Ok(r)
}

/// `GET /health`: 200 `{"status":"ok"}` when the database answers a read,
/// else 503 with the AAS error body (for load balancers and monitoring; no
/// credentials needed, nothing revealed).
fn health(st: &AppState, method: &Method) -> ApiResult {
    if *method != Method::GET && *method != Method::HEAD {
        return Err(ApiError::method_not_allowed(
            method.as_str(),
            auth::HEALTH_PATH,
            "GET",
        ));
    }
    st.store
        .read(|tx| tx.query_opt("SELECT 1", &[]))
        .map_err(ApiError::from)?;
    util::ok(&serde_json::json!({ "status": "ok" }))
}

/// Routes one request, without authentication or conditions (the caller
/// has admitted it).
pub(crate) fn dispatch(st: &AppState, method: &Method, uri: &Uri, body: &[u8]) -> ApiResult {
    let path = uri.path();
    let Some(segs) = segments(path) else {
        return Err(ApiError::not_found(format!(
            "no such endpoint: {path} (the API lives under {BASE_PATH})"
        )));
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    // the method is checked against the endpoint before any identifier in the
    // path is decoded: an unsupported method is 405 whatever the identifiers
    let Some(allow) = routes::allowed(&segs) else {
        return Err(ApiError::not_found(format!("no such endpoint: {path}")));
    };
    if !allow.contains(method) {
        return Err(ApiError::method_not_allowed(
            method.as_str(),
            path,
            routes::allow_header(allow),
        ));
    }
    let q = Query::parse(uri.query());
    let c = Call {
        method,
        query: &q,
        body,
    };
    match segs.as_slice() {
        ["description"] if method == Method::GET => {
            util::ok(&serde_json::json!({ "profiles": PROFILES }))
        }
        ["serialization"] if method == Method::GET => repo::serialization(st, &q),
        ["shells", rest @ ..] => repo::shells(st, &c, rest),
        ["submodels", rest @ ..] => repo::submodels(st, &c, rest),
        ["concept-descriptions", rest @ ..] => repo::concept_descriptions(st, &c, rest),
        ["shell-descriptors", rest @ ..] => registry::shell_descriptors(st, &c, rest),
        ["submodel-descriptors", rest @ ..] => registry::submodel_descriptors(st, &c, rest),
        ["lookup", "shells", rest @ ..] => registry::lookup(st, &c, rest),
        _ => Err(unrouted(method, path)),
    }
}

/// A request the route table admits but no handler serves: the table in
/// `routes` and the handlers disagree, which is a defect of this server.
pub(crate) fn unrouted(m: &Method, path: &str) -> ApiError {
    ApiError::internal(format!(
        "{m} {path}: the route table admits this request but no handler serves it"
    ))
}

/// Loads twins into the store in one transaction (replacing records with the
/// same ids) and registers them. Used by `atmpflow serve --demo`.
pub fn load_environment(st: &AppState, env: &aas::Environment) -> Result<(), ApiError> {
    if let Some(v) = aas::validate::environment(env).into_iter().next() {
        return Err(ApiError::bad(format!("{}: {}", v.path, v.message)));
    }
    st.store.transaction(|tx| -> Result<(), ApiError> {
        for sm in &env.submodels {
            tx.put(Kind::Submodel, &sm.id, &to_bytes(sm)?)?;
        }
        for cd in &env.concept_descriptions {
            tx.put(Kind::ConceptDescription, &cd.id, &to_bytes(cd)?)?;
        }
        for s in &env.asset_administration_shells {
            let old: Option<aas::model::AssetAdministrationShell> = tx
                .get(Kind::Shell, &s.id)?
                .map(|b| from_bytes(&b))
                .transpose()?;
            tx.put(Kind::Shell, &s.id, &to_bytes(s)?)?;
            registry::relink_shell(tx, &s.id, old.as_ref(), Some(s))?;
        }
        for sm in &env.submodels {
            registry::register_submodel(tx, &st.base_url, sm)?;
        }
        for s in &env.asset_administration_shells {
            registry::register_shell(tx, &st.base_url, s)?;
        }
        Ok(())
    })
}

/// Reads everything stored as one environment (for export).
pub fn export_environment(store: &Db) -> Result<aas::Environment, ApiError> {
    // one snapshot: a shell and the submodels it references are read together
    store.read(|tx| -> Result<aas::Environment, ApiError> {
        let mut env = aas::Environment::default();
        for (_, b) in tx.list(Kind::Shell)? {
            env.asset_administration_shells.push(from_bytes(&b)?);
        }
        for (_, b) in tx.list(Kind::Submodel)? {
            env.submodels.push(from_bytes(&b)?);
        }
        for (_, b) in tx.list(Kind::ConceptDescription)? {
            env.concept_descriptions.push(from_bytes(&b)?);
        }
        Ok(env)
    })
}

pub(crate) use util::{from_bytes, to_bytes};
