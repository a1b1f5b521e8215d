//! Equipment inventory: the concrete devices, modules and areas a recipe binds to.
//!
//! An inventory is written in TOML (or the same structure in JSON):
//!
//! ```toml
//! [inventory]
//! site = "Example modular plant"
//!
//! [[equipment]]
//! id = "centrifuge_module_1"          # [A-Za-z][A-Za-z0-9_]*, usable as an AAS idShort
//! name = "Centrifuge module 1"
//! class = "module"                    # module | device | all_in_one | area | robot | instrument
//! manufacturer = "ExampleCo"
//! model = "CM-500"                    # type designation
//! serial = "CM5-0001"
//!
//! [equipment.capabilities.centrifugation]
//! rcf = { min = 100, max = 1000, unit = "x g" }   # a range the device can run
//! volume = { max = 500, unit = "mL" }              # min defaults to 0
//! closed = true
//!
//! [equipment.qualification]
//! status = "qualified"                # qualified | in_qualification | suspended | retired
//! dq = 2025-01-10
//! iq = 2025-02-01
//! oq = 2025-02-15
//! pq = 2025-03-01
//! next_requalification = 2026-03-01
//!
//! [[equipment.counters]]
//! name = "sterile_connector_port"
//! used = 47
//! max = 50
//! ```
//!
//! [`parse_inventory`] validates everything (known capabilities and parameters,
//! units of the right dimension, `min <= max`, qualification dates in DQ ≤ IQ ≤
//! OQ ≤ PQ order, unique ids) and reports every problem with its field path.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::{self, ParamKind};
use crate::date::Date;
use crate::diag::{FieldPath, FileErrors, Problem, SourceFile};
use crate::quantity::{Dimension, Unit, bad_range, fmt_num, fmt_range};

// ---------------------------------------------------------------------------
// Validated types
// ---------------------------------------------------------------------------

/// A validated equipment inventory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    /// Header.
    pub inventory: InventoryInfo,
    /// Every piece of equipment, in file order.
    pub equipment: Vec<Equipment>,
}

/// Inventory header.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryInfo {
    /// Site or plant name.
    #[serde(default)]
    pub site: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// What kind of asset a piece of equipment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EquipmentClass {
    /// A process module of a modular plant (domain.md §4, strategy B).
    Module,
    /// A stand-alone device.
    Device,
    /// An all-in-one closed manufacturing device (e.g. CliniMACS Prodigy, Cocoon).
    AllInOne,
    /// A cleanroom area or isolator.
    Area,
    /// A transport robot.
    Robot,
    /// An analytical instrument (QC).
    Instrument,
}

impl fmt::Display for EquipmentClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EquipmentClass::Module => "module",
            EquipmentClass::Device => "device",
            EquipmentClass::AllInOne => "all_in_one",
            EquipmentClass::Area => "area",
            EquipmentClass::Robot => "robot",
            EquipmentClass::Instrument => "instrument",
        })
    }
}

/// One piece of equipment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Equipment {
    /// Unique id, `[A-Za-z][A-Za-z0-9_]*` (valid as an AAS idShort).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Asset class.
    pub class: EquipmentClass,
    /// Manufacturer name (Digital Nameplate `ManufacturerName`).
    pub manufacturer: String,
    /// Type designation (Digital Nameplate `ManufacturerProductDesignation`).
    pub model: String,
    /// Serial number (Digital Nameplate `SerialNumber`).
    pub serial: String,
    /// Area / room where it stands, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Capabilities by name, each with its parameters.
    pub capabilities: BTreeMap<String, Capability>,
    /// Qualification state.
    pub qualification: Qualification,
    /// Usage counters (e.g. sterile connector port uses).
    pub counters: Vec<UsageCounter>,
}

impl Equipment {
    /// The counter with this name, if any.
    pub fn counter(&self, name: &str) -> Option<&UsageCounter> {
        self.counters.iter().find(|c| c.name == name)
    }
}

/// A capability offered by a piece of equipment.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct Capability {
    /// Parameter values by name.
    pub parameters: BTreeMap<String, ParamValue>,
}

/// What a piece of equipment offers for one parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A numeric range it can run (`min == max` for a fixed value), in `unit`.
    Range {
        /// Lower end, in `unit`.
        min: f64,
        /// Upper end, in `unit`.
        max: f64,
        /// Unit of `min` and `max`.
        unit: Unit,
    },
    /// A yes/no property.
    Bool(bool),
    /// A word.
    Text(String),
}

impl ParamValue {
    /// The numeric range in canonical units, if numeric.
    pub fn canonical_range(&self) -> Option<(f64, f64)> {
        match self {
            ParamValue::Range { min, max, unit } => {
                Some((unit.to_canonical(*min), unit.to_canonical(*max)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Range { min, max, unit } => {
                let u = if unit.dimension == Dimension::Dimensionless {
                    String::new()
                } else {
                    format!(" {unit}")
                };
                if min == max {
                    write!(f, "{}{u}", fmt_num(*min))
                } else {
                    write!(f, "{}{u}", fmt_range(*min, *max))
                }
            }
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Text(t) => write!(f, "{t}"),
        }
    }
}

impl Serialize for ParamValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            ParamValue::Range { min, max, unit } => {
                let mut m = s.serialize_map(Some(3))?;
                if min == max {
                    m.serialize_entry("value", min)?;
                } else {
                    m.serialize_entry("min", min)?;
                    m.serialize_entry("max", max)?;
                }
                m.serialize_entry("unit", unit.symbol)?;
                m.end()
            }
            ParamValue::Bool(b) => s.serialize_bool(*b),
            ParamValue::Text(t) => s.serialize_str(t),
        }
    }
}

/// Declared qualification status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualStatus {
    /// Released for GMP use (still subject to the requalification date).
    Qualified,
    /// DQ/IQ/OQ/PQ under way; not usable yet.
    InQualification,
    /// Blocked (deviation, failed function check, maintenance).
    Suspended,
    /// Out of service for good.
    Retired,
}

impl fmt::Display for QualStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QualStatus::Qualified => "qualified",
            QualStatus::InQualification => "in_qualification",
            QualStatus::Suspended => "suspended",
            QualStatus::Retired => "retired",
        })
    }
}

/// Qualification record of a piece of equipment (DQ, IQ, OQ, PQ).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qualification {
    /// Declared status.
    pub status: QualStatus,
    /// Design qualification date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dq: Option<Date>,
    /// Installation qualification date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iq: Option<Date>,
    /// Operational qualification date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oq: Option<Date>,
    /// Performance qualification date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pq: Option<Date>,
    /// Date by which requalification is due; use is not allowed from that day on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_requalification: Option<Date>,
}

/// Effective qualification state on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Validity {
    /// Usable; valid up to (excluding) `until`.
    Valid {
        /// First day on which requalification is due.
        until: Date,
    },
    /// The requalification date has passed.
    Expired {
        /// The requalification due date that passed.
        due: Date,
    },
    /// PQ not completed (missing or in the future).
    NotYetQualified,
    /// Declared status forbids use.
    Blocked {
        /// The declared status.
        status: QualStatus,
    },
}

impl Validity {
    /// Whether use is allowed.
    pub fn is_valid(&self) -> bool {
        matches!(self, Validity::Valid { .. })
    }
    /// A short machine word: `qualified`, `expired`, `not_yet_qualified`, or the blocking status.
    pub fn word(&self) -> String {
        match self {
            Validity::Valid { .. } => "qualified".into(),
            Validity::Expired { .. } => "expired".into(),
            Validity::NotYetQualified => "not_yet_qualified".into(),
            Validity::Blocked { status } => status.to_string(),
        }
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validity::Valid { until } => write!(f, "qualified until {until}"),
            Validity::Expired { due } => {
                write!(f, "qualification expired (requalification was due {due})")
            }
            Validity::NotYetQualified => f.write_str("not yet qualified (no completed PQ)"),
            Validity::Blocked { status } => write!(f, "qualification status is {status}"),
        }
    }
}

impl Qualification {
    /// The effective state on `as_of` (passed in; never read from a clock).
    pub fn validity(&self, as_of: Date) -> Validity {
        if self.status != QualStatus::Qualified {
            return Validity::Blocked {
                status: self.status,
            };
        }
        match (self.pq, self.next_requalification) {
            (Some(pq), Some(due)) if pq <= as_of => {
                if as_of >= due {
                    Validity::Expired { due }
                } else {
                    Validity::Valid { until: due }
                }
            }
            _ => Validity::NotYetQualified,
        }
    }
}

/// A usage counter with a maximum (e.g. uses of a reusable sterile connector port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageCounter {
    /// Counter name, e.g. `sterile_connector_port`.
    pub name: String,
    /// Uses so far.
    pub used: u64,
    /// Maximum allowed uses.
    pub max: u64,
}

impl UsageCounter {
    /// Uses left before the maximum is reached.
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }
}

// ---------------------------------------------------------------------------
// Raw (as written) types and validation
// ---------------------------------------------------------------------------

/// A parameter value as written: a bare bool/string/number or a table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawParam {
    Bool(bool),
    Text(String),
    Number(f64),
    Table(RawNumber),
}

/// A numeric specification table as written; which fields are allowed depends on the context.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNumber {
    pub value: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub unit: Option<String>,
    // Recipe-side fields (see recipe.rs); rejected on equipment.
    pub target: Option<f64>,
    pub at_least: Option<f64>,
    pub at_most: Option<f64>,
    pub equals: Option<toml::Value>,
    pub one_of: Option<Vec<toml::Value>>,
}

impl<'de> Deserialize<'de> for RawParam {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawParam;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean, a string, a number or a table like { min = 1, max = 2, unit = \"mL\" }")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawParam, E> {
                Ok(RawParam::Bool(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawParam, E> {
                Ok(RawParam::Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawParam, E> {
                Ok(RawParam::Number(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawParam, E> {
                Ok(RawParam::Number(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawParam, E> {
                Ok(RawParam::Number(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawParam, A::Error> {
                RawNumber::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawParam::Table)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    #[serde(default)]
    inventory: InventoryInfo,
    #[serde(default)]
    equipment: Vec<RawEquipment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEquipment {
    id: Option<String>,
    name: Option<String>,
    class: Option<EquipmentClass>,
    manufacturer: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    location: Option<String>,
    #[serde(default)]
    capabilities: BTreeMap<String, BTreeMap<String, RawParam>>,
    qualification: Option<RawQualification>,
    #[serde(default)]
    counters: Vec<UsageCounter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQualification {
    status: Option<QualStatus>,
    dq: Option<Date>,
    iq: Option<Date>,
    oq: Option<Date>,
    pq: Option<Date>,
    next_requalification: Option<Date>,
}

/// Whether `s` is a valid id: `[A-Za-z][A-Za-z0-9_]*` (also a valid AAS idShort).
pub fn is_valid_id(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

pub(crate) fn parse_unit(
    unit: Option<&str>,
    expected: Dimension,
    path: &FieldPath,
    diags: &mut Vec<Problem>,
) -> Option<Unit> {
    match unit {
        None if expected == Dimension::Dimensionless => {
            Some(Unit::canonical(Dimension::Dimensionless))
        }
        None => {
            diags.push(Problem::new(
                path.key("unit"),
                format!(
                    "missing unit: this {expected} needs a unit such as \"{}\"",
                    expected.canonical()
                ),
            ));
            None
        }
        Some(u) => match Unit::parse(u) {
            None => {
                diags.push(Problem::new(
                    path.key("unit"),
                    format!(
                        "unknown unit \"{u}\"; known units: {}",
                        Unit::all_symbols().join(", ")
                    ),
                ));
                None
            }
            Some(unit) if unit.dimension != expected => {
                diags.push(Problem::new(
                    path.key("unit"),
                    format!(
                        "unit \"{u}\" measures {}, but this parameter is a {expected} (e.g. \"{}\")",
                        unit.dimension,
                        expected.canonical()
                    ),
                ));
                None
            }
            Some(unit) => Some(unit),
        },
    }
}

fn check_finite(v: f64, path: &FieldPath, diags: &mut Vec<Problem>) -> bool {
    if v.is_finite() {
        true
    } else {
        diags.push(Problem::new(path.clone(), "must be a finite number"));
        false
    }
}

fn validate_param(
    raw: &RawParam,
    kind: ParamKind,
    path: &FieldPath,
    diags: &mut Vec<Problem>,
) -> Option<ParamValue> {
    match (kind, raw) {
        (ParamKind::Bool, RawParam::Bool(b)) => Some(ParamValue::Bool(*b)),
        (ParamKind::Text, RawParam::Text(t)) => Some(ParamValue::Text(t.clone())),
        (ParamKind::Number(Dimension::Dimensionless), RawParam::Number(v)) => {
            check_finite(*v, path, diags).then(|| ParamValue::Range {
                min: *v,
                max: *v,
                unit: Unit::canonical(Dimension::Dimensionless),
            })
        }
        (ParamKind::Number(dim), RawParam::Number(_)) => {
            diags.push(Problem::new(
                path.clone(),
                format!(
                    "missing unit: write {{ value = …, unit = \"{}\" }} or {{ min = …, max = …, unit = \"{}\" }}",
                    dim.canonical(),
                    dim.canonical()
                ),
            ));
            None
        }
        (ParamKind::Number(dim), RawParam::Table(t)) => {
            let mut ok = true;
            for (name, present) in [
                ("target", t.target.is_some()),
                ("at_least", t.at_least.is_some()),
                ("at_most", t.at_most.is_some()),
                ("equals", t.equals.is_some()),
                ("one_of", t.one_of.is_some()),
            ] {
                if present {
                    diags.push(Problem::new(
                        path.key(name),
                        format!("`{name}` belongs in a recipe requirement; equipment states `value` or `min`/`max`"),
                    ));
                    ok = false;
                }
            }
            let unit = parse_unit(t.unit.as_deref(), dim, path, diags);
            let (min, max) = match (t.value, t.min, t.max) {
                (Some(v), None, None) => (v, v),
                (None, min, Some(max)) => (min.unwrap_or(0.0), max),
                (None, Some(min), None) => {
                    diags.push(Problem::new(
                        path.key("max"),
                        "missing `max`: an equipment range needs an upper end",
                    ));
                    (min, min)
                }
                (None, None, None) => {
                    diags.push(Problem::new(path.clone(), "needs `value` or `min`/`max`"));
                    return None;
                }
                (Some(_), ..) => {
                    diags.push(Problem::new(
                        path.key("value"),
                        "give either `value` or `min`/`max`, not both",
                    ));
                    return None;
                }
            };
            ok &= check_finite(min, &path.key("min"), diags)
                & check_finite(max, &path.key("max"), diags);
            if ok && min > max {
                diags.push(Problem::new(path.key("min"), bad_range(min, max)));
                ok = false;
            }
            match unit {
                Some(unit) if ok => Some(ParamValue::Range { min, max, unit }),
                _ => None,
            }
        }
        (kind, _) => {
            let want = match kind {
                ParamKind::Bool => "true or false".to_string(),
                ParamKind::Text => "a string".to_string(),
                ParamKind::Number(d) => format!("a {d} with a unit"),
            };
            diags.push(Problem::new(path.clone(), format!("expected {want}")));
            None
        }
    }
}

fn required(v: Option<String>, path: FieldPath, diags: &mut Vec<Problem>) -> String {
    match v {
        Some(s) if !s.trim().is_empty() => s,
        Some(_) => {
            diags.push(Problem::new(path, "must not be empty"));
            String::new()
        }
        None => {
            let field = path.to_string();
            diags.push(Problem::new(
                path,
                format!(
                    "missing field `{}`",
                    field.rsplit('.').next().unwrap_or(&field)
                ),
            ));
            String::new()
        }
    }
}

fn validate_qualification(
    q: Option<RawQualification>,
    path: &FieldPath,
    diags: &mut Vec<Problem>,
) -> Qualification {
    let Some(q) = q else {
        diags.push(Problem::new(
            path.clone(),
            "missing `qualification` table (status, dq, iq, oq, pq, next_requalification)",
        ));
        return Qualification {
            status: QualStatus::InQualification,
            dq: None,
            iq: None,
            oq: None,
            pq: None,
            next_requalification: None,
        };
    };
    let status = q.status.unwrap_or_else(|| {
        diags.push(Problem::new(path.key("status"), "missing field `status`"));
        QualStatus::InQualification
    });
    let stages = [("dq", q.dq), ("iq", q.iq), ("oq", q.oq), ("pq", q.pq)];
    let mut last: Option<(&str, Date)> = None;
    for (name, d) in stages {
        match (last, d) {
            (Some((prev, pd)), Some(d)) if d < pd => diags.push(Problem::new(
                path.key(name),
                format!(
                    "{} date {d} is before {} date {pd}: order must be DQ ≤ IQ ≤ OQ ≤ PQ",
                    name.to_uppercase(),
                    prev.to_uppercase()
                ),
            )),
            _ => {}
        }
        if let Some(d) = d {
            last = Some((name, d));
        }
    }
    if let (Some(pq), Some(next)) = (q.pq, q.next_requalification)
        && next <= pq
    {
        diags.push(Problem::new(
            path.key("next_requalification"),
            format!("next requalification {next} must be after the PQ date {pq}"),
        ));
    }
    if status == QualStatus::Qualified {
        for (name, v) in [
            ("pq", q.pq),
            ("next_requalification", q.next_requalification),
        ] {
            if v.is_none() {
                diags.push(Problem::new(
                    path.key(name),
                    format!("status is `qualified` but `{name}` is missing"),
                ));
            }
        }
    }
    Qualification {
        status,
        dq: q.dq,
        iq: q.iq,
        oq: q.oq,
        pq: q.pq,
        next_requalification: q.next_requalification,
    }
}

pub(crate) fn validate_capability_name(
    name: &str,
    path: &FieldPath,
    diags: &mut Vec<Problem>,
) -> Option<&'static catalog::CapabilityDef> {
    let def = catalog::capability(name);
    if def.is_none() {
        diags.push(Problem::new(
            path.clone(),
            format!(
                "unknown capability `{name}`; known capabilities: {}",
                catalog::names().join(", ")
            ),
        ));
    }
    def
}

fn validate(raw: RawInventory) -> (Inventory, Vec<Problem>) {
    let mut diags = Vec::new();
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in raw.equipment.into_iter().enumerate() {
        let p = FieldPath::root().key("equipment").idx(i);
        let id = required(e.id, p.key("id"), &mut diags);
        if !id.is_empty() {
            if !is_valid_id(&id) {
                diags.push(Problem::new(
                    p.key("id"),
                    format!(
                        "invalid id `{id}`: use letters, digits and `_`, starting with a letter"
                    ),
                ));
            }
            if let Some(first) = seen.insert(id.clone(), i) {
                diags.push(Problem::new(
                    p.key("id"),
                    format!("duplicate id `{id}` (first used by equipment[{first}])"),
                ));
            }
        }
        let class = e.class.unwrap_or_else(|| {
            diags.push(Problem::new(
                p.key("class"),
                "missing field `class` (module, device, all_in_one, area, robot or instrument)",
            ));
            EquipmentClass::Device
        });
        let name = e.name.unwrap_or_else(|| id.clone());
        let manufacturer = required(e.manufacturer, p.key("manufacturer"), &mut diags);
        let model = required(e.model, p.key("model"), &mut diags);
        let serial = required(e.serial, p.key("serial"), &mut diags);
        if e.capabilities.is_empty() {
            diags.push(Problem::new(
                p.key("capabilities"),
                "equipment offers no capability",
            ));
        }
        let mut caps = BTreeMap::new();
        for (cname, params) in e.capabilities {
            let cp = p.key("capabilities").key(cname.as_str());
            let Some(def) = validate_capability_name(&cname, &cp, &mut diags) else {
                continue;
            };
            let mut cap = Capability::default();
            for (pname, raw) in params {
                let pp = cp.key(pname.as_str());
                let Some(pdef) = def.param(&pname) else {
                    diags.push(Problem::new(pp, def.unknown_param(&pname)));
                    continue;
                };
                if let Some(v) = validate_param(&raw, pdef.kind, &pp, &mut diags) {
                    cap.parameters.insert(pname, v);
                }
            }
            caps.insert(cname, cap);
        }
        let qualification =
            validate_qualification(e.qualification, &p.key("qualification"), &mut diags);
        let mut counter_names = BTreeMap::new();
        for (ci, c) in e.counters.iter().enumerate() {
            let cp = p.key("counters").idx(ci);
            if c.name.trim().is_empty() {
                diags.push(Problem::new(cp.key("name"), "must not be empty"));
            }
            if counter_names.insert(c.name.clone(), ci).is_some() {
                diags.push(Problem::new(
                    cp.key("name"),
                    format!("duplicate counter `{}`", c.name),
                ));
            }
            if c.max == 0 {
                diags.push(Problem::new(
                    cp.key("max"),
                    "maximum uses must be at least 1",
                ));
            }
        }
        out.push(Equipment {
            id,
            name,
            class,
            manufacturer,
            model,
            serial,
            location: e.location,
            capabilities: caps,
            qualification,
            counters: e.counters,
        });
    }
    (
        Inventory {
            inventory: raw.inventory,
            equipment: out,
        },
        diags,
    )
}

/// Parse and validate an inventory written in TOML. `name` is the file name used in errors.
pub fn parse_inventory(name: &str, text: &str) -> Result<Inventory, FileErrors> {
    let src = SourceFile::new(name, text);
    let raw: RawInventory = crate::diag::parse_as(&src, false)?;
    let (inv, problems) = validate(raw);
    crate::diag::finish(&src, problems, inv)
}

/// Parse and validate an inventory written in JSON (same structure as the TOML form,
/// e.g. the output of `serde_json::to_string(&inventory)`). Problems found after
/// parsing name their field; their line is not located in JSON.
pub fn parse_inventory_json(name: &str, text: &str) -> Result<Inventory, FileErrors> {
    let src = SourceFile::new(name, text);
    let raw: RawInventory = crate::diag::parse_as(&src, true)?;
    let (inv, problems) = validate(raw);
    crate::diag::finish(&src, problems, inv)
}

impl Inventory {
    /// Look up equipment by id.
    pub fn get(&self, id: &str) -> Option<&Equipment> {
        self.equipment.iter().find(|e| e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One qualified centrifuge module `cfg_1` (the inventory the tests of the equipment
    /// registry share, kept with the shared test set-up in `crates/testkit`).
    const GOOD: &str = include_str!("../../testkit/fixtures/registry-centrifuge.toml");

    fn d(s: &str) -> Date {
        Date::parse(s).expect("valid date in test")
    }

    #[test]
    fn parses_a_valid_inventory() {
        let inv = parse_inventory("inv.toml", GOOD).expect("valid");
        let e = inv.get("cfg_1").expect("present");
        let vol = &e.capabilities["centrifugation"].parameters["volume"];
        assert_eq!(vol.canonical_range(), Some((0.0, 500.0)));
        assert_eq!(
            e.counter("sterile_connector_port")
                .map(UsageCounter::remaining),
            Some(3)
        );
        assert!(e.qualification.validity(d("2025-06-01")).is_valid());
        assert_eq!(
            e.qualification.validity(d("2026-03-01")),
            Validity::Expired {
                due: d("2026-03-01")
            }
        );
        assert_eq!(
            e.qualification.validity(d("2025-02-20")),
            Validity::NotYetQualified
        );
    }

    #[test]
    fn json_round_trip_keeps_everything() {
        let inv = parse_inventory("inv.toml", GOOD).expect("valid");
        let json = serde_json::to_string(&inv).expect("serialises");
        let back = parse_inventory_json("inv.json", &json).expect("re-parses");
        assert_eq!(inv, back);
    }

    fn errors(src: &str) -> Vec<String> {
        match parse_inventory("inv.toml", src) {
            Ok(_) => Vec::new(),
            Err(d) => d
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect(),
        }
    }

    #[test]
    fn reports_bad_fields_by_path() {
        let bad = GOOD
            .replace("centrifugation]", "centrifugatoin]")
            .replace("iq = 2025-02-01", "iq = 2024-02-01");
        let errs = errors(&bad);
        assert!(
            errs.iter()
                .any(|e| e
                    .starts_with("equipment[0].capabilities.centrifugatoin: unknown capability")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("equipment[0].qualification.iq: IQ date")),
            "{errs:?}"
        );

        let bad = GOOD.replace("min = 100, max = 1000", "min = 1000, max = 100");
        let errs = errors(&bad);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("equipment[0].capabilities.centrifugation.rcf.min: bad range"),
            "{errs:?}"
        );

        let bad = GOOD.replace("unit = \"x g\"", "unit = \"mL\"");
        assert!(errors(&bad)[0].contains("measures volume"));
        let bad = GOOD.replace("{ min = 100, max = 1000, unit = \"x g\" }", "500");
        assert!(errors(&bad)[0].contains("missing unit"));
    }

    #[test]
    fn syntax_errors_name_line_and_field() {
        let bad = GOOD.replace("used = 47", "used = \"many\"");
        let err = parse_inventory("inv.toml", &bad).expect_err("type error");
        let text = err.to_string();
        let line = bad
            .lines()
            .position(|l| l.contains("used = "))
            .map(|i| i + 1)
            .expect("line");
        assert!(text.contains(&format!("inv.toml:{line}:")), "{text}");
        assert!(text.contains("equipment[0].counters[0].used"), "{text}");
    }
}
