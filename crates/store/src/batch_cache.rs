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
//! The cache holds at most [`CAPACITY`] batches and records of at most
//! [`MEMORY_BUDGET`] bytes in all (`Batch::memory_estimate`; a batch streaming
//! a device series grows by an entry a second, so the count of batches alone
//! does not bound the memory); the
//! batch used least recently is dropped first, and the batch just kept stays
//! whatever its size. A dropped batch costs one replay at its next request.
//! `batch verify` and the reports read every stored row whatever is kept
//! here.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Most batches one database handle keeps replayed.
pub const CAPACITY: usize = 256;

/// Most memory, in bytes as `Batch::memory_estimate` counts it, the records of
/// the batches one handle keeps take together: 2 GiB (about 1.9 million
/// one-second blocks of ten samples, or 260,000 one-minute blocks of 600).
pub const MEMORY_BUDGET: usize = 2 << 30;

/// The head row a replayed state belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub version: i64,
    pub head_seq: i64,
    pub head_hash: String,
    pub requests_head: String,
    pub recipe_sha256: String,
}

/// What the cache keeps of a batch: its id, the version and head row it
/// belongs to, and the memory its record takes (the store's replayed batch).
pub(crate) trait Kept {
    /// The batch id.
    fn id(&self) -> &str;
    /// Version of the head row.
    fn version(&self) -> i64;
    /// The head row the state belongs to.
    fn head(&self) -> Head;
    /// Estimated memory of the record in bytes.
    fn memory(&self) -> usize;
}

/// Replayed batches by id (see the module documentation).
#[derive(Debug)]
pub(crate) struct BatchCache<S> {
    inner: Mutex<Inner<S>>,
    capacity: usize,
    memory_budget: usize,
}

#[derive(Debug)]
struct Inner<S> {
    /// Batch id → (last use, state).
    map: HashMap<String, (u64, S)>,
    tick: u64,
    /// Estimated memory of the kept batches' records together.
    memory: usize,
}

impl<S: Kept> Inner<S> {
    fn remove(&mut self, id: &str) -> Option<S> {
        let (_, s) = self.map.remove(id)?;
        self.memory -= s.memory();
        Some(s)
    }
}

impl<S: Kept> BatchCache<S> {
    pub(crate) fn new(capacity: usize, memory_budget: usize) -> BatchCache<S> {
        BatchCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                tick: 0,
                memory: 0,
            }),
            capacity: capacity.max(1),
            memory_budget,
        }
    }

    /// Takes the kept state of batch `id` out if it belongs to `head`; a kept
    /// state of another head is dropped.
    pub(crate) fn take(&self, id: &str, head: &Head) -> Option<S> {
        let s = self.inner.lock().remove(id)?;
        (s.head() == *head).then_some(s)
    }

    /// Keeps a state a transaction committed (or read). A kept state of a
    /// later version of the same batch stays instead. Batches used least
    /// recently are dropped until the capacity and the memory budget hold (the
    /// state just kept is never dropped here).
    pub(crate) fn put(&self, s: S) {
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let id = s.id().to_string();
        if inner
            .map
            .get(&id)
            .is_some_and(|(_, kept)| kept.version() > s.version())
        {
            return;
        }
        inner.remove(&id);
        inner.memory += s.memory();
        inner.map.insert(id.clone(), (tick, s));
        while inner.map.len() > self.capacity
            || (inner.memory > self.memory_budget && inner.map.len() > 1)
        {
            let oldest = inner
                .map
                .iter()
                .filter(|(k, _)| **k != id)
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    inner.remove(&k);
                }
                None => break,
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
