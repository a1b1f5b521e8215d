//! Replayed batches kept between transactions, so that a request on a long
//! record does not re-read, re-parse and re-hash every entry it has.
//!
//! [`crate::batch::load`] replays a batch from its stored entries (the whole
//! hash chain checked) the first time this [`crate::Db`] handle meets it. The
//! state a committed transaction leaves is kept here, under the batch id,
//! with the head row it belongs to ([`Head`]: version, head entry and hash,
//! head of the request chain, recipe SHA-256). A later load takes the kept
//! state only when the head row it reads *in its own transaction* is that
//! head: a write by another process or another handle moves the version and
//! the heads, so its batch is replayed again from the database; a
//! transaction that fails or rolls back puts nothing back, and the state it
//! took is gone (the next load replays).
//!
//! The cache holds at most [`CAPACITY`] batches; the one used least recently
//! is dropped first. `batch verify` and the reports read every stored row
//! whatever is kept here.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::batch::Stored;

/// Most batches one database handle keeps replayed.
pub const CAPACITY: usize = 256;

/// The head row a replayed state belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub version: i64,
    pub head_seq: i64,
    pub head_hash: String,
    pub requests_head: String,
    pub recipe_sha256: String,
}

/// Replayed batches by id (see the module documentation).
#[derive(Debug)]
pub(crate) struct BatchCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    /// Batch id → (last use, state).
    map: HashMap<String, (u64, Stored)>,
    tick: u64,
}

impl BatchCache {
    pub(crate) fn new(capacity: usize) -> BatchCache {
        BatchCache {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Takes the kept state of batch `id` out if it belongs to `head`; a kept
    /// state of another head is dropped.
    pub(crate) fn take(&self, id: &str, head: &Head) -> Option<Stored> {
        let (_, s) = self.inner.lock().map.remove(id)?;
        (s.head() == *head).then_some(s)
    }

    /// Keeps a state a transaction committed (or read). A kept state of a
    /// later version of the same batch stays instead.
    pub(crate) fn put(&self, s: Stored) {
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let id = s.batch.id().to_string();
        if inner
            .map
            .get(&id)
            .is_some_and(|(_, kept)| kept.version > s.version)
        {
            return;
        }
        inner.map.insert(id, (tick, s));
        if inner.map.len() > self.capacity {
            let oldest = inner
                .map
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                inner.map.remove(&k);
            }
        }
    }

    /// How many batches are kept.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    /// Whether batch `id` is kept.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.inner.lock().map.contains_key(id)
    }
}
