//! `devices`: the edge between bound devices and the batch core. The device binding file
//! (`binding`), the OPC UA client adapter for LADS-style devices (`opcua`, async-opcua,
//! client only) implementing `batch::DeviceAdapter`. IO lives here; `batch` stays pure.

pub mod binding;
pub mod opcua;

pub use binding::{
    Device, Devices, Protocol, Security, StepProgram, parse_devices, parse_devices_for,
};
pub use opcua::{Description, OpcuaDevice};
