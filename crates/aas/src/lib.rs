//! `aas`: Asset Administration Shell v3.0 for atmpflow — metamodel types and
//! their JSON, validation of the metamodel constraints, the serialisation
//! modifiers of the HTTP API (`$value`, `$metadata`, `$reference`, `$path`), the
//! partial updates of its PATCH operations,
//! registry descriptors, and the twin builders for equipment and batches.
//!
//! Pure: no files, sockets or clocks; never panics on user input.

pub mod descriptor;
pub mod equipment;
pub mod ids;
pub mod model;
pub mod parse;
pub mod patch;
pub mod twins;
pub mod validate;
pub mod views;

pub use model::{
    AssetAdministrationShell, ConceptDescription, Environment, Reference, Submodel, SubmodelElement,
};
pub use parse::ParseError;
