//! SiLA 2 client over gRPC (tonic) and a cell counter device adapter for the batch engine.
//!
//! The protobuf messages are written by hand from SiLA 2 Part B (the gRPC mapping) in
//! `proto/`: the framework messages, the identity part of the SiLAService feature and the
//! mapping of the CellCounter feature (`scripts/devices/sila_cell_counter/CellCounter.sila.xml`).
//! `build.rs` compiles them with protox (no system `protoc`) and tonic generates the clients.
//!
//! - [`client::SilaClient`]: connection (plain or TLS), identity, unobservable and observable
//!   properties, unobservable and observable commands (progress, result), each call under a
//!   time limit ([`client::Endpoint`]).
//! - [`error::SilaError`]: SiLA errors (validation, defined and undefined execution,
//!   framework) decoded from the gRPC status, lost connections, time limits and values
//!   refused by [`check`]; every one names the device and the call.
//! - [`feature::summarize`]: the commands and properties of a feature definition (for the
//!   device's twin; [`client::SilaClient::features`] reads them from the server).
//! - [`counter::SilaCellCounter`]: a [`batch::device::DeviceAdapter`] whose decision measures
//!   come from the device's CountCells command.

pub mod check;
pub mod client;
pub mod counter;
pub mod error;
pub mod feature;

pub use client::{CellCount, Endpoint, Progress, ServerIdentity, SilaClient};
pub use counter::{About, CountOutput, CountRecord, Provenance, SilaCellCounter};
pub use error::SilaError;
pub use feature::FeatureSummary;

/// Generated protobuf messages and gRPC clients, nested by protobuf package
/// (`sila2.org.silastandard`, …).
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/sila_protos.rs"));
}
