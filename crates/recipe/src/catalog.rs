//! The shared capability vocabulary.
//!
//! Recipes (level 2) ask for capabilities by these names and equipment offers
//! them under the same names, so both sides speak one semantics (domain.md §7:
//! "shared concepts make multi-vendor modules integrable"). A name outside this
//! list is an error in either file. Each parameter has one dimension; text and
//! boolean parameters are compared for equality.

use crate::quantity::Dimension;

/// The kind of value a capability parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A number in the given dimension (a value or a range on equipment).
    Number(Dimension),
    /// Yes/no.
    Bool,
    /// A word from an open vocabulary (e.g. a cleanroom grade, a selection marker).
    Text,
}

/// One parameter of a capability.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    /// Name as written in files.
    pub name: &'static str,
    /// Value kind.
    pub kind: ParamKind,
    /// One-line meaning.
    pub doc: &'static str,
}

/// One capability: a function a piece of equipment provides.
#[derive(Debug, Clone, Copy)]
pub struct CapabilityDef {
    /// Name as written in files.
    pub name: &'static str,
    /// One-line meaning.
    pub doc: &'static str,
    /// Parameters it may carry.
    pub params: &'static [ParamDef],
}

impl CapabilityDef {
    /// Look up a parameter by name.
    pub fn param(&self, name: &str) -> Option<&'static ParamDef> {
        self.params.iter().find(|p| p.name == name)
    }
    /// The message for a parameter `name` that this capability does not have.
    pub fn unknown_param(&self, name: &str) -> String {
        let known: Vec<&str> = self.params.iter().map(|p| p.name).collect();
        format!(
            "unknown parameter `{name}` for capability `{}`; known: {}",
            self.name,
            known.join(", ")
        )
    }
}

use Dimension as D;
use ParamKind::{Bool, Number as N, Text};

const fn p(name: &'static str, kind: ParamKind, doc: &'static str) -> ParamDef {
    ParamDef { name, kind, doc }
}

const VOLUME: ParamDef = p(
    "volume",
    N(D::Volume),
    "working volume the equipment handles",
);
const TEMPERATURE: ParamDef = p("temperature", N(D::Temperature), "process temperature");
const CLOSED: ParamDef = p(
    "closed",
    Bool,
    "functionally closed processing (no open manipulation)",
);

/// Every capability known to atmpflow.
pub const CAPABILITIES: &[CapabilityDef] = &[
    CapabilityDef {
        name: "thawing",
        doc: "controlled thawing of cryopreserved bags",
        params: &[VOLUME, TEMPERATURE],
    },
    CapabilityDef {
        name: "controlled_rate_freezing",
        doc: "cryopreservation at a programmed cooling rate",
        params: &[
            VOLUME,
            p("cooling_rate", N(D::TemperatureRate), "cooling rate"),
            p(
                "end_temperature",
                N(D::Temperature),
                "lowest reachable temperature",
            ),
        ],
    },
    CapabilityDef {
        name: "centrifugation",
        doc: "sedimentation of cells (wash, volume reduction, harvest)",
        params: &[
            p("rcf", N(D::Rcf), "relative centrifugal force"),
            VOLUME,
            TEMPERATURE,
            CLOSED,
        ],
    },
    CapabilityDef {
        name: "liquid_handling",
        doc: "pumping, mixing, media exchange and additions",
        params: &[VOLUME, p("flow_rate", N(D::Flow), "pump flow rate"), CLOSED],
    },
    CapabilityDef {
        name: "magnetic_separation",
        doc: "selection or depletion of cells with magnetic particles",
        params: &[
            VOLUME,
            p(
                "cell_number",
                N(D::Cells),
                "number of cells that can be processed",
            ),
            p("marker", Text, "selection marker, e.g. CD4/CD8"),
            CLOSED,
        ],
    },
    CapabilityDef {
        name: "cell_culture",
        doc: "incubation of cells in a culture vessel or bioreactor (activation, transduction, expansion)",
        params: &[
            VOLUME,
            TEMPERATURE,
            p("co2", N(D::Percent), "CO2 fraction of the gas phase"),
            p(
                "perfusion_rate",
                N(D::Flow),
                "adjustable perfusion / media feed",
            ),
            CLOSED,
        ],
    },
    CapabilityDef {
        name: "cell_counting",
        doc: "cell count and viability measurement",
        params: &[
            p(
                "concentration",
                N(D::Concentration),
                "measurable cell concentration",
            ),
            p("viability", Bool, "reports viability"),
            p("sample_volume", N(D::Volume), "sample volume needed"),
        ],
    },
    CapabilityDef {
        name: "weighing",
        doc: "gravimetric measurement",
        params: &[
            p("capacity", N(D::Mass), "maximum load"),
            p("resolution", N(D::Mass), "readability / resolution"),
        ],
    },
    CapabilityDef {
        name: "filling",
        doc: "final formulation and filling into infusion bags",
        params: &[VOLUME, CLOSED],
    },
    CapabilityDef {
        name: "tube_sealing",
        doc: "sterile tube sealing or welding",
        params: &[CLOSED],
    },
    CapabilityDef {
        name: "sterile_connection",
        doc: "sterile connection of a closed container (cassette, bag) to a station",
        params: &[CLOSED],
    },
    CapabilityDef {
        name: "transport",
        doc: "moving a closed container between stations (robot, operator cart)",
        params: &[p("payload", N(D::Mass), "maximum payload")],
    },
    CapabilityDef {
        name: "flow_cytometry",
        doc: "immunophenotyping, transduction efficiency",
        params: &[p(
            "colours",
            N(D::Dimensionless),
            "number of fluorescence colours",
        )],
    },
    CapabilityDef {
        name: "sterility_testing",
        doc: "microbial sterility release test",
        params: &[
            p("method", Text, "compendial or rapid method"),
            p("time_to_result", N(D::Time), "time to a result"),
        ],
    },
    CapabilityDef {
        name: "cleanroom",
        doc: "a cleanroom area or isolator where open steps may run",
        params: &[
            p("grade", Text, "EU GMP grade: A, B, C or D"),
            p(
                "workstations",
                N(D::Dimensionless),
                "number of parallel workstations",
            ),
        ],
    },
    CapabilityDef {
        name: "cold_storage",
        doc: "storage of intermediates or final product",
        params: &[
            TEMPERATURE,
            p("positions", N(D::Dimensionless), "storage positions"),
        ],
    },
];

/// Look up a capability by name.
pub fn capability(name: &str) -> Option<&'static CapabilityDef> {
    CAPABILITIES.iter().find(|c| c.name == name)
}

/// Every capability name, for "did you mean" style messages.
pub fn names() -> Vec<&'static str> {
    CAPABILITIES.iter().map(|c| c.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_params_are_unique() {
        let mut n = names();
        n.sort_unstable();
        let len = n.len();
        n.dedup();
        assert_eq!(n.len(), len);
        for c in CAPABILITIES {
            let mut p: Vec<_> = c.params.iter().map(|p| p.name).collect();
            p.sort_unstable();
            let l = p.len();
            p.dedup();
            assert_eq!(p.len(), l, "{}", c.name);
        }
        assert!(
            capability("centrifugation")
                .and_then(|c| c.param("rcf"))
                .is_some()
        );
        assert!(capability("teleportation").is_none());
    }
}
