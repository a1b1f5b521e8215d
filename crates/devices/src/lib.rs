//! `devices`: the edge between bound devices and the batch core. The device binding file
//! (`binding`), the OPC UA client adapter for LADS-style devices (`opcua`, async-opcua,
//! client only) and SiLA 2 cell counters (`sila2`, through the `sila` crate), each
//! implementing `batch::DeviceAdapter`. IO lives here; `batch` stays pure.

pub mod binding;
pub mod opcua;
pub mod registration;
pub mod sila2;

pub use binding::{
    Device, Devices, Protocol, Security, StepProgram, parse_devices, parse_devices_for,
};
pub use opcua::{Description, OpcuaDevice};
pub use registration::{check_for_batch, check_registered, device_equipment, update_counters};
pub use sila2::SilaDevice;

use batch::device::{DeviceAdapter, DeviceError};
use batch::rehearsal::BoundDevices;

/// The adapter for a bound device, by its protocol (nothing is connected yet).
pub fn adapter(device: &Device) -> Result<Box<dyn DeviceAdapter + Send>, DeviceError> {
    Ok(match device.protocol {
        Protocol::Opcua => Box::new(OpcuaDevice::new(device)?),
        Protocol::Sila2 => Box::new(SilaDevice::new(device)?),
    })
}

/// What a bound device says about itself (connects to it; OPC UA: browses its LADS
/// structure, SiLA 2: reads its SiLAService information and feature definitions).
pub fn describe(device: &Device) -> Result<Description, DeviceError> {
    match device.protocol {
        Protocol::Opcua => OpcuaDevice::new(device)?.describe(),
        Protocol::Sila2 => SilaDevice::new(device)?.describe(),
    }
}

/// Adapters for every device of a binding file, by equipment id (for
/// `batch::rehearsal::rehearse`).
pub fn bind_all(devices: &Devices) -> Result<BoundDevices<'static>, DeviceError> {
    let mut out = BoundDevices::new();
    for d in &devices.device {
        out.insert(d.equipment.clone(), adapter(d)? as Box<dyn DeviceAdapter>);
    }
    Ok(out)
}
