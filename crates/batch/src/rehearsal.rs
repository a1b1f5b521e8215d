//! A whole batch rehearsed end to end: scripted people, simulated devices and a
//! simulated clock, going through exactly the requests a live batch receives.
//!
//! The script: the planner orders; an operator receives the apheresis, starts each
//! step with a label scan, scans the bound equipment, records lots and (for steps
//! without a device) the values; each device step's simulated device reports its
//! duration, values and decision measures; QC enters the values of QC steps; QA
//! assesses every deviation and signs the review; a qualified person who did no
//! work on the batch disposes; the clinic scans the product on receipt and confirms
//! the infusion. Time advances by the simulated durations and the recipe's transfer
//! times. Every request's entries go to `journal` before the next request, as a
//! server stores them.

use std::collections::{BTreeMap, BTreeSet};

use recipe::bind::Binding;
use recipe::equipment::Inventory;
use recipe::recipe::{MaterialRole, Recipe, Step};
use recipe::{Date, DateTime};

use crate::device::{
    DeviceAdapter, DeviceError, DeviceReport, DeviceRun, Reading, SimulatedDevice,
};
use crate::engine::{
    Batch, Command, Ctx, LotRegister, LotStatus, NewOrder, Refusal, Request, Stage,
    apply_counter_uses,
};
use crate::entry::{
    Classification, DeviationKind, DeviceEventKind, DispositionDecision, Entry, Label, Source,
};
use crate::roles::{Actor, Meaning, Role};

/// The people of a rehearsal.
#[derive(Debug, Clone)]
pub struct Cast {
    /// Orders the batch.
    pub planner: Actor,
    /// Runs the steps.
    pub operator: Actor,
    /// Enters QC results (steps of the `release` unit procedure or QC capabilities).
    pub qc: Actor,
    /// Assesses deviations and reviews.
    pub qa: Actor,
    /// Disposes.
    pub qp: Actor,
    /// Receives and confirms the infusion.
    pub clinic: Actor,
}

impl Cast {
    /// A cast of fictitious people, one per role.
    pub fn example() -> Cast {
        let a = |user: &str, name: &str, role: Role| Actor {
            user: user.into(),
            name: name.into(),
            roles: vec![role],
        };
        Cast {
            planner: a("planner1", "Paula Planner", Role::Planner),
            operator: a("operator1", "Oskar Operator", Role::Operator),
            qc: a("qc1", "Quinn Control", Role::Qc),
            qa: a("qa1", "Quirin Assurance", Role::Qa),
            qp: a("qp1", "Dr. Quentin Person", Role::QualifiedPerson),
            clinic: a("clinic1", "Clara Clinic", Role::Clinic),
        }
    }
}

/// Options of a rehearsal.
#[derive(Debug, Clone)]
pub struct Rehearsal {
    /// Seed of the simulated devices (ChaCha8, one stream per device).
    pub seed: u64,
    /// Start of the batch (the order time).
    pub start: DateTime,
    /// Chance that a simulated value falls outside its range.
    pub excursions: f64,
    /// Where the product is made.
    pub location: String,
    /// The treating clinic.
    pub clinic: String,
}

/// Why a rehearsal stopped.
#[derive(Debug, thiserror::Error)]
pub enum RehearsalError {
    /// The engine refused a scripted request (a defect in the recipe or inventory).
    #[error("{action} at {at}: {error}")]
    Refused {
        /// What was attempted.
        action: String,
        /// Simulated time.
        at: DateTime,
        /// The refusal.
        error: Refusal,
    },
    /// A device failed.
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    /// Decisions kept sending the batch back (a loop in the recipe).
    #[error("batch {batch} did not finish within {runs} step runs (a decision loops)")]
    Loop {
        /// Batch.
        batch: String,
        /// Step runs allowed.
        runs: usize,
    },
    /// The journal failed (e.g. the database).
    #[error("storing entries: {0}")]
    Journal(String),
}

/// What the journal receives for each request: who sent what, the entries to store
/// and the state after them, and the refusal when the request was refused but left
/// entries in the record (the scan and deviation of a blocked hand-off).
#[derive(Debug, Clone, Copy)]
pub struct Journaled<'a> {
    /// Who sent the request.
    pub actor: &'a Actor,
    /// The request (`None` for the order that opens the batch).
    pub request: Option<&'a Request>,
    /// The order (for the request that opens the batch).
    pub order: Option<&'a NewOrder>,
    /// Server time of the request.
    pub at: DateTime,
    /// Entries to store.
    pub entries: &'a [Entry],
    /// The batch after them.
    pub batch: &'a Batch,
    /// Why the request was refused, if it was.
    pub refusal: Option<&'a Refusal>,
}

/// Where a rehearsal hands each request it sends, with its entries and the state after
/// them ([`Journaled`]); an error stops the rehearsal.
trait Journal: FnMut(Journaled<'_>) -> Result<(), String> {}

impl<F: FnMut(Journaled<'_>) -> Result<(), String>> Journal for F {}

/// Where requests are sent to a batch as a server takes them: the plant the batch runs
/// in (recipe, equipment inventory, lot register) at one time. Each request goes with
/// the batch's head as the expected sequence, the entries the engine answers (a refused
/// request's record too) go to a journal before the batch moves on, and the counter uses
/// of what was done are booked in the inventory. A rehearsal sends through one, and so
/// does a virtual plant running many batches.
#[derive(Debug)]
pub struct Desk<'a> {
    /// The recipe the batches run.
    pub recipe: &'a Recipe,
    /// The equipment; gets the counter uses.
    pub inventory: &'a mut Inventory,
    /// Material lots.
    pub lots: &'a LotRegister,
    /// Server time of the requests.
    pub now: DateTime,
}

/// Why a request sent through a [`Desk`] did not go through.
#[derive(Debug)]
pub enum SendError<E> {
    /// The engine refused it. A record it left was journaled, and the batch moved on to it.
    Refused(Refusal),
    /// The journal failed; the batch is as it was.
    Journal(E),
}

impl Desk<'_> {
    /// What the engine checks a request against, now.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            recipe: self.recipe,
            inventory: self.inventory,
            lots: self.lots,
            now: self.now,
        }
    }

    /// `actor` opens a batch for `order`; the opening entry goes to `journal`.
    pub fn open<E>(
        &self,
        order: &NewOrder,
        recipe_sha: &str,
        binding: &Binding,
        actor: &Actor,
        journal: impl FnOnce(Journaled<'_>) -> Result<(), E>,
    ) -> Result<Batch, SendError<E>> {
        let (batch, first) = Batch::open(order, recipe_sha, binding, actor, &self.ctx())
            .map_err(SendError::Refused)?;
        journal(Journaled {
            actor,
            request: None,
            order: Some(order),
            at: self.now,
            entries: std::slice::from_ref(&first),
            batch: &batch,
            refusal: None,
        })
        .map_err(SendError::Journal)?;
        Ok(batch)
    }

    /// Sends `command` to `batch` as `actor`. What the engine answers goes to `journal`
    /// first, a refusal's record too; then the counter uses are booked and `batch` becomes
    /// the state after the request.
    pub fn send<E>(
        &mut self,
        batch: &mut Batch,
        actor: &Actor,
        command: Command,
        journal: impl FnOnce(Journaled<'_>) -> Result<(), E>,
    ) -> Result<(), SendError<E>> {
        let req = Request {
            expected_seq: Some(batch.head_seq()),
            key: None,
            command,
        };
        let outcome = batch.execute(&req, actor, &self.ctx());
        let stored = match &outcome {
            Ok(a) => Some((&a.entries[..], &a.batch, None)),
            Err(r) => r
                .batch
                .as_deref()
                .map(|after| (&r.record[..], after, Some(&r.error))),
        };
        if let Some((entries, after, refusal)) = stored {
            journal(Journaled {
                actor,
                request: Some(&req),
                order: None,
                at: self.now,
                entries,
                batch: after,
                refusal,
            })
            .map_err(SendError::Journal)?;
        }
        match outcome {
            Ok(a) => {
                apply_counter_uses(self.inventory, &a.entries);
                *batch = a.batch;
                Ok(())
            }
            Err(r) => {
                if let Some(after) = r.batch {
                    *batch = *after;
                }
                Err(SendError::Refused(r.error))
            }
        }
    }
}

/// A rehearsal under way: the batch, the desk it is sent to (with the simulated clock)
/// and the journal.
struct Runner<'a, J> {
    desk: Desk<'a>,
    journal: J,
    batch: Batch,
}

impl<J: Journal> Runner<'_, J> {
    fn send(&mut self, actor: &Actor, cmd: Command) -> Result<(), RehearsalError> {
        let action = cmd.name();
        self.desk
            .send(&mut self.batch, actor, cmd, &mut self.journal)
            .map_err(|e| rehearsal_error(e, action, self.desk.now))
    }

    fn advance(&mut self, hours: f64) {
        let secs = (hours * 3600.0).round() as i64;
        self.desk.now =
            DateTime::from_unix_seconds(self.desk.now.unix_seconds().saturating_add(secs.max(0)));
    }
}

/// A request of the rehearsal (`action`, sent at `at`) that did not go through.
fn rehearsal_error(e: SendError<String>, action: &str, at: DateTime) -> RehearsalError {
    match e {
        SendError::Refused(error) => RehearsalError::Refused {
            action: action.to_string(),
            at,
            error,
        },
        SendError::Journal(e) => RehearsalError::Journal(e),
    }
}

fn lot_for(
    lots: &LotRegister,
    material: &str,
    batch_id: &str,
    today: Date,
) -> (String, Option<Date>) {
    let known = lots
        .lots
        .iter()
        .filter(|l| l.material == material && l.status == LotStatus::Released && l.expiry >= today)
        .max_by_key(|l| l.expiry);
    match known {
        Some(l) => (l.lot.clone(), None),
        None if !lots.is_kept() => (format!("{material}-{batch_id}"), Some(today.plus_days(365))),
        None => (format!("no-released-lot-of-{material}"), None),
    }
}

/// The batch a rehearsal makes: its order, and the recipe it runs (with the SHA-256 of the
/// recipe's text, which the order pins) bound to the plant's equipment.
#[derive(Debug, Clone, Copy)]
pub struct Ordered<'a> {
    /// The order.
    pub order: &'a NewOrder,
    /// The recipe.
    pub recipe: &'a Recipe,
    /// SHA-256 of the recipe's text.
    pub recipe_sha: &'a str,
    /// The recipe's equipment requirements bound to the plant's equipment.
    pub binding: &'a Binding,
}

/// Adapters of real (bound) devices by equipment id; equipment without one is simulated.
pub type BoundDevices<'d> = BTreeMap<String, Box<dyn DeviceAdapter + 'd>>;

/// Runs a whole batch. `inventory` gets the counter uses; `journal` receives each request
/// with its entries and the state after them ([`Journaled`]).
///
/// Equipment in `bound` (by equipment id; empty: every device simulated) is driven by its
/// real device adapter: a bound device's readings carry its source timestamps into the
/// record, a bad status code becomes a refused value with a deviation, its connection
/// retries are recorded and a connection lost for good is a deviation (then the step
/// completes as failed: no silent gap). A device that cannot run at all stops the run with
/// [`RehearsalError::Device`] after the step's record says so.
pub fn rehearse<J: FnMut(Journaled<'_>) -> Result<(), String>>(
    ordered: Ordered<'_>,
    inventory: &mut Inventory,
    lots: &LotRegister,
    cast: &Cast,
    options: &Rehearsal,
    bound: &mut BoundDevices<'_>,
    mut journal: J,
) -> Result<Batch, RehearsalError> {
    let Ordered {
        order,
        recipe,
        recipe_sha,
        binding,
    } = ordered;
    // the planner opens the batch at the rehearsal's start
    let desk = Desk {
        recipe,
        inventory,
        lots,
        now: options.start,
    };
    let batch = desk
        .open(order, recipe_sha, binding, &cast.planner, &mut journal)
        .map_err(|e| rehearsal_error(e, "open batch", options.start))?;
    let mut run = Runner {
        desk,
        journal,
        batch,
    };
    let label = run.receive(cast, options)?;
    let mut devs = Devices {
        bound,
        simulated: BTreeMap::new(),
        manual: SimulatedDevice::new("manual", options.seed).with_excursions(options.excursions),
    };
    let script = Script {
        cast,
        options,
        label: &label,
    };
    // Repeats and inserted steps lengthen a run, but never beyond this many step starts.
    let mut budget = 20 * recipe.steps.len() + 20;
    loop {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            return Err(RehearsalError::Loop {
                batch: run.batch.id().to_string(),
                runs: 20 * recipe.steps.len() + 20,
            });
        }
        if run.batch.stage() == Stage::AwaitingDisposition {
            run.dispose(cast)?;
            continue;
        }
        let Some(step_id) = run.batch.next_step().map(str::to_string) else {
            break;
        };
        if run.batch.stage().is_terminal() {
            break;
        }
        let Some(step) = recipe.step(&step_id) else {
            break;
        };
        run.run_step(step, &script, &mut devs)?;
    }
    if run.batch.stage() == Stage::Shipped {
        run.deliver(cast, options, label)?;
    }
    Ok(run.batch)
}

/// Who acts and where in a rehearsal, and the label the product carries.
struct Script<'a> {
    cast: &'a Cast,
    options: &'a Rehearsal,
    label: &'a Label,
}

/// The devices of a rehearsal: real adapters by equipment id, simulated devices made on
/// first use, and the people who measure by hand.
struct Devices<'b, 'd> {
    bound: &'b mut BoundDevices<'d>,
    simulated: BTreeMap<String, SimulatedDevice>,
    manual: SimulatedDevice,
}

impl Devices<'_, '_> {
    /// Whether equipment `id` is a bound device with something to do in step `step`.
    fn drives(&self, id: &str, step: &str) -> bool {
        self.bound.get(id).is_some_and(|d| d.handles(step))
    }
}

/// What the devices of one step reported: the report the step completes with, the device
/// that ran it (`None`: people did), and the bound devices that measured alongside.
struct Measured {
    report: DeviceReport,
    device: Option<String>,
    others: Vec<(String, Result<DeviceReport, DeviceError>)>,
}

impl<J: Journal> Runner<'_, J> {
    /// An operator receives the apheresis half an hour after the order; answers the label
    /// the product carries.
    fn receive(&mut self, cast: &Cast, options: &Rehearsal) -> Result<Label, RehearsalError> {
        let label = Label {
            coi: self.batch.order().coi.clone(),
            din: self.batch.order().din.label(),
        };
        self.advance(0.5);
        self.send(
            &cast.operator,
            Command::ReceiveApheresis {
                location: options.location.clone(),
                scanned: label.clone(),
            },
        )?;
        Ok(label)
    }

    /// One step run: started with a label scan, equipment scanned, lots recorded, the devices
    /// (or people) measure, their values and events are recorded, and the step completes after
    /// its duration; then the transfer time passes.
    fn run_step(
        &mut self,
        step: &Step,
        script: &Script<'_>,
        devs: &mut Devices<'_, '_>,
    ) -> Result<(), RehearsalError> {
        let qc_step = step.unit_procedure == "release";
        let person = if qc_step {
            &script.cast.qc
        } else {
            &script.cast.operator
        };
        let started = self.start_step(person, step, script)?;
        let m = self.measure(person, step, started, devs, script.options)?;
        let lost = m
            .report
            .notes
            .iter()
            .any(|n| n.event == DeviceEventKind::Lost);
        self.record_report(person, &step.id, m.device.as_deref(), &m.report)?;
        self.record_alongside(person, &step.id, &m.others)?;
        let failed = match (&m.report.failed, lost) {
            (Some(f), _) => Some(f.clone()),
            (None, true) => Some("device connection lost during the step".to_string()),
            (None, false) => None,
        };
        let elapsed = started.hours_until(self.desk.now);
        self.advance((m.report.duration_h - elapsed).max(0.0));
        self.send(
            person,
            Command::CompleteStep {
                step: step.id.clone(),
                measures: m.report.measures.clone(),
                failed,
            },
        )?;
        self.advance(step.transfer_h);
        Ok(())
    }

    /// Starts the step with a label scan, scans its bound equipment and records its lots;
    /// answers when the step started.
    fn start_step(
        &mut self,
        person: &Actor,
        step: &Step,
        script: &Script<'_>,
    ) -> Result<DateTime, RehearsalError> {
        let today = self.desk.now.date();
        let commands = step_start(
            &self.batch,
            self.desk.recipe,
            step,
            &script.options.location,
            script.label,
            self.desk.now,
            |material| lot_for(self.desk.lots, material, self.batch.id(), today),
        );
        let started = self.desk.now;
        for cmd in commands {
            self.send(person, cmd)?;
        }
        Ok(started)
    }

    /// Runs the step on its devices: the first scanned requirement's equipment runs the step
    /// (without one, people do), and bound devices of the step's other requirements (e.g. a
    /// cell counter at the bioreactor) measure alongside: their values and events are theirs in
    /// the record.
    #[allow(clippy::too_many_arguments)]
    fn measure(
        &mut self,
        person: &Actor,
        step: &Step,
        started: DateTime,
        devs: &mut Devices<'_, '_>,
        options: &Rehearsal,
    ) -> Result<Measured, RehearsalError> {
        let step_id = &step.id;
        let device_id = step
            .requires
            .first()
            .and_then(|r| self.batch.bound(step_id, &r.name))
            .map(str::to_string);
        let drun = DeviceRun { step, started };
        let alongside: Vec<String> = step
            .requires
            .iter()
            .skip(1)
            .filter_map(|r| self.batch.bound(step_id, &r.name))
            .filter(|id| devs.drives(id, step_id))
            .map(str::to_string)
            .collect();
        let mut others: Vec<(String, Result<DeviceReport, DeviceError>)> = Vec::new();
        for id in alongside {
            if let Some(dev) = devs.bound.get_mut(&id) {
                let r = dev.run(&drun);
                others.push((id, r));
            }
        }
        let measured_alongside: BTreeMap<String, f64> = others
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .flat_map(|r| r.measures.clone())
            .collect();
        let (mut report, device): (DeviceReport, Option<String>) = match &device_id {
            Some(id) if devs.drives(id, step_id) => {
                let r = self.run_bound(person, id, &drun, devs, &measured_alongside)?;
                (r, Some(id.clone()))
            }
            Some(id) => {
                let dev = devs.simulated.entry(id.clone()).or_insert_with(|| {
                    SimulatedDevice::new(id, options.seed).with_excursions(options.excursions)
                });
                (dev.run(&drun)?, Some(dev.id().to_string()))
            }
            None => (devs.manual.run(&drun)?, None),
        };
        if device_id
            .as_ref()
            .is_none_or(|id| !devs.drives(id, step_id))
        {
            // measured alongside a simulated or manual step: the devices' values stand
            report.measures.extend(measured_alongside);
        }
        // A field a device alongside reads is recorded as that device's value, so neither the
        // step's device nor people record it as well (a second value would be refused).
        let read_alongside: BTreeSet<String> = others
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .flat_map(|r| r.readings.iter().map(|x| x.field.clone()))
            .collect();
        report
            .readings
            .retain(|x| !read_alongside.contains(&x.field));
        report.manual.retain(|x| !read_alongside.contains(&x.field));
        Ok(Measured {
            report,
            device,
            others,
        })
    }

    /// Runs the step on bound device `id`; people enter what it does not measure. A device
    /// unreachable from the start is a deviation and a failed step, then the rehearsal stops.
    fn run_bound(
        &mut self,
        person: &Actor,
        id: &str,
        drun: &DeviceRun<'_>,
        devs: &mut Devices<'_, '_>,
        measured_alongside: &BTreeMap<String, f64>,
    ) -> Result<DeviceReport, RehearsalError> {
        let step_id = &drun.step.id;
        let dev = devs
            .bound
            .get_mut(id)
            .ok_or_else(|| crate::device::DeviceError {
                device: id.to_string(),
                message: "not bound".into(),
            })?;
        match dev.run(drun) {
            Ok(mut r) => {
                for (k, v) in measured_alongside {
                    r.measures.entry(k.clone()).or_insert(*v);
                }
                Ok(with_manual_rest(r, devs.manual.run(drun)?))
            }
            Err(e) => {
                // Unreachable from the start: a deviation and a failed step, then stop.
                self.send(
                    person,
                    device_event(step_id, id, DeviceEventKind::Lost, &e.message, None),
                )?;
                self.send(
                    person,
                    Command::CompleteStep {
                        step: step_id.clone(),
                        measures: BTreeMap::new(),
                        failed: Some(format!("device {id}: {}", e.message)),
                    },
                )?;
                Err(e.into())
            }
        }
    }

    /// Records the step's report: the running device's events, its readings, and the values
    /// people entered by hand.
    fn record_report(
        &mut self,
        person: &Actor,
        step_id: &str,
        device: Option<&str>,
        report: &DeviceReport,
    ) -> Result<(), RehearsalError> {
        if let Some(dev) = device {
            for n in &report.notes {
                let cmd = device_event(step_id, dev, n.event, &n.detail, n.source_time);
                self.send(person, cmd)?;
            }
        }
        for r in &report.readings {
            self.send(person, reading_command(step_id, device, r))?;
        }
        for r in &report.manual {
            self.send(person, reading_command(step_id, None, r))?;
        }
        Ok(())
    }

    /// Records what the devices measuring alongside reported: an unreachable one is a
    /// deviation and people measure instead (their entry is in the step's measures, as for a
    /// step without the device); a failed measurement is a deviation without a value.
    fn record_alongside(
        &mut self,
        person: &Actor,
        step_id: &str,
        others: &[(String, Result<DeviceReport, DeviceError>)],
    ) -> Result<(), RehearsalError> {
        for (dev, result) in others {
            let cmds: Vec<Command> = match result {
                Err(e) => vec![device_event(
                    step_id,
                    dev,
                    DeviceEventKind::Lost,
                    &e.message,
                    None,
                )],
                Ok(r) => {
                    let mut cmds: Vec<Command> = r
                        .notes
                        .iter()
                        .map(|n| device_event(step_id, dev, n.event, &n.detail, n.source_time))
                        .collect();
                    if let Some(why) = &r.failed {
                        cmds.push(device_event(
                            step_id,
                            dev,
                            DeviceEventKind::BadValue,
                            why,
                            None,
                        ));
                    }
                    cmds.extend(
                        r.readings
                            .iter()
                            .map(|x| reading_command(step_id, Some(dev), x)),
                    );
                    cmds
                }
            };
            for cmd in cmds {
                self.send(person, cmd)?;
            }
        }
        Ok(())
    }

    /// The clinic scans the shipped product on receipt and confirms the infusion two hours
    /// later.
    fn deliver(
        &mut self,
        cast: &Cast,
        options: &Rehearsal,
        label: Label,
    ) -> Result<(), RehearsalError> {
        self.send(
            &cast.clinic,
            Command::ClinicReceipt {
                location: options.clinic.clone(),
                scanned: label,
            },
        )?;
        self.advance(2.0);
        let infused_at = self.desk.now;
        self.send(
            &cast.clinic,
            Command::ConfirmInfusion {
                clinic: options.clinic.clone(),
                infused_at,
            },
        )
    }

    fn dispose(&mut self, cast: &Cast) -> Result<(), RehearsalError> {
        for (n, classification, capa) in assessments(&self.batch) {
            self.send(
                &cast.qa,
                Command::AssessDeviation {
                    deviation: n,
                    classification,
                    capa,
                    rationale: format!("Assessed in the rehearsal of batch {}", self.batch.id()),
                },
            )?;
        }
        self.advance(0.5);
        self.send(&cast.qa, review_signature(&self.batch))?;
        let reason = "Record reviewed by exception; deviations assessed by QA";
        self.send(&cast.qp, disposition(&self.batch, reason))
    }
}

/// The requests that start a run of `step` on `batch` at `location`, in order: the start
/// with `label` scanned, the equipment the batch's order binds to each of the step's
/// requirements, and the lot of each material the step uses: the donation's DIN for a
/// starting material (usable for a year from `now`), otherwise the lot and expiry `lot_of`
/// gives for the material.
pub fn step_start(
    batch: &Batch,
    recipe: &Recipe,
    step: &Step,
    location: &str,
    label: &Label,
    now: DateTime,
    lot_of: impl Fn(&str) -> (String, Option<Date>),
) -> Vec<Command> {
    let mut out = vec![Command::StartStep {
        step: step.id.clone(),
        location: location.to_string(),
        scanned: label.clone(),
    }];
    out.extend(step.requires.iter().map(|req| {
        Command::UseEquipment {
            step: step.id.clone(),
            requirement: req.name.clone(),
            equipment: batch
                .bound(&step.id, &req.name)
                .unwrap_or_default()
                .to_string(),
        }
    }));
    out.extend(step.materials.iter().map(|m| {
        let starting = recipe
            .materials
            .iter()
            .any(|x| x.id == m.material && x.role == MaterialRole::Starting);
        let (lot, expiry) = if starting {
            (
                batch.order().din.to_string(),
                Some(now.date().plus_days(365)),
            )
        } else {
            lot_of(&m.material)
        };
        Command::RecordLot {
            step: step.id.clone(),
            material: m.material.clone(),
            lot,
            expiry,
        }
    }));
    out
}

/// QA's signature that the record of `batch` up to its last entry was reviewed.
pub fn review_signature(batch: &Batch) -> Command {
    Command::Sign {
        target: batch.head_seq(),
        target_hash: batch.head_hash().to_string(),
        meaning: Meaning::Reviewed,
    }
}

/// The qualified person's release of `batch` for `reason`: with deviation when the record
/// has any.
pub fn disposition(batch: &Batch, reason: &str) -> Command {
    let decision = if batch.deviations().is_empty() {
        DispositionDecision::Release
    } else {
        DispositionDecision::ReleaseWithDeviation
    };
    Command::Dispose {
        decision,
        reason: reason.into(),
    }
}

/// A device event without a value.
fn device_event(
    step: &str,
    device: &str,
    event: DeviceEventKind,
    detail: &str,
    source_time: Option<DateTime>,
) -> Command {
    Command::DeviceEvent {
        step: step.to_string(),
        device: device.to_string(),
        event,
        detail: detail.to_string(),
        field: None,
        value: None,
        source_time,
    }
}

/// The request that records reading `r` of `device` (`None`: entered by people): a value,
/// or a refused value (a device event) when the device's status code is not good.
fn reading_command(step: &str, device: Option<&str>, r: &Reading) -> Command {
    match (device, &r.bad_status) {
        (Some(dev), Some(status)) => Command::DeviceEvent {
            step: step.to_string(),
            device: dev.to_string(),
            event: DeviceEventKind::BadValue,
            detail: status.clone(),
            field: Some(r.field.clone()),
            value: r.value.is_finite().then_some(r.value),
            source_time: r.source_time,
        },
        (Some(dev), None) => Command::RecordValue {
            step: step.to_string(),
            field: r.field.clone(),
            value: r.value,
            unit: r.unit.clone(),
            source: Source::Device {
                device: dev.to_string(),
                source_time: r.source_time,
                address: r.address.clone(),
            },
        },
        (None, _) => Command::RecordValue {
            step: step.to_string(),
            field: r.field.clone(),
            value: r.value,
            unit: r.unit.clone(),
            source: Source::Manual,
        },
    }
}

/// A bound device reports what it measures; the step's other fields (the room's
/// environment, values the device does not have) and decision measures it did not report
/// are entered by people, as with a step without a device.
fn with_manual_rest(mut device: DeviceReport, manual: DeviceReport) -> DeviceReport {
    for r in manual.readings {
        if !device.readings.iter().any(|d| d.field == r.field) {
            device.manual.push(r);
        }
    }
    for (k, v) in manual.measures {
        device.measures.entry(k).or_insert(v);
    }
    device
}

/// How a rehearsal or the virtual plant assesses the deviations still open on
/// `batch` (QA's part, played by the program): critical where the engine
/// marked the deviation critical; major for a value out of range, a failure
/// or a device fault; minor otherwise; a CAPA number (`CAPA-{batch}-{n}`) for
/// every major or critical one. Deviation number, classification, CAPA.
pub fn assessments(batch: &Batch) -> Vec<(u32, Classification, Option<String>)> {
    batch
        .deviations()
        .into_iter()
        .filter(|(_, a)| a.is_none())
        .map(|(d, _)| {
            let classification = if d.critical {
                Classification::Critical
            } else if matches!(
                d.kind,
                DeviationKind::OutOfRange | DeviationKind::Failure | DeviationKind::Device
            ) {
                Classification::Major
            } else {
                Classification::Minor
            };
            let capa = (classification != Classification::Minor)
                .then(|| format!("CAPA-{}-{}", batch.id(), d.number));
            (d.number, classification, capa)
        })
        .collect()
}
