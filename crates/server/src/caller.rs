//! The caller of the APIs that decide by batch roles (batch records, the lot register, plant
//! plans): its batch roles as the engine's actor, whether it may read batch records, and the
//! server's time for what it stores.

use axum::http::StatusCode;
use batch::{Actor, Role};
use store::auth::Principal;

use crate::AppState;
use crate::util::ApiError;

/// The batch roles of a principal, as the engine's actor.
pub(crate) fn actor(p: &Principal) -> Actor {
    use store::auth::Role as A;
    let roles = p
        .roles
        .iter()
        .filter_map(|r| match r {
            A::Operator => Some(Role::Operator),
            A::Qc => Some(Role::Qc),
            A::Qa => Some(Role::Qa),
            A::QualifiedPerson => Some(Role::QualifiedPerson),
            A::Planner => Some(Role::Planner),
            A::Clinic => Some(Role::Clinic),
            A::Admin => Some(Role::Admin),
            A::Reader | A::Writer => None,
        })
        .collect();
    Actor {
        user: p.user.clone(),
        name: p.display_name.clone(),
        roles,
    }
}

/// Reading batch records: any batch role, or `reader`/`admin`.
pub(crate) fn may_read(p: &Principal) -> Result<(), ApiError> {
    if p.can_read() || !actor(p).roles.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} holds no role that may read batch records (reader, admin or a batch role)",
                p.user
            ),
        ))
    }
}

pub(crate) fn now(st: &AppState) -> recipe::DateTime {
    recipe::DateTime::from_unix_seconds(st.clock.now())
}
