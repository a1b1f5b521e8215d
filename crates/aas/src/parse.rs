//! Parsing AAS JSON with errors that name the offending path, followed by the
//! metamodel constraint checks of [`crate::validate`].

use serde::de::DeserializeOwned;

use crate::model::{
    AssetAdministrationShell, ConceptDescription, Environment, NESTED, Submodel, SubmodelElement,
};
use crate::validate::{self, Violation};

/// A document that is not valid AAS JSON: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ParseError {
    /// JSON path of the offending value, `$` for the document root,
    /// e.g. `$.submodelElements[2].value[0].valueType`.
    pub path: String,
    pub message: String,
}

impl From<Violation> for ParseError {
    fn from(v: Violation) -> Self {
        ParseError {
            path: v.path,
            message: v.message,
        }
    }
}

fn join(outer: &str, inner: &str) -> String {
    let mut p = String::from("$");
    for part in [outer, inner] {
        if part.is_empty() || part == "." {
            continue;
        }
        if !part.starts_with('[') {
            p.push('.');
        }
        p.push_str(part);
    }
    p
}

/// Deserialises `bytes` as `T`, reporting the JSON path of the first error.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let outer = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ParseError {
                    path: "$".into(),
                    message: format!("malformed JSON: {inner}"),
                });
            }
            let msg = inner.to_string();
            return Err(match msg.strip_prefix(NESTED) {
                Some(rest) => {
                    let (ipath, imsg) = rest.split_once(NESTED).unwrap_or(("", rest));
                    ParseError {
                        path: join(&outer, ipath),
                        message: imsg.to_string(),
                    }
                }
                None => ParseError {
                    path: join(&outer, ""),
                    message: msg,
                },
            });
        }
    };
    de.end().map_err(|e| ParseError {
        path: "$".into(),
        message: format!("trailing data: {e}"),
    })?;
    Ok(value)
}

fn first(v: Vec<Violation>) -> Result<(), ParseError> {
    match v.into_iter().next() {
        Some(v) => Err(v.into()),
        None => Ok(()),
    }
}

/// Parses and validates an Asset Administration Shell.
pub fn parse_shell(bytes: &[u8]) -> Result<AssetAdministrationShell, ParseError> {
    let s: AssetAdministrationShell = from_json(bytes)?;
    first(validate::shell(&s))?;
    Ok(s)
}

/// Parses and validates a submodel.
pub fn parse_submodel(bytes: &[u8]) -> Result<Submodel, ParseError> {
    let s: Submodel = from_json(bytes)?;
    first(validate::submodel(&s))?;
    Ok(s)
}

/// Parses and validates a single submodel element. `in_list` says whether it
/// becomes a direct child of a SubmodelElementList (then it has no idShort).
pub fn parse_element(bytes: &[u8], in_list: bool) -> Result<SubmodelElement, ParseError> {
    let e: SubmodelElement = from_json(bytes)?;
    first(validate::element(&e, "$", in_list))?;
    Ok(e)
}

/// Parses and validates a concept description.
pub fn parse_concept_description(bytes: &[u8]) -> Result<ConceptDescription, ParseError> {
    let c: ConceptDescription = from_json(bytes)?;
    first(validate::concept_description(&c))?;
    Ok(c)
}

/// Parses and validates a whole environment.
pub fn parse_environment(bytes: &[u8]) -> Result<Environment, ParseError> {
    let env: Environment = from_json(bytes)?;
    first(validate::environment(&env))?;
    Ok(env)
}
