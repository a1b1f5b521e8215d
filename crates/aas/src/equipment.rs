//! Equipment read back from its twin: the Nameplate, Capabilities,
//! QualificationState and UsageCounters submodels of a shell found in a
//! registry become the `recipe::Equipment` the binder judges.
//!
//! The reading is the inverse of the builders in [`crate::twins`]: a twin
//! built from an inventory item reads back as that very item, so binding
//! through a registry gives the same result as binding the inventory file.
//! Twins registered by others are read by the same rules (capabilities are
//! those whose `Capability` element carries a semantic id
//! `urn:atmpflow:capability:<name>`; others are not part of the shared
//! vocabulary and are ignored). What is read is then checked exactly like an
//! inventory file (known capabilities and parameters, units, qualification
//! dates in order), so a twin cannot offer more than a file could.
//!
//! Pure: the submodels are passed in; fetching them is the caller's business.

use recipe::equipment::EquipmentClass;
use recipe::{Date, Equipment};
use serde_json::{Map, Value, json};

use crate::descriptor::ShellDescriptor;
use crate::model::{DataTypeDefXsd, LangString, Submodel, SubmodelElement};
use crate::twins::{
    DEVICE_PROGRAMS, SEM_CAPABILITY_PREFIX, SEM_CAPABILITY_SET, SEM_PROPERTY_SET, SEM_USAGE_COUNTER,
};

/// Prefix of parameter semantic ids written by [`crate::twins::capabilities`].
pub const SEM_PARAMETER_PREFIX: &str = "urn:atmpflow:parameter:";

/// The submodels of one equipment twin.
#[derive(Debug, Clone, Copy)]
pub struct EquipmentSubmodels<'a> {
    pub nameplate: &'a Submodel,
    pub capabilities: &'a Submodel,
    pub qualification: &'a Submodel,
    /// Absent: the equipment keeps no usage counters.
    pub usage: Option<&'a Submodel>,
}

/// Which submodel of a twin a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Nameplate,
    Capabilities,
    QualificationState,
    UsageCounters,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Nameplate => "Nameplate",
            Part::Capabilities => "Capabilities",
            Part::QualificationState => "QualificationState",
            Part::UsageCounters => "UsageCounters",
        })
    }
}

/// Something in a twin that does not describe usable equipment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part} submodel, {at}: {message}")]
pub struct TwinProblem {
    pub part: Part,
    /// JSON path inside the submodel (`$.submodelElements[0].value[2]…`), or
    /// `field <inventory field>` for a problem found by the inventory checks.
    pub at: String,
    pub message: String,
}

/// The equipment id a shell descriptor stands for: its specific asset id
/// `equipmentId`, else its idShort. `None` if neither is a valid id
/// (`[A-Za-z][A-Za-z0-9_]*`).
pub fn equipment_id(d: &ShellDescriptor) -> Option<String> {
    d.specific_asset_ids
        .iter()
        .find(|a| a.name == "equipmentId")
        .map(|a| a.value.clone())
        .or_else(|| d.id_short.clone())
        .filter(|id| recipe::equipment::is_valid_id(id))
}

fn semantic_keys(e: &SubmodelElement) -> impl Iterator<Item = &str> {
    e.semantic_id()
        .into_iter()
        .flat_map(|r| r.keys.iter().map(|k| k.value.as_str()))
}

fn has_semantic(e: &SubmodelElement, sem: &str) -> bool {
    semantic_keys(e).any(|k| k == sem)
}

/// An element found by idShort among `els`, with its JSON path.
fn child<'a>(
    els: &'a [SubmodelElement],
    base: &str,
    field: &str,
    id_short: &str,
) -> Option<(String, &'a SubmodelElement)> {
    els.iter()
        .enumerate()
        .find(|(_, e)| e.id_short() == Some(id_short))
        .map(|(i, e)| (format!("{base}.{field}[{i}]"), e))
}

/// JSON path of the top-level element `id_short` of a submodel (`$` if absent).
fn path_of(sm: &Submodel, id_short: &str) -> String {
    child(&sm.submodel_elements, "$", "submodelElements", id_short)
        .map_or_else(|| "$".to_string(), |(p, _)| p)
}

fn english(v: &[LangString]) -> Option<&str> {
    v.iter()
        .find(|l| l.language == "en" || l.language.starts_with("en-"))
        .or_else(|| v.first())
        .map(|l| l.text.as_str())
}

/// Text of a Property or MultiLanguageProperty (English preferred).
fn text_of(e: &SubmodelElement) -> Option<&str> {
    match e {
        SubmodelElement::Property(p) => p.value.as_deref(),
        SubmodelElement::MultiLanguageProperty(m) => english(&m.value),
        _ => None,
    }
}

struct Reader {
    part: Part,
    problems: Vec<TwinProblem>,
}

impl Reader {
    fn problem(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.problems.push(TwinProblem {
            part: self.part,
            at: at.into(),
            message: message.into(),
        });
    }

    /// Text of the element `id_short` among the submodel's elements; records a
    /// problem when it is present but holds no text.
    fn text(&mut self, sm: &Submodel, id_short: &str) -> Option<String> {
        let (path, e) = child(&sm.submodel_elements, "$", "submodelElements", id_short)?;
        match text_of(e) {
            Some(t) => Some(t.to_string()),
            None => {
                self.problem(path, format!("`{id_short}` has no text value"));
                None
            }
        }
    }

    fn number(&mut self, raw: Option<&str>, path: String) -> Option<f64> {
        let raw = raw?;
        match raw.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                self.problem(path, format!("`{raw}` is not a finite number"));
                None
            }
        }
    }

    fn unsigned(&mut self, els: &[SubmodelElement], base: &str, id_short: &str) -> Option<u64> {
        let Some((path, e)) = child(els, base, "value", id_short) else {
            self.problem(base, format!("missing `{id_short}`"));
            return None;
        };
        let raw = text_of(e).unwrap_or_default();
        match raw.trim().parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.problem(path, format!("`{raw}` is not a whole number ≥ 0"));
                None
            }
        }
    }
}

fn unit_of(e: &SubmodelElement) -> Option<String> {
    e.qualifiers()
        .iter()
        .find(|q| q.kind_name == "Unit")
        .and_then(|q| q.value.clone())
}

/// One capability parameter in the inventory's JSON form.
fn parameter(r: &mut Reader, e: &SubmodelElement, path: &str) -> Option<(String, Value)> {
    let name = semantic_keys(e)
        .find_map(|k| k.strip_prefix(SEM_PARAMETER_PREFIX))
        .map(str::to_string)
        .or_else(|| e.id_short().map(str::to_string));
    let Some(name) = name else {
        r.problem(path, "parameter without idShort or parameter semantic id");
        return None;
    };
    let unit = unit_of(e);
    let value = match e {
        SubmodelElement::Range(x) => {
            let mut m = Map::new();
            if let Some(v) = r.number(x.min.as_deref(), format!("{path}.min")) {
                m.insert("min".into(), json!(v));
            }
            if let Some(v) = r.number(x.max.as_deref(), format!("{path}.max")) {
                m.insert("max".into(), json!(v));
            }
            if let Some(u) = unit {
                m.insert("unit".into(), json!(u));
            }
            Value::Object(m)
        }
        SubmodelElement::Property(p) => {
            let Some(raw) = p.value.as_deref() else {
                r.problem(format!("{path}.value"), "missing value");
                return None;
            };
            match p.value_type {
                DataTypeDefXsd::Boolean => json!(raw == "true" || raw == "1"),
                DataTypeDefXsd::String | DataTypeDefXsd::AnyUri => json!(raw),
                _ => {
                    let v = r.number(Some(raw), format!("{path}.value"))?;
                    match unit {
                        Some(u) => json!({ "value": v, "unit": u }),
                        None => json!(v),
                    }
                }
            }
        }
        other => {
            r.problem(
                path,
                format!(
                    "a capability parameter must be a Range or a Property, not {:?}",
                    other.key_type()
                ),
            );
            return None;
        }
    };
    Some((name, value))
}

fn capabilities(r: &mut Reader, sm: &Submodel) -> Map<String, Value> {
    let mut out = Map::new();
    let set = sm.submodel_elements.iter().enumerate().find(|(_, e)| {
        has_semantic(e, SEM_CAPABILITY_SET) || e.id_short() == Some("CapabilitySet")
    });
    let Some((si, set)) = set else {
        return out;
    };
    for (ci, container) in set.children().iter().enumerate() {
        let cpath = format!("$.submodelElements[{si}].value[{ci}]");
        let inner = container.children();
        let Some(cap) = inner
            .iter()
            .find(|e| matches!(e, SubmodelElement::Capability(_)))
        else {
            r.problem(cpath, "capability container without a Capability element");
            continue;
        };
        // Only capabilities of the shared vocabulary can meet a recipe requirement.
        let Some(name) = semantic_keys(cap).find_map(|k| k.strip_prefix(SEM_CAPABILITY_PREFIX))
        else {
            continue;
        };
        let mut params = Map::new();
        if let Some((pi, set)) = inner
            .iter()
            .enumerate()
            .find(|(_, e)| has_semantic(e, SEM_PROPERTY_SET) || e.id_short() == Some("PropertySet"))
        {
            for (k, p) in set.children().iter().enumerate() {
                let ppath = format!("{cpath}.value[{pi}].value[{k}]");
                if let Some((n, v)) = parameter(r, p, &ppath) {
                    if params.contains_key(&n) {
                        r.problem(ppath, format!("parameter `{n}` is given twice"));
                    }
                    params.insert(n, v);
                }
            }
        }
        if out.contains_key(name) {
            r.problem(cpath, format!("capability `{name}` is given twice"));
        }
        out.insert(name.to_string(), Value::Object(params));
    }
    out
}

fn qualification(r: &mut Reader, sm: &Submodel) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(s) = r.text(sm, "DeclaredStatus") {
        match serde_json::from_value::<recipe::equipment::QualStatus>(json!(s)) {
            Ok(_) => {
                out.insert("status".into(), json!(s));
            }
            Err(_) => {
                let path = path_of(sm, "DeclaredStatus");
                r.problem(
                    path,
                    format!(
                        "unknown status `{s}` (qualified, in_qualification, suspended or retired)"
                    ),
                );
            }
        }
    }
    for (id_short, key) in [
        ("DQ", "dq"),
        ("IQ", "iq"),
        ("OQ", "oq"),
        ("PQ", "pq"),
        ("NextRequalification", "next_requalification"),
    ] {
        let Some(s) = r.text(sm, id_short) else {
            continue;
        };
        if Date::parse(&s).is_some() {
            out.insert(key.into(), json!(s));
        } else {
            let path = path_of(sm, id_short);
            r.problem(path, format!("`{s}` is not a date like 2026-11-02"));
        }
    }
    out
}

fn counters(r: &mut Reader, sm: &Submodel) -> Vec<Value> {
    let mut out = Vec::new();
    let Some((li, list)) = counter_list(sm) else {
        return out;
    };
    for (i, item) in list.children().iter().enumerate() {
        let base = format!("$.submodelElements[{li}].value[{i}]");
        let els = item.children();
        let name = match child(els, &base, "value", "Name").and_then(|(_, e)| text_of(e)) {
            Some(n) => n.to_string(),
            None => {
                r.problem(&base, "counter without a `Name`");
                continue;
            }
        };
        let used = r.unsigned(els, &base, "Used");
        let max = r.unsigned(els, &base, "MaxUses");
        if let (Some(used), Some(max)) = (used, max) {
            out.push(json!({ "name": name, "used": used, "max": max }));
        }
    }
    out
}

fn nameplate(r: &mut Reader, id: &str, sm: &Submodel, entry: &mut Map<String, Value>) {
    let name = r
        .text(sm, "ManufacturerProductFamily")
        .unwrap_or_else(|| id.to_string());
    entry.insert("name".into(), json!(name));
    // A vendor's own product root (e.g. "Centrifuge") is not one of the
    // inventory classes; such equipment counts as a stand-alone device.
    let class = r
        .text(sm, "ManufacturerProductRoot")
        .filter(|c| serde_json::from_value::<EquipmentClass>(json!(c)).is_ok())
        .unwrap_or_else(|| EquipmentClass::Device.to_string());
    entry.insert("class".into(), json!(class));
    if let Some(m) = r.text(sm, "ManufacturerName") {
        entry.insert("manufacturer".into(), json!(m));
    }
    let model = r
        .text(sm, "ManufacturerProductDesignation")
        .or_else(|| r.text(sm, "ManufacturerProductType"));
    if let Some(m) = model {
        entry.insert("model".into(), json!(m));
    }
    if let Some(s) = r.text(sm, "SerialNumber") {
        entry.insert("serial".into(), json!(s));
    }
    if let Some((_, props)) = child(
        &sm.submodel_elements,
        "$",
        "submodelElements",
        "AssetSpecificProperties",
    ) && let Some(loc) = props
        .children()
        .iter()
        .find(|e| e.id_short() == Some("Location"))
        .and_then(text_of)
    {
        entry.insert("location".into(), json!(loc));
    }
}

fn part_of_field(field: &str) -> Part {
    if field.starts_with("capabilities") {
        Part::Capabilities
    } else if field.starts_with("qualification") {
        Part::QualificationState
    } else if field.starts_with("counters") {
        Part::UsageCounters
    } else {
        Part::Nameplate
    }
}

/// The programs a device's twin lists in its Capabilities submodel
/// ([`crate::twins::with_device_programs`]): `None` when the twin has no `DevicePrograms`
/// list (equipment not registered by a connected device), otherwise every item's `Name`;
/// an item without a text `Name` is an error naming its JSON path.
pub fn device_programs(capabilities: &Submodel) -> Result<Option<Vec<String>>, String> {
    let Some((path, list)) = child(
        &capabilities.submodel_elements,
        "$",
        "submodelElements",
        DEVICE_PROGRAMS,
    ) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, item) in list.children().iter().enumerate() {
        let base = format!("{path}.value[{i}]");
        match child(item.children(), &base, "value", "Name").and_then(|(_, e)| text_of(e)) {
            Some(n) if !n.trim().is_empty() => out.push(n.trim().to_string()),
            _ => return Err(format!("{base}: a device program without a `Name`")),
        }
    }
    Ok(Some(out))
}

/// Reads one equipment item with id `id` from its twin's submodels and checks
/// it like an inventory entry. Every problem found is returned.
pub fn read_equipment(id: &str, sm: EquipmentSubmodels<'_>) -> Result<Equipment, Vec<TwinProblem>> {
    let mut entry = Map::new();
    entry.insert("id".into(), json!(id));
    let mut problems = Vec::new();
    let mut r = Reader {
        part: Part::Nameplate,
        problems: Vec::new(),
    };
    nameplate(&mut r, id, sm.nameplate, &mut entry);
    r.part = Part::Capabilities;
    entry.insert(
        "capabilities".into(),
        Value::Object(capabilities(&mut r, sm.capabilities)),
    );
    r.part = Part::QualificationState;
    entry.insert(
        "qualification".into(),
        Value::Object(qualification(&mut r, sm.qualification)),
    );
    if let Some(u) = sm.usage {
        r.part = Part::UsageCounters;
        entry.insert("counters".into(), Value::Array(counters(&mut r, u)));
    }
    problems.append(&mut r.problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let doc = json!({ "equipment": [Value::Object(entry)] }).to_string();
    match recipe::parse_inventory_json(id, &doc) {
        Ok(mut inv) if inv.equipment.len() == 1 => Ok(inv.equipment.remove(0)),
        Ok(_) => Err(vec![TwinProblem {
            part: Part::Nameplate,
            at: "$".into(),
            message: "internal error: the twin did not read as one equipment item".into(),
        }]),
        Err(errs) => Err(errs
            .errors
            .iter()
            .map(|e| {
                let field = e
                    .field
                    .strip_prefix("equipment[0].")
                    .unwrap_or(&e.field)
                    .to_string();
                TwinProblem {
                    part: part_of_field(&field),
                    at: format!("field {field}"),
                    message: e.message.clone(),
                }
            })
            .collect()),
    }
}

/// Index and element of a usage-counter submodel's list of counters.
fn counter_list(sm: &Submodel) -> Option<(usize, &SubmodelElement)> {
    sm.submodel_elements
        .iter()
        .enumerate()
        .find(|(_, e)| is_counter_list(e))
}

fn is_counter_list(e: &SubmodelElement) -> bool {
    e.id_short() == Some("Counters")
        || matches!(e, SubmodelElement::SubmodelElementList(l)
            if l.semantic_id_list_element.as_ref().is_some_and(|s| s.keys.iter().any(|k| k.value == SEM_USAGE_COUNTER)))
}

fn usage_problem(at: impl Into<String>, message: impl Into<String>) -> TwinProblem {
    TwinProblem {
        part: Part::UsageCounters,
        at: at.into(),
        message: message.into(),
    }
}

/// Position of counter `name` in the counter list (list index, item index).
fn find_counter(sm: &Submodel, name: &str) -> Result<(usize, usize), TwinProblem> {
    let Some((li, list)) = counter_list(sm) else {
        return Err(usage_problem(
            "$",
            format!("no `Counters` list, so no usage counter `{name}`"),
        ));
    };
    list.children()
        .iter()
        .position(|item| {
            child(item.children(), "", "value", "Name").and_then(|(_, e)| text_of(e)) == Some(name)
        })
        .map(|i| (li, i))
        .ok_or_else(|| {
            usage_problem(
                format!("$.submodelElements[{li}]"),
                format!("no usage counter `{name}`"),
            )
        })
}

/// The uses so far and the maximum of usage counter `name` of a UsageCounters
/// submodel (as [`read_equipment`] reads them).
pub fn usage_counter(sm: &Submodel, name: &str) -> Result<(u64, u64), TwinProblem> {
    let (li, i) = find_counter(sm, name)?;
    let base = format!("$.submodelElements[{li}].value[{i}]");
    let els = sm.submodel_elements[li].children()[i].children();
    let mut r = Reader {
        part: Part::UsageCounters,
        problems: Vec::new(),
    };
    let used = r.unsigned(els, &base, "Used");
    let max = r.unsigned(els, &base, "MaxUses");
    match (used, max, r.problems.into_iter().next()) {
        (Some(u), Some(m), _) => Ok((u, m)),
        (_, _, Some(p)) => Err(p),
        _ => Err(usage_problem(base, "unreadable counter")),
    }
}

/// Raises usage counter `name` of a UsageCounters submodel to `used`, with its
/// `Remaining` and `LimitReached` elements when the twin has them. A counter
/// is never lowered: `used` below the value stored is refused, as is a value
/// above the counter's maximum. The uses before.
pub fn raise_usage_counter(sm: &mut Submodel, name: &str, used: u64) -> Result<u64, TwinProblem> {
    let (before, max) = usage_counter(sm, name)?;
    let (li, i) = find_counter(sm, name)?;
    let base = format!("$.submodelElements[{li}].value[{i}]");
    if used < before {
        return Err(usage_problem(
            base,
            format!("counter `{name}` stands at {before}; it is never lowered (to {used})"),
        ));
    }
    if used > max {
        return Err(usage_problem(
            base,
            format!("counter `{name}` would reach {used}, above its maximum of {max}"),
        ));
    }
    let item = sm.submodel_elements[li]
        .children_mut()
        .and_then(|items| items.get_mut(i))
        .and_then(SubmodelElement::children_mut)
        .ok_or_else(|| usage_problem(base.clone(), "counter without elements"))?;
    for e in item.iter_mut() {
        let value = match e.id_short() {
            Some("Used") => used.to_string(),
            Some("Remaining") => max.saturating_sub(used).to_string(),
            Some("LimitReached") => (used >= max).to_string(),
            _ => continue,
        };
        if let SubmodelElement::Property(p) = e {
            p.value = Some(value);
        }
    }
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twins;

    fn inventory(path: &str) -> recipe::Inventory {
        let text = std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR")))
            .expect("example inventory is readable");
        recipe::parse_inventory(path, &text).expect("example inventory is valid")
    }

    fn read_back(e: &Equipment) -> Result<Equipment, Vec<TwinProblem>> {
        let as_of = Date::parse("2026-12-01").expect("date");
        let np = twins::nameplate(e);
        let caps = twins::capabilities(e);
        let qual = twins::qualification(e, as_of);
        let usage = twins::usage_counters(e);
        read_equipment(
            &e.id,
            EquipmentSubmodels {
                nameplate: &np,
                capabilities: &caps,
                qualification: &qual,
                usage: Some(&usage),
            },
        )
    }

    /// Reads an item from its nameplate, capabilities and qualification (no usage counters).
    fn read_without_usage(
        e: &Equipment,
        nameplate: &Submodel,
        capabilities: &Submodel,
        qualification: &Submodel,
    ) -> Result<Equipment, Vec<TwinProblem>> {
        read_equipment(
            &e.id,
            EquipmentSubmodels {
                nameplate,
                capabilities,
                qualification,
                usage: None,
            },
        )
    }

    #[test]
    fn every_example_item_reads_back_as_itself() {
        let mut n = 0;
        for path in [
            "examples/equipment/modular-plant.toml",
            "examples/equipment/all-in-one.toml",
        ] {
            for e in &inventory(path).equipment {
                assert_eq!(read_back(e).as_ref(), Ok(e), "{path}: {}", e.id);
                n += 1;
            }
        }
        assert!(n >= 20, "only {n} items checked");
    }

    #[test]
    fn device_programs_are_written_into_the_capabilities_and_read_back() {
        let inv = inventory("examples/equipment/modular-plant.toml");
        let e = &inv.equipment[0];
        let as_of = Date::parse("2026-12-01").expect("date");
        let mut twin = twins::equipment_twin(e, as_of);
        let caps = |t: &twins::Twin| {
            t.submodels
                .iter()
                .find(|s| s.id_short.as_deref() == Some("Capabilities"))
                .cloned()
                .expect("capabilities")
        };
        assert_eq!(device_programs(&caps(&twin)), Ok(None));
        let programs = vec![
            "Expansion".to_string(),
            "CellCounter/CountCells".to_string(),
        ];
        twins::with_device_programs(&mut twin, &programs);
        // Written again: replaced, not doubled.
        twins::with_device_programs(&mut twin, &programs);
        let c = caps(&twin);
        assert_eq!(device_programs(&c), Ok(Some(programs)));
        assert!(
            crate::validate::submodel(&c).is_empty(),
            "{:?}",
            crate::validate::submodel(&c)
        );
        // The capabilities the recipe binds to read as before.
        let np = twins::nameplate(e);
        let qual = twins::qualification(e, as_of);
        let read = read_without_usage(e, &np, &c, &qual).expect("reads");
        assert_eq!(read.capabilities, e.capabilities);
        // An item without a name is named by its path.
        let mut bad = c.clone();
        if let Some(list) = bad
            .submodel_elements
            .last_mut()
            .and_then(|l| l.children_mut())
        {
            list[1] = list[0].clone();
            if let Some(item) = list[1].children_mut() {
                item.clear();
            }
        }
        let err = device_programs(&bad).expect_err("nameless");
        assert!(
            err.contains("].value[1]: a device program without a `Name`"),
            "{err}"
        );
    }

    #[test]
    fn a_usage_counter_is_raised_never_lowered_and_reads_back() {
        let inv = inventory("examples/equipment/modular-plant.toml");
        let e = inv
            .equipment
            .iter()
            .find(|e| e.counter("sterile_connector_port").is_some())
            .expect("an item with a port counter");
        let c = e
            .counter("sterile_connector_port")
            .expect("counter")
            .clone();
        let mut sm = twins::usage_counters(e);
        assert_eq!(
            usage_counter(&sm, "sterile_connector_port"),
            Ok((c.used, c.max))
        );
        assert_eq!(
            raise_usage_counter(&mut sm, "sterile_connector_port", c.used + 2),
            Ok(c.used)
        );
        // the raised submodel is exactly what the builder gives for the new count
        let mut raised = e.clone();
        raised.counters[0].used = c.used + 2;
        assert_eq!(sm, twins::usage_counters(&raised));
        assert!(crate::validate::submodel(&sm).is_empty());
        // never lowered, never above the maximum, unknown counters named
        let low =
            raise_usage_counter(&mut sm, "sterile_connector_port", c.used).expect_err("lower");
        assert!(low.message.contains("never lowered"), "{low}");
        let high =
            raise_usage_counter(&mut sm, "sterile_connector_port", c.max + 1).expect_err("above");
        assert!(high.message.contains("above its maximum"), "{high}");
        let none = raise_usage_counter(&mut sm, "pump_head", 1).expect_err("unknown");
        assert_eq!(none.part, Part::UsageCounters);
        assert!(
            none.message.contains("no usage counter `pump_head`"),
            "{none}"
        );
        assert_eq!(
            sm,
            twins::usage_counters(&raised),
            "failed raises change nothing"
        );
    }

    #[test]
    fn equipment_id_from_descriptor() {
        let twin = twins::equipment_twin(
            &inventory("examples/equipment/modular-plant.toml").equipment[0],
            Date::parse("2026-12-01").expect("date"),
        );
        let d =
            crate::descriptor::shell_descriptor(&twin.shell, "http://x/shells/y".into(), vec![]);
        let id = inventory("examples/equipment/modular-plant.toml").equipment[0]
            .id
            .clone();
        assert_eq!(equipment_id(&d).as_deref(), Some(id.as_str()));
        let mut bare = d.clone();
        bare.specific_asset_ids.clear();
        bare.id_short = Some("ext_device_7".into());
        assert_eq!(equipment_id(&bare).as_deref(), Some("ext_device_7"));
        bare.id_short = None;
        assert_eq!(equipment_id(&bare), None);
    }

    #[test]
    fn problems_name_submodel_and_path() {
        let inv = inventory("examples/equipment/modular-plant.toml");
        let e = inv
            .equipment
            .iter()
            .find(|e| e.capabilities.contains_key("centrifugation"))
            .expect("a centrifuge");
        let as_of = Date::parse("2026-12-01").expect("date");
        let np = twins::nameplate(e);
        let mut caps = twins::capabilities(e);
        // break the first Range's max
        fn break_range(els: &mut [SubmodelElement]) -> bool {
            for el in els {
                if let SubmodelElement::Range(r) = el {
                    r.max = Some("lots".into());
                    return true;
                }
                if let Some(c) = el.children_mut()
                    && break_range(c)
                {
                    return true;
                }
            }
            false
        }
        assert!(break_range(&mut caps.submodel_elements));
        let mut qual = twins::qualification(e, as_of);
        for el in &mut qual.submodel_elements {
            if let SubmodelElement::Property(p) = el
                && p.id_short.as_deref() == Some("DeclaredStatus")
            {
                p.value = Some("fine".into());
            }
        }
        let errs = read_without_usage(e, &np, &caps, &qual).expect_err("broken twin");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.starts_with(
                "Capabilities submodel, $.submodelElements[0].value[0].value[2].value["
            ) && t.ends_with(".max: `lots` is not a finite number")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t
                == "QualificationState submodel, $.submodelElements[0]: unknown status `fine` (qualified, in_qualification, suspended or retired)"),
            "{text:?}"
        );

        // a unit of the wrong dimension is caught by the inventory checks
        let mut caps = twins::capabilities(e);
        fn set_unit(els: &mut [SubmodelElement]) {
            for el in els {
                if let SubmodelElement::Range(r) = el
                    && r.id_short.as_deref() == Some("rcf")
                {
                    r.qualifiers[0].value = Some("mL".into());
                }
                if let Some(c) = el.children_mut() {
                    set_unit(c);
                }
            }
        }
        set_unit(&mut caps.submodel_elements);
        let qual = twins::qualification(e, as_of);
        let errs = read_without_usage(e, &np, &caps, &qual).expect_err("wrong unit");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].part, Part::Capabilities);
        assert_eq!(errs[0].at, "field capabilities.centrifugation.rcf.unit");
        assert!(errs[0].message.contains("measures volume"), "{errs:?}");
    }
}
