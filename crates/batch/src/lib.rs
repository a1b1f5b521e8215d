//! `batch`: running and releasing one batch — the lifecycle state machine, the
//! hash-chained electronic batch record with corrections, deviations and their
//! assessment, e-signatures bound to what is signed, the chain of identity
//! (ISBT 128 DINs, hand-off scans), step-entry checks against the bound control
//! recipe and the device adapter trait with a seeded simulated device.
//!
//! Pure: no files, databases, sockets or clocks. The server time of every action
//! is passed in; the caller stores the entries the engine returns.

pub mod device;
pub mod din;
pub mod engine;
pub mod entry;
pub mod rehearsal;
pub mod roles;
pub mod twin;

pub use device::{DeviceAdapter, DeviceReport, SimulatedDevice};
pub use din::{Din, DinError, mod37_2_check};
pub use engine::{
    Applied, Batch, Command, Ctx, LotRegister, NewOrder, Refusal, Refused, Request, Stage,
};
pub use entry::{Body, ChainError, Entry, verify_chain};
pub use rehearsal::Journaled;
pub use roles::{Actor, Meaning, Person, Role};
