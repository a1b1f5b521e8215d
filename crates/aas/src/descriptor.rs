//! Registry descriptors (AAS Part 2, AAS Registry and Submodel Registry).

use serde::{Deserialize, Serialize};

use crate::model::{
    AdministrativeInformation, AssetAdministrationShell, AssetKind, Extension, LangString,
    Reference, SpecificAssetId, Submodel, non_empty,
};
use crate::parse::{ParseError, from_json};
use crate::validate::{self, Violation};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProtocolInformation {
    pub href: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_protocol: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub endpoint_protocol_version: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocol_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocol_body_encoding: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub security_attributes: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    /// `AAS-3.0`, `SUBMODEL-3.0`, `AAS-REPOSITORY-3.0`, …
    pub interface: String,
    pub protocol_information: ProtocolInformation,
}

impl Endpoint {
    pub fn http(interface: &str, href: String) -> Self {
        Endpoint {
            interface: interface.to_string(),
            protocol_information: ProtocolInformation {
                href,
                endpoint_protocol: Some("HTTP".into()),
                endpoint_protocol_version: vec!["1.1".into()],
                subprotocol: None,
                subprotocol_body: None,
                subprotocol_body_encoding: None,
                security_attributes: Vec::new(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmodelDescriptor {
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub description: Vec<LangString>,
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
    pub extensions: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administration: Option<AdministrativeInformation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_short: Option<String>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_id: Option<Reference>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supplemental_semantic_id: Vec<Reference>,
    #[serde(deserialize_with = "non_empty")]
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShellDescriptor {
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub description: Vec<LangString>,
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
    pub extensions: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administration: Option<AdministrativeInformation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_kind: Option<AssetKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub endpoints: Vec<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_asset_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_short: Option<String>,
    pub id: String,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub specific_asset_ids: Vec<SpecificAssetId>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub submodel_descriptors: Vec<SubmodelDescriptor>,
}

/// Builds the descriptor a submodel registers under, served at `href`.
pub fn submodel_descriptor(sm: &Submodel, href: String) -> SubmodelDescriptor {
    SubmodelDescriptor {
        description: sm.description.clone(),
        display_name: sm.display_name.clone(),
        extensions: Vec::new(),
        administration: sm.administration.clone(),
        id_short: sm.id_short.clone(),
        id: sm.id.clone(),
        semantic_id: sm.semantic_id.clone(),
        supplemental_semantic_id: sm.supplemental_semantic_ids.clone(),
        endpoints: vec![Endpoint::http("SUBMODEL-3.0", href)],
    }
}

/// Builds the descriptor a shell registers under, served at `href`, with its
/// submodels' descriptors.
pub fn shell_descriptor(
    aas: &AssetAdministrationShell,
    href: String,
    submodels: Vec<SubmodelDescriptor>,
) -> ShellDescriptor {
    ShellDescriptor {
        description: aas.description.clone(),
        display_name: aas.display_name.clone(),
        extensions: Vec::new(),
        administration: aas.administration.clone(),
        asset_kind: Some(aas.asset_information.asset_kind),
        asset_type: aas.asset_information.asset_type.clone(),
        endpoints: vec![Endpoint::http("AAS-3.0", href)],
        global_asset_id: aas.asset_information.global_asset_id.clone(),
        id_short: aas.id_short.clone(),
        id: aas.id.clone(),
        specific_asset_ids: aas.asset_information.specific_asset_ids.clone(),
        submodel_descriptors: submodels,
    }
}

fn check_endpoints(path: &str, e: &[Endpoint], out: &mut Vec<Violation>) {
    for (i, ep) in e.iter().enumerate() {
        let p = format!("{path}.endpoints[{i}]");
        if ep.interface.is_empty() || ep.interface.len() > 128 {
            out.push(Violation {
                path: format!("{p}.interface"),
                message: "must be 1 to 128 characters".into(),
            });
        }
        if ep.protocol_information.href.is_empty() {
            out.push(Violation {
                path: format!("{p}.protocolInformation.href"),
                message: "must not be empty".into(),
            });
        }
    }
}

/// The descriptor's `id` at `path`: non-empty, at most 2000 characters, no
/// forbidden character ([`crate::ids::identifier_problem`]).
fn check_id(path: &str, id: &str, out: &mut Vec<Violation>) {
    let message = if id.is_empty() {
        "must not be empty".to_string()
    } else if id.chars().count() > 2000 {
        "longer than 2000 characters".to_string()
    } else if let Some(m) = crate::ids::identifier_problem(id) {
        m
    } else {
        return;
    };
    out.push(Violation {
        path: format!("{path}.id"),
        message,
    });
}

fn check_submodel_descriptor(path: &str, d: &SubmodelDescriptor, out: &mut Vec<Violation>) {
    check_id(path, &d.id, out);
    if let Some(s) = &d.id_short
        && !validate::is_valid_id_short(s)
    {
        out.push(Violation {
            path: format!("{path}.idShort"),
            message: "AASd-002: must match [a-zA-Z][a-zA-Z0-9_]*".into(),
        });
    }
    check_endpoints(path, &d.endpoints, out);
}

/// Parses and checks a shell descriptor.
pub fn parse_shell_descriptor(bytes: &[u8]) -> Result<ShellDescriptor, ParseError> {
    let d: ShellDescriptor = from_json(bytes)?;
    let mut out = Vec::new();
    check_id("$", &d.id, &mut out);
    if let Some(s) = &d.id_short
        && !validate::is_valid_id_short(s)
    {
        out.push(Violation {
            path: "$.idShort".into(),
            message: "AASd-002: must match [a-zA-Z][a-zA-Z0-9_]*".into(),
        });
    }
    check_endpoints("$", &d.endpoints, &mut out);
    for (i, s) in d.submodel_descriptors.iter().enumerate() {
        check_submodel_descriptor(&format!("$.submodelDescriptors[{i}]"), s, &mut out);
    }
    match out.into_iter().next() {
        Some(v) => Err(v.into()),
        None => Ok(d),
    }
}

/// Parses and checks a submodel descriptor.
pub fn parse_submodel_descriptor(bytes: &[u8]) -> Result<SubmodelDescriptor, ParseError> {
    let d: SubmodelDescriptor = from_json(bytes)?;
    let mut out = Vec::new();
    check_submodel_descriptor("$", &d, &mut out);
    match out.into_iter().next() {
        Some(v) => Err(v.into()),
        None => Ok(d),
    }
}
