//! AAS Registry, Submodel Registry and Discovery.

use aas::descriptor::{self, ShellDescriptor, SubmodelDescriptor};
use aas::model::{AssetAdministrationShell, SpecificAssetId, Submodel};
use std::collections::HashSet;

use aas::{ids, parse};
use axum::http::Method;
use store::{Filter, Kind, Tx};

use crate::util::{
    ApiError, ApiResult, Call, create_record, created, db_paged, decode_id, get_record, index_key,
    no_content, ok, page, paged, same_id, tx_record,
};
use crate::{AppState, from_bytes, to_bytes, unrouted};

/// Registers (or refreshes) the descriptor of a submodel held by this server.
pub fn register_submodel(tx: &mut Tx<'_>, base: &str, sm: &Submodel) -> Result<(), ApiError> {
    let d =
        descriptor::submodel_descriptor(sm, format!("{base}/submodels/{}", ids::encode(&sm.id)));
    tx.put(Kind::SubmodelDescriptor, &sm.id, &to_bytes(&d)?)?;
    Ok(())
}

/// Registers (or refreshes) the descriptor of a shell held by this server,
/// with the descriptors of the submodels it references.
pub fn register_shell(
    tx: &mut Tx<'_>,
    base: &str,
    shell: &AssetAdministrationShell,
) -> Result<(), ApiError> {
    let mut subs = Vec::new();
    for r in &shell.submodels {
        let Some(k) = r.keys.first() else { continue };
        let href = format!("{base}/submodels/{}", ids::encode(&k.value));
        let d = match tx.get(Kind::Submodel, &k.value)? {
            Some(b) => descriptor::submodel_descriptor(&from_bytes::<Submodel>(&b)?, href),
            None => match tx.get(Kind::SubmodelDescriptor, &k.value)? {
                Some(b) => from_bytes::<SubmodelDescriptor>(&b)?,
                None => continue,
            },
        };
        subs.push(d);
    }
    let d = descriptor::shell_descriptor(
        shell,
        format!("{base}/shells/{}", ids::encode(&shell.id)),
        subs,
    );
    tx.put(Kind::ShellDescriptor, &shell.id, &to_bytes(&d)?)?;
    Ok(())
}

/// Refreshes the descriptors of every shell that references submodel `sm_id`.
pub fn reregister_owners(tx: &mut Tx<'_>, base: &str, sm_id: &str) -> Result<(), ApiError> {
    for id in tx.shells_referencing(sm_id)? {
        let s: AssetAdministrationShell = tx_record(tx, Kind::Shell, &id)?;
        register_shell(tx, base, &s)?;
    }
    Ok(())
}

/// The most discovery links one shell may have: a link list is one record,
/// rewritten as a whole on every change.
pub const MAX_ASSET_LINKS: usize = 1000;

/// The asset ids a shell's asset information makes it discoverable by: the
/// global asset id (named `globalAssetId`) and the specific asset ids.
fn shell_asset_ids(s: &AssetAdministrationShell) -> Vec<SpecificAssetId> {
    let ai = &s.asset_information;
    let global = ai.global_asset_id.iter().map(|g| SpecificAssetId {
        semantic_id: None,
        supplemental_semantic_ids: Vec::new(),
        name: "globalAssetId".into(),
        value: g.clone(),
        external_subject_id: None,
    });
    global
        .chain(ai.specific_asset_ids.iter().cloned())
        .collect()
}

fn link_key(a: &SpecificAssetId) -> (&str, &str) {
    (a.name.as_str(), a.value.as_str())
}

fn tx_links(tx: &mut Tx<'_>, aas_id: &str) -> Result<Option<Vec<SpecificAssetId>>, ApiError> {
    tx.get(Kind::AssetLink, aas_id)?
        .map(|b| from_bytes(&b))
        .transpose()
}

/// Appends the links of `add` that `cur` does not hold yet (linear: one hash
/// set); at most [`MAX_ASSET_LINKS`] in all.
fn merge_links(
    aas_id: &str,
    cur: &mut Vec<SpecificAssetId>,
    add: &[SpecificAssetId],
) -> Result<(), ApiError> {
    let mut seen: HashSet<(String, String)> = cur
        .iter()
        .map(|a| (a.name.clone(), a.value.clone()))
        .collect();
    for a in add {
        if seen.insert((a.name.clone(), a.value.clone())) {
            cur.push(a.clone());
        }
    }
    if cur.len() > MAX_ASSET_LINKS {
        return Err(ApiError::bad(format!(
            "shell {aas_id:?} would have {} asset links; at most {MAX_ASSET_LINKS} are kept per shell",
            cur.len()
        )));
    }
    Ok(())
}

/// Keeps Discovery in step with a change of the shell `aas_id` held here: the
/// asset ids of `old` (the shell before the change, if any) are unlinked and
/// those of `new` (the shell after it, `None` when deleted) linked, so that
/// the links Discovery lists are exactly the ones it can delete.
pub fn relink_shell(
    tx: &mut Tx<'_>,
    aas_id: &str,
    old: Option<&AssetAdministrationShell>,
    new: Option<&AssetAdministrationShell>,
) -> Result<(), ApiError> {
    let mut cur = tx_links(tx, aas_id)?.unwrap_or_default();
    if let Some(old) = old {
        let gone = shell_asset_ids(old);
        let gone: HashSet<(&str, &str)> = gone.iter().map(link_key).collect();
        cur.retain(|a| !gone.contains(&link_key(a)));
    }
    match new {
        Some(s) => {
            merge_links(aas_id, &mut cur, &shell_asset_ids(s))?;
            tx.put(Kind::AssetLink, aas_id, &to_bytes(&cur)?)?;
        }
        None if cur.is_empty() => {
            tx.delete(Kind::AssetLink, aas_id)?;
        }
        None => tx.put(Kind::AssetLink, aas_id, &to_bytes(&cur)?)?,
    }
    Ok(())
}

pub fn shell_descriptors(st: &AppState, c: &Call<'_>, rest: &[&str]) -> ApiResult {
    let (m, q, body) = (c.method, c.query, c.body);
    match (rest, m) {
        ([], &Method::GET) => {
            let filter = Filter {
                asset_kind: q.get("assetKind").map(str::to_string),
                asset_type: q.id("assetType")?,
                ..Filter::default()
            };
            db_paged::<ShellDescriptor>(&st.store, Kind::ShellDescriptor, &filter, q)
        }
        ([], &Method::POST) => create_descriptor(st, body, &SHELL_DESCRIPTORS),
        ([id], _) => descriptor_ops(st, m, id, body, &SHELL_DESCRIPTORS),
        ([id, "submodel-descriptors"], &Method::GET) => {
            let id = decode_id(id)?;
            let d: ShellDescriptor = get_record(&st.store, Kind::ShellDescriptor, &id)?;
            page(
                d.submodel_descriptors
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| (index_key(i), s))
                    .collect(),
                q,
            )
        }
        ([id, "submodel-descriptors"], &Method::POST) => {
            let id = decode_id(id)?;
            let sd = descriptor::parse_submodel_descriptor(body)?;
            st.store.transaction(|tx| -> Result<(), ApiError> {
                let mut d: ShellDescriptor = tx_record(tx, Kind::ShellDescriptor, &id)?;
                if d.submodel_descriptors.iter().any(|s| s.id == sd.id) {
                    return Err(ApiError::conflict(format!(
                        "descriptor already holds submodel descriptor {:?}",
                        sd.id
                    )));
                }
                d.submodel_descriptors.push(sd.clone());
                tx.put(Kind::ShellDescriptor, &id, &to_bytes(&d)?)?;
                Ok(())
            })?;
            created(
                &sd,
                &format!(
                    "{}/shell-descriptors/{}/submodel-descriptors/{}",
                    st.base_url,
                    ids::encode(&id),
                    ids::encode(&sd.id)
                ),
            )
        }
        ([id, "submodel-descriptors", sm], _) => nested_descriptor_ops(st, m, id, sm, body),
        _ => Err(unrouted(m, "/shell-descriptors")),
    }
}

/// One kind of descriptor as the registry routes it.
struct Descriptors<T> {
    kind: Kind,
    /// The collection below the base URL, e.g. `shell-descriptors`.
    collection: &'static str,
    /// The route named when a method is not served.
    route: &'static str,
    parse: fn(&[u8]) -> Result<T, aas::ParseError>,
    id: fn(&T) -> &str,
}

const SHELL_DESCRIPTORS: Descriptors<ShellDescriptor> = Descriptors {
    kind: Kind::ShellDescriptor,
    collection: "shell-descriptors",
    route: "/shell-descriptors/{aasIdentifier}",
    parse: descriptor::parse_shell_descriptor,
    id: |d| &d.id,
};

const SUBMODEL_DESCRIPTORS: Descriptors<SubmodelDescriptor> = Descriptors {
    kind: Kind::SubmodelDescriptor,
    collection: "submodel-descriptors",
    route: "/submodel-descriptors/{submodelIdentifier}",
    parse: descriptor::parse_submodel_descriptor,
    id: |d| &d.id,
};

/// `POST /shell-descriptors` and `POST /submodel-descriptors`: a new descriptor (refused if
/// its id is taken).
fn create_descriptor<T: serde::Serialize>(
    st: &AppState,
    body: &[u8],
    what: &Descriptors<T>,
) -> ApiResult {
    let d = (what.parse)(body)?;
    create_record(
        st,
        what.kind,
        what.collection,
        (what.id)(&d),
        &d,
        |_| Ok(()),
    )
}

/// `/shell-descriptors/{id}` and `/submodel-descriptors/{id}`: read, put (created when new)
/// or delete one descriptor.
fn descriptor_ops<T: serde::Serialize + serde::de::DeserializeOwned>(
    st: &AppState,
    m: &Method,
    id: &str,
    body: &[u8],
    what: &Descriptors<T>,
) -> ApiResult {
    let id = decode_id(id)?;
    match *m {
        Method::GET => ok(&get_record::<T>(&st.store, what.kind, &id)?),
        Method::PUT => {
            let d = (what.parse)(body)?;
            same_id((what.id)(&d), &id)?;
            let existed = st.store.transaction(|tx| -> Result<bool, ApiError> {
                let existed = tx.get(what.kind, &id)?.is_some();
                tx.put(what.kind, &id, &to_bytes(&d)?)?;
                Ok(existed)
            })?;
            if existed {
                no_content()
            } else {
                let at = format!("{}/{}/{}", st.base_url, what.collection, ids::encode(&id));
                created(&d, &at)
            }
        }
        Method::DELETE => {
            st.store
                .transaction(|tx| -> Result<(), ApiError> { Ok(tx.remove(what.kind, &id)?) })?;
            no_content()
        }
        _ => Err(unrouted(m, what.route)),
    }
}

/// `/shell-descriptors/{id}/submodel-descriptors/{sm}`: read, replace or remove one submodel
/// descriptor a shell descriptor holds.
fn nested_descriptor_ops(st: &AppState, m: &Method, id: &str, sm: &str, body: &[u8]) -> ApiResult {
    let id = decode_id(id)?;
    let sm = decode_id(sm)?;
    let missing = || {
        ApiError::not_found(format!(
            "descriptor {id:?} holds no submodel descriptor {sm:?}"
        ))
    };
    match *m {
        Method::GET => {
            let d: ShellDescriptor = get_record(&st.store, Kind::ShellDescriptor, &id)?;
            ok(&d
                .submodel_descriptors
                .into_iter()
                .find(|s| s.id == sm)
                .ok_or_else(missing)?)
        }
        Method::PUT => {
            let sd = descriptor::parse_submodel_descriptor(body)?;
            same_id(&sd.id, &sm)?;
            st.store.transaction(|tx| -> Result<(), ApiError> {
                let mut d: ShellDescriptor = tx_record(tx, Kind::ShellDescriptor, &id)?;
                let slot = d
                    .submodel_descriptors
                    .iter_mut()
                    .find(|s| s.id == sm)
                    .ok_or_else(missing)?;
                *slot = sd.clone();
                tx.put(Kind::ShellDescriptor, &id, &to_bytes(&d)?)?;
                Ok(())
            })?;
            no_content()
        }
        Method::DELETE => {
            st.store.transaction(|tx| -> Result<(), ApiError> {
                let mut d: ShellDescriptor = tx_record(tx, Kind::ShellDescriptor, &id)?;
                let before = d.submodel_descriptors.len();
                d.submodel_descriptors.retain(|s| s.id != sm);
                if d.submodel_descriptors.len() == before {
                    return Err(missing());
                }
                tx.put(Kind::ShellDescriptor, &id, &to_bytes(&d)?)?;
                Ok(())
            })?;
            no_content()
        }
        _ => Err(unrouted(
            m,
            "/shell-descriptors/{aasIdentifier}/submodel-descriptors/{submodelIdentifier}",
        )),
    }
}

pub fn submodel_descriptors(st: &AppState, c: &Call<'_>, rest: &[&str]) -> ApiResult {
    let (m, q, body) = (c.method, c.query, c.body);
    match (rest, m) {
        ([], &Method::GET) => {
            let filter = Filter {
                semantic_id: q.id("semanticId")?,
                ..Filter::default()
            };
            db_paged::<SubmodelDescriptor>(&st.store, Kind::SubmodelDescriptor, &filter, q)
        }
        ([], &Method::POST) => create_descriptor(st, body, &SUBMODEL_DESCRIPTORS),
        ([id], _) => descriptor_ops(st, m, id, body, &SUBMODEL_DESCRIPTORS),
        _ => Err(unrouted(m, "/submodel-descriptors")),
    }
}

pub fn lookup(st: &AppState, c: &Call<'_>, rest: &[&str]) -> ApiResult {
    let (m, q, body) = (c.method, c.query, c.body);
    match (rest, m) {
        ([], &Method::GET) => {
            let wanted = q.asset_ids()?;
            let (limit, cursor) = (q.limit()?, q.cursor()?);
            let (hits, next) = st
                .store
                .read(|tx| tx.lookup_shells(&wanted, cursor.as_deref(), Some(limit)))?;
            paged(&hits, next.as_deref())
        }
        ([id], &Method::GET) => {
            let id = decode_id(id)?;
            match st.store.get(Kind::AssetLink, &id)? {
                Some(b) => ok(&from_bytes::<Vec<SpecificAssetId>>(&b)?),
                None => Err(ApiError::not_found(format!(
                    "no asset links for shell {id:?}"
                ))),
            }
        }
        ([id], &Method::POST) => {
            let id = decode_id(id)?;
            let add: Vec<SpecificAssetId> = parse::from_json(body)?;
            if add.len() > MAX_ASSET_LINKS {
                return Err(ApiError::bad(format!(
                    "invalid request body at $: {} asset links; at most {MAX_ASSET_LINKS} are kept per shell",
                    add.len()
                )));
            }
            for (i, a) in add.iter().enumerate() {
                if a.name.is_empty() || a.value.is_empty() {
                    return Err(ApiError::bad(format!(
                        "invalid request body at $[{i}]: name and value must not be empty"
                    )));
                }
            }
            let all = st
                .store
                .transaction(|tx| -> Result<Vec<SpecificAssetId>, ApiError> {
                    let mut cur = tx_links(tx, &id)?.unwrap_or_default();
                    merge_links(&id, &mut cur, &add)?;
                    tx.put(Kind::AssetLink, &id, &to_bytes(&cur)?)?;
                    Ok(cur)
                })?;
            created(
                &all,
                &format!("{}/lookup/shells/{}", st.base_url, ids::encode(&id)),
            )
        }
        ([id], &Method::DELETE) => {
            let id = decode_id(id)?;
            st.store.transaction(|tx| -> Result<(), ApiError> {
                Ok(tx.remove(Kind::AssetLink, &id)?)
            })?;
            no_content()
        }
        _ => Err(unrouted(m, "/lookup/shells")),
    }
}
