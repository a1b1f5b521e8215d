//! `server`: the AAS API v3.0 (Part 2) over HTTP for atmpflow's twins.
//!
//! Everything lives under `/api/v3.0`: the AAS Repository (`/shells`), the
//! Submodel Repository (`/submodels`), the Concept Description Repository, the
//! AAS and Submodel Registries (`/shell-descriptors`, `/submodel-descriptors`),
//! Discovery (`/lookup/shells`), `/serialization` and `/description`.
//!
//! Identifiers in paths are base64url without padding; idShortPaths are plain
//! (URL-encoded). Writes are parsed and validated against the metamodel before
//! anything is stored, and each write is one store transaction: a rejected or
//! failed write leaves the database unchanged. Shells and submodels register
//! themselves in the registries in the same transaction.

use axum::http::{Method, Uri};
use store::{Db, Kind};

mod find;
pub mod http;
mod registry;
pub mod remote;
mod repo;
mod routes;
pub mod util;

pub use find::{Found, find_equipment};
pub use http::{Gate, Limits, serve, shutdown_signal};
pub use registry::MAX_ASSET_LINKS;
pub use remote::{
    HttpRegistry, Registry, RegistryError, RegistryInventory, StoreRegistry, equipment_inventory,
};
pub use util::ApiError;
use util::{ApiResult, Query};

/// The base path of every endpoint.
pub const BASE_PATH: &str = "/api/v3.0";

/// Service profiles this server implements (returned by `/description`).
///
/// The full repository profiles (AAS and Submodel Repository SSP-001) include
/// the PATCH operations, which this server does not serve (405): they are not
/// claimed. Reads and the POST/PUT/DELETE writes are served as listed in the
/// route table.
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
    pub store: Db,
    /// Public base URL including the base path, e.g.
    /// `http://127.0.0.1:8080/api/v3.0`; used for registry endpoints.
    pub base_url: String,
}

impl AppState {
    pub fn new(store: Db, base_url: impl Into<String>) -> Self {
        AppState {
            store,
            base_url: base_url.into(),
        }
    }
}

fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The percent-decoded segments of `path` below the base path, or `None`
/// when the path is not below it (`/api/v3.0shells` is not).
fn segments(path: &str) -> Option<Vec<String>> {
    let rest = path
        .strip_prefix(BASE_PATH)
        .filter(|r| r.is_empty() || r.starts_with('/'))?;
    Some(
        rest.split('/')
            .filter(|s| !s.is_empty())
            .map(decode_segment)
            .collect(),
    )
}

/// Whether `method` is served at `path` (by the route table alone).
pub(crate) fn serves(method: &Method, path: &str) -> bool {
    segments(path).is_some_and(|segs| {
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        routes::allowed(&segs).is_some_and(|a| a.contains(method))
    })
}

/// Routes one request (synchronous; used directly by the tests).
pub fn dispatch(st: &AppState, method: &Method, uri: &Uri, body: &[u8]) -> ApiResult {
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
    let m = method.clone();
    match segs.as_slice() {
        ["description"] if m == Method::GET => {
            util::ok(&serde_json::json!({ "profiles": PROFILES }))
        }
        ["serialization"] if m == Method::GET => repo::serialization(st, &q),
        ["shells", rest @ ..] => repo::shells(st, &m, rest, &q, body),
        ["submodels", rest @ ..] => repo::submodels(st, &m, rest, &q, body),
        ["concept-descriptions", rest @ ..] => repo::concept_descriptions(st, &m, rest, &q, body),
        ["shell-descriptors", rest @ ..] => registry::shell_descriptors(st, &m, rest, &q, body),
        ["submodel-descriptors", rest @ ..] => {
            registry::submodel_descriptors(st, &m, rest, &q, body)
        }
        ["lookup", "shells", rest @ ..] => registry::lookup(st, &m, rest, &q, body),
        _ => Err(unrouted(&m, path)),
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

pub(crate) fn to_bytes<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|e| ApiError::internal(format!("cannot serialise: {e}")))
}

pub(crate) fn from_bytes<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(b)
        .map_err(|e| ApiError::internal(format!("stored record is unreadable: {e}")))
}
