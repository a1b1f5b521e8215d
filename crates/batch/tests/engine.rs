//! The batch engine on the generic CAR-T process (examples/recipes/car-t-modular.toml)
//! bound to the example modular plant.

mod support;

use std::collections::BTreeMap;

use batch::engine::{Corrected, KnownLot, LotStatus, recipe_sha256};
use batch::entry::{
    Body, Classification, DeviationKind, DispositionDecision, HandOff, Label, Source,
};
use batch::rehearsal::Cast;
use batch::{
    Actor, Batch, ChainError, Command, Ctx, Entry, LotRegister, Meaning, NewOrder, Refusal,
    Refused, Request, Role, Stage, verify_chain,
};
use recipe::equipment::Inventory;
use recipe::recipe::Recipe;
use recipe::{Date, DateTime};
use support::{options, rehearse_example};
use testkit::{RECIPE, fixtures, t};

const DIN: &str = "A999925123456";
const COI: &str = "COI-2026-0042";

fn order() -> NewOrder {
    NewOrder {
        batch: "B-0042".into(),
        patient: "PSN-7f3a".into(),
        coi: COI.into(),
        din: format!("{DIN}9"),
        planned_start: t("2026-12-01T08:00:00Z"),
        ship_step: None,
    }
}

/// Rehearse a whole batch; returns the final state, the stored entries and the state at
/// the moment the batch first awaited disposition.
fn rehearsed(seed: u64, excursions: f64) -> (Batch, Vec<Entry>, Option<Batch>) {
    let mut stored = Vec::new();
    let mut awaiting = None;
    let mut opts = options(seed);
    opts.excursions = excursions;
    let b = rehearse_example(
        &order(),
        &opts,
        &mut BTreeMap::new(),
        |j: batch::rehearsal::Journaled<'_>| {
            stored.extend_from_slice(j.entries);
            if awaiting.is_none() && j.batch.stage() == Stage::AwaitingDisposition {
                awaiting = Some(j.batch.clone());
            }
            Ok(())
        },
    )
    .expect("rehearsal");
    (b, stored, awaiting)
}

/// A hand-driven batch.
struct Fx {
    recipe: Recipe,
    inventory: Inventory,
    lots: LotRegister,
    batch: Batch,
    now: DateTime,
    cast: Cast,
}

fn label() -> Label {
    Label {
        coi: COI.into(),
        din: DIN.into(),
    }
}

impl Fx {
    fn new() -> Fx {
        let (recipe, inventory, binding) = fixtures();
        let lots = LotRegister::default();
        let now = t("2026-12-01T08:00:00Z");
        let cast = Cast::example();
        let ctx = Ctx {
            recipe: &recipe,
            inventory: &inventory,
            lots: &lots,
            now,
        };
        let (batch, _) = Batch::open(
            &order(),
            &recipe_sha256(RECIPE),
            &binding,
            &cast.planner,
            &ctx,
        )
        .expect("open");
        Fx {
            recipe,
            inventory,
            lots,
            batch,
            now,
            cast,
        }
    }

    fn at(&mut self, s: &str) -> &mut Fx {
        self.now = t(s);
        self
    }

    fn try_send(&mut self, actor: &Actor, cmd: Command) -> Result<Vec<Entry>, Refused> {
        self.try_req(actor, Request::new(cmd))
    }

    fn try_req(&mut self, actor: &Actor, req: Request) -> Result<Vec<Entry>, Refused> {
        let ctx = Ctx {
            recipe: &self.recipe,
            inventory: &self.inventory,
            lots: &self.lots,
            now: self.now,
        };
        match self.batch.execute(&req, actor, &ctx) {
            Ok(a) => {
                self.batch = a.batch;
                Ok(a.entries)
            }
            Err(r) => {
                if let Some(b) = &r.batch {
                    self.batch = (**b).clone();
                }
                Err(r)
            }
        }
    }

    fn send(&mut self, actor: &Actor, cmd: Command) -> Vec<Entry> {
        let name = cmd.name();
        self.try_send(actor, cmd)
            .unwrap_or_else(|r| panic!("{name} refused: {}", r.error))
    }

    fn op(&self) -> Actor {
        self.cast.operator.clone()
    }

    /// Sends `cmd` as the operator.
    fn try_op(&mut self, cmd: Command) -> Result<Vec<Entry>, Refused> {
        let op = self.op();
        self.try_send(&op, cmd)
    }

    /// Sends `cmd` as the operator; panics when it is refused.
    fn send_op(&mut self, cmd: Command) -> Vec<Entry> {
        let op = self.op();
        self.send(&op, cmd)
    }

    fn receive(&mut self) {
        self.send_op(receipt(label()));
    }

    fn start(&mut self, step: &str) {
        self.send_op(start_step(step, "room_c1"));
    }

    fn value(
        &mut self,
        step: &str,
        field: &str,
        value: f64,
        unit: &str,
    ) -> Result<Vec<Entry>, Refused> {
        self.try_op(Command::RecordValue {
            step: step.into(),
            field: field.into(),
            value,
            unit: unit.into(),
            source: Source::Manual,
        })
    }

    /// `value`, which the engine must refuse.
    fn refused_value(&mut self, step: &str, field: &str, value: f64, unit: &str) -> Refused {
        self.value(step, field, value, unit)
            .expect_err("the value must be refused")
    }

    fn equipment(
        &mut self,
        step: &str,
        requirement: &str,
        equipment: &str,
    ) -> Result<Vec<Entry>, Refused> {
        self.try_op(Command::UseEquipment {
            step: step.into(),
            requirement: requirement.into(),
            equipment: equipment.into(),
        })
    }

    fn complete(&mut self, step: &str) -> Vec<Entry> {
        self.send_op(Command::CompleteStep {
            step: step.into(),
            measures: BTreeMap::new(),
            failed: None,
        })
    }

    /// The device the example plant binds to the thaw step's `thawing` requirement.
    fn thawing_device(&self) -> String {
        self.batch
            .bound("thaw", "thawing")
            .expect("bound")
            .to_string()
    }

    fn deviations(&self) -> Vec<(DeviationKind, String, bool)> {
        self.batch
            .deviations()
            .into_iter()
            .map(|(d, _)| (d.kind, d.field.clone(), d.critical))
            .collect()
    }
}

/// The receipt of the apheresis at goods-in, `scanned` the label read.
fn receipt(scanned: Label) -> Command {
    Command::ReceiveApheresis {
        location: "goods-in".into(),
        scanned,
    }
}

/// The start of `step` at `location`, the batch's label scanned.
fn start_step(step: &str, location: &str) -> Command {
    Command::StartStep {
        step: step.into(),
        location: location.into(),
        scanned: label(),
    }
}

/// The lot of `material` used in `step`, expiring on 2027-06-01.
fn lot(step: &str, material: &str, lot: &str) -> Command {
    Command::RecordLot {
        step: step.into(),
        material: material.into(),
        lot: lot.into(),
        expiry: Some(Date::parse("2027-06-01").expect("d")),
    }
}

/// QA's assessment of deviation `n`.
fn assess(
    n: u32,
    classification: Classification,
    capa: Option<String>,
    rationale: &str,
) -> Command {
    Command::AssessDeviation {
        deviation: n,
        classification,
        capa,
        rationale: rationale.into(),
    }
}

/// The signature that verifies `entry`.
fn verification(entry: &Entry) -> Command {
    Command::Sign {
        target: entry.seq,
        target_hash: entry.hash.clone(),
        meaning: Meaning::Verified,
    }
}

fn blocked(r: &Refused) -> (&str, u32) {
    match &r.error {
        Refusal::Blocked {
            field, deviation, ..
        } => (field.as_str(), *deviation),
        other => panic!("expected a blocked refusal, got {other}"),
    }
}

fn invalid_field(r: &Refused) -> &str {
    match &r.error {
        Refusal::Invalid { field, .. } => field,
        other => panic!("expected an invalid-field refusal, got {other}"),
    }
}

// ---------------------------------------------------------------------------
// Whole batch
// ---------------------------------------------------------------------------

#[test]
fn rehearsal_runs_from_order_to_infusion_with_a_verifying_chain() {
    let (b, stored, awaiting) = rehearsed(7, 0.0);
    assert_eq!(b.stage(), Stage::Infused);
    assert!(awaiting.is_some(), "the batch passed through disposition");
    assert_eq!(stored, record_of(&b));
    let head = verify_chain("B-0042", &stored).expect("chain verifies");
    assert_eq!(head, b.head_hash());
    // Every regular step ran (the optional one only if viability was low).
    let started: Vec<&str> = stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::StepStarted(s) => Some(s.step.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started.first(), Some(&"transport_in"));
    assert_eq!(started.last(), Some(&"transport_out"));
    // Every hand-off was scanned and matched.
    let points: Vec<HandOff> = stored
        .iter()
        .filter_map(|e| match &e.body {
            Body::Custody(c) if c.matched => Some(c.point),
            _ => None,
        })
        .collect();
    for p in [
        HandOff::ApheresisReceipt,
        HandOff::Transfer,
        HandOff::Fill,
        HandOff::Cryo,
        HandOff::Shipping,
        HandOff::ClinicReceipt,
    ] {
        assert!(points.contains(&p), "{p} scanned");
    }
    // The release signature is the QP's and bound to the disposition entry.
    let disp = stored
        .iter()
        .find(|e| matches!(e.body, Body::Disposition(_)))
        .expect("disposition");
    let sig = stored
        .iter()
        .find(|e| matches!(&e.body, Body::Signature(s) if s.meaning == Meaning::Released))
        .expect("release signature");
    let Body::Signature(s) = &sig.body else {
        unreachable!()
    };
    assert_eq!((s.target, &s.target_hash), (disp.seq, &disp.hash));
    assert_eq!(sig.by.role, Role::QualifiedPerson);
    assert_eq!(s.name, "Dr. Quentin Person");
}

#[test]
fn replaying_stored_entries_resumes_the_same_state() {
    let (b, stored, awaiting) = rehearsed(11, 0.2);
    let (recipe, _, _) = fixtures();
    let again = Batch::replay(&stored, &recipe, &recipe_sha256(RECIPE)).expect("replay");
    assert_eq!(again, b);
    // Replaying a prefix resumes mid-batch: the state waiting for disposition.
    let w = awaiting.expect("awaiting");
    let prefix = &stored[..w.entries().len()];
    let mid = Batch::replay(prefix, &recipe, &recipe_sha256(RECIPE)).expect("prefix");
    assert_eq!(mid, w);
    // Another recipe (or another version of the file) is refused.
    let e = Batch::replay(&stored, &recipe, &recipe_sha256("other text")).expect_err("sha");
    assert!(e.to_string().contains("runs recipe car_t_modular"), "{e}");
}

#[test]
fn rehearsals_are_reproducible_from_the_seed() {
    let (_, a, _) = rehearsed(3, 0.1);
    let (_, b, _) = rehearsed(3, 0.1);
    let (_, c, _) = rehearsed(4, 0.1);
    assert_eq!(a, b);
    let values = |v: &[Entry]| -> Vec<f64> {
        v.iter()
            .filter_map(|e| match &e.body {
                Body::Value(x) => Some(x.value),
                _ => None,
            })
            .collect()
    };
    assert_ne!(values(&a), values(&c));
}

#[test]
fn excursions_become_assessed_deviations_and_release_with_deviation() {
    let (b, stored, _) = rehearsed(5, 0.3);
    assert_eq!(b.stage(), Stage::Infused);
    let devs = b.deviations();
    assert!(
        devs.iter()
            .any(|(d, _)| d.kind == DeviationKind::OutOfRange)
    );
    assert!(devs.iter().all(|(_, a)| a.is_some()), "all assessed");
    assert!(stored.iter().any(|e| matches!(
        &e.body,
        Body::Disposition(d) if d.decision == DispositionDecision::ReleaseWithDeviation
    )));
    // The review-by-exception view holds deviations, assessments and signatures only.
    let ex = b.exceptions();
    assert!(ex.len() < stored.len() / 2);
    assert!(ex.iter().all(|e| !matches!(e.body, Body::Value(_))));
}

// ---------------------------------------------------------------------------
// Tampering
// ---------------------------------------------------------------------------

#[test]
fn tampering_with_any_entry_names_that_entry() {
    let (_, stored, _) = rehearsed(7, 0.0);
    let n = stored.len();
    // Change a value in place: the entry's hash no longer matches.
    let i = stored
        .iter()
        .position(|e| matches!(e.body, Body::Value(_)))
        .expect("a value");
    let mut v = stored.clone();
    if let Body::Value(x) = &mut v[i].body {
        x.value += 1.0;
    }
    let e = verify_chain("B-0042", &v).expect_err("altered");
    assert_eq!(e.seq(), Some(stored[i].seq));
    assert!(matches!(e, ChainError::Altered { .. }));
    // Re-hash the changed entry: the next entry's link breaks.
    v[i].hash = v[i].compute_hash();
    let e = verify_chain("B-0042", &v).expect_err("link");
    assert_eq!(
        e,
        ChainError::Link {
            batch: "B-0042".into(),
            seq: stored[i].seq + 1
        }
    );
    // Re-hash everything after it as well: the signature over a later entry no longer
    // matches what was signed.
    for j in i + 1..n {
        v[j].prev = v[j - 1].hash.clone();
        v[j].hash = v[j].compute_hash();
    }
    let e = verify_chain("B-0042", &v).expect_err("signature");
    assert!(matches!(e, ChainError::Signature { .. }), "{e}");
    // Remove an entry; swap two; change who made one; the batch id of one.
    let mut r = stored.clone();
    r.remove(5);
    assert_eq!(verify_chain("B-0042", &r).expect_err("gap").seq(), Some(6));
    let mut s = stored.clone();
    s.swap(3, 4);
    assert_eq!(verify_chain("B-0042", &s).expect_err("swap").seq(), Some(4));
    let mut w = stored.clone();
    w[2].by.user = "someone_else".into();
    assert_eq!(verify_chain("B-0042", &w).expect_err("who").seq(), Some(3));
    let mut f = stored.clone();
    f[7].batch = "B-0043".into();
    assert!(matches!(
        verify_chain("B-0042", &f),
        Err(ChainError::Foreign { seq: 8, .. })
    ));
    assert!(matches!(
        verify_chain("B-0042", &[]),
        Err(ChainError::Empty(_))
    ));
    // Replay refuses a tampered record.
    let (recipe, _, _) = fixtures();
    assert!(Batch::replay(&w, &recipe, &recipe_sha256(RECIPE)).is_err());
}

// ---------------------------------------------------------------------------
// Lifecycle and roles
// ---------------------------------------------------------------------------

#[test]
fn impossible_transitions_and_wrong_roles_are_refused() {
    let mut fx = Fx::new();
    let op = fx.op();
    let e = fx
        .try_send(&op, start_step("transport_in", "room_c1"))
        .expect_err("not received");
    assert!(
        matches!(
            e.error,
            Refusal::State {
                stage: Stage::Ordered,
                ..
            }
        ),
        "{}",
        e.error
    );
    assert!(e.record.is_empty(), "nothing recorded");
    let qa = fx.cast.qa.clone();
    let e = fx.try_send(&qa, receipt(label())).expect_err("role");
    assert_eq!(
        e.error.to_string(),
        "receive apheresis needs one of the roles operator; qa1 has qa"
    );
    fx.receive();
    assert_eq!(fx.batch.stage(), Stage::ApheresisReceived);
    let again = fx.try_send(&op, receipt(label()));
    assert!(matches!(
        again.expect_err("twice").error,
        Refusal::State { .. }
    ));
    // Steps run in recipe order.
    let e = fx
        .try_send(&op, start_step("wash", "room_c1"))
        .expect_err("order");
    assert_eq!(
        e.error.to_string(),
        "step: step `transport_in` is next, not `wash`"
    );
    fx.start("transport_in");
    assert_eq!(fx.batch.stage(), Stage::InProcess);
    let qp = fx.cast.qp.clone();
    let e = fx
        .try_send(
            &qp,
            Command::Dispose {
                decision: DispositionDecision::Release,
                reason: "ok".into(),
            },
        )
        .expect_err("too early");
    assert!(matches!(
        e.error,
        Refusal::State {
            stage: Stage::InProcess,
            ..
        }
    ));
}

#[test]
fn opening_checks_the_order() {
    let (recipe, inventory, binding) = fixtures();
    let lots = LotRegister::default();
    let ctx = Ctx {
        recipe: &recipe,
        inventory: &inventory,
        lots: &lots,
        now: t("2026-12-01T08:00:00Z"),
    };
    let cast = Cast::example();
    let sha = recipe_sha256(RECIPE);
    let mut o = order();
    o.din = format!("{DIN}8");
    let e = Batch::open(&o, &sha, &binding, &cast.planner, &ctx).expect_err("check char");
    assert!(
        e.to_string()
            .starts_with("din: check character `8` is wrong"),
        "{e}"
    );
    let mut o = order();
    o.coi = "COI 42\u{7}".into();
    assert_eq!(
        Batch::open(&o, &sha, &binding, &cast.planner, &ctx)
            .expect_err("coi")
            .to_string(),
        "coi: must not contain control characters"
    );
    let mut o = order();
    o.ship_step = Some("nowhere".into());
    assert_eq!(
        Batch::open(&o, &sha, &binding, &cast.planner, &ctx)
            .expect_err("ship")
            .to_string(),
        "ship_step: recipe has no step `nowhere`"
    );
    assert!(Batch::open(&order(), &sha, &binding, &cast.operator, &ctx).is_err());
    let mut partial = binding.clone();
    partial.assignments[0].equipment = None;
    let e = Batch::open(&order(), &sha, &partial, &cast.planner, &ctx).expect_err("unbound");
    assert!(e.to_string().contains("no qualified equipment fits"), "{e}");
}

// ---------------------------------------------------------------------------
// Chain of identity
// ---------------------------------------------------------------------------

#[test]
fn an_identity_mismatch_blocks_the_hand_off_and_raises_a_critical_deviation() {
    let mut fx = Fx::new();
    let op = fx.op();
    let wrong = Label {
        coi: COI.into(),
        din: "A999925123457".into(),
    };
    let e = fx.try_send(&op, receipt(wrong)).expect_err("mismatch");
    assert_eq!(blocked(&e), ("scanned.din", 1));
    assert_eq!(e.record.len(), 2, "custody scan and deviation are kept");
    assert!(matches!(&e.record[0].body, Body::Custody(c) if !c.matched));
    assert_eq!(fx.batch.stage(), Stage::Ordered);
    assert_eq!(
        fx.deviations(),
        vec![(
            DeviationKind::IdentityMismatch,
            "scanned.din".to_string(),
            true
        )]
    );
    // A label of another patient's chain of identity, and an unreadable DIN.
    let e = fx
        .try_send(
            &op,
            receipt(Label {
                coi: "COI-2026-0043".into(),
                din: DIN.into(),
            }),
        )
        .expect_err("coi");
    assert_eq!(blocked(&e).0, "scanned.coi");
    let e = fx
        .try_send(
            &op,
            receipt(Label {
                coi: COI.into(),
                din: "garbage".into(),
            }),
        )
        .expect_err("din");
    assert!(
        e.error.to_string().contains("found 7 characters"),
        "{}",
        e.error
    );
    fx.receive();
    // The starting material's lot must be this patient's donation.
    fx.start("transport_in");
    let e = fx
        .try_send(
            &op,
            Command::RecordLot {
                step: "transport_in".into(),
                material: "apheresis".into(),
                lot: "A999925000001".into(),
                expiry: Some(Date::parse("2027-01-01").expect("d")),
            },
        )
        .expect_err("other donation");
    assert_eq!(blocked(&e).0, "lot");
    assert!(fx.deviations().iter().filter(|d| d.2).count() == 4);
    // QA cannot classify an identity mismatch as less than critical.
    let qa = fx.cast.qa.clone();
    let e = fx
        .try_send(&qa, assess(1, Classification::Minor, None, "typo"))
        .expect_err("critical");
    assert_eq!(invalid_field(&e), "classification");
    let e = fx
        .try_send(
            &qa,
            assess(
                1,
                Classification::Critical,
                None,
                "label of another donation presented",
            ),
        )
        .expect_err("capa");
    assert_eq!(invalid_field(&e), "capa");
    fx.send(
        &qa,
        assess(
            1,
            Classification::Critical,
            Some("CAPA-17".into()),
            "label of another donation presented",
        ),
    );
    assert!(!fx.batch.unassessed().contains(&1));
}

// ---------------------------------------------------------------------------
// Step entries
// ---------------------------------------------------------------------------

fn at_thaw() -> Fx {
    let mut fx = Fx::new();
    fx.receive();
    fx.start("transport_in");
    let op = fx.op();
    fx.send(&op, lot("transport_in", "apheresis", DIN));
    fx.at("2026-12-02T08:00:00Z").complete("transport_in");
    fx.at("2026-12-02T08:10:00Z").start("thaw");
    fx
}

/// `at_thaw` with a bath temperature of `celsius` recorded; the entries that made.
fn bath_recorded(celsius: f64) -> (Fx, Vec<Entry>) {
    let mut fx = at_thaw();
    let made = fx
        .value("thaw", "bath_temperature", celsius, "°C")
        .expect("value");
    (fx, made)
}

#[test]
fn values_are_checked_against_the_recipe() {
    let mut fx = at_thaw();
    let e = fx.refused_value("thaw", "parameters.speed", 1.0, "rpm");
    assert_eq!(invalid_field(&e), "field");
    assert!(
        e.error.to_string().contains("parameters.bath_temperature"),
        "{}",
        e.error
    );
    let e = fx.refused_value("thaw", "bath_temperature", 37.0, "mL");
    assert_eq!(
        e.error.to_string(),
        "unit: parameters.bath_temperature is a temperature (e.g. °C), not a volume (`mL`)"
    );
    let e = fx.refused_value("thaw", "bath_temperature", 37.0, "kelvinish");
    assert_eq!(invalid_field(&e), "unit");
    let e = fx.refused_value("thaw", "bath_temperature", f64::NAN, "°C");
    assert_eq!(invalid_field(&e), "value");
    let e = fx.refused_value("wash", "rcf", 400.0, "x g");
    assert_eq!(
        e.error.to_string(),
        "step: step `thaw` is running, not `wash`"
    );
    // Out of range: stored, with a deviation.
    let made = fx
        .value("thaw", "bath_temperature", 39.0, "°C")
        .expect("stored");
    assert_eq!(made.len(), 2);
    assert_eq!(
        fx.deviations(),
        vec![(
            DeviationKind::OutOfRange,
            "parameters.bath_temperature".into(),
            false
        )]
    );
    let Body::Deviation(d) = &made[1].body else {
        panic!("deviation expected")
    };
    assert_eq!(
        (d.expected.as_str(), d.actual.as_str()),
        ("36–38 °C (target 37 °C)", "39 °C")
    );
    let e = fx.refused_value("thaw", "bath_temperature", 37.0, "°C");
    assert!(e.error.to_string().contains("correct that entry instead"));
    // A correction keeps the original and re-checks the new value.
    let op = fx.op();
    let original = made[0].seq;
    let e = fx
        .try_send(
            &op,
            Command::Correct {
                corrects: original,
                reason: " ".into(),
                new: Corrected::Value {
                    value: 37.0,
                    unit: "°C".into(),
                },
            },
        )
        .expect_err("reason");
    assert_eq!(invalid_field(&e), "reason");
    let c = fx.send(
        &op,
        Command::Correct {
            corrects: original,
            reason: "transcription error: display showed 37.0".into(),
            new: Corrected::Value {
                value: 37.0,
                unit: "°C".into(),
            },
        },
    );
    assert_eq!(c.len(), 1, "in range: no new deviation");
    assert!(
        matches!(&fx.batch.entries()[original as usize - 1].body, Body::Value(v) if v.value == 39.0)
    );
    let e = fx
        .try_send(
            &op,
            Command::Correct {
                corrects: 1,
                reason: "x".into(),
                new: Corrected::Value {
                    value: 1.0,
                    unit: "°C".into(),
                },
            },
        )
        .expect_err("order entry");
    assert!(
        e.error
            .to_string()
            .contains("only values and lots can be corrected")
    );
    // Environment values go by their full name.
    assert!(fx.value("thaw", "environment.humidity", 45.0, "%").is_ok());
}

#[test]
fn equipment_scans_check_binding_qualification_and_counters() {
    let mut fx = at_thaw();
    let bound = fx.thawing_device();
    let other = if bound == "thaw_1" {
        "thaw_2"
    } else {
        "thaw_1"
    };
    let e = fx.equipment("thaw", "thawing", other).expect_err("wrong");
    assert_eq!(blocked(&e), ("equipment", 1));
    let e = fx
        .equipment("thaw", "centrifugation", &bound)
        .expect_err("req");
    assert_eq!(invalid_field(&e), "requirement");
    // The bound port at its limit: refused with a counter-limit deviation.
    let idx = fx
        .inventory
        .equipment
        .iter()
        .position(|q| q.id == bound)
        .expect("in inventory");
    let saved = fx.inventory.equipment[idx].clone();
    for c in &mut fx.inventory.equipment[idx].counters {
        c.used = c.max - 1;
    }
    let e = fx.equipment("thaw", "thawing", &bound).expect_err("limit");
    assert!(e.error.to_string().contains("needs 3 more"), "{}", e.error);
    // Qualification expired on the day of use.
    fx.inventory.equipment[idx] = saved.clone();
    fx.inventory.equipment[idx]
        .qualification
        .next_requalification = Some(Date::parse("2026-12-02").expect("d"));
    let e = fx
        .equipment("thaw", "thawing", &bound)
        .expect_err("expired");
    assert!(
        e.error.to_string().contains("qualification expired"),
        "{}",
        e.error
    );
    assert_eq!(
        fx.deviations().iter().map(|d| d.0).collect::<Vec<_>>(),
        vec![
            DeviationKind::WrongEquipment,
            DeviationKind::CounterLimit,
            DeviationKind::Unqualified
        ]
    );
    // Qualified and with uses left: the counter increments by the recipe's uses.
    fx.inventory.equipment[idx] = saved.clone();
    let made = fx.equipment("thaw", "thawing", &bound).expect("ok");
    let Body::EquipmentUsed(u) = &made[0].body else {
        panic!("equipment entry")
    };
    let before = saved
        .counter("sterile_connector_port")
        .expect("counter")
        .used;
    assert_eq!(
        (u.counters[0].before, u.counters[0].after),
        (before, before + 3)
    );
    let e = fx.equipment("thaw", "thawing", &bound).expect_err("twice");
    assert_eq!(invalid_field(&e), "requirement");
    batch::engine::apply_counter_uses(&mut fx.inventory, &made);
    assert_eq!(
        fx.inventory.equipment[idx]
            .counter("sterile_connector_port")
            .expect("c")
            .used,
        before + 3
    );
}

/// A lot of the plant's register.
fn known_lot(material: &str, lot: &str, expiry: &str, status: LotStatus) -> KnownLot {
    KnownLot {
        material: material.into(),
        lot: lot.into(),
        expiry: Date::parse(expiry).expect("d"),
        status,
    }
}

#[test]
fn lots_are_checked_against_the_register() {
    let mut fx = at_thaw();
    fx.lots = LotRegister {
        lots: vec![
            known_lot("cassette", "CAS-1", "2027-03-01", LotStatus::Released),
            known_lot("cassette", "CAS-OLD", "2026-11-30", LotStatus::Released),
            known_lot("cassette", "CAS-Q", "2027-03-01", LotStatus::Quarantine),
            known_lot("wash_buffer", "WB-1", "2027-03-01", LotStatus::Released),
            // the same number for another material does not hide the cassette's lot
            known_lot("wash_buffer", "CAS-1", "2026-12-01", LotStatus::Rejected),
        ],
        kept: true,
    };
    let op = fx.op();
    let lot = |fx: &mut Fx, material: &str, lot: &str| {
        fx.try_send(
            &op,
            Command::RecordLot {
                step: "thaw".into(),
                material: material.into(),
                lot: lot.into(),
                expiry: None,
            },
        )
    };
    assert_eq!(
        invalid_field(&lot(&mut fx, "cassette", "CAS-404").expect_err("unknown")),
        "lot"
    );
    assert_eq!(
        invalid_field(&lot(&mut fx, "cassette", "WB-1").expect_err("material")),
        "lot"
    );
    assert_eq!(
        invalid_field(&lot(&mut fx, "selection_beads", "CAS-1").expect_err("not used")),
        "material"
    );
    let e = lot(&mut fx, "cassette", "CAS-OLD").expect_err("expired");
    assert_eq!(
        e.error.to_string(),
        "lot: lot `CAS-OLD` expired on 2026-11-30 (deviation 1 raised)"
    );
    let e = lot(&mut fx, "cassette", "CAS-Q").expect_err("quarantine");
    assert_eq!(blocked(&e).0, "lot");
    // a register that holds none of the lots a request names (but is kept) knows none
    let saved = std::mem::replace(
        &mut fx.lots,
        LotRegister {
            lots: Vec::new(),
            kept: true,
        },
    );
    let e = lot(&mut fx, "cassette", "CAS-9").expect_err("unknown");
    assert_eq!(invalid_field(&e), "lot");
    assert!(
        e.error
            .to_string()
            .contains("not in the plant's lot register"),
        "{}",
        e.error
    );
    fx.lots = saved;
    let ok = lot(&mut fx, "cassette", "CAS-1").expect("released");
    assert!(
        matches!(&ok[0].body, Body::Lot(l) if l.expiry == Date::parse("2027-03-01").expect("d"))
    );
    // statuses read and write as the register's words
    assert_eq!(
        serde_json::to_string(&LotStatus::Quarantine).expect("json"),
        "\"quarantined\""
    );
    for w in ["\"quarantined\"", "\"quarantine\""] {
        assert_eq!(
            serde_json::from_str::<LotStatus>(w).expect("status"),
            LotStatus::Quarantine
        );
    }
}

#[test]
fn completing_a_step_raises_missing_entries_and_timing_deviations() {
    let mut fx = at_thaw();
    // Completed after 10 minutes without any entry: early, and every entry missing.
    fx.at("2026-12-02T08:20:00Z").complete("thaw");
    let devs = fx.deviations();
    let fields: Vec<&str> = devs.iter().map(|d| d.1.as_str()).collect();
    for f in [
        "parameters.bath_temperature",
        "environment.temperature",
        "materials.apheresis",
        "materials.cassette",
        "equipment.thawing",
        "duration",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    assert!(devs.iter().any(|d| d.0 == DeviationKind::Early));
    // The performed signature is bound to the completion entry.
    let last = fx.batch.entries().last().expect("entry");
    let Body::Signature(s) = &last.body else {
        panic!("signature")
    };
    assert_eq!(s.meaning, Meaning::Performed);
    assert_eq!(
        fx.batch.entries()[s.target as usize - 1].hash,
        s.target_hash
    );
}

#[test]
fn hold_times_and_overruns_are_watched_once() {
    let mut fx = at_thaw();
    fx.at("2026-12-02T08:45:00Z").complete("thaw");
    let n = fx.deviations().len();
    // Thaw allows 2 h of hold before the wash starts; the engine's watch finds the breach.
    let engine = Actor::engine();
    fx.at("2026-12-02T10:00:00Z").send(&engine, Command::Watch);
    assert_eq!(fx.deviations().len(), n, "within the hold");
    fx.at("2026-12-02T11:00:00Z").send(&engine, Command::Watch);
    assert_eq!(fx.deviations().len(), n + 1);
    assert_eq!(
        fx.deviations()[n],
        (DeviationKind::Late, "hold".into(), false)
    );
    fx.at("2026-12-02T11:30:00Z").send(&engine, Command::Watch);
    fx.start("wash");
    assert_eq!(fx.deviations().len(), n + 1, "raised once per gap");
    // The wash may take 90 minutes at most.
    fx.at("2026-12-02T13:30:00Z").send(&engine, Command::Watch);
    assert_eq!(fx.deviations()[n + 1].0, DeviationKind::Late);
    assert_eq!(fx.deviations()[n + 1].1, "duration");
    fx.at("2026-12-02T14:00:00Z").send(&engine, Command::Watch);
    fx.complete("wash");
    let late = fx.deviations().iter().filter(|d| d.1 == "duration").count();
    assert_eq!(late, 1, "the overrun is not raised again at completion");
    // Only the engine runs the watch.
    let op = fx.op();
    assert!(matches!(
        fx.try_send(&op, Command::Watch).expect_err("role").error,
        Refusal::Role { .. }
    ));
}

#[test]
fn in_process_decisions_insert_and_failures_terminate() {
    let (recipe, _, _) = fixtures();
    let mut fx = at_thaw();
    let op = fx.op();
    // Walk to the expansion step (entries skipped: deviations do not matter here).
    let mut when = t("2026-12-02T09:00:00Z");
    fx.now = when;
    fx.complete("thaw");
    for s in [
        "wash",
        "selection",
        "activation",
        "transduction",
        "expansion",
    ] {
        when = DateTime::from_unix_seconds(when.unix_seconds() + 3600);
        fx.now = when;
        fx.start(s);
        if s == "expansion" {
            break;
        }
        fx.complete(s);
    }
    let e = fx
        .try_send(
            &op,
            Command::CompleteStep {
                step: "expansion".into(),
                measures: BTreeMap::new(),
                failed: None,
            },
        )
        .expect_err("viability needed");
    assert_eq!(invalid_field(&e), "measures.viability");
    let e = fx
        .try_send(
            &op,
            Command::CompleteStep {
                step: "expansion".into(),
                measures: BTreeMap::from([("ph".to_string(), 7.0)]),
                failed: None,
            },
        )
        .expect_err("unknown measure");
    assert_eq!(invalid_field(&e), "measures.ph");
    let mut failing = Fx {
        recipe: recipe.clone(),
        inventory: fx.inventory.clone(),
        lots: fx.lots.clone(),
        batch: fx.batch.clone(),
        now: fx.now,
        cast: fx.cast.clone(),
    };
    fx.send(
        &op,
        Command::CompleteStep {
            step: "expansion".into(),
            measures: BTreeMap::from([("viability".to_string(), 0.65)]),
            failed: None,
        },
    );
    assert_eq!(fx.batch.next_step(), Some("dead_cell_removal"));
    // A failed expansion loses the patient's batch (the recipe's consequence).
    failing.send(
        &op,
        Command::CompleteStep {
            step: "expansion".into(),
            measures: BTreeMap::new(),
            failed: Some("contamination alarm".into()),
        },
    );
    assert_eq!(failing.batch.stage(), Stage::Terminated);
    let e = failing.try_send(&op, Command::Watch).map(|v| v.len());
    assert!(e.is_err(), "engine role needed even when closed");
    assert_eq!(
        failing
            .try_send(&Actor::engine(), Command::Watch)
            .expect("closed")
            .len(),
        0
    );
}

// ---------------------------------------------------------------------------
// Disposition and signatures
// ---------------------------------------------------------------------------

fn awaiting(excursions: f64) -> Fx {
    let (_, _, w) = rehearsed(5, excursions);
    let (recipe, inventory, _) = fixtures();
    let b = w.expect("awaiting");
    let now = b.entries().last().expect("e").at;
    Fx {
        recipe,
        inventory,
        lots: LotRegister::default(),
        batch: b,
        now,
        cast: Cast::example(),
    }
}

#[test]
fn disposition_needs_assessments_review_and_four_eyes() {
    let mut fx = awaiting(0.3);
    assert!(!fx.batch.unassessed().is_empty());
    let qp = fx.cast.qp.clone();
    let qa = fx.cast.qa.clone();
    let dispose = |fx: &mut Fx, actor: &Actor, d: DispositionDecision| {
        fx.try_send(
            actor,
            Command::Dispose {
                decision: d,
                reason: "reviewed".into(),
            },
        )
    };
    let e = dispose(&mut fx, &qp, DispositionDecision::ReleaseWithDeviation).expect_err("open");
    assert!(
        e.error
            .to_string()
            .contains("QA has not assessed deviation(s) 1"),
        "{}",
        e.error
    );
    for n in fx.batch.unassessed() {
        fx.send(
            &qa,
            assess(
                n,
                Classification::Major,
                Some(format!("CAPA-{n}")),
                "within validated process capability",
            ),
        );
    }
    let e = dispose(&mut fx, &qp, DispositionDecision::ReleaseWithDeviation).expect_err("review");
    assert!(
        e.error.to_string().contains("review signature"),
        "{}",
        e.error
    );
    // A signature over a hash the signer did not see is refused.
    let head = fx.batch.head_seq();
    let e = fx
        .try_send(
            &qa,
            Command::Sign {
                target: head,
                target_hash: "00".repeat(32),
                meaning: Meaning::Reviewed,
            },
        )
        .expect_err("hash");
    assert_eq!(invalid_field(&e), "target_hash");
    let hash = fx.batch.head_hash().to_string();
    fx.send(
        &qa,
        Command::Sign {
            target: head,
            target_hash: hash,
            meaning: Meaning::Reviewed,
        },
    );
    let e = dispose(&mut fx, &qp, DispositionDecision::Release).expect_err("deviations");
    assert!(
        e.error
            .to_string()
            .contains("release with deviation or reject")
    );
    // A QP who also worked on the batch may not release it.
    let mut both = fx.cast.operator.clone();
    both.roles.push(Role::QualifiedPerson);
    let e = dispose(&mut fx, &both, DispositionDecision::ReleaseWithDeviation).expect_err("4 eyes");
    assert_eq!(e.error, Refusal::FourEyes("operator1".into()));
    // The release signature cannot be given outside a disposition.
    let e = fx
        .try_send(
            &qp,
            Command::Sign {
                target: head,
                target_hash: fx.batch.head_hash().to_string(),
                meaning: Meaning::Released,
            },
        )
        .expect_err("released");
    assert_eq!(invalid_field(&e), "meaning");
    // Shipping before release is refused.
    let op = fx.op();
    let e = fx
        .try_send(&op, start_step("transport_out", "dispatch"))
        .expect_err("not released");
    assert!(matches!(
        e.error,
        Refusal::State {
            stage: Stage::AwaitingDisposition,
            ..
        }
    ));
    dispose(&mut fx, &qp, DispositionDecision::ReleaseWithDeviation).expect("released");
    assert_eq!(fx.batch.stage(), Stage::ReleasedWithDeviation);
    // Nothing may be corrected or assessed after disposition.
    let e = fx
        .try_send(&qa, assess(1, Classification::Minor, None, "late change"))
        .expect_err("closed");
    assert!(matches!(e.error, Refusal::State { .. }));
}

#[test]
fn verification_needs_a_second_person() {
    let (mut fx, made) = bath_recorded(37.0);
    let op = fx.op();
    let e = fx
        .try_send(&op, verification(&made[0]))
        .expect_err("own entry");
    assert!(
        e.error
            .to_string()
            .contains("a second person must verify it")
    );
    let mut second = op.clone();
    second.user = "operator2".into();
    second.name = "Olga Second".into();
    let s = fx.send(&second, verification(&made[0]));
    assert!(matches!(&s[0].body, Body::Signature(x) if x.name == "Olga Second"));
    let e = fx
        .try_send(&second, verification(&made[0]))
        .expect_err("twice");
    assert!(e.error.to_string().contains("already signed"));
}

// ---------------------------------------------------------------------------
// Concurrency and idempotency
// ---------------------------------------------------------------------------

#[test]
fn idempotency_keys_and_stale_views() {
    let mut fx = at_thaw();
    let op = fx.op();
    let cmd = Command::RecordValue {
        step: "thaw".into(),
        field: "bath_temperature".into(),
        value: 37.2,
        unit: "°C".into(),
        source: Source::Manual,
    };
    let req = Request {
        command: cmd.clone(),
        key: Some("tablet-7:0001".into()),
        expected_seq: Some(fx.batch.head_seq()),
    };
    let first = fx.try_req(&op, req.clone()).expect("first");
    let head = fx.batch.head_seq();
    // The same request again (a retry after a lost response): nothing new, same entries.
    let again = fx.try_req(&op, req.clone()).expect("retry");
    assert_eq!(again, first);
    assert_eq!(fx.batch.head_seq(), head);
    // The key with other content is refused.
    let mut other = req.clone();
    other.command = Command::RecordValue {
        step: "thaw".into(),
        field: "bath_temperature".into(),
        value: 37.3,
        unit: "°C".into(),
        source: Source::Manual,
    };
    let e = fx.try_req(&op, other).expect_err("reused");
    assert_eq!(e.error, Refusal::KeyReused("tablet-7:0001".into()));
    // A request made on an old view is refused, not applied.
    let stale = Request {
        command: Command::RecordValue {
            step: "thaw".into(),
            field: "environment.humidity".into(),
            value: 40.0,
            unit: "%".into(),
            source: Source::Manual,
        },
        key: None,
        expected_seq: Some(head - 1),
    };
    let e = fx.try_req(&op, stale).expect_err("stale");
    assert_eq!(
        e.error,
        Refusal::Stale {
            expected: head - 1,
            head
        }
    );
    // The key survives a restart (replay).
    let (recipe, _, _) = fixtures();
    fx.batch =
        Batch::replay(&record_of(&fx.batch), &recipe, &recipe_sha256(RECIPE)).expect("replay");
    assert_eq!(fx.try_req(&op, req).expect("after restart"), first);
}

#[test]
fn device_values_must_come_from_a_scanned_device() {
    let mut fx = at_thaw();
    let op = fx.op();
    let bound = fx.thawing_device();
    let send = |fx: &mut Fx, device: &str| {
        fx.try_send(
            &op,
            Command::RecordValue {
                step: "thaw".into(),
                field: "bath_temperature".into(),
                value: 37.0,
                unit: "°C".into(),
                source: Source::device(device),
            },
        )
    };
    assert_eq!(
        invalid_field(&send(&mut fx, &bound).expect_err("not scanned")),
        "source.device"
    );
    fx.equipment("thaw", "thawing", &bound).expect("scan");
    assert!(send(&mut fx, &bound).is_ok());
}

#[test]
fn commands_parse_from_json_with_named_errors() {
    let c: Request = serde_json::from_str(
        r#"{"command":{"action":"record_value","step":"thaw","field":"bath_temperature","value":37,"unit":"°C"},"key":"k1"}"#,
    )
    .expect("parses");
    assert!(matches!(
        c.command,
        Command::RecordValue {
            source: Source::Manual,
            ..
        }
    ));
    let e =
        serde_json::from_str::<Request>(r#"{"command":{"action":"record_value","step":"thaw"}}"#)
            .expect_err("missing");
    assert!(e.to_string().contains("missing field `field`"), "{e}");
    let e =
        serde_json::from_str::<Request>(r#"{"command":{"action":"launch"}}"#).expect_err("unknown");
    assert!(e.to_string().contains("unknown variant `launch`"), "{e}");
    // Entries round-trip through JSON with their hash intact.
    let (_, stored, _) = rehearsed(7, 0.0);
    let json = serde_json::to_string(&stored).expect("json");
    let back: Vec<Entry> = serde_json::from_str(&json).expect("back");
    assert_eq!(
        verify_chain("B-0042", &back),
        verify_chain("B-0042", &stored)
    );
}

// ---------------------------------------------------------------------------
// The batch twin
// ---------------------------------------------------------------------------

#[test]
fn the_batch_record_submodel_follows_the_record_and_validates() {
    let (b, stored, awaiting) = rehearsed(5, 0.3);
    let rec = batch::twin::batch_record(&b);
    assert_eq!(rec.batch.din.as_deref(), Some(DIN));
    assert_eq!(rec.batch.chain_of_identity.as_deref(), Some(COI));
    assert_eq!(rec.batch.status, "infused");
    let completed = stored
        .iter()
        .filter(|e| matches!(e.body, Body::StepCompleted(_)))
        .count();
    assert_eq!(rec.steps.len(), completed);
    assert_eq!(rec.deviations.len(), b.deviations().len());
    assert!(
        rec.deviations
            .iter()
            .all(|d| d.classification != "unassessed")
    );
    let twin = aas::twins::batch_twin(&rec);
    let env = aas::twins::environment(std::slice::from_ref(&twin));
    assert_eq!(aas::validate::environment(&env), vec![]);
    // Mid-batch (awaiting disposition) the twin shows the record so far, unassessed.
    let mid = batch::twin::batch_record(&awaiting.expect("awaiting"));
    assert_eq!(mid.batch.status, "awaiting_disposition");
    assert!(
        mid.deviations
            .iter()
            .any(|d| d.classification == "unassessed")
    );
    let env = aas::twins::environment(&[aas::twins::batch_twin(&mid)]);
    assert_eq!(aas::validate::environment(&env), vec![]);
}

#[test]
fn corrected_values_reach_the_twin_and_the_original_stays_in_the_record() {
    let (mut fx, made) = bath_recorded(39.0);
    let op = fx.op();
    fx.send(
        &op,
        Command::Correct {
            corrects: made[0].seq,
            reason: "wrong field read".into(),
            new: Corrected::Value {
                value: 37.1,
                unit: "°C".into(),
            },
        },
    );
    let rec = batch::twin::batch_record(&fx.batch);
    let thaw = rec.steps.iter().find(|s| s.id == "thaw").expect("thaw");
    assert_eq!(thaw.parameters["parameters_bath_temperature"].value, 37.1);
    assert_eq!(thaw.outcome, "running");
    assert!(
        fx.batch
            .entries()
            .iter()
            .any(|e| matches!(&e.body, Body::Value(v) if v.value == 39.0))
    );
}

#[test]
fn an_operator_reports_a_deviation_that_qa_assesses() {
    let mut fx = at_thaw();
    let op = fx.op();
    let qa = fx.cast.qa.clone();
    let report = |step: Option<&str>, observation: &str| Command::ReportDeviation {
        step: step.map(str::to_string),
        observation: observation.into(),
    };
    let before = fx.batch.entries().len();
    // only the people who run steps report; the text and the step are checked
    let e = fx
        .try_send(&qa, report(Some("thaw"), "bag torn at the port"))
        .expect_err("role");
    assert!(matches!(e.error, Refusal::Role { .. }), "{}", e.error);
    let e = fx.try_send(&op, report(None, "  ")).expect_err("empty");
    assert_eq!(invalid_field(&e), "observation");
    let e = fx
        .try_send(&op, report(Some("no_such_step"), "spill"))
        .expect_err("step");
    assert_eq!(invalid_field(&e), "step");
    assert_eq!(fx.batch.entries().len(), before, "refusals record nothing");
    // reported: one deviation entry by the operator, of kind `reported`, unassessed
    let made = fx.send(&op, report(Some("thaw"), "bag torn at the port"));
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].by.user, op.user);
    let Body::Deviation(d) = &made[0].body else {
        panic!("not a deviation: {:?}", made[0].body)
    };
    assert_eq!(d.kind, DeviationKind::Reported);
    assert_eq!(d.step.as_deref(), Some("thaw"));
    assert_eq!(d.actual, "bag torn at the port");
    assert!(!d.critical);
    assert_eq!(fx.batch.unassessed(), vec![d.number]);
    // the record is append-only: the earlier entries are unchanged and the chain verifies
    assert_eq!(fx.batch.entries().len(), before + 1);
    assert_eq!(
        fx.batch.entries()[before].prev,
        fx.batch.entries()[before - 1].hash
    );
    fx.send(
        &qa,
        assess(
            d.number,
            Classification::Minor,
            None,
            "bag replaced before use",
        ),
    );
    assert!(fx.batch.unassessed().is_empty());
}

// ---------------------------------------------------------------------------
// Monitored series
// ---------------------------------------------------------------------------

/// Samples every 100 ms from `start_ms`.
fn samples(start_ms: i64, values: &[f64]) -> Vec<batch::engine::Sample> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| batch::engine::Sample {
            time_ms: start_ms + 100 * i as i64,
            value: *v,
        })
        .collect()
}

fn series(device: &str, field: &str, s: Vec<batch::engine::Sample>) -> Command {
    Command::RecordSeries {
        step: "thaw".into(),
        field: field.into(),
        unit: "°C".into(),
        device: device.into(),
        address: Some("ns=2;s=Thaw.BathTemperature".into()),
        samples: s,
    }
}

/// 2026-12-02T08:10:00Z in Unix milliseconds.
const THAW_MS: i64 = 1_796_199_000_000;

#[test]
fn a_series_records_blocks_and_raises_one_deviation_per_excursion() {
    let mut fx = at_thaw();
    let op = fx.op();
    let dev = fx.thawing_device();
    // not scanned yet
    let e = fx
        .try_send(
            &op,
            series(&dev, "bath_temperature", samples(THAW_MS, &[37.0])),
        )
        .expect_err("not scanned");
    assert_eq!(invalid_field(&e), "device");
    fx.equipment("thaw", "thawing", &dev).expect("scan");
    // block 1: in range, then an excursion above 38 °C that goes on into block 2
    let made = fx.send(
        &op,
        series(
            &dev,
            "bath_temperature",
            samples(THAW_MS, &[37.0, 37.2, 38.5, 38.9]),
        ),
    );
    assert_eq!(made.len(), 2, "the block and one deviation");
    let Body::Series(b1) = &made[0].body else {
        panic!("expected a series block, got {:?}", made[0].body)
    };
    assert_eq!(
        (b1.block, b1.count, b1.outside, b1.ends_outside),
        (1, 4, 2, true)
    );
    assert_eq!((b1.min, b1.max), (37.0, 38.9));
    assert!((b1.mean - 37.9).abs() < 1e-9, "{}", b1.mean);
    assert_eq!(b1.offsets_ms, vec![0, 100, 200, 300]);
    assert_eq!(b1.first_ms, THAW_MS);
    assert_eq!(b1.last_ms, THAW_MS + 300);
    let Body::Deviation(d) = &made[1].body else {
        panic!("expected a deviation")
    };
    assert_eq!(d.kind, DeviationKind::OutOfRange);
    assert_eq!(d.field, "parameters.bath_temperature");
    assert!(
        d.actual.contains("2026-12-02T08:10:00.200Z") && d.actual.contains("sample 3"),
        "{}",
        d.actual
    );
    // block 2: the excursion continues (no new deviation), returns, then a second one
    let made = fx.send(
        &op,
        series(
            &dev,
            "bath_temperature",
            samples(THAW_MS + 400, &[39.0, 37.5, 37.4, 35.0, 35.5, 37.0]),
        ),
    );
    let devs: Vec<_> = made
        .iter()
        .filter_map(|e| match &e.body {
            Body::Deviation(d) => Some(d.actual.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(devs.len(), 1, "one new excursion (below 36 °C): {devs:?}");
    assert!(devs[0].contains("35 °C"), "{}", devs[0]);
    let Body::Series(b2) = &made[0].body else {
        panic!("expected a series block")
    };
    assert_eq!((b2.block, b2.outside, b2.ends_outside), (2, 3, false));
    assert_eq!(fx.deviations().len(), 2);
    // a series field takes no single value
    let e = fx.refused_value("thaw", "bath_temperature", 37.0, "°C");
    assert!(
        e.error.to_string().contains("is a monitored series"),
        "{}",
        e.error
    );
    // a block older than the last sample is refused, naming the sample
    let e = fx
        .try_send(
            &op,
            series(&dev, "bath_temperature", samples(THAW_MS + 900, &[37.0])),
        )
        .expect_err("out of order");
    assert_eq!(invalid_field(&e), "samples[0].time_ms");
    // the chain verifies and a replay gives the same state
    verify_chain(fx.batch.id(), &record_of(&fx.batch)).expect("chain");
    let replayed =
        Batch::replay(&record_of(&fx.batch), &fx.recipe, &recipe_sha256(RECIPE)).expect("replay");
    assert_eq!(replayed, fx.batch);
    // the series counts as recorded: completing raises no missing bath temperature
    for (f, v, u) in [
        ("environment.temperature", 20.0, "°C"),
        ("environment.humidity", 45.0, "%"),
        ("environment.pressure_difference", 15.0, "Pa"),
    ] {
        fx.value("thaw", f, v, u).expect("value");
    }
    let op = fx.op();
    fx.send(&op, lot("thaw", "cassette", "CAS-1"));
    fx.send(&op, lot("thaw", "apheresis", DIN));
    fx.at("2026-12-02T08:40:00Z").complete("thaw");
    assert!(
        !fx.deviations()
            .iter()
            .any(|(k, f, _)| *k == DeviationKind::Missing && f == "parameters.bath_temperature"),
        "{:?}",
        fx.deviations()
    );
}

#[test]
fn a_single_value_field_takes_no_series_and_bad_blocks_are_refused_by_field() {
    let mut fx = at_thaw();
    let op = fx.op();
    let dev = fx.thawing_device();
    fx.equipment("thaw", "thawing", &dev).expect("scan");
    let head = fx.batch.head_seq();
    let cases: Vec<(Vec<batch::engine::Sample>, &str, &str)> = vec![
        (Vec::new(), "°C", "samples"),
        (
            samples(THAW_MS, &[37.0, f64::INFINITY]),
            "°C",
            "samples[1].value",
        ),
        (samples(THAW_MS, &[37.0]), "mL", "unit"),
        (
            vec![
                batch::engine::Sample {
                    time_ms: THAW_MS,
                    value: 37.0,
                },
                batch::engine::Sample {
                    time_ms: THAW_MS,
                    value: 37.1,
                },
            ],
            "°C",
            "samples[1].time_ms",
        ),
        (samples(-5, &[37.0]), "°C", "samples[0].time_ms"),
        (samples(THAW_MS, &vec![37.0; 6001]), "°C", "samples"),
    ];
    for (s, unit, field) in cases {
        let mut cmd = series(&dev, "bath_temperature", s);
        if let Command::RecordSeries { unit: u, .. } = &mut cmd {
            *u = unit.into();
        }
        let e = fx.try_send(&op, cmd).expect_err(field);
        assert_eq!(invalid_field(&e), field, "{}", e.error);
    }
    assert_eq!(
        fx.batch.head_seq(),
        head,
        "nothing was recorded by a refused block"
    );
    fx.value("thaw", "bath_temperature", 37.0, "°C")
        .expect("single value");
    let e = fx
        .try_send(
            &op,
            series(&dev, "bath_temperature", samples(THAW_MS, &[37.0])),
        )
        .expect_err("single value first");
    assert!(
        e.error
            .to_string()
            .contains("recorded as a single value in entry"),
        "{}",
        e.error
    );
}

#[test]
fn records_written_before_series_existed_parse_and_hash_as_written() {
    // An entry without any series field, as stored before the series path existed.
    let (b, stored, _) = rehearsed(3, 0.0);
    let text = serde_json::to_string(&stored).expect("json");
    assert!(!text.contains("\"series\""));
    let back: Vec<Entry> = serde_json::from_str(&text).expect("parse");
    assert_eq!(verify_chain(b.id(), &back).expect("verify"), b.head_hash());
    // The head hash of this rehearsal as main gave it before the series path existed: the
    // entries that existed then serialise (and hash) exactly as they did.
    assert_eq!(b.head_hash(), PINNED_HEAD);
}

const PINNED_HEAD: &str = "714133b1726842b9faa35051a728a0c0c72ba335c56f9e2e56fb848f85ceabad";

/// The record of a batch as a plain vector of its entries.
fn record_of(b: &Batch) -> Vec<Entry> {
    b.entries().iter().cloned().collect()
}
