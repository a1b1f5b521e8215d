//! Users, API tokens and their audit trail (migration 100).
//!
//! A **user** has a unique name that is never re-used (users are disabled,
//! never deleted), a display name (printed in signature manifestations),
//! roles and, unless it is an account of a device or integration, a password
//! stored only as an argon2id PHC string. [`verify_password`] checks a
//! re-entered password (log-in, or the second component of an electronic
//! signature, 21 CFR 11.200): it records every attempt, and after
//! [`MAX_FAILED_LOGINS`] wrong passwords in a row the account is locked
//! (disabled) until an administrator enables it again.
//!
//! An **API token** is 256 random bits, shown once when it is made
//! (`atf_` and 64 hex digits). Only its SHA-256 is stored; its first
//! [`PREFIX_LEN`] characters are its public name (lists, logs, revocation)
//! and find its row. A token carries a subset of its owner's roles, may
//! expire and may be revoked. [`authenticate`] reads token and owner on
//! every call, so a revoked or expired token and a disabled user are
//! refused at once; the owner's current roles bound the token's.
//!
//! Every change to users and tokens, and every password check, appends a
//! row to `auth_audit` (who, what, which user or token, when); the table
//! refuses updates and deletes on both engines. Times are UTC from this
//! process's clock, passed in as a [`Timestamp`] so that tests can choose
//! them.

use std::fmt;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::engine::{Engine, Row};
use crate::{Db, StoreError, Tx};

/// Consecutive wrong passwords after which an account is locked.
pub const MAX_FAILED_LOGINS: i64 = 5;
/// Characters of a token that name it (`atf_` and 12 hex digits).
pub const PREFIX_LEN: usize = 16;
/// The marker every token starts with (lets secret scanners find leaked ones).
pub const TOKEN_MARKER: &str = "atf_";
/// Bytes of randomness in a token.
const TOKEN_BYTES: usize = 32;
/// Shortest password accepted (NIST SP 800-63B asks for at least 8; a
/// password is also one half of an electronic signature).
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted in bytes (bounds the hashing work a request
/// can cause).
pub const MAX_PASSWORD: usize = 1024;
/// Longest user name.
pub const MAX_NAME: usize = 64;
/// Longest display name or token label.
pub const MAX_TEXT: usize = 200;

/// A role granted to a user and carried by its tokens. `reader`, `writer`
/// and `admin` govern the AAS API; the others are the batch roles (same
/// names as in the batch record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads every API resource.
    Reader,
    /// Reads and writes twins, registries and discovery (devices,
    /// integrations).
    Writer,
    /// Everything, including users and tokens.
    Admin,
    /// Runs steps, scans, enters values and lots.
    Operator,
    /// Quality control: enters test results.
    Qc,
    /// Quality assurance: assesses deviations, reviews the record.
    Qa,
    /// Qualified person: certifies (releases or rejects) a batch.
    QualifiedPerson,
    /// Planner / scheduler: creates orders.
    Planner,
    /// Clinic coordinator: receipt at the clinic, infusion.
    Clinic,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 9] = [
        Role::Reader,
        Role::Writer,
        Role::Admin,
        Role::Operator,
        Role::Qc,
        Role::Qa,
        Role::QualifiedPerson,
        Role::Planner,
        Role::Clinic,
    ];

    /// The role's name as stored and typed (`qualified_person`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Qc => "qc",
            Role::Qa => "qa",
            Role::QualifiedPerson => "qualified_person",
            Role::Planner => "planner",
            Role::Clinic => "clinic",
        }
    }

    /// The role of a name; the error lists the valid names.
    pub fn parse(s: &str) -> Result<Role, AuthError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                AuthError::invalid(
                    "role",
                    format!(
                        "unknown role {s:?}; roles are {}",
                        Role::ALL.map(Role::as_str).join(", ")
                    ),
                )
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of users, tokens and passwords.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value given is not acceptable (`field` names it).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("user `{0}` already exists (user names are never re-used)")]
    UserExists(String),
    #[error("no user `{0}`")]
    NoSuchUser(String),
    #[error("no token `{0}`")]
    NoSuchToken(String),
    /// The credentials do not identify an active user (the reason is safe to
    /// show to the client).
    #[error("{0}")]
    Unauthenticated(String),
    /// A stored row that does not have the expected form.
    #[error("corrupt auth record: {0}")]
    Corrupt(String),
    /// The operating system's random source or the password hasher failed.
    #[error("{0}")]
    Crypto(String),
}

impl AuthError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> AuthError {
        AuthError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// A point in time, whole seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// This process's clock.
    pub fn now() -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(secs)
    }

    /// `days` later (saturating).
    pub fn plus_days(self, days: u32) -> Timestamp {
        Timestamp(self.0.saturating_add(i64::from(days) * 86_400))
    }

    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub fn rfc3339(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the UTC calendar of record times (jiff's, through recipe::DateTime)
        recipe::DateTime::from_unix_seconds(self.0).fmt(f)
    }
}

/// A user as stored (without the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub disabled: bool,
    /// Whether the user has a password (can log in and sign).
    pub has_password: bool,
    pub failed_logins: i64,
    pub created_by: String,
    pub created_at: String,
    pub changed_by: String,
    pub changed_at: String,
}

/// A token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The public first characters of the token.
    pub prefix: String,
    pub owner: String,
    pub roles: Vec<Role>,
    pub label: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<String>,
}

impl TokenInfo {
    /// `active`, `revoked` or `expired` at `now`.
    pub fn state(&self, now: Timestamp) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self
            .expires_at
            .as_deref()
            .is_some_and(|e| e <= now.rfc3339().as_str())
        {
            "expired"
        } else {
            "active"
        }
    }
}

/// A token just made: the only time the secret exists outside its holder.
pub struct NewToken {
    /// The token to hand to its holder (`atf_…`); not stored anywhere.
    pub secret: String,
    pub info: TokenInfo,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("secret", &"…")
            .field("info", &self.info)
            .finish()
    }
}

/// Who is calling: the user behind a valid token, with the roles in force
/// for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User name (unique, never re-used).
    pub user: String,
    /// Printed name.
    pub display_name: String,
    /// The token's roles that its owner still holds.
    pub roles: Vec<Role>,
    /// The prefix of the token used.
    pub token: String,
}

impl Principal {
    /// Whether the principal holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Reads on the AAS API: `reader`, `writer` or `admin`.
    pub fn can_read(&self) -> bool {
        self.has(Role::Reader) || self.can_write()
    }

    /// Writes on the AAS API: `writer` or `admin`.
    pub fn can_write(&self) -> bool {
        self.has(Role::Writer) || self.has(Role::Admin)
    }
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// A user to add.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub display_name: &'a str,
    /// `None`: an account that only holds tokens (devices, integrations).
    pub password: Option<&'a str>,
    pub roles: &'a [Role],
}

// ---------------------------------------------------------------------------
// Checks of values
// ---------------------------------------------------------------------------

/// A user name: 1–64 characters of `a-z 0-9 . _ @ -`, starting with a letter
/// or digit (stable in logs, URLs and signature manifestations).
pub fn check_name(name: &str) -> Result<(), AuthError> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(AuthError::invalid(
            "user name",
            format!("{name:?} must have 1 to {MAX_NAME} characters"),
        ));
    }
    let ok_first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok_rest = name.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'@' | b'-')
    });
    if !ok_first || !ok_rest {
        return Err(AuthError::invalid(
            "user name",
            format!(
                "{name:?} may contain only a-z, 0-9, '.', '_', '@' and '-', and starts with a letter or digit"
            ),
        ));
    }
    Ok(())
}

fn check_text(field: &'static str, s: &str, may_be_empty: bool) -> Result<(), AuthError> {
    if (!may_be_empty && s.trim().is_empty()) || s.chars().count() > MAX_TEXT {
        return Err(AuthError::invalid(
            field,
            format!(
                "must have {} to {MAX_TEXT} characters",
                if may_be_empty { 0 } else { 1 }
            ),
        ));
    }
    if let Some(c) = s.chars().find(|c| c.is_control() || is_bidi_control(*c)) {
        return Err(AuthError::invalid(
            field,
            format!("contains the control character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(())
}

/// Bidirectional overrides and isolates (they reorder printed text).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A new password: [`MIN_PASSWORD`] characters up to [`MAX_PASSWORD`] bytes.
pub fn check_password(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(AuthError::invalid(
            "password",
            format!("has {n} characters; at least {MIN_PASSWORD} are required"),
        ));
    }
    if password.len() > MAX_PASSWORD {
        return Err(AuthError::invalid(
            "password",
            format!("longer than {MAX_PASSWORD} bytes"),
        ));
    }
    Ok(())
}

fn roles_text(roles: &[Role]) -> String {
    let mut r = roles.to_vec();
    r.sort();
    r.dedup();
    r.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" ")
}

fn parse_roles(s: &str) -> Result<Vec<Role>, AuthError> {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| Role::parse(p).map_err(|_| AuthError::Corrupt(format!("unknown role {p:?}"))))
        .collect()
}

// ---------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------

/// The argon2id PHC string of `password` (fresh random salt, the crate's
/// default cost: 19 MiB, 2 passes, 1 lane — OWASP's recommendation).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let h: PasswordHash = argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| AuthError::Crypto(format!("cannot hash the password: {e}")))?;
    Ok(h.to_string())
}

/// Whether `password` matches the PHC string `phc` (constant time in the
/// hash comparison; an unreadable stored hash is an error).
fn password_matches(phc: &str, password: &str) -> Result<bool, AuthError> {
    let h = PasswordHash::new(phc)
        .map_err(|e| AuthError::Corrupt(format!("stored password hash: {e}")))?;
    Ok(argon2::Argon2::default()
        .verify_password(password.as_bytes(), &h)
        .is_ok())
}

/// A hash of a password nobody has, verified when the user does not exist
/// so that the answer takes as long as for a real user.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut pw = [0u8; 24];
        let _ = getrandom::fill(&mut pw);
        let pw: String = pw.iter().map(|b| format!("{b:02x}")).collect();
        hash_password(&pw).unwrap_or_default()
    })
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The public prefix of a presented token, if it has the token form.
fn token_prefix(token: &str) -> Option<&str> {
    let hex = token.strip_prefix(TOKEN_MARKER)?;
    (hex.len() == 2 * TOKEN_BYTES && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| &token[..PREFIX_LEN])
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

const USER_COLUMNS: &str = "name, display_name, password_hash IS NOT NULL, roles, disabled, \
     failed_logins, created_by, created_at, changed_by, changed_at";

fn user_from(r: &Row) -> Result<User, AuthError> {
    Ok(User {
        name: r.text(0)?.to_string(),
        display_name: r.text(1)?.to_string(),
        has_password: r.int(2)? != 0,
        roles: parse_roles(r.text(3)?)?,
        disabled: r.int(4)? != 0,
        failed_logins: r.int(5)?,
        created_by: r.text(6)?.to_string(),
        created_at: r.text(7)?.to_string(),
        changed_by: r.text(8)?.to_string(),
        changed_at: r.text(9)?.to_string(),
    })
}

const TOKEN_COLUMNS: &str = "prefix, owner, roles, label, created_by, created_at, expires_at, \
     revoked_by, revoked_at";

fn token_from(r: &Row) -> Result<TokenInfo, AuthError> {
    let opt = |i| -> Result<Option<String>, StoreError> { Ok(r.opt_text(i)?.map(str::to_string)) };
    Ok(TokenInfo {
        prefix: r.text(0)?.to_string(),
        owner: r.text(1)?.to_string(),
        roles: parse_roles(r.text(2)?)?,
        label: r.text(3)?.to_string(),
        created_by: r.text(4)?.to_string(),
        created_at: r.text(5)?.to_string(),
        expires_at: opt(6)?,
        revoked_by: opt(7)?,
        revoked_at: opt(8)?,
    })
}

/// PostgreSQL returns `IS NOT NULL` as a boolean, which the engine layer
/// reads as an integer; SQLite returns 0/1 already.
fn get_user(tx: &mut Tx<'_>, name: &str) -> Result<Option<User>, AuthError> {
    tx.query_opt_with(
        &format!("SELECT {USER_COLUMNS} FROM auth_users WHERE name = $1"),
        &[name.into()],
        user_from,
    )
}

/// An arbitrary constant: the PostgreSQL advisory lock that orders audit rows.
const PG_AUDIT_LOCK: i64 = 0x6174_6d70_6175_6474;

/// Appends one row to the audit trail (in the caller's transaction).
pub fn audit(
    tx: &mut Tx<'_>,
    at: Timestamp,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(), StoreError> {
    if tx.engine() == Engine::Postgres {
        // concurrent transactions would otherwise pick the same number
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[PG_AUDIT_LOCK.into()])?;
    }
    tx.execute(
        "INSERT INTO auth_audit (seq, at, actor, action, subject, detail) \
         SELECT COALESCE(MAX(seq), 0) + 1, CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), \
         CAST($4 AS TEXT), CAST($5 AS TEXT) FROM auth_audit",
        &[
            at.rfc3339().into(),
            actor.into(),
            action.into(),
            subject.into(),
            detail.into(),
        ],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------

/// Adds a user; `actor` is who does it (recorded as creator and in the
/// audit trail).
pub fn add_user(
    db: &Db,
    actor: &str,
    new: &NewUser<'_>,
    now: Timestamp,
) -> Result<User, AuthError> {
    check_name(new.name)?;
    if new.name == batch::Actor::engine().user {
        return Err(AuthError::invalid(
            "user name",
            format!(
                "{:?} is reserved: the batch engine's own entries (hold-time and overrun watch) are made under it",
                new.name
            ),
        ));
    }
    check_text("display name", new.display_name, false)?;
    if new.roles.is_empty() {
        return Err(AuthError::invalid(
            "roles",
            "a user needs at least one role",
        ));
    }
    // hashing is slow: done before the write transaction
    let hash = match new.password {
        Some(p) => {
            check_password(p)?;
            Some(hash_password(p)?)
        }
        None => None,
    };
    let roles = roles_text(new.roles);
    let at = now.rfc3339();
    db.transaction(|tx| -> Result<User, AuthError> {
        if get_user(tx, new.name)?.is_some() {
            return Err(AuthError::UserExists(new.name.to_string()));
        }
        tx.execute(
            "INSERT INTO auth_users (name, display_name, password_hash, roles, disabled, \
             failed_logins, created_by, created_at, changed_by, changed_at) \
             VALUES ($1, $2, $3, $4, 0, 0, $5, $6, $5, $6)",
            &[
                new.name.into(),
                new.display_name.into(),
                hash.clone().into(),
                roles.as_str().into(),
                actor.into(),
                at.as_str().into(),
            ],
        )?;
        audit(
            tx,
            now,
            actor,
            "user.add",
            new.name,
            &format!(
                "roles {roles}; {}",
                if hash.is_some() {
                    "password set"
                } else {
                    "no password (tokens only)"
                }
            ),
        )?;
        get_user(tx, new.name)?.ok_or_else(|| AuthError::NoSuchUser(new.name.to_string()))
    })
}

/// One user.
pub fn user(db: &Db, name: &str) -> Result<User, AuthError> {
    db.read(|tx| get_user(tx, name))?
        .ok_or_else(|| AuthError::NoSuchUser(name.to_string()))
}

/// Every user, by name.
pub fn list_users(db: &Db) -> Result<Vec<User>, AuthError> {
    db.read(|tx| -> Result<Vec<User>, AuthError> {
        tx.query(
            &format!("SELECT {USER_COLUMNS} FROM auth_users ORDER BY name"),
            &[],
        )?
        .iter()
        .map(user_from)
        .collect()
    })
}

/// Disables (`true`) or enables a user. A disabled user's tokens are
/// refused and its password is not accepted; enabling also clears the count
/// of wrong passwords.
pub fn set_disabled(
    db: &Db,
    actor: &str,
    name: &str,
    disabled: bool,
    reason: &str,
    now: Timestamp,
) -> Result<User, AuthError> {
    check_text("reason", reason, true)?;
    db.transaction(|tx| -> Result<User, AuthError> {
        if get_user(tx, name)?.is_none() {
            return Err(AuthError::NoSuchUser(name.to_string()));
        }
        tx.execute(
            "UPDATE auth_users SET disabled = $2, failed_logins = 0, changed_by = $3, \
             changed_at = $4 WHERE name = $1",
            &[
                name.into(),
                disabled.into(),
                actor.into(),
                now.rfc3339().into(),
            ],
        )?;
        audit(
            tx,
            now,
            actor,
            if disabled {
                "user.disable"
            } else {
                "user.enable"
            },
            name,
            reason,
        )?;
        get_user(tx, name)?.ok_or_else(|| AuthError::NoSuchUser(name.to_string()))
    })
}

/// Sets a new password for a user.
pub fn set_password(
    db: &Db,
    actor: &str,
    name: &str,
    password: &str,
    now: Timestamp,
) -> Result<(), AuthError> {
    check_password(password)?;
    let hash = hash_password(password)?;
    db.transaction(|tx| -> Result<(), AuthError> {
        let n = tx.execute(
            "UPDATE auth_users SET password_hash = $2, failed_logins = 0, changed_by = $3, \
             changed_at = $4 WHERE name = $1",
            &[
                name.into(),
                hash.as_str().into(),
                actor.into(),
                now.rfc3339().into(),
            ],
        )?;
        if n == 0 {
            return Err(AuthError::NoSuchUser(name.to_string()));
        }
        audit(tx, now, actor, "user.password", name, "password set")?;
        Ok(())
    })
}

/// Checks a password a user typed (log-in, or re-authentication for an
/// electronic signature). On success the user with all its roles; on
/// failure [`AuthError::Unauthenticated`] with a message that does not tell
/// whether the user exists. Every attempt is recorded in the audit trail
/// with `purpose` (e.g. `signature: released batch …`); after
/// [`MAX_FAILED_LOGINS`] consecutive failures the account is locked.
pub fn verify_password(
    db: &Db,
    name: &str,
    password: &str,
    purpose: &str,
    now: Timestamp,
) -> Result<User, AuthError> {
    const REFUSED: &str = "user name or password is wrong, or the account is disabled";
    check_text("purpose", purpose, true)?;
    if password.len() > MAX_PASSWORD || check_name(name).is_err() {
        return Err(AuthError::Unauthenticated(REFUSED.into()));
    }
    let stored = db.read(|tx| -> Result<Option<(User, Option<String>)>, AuthError> {
        let Some(r) = tx.query_opt(
            &format!("SELECT {USER_COLUMNS}, password_hash FROM auth_users WHERE name = $1"),
            &[name.into()],
        )?
        else {
            return Ok(None);
        };
        Ok(Some((user_from(&r)?, r.opt_text(10)?.map(str::to_string))))
    })?;
    let Some((user, Some(phc))) = stored else {
        // same work as for a real user: the time does not reveal who exists
        let _ = password_matches(dummy_hash(), password);
        return Err(AuthError::Unauthenticated(REFUSED.into()));
    };
    let matches = password_matches(&phc, password)?;
    let ok = matches && !user.disabled;
    let locked = db.transaction(|tx| -> Result<bool, AuthError> {
        let mut locked = false;
        if ok {
            tx.execute(
                "UPDATE auth_users SET failed_logins = 0 WHERE name = $1 AND failed_logins <> 0",
                &[name.into()],
            )?;
            audit(tx, now, name, "password.ok", name, purpose)?;
        } else {
            let why = if user.disabled {
                "account disabled"
            } else {
                "wrong password"
            };
            audit(
                tx,
                now,
                name,
                "password.refused",
                name,
                &format!("{why}; {purpose}"),
            )?;
            if matches || user.disabled {
                return Ok(false);
            }
            tx.execute(
                "UPDATE auth_users SET failed_logins = failed_logins + 1 WHERE name = $1",
                &[name.into()],
            )?;
            let n = tx
                .query_opt(
                    "SELECT failed_logins FROM auth_users WHERE name = $1",
                    &[name.into()],
                )?
                .map(|r| r.int(0))
                .transpose()?
                .unwrap_or(0);
            if n >= MAX_FAILED_LOGINS {
                tx.execute(
                    "UPDATE auth_users SET disabled = 1, changed_by = 'system', changed_at = $2 \
                     WHERE name = $1",
                    &[name.into(), now.rfc3339().into()],
                )?;
                audit(
                    tx,
                    now,
                    "system",
                    "user.lock",
                    name,
                    &format!("{n} wrong passwords in a row"),
                )?;
                locked = true;
            }
        }
        Ok(locked)
    })?;
    if ok {
        Ok(User {
            failed_logins: 0,
            ..user
        })
    } else if locked {
        Err(AuthError::Unauthenticated(format!(
            "{REFUSED}; after {MAX_FAILED_LOGINS} wrong passwords in a row the account is locked \
             until an administrator enables it"
        )))
    } else {
        Err(AuthError::Unauthenticated(REFUSED.into()))
    }
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

/// Makes a token for `owner`. `roles`: the roles it carries (each must be
/// one of the owner's; empty: all of them). `expires`: when it stops
/// working (`None`: never).
pub fn create_token(
    db: &Db,
    actor: &str,
    owner: &str,
    roles: &[Role],
    label: &str,
    expires: Option<Timestamp>,
    now: Timestamp,
) -> Result<NewToken, AuthError> {
    check_text("label", label, true)?;
    if let Some(e) = expires
        && e <= now
    {
        return Err(AuthError::invalid(
            "expiry",
            format!("{e} is not after now ({now})"),
        ));
    }
    db.transaction(|tx| -> Result<NewToken, AuthError> {
        let user = get_user(tx, owner)?.ok_or_else(|| AuthError::NoSuchUser(owner.to_string()))?;
        if user.disabled {
            return Err(AuthError::invalid(
                "user",
                format!("`{owner}` is disabled; enable it before making tokens"),
            ));
        }
        if let Some(r) = roles.iter().find(|r| !user.roles.contains(r)) {
            return Err(AuthError::invalid(
                "role",
                format!(
                    "`{owner}` does not hold the role {r} (holds: {})",
                    roles_text(&user.roles)
                ),
            ));
        }
        let roles = if roles.is_empty() {
            roles_text(&user.roles)
        } else {
            roles_text(roles)
        };
        // a new random token; a clash of the 48-bit public prefix is
        // astronomically rare, but is simply drawn again
        for _ in 0..4 {
            let mut raw = [0u8; TOKEN_BYTES];
            getrandom::fill(&mut raw)
                .map_err(|e| AuthError::Crypto(format!("no random numbers: {e}")))?;
            let secret = format!(
                "{TOKEN_MARKER}{}",
                raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            let prefix = &secret[..PREFIX_LEN];
            let taken = tx
                .query_opt(
                    "SELECT 1 FROM auth_tokens WHERE prefix = $1",
                    &[prefix.into()],
                )?
                .is_some();
            if taken {
                continue;
            }
            tx.execute(
                "INSERT INTO auth_tokens (prefix, sha256, owner, roles, label, created_by, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    prefix.into(),
                    sha256_hex(&secret).into(),
                    owner.into(),
                    roles.as_str().into(),
                    label.into(),
                    actor.into(),
                    now.rfc3339().into(),
                    expires.map(Timestamp::rfc3339).into(),
                ],
            )?;
            audit(
                tx,
                now,
                actor,
                "token.create",
                prefix,
                &format!(
                    "owner {owner}; roles {roles}; expires {}",
                    expires.map_or("never".into(), Timestamp::rfc3339)
                ),
            )?;
            let info =
                get_token(tx, prefix)?.ok_or_else(|| AuthError::NoSuchToken(prefix.into()))?;
            return Ok(NewToken { secret, info });
        }
        Err(AuthError::Crypto(
            "could not draw an unused token prefix".into(),
        ))
    })
}

fn get_token(tx: &mut Tx<'_>, prefix: &str) -> Result<Option<TokenInfo>, AuthError> {
    tx.query_opt_with(
        &format!("SELECT {TOKEN_COLUMNS} FROM auth_tokens WHERE prefix = $1"),
        &[prefix.into()],
        token_from,
    )
}

/// Revokes a token, named by its prefix (or the whole token). Revoking a
/// revoked token changes nothing and is not an error.
pub fn revoke_token(
    db: &Db,
    actor: &str,
    prefix: &str,
    reason: &str,
    now: Timestamp,
) -> Result<TokenInfo, AuthError> {
    check_text("reason", reason, true)?;
    let prefix = prefix.get(..PREFIX_LEN).unwrap_or(prefix);
    db.transaction(|tx| -> Result<TokenInfo, AuthError> {
        let t = get_token(tx, prefix)?.ok_or_else(|| AuthError::NoSuchToken(prefix.into()))?;
        if t.revoked_at.is_some() {
            return Ok(t);
        }
        tx.execute(
            "UPDATE auth_tokens SET revoked_by = $2, revoked_at = $3 WHERE prefix = $1",
            &[prefix.into(), actor.into(), now.rfc3339().into()],
        )?;
        audit(tx, now, actor, "token.revoke", prefix, reason)?;
        get_token(tx, prefix)?.ok_or_else(|| AuthError::NoSuchToken(prefix.into()))
    })
}

/// Tokens, of one owner or of everybody, by owner and prefix.
pub fn list_tokens(db: &Db, owner: Option<&str>) -> Result<Vec<TokenInfo>, AuthError> {
    db.read(|tx| -> Result<Vec<TokenInfo>, AuthError> {
        let rows = match owner {
            Some(o) => tx.query(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM auth_tokens WHERE owner = $1 ORDER BY owner, prefix"
                ),
                &[o.into()],
            )?,
            None => tx.query(
                &format!("SELECT {TOKEN_COLUMNS} FROM auth_tokens ORDER BY owner, prefix"),
                &[],
            )?,
        };
        rows.iter().map(token_from).collect()
    })
}

/// The principal a presented token stands for at `now`: refused when the
/// token is malformed, unknown, revoked or expired, or its owner is
/// disabled. The stored SHA-256 is compared in constant time.
pub fn authenticate(db: &Db, token: &str, now: Timestamp) -> Result<Principal, AuthError> {
    let refused = |why: &str| AuthError::Unauthenticated(why.to_string());
    let Some(prefix) = token_prefix(token) else {
        return Err(refused(
            "the bearer token is not an atmpflow API token (atf_ and 64 hex digits)",
        ));
    };
    let row = db.read(|tx| {
        tx.query_opt(
            "SELECT t.sha256, t.roles, t.expires_at, t.revoked_at, u.name, u.display_name, \
             u.roles, u.disabled FROM auth_tokens t JOIN auth_users u ON u.name = t.owner \
             WHERE t.prefix = $1",
            &[prefix.into()],
        )
    })?;
    let presented = sha256_hex(token);
    let Some(r) = row else {
        return Err(refused("unknown token"));
    };
    let stored = r.text(0)?;
    if !bool::from(stored.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(refused("unknown token"));
    }
    if r.opt_text(3)?.is_some() {
        return Err(refused("the token has been revoked"));
    }
    if let Some(e) = r.opt_text(2)?
        && e <= now.rfc3339().as_str()
    {
        return Err(refused(&format!("the token expired at {e}")));
    }
    if r.int(7)? != 0 {
        return Err(refused("the token's user is disabled"));
    }
    let held = parse_roles(r.text(6)?)?;
    let roles = parse_roles(r.text(1)?)?
        .into_iter()
        .filter(|x| held.contains(x))
        .collect();
    Ok(Principal {
        user: r.text(4)?.to_string(),
        display_name: r.text(5)?.to_string(),
        roles,
        token: prefix.to_string(),
    })
}

/// The audit trail, newest last: the `limit` most recent rows.
pub fn audit_trail(db: &Db, limit: u32) -> Result<Vec<AuditEntry>, AuthError> {
    let rows = db.read(|tx| {
        tx.query(
            "SELECT seq, at, actor, action, subject, detail FROM auth_audit \
             ORDER BY seq DESC LIMIT $1",
            &[i64::from(limit).into()],
        )
    })?;
    let mut out = rows
        .iter()
        .map(|r| -> Result<AuditEntry, AuthError> {
            Ok(AuditEntry {
                seq: r.int(0)?,
                at: r.text(1)?.to_string(),
                actor: r.text(2)?.to_string(),
                action: r.text(3)?.to_string(),
                subject: r.text(4)?.to_string(),
                detail: r.text(5)?.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.reverse();
    Ok(out)
}

/// Whether any user exists (a new database has none).
pub fn has_users(db: &Db) -> Result<bool, AuthError> {
    Ok(db
        .read(|tx| tx.query_opt("SELECT 1 FROM auth_users LIMIT 1", &[]))?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(1_796_313_599).to_string(), "2026-12-03T15:59:59Z");
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn token_form() {
        let t = format!("atf_{}", "0a".repeat(32));
        assert_eq!(token_prefix(&t), Some("atf_0a0a0a0a0a0a"));
        assert_eq!(token_prefix(&t.to_uppercase()), None);
        assert_eq!(token_prefix(&t[..t.len() - 1]), None);
        assert_eq!(token_prefix("atf_"), None);
        assert_eq!(token_prefix("Bearer"), None);
    }

    #[test]
    fn names_and_roles() {
        assert!(check_name("qp.mueller").is_ok());
        assert!(check_name("dev-01@line2").is_ok());
        for bad in ["", "Ana", "-x", "a b", "a\u{0}", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Role::parse("qualified_person").ok(),
            Some(Role::QualifiedPerson)
        );
        let e = Role::parse("root").expect_err("unknown").to_string();
        assert!(e.contains("reader, writer, admin"), "{e}");
        assert_eq!(
            roles_text(&[Role::Admin, Role::Reader, Role::Admin]),
            "reader admin"
        );
        assert!(check_text("display name", "Dr. A\u{202E}B", false).is_err());
    }
}
