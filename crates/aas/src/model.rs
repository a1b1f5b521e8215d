//! AAS v3.0 metamodel types (Part 1, JSON serialisation per the official schema).
//!
//! Field names follow the JSON schema (camelCase). Optional lists are never
//! serialised empty (the schema demands `minItems: 1`), and an empty list in
//! the input is rejected while parsing. Unknown fields are rejected too, so a
//! typo in a field name surfaces as an error that names its path.

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Marks an error from a nested submodel element so the outer parser can join
/// the paths (see [`crate::parse`]).
pub(crate) const NESTED: char = '\u{1}';

/// Deserialises a list that must not be empty when present.
pub(crate) fn non_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let v = Vec::<T>::deserialize(d)?;
    if v.is_empty() {
        return Err(de::Error::custom(
            "list must not be empty (omit the field instead)",
        ));
    }
    Ok(v)
}

/// `Reference/type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReferenceTypes {
    ExternalReference,
    ModelReference,
}

/// `Key/type` (KeyTypes enumeration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyTypes {
    AnnotatedRelationshipElement,
    AssetAdministrationShell,
    BasicEventElement,
    Blob,
    Capability,
    ConceptDescription,
    DataElement,
    Entity,
    EventElement,
    File,
    FragmentReference,
    GlobalReference,
    Identifiable,
    MultiLanguageProperty,
    Operation,
    Property,
    Range,
    Referable,
    ReferenceElement,
    RelationshipElement,
    Submodel,
    SubmodelElement,
    SubmodelElementCollection,
    SubmodelElementList,
}

impl KeyTypes {
    /// AasIdentifiables (first key of a ModelReference, AASd-123).
    pub fn is_aas_identifiable(self) -> bool {
        matches!(
            self,
            KeyTypes::AssetAdministrationShell
                | KeyTypes::ConceptDescription
                | KeyTypes::Identifiable
                | KeyTypes::Submodel
        )
    }
    /// GenericGloballyIdentifiables (first key of an ExternalReference, AASd-122).
    pub fn is_generic_globally_identifiable(self) -> bool {
        matches!(self, KeyTypes::GlobalReference)
    }
    /// GloballyIdentifiables (AASd-121).
    pub fn is_globally_identifiable(self) -> bool {
        self.is_aas_identifiable() || self.is_generic_globally_identifiable()
    }
    /// FragmentKeys: every key of a ModelReference after the first (AASd-125).
    pub fn is_fragment(self) -> bool {
        !self.is_aas_identifiable() && self != KeyTypes::GlobalReference
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Key {
    #[serde(rename = "type")]
    pub kind: KeyTypes,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: ReferenceTypes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_semantic_id: Option<Box<Reference>>,
    #[serde(deserialize_with = "non_empty")]
    pub keys: Vec<Key>,
}

/// An empty reference; only for `..Default::default()` in builders (an empty
/// key list fails validation).
impl Default for Reference {
    fn default() -> Self {
        Reference {
            kind: ReferenceTypes::ExternalReference,
            referred_semantic_id: None,
            keys: Vec::new(),
        }
    }
}

impl Reference {
    /// An external reference with one `GlobalReference` key (semantic ids).
    pub fn global(value: impl Into<String>) -> Self {
        Reference {
            kind: ReferenceTypes::ExternalReference,
            referred_semantic_id: None,
            keys: vec![Key {
                kind: KeyTypes::GlobalReference,
                value: value.into(),
            }],
        }
    }
    /// A model reference to an identifiable.
    pub fn model(kind: KeyTypes, id: impl Into<String>) -> Self {
        Reference {
            kind: ReferenceTypes::ModelReference,
            referred_semantic_id: None,
            keys: vec![Key {
                kind,
                value: id.into(),
            }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LangString {
    pub language: String,
    pub text: String,
}

impl LangString {
    pub fn en(text: impl Into<String>) -> Self {
        LangString {
            language: "en".into(),
            text: text.into(),
        }
    }
}

/// `DataTypeDefXsd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DataTypeDefXsd {
    #[serde(rename = "xs:anyURI")]
    AnyUri,
    #[serde(rename = "xs:base64Binary")]
    Base64Binary,
    #[serde(rename = "xs:boolean")]
    Boolean,
    #[serde(rename = "xs:byte")]
    Byte,
    #[serde(rename = "xs:date")]
    Date,
    #[serde(rename = "xs:dateTime")]
    DateTime,
    #[serde(rename = "xs:decimal")]
    Decimal,
    #[serde(rename = "xs:double")]
    Double,
    #[serde(rename = "xs:duration")]
    Duration,
    #[serde(rename = "xs:float")]
    Float,
    #[serde(rename = "xs:gDay")]
    GDay,
    #[serde(rename = "xs:gMonth")]
    GMonth,
    #[serde(rename = "xs:gMonthDay")]
    GMonthDay,
    #[serde(rename = "xs:gYear")]
    GYear,
    #[serde(rename = "xs:gYearMonth")]
    GYearMonth,
    #[serde(rename = "xs:hexBinary")]
    HexBinary,
    #[serde(rename = "xs:int")]
    Int,
    #[serde(rename = "xs:integer")]
    Integer,
    #[serde(rename = "xs:long")]
    Long,
    #[serde(rename = "xs:negativeInteger")]
    NegativeInteger,
    #[serde(rename = "xs:nonNegativeInteger")]
    NonNegativeInteger,
    #[serde(rename = "xs:nonPositiveInteger")]
    NonPositiveInteger,
    #[serde(rename = "xs:positiveInteger")]
    PositiveInteger,
    #[serde(rename = "xs:short")]
    Short,
    #[serde(rename = "xs:string")]
    #[default]
    String,
    #[serde(rename = "xs:time")]
    Time,
    #[serde(rename = "xs:unsignedByte")]
    UnsignedByte,
    #[serde(rename = "xs:unsignedInt")]
    UnsignedInt,
    #[serde(rename = "xs:unsignedLong")]
    UnsignedLong,
    #[serde(rename = "xs:unsignedShort")]
    UnsignedShort,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Extension {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_id: Option<Reference>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supplemental_semantic_ids: Vec<Reference>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<DataTypeDefXsd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub refers_to: Vec<Reference>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QualifierKind {
    ConceptQualifier,
    TemplateQualifier,
    ValueQualifier,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Qualifier {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_id: Option<Reference>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supplemental_semantic_ids: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<QualifierKind>,
    #[serde(rename = "type")]
    pub kind_name: String,
    pub value_type: DataTypeDefXsd,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_id: Option<Reference>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdministrativeInformation {
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub embedded_data_specifications: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModellingKind {
    Instance,
    Template,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssetKind {
    Instance,
    Type,
    Role,
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpecificAssetId {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_id: Option<Reference>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supplemental_semantic_ids: Vec<Reference>,
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_subject_id: Option<Reference>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resource {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssetInformation {
    pub asset_kind: AssetKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_asset_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub specific_asset_ids: Vec<SpecificAssetId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_thumbnail: Option<Resource>,
}

/// The single allowed `modelType` of a shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ShellModelType {
    #[default]
    AssetAdministrationShell,
}

/// The single allowed `modelType` of a submodel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SubmodelModelType {
    #[default]
    Submodel,
}

/// The single allowed `modelType` of a concept description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ConceptDescriptionModelType {
    #[default]
    ConceptDescription,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssetAdministrationShell {
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extensions: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_short: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub display_name: Vec<LangString>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub description: Vec<LangString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administration: Option<AdministrativeInformation>,
    pub id: String,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub embedded_data_specifications: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<Reference>,
    pub asset_information: AssetInformation,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub submodels: Vec<Reference>,
    pub model_type: ShellModelType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Submodel {
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extensions: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_short: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub display_name: Vec<LangString>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub description: Vec<LangString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administration: Option<AdministrativeInformation>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ModellingKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_id: Option<Reference>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supplemental_semantic_ids: Vec<Reference>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub qualifiers: Vec<Qualifier>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub embedded_data_specifications: Vec<Value>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub submodel_elements: Vec<SubmodelElement>,
    pub model_type: SubmodelModelType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConceptDescription {
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extensions: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_short: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub display_name: Vec<LangString>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub description: Vec<LangString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administration: Option<AdministrativeInformation>,
    pub id: String,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub embedded_data_specifications: Vec<Value>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub is_case_of: Vec<Reference>,
    pub model_type: ConceptDescriptionModelType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub asset_administration_shells: Vec<AssetAdministrationShell>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub submodels: Vec<Submodel>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub concept_descriptions: Vec<ConceptDescription>,
}

/// Declares a submodel element struct with the fields every submodel element
/// has (Referable, HasSemantics, Qualifiable, HasDataSpecification) followed
/// by its own fields.
macro_rules! element {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
            pub extensions: Vec<Extension>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub category: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id_short: Option<String>,
            #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
            pub display_name: Vec<LangString>,
            #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
            pub description: Vec<LangString>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub semantic_id: Option<Reference>,
            #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
            pub supplemental_semantic_ids: Vec<Reference>,
            #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
            pub qualifiers: Vec<Qualifier>,
            #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
            pub embedded_data_specifications: Vec<Value>,
            $($(#[$fm])* pub $f: $t,)*
        }
    };
}

element!(
    /// A typed single value.
    Property {
        pub value_type: DataTypeDefXsd,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub value: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub value_id: Option<Reference>,
    }
);

element!(
    MultiLanguageProperty {
        #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
        pub value: Vec<LangString>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub value_id: Option<Reference>,
    }
);

element!(
    Range {
        pub value_type: DataTypeDefXsd,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub min: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max: Option<String>,
    }
);

element!(
    File {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub value: Option<String>,
        pub content_type: String,
    }
);

element!(
    Blob {
        /// base64-encoded content.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub value: Option<String>,
        pub content_type: String,
    }
);

element!(
    ReferenceElement {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub value: Option<Reference>,
    }
);

element!(Capability {});

element!(
    SubmodelElementCollection {
        #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
        pub value: Vec<SubmodelElement>,
    }
);

/// Default for `SubmodelElementList/typeValueListElement` in `Default` impls only.
impl Default for KeyTypes {
    fn default() -> Self {
        KeyTypes::SubmodelElement
    }
}

element!(
    SubmodelElementList {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub order_relevant: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub semantic_id_list_element: Option<Reference>,
        pub type_value_list_element: KeyTypes,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub value_type_list_element: Option<DataTypeDefXsd>,
        #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
        pub value: Vec<SubmodelElement>,
    }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum EntityType {
    #[default]
    CoManagedEntity,
    SelfManagedEntity,
}

element!(
    Entity {
        #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
        pub statements: Vec<SubmodelElement>,
        pub entity_type: EntityType,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub global_asset_id: Option<String>,
        #[serde(default, deserialize_with = "non_empty", skip_serializing_if = "Vec::is_empty")]
        pub specific_asset_ids: Vec<SpecificAssetId>,
    }
);

element!(
    RelationshipElement {
        pub first: Reference,
        pub second: Reference,
    }
);

/// A submodel element, tagged by `modelType` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "modelType")]
pub enum SubmodelElement {
    Property(Property),
    MultiLanguageProperty(MultiLanguageProperty),
    Range(Range),
    File(File),
    Blob(Blob),
    ReferenceElement(ReferenceElement),
    Capability(Capability),
    SubmodelElementCollection(SubmodelElementCollection),
    SubmodelElementList(SubmodelElementList),
    Entity(Entity),
    RelationshipElement(RelationshipElement),
}

fn nested<T: DeserializeOwned, E: de::Error>(v: Value) -> Result<T, E> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            E::custom(inner)
        } else if let Some(rest) = inner.strip_prefix(NESTED) {
            // already a nested error: join the paths
            E::custom(format!("{NESTED}{path}.{rest}"))
        } else {
            E::custom(format!("{NESTED}{path}{NESTED}{inner}"))
        }
    })
}

impl<'de> Deserialize<'de> for SubmodelElement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(d)?;
        let Some(obj) = v.as_object_mut() else {
            return Err(de::Error::custom(
                "a submodel element must be a JSON object",
            ));
        };
        let model_type = match obj.remove("modelType") {
            Some(Value::String(s)) => s,
            Some(_) => return Err(de::Error::custom("`modelType` must be a string")),
            None => return Err(de::Error::custom("missing field `modelType`")),
        };
        Ok(match model_type.as_str() {
            "Property" => SubmodelElement::Property(nested(v)?),
            "MultiLanguageProperty" => SubmodelElement::MultiLanguageProperty(nested(v)?),
            "Range" => SubmodelElement::Range(nested(v)?),
            "File" => SubmodelElement::File(nested(v)?),
            "Blob" => SubmodelElement::Blob(nested(v)?),
            "ReferenceElement" => SubmodelElement::ReferenceElement(nested(v)?),
            "Capability" => SubmodelElement::Capability(nested(v)?),
            "SubmodelElementCollection" => SubmodelElement::SubmodelElementCollection(nested(v)?),
            "SubmodelElementList" => SubmodelElement::SubmodelElementList(nested(v)?),
            "Entity" => SubmodelElement::Entity(nested(v)?),
            "RelationshipElement" => SubmodelElement::RelationshipElement(nested(v)?),
            "Operation" | "BasicEventElement" | "AnnotatedRelationshipElement" => {
                return Err(de::Error::custom(format!(
                    "modelType `{model_type}` is valid AAS but not supported by this server"
                )));
            }
            other => {
                return Err(de::Error::custom(format!("unknown modelType `{other}`")));
            }
        })
    }
}

/// Read access to the fields all submodel elements share.
macro_rules! each_variant {
    ($self:expr, $x:ident => $body:expr) => {
        match $self {
            SubmodelElement::Property($x) => $body,
            SubmodelElement::MultiLanguageProperty($x) => $body,
            SubmodelElement::Range($x) => $body,
            SubmodelElement::File($x) => $body,
            SubmodelElement::Blob($x) => $body,
            SubmodelElement::ReferenceElement($x) => $body,
            SubmodelElement::Capability($x) => $body,
            SubmodelElement::SubmodelElementCollection($x) => $body,
            SubmodelElement::SubmodelElementList($x) => $body,
            SubmodelElement::Entity($x) => $body,
            SubmodelElement::RelationshipElement($x) => $body,
        }
    };
}

impl SubmodelElement {
    pub fn id_short(&self) -> Option<&str> {
        each_variant!(self, x => x.id_short.as_deref())
    }
    pub fn set_id_short(&mut self, id_short: Option<String>) {
        each_variant!(self, x => x.id_short = id_short)
    }
    pub fn semantic_id(&self) -> Option<&Reference> {
        each_variant!(self, x => x.semantic_id.as_ref())
    }
    pub fn category(&self) -> Option<&str> {
        each_variant!(self, x => x.category.as_deref())
    }
    pub fn display_name(&self) -> &[LangString] {
        each_variant!(self, x => &x.display_name)
    }
    pub fn description(&self) -> &[LangString] {
        each_variant!(self, x => &x.description)
    }
    pub fn qualifiers(&self) -> &[Qualifier] {
        each_variant!(self, x => &x.qualifiers)
    }
    pub fn extensions(&self) -> &[Extension] {
        each_variant!(self, x => &x.extensions)
    }
    pub fn supplemental_semantic_ids(&self) -> &[Reference] {
        each_variant!(self, x => &x.supplemental_semantic_ids)
    }
    /// The JSON `modelType` and Key type of this element.
    pub fn key_type(&self) -> KeyTypes {
        match self {
            SubmodelElement::Property(_) => KeyTypes::Property,
            SubmodelElement::MultiLanguageProperty(_) => KeyTypes::MultiLanguageProperty,
            SubmodelElement::Range(_) => KeyTypes::Range,
            SubmodelElement::File(_) => KeyTypes::File,
            SubmodelElement::Blob(_) => KeyTypes::Blob,
            SubmodelElement::ReferenceElement(_) => KeyTypes::ReferenceElement,
            SubmodelElement::Capability(_) => KeyTypes::Capability,
            SubmodelElement::SubmodelElementCollection(_) => KeyTypes::SubmodelElementCollection,
            SubmodelElement::SubmodelElementList(_) => KeyTypes::SubmodelElementList,
            SubmodelElement::Entity(_) => KeyTypes::Entity,
            SubmodelElement::RelationshipElement(_) => KeyTypes::RelationshipElement,
        }
    }
    /// Direct children (collection and list values, entity statements).
    pub fn children(&self) -> &[SubmodelElement] {
        match self {
            SubmodelElement::SubmodelElementCollection(c) => &c.value,
            SubmodelElement::SubmodelElementList(l) => &l.value,
            SubmodelElement::Entity(e) => &e.statements,
            _ => &[],
        }
    }
    /// Mutable direct children, `None` for elements that cannot hold children.
    pub fn children_mut(&mut self) -> Option<&mut Vec<SubmodelElement>> {
        match self {
            SubmodelElement::SubmodelElementCollection(c) => Some(&mut c.value),
            SubmodelElement::SubmodelElementList(l) => Some(&mut l.value),
            SubmodelElement::Entity(e) => Some(&mut e.statements),
            _ => None,
        }
    }
    pub fn is_list(&self) -> bool {
        matches!(self, SubmodelElement::SubmodelElementList(_))
    }
}
