//! Digital twins: equipment items and patient batches as Asset Administration
//! Shells with their submodels.
//!
//! Equipment twins come from the validated inventory of the `recipe` crate
//! (`recipe::Equipment`); batch twins from a [`BatchRecord`] (see
//! `examples/twins/`). Every builder is pure: the date the qualification state
//! is evaluated on is passed in.

use base64::Engine;
use recipe::equipment::{EquipmentClass, ParamValue, QualStatus, Validity};
use recipe::{Date, DateTime, Equipment};
use serde::{Deserialize, Serialize};

use model::span::{FieldPath, FileErrors, Problem, SourceFile};

use crate::model::*;
use crate::validate::is_valid_id_short;

/// IDTA 02006-3-0 Digital Nameplate.
pub const SEM_NAMEPLATE: &str = "https://admin-shell.io/idta/nameplate/3/0/Nameplate";
/// IDTA 02020 Capability Description (submodel, capability set, container, property set).
pub const SEM_CAPABILITIES: &str = "https://admin-shell.io/idta/CapabilityDescription/1/0/Submodel";
pub const SEM_CAPABILITY_SET: &str =
    "https://admin-shell.io/idta/CapabilityDescription/CapabilitySet/1/0";
pub const SEM_CAPABILITY_CONTAINER: &str =
    "https://admin-shell.io/idta/CapabilityDescription/CapabilityContainer/1/0";
pub const SEM_PROPERTY_SET: &str =
    "https://admin-shell.io/idta/CapabilityDescription/PropertySet/1/0";
/// Project-defined submodels (no IDTA template exists for these).
pub const SEM_QUALIFICATION: &str = "urn:atmpflow:submodel:QualificationState:1:0";
pub const SEM_USAGE: &str = "urn:atmpflow:submodel:UsageCounters:1:0";
pub const SEM_USAGE_COUNTER: &str = "urn:atmpflow:concept:UsageCounter:1:0";
/// A program a device offers (an OPC UA LADS program template, a SiLA 2 command), listed
/// in its twin's Capabilities submodel as `DevicePrograms`.
pub const SEM_DEVICE_PROGRAM: &str = "urn:atmpflow:concept:DeviceProgram:1:0";
pub const SEM_BATCH_RECORD: &str = "urn:atmpflow:submodel:BatchRecord:1:0";
pub const SEM_EXECUTED_STEP: &str = "urn:atmpflow:concept:ExecutedStep:1:0";
pub const SEM_DEVIATION: &str = "urn:atmpflow:concept:Deviation:1:0";
pub const SEM_SAMPLE: &str = "urn:atmpflow:concept:TimeSeriesRecord:1:0";
/// IDTA 02008-1-1 Time Series Data (used for the measurement series of a batch).
pub const SEM_TIME_SERIES: &str = "https://admin-shell.io/idta/TimeSeries/1/1";
/// IDTA 02031 Executed processes (the batch record composes its steps from it).
pub const SEM_EXECUTED_PROCESSES: &str = "https://admin-shell.io/idta/ExecutedProcesses/1/0";
/// Prefix of capability semantic ids (`urn:atmpflow:capability:<name>`).
pub const SEM_CAPABILITY_PREFIX: &str = "urn:atmpflow:capability:";

/// Identifier of an equipment shell.
pub fn equipment_aas_id(equipment_id: &str) -> String {
    format!("urn:atmpflow:aas:equipment:{equipment_id}")
}
/// Global asset id of an equipment item.
pub fn equipment_asset_id(equipment_id: &str) -> String {
    format!("urn:atmpflow:asset:equipment:{equipment_id}")
}
/// Identifier of a batch shell.
pub fn batch_aas_id(batch_id: &str) -> String {
    format!("urn:atmpflow:aas:batch:{batch_id}")
}
/// Global asset id of a batch.
pub fn batch_asset_id(batch_id: &str) -> String {
    format!("urn:atmpflow:asset:batch:{batch_id}")
}
fn submodel_id(kind: &str, owner: &str, name: &str) -> String {
    format!("urn:atmpflow:sm:{kind}:{owner}:{name}")
}

/// Turns any name into a valid idShort (letters, digits, `_`; starts with a letter).
pub fn id_short(name: &str) -> String {
    if is_valid_id_short(name) {
        return name.to_string();
    }
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, 'x');
    }
    s.truncate(128);
    s
}

/// idShorts for the names of one namespace: [`id_short`] of each, with `_2`, `_3`, …
/// appended where two different names map to the same idShort (`CD3+` and `CD3-`), so the
/// namespace never holds one twice (AASd-022).
fn unique_id_shorts<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken = std::collections::BTreeSet::new();
    names
        .into_iter()
        .map(|name| {
            let base = id_short(name);
            let mut candidate = base.clone();
            let mut n = 1usize;
            while taken.contains(&candidate) {
                n += 1;
                let suffix = format!("_{n}");
                let mut b = base.clone();
                b.truncate(128 - suffix.len());
                candidate = b + &suffix;
            }
            taken.insert(candidate.clone());
            candidate
        })
        .collect()
}

fn sem(s: &str) -> Option<Reference> {
    Some(Reference::global(s))
}

fn prop(
    id: &str,
    t: DataTypeDefXsd,
    value: impl Into<String>,
    semantic: Option<&str>,
) -> SubmodelElement {
    SubmodelElement::Property(Property {
        id_short: Some(id.to_string()),
        semantic_id: semantic.and_then(sem),
        value_type: t,
        value: Some(value.into()),
        ..Default::default()
    })
}

fn text(id: &str, value: impl Into<String>, semantic: Option<&str>) -> SubmodelElement {
    prop(id, DataTypeDefXsd::String, value, semantic)
}

fn mlp(id: &str, value: &str, semantic: Option<&str>) -> SubmodelElement {
    SubmodelElement::MultiLanguageProperty(MultiLanguageProperty {
        id_short: Some(id.to_string()),
        semantic_id: semantic.and_then(sem),
        value: vec![LangString::en(value)],
        ..Default::default()
    })
}

fn smc(id: &str, semantic: Option<&str>, value: Vec<SubmodelElement>) -> SubmodelElement {
    SubmodelElement::SubmodelElementCollection(SubmodelElementCollection {
        id_short: Some(id.to_string()),
        semantic_id: semantic.and_then(sem),
        value,
        ..Default::default()
    })
}

fn unit_qualifier(unit: &str) -> Vec<Qualifier> {
    if unit.is_empty() {
        return Vec::new();
    }
    vec![Qualifier {
        semantic_id: None,
        supplemental_semantic_ids: Vec::new(),
        kind: Some(QualifierKind::ConceptQualifier),
        kind_name: "Unit".into(),
        value_type: DataTypeDefXsd::String,
        value: Some(unit.to_string()),
        value_id: None,
    }]
}

fn list_of(id: &str, item_semantic: &str, items: Vec<Vec<SubmodelElement>>) -> SubmodelElement {
    SubmodelElement::SubmodelElementList(SubmodelElementList {
        id_short: Some(id.to_string()),
        order_relevant: Some(true),
        semantic_id_list_element: sem(item_semantic),
        type_value_list_element: KeyTypes::SubmodelElementCollection,
        value: items
            .into_iter()
            .map(|v| {
                SubmodelElement::SubmodelElementCollection(SubmodelElementCollection {
                    semantic_id: sem(item_semantic),
                    value: v,
                    ..Default::default()
                })
            })
            .collect(),
        ..Default::default()
    })
}

fn double(v: f64) -> String {
    if v.is_finite() {
        format!("{v:?}")
    } else {
        "NaN".to_string()
    }
}

fn submodel(
    id: String,
    id_short: &str,
    semantic: &str,
    elements: Vec<SubmodelElement>,
) -> Submodel {
    Submodel {
        extensions: Vec::new(),
        category: None,
        id_short: Some(id_short.to_string()),
        display_name: Vec::new(),
        description: Vec::new(),
        administration: None,
        id,
        kind: Some(ModellingKind::Instance),
        semantic_id: sem(semantic),
        supplemental_semantic_ids: Vec::new(),
        qualifiers: Vec::new(),
        embedded_data_specifications: Vec::new(),
        submodel_elements: elements,
        model_type: SubmodelModelType::Submodel,
    }
}

fn shell(
    id: String,
    id_short: &str,
    description: &str,
    asset: AssetInformation,
    submodels: &[Submodel],
) -> AssetAdministrationShell {
    AssetAdministrationShell {
        extensions: Vec::new(),
        category: None,
        id_short: Some(id_short.to_string()),
        display_name: Vec::new(),
        description: vec![LangString::en(description)],
        administration: Some(AdministrativeInformation {
            embedded_data_specifications: Vec::new(),
            version: Some("1".into()),
            revision: Some("0".into()),
            creator: None,
            template_id: None,
        }),
        id,
        embedded_data_specifications: Vec::new(),
        derived_from: None,
        asset_information: asset,
        submodels: submodels
            .iter()
            .map(|s| Reference::model(KeyTypes::Submodel, s.id.clone()))
            .collect(),
        model_type: ShellModelType::AssetAdministrationShell,
    }
}

fn specific(name: &str, value: &str) -> SpecificAssetId {
    SpecificAssetId {
        semantic_id: None,
        supplemental_semantic_ids: Vec::new(),
        name: name.to_string(),
        value: value.to_string(),
        external_subject_id: None,
    }
}

/// The shell and submodels of one twin.
#[derive(Debug, Clone, PartialEq)]
pub struct Twin {
    pub shell: AssetAdministrationShell,
    pub submodels: Vec<Submodel>,
}

fn class_word(c: EquipmentClass) -> String {
    c.to_string()
}

/// Digital Nameplate (IDTA 02006-3-0 structure; the semantic ids are those of
/// the template's ECLASS / IEC 61987 properties).
pub fn nameplate(e: &Equipment) -> Submodel {
    let mut els = vec![
        text(
            "URIOfTheProduct",
            equipment_asset_id(&e.id),
            Some("0112/2///61987#ABN590#002"),
        ),
        mlp(
            "ManufacturerName",
            &e.manufacturer,
            Some("0112/2///61987#ABA565#009"),
        ),
        mlp(
            "ManufacturerProductDesignation",
            &e.model,
            Some("0112/2///61987#ABA567#009"),
        ),
        smc(
            "ContactInformation",
            Some(
                "https://admin-shell.io/zvei/nameplate/1/0/ContactInformations/ContactInformation",
            ),
            vec![mlp(
                "Company",
                &e.manufacturer,
                Some("0173-1#02-AAW001#001"),
            )],
        ),
        mlp(
            "ManufacturerProductRoot",
            &class_word(e.class),
            Some("0112/2///61360_7#AAS011#001"),
        ),
        mlp(
            "ManufacturerProductFamily",
            &e.name,
            Some("0112/2///61987#ABP464#002"),
        ),
        text(
            "ManufacturerProductType",
            &e.model,
            Some("0112/2///61987#ABA300#008"),
        ),
        text("SerialNumber", &e.serial, Some("0112/2///61987#ABA951#009")),
    ];
    if let Some(loc) = &e.location {
        els.push(smc(
            "AssetSpecificProperties",
            Some("0173-1#02-ABI218#003/0173-1#01-AGZ672#004"),
            vec![text("Location", loc, None)],
        ));
    }
    submodel(
        submodel_id("equipment", &e.id, "Nameplate"),
        "Nameplate",
        SEM_NAMEPLATE,
        els,
    )
}

fn param_element(name: &str, v: &ParamValue) -> SubmodelElement {
    let id = id_short(name);
    let semantic = format!("urn:atmpflow:parameter:{name}");
    match v {
        ParamValue::Range { min, max, unit } => SubmodelElement::Range(Range {
            id_short: Some(id),
            semantic_id: sem(&semantic),
            qualifiers: unit_qualifier(unit.symbol),
            value_type: DataTypeDefXsd::Double,
            min: Some(double(*min)),
            max: Some(double(*max)),
            ..Default::default()
        }),
        ParamValue::Bool(b) => prop(&id, DataTypeDefXsd::Boolean, b.to_string(), Some(&semantic)),
        ParamValue::Text(t) => prop(&id, DataTypeDefXsd::String, t.clone(), Some(&semantic)),
    }
}

/// Capabilities in the style of IDTA 02020 Capability Description: one
/// container per capability with the Capability element and its property set.
pub fn capabilities(e: &Equipment) -> Submodel {
    let containers = e
        .capabilities
        .iter()
        .map(|(name, cap)| {
            let cap_sem = format!("{SEM_CAPABILITY_PREFIX}{name}");
            let mut inner = vec![SubmodelElement::Capability(Capability {
                id_short: Some("Capability".into()),
                semantic_id: sem(&cap_sem),
                ..Default::default()
            })];
            inner.push(text("CapabilityName", name.clone(), None));
            let params: Vec<SubmodelElement> = cap
                .parameters
                .iter()
                .map(|(p, v)| param_element(p, v))
                .collect();
            if !params.is_empty() {
                inner.push(smc("PropertySet", Some(SEM_PROPERTY_SET), params));
            }
            smc(&id_short(name), Some(SEM_CAPABILITY_CONTAINER), inner)
        })
        .collect::<Vec<_>>();
    let mut els = Vec::new();
    if !containers.is_empty() {
        els.push(smc("CapabilitySet", Some(SEM_CAPABILITY_SET), containers));
    }
    submodel(
        submodel_id("equipment", &e.id, "Capabilities"),
        "Capabilities",
        SEM_CAPABILITIES,
        els,
    )
}

fn status_word(s: QualStatus) -> String {
    s.to_string()
}

/// Qualification state: DQ/IQ/OQ/PQ dates, next requalification, declared
/// status and the effective state on `as_of`.
pub fn qualification(e: &Equipment, as_of: Date) -> Submodel {
    let q = &e.qualification;
    let mut els = vec![text("DeclaredStatus", status_word(q.status), None)];
    for (name, d) in [
        ("DQ", q.dq),
        ("IQ", q.iq),
        ("OQ", q.oq),
        ("PQ", q.pq),
        ("NextRequalification", q.next_requalification),
    ] {
        if let Some(d) = d {
            els.push(prop(name, DataTypeDefXsd::Date, d.to_string(), None));
        }
    }
    let validity = q.validity(as_of);
    els.push(text("EffectiveState", validity.word(), None));
    els.push(prop(
        "EvaluatedOn",
        DataTypeDefXsd::Date,
        as_of.to_string(),
        None,
    ));
    if let Validity::Valid { until } = validity {
        els.push(prop(
            "DaysUntilRequalification",
            DataTypeDefXsd::Long,
            as_of.days_until(until).to_string(),
            None,
        ));
    }
    els.push(prop(
        "UsableForGmp",
        DataTypeDefXsd::Boolean,
        validity.is_valid().to_string(),
        None,
    ));
    submodel(
        submodel_id("equipment", &e.id, "QualificationState"),
        "QualificationState",
        SEM_QUALIFICATION,
        els,
    )
}

/// Usage counters (e.g. uses of each sterile connector port against its maximum).
pub fn usage_counters(e: &Equipment) -> Submodel {
    let items = e
        .counters
        .iter()
        .map(|c| {
            vec![
                text("Name", c.name.clone(), None),
                prop(
                    "Used",
                    DataTypeDefXsd::UnsignedLong,
                    c.used.to_string(),
                    None,
                ),
                prop(
                    "MaxUses",
                    DataTypeDefXsd::UnsignedLong,
                    c.max.to_string(),
                    None,
                ),
                prop(
                    "Remaining",
                    DataTypeDefXsd::UnsignedLong,
                    c.remaining().to_string(),
                    None,
                ),
                prop(
                    "LimitReached",
                    DataTypeDefXsd::Boolean,
                    (c.used >= c.max).to_string(),
                    None,
                ),
            ]
        })
        .collect::<Vec<_>>();
    let mut els = Vec::new();
    if !items.is_empty() {
        els.push(list_of("Counters", SEM_USAGE_COUNTER, items));
    }
    submodel(
        submodel_id("equipment", &e.id, "UsageCounters"),
        "UsageCounters",
        SEM_USAGE,
        els,
    )
}

/// The programs a connected device offers (OPC UA LADS program templates, SiLA 2
/// `Feature/Command`s), written into the twin's Capabilities submodel as the list
/// `DevicePrograms` (one `Name` each, replacing any list there), so that binding a batch
/// can check that the program a recipe step runs exists on the device. The twin must be
/// one of [`equipment_twin`]; a twin without a Capabilities submodel is left unchanged.
pub fn with_device_programs(twin: &mut Twin, programs: &[String]) {
    let Some(caps) = twin
        .submodels
        .iter_mut()
        .find(|s| s.id_short.as_deref() == Some("Capabilities"))
    else {
        return;
    };
    caps.submodel_elements
        .retain(|e| e.id_short() != Some(DEVICE_PROGRAMS));
    let items = programs
        .iter()
        .map(|p| vec![text("Name", p.clone(), None)])
        .collect();
    caps.submodel_elements
        .push(list_of(DEVICE_PROGRAMS, SEM_DEVICE_PROGRAM, items));
}

/// idShort of the list of a device's programs in its Capabilities submodel.
pub const DEVICE_PROGRAMS: &str = "DevicePrograms";

/// The twin of one equipment item; the qualification state is evaluated on `as_of`.
pub fn equipment_twin(e: &Equipment, as_of: Date) -> Twin {
    let submodels = vec![
        nameplate(e),
        capabilities(e),
        qualification(e, as_of),
        usage_counters(e),
    ];
    let asset = AssetInformation {
        asset_kind: AssetKind::Instance,
        global_asset_id: Some(equipment_asset_id(&e.id)),
        specific_asset_ids: vec![
            specific("equipmentId", &e.id),
            specific("serialNumber", &e.serial),
        ],
        asset_type: Some(format!(
            "urn:atmpflow:equipment-class:{}",
            class_word(e.class)
        )),
        default_thumbnail: None,
    };
    let shell = shell(
        equipment_aas_id(&e.id),
        &id_short(&e.id),
        &format!("{} ({} {})", e.name, e.manufacturer, e.model),
        asset,
        &submodels,
    );
    Twin { shell, submodels }
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

/// A number with a unit, as written in a batch record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    pub value: f64,
    #[serde(default)]
    pub unit: String,
}

/// One executed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    /// Step id from the process description (e.g. `S04_wash`).
    pub id: String,
    pub name: String,
    /// Id of the equipment item it ran on (links to that equipment's twin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipment: Option<String>,
    pub start: DateTime,
    pub end: DateTime,
    /// `completed`, `aborted`, `repeated`, …
    pub outcome: String,
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, Quantity>,
}

/// A measured time series (in-process control).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    pub name: String,
    #[serde(default)]
    pub unit: String,
    /// Step during which it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub points: Vec<(DateTime, f64)>,
}

/// A deviation from the specification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviationRecord {
    pub step: String,
    pub parameter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_max: Option<f64>,
    /// What the specification asks for, as text (when not a numeric range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    pub actual: Actual,
    #[serde(default)]
    pub unit: String,
    /// `minor`, `major`, `critical` (or the kind found by the recipe diff).
    pub classification: String,
    #[serde(default)]
    pub note: String,
}

/// A recorded value: a number or a text such as `not recorded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Actual {
    Number(f64),
    Text(String),
}

/// Identity of the batch and its patient link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchInfo {
    pub id: String,
    pub product: String,
    /// Chain-of-identity identifier linking all donations of one therapy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_of_identity: Option<String>,
    /// ISBT 128 Donation Identification Number of the starting material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub din: Option<String>,
    /// Pseudonym of the patient (never a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_pseudonym: Option<String>,
    /// `in_process`, `quarantine`, `released`, `rejected`.
    pub status: String,
    /// Id of the process description (recipe) the batch was made by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
}

/// A release specification limit of the product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecLimit {
    pub parameter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default)]
    pub unit: String,
}

/// A documented (level-4) batch record: what the batch twin is built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRecord {
    pub batch: BatchInfo,
    #[serde(default, rename = "step")]
    pub steps: Vec<StepRecord>,
    #[serde(default, rename = "series")]
    pub series: Vec<Series>,
    #[serde(default, rename = "deviation")]
    pub deviations: Vec<DeviationRecord>,
    #[serde(default, rename = "specification")]
    pub specification: Vec<SpecLimit>,
}

impl BatchRecord {
    /// Checks what serde cannot: non-empty ids, step times in order, unique
    /// step ids, deviations naming known steps, finite numbers. Each problem
    /// carries its field path (e.g. `step[2].end`).
    pub fn check(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        self.check_batch(&mut out);
        let ids = self.check_steps(&mut out);
        self.check_specification(&mut out);
        self.check_series(&ids, &mut out);
        self.check_deviations(&ids, &mut out);
        out
    }

    /// The batch's identifiers and status are not empty.
    fn check_batch(&self, out: &mut Vec<Problem>) {
        let root = FieldPath::root();
        let mut bad = |path: FieldPath, message: String| out.push(Problem::new(path, message));
        for (f, v) in [
            ("id", &self.batch.id),
            ("product", &self.batch.product),
            (
                "chain_of_identity",
                self.batch
                    .chain_of_identity
                    .as_ref()
                    .unwrap_or(&self.batch.id),
            ),
            (
                "patient_pseudonym",
                self.batch
                    .patient_pseudonym
                    .as_ref()
                    .unwrap_or(&self.batch.id),
            ),
            ("din", self.batch.din.as_ref().unwrap_or(&self.batch.id)),
            ("status", &self.batch.status),
        ] {
            if v.trim().is_empty() {
                bad(root.key("batch").key(f), "must not be empty".into());
            }
        }
    }

    /// Step ids present and unique, times in order, parameters finite; gives the step ids.
    fn check_steps(&self, out: &mut Vec<Problem>) -> std::collections::BTreeSet<&str> {
        let root = FieldPath::root();
        let mut bad = |path: FieldPath, message: String| out.push(Problem::new(path, message));
        let mut ids = std::collections::BTreeSet::new();
        for (i, s) in self.steps.iter().enumerate() {
            if s.id.trim().is_empty() {
                bad(
                    root.key("step").idx(i).key("id"),
                    "must not be empty".into(),
                );
            } else if !ids.insert(s.id.as_str()) {
                bad(
                    root.key("step").idx(i).key("id"),
                    format!("step id `{}` appears twice", s.id),
                );
            }
            if s.end < s.start {
                bad(
                    root.key("step").idx(i).key("end"),
                    format!("end {} is before start {}", s.end, s.start),
                );
            }
            for (k, q) in &s.parameters {
                if !q.value.is_finite() {
                    bad(
                        root.key("step")
                            .idx(i)
                            .key("parameters")
                            .key(k)
                            .key("value"),
                        "must be a finite number".into(),
                    );
                }
            }
        }
        ids
    }

    /// Each limit has a bound, in order, finite, and one limit per parameter.
    fn check_specification(&self, out: &mut Vec<Problem>) {
        let root = FieldPath::root();
        let mut bad = |path: FieldPath, message: String| out.push(Problem::new(path, message));
        for (i, l) in self.specification.iter().enumerate() {
            let p = root.key("specification").idx(i);
            match (l.min, l.max) {
                (None, None) => bad(p.key("min"), "a limit needs min, max or both".into()),
                (Some(a), Some(b)) if a > b => {
                    bad(p.key("min"), format!("min {a} is greater than max {b}"))
                }
                _ => {}
            }
            if [l.min, l.max].iter().flatten().any(|v| !v.is_finite()) {
                bad(p, "limits must be finite numbers".into());
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, l) in self.specification.iter().enumerate() {
            if !names.insert(l.parameter.as_str()) {
                bad(
                    root.key("specification").idx(i).key("parameter"),
                    format!("parameter `{}` has a specification already", l.parameter),
                );
            }
        }
    }

    /// Series named once, with finite points, of known steps.
    fn check_series(&self, ids: &std::collections::BTreeSet<&str>, out: &mut Vec<Problem>) {
        let root = FieldPath::root();
        let mut bad = |path: FieldPath, message: String| out.push(Problem::new(path, message));
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in self.series.iter().enumerate() {
            if !names.insert(s.name.as_str()) {
                bad(
                    root.key("series").idx(i).key("name"),
                    format!("series `{}` appears twice", s.name),
                );
            }
            if s.points.is_empty() {
                bad(
                    root.key("series").idx(i).key("points"),
                    "a series needs at least one point".into(),
                );
            }
            for (j, (_, v)) in s.points.iter().enumerate() {
                if !v.is_finite() {
                    bad(
                        root.key("series").idx(i).key("points").idx(j),
                        "must be a finite number".into(),
                    );
                }
            }
            if let Some(st) = &s.step
                && !ids.contains(st.as_str())
            {
                bad(
                    root.key("series").idx(i).key("step"),
                    format!("unknown step `{st}`"),
                );
            }
        }
    }

    /// Deviations of known steps, with finite values and expected bounds in order.
    fn check_deviations(&self, ids: &std::collections::BTreeSet<&str>, out: &mut Vec<Problem>) {
        let root = FieldPath::root();
        let mut bad = |path: FieldPath, message: String| out.push(Problem::new(path, message));
        for (i, d) in self.deviations.iter().enumerate() {
            if !ids.contains(d.step.as_str()) {
                bad(
                    root.key("deviation").idx(i).key("step"),
                    format!("unknown step `{}`", d.step),
                );
            }
            if let Actual::Number(v) = d.actual
                && !v.is_finite()
            {
                bad(
                    root.key("deviation").idx(i).key("actual"),
                    "must be a finite number".into(),
                );
            }
            if let (Some(a), Some(b)) = (d.expected_min, d.expected_max)
                && a > b
            {
                bad(
                    root.key("deviation").idx(i).key("expected_min"),
                    format!("expected_min {a} is greater than expected_max {b}"),
                );
            }
        }
    }
}

/// Parses and checks a batch record written in TOML; errors name file, line
/// and field.
pub fn parse_batch_record(name: &str, text: &str) -> Result<BatchRecord, FileErrors> {
    let src = SourceFile::new(name, text);
    let r: BatchRecord = src.parse()?;
    let problems = r.check();
    if problems.is_empty() {
        Ok(r)
    } else {
        Err(src.errors(&problems))
    }
}

/// Builds a batch record from a level-4 executed record of the `recipe`
/// crate (`examples/recipes/records/`) and, if given, its comparison against
/// the recipe: measured parameters, sensor series with sample times, equipment
/// used, and every deviation the diff found.
pub fn batch_record_from_executed(
    rec: &recipe::Record,
    product: Option<&str>,
    diff: Option<&recipe::DiffReport>,
) -> BatchRecord {
    let steps = rec
        .step
        .iter()
        .map(|s| {
            let mut parameters = std::collections::BTreeMap::new();
            for (k, o) in &s.measured {
                let q = |v: f64| Quantity {
                    value: v,
                    unit: o.unit.clone(),
                };
                match (o.value, o.min, o.max) {
                    (Some(v), _, _) => {
                        parameters.insert(k.clone(), q(v));
                    }
                    (None, lo, hi) => {
                        if let Some(v) = lo {
                            parameters.insert(format!("{k}_min"), q(v));
                        }
                        if let Some(v) = hi {
                            parameters.insert(format!("{k}_max"), q(v));
                        }
                    }
                }
            }
            StepRecord {
                id: s.id.clone(),
                name: s.id.clone(),
                equipment: s.equipment.values().next().cloned(),
                start: s.started,
                end: s.ended,
                outcome: "completed".into(),
                parameters,
            }
        })
        .collect();
    let series = rec
        .step
        .iter()
        .flat_map(|s| {
            s.sensor
                .iter()
                .filter(|x| !x.at.is_empty() && x.at.len() == x.values.len())
                .map(|x| Series {
                    name: format!("{}_{}", s.id, x.name),
                    unit: x.unit.clone(),
                    step: Some(s.id.clone()),
                    points: x.at.iter().copied().zip(x.values.iter().copied()).collect(),
                })
        })
        .collect();
    let deviations = diff
        .map(|d| {
            d.deviations
                .iter()
                .map(|x| DeviationRecord {
                    step: x.step.clone(),
                    parameter: x.field.clone(),
                    expected_min: None,
                    expected_max: None,
                    expected: Some(x.expected.clone()),
                    actual: Actual::Text(x.actual.clone()),
                    unit: String::new(),
                    classification: x.kind.to_string(),
                    note: x.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    BatchRecord {
        batch: BatchInfo {
            id: rec.record.batch.clone(),
            product: product.unwrap_or(&rec.record.recipe).to_string(),
            chain_of_identity: None,
            din: rec.record.patient.clone(),
            patient_pseudonym: None,
            status: "documented".into(),
            recipe: Some(rec.record.recipe.clone()),
        },
        steps,
        series,
        deviations,
        specification: Vec::new(),
    }
}

fn series_csv(s: &Series) -> String {
    let mut csv = format!("time,{}\n", s.name);
    for (t, v) in &s.points {
        csv.push_str(&format!("{t},{v}\n"));
    }
    csv
}

/// Batch Record submodel: identity link, executed steps with parameters and
/// equipment, measurement series (IDTA Time Series style) and deviations.
pub fn batch_record(r: &BatchRecord) -> Submodel {
    let b = &r.batch;
    let mut els = vec![
        text("BatchId", b.id.clone(), None),
        text("Product", b.product.clone(), None),
        text("Status", b.status.clone(), None),
        patient_link(b),
    ];
    if let Some(recipe) = &b.recipe {
        els.push(SubmodelElement::ReferenceElement(ReferenceElement {
            id_short: Some("ProcessDescription".into()),
            description: vec![LangString::en(
                "The process description (recipe) this batch was made by",
            )],
            value: Some(Reference::global(format!("urn:atmpflow:recipe:{recipe}"))),
            ..Default::default()
        }));
    }
    let limit_names = unique_id_shorts(r.specification.iter().map(|l| l.parameter.as_str()));
    let limits: Vec<SubmodelElement> = r
        .specification
        .iter()
        .zip(limit_names)
        .map(|(l, name)| {
            SubmodelElement::Range(Range {
                id_short: Some(name),
                qualifiers: unit_qualifier(&l.unit),
                value_type: DataTypeDefXsd::Double,
                min: l.min.map(double),
                max: l.max.map(double),
                ..Default::default()
            })
        })
        .collect();
    if !limits.is_empty() {
        els.push(smc("ReleaseSpecification", None, limits));
    }
    let steps = r.steps.iter().map(executed_step).collect::<Vec<_>>();
    if !steps.is_empty() {
        els.push(list_of("ExecutedSteps", SEM_EXECUTED_STEP, steps));
    }
    let series_names = unique_id_shorts(r.series.iter().map(|s| s.name.as_str()));
    let series: Vec<SubmodelElement> = r
        .series
        .iter()
        .zip(series_names)
        .map(|(s, name)| measurement(s, &name))
        .collect();
    if !series.is_empty() {
        els.push(smc("Measurements", None, series));
    }
    let devs = r.deviations.iter().map(deviation).collect::<Vec<_>>();
    if !devs.is_empty() {
        els.push(list_of("Deviations", SEM_DEVIATION, devs));
    }
    let mut sm = submodel(
        submodel_id("batch", &b.id, "BatchRecord"),
        "BatchRecord",
        SEM_BATCH_RECORD,
        els,
    );
    sm.supplemental_semantic_ids = vec![Reference::global(SEM_EXECUTED_PROCESSES)];
    sm
}

/// The batch's link to the patient and the starting material.
fn patient_link(b: &BatchInfo) -> SubmodelElement {
    // AASd-014 (as aas-core3.0 checks it): a self-managed entity has either a
    // global asset id or specific asset ids, not both; the other identifiers
    // become statements.
    let mut statements = Vec::new();
    if let Some(c) = &b.chain_of_identity {
        statements.push(text("ChainOfIdentity", c.clone(), None));
    }
    if let Some(p) = &b.patient_pseudonym {
        statements.push(text("PatientPseudonym", p.clone(), None));
    }
    if let Some(din) = &b.din {
        statements.push(text("DonationIdentificationNumber", din.clone(), None));
    }
    SubmodelElement::Entity(Entity {
        id_short: Some("PatientLink".into()),
        description: vec![LangString::en(
            "Chain of identity: the patient (pseudonymised) and the starting material of this batch",
        )],
        entity_type: EntityType::SelfManagedEntity,
        global_asset_id: Some(identity_asset_id(b)),
        statements,
        ..Default::default()
    })
}

/// One executed step: identity, times, outcome, equipment and parameters.
fn executed_step(s: &StepRecord) -> Vec<SubmodelElement> {
    let mut v = vec![
        text("StepId", s.id.clone(), None),
        text("Name", s.name.clone(), None),
        prop("Start", DataTypeDefXsd::DateTime, s.start.to_string(), None),
        prop("End", DataTypeDefXsd::DateTime, s.end.to_string(), None),
        prop(
            "DurationHours",
            DataTypeDefXsd::Double,
            double(s.start.hours_until(s.end)),
            None,
        ),
        text("Outcome", s.outcome.clone(), None),
    ];
    if let Some(eq) = &s.equipment {
        v.push(SubmodelElement::ReferenceElement(ReferenceElement {
            id_short: Some("Equipment".into()),
            value: Some(Reference::model(
                KeyTypes::AssetAdministrationShell,
                equipment_aas_id(eq),
            )),
            ..Default::default()
        }));
    }
    let names = unique_id_shorts(s.parameters.keys().map(String::as_str));
    let params: Vec<SubmodelElement> = s
        .parameters
        .values()
        .zip(names)
        .map(|(q, name)| {
            SubmodelElement::Property(Property {
                id_short: Some(name),
                qualifiers: unit_qualifier(&q.unit),
                value_type: DataTypeDefXsd::Double,
                value: Some(double(q.value)),
                ..Default::default()
            })
        })
        .collect();
    if !params.is_empty() {
        v.push(smc("Parameters", None, params));
    }
    v
}

/// One measurement series (IDTA Time Series style): records and a CSV blob.
fn measurement(s: &Series, name: &str) -> SubmodelElement {
    let mut v = vec![
        text("Name", s.name.clone(), None),
        text("Unit", s.unit.clone(), None),
    ];
    if let Some(st) = &s.step {
        v.push(text("Step", st.clone(), None));
    }
    let records = s
        .points
        .iter()
        .map(|(t, x)| {
            vec![
                prop("Time", DataTypeDefXsd::DateTime, t.to_string(), None),
                prop("Value", DataTypeDefXsd::Double, double(*x), None),
            ]
        })
        .collect();
    v.push(list_of("Records", SEM_SAMPLE, records));
    v.push(SubmodelElement::Blob(Blob {
        id_short: Some("Csv".into()),
        content_type: "text/csv".into(),
        value: Some(base64::engine::general_purpose::STANDARD.encode(series_csv(s))),
        ..Default::default()
    }));
    smc(name, Some(SEM_TIME_SERIES), v)
}

/// One deviation: where, what was expected, what was found, its class and note.
fn deviation(d: &DeviationRecord) -> Vec<SubmodelElement> {
    let mut v = vec![
        text("Step", d.step.clone(), None),
        text("Parameter", d.parameter.clone(), None),
    ];
    if d.expected_min.is_some() || d.expected_max.is_some() {
        v.push(SubmodelElement::Range(Range {
            id_short: Some("Expected".into()),
            qualifiers: unit_qualifier(&d.unit),
            value_type: DataTypeDefXsd::Double,
            min: d.expected_min.map(double),
            max: d.expected_max.map(double),
            ..Default::default()
        }));
    }
    if let Some(e) = &d.expected {
        v.push(text("ExpectedText", e.clone(), None));
    }
    v.push(match &d.actual {
        Actual::Number(x) => SubmodelElement::Property(Property {
            id_short: Some("Actual".into()),
            qualifiers: unit_qualifier(&d.unit),
            value_type: DataTypeDefXsd::Double,
            value: Some(double(*x)),
            ..Default::default()
        }),
        Actual::Text(t) => text("Actual", t.clone(), None),
    });
    v.push(text("Classification", d.classification.clone(), None));
    if !d.note.is_empty() {
        v.push(mlp("Note", &d.note, None));
    }
    v
}

/// The asset the patient link points at: the chain of identity if known,
/// else the donation, else the batch itself.
fn identity_asset_id(b: &BatchInfo) -> String {
    match (&b.chain_of_identity, &b.din) {
        (Some(c), _) => format!("urn:atmpflow:asset:chain-of-identity:{c}"),
        (None, Some(d)) => format!("urn:atmpflow:asset:donation:{d}"),
        (None, None) => batch_asset_id(&b.id),
    }
}

/// The twin of one patient batch.
pub fn batch_twin(r: &BatchRecord) -> Twin {
    let b = &r.batch;
    let submodels = vec![batch_record(r)];
    let mut ids = vec![specific("batchId", &b.id)];
    if let Some(c) = &b.chain_of_identity {
        ids.push(specific("chainOfIdentity", c));
    }
    if let Some(din) = &b.din {
        ids.push(specific("donationIdentificationNumber", din));
    }
    let asset = AssetInformation {
        asset_kind: AssetKind::Instance,
        global_asset_id: Some(batch_asset_id(&b.id)),
        specific_asset_ids: ids,
        asset_type: Some("urn:atmpflow:asset-type:patient-batch".into()),
        default_thumbnail: None,
    };
    let shell = shell(
        batch_aas_id(&b.id),
        &id_short(&format!("Batch_{}", b.id)),
        &format!("Patient batch {} of {}", b.id, b.product),
        asset,
        &submodels,
    );
    Twin { shell, submodels }
}

fn cd(id: &str, short: &str, text: &str) -> ConceptDescription {
    ConceptDescription {
        extensions: Vec::new(),
        category: None,
        id_short: Some(short.to_string()),
        display_name: Vec::new(),
        description: vec![LangString::en(text)],
        administration: None,
        id: id.to_string(),
        embedded_data_specifications: Vec::new(),
        is_case_of: Vec::new(),
        model_type: ConceptDescriptionModelType::ConceptDescription,
    }
}

/// Concept descriptions for the project-defined semantic ids used above.
pub fn concept_descriptions() -> Vec<ConceptDescription> {
    vec![
        cd(
            SEM_QUALIFICATION,
            "QualificationState",
            "Qualification state of an equipment item: DQ/IQ/OQ/PQ dates, next requalification, declared and effective status.",
        ),
        cd(
            SEM_USAGE,
            "UsageCounters",
            "Usage counters of an equipment item against their maximum (e.g. sterile connector port uses).",
        ),
        cd(
            SEM_USAGE_COUNTER,
            "UsageCounter",
            "One usage counter: name, uses so far, maximum uses, remaining.",
        ),
        cd(
            SEM_BATCH_RECORD,
            "BatchRecord",
            "Documented batch record of a patient batch: identity link, executed steps, measurements, deviations.",
        ),
        cd(
            SEM_EXECUTED_STEP,
            "ExecutedStep",
            "One executed process step with its equipment, times, parameters and outcome.",
        ),
        cd(
            SEM_DEVIATION,
            "Deviation",
            "A deviation of a measured value from the specified range.",
        ),
        cd(
            SEM_SAMPLE,
            "TimeSeriesRecord",
            "One sample of a measurement series: time and value.",
        ),
    ]
}

/// Builds the environment of all twins, with concept descriptions.
pub fn environment(twins: &[Twin]) -> Environment {
    Environment {
        asset_administration_shells: twins.iter().map(|t| t.shell.clone()).collect(),
        submodels: twins
            .iter()
            .flat_map(|t| t.submodels.iter().cloned())
            .collect(),
        concept_descriptions: concept_descriptions(),
    }
}
