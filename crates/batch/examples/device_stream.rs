//! Load benchmark (issue #16 item 6, not a test): D devices each sending V values per second
//! of device time into the running step of their own batch, through `Batch::execute` as the
//! engine receives them. Prints, per simulated minute, the wall time the engine needed for that
//! minute's values and whether it kept up with real time (wall < 60 s).
//!
//!   cargo run --release -p batch --example device_stream -- [DEVICES] [VALUES_PER_S] [MINUTES]
//!
//! Defaults 50 devices, 10 values/s, 10 simulated minutes. The recipe and inventory are the
//! repository's modular CAR-T examples; each batch runs `transport_in`, then streams
//! `parameters.bath_temperature` of its `thaw` step (ASSUMPTION: a value at the recipe's
//! target, 37 °C) from the thawing device bound to it.

use std::time::Instant;

use batch::engine::{Batch, Command, Ctx, LotRegister, NewOrder, Request};
use batch::entry::{Label, Source};
use batch::rehearsal::Cast;
use batch::roles::Actor;
use recipe::DateTime;

const RECIPE: &str = include_str!("../../../examples/recipes/car-t-modular.toml");
const INVENTORY: &str = include_str!("../../../examples/equipment/modular-plant.toml");

fn send(b: &mut Batch, who: &Actor, cmd: Command, ctx: &Ctx<'_>) {
    let req = Request {
        expected_seq: Some(b.head_seq()),
        key: None,
        command: cmd,
    };
    match b.execute(&req, who, ctx) {
        Ok(a) => *b = a.batch,
        Err(r) => {
            eprintln!("{}: {} refused: {}", b.id(), req.command.name(), r.error);
            std::process::exit(1);
        }
    }
}

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let devices = arg(1, 50) as usize;
    let rate = arg(2, 10);
    let minutes = arg(3, 10);
    let recipe = recipe::parse_recipe("car-t-modular.toml", RECIPE).expect("recipe");
    let inventory = recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("inventory");
    let start = DateTime::parse("2026-12-01T08:00:00Z").expect("date");
    let binding = recipe::bind_strict(&recipe, &inventory, start.date()).expect("binding");
    let lots = LotRegister::default();
    let cast = Cast::example();
    let at = |s: i64| DateTime::from_unix_seconds(start.unix_seconds() + s);
    let ctx_at = |s: i64| Ctx {
        recipe: &recipe,
        inventory: &inventory,
        lots: &lots,
        now: at(s),
    };
    let mut batches = Vec::new();
    let prep = Instant::now();
    for d in 0..devices {
        let order = NewOrder {
            batch: format!("VP-LOAD-{d}"),
            patient: format!("PSN-VP-LOAD-{d}"),
            coi: format!("COI-VP-LOAD-{d}"),
            din: format!("A999926{:06}", d),
            planned_start: start,
            ship_step: None,
        };
        let ctx = ctx_at(0);
        let (mut b, _) = Batch::open(&order, "bench", &binding, &cast.planner, &ctx).expect("open");
        let label = Label {
            coi: b.order().coi.clone(),
            din: b.order().din.label(),
        };
        let op = &cast.operator;
        send(
            &mut b,
            op,
            Command::ReceiveApheresis {
                location: "virtual plant".into(),
                scanned: label.clone(),
            },
            &ctx,
        );
        for step in ["transport_in", "thaw"] {
            let s = recipe.step(step).expect("step");
            send(
                &mut b,
                op,
                Command::StartStep {
                    step: step.into(),
                    location: "virtual plant".into(),
                    scanned: label.clone(),
                },
                &ctx,
            );
            for r in &s.requires {
                let eq = b.bound(step, &r.name).unwrap_or_default().to_string();
                send(
                    &mut b,
                    op,
                    Command::UseEquipment {
                        step: step.into(),
                        requirement: r.name.clone(),
                        equipment: eq,
                    },
                    &ctx,
                );
            }
            for m in &s.materials {
                let lot = if m.material == "apheresis" {
                    b.order().din.to_string()
                } else {
                    format!("{}-{d}", m.material)
                };
                send(
                    &mut b,
                    op,
                    Command::RecordLot {
                        step: step.into(),
                        material: m.material.clone(),
                        lot,
                        expiry: Some(start.date().plus_days(365)),
                    },
                    &ctx,
                );
            }
            if step == "transport_in" {
                send(
                    &mut b,
                    op,
                    Command::CompleteStep {
                        step: step.into(),
                        measures: Default::default(),
                        failed: None,
                    },
                    &ctx,
                );
            }
        }
        let device = recipe
            .step("thaw")
            .and_then(|s| s.requires.first())
            .and_then(|r| b.bound("thaw", &r.name))
            .unwrap_or_default()
            .to_string();
        batches.push((b, device));
    }
    eprintln!(
        "{devices} batches open in the thaw step ({:.2} s)",
        prep.elapsed().as_secs_f64()
    );
    println!("minute,values,entries_per_batch,wall_s,keeps_up");
    let mut behind = 0;
    for minute in 0..minutes {
        let t0 = Instant::now();
        let mut n = 0u64;
        for tick in 0..60 * rate {
            let sec = (minute * 60 + tick / rate) as i64;
            let ctx = ctx_at(sec);
            for (b, device) in &mut batches {
                send(
                    b,
                    &cast.operator,
                    Command::RecordValue {
                        step: "thaw".into(),
                        field: "parameters.bath_temperature".into(),
                        value: 37.0,
                        unit: "°C".into(),
                        source: Source::Device {
                            device: device.clone(),
                        },
                    },
                    &ctx,
                );
                n += 1;
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let ok = wall < 60.0;
        if !ok {
            behind += 1;
        }
        println!(
            "{},{n},{},{wall:.3},{ok}",
            minute + 1,
            batches[0].0.entries().len()
        );
    }
    eprintln!(
        "{devices} devices x {rate} values/s: {behind} of {minutes} simulated minutes fell behind real time"
    );
}
