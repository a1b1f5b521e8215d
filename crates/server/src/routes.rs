//! The endpoints of the API and the methods each one serves, decided from the
//! path alone — before any identifier in it is decoded — so that a method an
//! endpoint does not serve is answered 405 with the `Allow` header (RFC 9110
//! §15.5.6), whatever the identifiers in the path look like.
//!
//! [`crate::dispatch`] consults this table first; the handlers in `repo` and
//! `registry` implement exactly the methods listed here.

use axum::http::Method;

const GET: &[Method] = &[Method::GET];
const COLLECTION: &[Method] = &[Method::GET, Method::POST];
const ITEM: &[Method] = &[Method::GET, Method::PUT, Method::DELETE];
const REPLACEABLE: &[Method] = &[Method::GET, Method::PUT];
/// A submodel: read, replaced, changed in part, deleted.
const SUBMODEL: &[Method] = &[Method::GET, Method::PUT, Method::PATCH, Method::DELETE];
/// `$metadata` and `$value` of a submodel or element: read and changed in part.
const PATCHABLE: &[Method] = &[Method::GET, Method::PATCH];
const ELEMENT: &[Method] = &[
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::PATCH,
    Method::DELETE,
];
const DELETE: &[Method] = &[Method::DELETE];
const ASSET_LINKS: &[Method] = &[Method::GET, Method::POST, Method::DELETE];

/// Modifiers of a list or of one object (`…/$value` etc.).
const MODIFIERS: [&str; 4] = ["$metadata", "$value", "$reference", "$path"];

/// The methods served at the path `segs` (the percent-decoded segments after
/// the base path), or `None` when the path is no endpoint of this server.
pub(crate) fn allowed(segs: &[&str]) -> Option<&'static [Method]> {
    match segs {
        ["description"] | ["serialization"] => Some(GET),
        ["shells"] => Some(COLLECTION),
        ["shells", "$reference"] => Some(GET),
        ["shells", _aas, rest @ ..] => shell(rest),
        ["submodels"] => Some(COLLECTION),
        // `$` is no base64url character: this is a modifier, not an identifier
        ["submodels", m] if m.starts_with('$') => MODIFIERS.contains(m).then_some(GET),
        ["submodels", _sm, rest @ ..] => submodel(rest),
        ["concept-descriptions"] => Some(COLLECTION),
        ["concept-descriptions", _cd] => Some(ITEM),
        ["shell-descriptors"] => Some(COLLECTION),
        ["shell-descriptors", _aas] => Some(ITEM),
        ["shell-descriptors", _aas, "submodel-descriptors"] => Some(COLLECTION),
        ["shell-descriptors", _aas, "submodel-descriptors", _sm] => Some(ITEM),
        ["submodel-descriptors"] => Some(COLLECTION),
        ["submodel-descriptors", _sm] => Some(ITEM),
        ["lookup", "shells"] => Some(GET),
        ["lookup", "shells", _aas] => Some(ASSET_LINKS),
        _ => None,
    }
}

/// Below `/shells/{aasIdentifier}`.
fn shell(rest: &[&str]) -> Option<&'static [Method]> {
    match rest {
        [] => Some(ITEM),
        ["$reference"] | ["description"] | ["serialization"] | ["shells"] => Some(GET),
        ["asset-information"] => Some(REPLACEABLE),
        ["asset-information", "thumbnail"] => Some(GET),
        ["submodel-refs"] => Some(COLLECTION),
        ["submodel-refs", _sm] => Some(DELETE),
        ["submodels", _sm, rest @ ..] => submodel(rest),
        _ => None,
    }
}

/// Below `/submodels/{submodelIdentifier}` (also reached through a shell).
fn submodel(rest: &[&str]) -> Option<&'static [Method]> {
    match rest {
        [] => Some(SUBMODEL),
        ["$metadata" | "$value"] => Some(PATCHABLE),
        [m] if MODIFIERS.contains(m) => Some(GET),
        ["description"] | ["serialization"] | ["shells"] => Some(GET),
        ["submodel-elements"] => Some(COLLECTION),
        // no idShortPath starts with `$` (an idShort starts with a letter)
        ["submodel-elements", m] if m.starts_with('$') => MODIFIERS.contains(m).then_some(GET),
        ["submodel-elements", _path] => Some(ELEMENT),
        ["submodel-elements", _path, "$metadata" | "$value"] => Some(PATCHABLE),
        ["submodel-elements", _path, m] if MODIFIERS.contains(m) || *m == "attachment" => Some(GET),
        _ => None,
    }
}

/// The value of the `Allow` header for `methods`.
pub(crate) fn allow_header(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
