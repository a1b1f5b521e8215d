//! The requests that bring a batch of the example CAR-T process, its apheresis received,
//! to its thaw step with the thaw module scanned. Shared by the batch tests and the device
//! stream example (examples/device_stream.rs), which stream series into that step.

use batch::Command;
use batch::entry::Label;
use recipe::Date;

/// The commands, in order: `transport_in` started (`label` scanned), its apheresis lot
/// `din` (expiring on 2027-06-01) recorded and the step completed, then `thaw` started and
/// `device` scanned for its `thawing` requirement.
pub fn to_thaw(label: &Label, din: &str, device: &str) -> Vec<Command> {
    vec![
        Command::StartStep {
            step: "transport_in".into(),
            location: "room_c1".into(),
            scanned: label.clone(),
        },
        Command::RecordLot {
            step: "transport_in".into(),
            material: "apheresis".into(),
            lot: din.into(),
            expiry: Date::parse("2027-06-01"),
        },
        Command::CompleteStep {
            step: "transport_in".into(),
            measures: Default::default(),
            failed: None,
        },
        Command::StartStep {
            step: "thaw".into(),
            location: "room_c1".into(),
            scanned: label.clone(),
        },
        Command::UseEquipment {
            step: "thaw".into(),
            requirement: "thawing".into(),
            equipment: device.into(),
        },
    ]
}
