//! `store`: the embedded database behind `atmpflow serve`.
//!
//! One file (redb: pure Rust, ACID, copy-on-write B-trees, crash-safe). Each
//! kind of record has its own table keyed by identifier, holding the record's
//! JSON. Every change happens inside [`Store::write`]: the closure's changes
//! are committed together when it returns `Ok` and dropped entirely when it
//! returns `Err` or panics, so a failed or interrupted write leaves nothing
//! partial behind. Readers see the last committed state.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

/// What a record is; each kind is one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Shell,
    Submodel,
    ConceptDescription,
    ShellDescriptor,
    SubmodelDescriptor,
    /// Discovery links added explicitly (asset ids → shell id), beyond those
    /// the shells' asset information already carries.
    AssetLink,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Shell,
        Kind::Submodel,
        Kind::ConceptDescription,
        Kind::ShellDescriptor,
        Kind::SubmodelDescriptor,
        Kind::AssetLink,
    ];

    fn table(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(match self {
            Kind::Shell => "shells",
            Kind::Submodel => "submodels",
            Kind::ConceptDescription => "concept_descriptions",
            Kind::ShellDescriptor => "shell_descriptors",
            Kind::SubmodelDescriptor => "submodel_descriptors",
            Kind::AssetLink => "asset_links",
        })
    }
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(String),
    #[error("{kind:?} `{id}` already exists")]
    Conflict { kind: Kind, id: String },
    #[error("{kind:?} `{id}` not found")]
    NotFound { kind: Kind, id: String },
}

fn dberr<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// An open database file.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

/// The changes of one write transaction (see [`Store::write`]).
pub struct Tx<'a> {
    txn: &'a WriteTransaction,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl Tx<'_> {
    /// Reads a record as this transaction sees it.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.txn.open_table(kind.table()).map_err(dberr)?;
        let v = t.get(id).map_err(dberr)?.map(|g| g.value().to_vec());
        Ok(v)
    }

    /// Inserts or replaces a record.
    pub fn put(&mut self, kind: Kind, id: &str, json: &[u8]) -> Result<(), StoreError> {
        let mut t = self.txn.open_table(kind.table()).map_err(dberr)?;
        t.insert(id, json).map_err(dberr)?;
        Ok(())
    }

    /// Inserts a record that must not exist yet.
    pub fn create(&mut self, kind: Kind, id: &str, json: &[u8]) -> Result<(), StoreError> {
        let mut t = self.txn.open_table(kind.table()).map_err(dberr)?;
        if t.get(id).map_err(dberr)?.is_some() {
            return Err(StoreError::Conflict {
                kind,
                id: id.to_string(),
            });
        }
        t.insert(id, json).map_err(dberr)?;
        Ok(())
    }

    /// Replaces a record that must exist.
    pub fn replace(&mut self, kind: Kind, id: &str, json: &[u8]) -> Result<(), StoreError> {
        let mut t = self.txn.open_table(kind.table()).map_err(dberr)?;
        if t.get(id).map_err(dberr)?.is_none() {
            return Err(StoreError::NotFound {
                kind,
                id: id.to_string(),
            });
        }
        t.insert(id, json).map_err(dberr)?;
        Ok(())
    }

    /// Deletes a record; whether it existed.
    pub fn delete(&mut self, kind: Kind, id: &str) -> Result<bool, StoreError> {
        let mut t = self.txn.open_table(kind.table()).map_err(dberr)?;
        let existed = t.remove(id).map_err(dberr)?.is_some();
        Ok(existed)
    }

    /// Deletes a record that must exist.
    pub fn remove(&mut self, kind: Kind, id: &str) -> Result<(), StoreError> {
        if self.delete(kind, id)? {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                kind,
                id: id.to_string(),
            })
        }
    }

    /// All records of a kind, ordered by id.
    pub fn list(&self, kind: Kind) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = self.txn.open_table(kind.table()).map_err(dberr)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(dberr)? {
            let (k, v) = item.map_err(dberr)?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }
}

impl Store {
    /// Opens the database file, creating it (and its tables) if needed.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::create(path).map_err(dberr)?;
        let txn = db.begin_write().map_err(dberr)?;
        for k in Kind::ALL {
            txn.open_table(k.table()).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)?;
        Ok(Store { db })
    }

    /// Reads one record.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let t = txn.open_table(kind.table()).map_err(dberr)?;
        let v = t.get(id).map_err(dberr)?.map(|g| g.value().to_vec());
        Ok(v)
    }

    /// All records of a kind, ordered by id.
    pub fn list(&self, kind: Kind) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let t = txn.open_table(kind.table()).map_err(dberr)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(dberr)? {
            let (k, v) = item.map_err(dberr)?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Number of records of a kind.
    pub fn count(&self, kind: Kind) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        let txn = self.db.begin_read().map_err(dberr)?;
        let t = txn.open_table(kind.table()).map_err(dberr)?;
        t.len().map_err(dberr)
    }

    /// Runs `f` in one write transaction: committed if `f` returns `Ok`,
    /// rolled back (nothing stored) if it returns `Err` or panics.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let txn = self.db.begin_write().map_err(dberr)?;
        let result = {
            let mut tx = Tx { txn: &txn };
            f(&mut tx)
        };
        match result {
            Ok(v) => {
                txn.commit().map_err(dberr)?;
                Ok(v)
            }
            Err(e) => {
                txn.abort().map_err(dberr)?;
                Err(e)
            }
        }
    }
}
