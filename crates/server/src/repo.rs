//! AAS Repository, Submodel Repository, Concept Description Repository and
//! `/serialization`.

use aas::model::{
    AssetAdministrationShell, AssetInformation, ConceptDescription, KeyTypes, Reference,
    ReferenceTypes, Submodel, SubmodelElement,
};
use aas::views::{self, Seg};
use aas::{ids, parse, patch, validate};
use axum::http::Method;
use serde_json::{Value, json};
use store::{Filter, Kind, Tx};

use crate::util::{
    self, ApiError, ApiResult, Call, Level, Query, created, decode_id, index_key, no_content, ok,
    page, paged,
};
use crate::{AppState, from_bytes, registry, to_bytes, unrouted};

pub(crate) fn load_shell(st: &AppState, id: &str) -> Result<AssetAdministrationShell, ApiError> {
    util::get_record(&st.store, Kind::Shell, id)
}

pub(crate) fn load_submodel(st: &AppState, id: &str) -> Result<Submodel, ApiError> {
    util::get_record(&st.store, Kind::Submodel, id)
}

fn all<T: serde::de::DeserializeOwned>(
    st: &AppState,
    kind: Kind,
) -> Result<Vec<(String, T)>, ApiError> {
    st.store
        .list(kind)?
        .into_iter()
        .map(|(k, b)| Ok((k, from_bytes(&b)?)))
        .collect()
}

fn first_violation(v: Vec<validate::Violation>) -> Result<(), ApiError> {
    match v.into_iter().next() {
        Some(v) => Err(ApiError::bad(format!(
            "invalid request body at {}: {}",
            v.path, v.message
        ))),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Shells
// ---------------------------------------------------------------------------

pub fn shells(st: &AppState, c: &Call<'_>, rest: &[&str]) -> ApiResult {
    let (m, q, body) = (c.method, c.query, c.body);
    match (rest, m) {
        ([], &Method::GET) | (["$reference"], &Method::GET) => {
            let filter = Filter {
                id_short: q.get("idShort").map(str::to_string),
                asset_ids: q.asset_ids()?,
                ..Filter::default()
            };
            let (items, next) =
                util::db_page::<AssetAdministrationShell>(&st.store, Kind::Shell, &filter, q)?;
            if rest.is_empty() {
                paged(&items, next.as_deref())
            } else {
                let refs: Vec<Reference> = items
                    .iter()
                    .map(|s| views::shell_reference(&s.id))
                    .collect();
                paged(&refs, next.as_deref())
            }
        }
        ([], &Method::POST) => {
            let shell = parse::parse_shell(body)?;
            util::create_record(st, Kind::Shell, "shells", &shell.id, &shell, |tx| {
                registry::relink_shell(tx, &shell.id, None, Some(&shell))?;
                registry::register_shell(tx, &st.base_url, &shell)
            })
        }
        ([id, sub @ ..], _) => {
            let id = decode_id(id)?;
            shell_ops(st, c, &id, sub)
        }
        _ => Err(unrouted(m, "/shells")),
    }
}

fn save_shell(
    tx: &mut Tx<'_>,
    base: &str,
    shell: &AssetAdministrationShell,
) -> Result<(), ApiError> {
    first_violation(validate::shell(shell))?;
    let old = tx_shell(tx, &shell.id)?;
    tx.replace(Kind::Shell, &shell.id, &to_bytes(shell)?)?;
    registry::relink_shell(tx, &shell.id, Some(&old), Some(shell))?;
    registry::register_shell(tx, base, shell)
}

fn shell_ops(st: &AppState, c: &Call<'_>, id: &str, rest: &[&str]) -> ApiResult {
    let (m, q, body) = (c.method, c.query, c.body);
    match (rest, m) {
        ([], &Method::GET) => ok(&load_shell(st, id)?),
        ([], &Method::PUT) => {
            let shell = parse::parse_shell(body)?;
            util::same_id(&shell.id, id)?;
            st.store
                .transaction(|tx| save_shell(tx, &st.base_url, &shell))?;
            no_content()
        }
        ([], &Method::DELETE) => {
            st.store.transaction(|tx| -> Result<(), ApiError> {
                let old = tx_shell(tx, id)?;
                tx.remove(Kind::Shell, id)?;
                registry::relink_shell(tx, id, Some(&old), None)?;
                tx.delete(Kind::ShellDescriptor, id)?;
                Ok(())
            })?;
            no_content()
        }
        (["$reference"], &Method::GET) => {
            let s = load_shell(st, id)?;
            ok(&views::shell_reference(&s.id))
        }
        // the single-shell service (AAS Service Specification) seen through this repository
        ([endpoint @ ("description" | "serialization")], &Method::GET) => {
            load_shell(st, id)?;
            single_service(st, endpoint, q)
        }
        // a single-shell service is a repository of one: its shell list is itself
        (["shells"], &Method::GET) => {
            let s = load_shell(st, id)?;
            page(vec![(s.id.clone(), s)], q)
        }
        (["asset-information"], &Method::GET) => ok(&load_shell(st, id)?.asset_information),
        (["asset-information"], &Method::PUT) => {
            let ai: AssetInformation = parse::from_json(body)?;
            st.store.transaction(|tx| -> Result<(), ApiError> {
                let mut s = tx_shell(tx, id)?;
                s.asset_information = ai.clone();
                save_shell(tx, &st.base_url, &s)
            })?;
            no_content()
        }
        (["asset-information", "thumbnail"], &Method::GET) => {
            let s = load_shell(st, id)?;
            Err(ApiError::not_found(format!(
                "shell {:?} has no thumbnail",
                s.id
            )))
        }
        (["submodel-refs"], &Method::GET) => {
            let s = load_shell(st, id)?;
            page(
                s.submodels
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| (index_key(i), r))
                    .collect(),
                q,
            )
        }
        (["submodel-refs"], &Method::POST) => add_submodel_ref(st, id, body),
        (["submodel-refs", sm], &Method::DELETE) => remove_submodel_ref(st, id, sm),
        (["submodels", sm, sub @ ..], _) => {
            let sm = decode_id(sm)?;
            let s = load_shell(st, id)?;
            if !s
                .submodels
                .iter()
                .any(|r| r.keys.first().map(|k| k.value.as_str()) == Some(sm.as_str()))
            {
                return Err(ApiError::not_found(format!(
                    "shell {id:?} does not reference submodel {sm:?}"
                )));
            }
            submodel_ops(st, c, &sm, sub)
        }
        _ => Err(unrouted(m, "/shells/{aasIdentifier}/…")),
    }
}

/// The `description` (the profiles served) or `serialization` endpoint of a
/// single-shell or single-submodel service, once its item is known to exist.
fn single_service(st: &AppState, endpoint: &str, q: &Query) -> ApiResult {
    if endpoint == "description" {
        ok(&json!({ "profiles": crate::PROFILES }))
    } else {
        serialization(st, q)
    }
}

fn tx_shell(tx: &mut Tx<'_>, id: &str) -> Result<AssetAdministrationShell, ApiError> {
    util::tx_record(tx, Kind::Shell, id)
}

fn tx_submodel(tx: &mut Tx<'_>, id: &str) -> Result<Submodel, ApiError> {
    util::tx_record(tx, Kind::Submodel, id)
}

// ---------------------------------------------------------------------------
// Submodels
// ---------------------------------------------------------------------------

fn shape_submodel(mut sm: Submodel, level: Level, with_blob: bool) -> Submodel {
    if level == Level::Core {
        views::strip_to_core(&mut sm.submodel_elements);
    }
    if !with_blob {
        views::strip_blob_values(&mut sm.submodel_elements);
    }
    sm
}

pub fn submodels(st: &AppState, c: &Call<'_>, rest: &[&str]) -> ApiResult {
    let (m, q, body) = (c.method, c.query, c.body);
    match (rest, m) {
        ([], &Method::GET) | ([_], &Method::GET)
            if rest.first().is_none_or(|s| s.starts_with('$')) =>
        {
            let level = q.level()?;
            let with_blob = q.with_blob()?;
            let filter = Filter {
                id_short: q.get("idShort").map(str::to_string),
                semantic_id: q.id("semanticId")?,
                ..Filter::default()
            };
            let modifier = rest.first().copied();
            if let Some(other) = modifier
                && !["$metadata", "$value", "$reference", "$path"].contains(&other)
            {
                return Err(ApiError::not_found(format!("unknown modifier {other:?}")));
            }
            let (items, next) = util::db_page::<Submodel>(&st.store, Kind::Submodel, &filter, q)?;
            let next = next.as_deref();
            match modifier {
                Some("$metadata") => {
                    let v: Vec<Submodel> = items.iter().map(views::submodel_metadata).collect();
                    paged(&v, next)
                }
                Some("$value") => {
                    let v: Vec<Value> = items
                        .into_iter()
                        .map(|s| views::submodel_value(&shape_submodel(s, level, true), with_blob))
                        .collect();
                    paged(&v, next)
                }
                Some("$reference") => {
                    let v: Vec<Reference> = items
                        .iter()
                        .map(|s| views::submodel_reference(&s.id))
                        .collect();
                    paged(&v, next)
                }
                Some("$path") => {
                    let v: Vec<String> = items
                        .into_iter()
                        .map(|s| s.id_short.unwrap_or_else(|| s.id.clone()))
                        .collect();
                    paged(&v, next)
                }
                _ => {
                    let v: Vec<Submodel> = items
                        .into_iter()
                        .map(|s| shape_submodel(s, level, with_blob))
                        .collect();
                    paged(&v, next)
                }
            }
        }
        ([], &Method::POST) => {
            let sm = parse::parse_submodel(body)?;
            util::create_record(st, Kind::Submodel, "submodels", &sm.id, &sm, |tx| {
                registry::register_submodel(tx, &st.base_url, &sm)?;
                registry::reregister_owners(tx, &st.base_url, &sm.id)
            })
        }
        ([id, sub @ ..], _) => {
            let id = decode_id(id)?;
            submodel_ops(st, c, &id, sub)
        }
        _ => Err(unrouted(m, "/submodels")),
    }
}

/// Stores a changed submodel after validating all of it.
fn save_submodel(tx: &mut Tx<'_>, base: &str, sm: &Submodel) -> Result<(), ApiError> {
    first_violation(validate::submodel(sm))?;
    tx.replace(Kind::Submodel, &sm.id, &to_bytes(sm)?)?;
    registry::register_submodel(tx, base, sm)?;
    registry::reregister_owners(tx, base, &sm.id)
}

fn parse_path(p: &str) -> Result<Vec<Seg>, ApiError> {
    views::parse_id_short_path(p).map_err(ApiError::bad)
}

fn element_value(e: &SubmodelElement, with_blob: bool) -> Result<Value, ApiError> {
    let v = views::value_only(e, with_blob)
        .ok_or_else(|| ApiError::bad(format!("a {:?} has no value", e.key_type())))?;
    Ok(match e.id_short() {
        Some(n) => json!({ n: v }),
        None => v,
    })
}

pub(crate) fn submodel_ops(st: &AppState, c: &Call<'_>, id: &str, rest: &[&str]) -> ApiResult {
    let (m, q, body) = (c.method, c.query, c.body);
    match (rest, m) {
        ([], &Method::GET) => {
            let (level, with_blob) = (q.level()?, q.with_blob()?);
            ok(&shape_submodel(load_submodel(st, id)?, level, with_blob))
        }
        ([], &Method::PUT) => {
            let sm = parse::parse_submodel(body)?;
            util::same_id(&sm.id, id)?;
            st.store
                .transaction(|tx| save_submodel(tx, &st.base_url, &sm))?;
            no_content()
        }
        ([], &Method::DELETE) => delete_submodel(st, id),
        ([], &Method::PATCH) | (["$metadata" | "$value"], &Method::PATCH) => {
            q.level()?;
            let how = rest.first().copied();
            st.store.transaction(|tx| -> Result<(), ApiError> {
                let stored = tx_submodel(tx, id)?;
                let sm = match how {
                    None => patch::merge_submodel(&stored, body)?,
                    Some("$metadata") => patch::merge_submodel_metadata(&stored, body)?,
                    _ => patch::apply_submodel_value(&stored, body)?,
                };
                save_submodel(tx, &st.base_url, &sm)
            })?;
            no_content()
        }
        (["$metadata"], &Method::GET) => ok(&views::submodel_metadata(&load_submodel(st, id)?)),
        // the single-submodel service (Submodel Service Specification) seen through this repository
        ([endpoint @ ("description" | "serialization")], &Method::GET) => {
            load_submodel(st, id)?;
            single_service(st, endpoint, q)
        }
        // the shells that hold this submodel (what a single-submodel service's
        // clients look up before asking for a serialization)
        (["shells"], &Method::GET) => {
            load_submodel(st, id)?;
            let owners = st.store.read(|tx| -> Result<_, ApiError> {
                let mut out = Vec::new();
                for sid in tx.shells_referencing(id)? {
                    out.push((sid.clone(), tx_shell(tx, &sid)?));
                }
                Ok(out)
            })?;
            page(owners, q)
        }
        (["$value"], &Method::GET) => {
            let (level, with_blob) = (q.level()?, q.with_blob()?);
            let sm = shape_submodel(load_submodel(st, id)?, level, true);
            ok(&views::submodel_value(&sm, with_blob))
        }
        (["$reference"], &Method::GET) => {
            ok(&views::submodel_reference(&load_submodel(st, id)?.id))
        }
        (["$path"], &Method::GET) => {
            let level = q.level()?;
            let sm = load_submodel(st, id)?;
            let mut out = Vec::new();
            views::paths(
                &sm.submodel_elements,
                &[],
                false,
                level == Level::Deep,
                &mut out,
            );
            ok(&out)
        }
        (["submodel-elements"], &Method::GET) | (["submodel-elements", _], &Method::GET)
            if rest.get(1).is_none_or(|s| s.starts_with('$')) =>
        {
            list_elements(st, id, rest.get(1).copied(), q)
        }
        (["submodel-elements"], &Method::POST) => add_element(st, id, body),
        (["submodel-elements", path, sub @ ..], _) => element_ops(st, c, id, path, sub),
        _ => Err(unrouted(m, "/submodels/{submodelIdentifier}/…")),
    }
}

fn element_ops(st: &AppState, c: &Call<'_>, id: &str, path: &str, rest: &[&str]) -> ApiResult {
    let (m, q, body) = (c.method, c.query, c.body);
    let segs = parse_path(path)?;
    let missing = || ApiError::not_found(format!("no submodel element at idShortPath {path:?}"));
    match (rest, m) {
        ([], &Method::GET) => {
            let (level, with_blob) = (q.level()?, q.with_blob()?);
            let sm = load_submodel(st, id)?;
            let mut el = views::find(&sm.submodel_elements, &segs)
                .ok_or_else(missing)?
                .clone();
            if let Some(c) = el.children_mut() {
                if level == Level::Core {
                    views::strip_to_core(c);
                }
                if !with_blob {
                    views::strip_blob_values(c);
                }
            }
            if !with_blob && let SubmodelElement::Blob(b) = &mut el {
                b.value = None;
            }
            ok(&el)
        }
        ([sub], &Method::GET) => element_view(st, id, path, &segs, sub, q),
        ([], &Method::PUT) => {
            st.store.transaction(|tx| -> Result<(), ApiError> {
                let mut sm = tx_submodel(tx, id)?;
                let (container, idx, in_list) = views::find_slot_mut(&mut sm.submodel_elements, &segs).ok_or_else(missing)?;
                let el = parse::parse_element(body, in_list)?;
                if !in_list && el.id_short() != container[idx].id_short() {
                    return Err(ApiError::bad(format!(
                        "invalid request body at $.idShort: must stay {:?} (the last part of the path)",
                        container[idx].id_short().unwrap_or("")
                    )));
                }
                container[idx] = el;
                save_submodel(tx, &st.base_url, &sm)
            })?;
            no_content()
        }
        ([], &Method::POST) => add_child(st, id, path, &segs, body),
        ([], &Method::PATCH) | (["$metadata" | "$value"], &Method::PATCH) => {
            q.level()?;
            let how = rest.first().copied();
            st.store.transaction(|tx| -> Result<(), ApiError> {
                let mut sm = tx_submodel(tx, id)?;
                let (container, idx, in_list) =
                    views::find_slot_mut(&mut sm.submodel_elements, &segs).ok_or_else(missing)?;
                let stored = &container[idx];
                container[idx] = match how {
                    None => patch::merge_element(stored, body, in_list)?,
                    Some("$metadata") => patch::merge_element_metadata(stored, body, in_list)?,
                    _ => patch::apply_element_value(stored, body, in_list)?,
                };
                save_submodel(tx, &st.base_url, &sm)
            })?;
            no_content()
        }
        ([], &Method::DELETE) => {
            st.store.transaction(|tx| -> Result<(), ApiError> {
                let mut sm = tx_submodel(tx, id)?;
                let (container, idx, _) =
                    views::find_slot_mut(&mut sm.submodel_elements, &segs).ok_or_else(missing)?;
                container.remove(idx);
                save_submodel(tx, &st.base_url, &sm)
            })?;
            no_content()
        }
        _ => Err(unrouted(
            m,
            "/submodels/{submodelIdentifier}/submodel-elements/{idShortPath}/…",
        )),
    }
}

/// `POST /shells/{id}/submodel-refs`: one more submodel reference (a ModelReference with
/// one Submodel key), refused if the shell holds it already.
fn add_submodel_ref(st: &AppState, id: &str, body: &[u8]) -> ApiResult {
    let r: Reference = parse::from_json(body)?;
    if r.kind != ReferenceTypes::ModelReference
        || r.keys.len() != 1
        || r.keys[0].kind != KeyTypes::Submodel
    {
        return Err(ApiError::bad(
            "invalid request body at $: a submodel reference is a ModelReference with one Submodel key",
        ));
    }
    st.store.transaction(|tx| -> Result<(), ApiError> {
        let mut s = tx_shell(tx, id)?;
        if s.submodels.iter().any(|x| x.keys == r.keys) {
            return Err(ApiError::conflict(format!(
                "shell already references submodel {:?}",
                r.keys[0].value
            )));
        }
        s.submodels.push(r.clone());
        save_shell(tx, &st.base_url, &s)
    })?;
    created(
        &r,
        &format!("{}/shells/{}/submodel-refs", st.base_url, ids::encode(id)),
    )
}

/// `DELETE /shells/{id}/submodel-refs/{sm}`: the shell no longer references submodel `sm`.
fn remove_submodel_ref(st: &AppState, id: &str, sm: &str) -> ApiResult {
    let sm = decode_id(sm)?;
    st.store.transaction(|tx| -> Result<(), ApiError> {
        let mut s = tx_shell(tx, id)?;
        let before = s.submodels.len();
        s.submodels
            .retain(|r| r.keys.first().map(|k| k.value.as_str()) != Some(sm.as_str()));
        if s.submodels.len() == before {
            return Err(ApiError::not_found(format!(
                "shell does not reference submodel {sm:?}"
            )));
        }
        save_shell(tx, &st.base_url, &s)
    })?;
    no_content()
}

/// `DELETE /submodels/{id}`: the submodel, its descriptor and the shells' references to it.
fn delete_submodel(st: &AppState, id: &str) -> ApiResult {
    st.store.transaction(|tx| -> Result<(), ApiError> {
        tx.remove(Kind::Submodel, id)?;
        tx.delete(Kind::SubmodelDescriptor, id)?;
        // drop dangling references from the shells that held it
        for sid in tx.shells_referencing(id)? {
            let mut s = tx_shell(tx, &sid)?;
            let before = s.submodels.len();
            s.submodels
                .retain(|r| r.keys.first().map(|k| k.value.as_str()) != Some(id));
            if s.submodels.len() != before {
                tx.put(Kind::Shell, &sid, &to_bytes(&s)?)?;
                registry::register_shell(tx, &st.base_url, &s)?;
            }
        }
        Ok(())
    })?;
    no_content()
}

/// `GET /submodels/{id}/submodel-elements[/$modifier]`: the top-level elements, a page of
/// them, whole or as the modifier's view.
fn list_elements(st: &AppState, id: &str, modifier: Option<&str>, q: &Query) -> ApiResult {
    let level = q.level()?;
    let with_blob = q.with_blob()?;
    let sm = load_submodel(st, id)?;
    let els = sm.submodel_elements.clone();
    match modifier {
        None => {
            let mut els = els;
            if level == Level::Core {
                views::strip_to_core(&mut els);
            }
            if !with_blob {
                views::strip_blob_values(&mut els);
            }
            page(
                els.into_iter()
                    .enumerate()
                    .map(|(i, e)| (index_key(i), e))
                    .collect(),
                q,
            )
        }
        Some("$metadata") => page(
            els.iter()
                .enumerate()
                .filter_map(|(i, e)| views::element_metadata(e).map(|m| (index_key(i), m)))
                .collect(),
            q,
        ),
        Some("$value") => page(
            els.iter()
                .enumerate()
                .filter_map(|(i, e)| element_value(e, with_blob).ok().map(|v| (index_key(i), v)))
                .collect(),
            q,
        ),
        Some("$reference") => page(
            els.iter()
                .enumerate()
                .filter_map(|(i, e)| {
                    let seg = Seg::Name(e.id_short()?.to_string());
                    views::element_reference(&sm, &[seg]).map(|r| (index_key(i), r))
                })
                .collect(),
            q,
        ),
        Some("$path") => {
            let mut out = Vec::new();
            views::paths(&els, &[], false, level == Level::Deep, &mut out);
            page(
                out.into_iter()
                    .enumerate()
                    .map(|(i, p)| (index_key(i), p))
                    .collect(),
                q,
            )
        }
        Some(other) => Err(ApiError::not_found(format!("unknown modifier {other:?}"))),
    }
}

/// `POST /submodels/{id}/submodel-elements`: one more top-level element, refused if its
/// idShort is taken.
fn add_element(st: &AppState, id: &str, body: &[u8]) -> ApiResult {
    let el = parse::parse_element(body, false)?;
    st.store.transaction(|tx| -> Result<(), ApiError> {
        let mut sm = tx_submodel(tx, id)?;
        if let Some(n) = el.id_short()
            && sm.submodel_elements.iter().any(|e| e.id_short() == Some(n))
        {
            return Err(ApiError::conflict(format!(
                "submodel already has an element {n:?}"
            )));
        }
        sm.submodel_elements.push(el.clone());
        save_submodel(tx, &st.base_url, &sm)
    })?;
    created(
        &el,
        &format!(
            "{}/submodels/{}/submodel-elements/{}",
            st.base_url,
            ids::encode(id),
            el.id_short().unwrap_or("")
        ),
    )
}

/// `GET …/submodel-elements/{idShortPath}/{view}`: the element's `$metadata`, `$value`,
/// `$reference` or `$path` view, or its attachment.
fn element_view(
    st: &AppState,
    id: &str,
    path: &str,
    segs: &[Seg],
    sub: &str,
    q: &Query,
) -> ApiResult {
    let sm = load_submodel(st, id)?;
    let missing = || ApiError::not_found(format!("no submodel element at idShortPath {path:?}"));
    let el = views::find(&sm.submodel_elements, segs).ok_or_else(missing)?;
    match sub {
        "$metadata" => match views::element_metadata(el) {
            Some(md) => ok(&md),
            None => Err(ApiError::bad(format!(
                "a {:?} has no metadata view",
                el.key_type()
            ))),
        },
        "$value" => {
            let (_, with_blob) = (q.level()?, q.with_blob()?);
            ok(&element_value(el, with_blob)?)
        }
        "$reference" => ok(&views::element_reference(&sm, segs).ok_or_else(missing)?),
        "$path" => {
            let level = q.level()?;
            if el.children().is_empty()
                && !matches!(
                    el,
                    SubmodelElement::SubmodelElementCollection(_)
                        | SubmodelElement::SubmodelElementList(_)
                        | SubmodelElement::Entity(_)
                )
            {
                return Err(ApiError::bad(format!(
                    "a {:?} has no $path view (only collections, lists and entities)",
                    el.key_type()
                )));
            }
            let mut out = vec![views::render_path(segs)];
            views::paths(
                el.children(),
                segs,
                el.is_list(),
                level == Level::Deep,
                &mut out,
            );
            ok(&out)
        }
        "attachment" => match el {
            SubmodelElement::File(_) => Err(ApiError::not_found(format!(
                "no file content is stored for {path:?}"
            ))),
            _ => Err(ApiError::bad(format!(
                "{path:?} is a {:?}, not a File",
                el.key_type()
            ))),
        },
        other => Err(ApiError::not_found(format!("unknown modifier {other:?}"))),
    }
}

/// `POST …/submodel-elements/{idShortPath}`: one more element in the collection, list or
/// entity at the path, refused if its idShort is taken there.
fn add_child(st: &AppState, id: &str, path: &str, segs: &[Seg], body: &[u8]) -> ApiResult {
    let mut added = None;
    st.store.transaction(|tx| -> Result<(), ApiError> {
        let mut sm = tx_submodel(tx, id)?;
        let (children, is_list) = views::find_children_mut(&mut sm.submodel_elements, segs)
            .ok_or_else(|| {
                ApiError::bad(format!("{path:?} does not exist or cannot hold elements"))
            })?;
        let el = parse::parse_element(body, is_list)?;
        if let Some(n) = el.id_short()
            && children.iter().any(|e| e.id_short() == Some(n))
        {
            return Err(ApiError::conflict(format!(
                "{path:?} already has an element {n:?}"
            )));
        }
        children.push(el.clone());
        added = Some(el);
        save_submodel(tx, &st.base_url, &sm)
    })?;
    created(
        &added,
        &format!(
            "{}/submodels/{}/submodel-elements/{path}",
            st.base_url,
            ids::encode(id)
        ),
    )
}

// ---------------------------------------------------------------------------
// Concept descriptions and serialization
// ---------------------------------------------------------------------------

pub fn concept_descriptions(st: &AppState, c: &Call<'_>, rest: &[&str]) -> ApiResult {
    let (m, q, body) = (c.method, c.query, c.body);
    match (rest, m) {
        ([], &Method::GET) => {
            let filter = Filter {
                id_short: q.get("idShort").map(str::to_string),
                ..Filter::default()
            };
            util::db_paged::<ConceptDescription>(&st.store, Kind::ConceptDescription, &filter, q)
        }
        ([], &Method::POST) => {
            let cd = parse::parse_concept_description(body)?;
            util::create_record(
                st,
                Kind::ConceptDescription,
                "concept-descriptions",
                &cd.id,
                &cd,
                |_| Ok(()),
            )
        }
        ([id], _) => {
            let id = decode_id(id)?;
            match *m {
                Method::GET => ok(&util::get_record::<ConceptDescription>(
                    &st.store,
                    Kind::ConceptDescription,
                    &id,
                )?),
                Method::PUT => {
                    let cd = parse::parse_concept_description(body)?;
                    util::same_id(&cd.id, &id)?;
                    st.store.transaction(|tx| -> Result<(), ApiError> {
                        Ok(tx.replace(Kind::ConceptDescription, &id, &to_bytes(&cd)?)?)
                    })?;
                    no_content()
                }
                Method::DELETE => {
                    st.store.transaction(|tx| -> Result<(), ApiError> {
                        Ok(tx.remove(Kind::ConceptDescription, &id)?)
                    })?;
                    no_content()
                }
                _ => Err(unrouted(m, "/concept-descriptions/{cdIdentifier}")),
            }
        }
        _ => Err(unrouted(m, "/concept-descriptions")),
    }
}

pub fn serialization(st: &AppState, q: &Query) -> ApiResult {
    let aas_ids = q.ids("aasIds")?;
    let sm_ids = q.ids("submodelIds")?;
    let include_cd = q.bool("includeConceptDescriptions")?.unwrap_or(true);
    let mut env = aas::Environment::default();
    let mut wanted_sm = sm_ids.clone();
    if aas_ids.is_empty() && sm_ids.is_empty() {
        env = crate::export_environment(&st.store)?;
    } else {
        for id in &aas_ids {
            let s = load_shell(st, id)?;
            if sm_ids.is_empty() {
                wanted_sm.extend(
                    s.submodels
                        .iter()
                        .filter_map(|r| r.keys.first().map(|k| k.value.clone())),
                );
            }
            env.asset_administration_shells.push(s);
        }
        for id in &wanted_sm {
            match load_submodel(st, id) {
                Ok(sm) => env.submodels.push(sm),
                // a shell may reference a submodel held elsewhere
                Err(e) if sm_ids.contains(id) => return Err(e),
                Err(_) => {}
            }
        }
        if include_cd {
            env.concept_descriptions = all::<ConceptDescription>(st, Kind::ConceptDescription)?
                .into_iter()
                .map(|(_, c)| c)
                .collect();
        }
    }
    if !include_cd {
        env.concept_descriptions.clear();
    }
    util::ok(&env)
}
