//! Who may do what: every request names an API token in `Authorization:
//! Bearer TOKEN`, except `GET /api/v3.0/description` and `GET /health`.
//!
//! [`authenticate`] turns a request's headers into the [`Principal`] (user
//! and roles in force) or a 401 with the AAS error body and
//! `WWW-Authenticate: Bearer`; [`require`] and [`require_role`] answer 403
//! when the principal lacks the access or role. Any route module calls them
//! (the AAS routes through [`admit`], by method: `GET`/`HEAD`/`OPTIONS` need
//! `reader`, `writer` or `admin`; every other method `writer` or `admin`).
//!
//! The token and its owner are read from the database on every request (one
//! indexed read by the token's public prefix, then a constant-time
//! comparison of the SHA-256): a revoked or expired token, a disabled user
//! and a removed role take effect with the next request, on every server
//! process sharing the database. No cache: a cache would need an
//! invalidation across processes (PostgreSQL deployments run several), and
//! the read costs far less than the request it guards.

use axum::http::{HeaderMap, Method, StatusCode, header};
use store::Db;
use store::auth::{AuthError, Timestamp};
pub use store::auth::{Principal, Role};

use crate::BASE_PATH;
use crate::util::ApiError;

/// The health endpoint (outside the API base path, no credentials).
pub const HEALTH_PATH: &str = "/health";

/// The access a request needs on the AAS API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading: `reader`, `writer` or `admin`.
    Read,
    /// Changing: `writer` or `admin`.
    Write,
    /// Managing the server (users, tokens): `admin`.
    Admin,
}

impl Access {
    /// The access a method needs: reads for `GET`, `HEAD` and `OPTIONS`,
    /// writes for every other method.
    pub fn of(method: &Method) -> Access {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            Access::Read
        } else {
            Access::Write
        }
    }

    fn roles(self) -> &'static str {
        match self {
            Access::Read => "reader, writer or admin",
            Access::Write => "writer or admin",
            Access::Admin => "admin",
        }
    }
}

/// Whether the request is answered without credentials: `GET` (or `HEAD`)
/// of the service description and of the health endpoint.
pub fn is_open(method: &Method, path: &str) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD);
    path == HEALTH_PATH
        || (read
            && path
                .strip_prefix(BASE_PATH)
                .is_some_and(|p| p == "/description"))
}

fn unauthorized(text: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, text)
}

/// The principal behind the request's `Authorization: Bearer TOKEN`, read
/// from `store` now; 401 (with the AAS error body and `WWW-Authenticate:
/// Bearer`) when the header is missing or malformed or the token is unknown,
/// revoked or expired or its user disabled; 503 when the database cannot be
/// read.
pub fn authenticate(store: &Db, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(unauthorized(
            "this request needs an API token: send `Authorization: Bearer TOKEN` \
             (tokens are made with `atmpflow token create`)",
        ));
    };
    if values.next().is_some() {
        return Err(unauthorized("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| unauthorized("Authorization: the header is not visible ASCII"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized(format!(
            "Authorization: the scheme {scheme:?} is not accepted; send `Bearer TOKEN`"
        )));
    }
    match store::auth::authenticate(store, token.trim(), Timestamp::now()) {
        Ok(p) => Ok(p),
        Err(AuthError::Unauthenticated(m)) => Err(unauthorized(format!("Authorization: {m}"))),
        Err(AuthError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::internal(format!(
            "cannot check the API token: {e}"
        ))),
    }
}

fn roles_of(p: &Principal) -> String {
    if p.roles.is_empty() {
        return "none".into();
    }
    p.roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// 403 unless `p` has `access`; `what` names the request (`PUT /shells/…`).
pub fn require(p: &Principal, access: Access, what: &str) -> Result<(), ApiError> {
    let ok = match access {
        Access::Read => p.can_read(),
        Access::Write => p.can_write(),
        Access::Admin => p.has(Role::Admin),
    };
    if ok {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{what} needs the role {}; user `{}` (token {}) has {}",
            access.roles(),
            p.user,
            p.token,
            roles_of(p)
        ),
    ))
}

/// 403 unless `p` holds one of `roles` (for routes whose permission is a
/// batch role rather than an access level).
pub fn require_role(p: &Principal, roles: &[Role], what: &str) -> Result<(), ApiError> {
    if roles.iter().any(|r| p.has(*r)) {
        return Ok(());
    }
    let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{what} needs one of the roles {}; user `{}` (token {}) has {}",
            wanted.join(", "),
            p.user,
            p.token,
            roles_of(p)
        ),
    ))
}

/// Whether a request may proceed: `Ok(None)` for an open endpoint,
/// `Ok(Some(principal))` for an authenticated caller with the access its
/// method needs on the AAS API, else the 401/403 to answer. Below an API whose
/// handlers check the batch roles themselves (`by_batch_roles`: the batch and
/// plan APIs, [`crate::by_batch_roles`]) authentication alone is checked here.
pub fn admit(
    store: &Db,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    by_batch_roles: bool,
) -> Result<Option<Principal>, ApiError> {
    if is_open(method, path) {
        return Ok(None);
    }
    let p = authenticate(store, headers)?;
    if !by_batch_roles {
        require(&p, Access::of(method), &format!("{method} {path}"))?;
    }
    Ok(Some(p))
}
