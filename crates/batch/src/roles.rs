//! Who acts on a batch: roles, the acting person, and signature meanings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A role granted to a user by the server's authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs steps, scans, enters values and lots.
    Operator,
    /// Quality control: enters test results.
    Qc,
    /// Quality assurance: assesses deviations, reviews the record.
    Qa,
    /// Qualified person: certifies (releases or rejects) the batch.
    QualifiedPerson,
    /// Planner / scheduler: creates orders.
    Planner,
    /// Clinic coordinator: receipt at the clinic and infusion confirmation.
    Clinic,
    /// Administrator: manages users; no batch actions.
    Admin,
    /// The engine itself (hold-time and overrun watch); never granted to a user.
    Engine,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Operator => "operator",
            Role::Qc => "qc",
            Role::Qa => "qa",
            Role::QualifiedPerson => "qualified_person",
            Role::Planner => "planner",
            Role::Clinic => "clinic",
            Role::Admin => "admin",
            Role::Engine => "engine",
        })
    }
}

/// An authenticated user as the server hands it to the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Unique, never re-used user id.
    pub user: String,
    /// Printed name (shown in signature manifestations).
    pub name: String,
    /// Roles granted.
    pub roles: Vec<Role>,
}

/// Who made an entry, in the role they acted in (stored in every entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// User id.
    pub user: String,
    /// Printed name.
    pub name: String,
    /// The role used for this entry.
    pub role: Role,
}

/// The meaning of an electronic signature (21 CFR 11.50(a)(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    /// I did this.
    Performed,
    /// I checked what another person did (second person).
    Verified,
    /// I reviewed the record up to the signed entry.
    Reviewed,
    /// I certify the batch (qualified person).
    Released,
}

impl fmt::Display for Meaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Meaning::Performed => "performed",
            Meaning::Verified => "verified",
            Meaning::Reviewed => "reviewed",
            Meaning::Released => "released",
        })
    }
}

impl Meaning {
    /// The roles that may sign with this meaning.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Meaning::Performed => &[Role::Operator, Role::Qc],
            Meaning::Verified => &[Role::Operator, Role::Qc, Role::Qa],
            Meaning::Reviewed => &[Role::Qa],
            Meaning::Released => &[Role::QualifiedPerson],
        }
    }
}

impl Actor {
    /// The engine as an actor (for the deviations its watch raises).
    pub fn engine() -> Actor {
        Actor {
            user: "engine".into(),
            name: "atmpflow batch engine".into(),
            roles: vec![Role::Engine],
        }
    }

    /// The first of `allowed` that this actor holds, as the acting [`Person`].
    pub fn acting_as(&self, allowed: &[Role]) -> Option<Person> {
        allowed
            .iter()
            .find(|r| self.roles.contains(r))
            .map(|&role| Person {
                user: self.user.clone(),
                name: self.name.clone(),
                role,
            })
    }
}
