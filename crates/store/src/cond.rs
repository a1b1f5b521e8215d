//! Conditional requests on one record (HTTP `ETag` / `If-Match`).
//!
//! An entity tag names one state of a record: its row version and a digest of
//! its JSON (`"<version>-<16 hex digits>"`), so that a record deleted and made
//! again, whose version starts over, does not answer to the tags of its
//! earlier life unless its content is the same.
//!
//! [`with_condition`] runs a request's handler with a [`Condition`] on one
//! record for the current thread. Every transaction the handler runs on this
//! thread then
//! - notes the tag of that record whenever it reads it (the tag of the state
//!   the handler saw, from the same snapshot — [`Observed::etag`]), and
//! - in a write transaction, refuses with [`StoreError::Precondition`] as soon
//!   as it reads the record (or before it writes it unread) in a state the
//!   `If-Match` does not name. The writes that follow are checked against the
//!   version read, so the test and the change are one atomic step even with
//!   several server processes on one database; a transaction that is run
//!   again after losing a race checks the new state again.

use std::cell::RefCell;

use sha2::{Digest, Sha256};

use crate::{Kind, StoreError};

/// What an `If-Match` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: the record must exist.
    Any,
    /// The record must be in one of these states (tags as sent, with quotes).
    Tags(Vec<String>),
}

impl IfMatch {
    /// Parses an `If-Match` header value: `*` or a comma-separated list of
    /// entity tags (`"…"` strong or `W/"…"` weak; a weak tag never matches,
    /// as `If-Match` compares strongly — RFC 9110 §13.1.1).
    pub fn parse(value: &str) -> Result<IfMatch, String> {
        let v = value.trim();
        if v == "*" {
            return Ok(IfMatch::Any);
        }
        let mut tags = Vec::new();
        let mut rest = v;
        loop {
            rest = rest.trim_start();
            let weak = rest.starts_with("W/");
            let body = if weak { &rest[2..] } else { rest };
            let Some(inner) = body.strip_prefix('"') else {
                return Err(format!(
                    "If-Match {value:?}: expected * or a list of quoted entity tags"
                ));
            };
            let Some(end) = inner.find('"') else {
                return Err(format!(
                    "If-Match {value:?}: an entity tag lacks its closing quote"
                ));
            };
            let tag = &inner[..end];
            if tag.bytes().any(|b| b < 0x21 || b == 0x7f) {
                return Err(format!(
                    "If-Match {value:?}: an entity tag holds a space or control character"
                ));
            }
            if !weak {
                tags.push(format!("\"{tag}\""));
            }
            rest = inner[end + 1..].trim_start();
            match rest.strip_prefix(',') {
                Some(r) => rest = r,
                None if rest.is_empty() => break,
                None => {
                    return Err(format!(
                        "If-Match {value:?}: entity tags must be separated by commas"
                    ));
                }
            }
        }
        Ok(IfMatch::Tags(tags))
    }

    fn admits(&self, etag: Option<&str>) -> bool {
        match (self, etag) {
            (_, None) => false,
            (IfMatch::Any, Some(_)) => true,
            (IfMatch::Tags(t), Some(e)) => t.iter().any(|x| x == e),
        }
    }
}

/// A condition on one record for the transactions of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: Kind,
    pub id: String,
    /// `None`: nothing is required, the record's tag is only noted.
    pub if_match: Option<IfMatch>,
}

/// What the transactions run under a [`Condition`] saw of its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The tag of the record as last read (`None`: not read, or absent).
    pub etag: Option<String>,
}

/// The entity tag of a record in version `version` with JSON `json`.
pub fn etag(version: i64, json: &[u8]) -> String {
    let d = Sha256::digest(json);
    let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{version}-{hex}\"")
}

struct Active {
    cond: Condition,
    observed: Observed,
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

/// Clears the condition of this thread when the handler returns or panics.
struct Reset(Option<Active>);

impl Drop for Reset {
    fn drop(&mut self) {
        let prev = self.0.take();
        ACTIVE.with(|a| *a.borrow_mut() = prev);
    }
}

/// Runs `f` with `cond` in force for the transactions it runs on this thread
/// (see the module documentation); returns its result and what was seen.
pub fn with_condition<R>(cond: Condition, f: impl FnOnce() -> R) -> (R, Observed) {
    let prev = ACTIVE.with(|a| {
        a.borrow_mut().replace(Active {
            cond,
            observed: Observed::default(),
        })
    });
    let reset = Reset(prev);
    let r = f();
    let observed = ACTIVE
        .with(|a| a.borrow().as_ref().map(|x| x.observed.clone()))
        .unwrap_or_default();
    drop(reset);
    (r, observed)
}

/// Whether a condition is in force on record `(kind, id)` (so that a write
/// must read it first).
pub(crate) fn applies(kind: Kind, id: &str) -> bool {
    ACTIVE.with(|a| {
        a.borrow()
            .as_ref()
            .is_some_and(|x| x.cond.kind == kind && x.cond.id == id && x.cond.if_match.is_some())
    })
}

/// Notes a read of `(kind, id)`: `row` is its version and JSON, `None` when
/// absent. In a write transaction, a state the `If-Match` does not name is an
/// error.
pub(crate) fn observe(
    kind: Kind,
    id: &str,
    row: Option<(i64, &[u8])>,
    writing: bool,
) -> Result<(), StoreError> {
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        let Some(act) = a.as_mut().filter(|x| x.cond.kind == kind && x.cond.id == id) else {
            return Ok(());
        };
        let tag = row.map(|(v, json)| etag(v, json));
        act.observed.etag = tag.clone();
        match &act.cond.if_match {
            Some(m) if writing && !m.admits(tag.as_deref()) => {
                Err(StoreError::Precondition(match tag {
                    Some(t) => format!(
                        "{} {id:?} is now in state {t}, not the one If-Match names; nothing was changed (read it again)",
                        kind.name()
                    ),
                    None => format!(
                        "{} {id:?} does not exist, so it cannot match If-Match; nothing was changed",
                        kind.name()
                    ),
                }))
            }
            _ => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_parses_lists_star_and_weak_tags() {
        assert_eq!(IfMatch::parse(" * "), Ok(IfMatch::Any));
        assert_eq!(
            IfMatch::parse(r#""1-ab", W/"2-cd" ,"3-ef""#),
            Ok(IfMatch::Tags(vec!["\"1-ab\"".into(), "\"3-ef\"".into()]))
        );
        for bad in [
            "",
            "1-ab",
            r#""1-ab"#,
            r#""a" "b""#,
            "\"a b\"",
            "\"a\",",
            "W/",
        ] {
            assert!(IfMatch::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn tags_differ_by_version_and_by_content() {
        assert_ne!(etag(1, b"{}"), etag(2, b"{}"));
        assert_ne!(etag(1, b"{}"), etag(1, b"[]"));
        assert_eq!(etag(7, b"{}"), etag(7, b"{}"));
        assert!(IfMatch::Any.admits(Some("\"x\"")));
        assert!(!IfMatch::Any.admits(None));
    }
}
