//! Finding equipment through the registry: the shell descriptors name each
//! twin's capability and qualification submodels; those submodels say what
//! the equipment can do and whether it may be used.

use aas::descriptor::ShellDescriptor;
use aas::model::{Submodel, SubmodelElement};
use aas::twins::{SEM_CAPABILITIES, SEM_CAPABILITY_PREFIX, SEM_QUALIFICATION};
use store::{Db, Kind};

use crate::remote::has_semantic;
use crate::{ApiError, from_bytes};

/// One equipment item that offers the capability asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub aas_id: String,
    /// `EffectiveState` of its qualification submodel (`unknown` if absent).
    pub qualification: String,
    /// Whether the qualification submodel says it is usable for GMP.
    pub usable: bool,
    /// Where the shell is served (from its descriptor).
    pub endpoint: String,
}

fn offers(els: &[SubmodelElement], cap_sem: &str) -> bool {
    els.iter().any(|e| {
        (matches!(e, SubmodelElement::Capability(_))
            && e.semantic_id()
                .is_some_and(|r| r.keys.iter().any(|k| k.value == cap_sem)))
            || offers(e.children(), cap_sem)
    })
}

fn property<'a>(sm: &'a Submodel, id_short: &str) -> Option<&'a str> {
    sm.submodel_elements.iter().find_map(|e| match e {
        SubmodelElement::Property(p) if p.id_short.as_deref() == Some(id_short) => {
            p.value.as_deref()
        }
        _ => None,
    })
}

fn submodel(store: &Db, d: &ShellDescriptor, sem: &str) -> Result<Option<Submodel>, ApiError> {
    let Some(sd) = d.submodel_descriptors.iter().find(|s| has_semantic(s, sem)) else {
        return Ok(None);
    };
    match store.get(Kind::Submodel, &sd.id)? {
        Some(b) => Ok(Some(from_bytes(&b)?)),
        None => Ok(None),
    }
}

/// Registered equipment offering `capability`, in descriptor order; with
/// `qualified_only`, only items whose qualification makes them usable.
pub fn find_equipment(
    store: &Db,
    capability: &str,
    qualified_only: bool,
) -> Result<Vec<Found>, ApiError> {
    let cap_sem = format!("{SEM_CAPABILITY_PREFIX}{capability}");
    let mut out = Vec::new();
    for (_, b) in store.list(Kind::ShellDescriptor)? {
        let d: ShellDescriptor = from_bytes(&b)?;
        let Some(caps) = submodel(store, &d, SEM_CAPABILITIES)? else {
            continue;
        };
        if !offers(&caps.submodel_elements, &cap_sem) {
            continue;
        }
        let qual = submodel(store, &d, SEM_QUALIFICATION)?;
        let state = qual
            .as_ref()
            .and_then(|q| property(q, "EffectiveState"))
            .unwrap_or("unknown")
            .to_string();
        let usable = qual.as_ref().and_then(|q| property(q, "UsableForGmp")) == Some("true");
        if qualified_only && !usable {
            continue;
        }
        let endpoint = d
            .endpoints
            .first()
            .map(|e| e.protocol_information.href.clone())
            .unwrap_or_default();
        out.push(Found {
            aas_id: d.id.clone(),
            qualification: state,
            usable,
            endpoint,
        });
    }
    Ok(out)
}
