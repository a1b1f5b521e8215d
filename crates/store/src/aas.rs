//! The AAS records: shells, submodels, concept descriptions, registry
//! descriptors and discovery links, one table each (migration 1), with the
//! fields lists filter on kept in columns and side tables so that a filtered
//! list or a look-up reads only what it returns.
//!
//! Index fields are derived from the stored JSON here, in one place, so they
//! can never disagree with it.

use serde_json::Value as Json;

use crate::engine::Value;
use crate::{Seen, StoreError, Tx, cond};

/// What a record is; each kind is one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Shell,
    Submodel,
    ConceptDescription,
    ShellDescriptor,
    SubmodelDescriptor,
    /// Discovery links of one shell id (the asset ids it is found by): those
    /// of a stored shell's asset information and those added explicitly.
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

    /// The table holding this kind.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Shell => "aas_shells",
            Kind::Submodel => "aas_submodels",
            Kind::ConceptDescription => "aas_concept_descriptions",
            Kind::ShellDescriptor => "aas_shell_descriptors",
            Kind::SubmodelDescriptor => "aas_submodel_descriptors",
            Kind::AssetLink => "aas_asset_links",
        }
    }

    /// A short name (messages, `aas_semantic_ids.kind`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Shell => "shell",
            Kind::Submodel => "submodel",
            Kind::ConceptDescription => "concept_description",
            Kind::ShellDescriptor => "shell_descriptor",
            Kind::SubmodelDescriptor => "submodel_descriptor",
            Kind::AssetLink => "asset_link",
        }
    }
}

/// Conditions of a filtered list; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub id_short: Option<String>,
    /// (name, value) pairs: `globalAssetId` matches a shell's global asset
    /// id, any other name its specific asset ids (shells only).
    pub asset_ids: Vec<(String, String)>,
    /// A key value of the semantic id (submodels and submodel descriptors).
    pub semantic_id: Option<String>,
    /// Shell descriptors only.
    pub asset_kind: Option<String>,
    /// Shell descriptors only.
    pub asset_type: Option<String>,
}

/// One page of a list: records in identifier order and the identifier the
/// next page starts at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<(String, Vec<u8>)>,
    pub next: Option<String>,
}

/// The index fields of one record.
#[derive(Debug, Default)]
struct Fields {
    id_short: Option<String>,
    asset_kind: Option<String>,
    asset_type: Option<String>,
    /// (kind, name, value)
    asset_ids: Vec<(&'static str, String, String)>,
    semantic_ids: Vec<String>,
    submodel_refs: Vec<String>,
}

fn str_at<'a>(v: &'a Json, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Json::as_str)
}

fn key_values(reference: Option<&Json>) -> Vec<String> {
    reference
        .and_then(|r| r.get("keys"))
        .and_then(Json::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| str_at(k, "value").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn specific_ids(list: Option<&Json>, kind: &'static str) -> Vec<(&'static str, String, String)> {
    list.and_then(Json::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|a| {
                    Some((
                        kind,
                        str_at(a, "name")?.to_string(),
                        str_at(a, "value")?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn fields(kind: Kind, json: &[u8]) -> Fields {
    let Ok(v) = serde_json::from_slice::<Json>(json) else {
        return Fields::default();
    };
    let mut f = Fields {
        id_short: str_at(&v, "idShort").map(str::to_string),
        ..Fields::default()
    };
    match kind {
        Kind::Shell => {
            if let Some(ai) = v.get("assetInformation") {
                if let Some(g) = str_at(ai, "globalAssetId") {
                    f.asset_ids
                        .push(("global", "globalAssetId".into(), g.to_string()));
                }
                f.asset_ids
                    .extend(specific_ids(ai.get("specificAssetIds"), "specific"));
            }
            f.submodel_refs = v
                .get("submodels")
                .and_then(Json::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter_map(|r| key_values(Some(r)).into_iter().next())
                        .collect()
                })
                .unwrap_or_default();
        }
        Kind::Submodel | Kind::SubmodelDescriptor => {
            f.semantic_ids = key_values(v.get("semanticId"));
        }
        Kind::ShellDescriptor => {
            f.asset_kind = str_at(&v, "assetKind").map(str::to_string);
            f.asset_type = str_at(&v, "assetType").map(str::to_string);
        }
        Kind::AssetLink => {
            f.id_short = None;
            f.asset_ids = specific_ids(Some(&v), "link");
        }
        Kind::ConceptDescription => {}
    }
    f
}

fn text(kind: Kind, id: &str, json: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(json.to_vec()).map_err(|e| StoreError::Invalid {
        kind,
        id: id.to_string(),
        reason: format!("not UTF-8 text: {e}"),
    })
}

fn stale(kind: Kind, id: &str) -> StoreError {
    StoreError::Retry(format!(
        "{} {id:?} was changed by another writer during this change",
        kind.name()
    ))
}

impl Tx<'_> {
    fn check_writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            Err(StoreError::Db(
                "write attempted in a read-only transaction".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// A record under a condition ([`cond::with_condition`]) that this
    /// transaction has not read yet is read (and so checked) before it is
    /// written.
    fn check_condition(&mut self, kind: Kind, id: &str) -> Result<(), StoreError> {
        if cond::applies(kind, id) && !self.seen.contains_key(&(kind, id.to_string())) {
            self.get(kind, id)?;
        }
        Ok(())
    }

    /// Reads a record as this transaction sees it.
    pub fn get(&mut self, kind: Kind, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let lock = if self.lock_reads { " FOR UPDATE" } else { "" };
        let sql = format!(
            "SELECT json, version FROM {} WHERE id = $1{lock}",
            kind.table()
        );
        let row = self.query_opt(&sql, &[id.into()])?;
        let (seen, out) = match row {
            Some(r) => (
                Seen::Version(r.int(1)?),
                Some(r.text(0)?.as_bytes().to_vec()),
            ),
            None => (Seen::Absent, None),
        };
        let key = (kind, id.to_string());
        let written = matches!(self.seen.get(&key), Some(Seen::Written));
        if !written {
            let row = match (seen, &out) {
                (Seen::Version(v), Some(json)) => Some((v, json.as_slice())),
                _ => None,
            };
            // a record this transaction wrote is no longer the one the
            // condition was about
            cond::observe(kind, id, row, !self.read_only)?;
            self.seen.insert(key, seen);
        }
        Ok(out)
    }

    /// The version of a record (incremented by every change), if it exists.
    pub fn version(&mut self, kind: Kind, id: &str) -> Result<Option<i64>, StoreError> {
        let sql = format!("SELECT version FROM {} WHERE id = $1", kind.table());
        match self.query_opt(&sql, &[id.into()])? {
            Some(r) => Ok(Some(r.int(0)?)),
            None => Ok(None),
        }
    }

    /// Writes the row, checked against what this transaction read of it.
    /// `must`: Some(true) the record must exist, Some(false) must not.
    fn write_row(
        &mut self,
        kind: Kind,
        id: &str,
        json: &[u8],
        must: Option<bool>,
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        self.check_condition(kind, id)?;
        let body = text(kind, id, json)?;
        let f = fields(kind, json);
        let t = kind.table();
        let key = (kind, id.to_string());
        let seen = self.seen.get(&key).copied();
        let conflict = || StoreError::Conflict {
            kind,
            id: id.to_string(),
        };
        let not_found = || StoreError::NotFound {
            kind,
            id: id.to_string(),
        };
        let extra = matches!(kind, Kind::ShellDescriptor);
        let (cols, vals, sets) = if extra {
            (
                "id, id_short, json, version, asset_kind, asset_type",
                "$1, $2, $3, 1, $4, $5",
                "id_short = $2, json = $3, asset_kind = $4, asset_type = $5",
            )
        } else {
            (
                "id, id_short, json, version",
                "$1, $2, $3, 1",
                "id_short = $2, json = $3",
            )
        };
        let mut params: Vec<Value> = vec![id.into(), f.id_short.clone().into(), body.into()];
        if extra {
            params.push(f.asset_kind.clone().into());
            params.push(f.asset_type.clone().into());
        }
        let insert =
            format!("INSERT INTO {t} ({cols}) VALUES ({vals}) ON CONFLICT (id) DO NOTHING");
        match (seen, must) {
            (Some(Seen::Version(_)), Some(false)) => return Err(conflict()),
            (Some(Seen::Absent), Some(true)) => return Err(not_found()),
            (Some(Seen::Version(v)), _) => {
                params.push(Value::Int(v));
                let n = params.len();
                let sql = format!(
                    "UPDATE {t} SET {sets}, version = version + 1 WHERE id = $1 AND version = ${n}"
                );
                if self.execute(&sql, &params)? == 0 {
                    let e = stale(kind, id);
                    return self.note(Err(e));
                }
            }
            (Some(Seen::Absent), _) => {
                if self.execute(&insert, &params)? == 0 {
                    let e = stale(kind, id);
                    return self.note(Err(e));
                }
            }
            (None, Some(false)) => {
                if self.execute(&insert, &params)? == 0 {
                    return Err(conflict());
                }
            }
            (None | Some(Seen::Written), Some(true)) => {
                let sql = format!("UPDATE {t} SET {sets}, version = version + 1 WHERE id = $1");
                if self.execute(&sql, &params)? == 0 {
                    return Err(not_found());
                }
            }
            (None | Some(Seen::Written), _) => {
                let sql = format!(
                    "INSERT INTO {t} ({cols}) VALUES ({vals}) \
                     ON CONFLICT (id) DO UPDATE SET {sets}, version = {t}.version + 1"
                );
                self.execute(&sql, &params)?;
            }
        }
        self.seen.insert(key, Seen::Written);
        self.reindex(kind, id, &f)
    }

    fn unindex(&mut self, kind: Kind, id: &str) -> Result<(), StoreError> {
        match kind {
            Kind::Shell => {
                self.execute(
                    "DELETE FROM aas_asset_ids WHERE owner = $1 AND kind IN ('global', 'specific')",
                    &[id.into()],
                )?;
                self.execute(
                    "DELETE FROM aas_submodel_refs WHERE shell_id = $1",
                    &[id.into()],
                )?;
            }
            Kind::AssetLink => {
                self.execute(
                    "DELETE FROM aas_asset_ids WHERE owner = $1 AND kind = 'link'",
                    &[id.into()],
                )?;
            }
            Kind::Submodel | Kind::SubmodelDescriptor => {
                self.execute(
                    "DELETE FROM aas_semantic_ids WHERE owner = $1 AND kind = $2",
                    &[id.into(), kind.name().into()],
                )?;
            }
            Kind::ConceptDescription | Kind::ShellDescriptor => {}
        }
        Ok(())
    }

    fn reindex(&mut self, kind: Kind, id: &str, f: &Fields) -> Result<(), StoreError> {
        self.unindex(kind, id)?;
        for (k, name, value) in &f.asset_ids {
            self.execute(
                "INSERT INTO aas_asset_ids (kind, owner, name, value) VALUES ($1, $2, $3, $4)",
                &[(*k).into(), id.into(), name.into(), value.into()],
            )?;
        }
        for v in &f.semantic_ids {
            self.execute(
                "INSERT INTO aas_semantic_ids (kind, owner, value) VALUES ($1, $2, $3)",
                &[kind.name().into(), id.into(), v.into()],
            )?;
        }
        for sm in &f.submodel_refs {
            self.execute(
                "INSERT INTO aas_submodel_refs (shell_id, submodel_id) VALUES ($1, $2)",
                &[id.into(), sm.into()],
            )?;
        }
        Ok(())
    }

    /// Inserts or replaces a record.
    pub fn put(&mut self, kind: Kind, id: &str, json: &[u8]) -> Result<(), StoreError> {
        self.write_row(kind, id, json, None)
    }

    /// Inserts a record that must not exist yet.
    pub fn create(&mut self, kind: Kind, id: &str, json: &[u8]) -> Result<(), StoreError> {
        self.write_row(kind, id, json, Some(false))
    }

    /// Replaces a record that must exist.
    pub fn replace(&mut self, kind: Kind, id: &str, json: &[u8]) -> Result<(), StoreError> {
        self.write_row(kind, id, json, Some(true))
    }

    /// Deletes a record; whether it existed.
    pub fn delete(&mut self, kind: Kind, id: &str) -> Result<bool, StoreError> {
        self.check_writable()?;
        self.check_condition(kind, id)?;
        let key = (kind, id.to_string());
        let n = match self.seen.get(&key).copied() {
            Some(Seen::Version(v)) => {
                let sql = format!(
                    "DELETE FROM {} WHERE id = $1 AND version = $2",
                    kind.table()
                );
                let n = self.execute(&sql, &[id.into(), Value::Int(v)])?;
                if n == 0 {
                    let e = stale(kind, id);
                    return self.note(Err(e));
                }
                n
            }
            _ => {
                let sql = format!("DELETE FROM {} WHERE id = $1", kind.table());
                self.execute(&sql, &[id.into()])?
            }
        };
        self.unindex(kind, id)?;
        self.seen.insert(key, Seen::Written);
        Ok(n > 0)
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
    pub fn list(&mut self, kind: Kind) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let sql = format!("SELECT id, json FROM {} ORDER BY id", kind.table());
        self.query(&sql, &[])?
            .into_iter()
            .map(|r| Ok((r.text(0)?.to_string(), r.text(1)?.as_bytes().to_vec())))
            .collect()
    }

    /// Number of records of a kind.
    pub fn count(&mut self, kind: Kind) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {}", kind.table());
        let r = self.query_opt(&sql, &[])?;
        Ok(r.map(|r| r.int(0)).transpose()?.unwrap_or(0).max(0) as u64)
    }

    /// One page of the records of `kind` that pass `filter`, starting at
    /// identifier `from` (inclusive), at most `limit` of them.
    pub fn page(
        &mut self,
        kind: Kind,
        filter: &Filter,
        from: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page, StoreError> {
        let mut conds: Vec<String> = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        let next_param = |params: &mut Vec<Value>, v: Value| {
            params.push(v);
            format!("${}", params.len())
        };
        if let Some(f) = from {
            let p = next_param(&mut params, f.into());
            conds.push(format!("id >= {p}"));
        }
        if let Some(s) = &filter.id_short {
            let p = next_param(&mut params, s.into());
            conds.push(format!("id_short = {p}"));
        }
        for (name, value) in &filter.asset_ids {
            let k = if name == "globalAssetId" {
                "global"
            } else {
                "specific"
            };
            let pk = next_param(&mut params, k.into());
            let pn = next_param(&mut params, name.into());
            let pv = next_param(&mut params, value.into());
            conds.push(format!(
                "id IN (SELECT owner FROM aas_asset_ids WHERE name = {pn} AND value = {pv} AND kind = {pk})"
            ));
        }
        if let Some(s) = &filter.semantic_id {
            let pv = next_param(&mut params, s.into());
            let pk = next_param(&mut params, kind.name().into());
            conds.push(format!(
                "id IN (SELECT owner FROM aas_semantic_ids WHERE value = {pv} AND kind = {pk})"
            ));
        }
        if let Some(s) = &filter.asset_kind {
            let p = next_param(&mut params, s.into());
            conds.push(format!("asset_kind = {p}"));
        }
        if let Some(s) = &filter.asset_type {
            let p = next_param(&mut params, s.into());
            conds.push(format!("asset_type = {p}"));
        }
        let mut sql = format!("SELECT id, json FROM {}", kind.table());
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        sql.push_str(" ORDER BY id");
        if let Some(l) = limit {
            let p = next_param(&mut params, Value::Int(l.saturating_add(1) as i64));
            sql.push_str(&format!(" LIMIT {p}"));
        }
        let mut items = self
            .query(&sql, &params)?
            .into_iter()
            .map(|r| Ok((r.text(0)?.to_string(), r.text(1)?.as_bytes().to_vec())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = match limit {
            Some(l) if items.len() > l => items.pop().map(|(k, _)| k),
            _ => None,
        };
        Ok(Page { items, next })
    }

    /// The shells that reference submodel `submodel_id`, in id order.
    pub fn shells_referencing(&mut self, submodel_id: &str) -> Result<Vec<String>, StoreError> {
        self.query(
            "SELECT DISTINCT shell_id FROM aas_submodel_refs WHERE submodel_id = $1 ORDER BY shell_id",
            &[submodel_id.into()],
        )?
        .into_iter()
        .map(|r| Ok(r.text(0)?.to_string()))
        .collect()
    }

    /// Discovery: the ids of shells whose link record carries every
    /// (name, value) asset id, from `from` on, at most `limit`; and the id
    /// the next page starts at.
    pub fn lookup_shells(
        &mut self,
        asset_ids: &[(String, String)],
        from: Option<&str>,
        limit: Option<usize>,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let mut params: Vec<Value> = Vec::new();
        let mut sql = String::from("SELECT id FROM aas_asset_links WHERE 1 = 1");
        if let Some(f) = from {
            params.push(f.into());
            sql.push_str(&format!(" AND id >= ${}", params.len()));
        }
        for (name, value) in asset_ids {
            params.push(name.into());
            params.push(value.into());
            let (pn, pv) = (params.len() - 1, params.len());
            sql.push_str(&format!(
                " AND id IN (SELECT owner FROM aas_asset_ids WHERE name = ${pn} AND value = ${pv} AND kind = 'link')"
            ));
        }
        sql.push_str(" ORDER BY id");
        if let Some(l) = limit {
            params.push(Value::Int(l.saturating_add(1) as i64));
            sql.push_str(&format!(" LIMIT ${}", params.len()));
        }
        let mut ids = self
            .query(&sql, &params)?
            .into_iter()
            .map(|r| Ok(r.text(0)?.to_string()))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = match limit {
            Some(l) if ids.len() > l => ids.pop(),
            _ => None,
        };
        Ok((ids, next))
    }
}
