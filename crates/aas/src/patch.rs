//! Partial updates of submodels and submodel elements: the `PATCH` operations
//! of the AAS API v3.0 (Part 2) on `…/submodels/{id}` and
//! `…/submodel-elements/{idShortPath}`, each plain, `$metadata` or `$value`.
//!
//! Each function takes the stored object and the request body and returns the
//! updated object, checked against the metamodel like a `PUT` body: the caller
//! stores it only if this returned `Ok`. Errors name the JSON path in the
//! request body.
//!
//! Rules:
//! - **Merge** (plain and `$metadata`): the body is a JSON object holding the
//!   fields to change, merged into the stored object as in JSON Merge Patch
//!   (RFC 7396: objects merge member by member, `null` removes an optional
//!   field, any other value replaces the stored one), with one difference:
//!   lists of submodel elements keyed by idShort (`submodelElements`, a
//!   collection's `value`, an entity's `statements`) merge element by element
//!   — a given element with the idShort of a stored one is merged into it, one
//!   with a new idShort is added, elements not mentioned stay. A PATCH never
//!   removes an element (`DELETE` does) and cannot change `id`, `idShort` or
//!   `modelType` (400). The items of a SubmodelElementList have no idShort:
//!   a given `value` replaces the list's items.
//! - **`$metadata`**: as the plain merge, but the value fields of the object
//!   (`submodelElements`; `value`, `valueId`, `min`, `max`, `contentType`,
//!   `statements`, `entityType`, `globalAssetId`, `specificAssetIds`,
//!   `first`, `second`) may only repeat what is stored (so what `GET
//!   …/$metadata` returned can be sent back), never change it.
//! - **`$value`**: the body is the ValueOnly form, as `GET …/$value` returns
//!   it: for a submodel `{idShort: value, …}`; for an element the bare value
//!   or `{idShort: value}`. Only the values given change: members of a
//!   collection, an entity's statements and a range's `min`/`max` that are not
//!   named keep their values; the items of a list are changed by position
//!   (at most as many as it has). A value for an element that does not exist
//!   is an error, not an addition.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::model::{LangString, Submodel, SubmodelElement};
use crate::parse::{self, ParseError};
use crate::validate;

fn err(path: impl Into<String>, message: impl Into<String>) -> ParseError {
    ParseError {
        path: path.into(),
        message: message.into(),
    }
}

/// The body as a JSON object (a PATCH body of the plain and `$metadata` forms).
fn body_object(body: &[u8]) -> Result<Map<String, Value>, ParseError> {
    match parse::from_json::<Value>(body)? {
        Value::Object(m) => Ok(m),
        other => Err(err(
            "$",
            format!("a PATCH body is a JSON object, not {}", kind_of(&other)),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ParseError> {
    serde_json::to_value(v).map_err(|e| err("$", format!("cannot serialise: {e}")))
}

/// Deserialises the JSON `v` found at `path` of the body as `T`, with errors
/// located at `path`.
fn parse_at<T: DeserializeOwned>(v: &Value, path: &str) -> Result<T, ParseError> {
    let bytes = serde_json::to_vec(v).map_err(|e| err(path, e.to_string()))?;
    parse::from_json(&bytes).map_err(|e| ParseError {
        path: format!("{path}{}", e.path.strip_prefix('$').unwrap_or(&e.path)),
        message: e.message,
    })
}

fn first_violation(v: Vec<validate::Violation>) -> Result<(), ParseError> {
    match v.into_iter().next() {
        Some(v) => Err(v.into()),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Merge (plain and $metadata)
// ---------------------------------------------------------------------------

/// The member of an object of `model_type` that holds submodel elements keyed
/// by idShort, if any.
fn keyed_children(model_type: Option<&str>) -> Option<&'static str> {
    match model_type {
        None => Some("submodelElements"),
        Some("SubmodelElementCollection") => Some("value"),
        Some("Entity") => Some("statements"),
        _ => None,
    }
}

/// Merges `patch` into `target` (a submodel when `model_type` is `None`, else
/// an element of that modelType); `path` locates `patch` in the body.
fn merge_object(
    target: &mut Map<String, Value>,
    patch: Map<String, Value>,
    model_type: Option<&str>,
    path: &str,
) -> Result<(), ParseError> {
    let keyed = keyed_children(model_type);
    for (k, v) in patch {
        let here = format!("{path}.{k}");
        match (k.as_str(), v) {
            ("modelType", Value::String(t)) if model_type.is_some_and(|m| m != t) => {
                return Err(err(
                    here,
                    format!(
                        "a PATCH cannot change the modelType {:?} to {t:?} (replace the element with PUT)",
                        model_type.unwrap_or_default()
                    ),
                ));
            }
            (_, Value::Null) => {
                target.remove(&k);
            }
            (name, Value::Array(items)) if Some(name) == keyed => {
                let stored = match target.remove(&k) {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                target.insert(k, Value::Array(merge_elements(stored, items, &here)?));
            }
            (_, Value::Object(m)) => match target.get_mut(&k) {
                Some(Value::Object(t)) => merge_plain(t, m),
                _ => {
                    target.insert(k, Value::Object(m));
                }
            },
            (_, v) => {
                target.insert(k, v);
            }
        }
    }
    Ok(())
}

/// RFC 7396 merge of two plain objects (no submodel elements inside).
fn merge_plain(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(&k);
            }
            Value::Object(m) => match target.get_mut(&k) {
                Some(Value::Object(t)) => merge_plain(t, m),
                _ => {
                    target.insert(k, Value::Object(m));
                }
            },
            v => {
                target.insert(k, v);
            }
        }
    }
}

/// Merges the given elements into the stored ones by idShort.
fn merge_elements(
    mut stored: Vec<Value>,
    given: Vec<Value>,
    path: &str,
) -> Result<Vec<Value>, ParseError> {
    for (i, g) in given.into_iter().enumerate() {
        let here = format!("{path}[{i}]");
        let Value::Object(g) = g else {
            return Err(err(
                here,
                format!("a submodel element is a JSON object, not {}", kind_of(&g)),
            ));
        };
        let Some(id_short) = g.get("idShort").and_then(Value::as_str).map(str::to_owned) else {
            return Err(err(
                format!("{here}.idShort"),
                "each element given in a PATCH names its idShort (the stored element it changes, or the new one)",
            ));
        };
        let slot = stored
            .iter_mut()
            .find(|s| s.get("idShort").and_then(Value::as_str) == Some(id_short.as_str()));
        match slot {
            Some(Value::Object(s)) => {
                let model_type = s
                    .get("modelType")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                merge_object(s, g, model_type.as_deref(), &here)?;
                check_element(s, &here)?;
            }
            _ => {
                check_element(&g, &here)?;
                stored.push(Value::Object(g));
            }
        }
    }
    Ok(stored)
}

/// Parses and validates one merged element, with errors located at `path` of
/// the body (the whole object is checked again once merged).
fn check_element(e: &Map<String, Value>, path: &str) -> Result<(), ParseError> {
    let el: SubmodelElement = parse_at(&Value::Object(e.clone()), path)?;
    first_violation(validate::element(&el, path, false))
}

/// The value fields of a submodel (`None`) or an element of `model_type`:
/// what `$metadata` leaves out or must keep.
fn value_fields(model_type: Option<&str>) -> &'static [&'static str] {
    match model_type {
        None => &["submodelElements"],
        Some("Property" | "MultiLanguageProperty") => &["value", "valueId"],
        Some("Range") => &["min", "max"],
        Some("File" | "Blob") => &["value", "contentType"],
        Some("ReferenceElement" | "SubmodelElementCollection" | "SubmodelElementList") => {
            &["value"]
        }
        Some("Entity") => &[
            "statements",
            "entityType",
            "globalAssetId",
            "specificAssetIds",
        ],
        Some("RelationshipElement") => &["first", "second"],
        _ => &[],
    }
}

/// Refuses a `$metadata` body that changes a value field.
fn keep_values(
    stored: &Map<String, Value>,
    patch: &Map<String, Value>,
    model_type: Option<&str>,
) -> Result<(), ParseError> {
    for f in value_fields(model_type) {
        if let Some(v) = patch.get(*f)
            && stored.get(*f).unwrap_or(&Value::Null) != v
        {
            let how = if model_type.is_none() {
                "PATCH or PUT the elements"
            } else {
                "PATCH …/$value or the element itself"
            };
            return Err(err(
                format!("$.{f}"),
                format!("`{f}` is not metadata: a $metadata PATCH cannot change it ({how})"),
            ));
        }
    }
    Ok(())
}

fn submodel_merge(stored: &Submodel, body: &[u8], metadata: bool) -> Result<Submodel, ParseError> {
    let patch = body_object(body)?;
    let Value::Object(mut target) = to_value(stored)? else {
        return Err(err("$", "a stored submodel is not a JSON object"));
    };
    if metadata {
        keep_values(&target, &patch, None)?;
    }
    if let Some(id) = patch.get("id")
        && id.as_str() != Some(stored.id.as_str())
    {
        return Err(err(
            "$.id",
            format!(
                "a PATCH cannot change the id: it is {:?} (the id in the path)",
                stored.id
            ),
        ));
    }
    if let Some(t) = patch.get("modelType")
        && t.as_str() != Some("Submodel")
    {
        return Err(err("$.modelType", "must be \"Submodel\""));
    }
    merge_object(&mut target, patch, None, "$")?;
    parse::parse_submodel(&serde_json::to_vec(&target).map_err(|e| err("$", e.to_string()))?)
}

/// `PATCH /submodels/{id}`: merges the body into the stored submodel.
pub fn merge_submodel(stored: &Submodel, body: &[u8]) -> Result<Submodel, ParseError> {
    submodel_merge(stored, body, false)
}

/// `PATCH /submodels/{id}/$metadata`: merges the body into everything of the
/// stored submodel but its elements.
pub fn merge_submodel_metadata(stored: &Submodel, body: &[u8]) -> Result<Submodel, ParseError> {
    submodel_merge(stored, body, true)
}

fn element_merge(
    stored: &SubmodelElement,
    body: &[u8],
    in_list: bool,
    metadata: bool,
) -> Result<SubmodelElement, ParseError> {
    let patch = body_object(body)?;
    let Value::Object(mut target) = to_value(stored)? else {
        return Err(err("$", "a stored element is not a JSON object"));
    };
    let model_type = target
        .get("modelType")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if metadata {
        keep_values(&target, &patch, model_type.as_deref())?;
    }
    if let Some(given) = patch.get("idShort")
        && given.as_str() != stored.id_short()
    {
        return Err(err(
            "$.idShort",
            match stored.id_short() {
                Some(s) => format!(
                    "a PATCH cannot change the idShort: it stays {s:?} (the last part of the path)"
                ),
                None => "an item of a SubmodelElementList has no idShort".to_string(),
            },
        ));
    }
    if let Some(t) = patch.get("modelType")
        && t.as_str() != model_type.as_deref()
    {
        return Err(err(
            "$.modelType",
            format!(
                "a PATCH cannot change the modelType {:?} (replace the element with PUT)",
                model_type.as_deref().unwrap_or_default()
            ),
        ));
    }
    merge_object(&mut target, patch, model_type.as_deref(), "$")?;
    parse::parse_element(
        &serde_json::to_vec(&target).map_err(|e| err("$", e.to_string()))?,
        in_list,
    )
}

/// `PATCH …/submodel-elements/{idShortPath}`: merges the body into the stored
/// element (`in_list`: the element is an item of a SubmodelElementList).
pub fn merge_element(
    stored: &SubmodelElement,
    body: &[u8],
    in_list: bool,
) -> Result<SubmodelElement, ParseError> {
    element_merge(stored, body, in_list, false)
}

/// `PATCH …/submodel-elements/{idShortPath}/$metadata`: merges the body into
/// the element's metadata; its value stays.
pub fn merge_element_metadata(
    stored: &SubmodelElement,
    body: &[u8],
    in_list: bool,
) -> Result<SubmodelElement, ParseError> {
    element_merge(stored, body, in_list, true)
}

// ---------------------------------------------------------------------------
// $value
// ---------------------------------------------------------------------------

/// `PATCH /submodels/{id}/$value`: sets the values given as
/// `{idShort: value, …}`; elements not named keep their values.
pub fn apply_submodel_value(stored: &Submodel, body: &[u8]) -> Result<Submodel, ParseError> {
    let Value::Object(given) = parse::from_json::<Value>(body)? else {
        return Err(err(
            "$",
            "the ValueOnly form of a submodel is a JSON object {idShort: value, …}",
        ));
    };
    let mut sm = stored.clone();
    set_children(&mut sm.submodel_elements, given, "$", true)?;
    first_violation(validate::submodel(&sm))
        .map_err(|e| err("$", format!("the submodel would become invalid: {e}")))?;
    Ok(sm)
}

/// `PATCH …/submodel-elements/{idShortPath}/$value`: sets the element's value
/// from its ValueOnly form (bare, or `{idShort: value}`).
pub fn apply_element_value(
    stored: &SubmodelElement,
    body: &[u8],
    in_list: bool,
) -> Result<SubmodelElement, ParseError> {
    let mut v = parse::from_json::<Value>(body)?;
    let mut path = "$".to_string();
    if let (Some(name), Value::Object(m)) = (stored.id_short(), &mut v)
        && m.len() == 1
        && let Some(inner) = m.remove(name)
    {
        path = format!("$.{name}");
        v = inner;
    }
    let mut el = stored.clone();
    set_value(&mut el, v, &path)?;
    first_violation(validate::element(&el, &path, in_list))?;
    Ok(el)
}

/// Sets the values of the named children of a collection, submodel or entity.
fn set_children(
    children: &mut [SubmodelElement],
    given: Map<String, Value>,
    path: &str,
    check: bool,
) -> Result<(), ParseError> {
    for (name, v) in given {
        let here = format!("{path}.{name}");
        let Some(child) = children.iter_mut().find(|c| c.id_short() == Some(&name)) else {
            return Err(err(
                here,
                format!(
                    "there is no element {name:?} here (a $value PATCH changes values, it adds no elements)"
                ),
            ));
        };
        set_value(child, v, &here)?;
        if check {
            first_violation(validate::element(child, &here, false))?;
        }
    }
    Ok(())
}

/// The text of a scalar ValueOnly value (string, number or boolean).
fn scalar(v: &Value, path: &str) -> Result<String, ParseError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(err(
            path,
            format!(
                "expected a string, number or boolean, not {}",
                kind_of(other)
            ),
        )),
    }
}

fn object(v: Value, path: &str, what: &str) -> Result<Map<String, Value>, ParseError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(err(
            path,
            format!(
                "the value of {what} is a JSON object, not {}",
                kind_of(&other)
            ),
        )),
    }
}

fn only_keys(
    m: &Map<String, Value>,
    keys: &[&str],
    path: &str,
    what: &str,
) -> Result<(), ParseError> {
    match m.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(err(
            format!("{path}.{k}"),
            format!(
                "unknown field in the value of {what} (expected {})",
                keys.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// Sets the value of one element from its ValueOnly form `v` (at `path`).
fn set_value(el: &mut SubmodelElement, v: Value, path: &str) -> Result<(), ParseError> {
    match el {
        SubmodelElement::Property(p) => {
            p.value = match v {
                Value::Null => None,
                v => Some(scalar(&v, path)?),
            };
        }
        SubmodelElement::MultiLanguageProperty(p) => p.value = lang_strings(v, path)?,
        SubmodelElement::Range(r) => {
            let m = object(v, path, "a Range")?;
            only_keys(&m, &["min", "max"], path, "a Range")?;
            for (k, v) in m {
                let here = format!("{path}.{k}");
                let s = match v {
                    Value::Null => None,
                    v => Some(scalar(&v, &here)?),
                };
                if k == "min" {
                    r.min = s;
                } else {
                    r.max = s;
                }
            }
        }
        SubmodelElement::File(f) => {
            let fields = (&mut f.content_type, &mut f.value);
            set_pair(v, path, "a File", ["contentType", "value"], fields)?;
        }
        SubmodelElement::Blob(b) => {
            let fields = (&mut b.content_type, &mut b.value);
            set_pair(v, path, "a Blob", ["contentType", "value"], fields)?;
        }
        SubmodelElement::ReferenceElement(r) => {
            r.value = match v {
                Value::Null => None,
                v => Some(parse_at(&v, path)?),
            };
        }
        SubmodelElement::Capability(_) => {
            return Err(err(path, "a Capability has no value"));
        }
        SubmodelElement::SubmodelElementCollection(c) => {
            let m = object(v, path, "a SubmodelElementCollection")?;
            set_children(&mut c.value, m, path, false)?;
        }
        SubmodelElement::SubmodelElementList(l) => set_list_items(&mut l.value, v, path)?,
        SubmodelElement::Entity(e) => set_entity(e, v, path)?,
        SubmodelElement::RelationshipElement(r) => {
            let fields = (&mut r.first, &mut r.second);
            set_pair(
                v,
                path,
                "a RelationshipElement",
                ["first", "second"],
                fields,
            )?;
        }
    }
    Ok(())
}

/// An element whose value is an object of two members (`keys`), each read into its field.
fn set_pair<A: DeserializeOwned, B: DeserializeOwned>(
    v: Value,
    path: &str,
    what: &str,
    keys: [&str; 2],
    (first, second): (&mut A, &mut B),
) -> Result<(), ParseError> {
    let m = object(v, path, what)?;
    only_keys(&m, &keys, path, what)?;
    for (k, v) in m {
        let here = format!("{path}.{k}");
        if k == keys[0] {
            *first = parse_at(&v, &here)?;
        } else {
            *second = parse_at(&v, &here)?;
        }
    }
    Ok(())
}

/// The value of a MultiLanguageProperty: an array of `{language: text}` objects.
fn lang_strings(v: Value, path: &str) -> Result<Vec<LangString>, ParseError> {
    let Value::Array(items) = v else {
        return Err(err(
            path,
            format!(
                "the value of a MultiLanguageProperty is an array of {{language: text}} objects, not {}",
                kind_of(&v)
            ),
        ));
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let here = format!("{path}[{i}]");
        let m = object(item, &here, "a language string")?;
        if m.len() != 1 {
            return Err(err(here, "a language string is one {language: text} pair"));
        }
        for (language, text) in m {
            let Value::String(text) = text else {
                return Err(err(format!("{here}.{language}"), "the text is a string"));
            };
            out.push(LangString { language, text });
        }
    }
    Ok(out)
}

/// The items of a SubmodelElementList, changed in place (never more values than items).
fn set_list_items(
    items_now: &mut [SubmodelElement],
    v: Value,
    path: &str,
) -> Result<(), ParseError> {
    let Value::Array(items) = v else {
        return Err(err(
            path,
            format!(
                "the value of a SubmodelElementList is an array, not {}",
                kind_of(&v)
            ),
        ));
    };
    if items.len() > items_now.len() {
        return Err(err(
            path,
            format!(
                "{} values for a list of {} items (a $value PATCH changes items, POST adds them)",
                items.len(),
                items_now.len()
            ),
        ));
    }
    for (i, (item, v)) in items_now.iter_mut().zip(items).enumerate() {
        set_value(item, v, &format!("{path}[{i}]"))?;
    }
    Ok(())
}

/// The value of an Entity: statements, entity type and asset ids.
fn set_entity(e: &mut crate::model::Entity, v: Value, path: &str) -> Result<(), ParseError> {
    let m = object(v, path, "an Entity")?;
    only_keys(
        &m,
        &[
            "statements",
            "entityType",
            "globalAssetId",
            "specificAssetIds",
        ],
        path,
        "an Entity",
    )?;
    for (k, v) in m {
        let here = format!("{path}.{k}");
        match k.as_str() {
            // {idShort: value} as GET returns it, or [{idShort: value}, …]
            "statements" => match v {
                Value::Object(m) => set_children(&mut e.statements, m, &here, false)?,
                Value::Array(items) => {
                    for (i, item) in items.into_iter().enumerate() {
                        let m = object(item, &format!("{here}[{i}]"), "a statement")?;
                        set_children(&mut e.statements, m, &format!("{here}[{i}]"), false)?;
                    }
                }
                other => {
                    return Err(err(
                        here,
                        format!(
                            "statements are a JSON object {{idShort: value}}, not {}",
                            kind_of(&other)
                        ),
                    ));
                }
            },
            "entityType" => e.entity_type = parse_at(&v, &here)?,
            "globalAssetId" => e.global_asset_id = parse_at(&v, &here)?,
            _ => e.specific_asset_ids = parse_at(&v, &here)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submodel() -> Submodel {
        parse::parse_submodel(
            json!({
                "modelType": "Submodel", "id": "urn:t:sm", "idShort": "Settings",
                "description": [{"language": "en", "text": "old"}],
                "submodelElements": [
                    {"modelType": "Property", "idShort": "T", "valueType": "xs:double", "value": "37.0",
                     "description": [{"language": "en", "text": "temperature"}]},
                    {"modelType": "Range", "idShort": "H", "valueType": "xs:int", "min": "85", "max": "95"},
                    {"modelType": "MultiLanguageProperty", "idShort": "Label",
                     "value": [{"language": "en", "text": "Incubator"}]},
                    {"modelType": "SubmodelElementCollection", "idShort": "Door", "value": [
                        {"modelType": "Property", "idShort": "Open", "valueType": "xs:boolean", "value": "false"},
                        {"modelType": "Property", "idShort": "Count", "valueType": "xs:int", "value": "3"}]},
                    {"modelType": "SubmodelElementList", "idShort": "Loads", "typeValueListElement": "Property",
                     "valueTypeListElement": "xs:int", "value": [
                        {"modelType": "Property", "valueType": "xs:int", "value": "1"},
                        {"modelType": "Property", "valueType": "xs:int", "value": "2"}]}
                ]
            })
            .to_string()
            .as_bytes(),
        )
        .expect("test submodel")
    }

    fn el<'a>(sm: &'a Submodel, name: &str) -> &'a SubmodelElement {
        sm.submodel_elements
            .iter()
            .find(|e| e.id_short() == Some(name))
            .expect("element")
    }

    fn prop(e: &SubmodelElement) -> Option<&str> {
        match e {
            SubmodelElement::Property(p) => p.value.as_deref(),
            _ => panic!("not a property"),
        }
    }

    fn body(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn merge_changes_given_fields_and_keeps_the_rest() {
        let sm = submodel();
        let out = merge_submodel(
            &sm,
            &body(json!({"description": [{"language": "en", "text": "new"}],
                "submodelElements": [{"idShort": "T", "value": "36.5"},
                    {"idShort": "Door", "value": [{"idShort": "Count", "value": "4"}]},
                    {"modelType": "Property", "idShort": "Extra", "valueType": "xs:string", "value": "x"}]})),
        )
        .expect("merged");
        assert_eq!(out.description[0].text, "new");
        assert_eq!(out.id_short.as_deref(), Some("Settings"));
        assert_eq!(prop(el(&out, "T")), Some("36.5"));
        // the rest of T (its description) and the unnamed elements stay
        assert_eq!(el(&out, "T").description()[0].text, "temperature");
        assert_eq!(el(&out, "H"), el(&sm, "H"));
        let door = el(&out, "Door").children();
        assert_eq!(prop(&door[0]), Some("false"));
        assert_eq!(prop(&door[1]), Some("4"));
        assert_eq!(out.submodel_elements.len(), 6);
        assert_eq!(prop(el(&out, "Extra")), Some("x"));
        // null removes an optional field
        let out = merge_submodel(&sm, &body(json!({"description": null}))).expect("merged");
        assert!(out.description.is_empty());
    }

    #[test]
    fn merge_refuses_what_would_change_identity_or_break_the_model() {
        let sm = submodel();
        let e = merge_submodel(&sm, &body(json!({"id": "urn:t:other"}))).expect_err("refused");
        assert_eq!(e.path, "$.id");
        let e = merge_submodel(&sm, &body(json!([1]))).expect_err("refused");
        assert_eq!(
            (e.path.as_str(), e.message.contains("JSON object")),
            ("$", true)
        );
        let e = merge_submodel(&sm, b"{\"idShort\": ").expect_err("refused");
        assert!(e.message.contains("malformed JSON"), "{e}");
        let e = merge_submodel(
            &sm,
            &body(json!({"submodelElements": [{"idShort": "T", "value": "warm"}]})),
        )
        .expect_err("refused");
        assert_eq!(e.path, "$.submodelElements[0].value", "{e}");
        let e = merge_submodel(
            &sm,
            &body(json!({"submodelElements": [{"idShort": "T", "modelType": "Range"}]})),
        )
        .expect_err("refused");
        assert_eq!(e.path, "$.submodelElements[0].modelType", "{e}");
        let e = merge_submodel(&sm, &body(json!({"submodelElements": [{"value": "1"}]})))
            .expect_err("refused");
        assert_eq!(e.path, "$.submodelElements[0].idShort", "{e}");
        let e = merge_submodel(&sm, &body(json!({"colour": "red"}))).expect_err("refused");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn metadata_merge_cannot_change_values() {
        let sm = submodel();
        let out =
            merge_submodel_metadata(&sm, &body(json!({"idShort": "Settings2"}))).expect("merged");
        assert_eq!(out.id_short.as_deref(), Some("Settings2"));
        assert_eq!(out.submodel_elements, sm.submodel_elements);
        let e = merge_submodel_metadata(&sm, &body(json!({"submodelElements": []})))
            .expect_err("refused");
        assert_eq!(e.path, "$.submodelElements");
        let t = el(&sm, "T");
        let e =
            merge_element_metadata(t, &body(json!({"value": "1"})), false).expect_err("refused");
        assert_eq!(e.path, "$.value");
        // sending back what GET …/$metadata returned, with a change, works
        let out = merge_element_metadata(
            t,
            &body(
                json!({"modelType": "Property", "idShort": "T", "valueType": "xs:double",
                "category": "PARAMETER"}),
            ),
            false,
        )
        .expect("merged");
        assert_eq!(out.category(), Some("PARAMETER"));
        assert_eq!(prop(&out), Some("37.0"));
    }

    #[test]
    fn element_merge_keeps_its_idshort_and_type() {
        let sm = submodel();
        let out = merge_element(el(&sm, "H"), &body(json!({"max": "97"})), false).expect("merged");
        match &out {
            SubmodelElement::Range(r) => {
                assert_eq!(
                    (r.min.as_deref(), r.max.as_deref()),
                    (Some("85"), Some("97"))
                )
            }
            _ => panic!("not a range"),
        }
        let e = merge_element(el(&sm, "H"), &body(json!({"idShort": "K"})), false)
            .expect_err("refused");
        assert_eq!(e.path, "$.idShort");
        let e =
            merge_element(el(&sm, "H"), &body(json!({"max": "high"})), false).expect_err("refused");
        assert_eq!(e.path, "$.max", "{e}");
        // list items: a given value replaces the items
        let out = merge_element(
            el(&sm, "Loads"),
            &body(
                json!({"value": [{"modelType": "Property", "valueType": "xs:int", "value": "9"}]}),
            ),
            false,
        )
        .expect("merged");
        assert_eq!(out.children().len(), 1);
    }

    #[test]
    fn value_patch_changes_only_the_values_given() {
        let sm = submodel();
        let out = apply_submodel_value(
            &sm,
            &body(json!({"T": 36.5, "H": {"max": 97}, "Door": {"Open": true},
                "Label": [{"en": "Inc 7"}, {"de": "Ink 7"}], "Loads": [5]})),
        )
        .expect("applied");
        assert_eq!(prop(el(&out, "T")), Some("36.5"));
        match el(&out, "H") {
            SubmodelElement::Range(r) => {
                assert_eq!(
                    (r.min.as_deref(), r.max.as_deref()),
                    (Some("85"), Some("97"))
                )
            }
            _ => panic!("not a range"),
        }
        let door = el(&out, "Door").children();
        assert_eq!((prop(&door[0]), prop(&door[1])), (Some("true"), Some("3")));
        let loads = el(&out, "Loads").children();
        assert_eq!((prop(&loads[0]), prop(&loads[1])), (Some("5"), Some("2")));
        match el(&out, "Label") {
            SubmodelElement::MultiLanguageProperty(p) => assert_eq!(p.value.len(), 2),
            _ => panic!("not an MLP"),
        }
        // the element forms: bare and {idShort: value}
        let t = el(&sm, "T");
        assert_eq!(
            prop(&apply_element_value(t, b"\"35.5\"", false).expect("bare")),
            Some("35.5")
        );
        assert_eq!(
            prop(&apply_element_value(t, &body(json!({"T": 35})), false).expect("wrapped")),
            Some("35")
        );
    }

    #[test]
    fn value_patch_errors_are_located() {
        let sm = submodel();
        let e = apply_submodel_value(&sm, &body(json!({"T": "warm"}))).expect_err("refused");
        assert_eq!(e.path, "$.T.value", "{e}");
        let e = apply_submodel_value(&sm, &body(json!({"Nope": 1}))).expect_err("refused");
        assert_eq!(e.path, "$.Nope");
        let e =
            apply_submodel_value(&sm, &body(json!({"Door": {"Open": [1]}}))).expect_err("refused");
        assert_eq!(e.path, "$.Door.Open", "{e}");
        let e = apply_submodel_value(&sm, &body(json!({"Loads": [1, 2, 3]}))).expect_err("refused");
        assert_eq!(e.path, "$.Loads", "{e}");
        let e = apply_submodel_value(&sm, &body(json!({"H": {"mid": 1}}))).expect_err("refused");
        assert_eq!(e.path, "$.H.mid", "{e}");
        let e = apply_submodel_value(&sm, &body(json!(["T"]))).expect_err("refused");
        assert_eq!(e.path, "$");
        let e = apply_element_value(el(&sm, "Label"), &body(json!({"Label": "x"})), false)
            .expect_err("refused");
        assert_eq!(e.path, "$.Label", "{e}");
    }
}
