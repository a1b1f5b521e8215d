//! The serialisation modifiers of AAS Part 2: idShort paths, `$value`
//! (ValueOnly), `$metadata`, `$reference`, `$path`, `level=core` and
//! `extent=withoutBlobValue`.

use serde_json::{Map, Value, json};

use crate::model::*;

/// One step of an idShortPath: `a.b[2]` is `[Name(a), Name(b), Index(2)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Name(String),
    Index(usize),
}

/// Parses an idShortPath such as `Steps[0].Parameters.Temperature`.
pub fn parse_id_short_path(s: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    let bad = || format!("{s:?} is not a valid idShortPath");
    for (i, part) in s.split('.').enumerate() {
        let (name, mut rest) = match part.find('[') {
            Some(j) => (&part[..j], &part[j..]),
            None => (part, ""),
        };
        if name.is_empty() {
            // `a[0].x` is fine, but `.x`, `a..b` and a leading index are not
            return Err(bad());
        }
        if !crate::validate::is_valid_id_short(name) {
            return Err(bad());
        }
        let _ = i;
        out.push(Seg::Name(name.to_string()));
        while !rest.is_empty() {
            let Some(r) = rest.strip_prefix('[') else {
                return Err(bad());
            };
            let Some(end) = r.find(']') else {
                return Err(bad());
            };
            let idx = &r[..end];
            if idx.is_empty() || !idx.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            out.push(Seg::Index(idx.parse().map_err(|_| bad())?));
            rest = &r[end + 1..];
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Renders segments back to an idShortPath.
pub fn render_path(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Name(n) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(n);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn step<'a>(
    elements: &'a [SubmodelElement],
    parent_is_list: bool,
    seg: &Seg,
) -> Option<&'a SubmodelElement> {
    match (seg, parent_is_list) {
        (Seg::Name(n), false) => elements.iter().find(|e| e.id_short() == Some(n.as_str())),
        (Seg::Index(i), true) => elements.get(*i),
        _ => None,
    }
}

/// Finds the element at `path` below the top-level `elements` of a submodel.
pub fn find<'a>(elements: &'a [SubmodelElement], path: &[Seg]) -> Option<&'a SubmodelElement> {
    let (first, rest) = path.split_first()?;
    let mut cur = step(elements, false, first)?;
    for seg in rest {
        cur = step(cur.children(), cur.is_list(), seg)?;
    }
    Some(cur)
}

/// The container that holds the element at `path`, the element's index in it,
/// and whether the container is a SubmodelElementList.
pub fn find_slot_mut<'a>(
    elements: &'a mut Vec<SubmodelElement>,
    path: &[Seg],
) -> Option<(&'a mut Vec<SubmodelElement>, usize, bool)> {
    let (last, parents) = path.split_last()?;
    let mut container = elements;
    let mut is_list = false;
    for seg in parents {
        let idx = index_in(container, is_list, seg)?;
        let el = container.get_mut(idx)?;
        is_list = el.is_list();
        container = el.children_mut()?;
    }
    let idx = index_in(container, is_list, last)?;
    Some((container, idx, is_list))
}

/// The children list of the element at `path` (for adding a child), and
/// whether it is a SubmodelElementList.
pub fn find_children_mut<'a>(
    elements: &'a mut Vec<SubmodelElement>,
    path: &[Seg],
) -> Option<(&'a mut Vec<SubmodelElement>, bool)> {
    let (container, idx, _) = find_slot_mut(elements, path)?;
    let el = container.get_mut(idx)?;
    let is_list = el.is_list();
    Some((el.children_mut()?, is_list))
}

fn index_in(container: &[SubmodelElement], is_list: bool, seg: &Seg) -> Option<usize> {
    match (seg, is_list) {
        (Seg::Name(n), false) => container
            .iter()
            .position(|e| e.id_short() == Some(n.as_str())),
        (Seg::Index(i), true) if *i < container.len() => Some(*i),
        _ => None,
    }
}

/// `$reference` of a submodel.
pub fn submodel_reference(id: &str) -> Reference {
    Reference::model(KeyTypes::Submodel, id)
}

/// `$reference` of a shell.
pub fn shell_reference(id: &str) -> Reference {
    Reference::model(KeyTypes::AssetAdministrationShell, id)
}

/// `$reference` of the element at `path` in submodel `sm`.
pub fn element_reference(sm: &Submodel, path: &[Seg]) -> Option<Reference> {
    let mut r = submodel_reference(&sm.id);
    let mut elements: &[SubmodelElement] = &sm.submodel_elements;
    let mut parent_is_list = false;
    for seg in path {
        let el = step(elements, parent_is_list, seg)?;
        let value = match seg {
            Seg::Name(n) => n.clone(),
            Seg::Index(i) => i.to_string(),
        };
        r.keys.push(Key {
            kind: el.key_type(),
            value,
        });
        parent_is_list = el.is_list();
        elements = el.children();
    }
    Some(r)
}

/// idShortPaths of `elements` (prefixed by `prefix`), recursing when `deep`.
pub fn paths(
    elements: &[SubmodelElement],
    prefix: &[Seg],
    parent_is_list: bool,
    deep: bool,
    out: &mut Vec<String>,
) {
    for (i, e) in elements.iter().enumerate() {
        let mut p = prefix.to_vec();
        if parent_is_list {
            p.push(Seg::Index(i));
        } else if let Some(n) = e.id_short() {
            p.push(Seg::Name(n.to_string()));
        } else {
            continue;
        }
        out.push(render_path(&p));
        if deep {
            paths(e.children(), &p, e.is_list(), deep, out);
        }
    }
}

/// Removes grandchildren: what `level=core` shows below an element.
pub fn strip_to_core(elements: &mut [SubmodelElement]) {
    for e in elements {
        if let Some(c) = e.children_mut() {
            c.clear();
        }
    }
}

/// Removes Blob contents everywhere below (`extent=withoutBlobValue`).
pub fn strip_blob_values(elements: &mut [SubmodelElement]) {
    for e in elements {
        if let SubmodelElement::Blob(b) = e {
            b.value = None;
        }
        if let Some(c) = e.children_mut() {
            strip_blob_values(c);
        }
    }
}

/// `$metadata` of an element: the element without its value. `None` for
/// element kinds that have no metadata view (Capability).
pub fn element_metadata(e: &SubmodelElement) -> Option<SubmodelElement> {
    let mut m = e.clone();
    match &mut m {
        SubmodelElement::Property(p) => {
            p.value = None;
            p.value_id = None;
        }
        SubmodelElement::MultiLanguageProperty(p) => {
            p.value.clear();
            p.value_id = None;
        }
        SubmodelElement::Range(r) => {
            r.min = None;
            r.max = None;
        }
        SubmodelElement::File(f) => f.value = None,
        SubmodelElement::Blob(b) => b.value = None,
        SubmodelElement::ReferenceElement(r) => r.value = None,
        SubmodelElement::SubmodelElementCollection(c) => c.value.clear(),
        SubmodelElement::SubmodelElementList(l) => l.value.clear(),
        SubmodelElement::Entity(en) => {
            en.statements.clear();
            // entityType stays (required); the asset ids belong to the value
            if en.entity_type == EntityType::SelfManagedEntity {
                // keep AASd-014 satisfied: a self-managed entity needs its id
            } else {
                en.global_asset_id = None;
                en.specific_asset_ids.clear();
            }
        }
        // first and second are mandatory in the metamodel, so they stay
        SubmodelElement::RelationshipElement(_) => {}
        SubmodelElement::Capability(_) => return None,
    }
    Some(m)
}

/// `$metadata` of a submodel: everything but its elements.
pub fn submodel_metadata(sm: &Submodel) -> Submodel {
    let mut m = sm.clone();
    m.submodel_elements.clear();
    m
}

fn typed(t: DataTypeDefXsd, v: &str) -> Value {
    use DataTypeDefXsd as X;
    match t {
        X::Boolean => Value::Bool(v == "true" || v == "1"),
        X::Byte
        | X::Short
        | X::Int
        | X::Long
        | X::UnsignedByte
        | X::UnsignedShort
        | X::UnsignedInt
        | X::UnsignedLong
        | X::Integer
        | X::NonNegativeInteger
        | X::PositiveInteger
        | X::NonPositiveInteger
        | X::NegativeInteger => {
            let t = v.strip_prefix('+').unwrap_or(v);
            if let Ok(i) = t.parse::<i64>() {
                json!(i)
            } else if let Ok(u) = t.parse::<u64>() {
                json!(u)
            } else {
                Value::String(v.to_string())
            }
        }
        X::Double | X::Float | X::Decimal => match v.parse::<f64>() {
            Ok(f) if f.is_finite() => json!(f),
            _ => Value::String(v.to_string()),
        },
        _ => Value::String(v.to_string()),
    }
}

fn lang_value(v: &[LangString]) -> Value {
    Value::Array(
        v.iter()
            .map(|l| json!({ l.language.clone(): l.text }))
            .collect(),
    )
}

fn object_of(children: &[SubmodelElement], with_blob: bool) -> Value {
    let mut m = Map::new();
    for c in children {
        if let (Some(n), Some(v)) = (c.id_short(), value_only(c, with_blob)) {
            m.insert(n.to_string(), v);
        }
    }
    Value::Object(m)
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// ValueOnly serialisation of an element; `None` when it has no value view
/// (Capability).
pub fn value_only(e: &SubmodelElement, with_blob: bool) -> Option<Value> {
    Some(match e {
        SubmodelElement::Property(p) => match &p.value {
            Some(v) => typed(p.value_type, v),
            None => Value::Null,
        },
        SubmodelElement::MultiLanguageProperty(p) => lang_value(&p.value),
        SubmodelElement::Range(r) => {
            let mut m = Map::new();
            if let Some(v) = &r.min {
                m.insert("min".into(), typed(r.value_type, v));
            }
            if let Some(v) = &r.max {
                m.insert("max".into(), typed(r.value_type, v));
            }
            Value::Object(m)
        }
        SubmodelElement::File(f) => {
            let mut m = Map::new();
            m.insert("contentType".into(), json!(f.content_type));
            if let Some(v) = &f.value {
                m.insert("value".into(), json!(v));
            }
            Value::Object(m)
        }
        SubmodelElement::Blob(b) => {
            let mut m = Map::new();
            m.insert("contentType".into(), json!(b.content_type));
            if with_blob && let Some(v) = &b.value {
                m.insert("value".into(), json!(v));
            }
            Value::Object(m)
        }
        SubmodelElement::ReferenceElement(r) => match &r.value {
            Some(v) => to_json(v),
            None => Value::Null,
        },
        SubmodelElement::Capability(_) => return None,
        SubmodelElement::SubmodelElementCollection(c) => object_of(&c.value, with_blob),
        SubmodelElement::SubmodelElementList(l) => Value::Array(
            l.value
                .iter()
                .filter_map(|c| value_only(c, with_blob))
                .collect(),
        ),
        SubmodelElement::Entity(en) => {
            let mut m = Map::new();
            m.insert("statements".into(), object_of(&en.statements, with_blob));
            m.insert("entityType".into(), to_json(&en.entity_type));
            if let Some(g) = &en.global_asset_id {
                m.insert("globalAssetId".into(), json!(g));
            }
            if !en.specific_asset_ids.is_empty() {
                m.insert("specificAssetIds".into(), to_json(&en.specific_asset_ids));
            }
            Value::Object(m)
        }
        SubmodelElement::RelationshipElement(r) => {
            json!({ "first": to_json(&r.first), "second": to_json(&r.second) })
        }
    })
}

/// ValueOnly serialisation of a submodel: `{idShort: value, …}`.
pub fn submodel_value(sm: &Submodel, with_blob: bool) -> Value {
    object_of(&sm.submodel_elements, with_blob)
}
