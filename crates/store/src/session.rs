//! Sessions of the web pages (migration 110).
//!
//! A person logs in with name and password ([`crate::auth::verify_password`],
//! which keeps the audit trail and the lock-out); [`create`] then makes a
//! session: 256 random bits handed to the browser once (in a cookie) and
//! stored only as their SHA-256, with the user, a CSRF token (another 256
//! random bits that every form of the session carries) and an expiry.
//! [`lookup`] reads session and user on every request, so logging out, an
//! expired session, a disabled user and a removed role take effect at once,
//! on every server process sharing the database. [`end`] deletes the row
//! (log-out). Creating a session removes the expired ones.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Db;
use crate::auth::{self, AuthError, Principal, Timestamp};

/// Bytes of randomness in a session id and in a CSRF token.
const SECRET_BYTES: usize = 32;
/// The `token` field of a principal authenticated by a session (in place of
/// an API token's prefix, it names the way the person came in).
pub const SESSION_TOKEN: &str = "web session";

/// A session just made: the only time its id exists outside the browser.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session id for the cookie (64 hex digits); not stored.
    pub secret: String,
    /// The CSRF token every form of the session carries.
    pub csrf: String,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// A live session: who holds it, with the user's roles now, and its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
}

fn random_hex() -> Result<String, AuthError> {
    let mut b = [0u8; SECRET_BYTES];
    getrandom::fill(&mut b)
        .map_err(|e| AuthError::Crypto(format!("no random numbers for a session: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `s` has the form of a session id (64 lower-case hex digits).
fn well_formed(s: &str) -> bool {
    s.len() == 2 * SECRET_BYTES && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Makes a session for `user` (whose password the caller has just checked)
/// that lasts `lifetime_s` seconds from `now`.
pub fn create(
    db: &Db,
    user: &str,
    lifetime_s: i64,
    now: Timestamp,
) -> Result<NewSession, AuthError> {
    let secret = random_hex()?;
    let csrf = random_hex()?;
    let expires_at = Timestamp(now.0.saturating_add(lifetime_s.max(1)));
    db.transaction(|tx| -> Result<(), AuthError> {
        tx.execute(
            "DELETE FROM web_sessions WHERE expires_at <= $1",
            &[now.rfc3339().into()],
        )?;
        tx.execute(
            "INSERT INTO web_sessions (sha256, user_name, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                sha256_hex(&secret).into(),
                user.into(),
                csrf.as_str().into(),
                now.rfc3339().into(),
                expires_at.rfc3339().into(),
            ],
        )?;
        auth::audit(
            tx,
            now,
            user,
            "session.start",
            user,
            &format!("web session until {}", expires_at.rfc3339()),
        )?;
        Ok(())
    })?;
    Ok(NewSession {
        secret,
        csrf,
        expires_at,
    })
}

/// The session whose id is `secret` at `now`, or `None` when it is
/// malformed, unknown, ended or expired, or its user is disabled.
pub fn lookup(db: &Db, secret: &str, now: Timestamp) -> Result<Option<Session>, AuthError> {
    if !well_formed(secret) {
        return Ok(None);
    }
    let hash = sha256_hex(secret);
    let row = db.read(|tx| {
        tx.query_opt(
            "SELECT s.sha256, s.csrf, s.expires_at, u.name, u.display_name, u.roles, u.disabled \
             FROM web_sessions s JOIN auth_users u ON u.name = s.user_name WHERE s.sha256 = $1",
            &[hash.as_str().into()],
        )
    })?;
    let Some(r) = row else {
        return Ok(None);
    };
    // the row was found by the hash; compare again in constant time anyway
    if !bool::from(r.text(0)?.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(None);
    }
    if r.text(2)? <= now.rfc3339().as_str() || r.int(6)? != 0 {
        return Ok(None);
    }
    let roles = r
        .text(5)?
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| auth::Role::parse(p).map_err(|_| AuthError::Corrupt(format!("role {p:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Session {
        principal: Principal {
            user: r.text(3)?.to_string(),
            display_name: r.text(4)?.to_string(),
            roles,
            token: SESSION_TOKEN.to_string(),
        },
        csrf: r.text(1)?.to_string(),
    }))
}

/// Ends the session `secret` (log-out); true when there was one.
pub fn end(db: &Db, secret: &str, now: Timestamp) -> Result<bool, AuthError> {
    if !well_formed(secret) {
        return Ok(false);
    }
    let hash = sha256_hex(secret);
    db.transaction(|tx| -> Result<bool, AuthError> {
        let Some(r) = tx.query_opt(
            "SELECT user_name FROM web_sessions WHERE sha256 = $1",
            &[hash.as_str().into()],
        )?
        else {
            return Ok(false);
        };
        let user = r.text(0)?.to_string();
        tx.execute(
            "DELETE FROM web_sessions WHERE sha256 = $1",
            &[hash.as_str().into()],
        )?;
        auth::audit(tx, now, &user, "session.end", &user, "logged out")?;
        Ok(true)
    })
}

/// Whether `presented` is the session's CSRF token (constant time).
pub fn csrf_matches(session: &Session, presented: &str) -> bool {
    !presented.is_empty() && bool::from(session.csrf.as_bytes().ct_eq(presented.as_bytes()))
}

/// A fresh random password (24 hex digits, 96 bits), for demo accounts.
pub fn random_password() -> Result<String, AuthError> {
    Ok(random_hex()?[..24].to_string())
}
