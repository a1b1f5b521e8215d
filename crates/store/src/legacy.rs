//! Reading databases of the earlier file format (redb: one table per kind of
//! record, identifier → JSON), for `atmpflow db migrate --from OLD.redb`.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{Kind, StoreError};

fn table(kind: Kind) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(match kind {
        Kind::Shell => "shells",
        Kind::Submodel => "submodels",
        Kind::ConceptDescription => "concept_descriptions",
        Kind::ShellDescriptor => "shell_descriptors",
        Kind::SubmodelDescriptor => "submodel_descriptors",
        Kind::AssetLink => "asset_links",
    })
}

/// Every record of a redb database of the earlier format, by kind and then
/// identifier. A table that does not exist holds nothing.
pub fn read_all(path: &Path) -> Result<Vec<(Kind, String, Vec<u8>)>, StoreError> {
    let err = |e: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("{}: cannot read as redb: {e}", path.display()))
    };
    if !path.is_file() {
        return Err(StoreError::Unavailable(format!(
            "{}: no such file",
            path.display()
        )));
    }
    let db = Database::open(path).map_err(|e| err(&e))?;
    let txn = db.begin_read().map_err(|e| err(&e))?;
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let t = match txn.open_table(table(kind)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => continue,
            Err(e) => return Err(err(&e)),
        };
        for item in t.iter().map_err(|e| err(&e))? {
            let (k, v) = item.map_err(|e| err(&e))?;
            out.push((kind, k.value().to_string(), v.value().to_vec()));
        }
    }
    Ok(out)
}

/// Whether `path` starts like a redb file (its magic number).
pub fn is_redb(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 9];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"redb\x1A\x0A\xA9\x0D\x0A"
}

/// Writes records in the earlier format (tests of the migration).
pub fn write_all(path: &Path, records: &[(Kind, &str, &[u8])]) -> Result<(), StoreError> {
    let err = |e: &dyn std::fmt::Display| StoreError::Db(format!("{}: {e}", path.display()));
    let db = Database::create(path).map_err(|e| err(&e))?;
    let txn = db.begin_write().map_err(|e| err(&e))?;
    {
        for kind in Kind::ALL {
            let mut t = txn.open_table(table(kind)).map_err(|e| err(&e))?;
            for (k, id, json) in records {
                if *k == kind {
                    t.insert(*id, *json).map_err(|e| err(&e))?;
                }
            }
        }
    }
    txn.commit().map_err(|e| err(&e))?;
    Ok(())
}
