//! The batch engine: the lifecycle state machine over a hash-chained record.
//!
//! A [`Batch`] is the state that its entries imply; it is rebuilt by
//! [`Batch::replay`] from stored entries, so a restarted server resumes exactly
//! where the record stops. [`Batch::execute`] checks one [`Request`] against the
//! state, the bound control recipe, the equipment inventory and the lot register
//! and returns the entries to append — or a [`Refused`] that names the field and
//! may carry entries that must still be recorded (a deviation raised by a blocked
//! scan). Nothing here touches a file, a database or a clock: the caller passes
//! the server time in [`Ctx::now`] and persists the returned entries in one
//! transaction before adopting the returned state.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use model::scenario::Consequence;
use recipe::bind::Binding;
use recipe::equipment::{Equipment, Inventory};
use recipe::quantity::{Unit, fmt_num};
use recipe::recipe::{MaterialRole, ParamSpec, Recipe, Requirement, Step};
use recipe::{Date, DateTime};
use serde::{Deserialize, Serialize};

use crate::din::Din;
use crate::entry::{
    Assessment, Body, Bound, ChainError, Classification, CounterUse, Custody, DecisionEntry,
    DeviationEntry, DeviationKind, DeviceEvent, DeviceEventKind, Disposition, DispositionDecision,
    Entry, EquipmentUsed, GENESIS, HandOff, Infusion, Label, LotEntry, Order, RecipeRef,
    SeriesBlock, Signature, Source, StepCompleted, StepStarted, Termination, Value, fmt_ms,
    sha256_hex, verify_chain,
};
use crate::roles::{Actor, Meaning, Person, Role};

/// Longest accepted free text (reasons, rationales, locations), in bytes.
pub const MAX_TEXT: usize = 2000;
/// Longest accepted identifier (batch, lot, coi, key), in bytes.
pub const MAX_ID: usize = 128;

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Ordered; the apheresis has not arrived.
    Ordered,
    /// The apheresis was received and its identity checked.
    ApheresisReceived,
    /// Steps of the control recipe are running.
    InProcess,
    /// Every step before shipping is done; QA review and QP disposition pending.
    AwaitingDisposition,
    /// Released by the QP.
    Released,
    /// Released by the QP with documented deviations.
    ReleasedWithDeviation,
    /// Rejected by the QP (terminal).
    Rejected,
    /// Handed over for shipping.
    Shipped,
    /// Infusion confirmed by the clinic (terminal).
    Infused,
    /// Ended early: lost or to be remanufactured (terminal).
    Terminated,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Ordered => "ordered",
            Stage::ApheresisReceived => "apheresis received",
            Stage::InProcess => "in process",
            Stage::AwaitingDisposition => "awaiting disposition",
            Stage::Released => "released",
            Stage::ReleasedWithDeviation => "released with deviation",
            Stage::Rejected => "rejected",
            Stage::Shipped => "shipped",
            Stage::Infused => "infused",
            Stage::Terminated => "terminated",
        })
    }
}

impl Stage {
    /// Whether nothing more can happen to the batch.
    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Rejected | Stage::Infused | Stage::Terminated)
    }
    fn disposed(self) -> bool {
        !matches!(
            self,
            Stage::Ordered
                | Stage::ApheresisReceived
                | Stage::InProcess
                | Stage::AwaitingDisposition
        )
    }
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/// Release status of a material lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotStatus {
    /// Released by QC for use.
    Released,
    /// Awaiting QC (`quarantined`; `quarantine` is read as well).
    #[serde(rename = "quarantined", alias = "quarantine")]
    Quarantine,
    /// Rejected by QC.
    Rejected,
}

/// A material lot known to the plant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownLot {
    /// Material id (as in the recipe).
    pub material: String,
    /// Lot number.
    pub lot: String,
    /// Expiry date (usable up to and including this day).
    pub expiry: Date,
    /// Release status.
    pub status: LotStatus,
}

impl KnownLot {
    /// Checks the ids of a lot for the register (material and lot number: printable,
    /// at most 128 bytes, letters, digits and - _ . : /), naming the field at fault.
    pub fn check(&self) -> Result<(), Refusal> {
        check_id("material", &self.material)?;
        check_id("lot", &self.lot)
    }
}

/// Checks the reason given for a change of a lot's status (not empty, printable, at most
/// [`MAX_TEXT`] bytes).
pub fn check_reason(reason: &str) -> Result<(), Refusal> {
    check_text("reason", reason, MAX_TEXT, true)
}

/// The plant's material lots. When the plant keeps no register (no lots and `kept`
/// false), every lot is accepted with the expiry the operator enters (a plant without a
/// warehouse system).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotRegister {
    /// Known lots (all of them, or at least every lot a request can name).
    pub lots: Vec<KnownLot>,
    /// The plant keeps a register even if `lots` holds none of it (a caller that passes
    /// only the lots a request names): a lot not in `lots` is then unknown.
    #[serde(default)]
    pub kept: bool,
}

impl LotRegister {
    /// Whether lots are checked against the register.
    pub fn is_kept(&self) -> bool {
        self.kept || !self.lots.is_empty()
    }
}

/// What a command is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The recipe the batch runs (the one its order pins by SHA-256).
    pub recipe: &'a Recipe,
    /// The equipment as it is now (qualification, counters).
    pub inventory: &'a Inventory,
    /// Material lots.
    pub lots: &'a LotRegister,
    /// Server time (UTC).
    pub now: DateTime,
}

/// A new batch order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// Batch id.
    pub batch: String,
    /// Patient pseudonym.
    pub patient: String,
    /// Chain-of-identity id.
    pub coi: String,
    /// DIN of the apheresis (eye-readable; a check character is verified when given).
    pub din: String,
    /// Planned start (from the scheduler).
    pub planned_start: DateTime,
    /// The step that hands the product over for shipping (default: the recipe's last step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_step: Option<String>,
}

/// Replacement content of a correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Corrected {
    /// A corrected value.
    Value {
        /// Value.
        value: f64,
        /// Unit.
        unit: String,
    },
    /// A corrected lot.
    Lot {
        /// Lot number.
        lot: String,
        /// Expiry (required unless the lot register knows the lot).
        #[serde(default)]
        expiry: Option<Date>,
    },
}

/// An action on a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Scan the apheresis label on arrival.
    ReceiveApheresis {
        /// Where.
        location: String,
        /// Label read.
        scanned: Label,
    },
    /// Start the next step, scanning the material's label at the hand-off.
    StartStep {
        /// Step id.
        step: String,
        /// Where.
        location: String,
        /// Label read.
        scanned: Label,
    },
    /// Scan equipment for a requirement of the running step.
    UseEquipment {
        /// Step id.
        step: String,
        /// Requirement name.
        requirement: String,
        /// Equipment id scanned.
        equipment: String,
    },
    /// Record a value of the running step.
    RecordValue {
        /// Step id.
        step: String,
        /// `parameters.NAME`, `environment.NAME` or `NAME` (a parameter).
        field: String,
        /// Value.
        value: f64,
        /// Unit.
        unit: String,
        /// Manual or from a device.
        #[serde(default = "manual")]
        source: Source,
    },
    /// Record a block of samples of a monitored series of the running step, streamed by a
    /// device scanned for it. The field becomes a series for the step with its first block:
    /// it then takes no single value, and a field with a single value takes no series. Each
    /// excursion outside the allowed range raises one deviation, however many samples it lasts
    /// (also across blocks).
    RecordSeries {
        /// Step id.
        step: String,
        /// `parameters.NAME`, `environment.NAME` or `NAME` (a parameter).
        field: String,
        /// Unit of every sample.
        unit: String,
        /// Equipment id of the device.
        device: String,
        /// Where on the device the series is read (e.g. an OPC UA node id).
        #[serde(default)]
        address: Option<String>,
        /// The samples, in source-time order, each later than the previous block's last.
        samples: Vec<Sample>,
    },
    /// Record a material lot of the running step.
    RecordLot {
        /// Step id.
        step: String,
        /// Material id.
        material: String,
        /// Lot number.
        lot: String,
        /// Expiry (required unless the lot register knows the lot).
        #[serde(default)]
        expiry: Option<Date>,
    },
    /// End the running step (signed as performed by the actor).
    CompleteStep {
        /// Step id.
        step: String,
        /// In-process measurements for the step's decisions.
        #[serde(default)]
        measures: BTreeMap<String, f64>,
        /// Why the run failed, if it did.
        #[serde(default)]
        failed: Option<String>,
    },
    /// QA assesses a deviation.
    AssessDeviation {
        /// Deviation number.
        deviation: u32,
        /// Classification.
        classification: Classification,
        /// CAPA reference (required for major and critical).
        #[serde(default)]
        capa: Option<String>,
        /// Rationale.
        rationale: String,
    },
    /// Correct an earlier value or lot.
    Correct {
        /// Entry corrected.
        corrects: u64,
        /// Reason.
        reason: String,
        /// New content.
        new: Corrected,
    },
    /// Sign an entry (performed, verified or reviewed).
    Sign {
        /// Entry signed.
        target: u64,
        /// Its hash as the signer saw it.
        target_hash: String,
        /// Meaning.
        meaning: Meaning,
    },
    /// The qualified person's disposition (signed as released).
    Dispose {
        /// Decision.
        decision: DispositionDecision,
        /// Justification.
        reason: String,
    },
    /// The clinic scans the product on arrival.
    ClinicReceipt {
        /// Clinic / ward.
        location: String,
        /// Label read.
        scanned: Label,
    },
    /// The clinic confirms the infusion.
    ConfirmInfusion {
        /// Clinic.
        clinic: String,
        /// When.
        infused_at: DateTime,
    },
    /// The engine's periodic check of running steps and hold times.
    Watch,
    /// An operator (or QC) reports a deviation the engine cannot see (a spill, a torn
    /// bag, a procedure not followed): recorded as a deviation of kind `reported`, to
    /// be assessed by QA like any other.
    ReportDeviation {
        /// The step concerned (a step of the recipe), if any.
        #[serde(default)]
        step: Option<String>,
        /// What was observed.
        observation: String,
    },
    /// A device adapter reports an event of the running step's device: a retry after a
    /// dropped connection (recorded), a connection lost for good or a value with a bad
    /// status code (recorded and a deviation), a program state (recorded).
    DeviceEvent {
        /// Step id.
        step: String,
        /// Equipment id of the device (scanned for the step).
        device: String,
        /// What happened.
        event: DeviceEventKind,
        /// The device's or the adapter's words.
        detail: String,
        /// Field of a bad value.
        #[serde(default)]
        field: Option<String>,
        /// The refused value, if the device sent one.
        #[serde(default)]
        value: Option<f64>,
        /// The device's timestamp.
        #[serde(default)]
        source_time: Option<DateTime>,
    },
}

fn manual() -> Source {
    Source::Manual
}

/// One sample of a monitored series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// The device's source time, milliseconds since 1970-01-01T00:00:00Z.
    pub time_ms: i64,
    /// The value.
    pub value: f64,
}

/// Most samples in one series block (10 minutes at 10 per second).
pub const MAX_SERIES_SAMPLES: usize = 6000;
/// Longest span of one series block, milliseconds (one day).
const MAX_SERIES_SPAN_MS: i64 = 86_400_000;
/// Latest sample time accepted (year 9999), milliseconds since the epoch.
const MAX_TIME_MS: i64 = 253_402_300_799_999;

impl Command {
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::ReceiveApheresis { .. } => "receive apheresis",
            Command::StartStep { .. } => "start step",
            Command::UseEquipment { .. } => "use equipment",
            Command::RecordValue { .. } => "record value",
            Command::RecordSeries { .. } => "record series",
            Command::RecordLot { .. } => "record lot",
            Command::CompleteStep { .. } => "complete step",
            Command::AssessDeviation { .. } => "assess deviation",
            Command::Correct { .. } => "correct",
            Command::Sign { .. } => "sign",
            Command::Dispose { .. } => "dispose",
            Command::ClinicReceipt { .. } => "clinic receipt",
            Command::ConfirmInfusion { .. } => "confirm infusion",
            Command::Watch => "watch",
            Command::ReportDeviation { .. } => "report deviation",
            Command::DeviceEvent { .. } => "device event",
        }
    }
}

/// A command with its concurrency and idempotency controls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// What to do.
    pub command: Command,
    /// Idempotency key: a repeated request with the same key and content returns the
    /// entries it made the first time instead of applying twice.
    #[serde(default)]
    pub key: Option<String>,
    /// The last entry number the client saw; a request made on a stale view is refused.
    #[serde(default)]
    pub expected_seq: Option<u64>,
}

impl Request {
    /// A request without key or expected entry.
    pub fn new(command: Command) -> Request {
        Request {
            command,
            key: None,
            expected_seq: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------

/// Why a request was refused. `field` names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor lacks the role.
    #[error("{action} needs one of the roles {needed}; {user} has {has}")]
    Role {
        /// Action.
        action: &'static str,
        /// Roles that may.
        needed: String,
        /// User.
        user: String,
        /// Roles held.
        has: String,
    },
    /// Not possible in this stage.
    #[error("{action} is not possible while the batch is {stage}{detail}")]
    State {
        /// Action.
        action: &'static str,
        /// Current stage.
        stage: Stage,
        /// More detail (starts with `: ` when present).
        detail: String,
    },
    /// A field is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The action is blocked and a deviation was raised.
    #[error("{field}: {message} (deviation {deviation} raised)")]
    Blocked {
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
        /// Deviation number.
        deviation: u32,
    },
    /// The client's view is stale.
    #[error(
        "expected_seq: the request was made on entry {expected} but the batch is at entry {head}; reload and retry"
    )]
    Stale {
        /// What the client saw.
        expected: u64,
        /// Current head.
        head: u64,
    },
    /// An idempotency key re-used with other content.
    #[error("key: idempotency key `{0}` was already used for a different request")]
    KeyReused(String),
    /// Four-eyes rule.
    #[error(
        "four eyes: {0} performed or verified work on this batch and cannot also release it; another qualified person must"
    )]
    FourEyes(String),
}

impl Refusal {
    /// The field at fault, for API error bodies.
    pub fn field(&self) -> Option<&str> {
        match self {
            Refusal::Invalid { field, .. } | Refusal::Blocked { field, .. } => Some(field),
            Refusal::Stale { .. } => Some("expected_seq"),
            Refusal::KeyReused(_) => Some("key"),
            _ => None,
        }
    }
    /// A stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Role { .. } => "forbidden_role",
            Refusal::State { .. } => "wrong_state",
            Refusal::Invalid { .. } => "invalid",
            Refusal::Blocked { .. } => "blocked",
            Refusal::Stale { .. } => "stale",
            Refusal::KeyReused(_) => "key_reused",
            Refusal::FourEyes(_) => "four_eyes",
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// An accepted request.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The entries to append (for a replayed idempotent request: the entries it made before).
    pub entries: Vec<Entry>,
    /// True when the request repeated an earlier one (nothing new to store).
    pub replayed: bool,
    /// The state after the entries.
    pub batch: Batch,
}

/// A refused request; `record` holds entries that must be stored anyway (the custody
/// scan and the deviation of a blocked hand-off), and `batch` the state after them.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Why.
    pub error: Refusal,
    /// Entries to store despite the refusal (may be empty).
    pub record: Vec<Entry>,
    /// State after `record` (`None` when `record` is empty).
    pub batch: Option<Box<Batch>>,
}

impl From<Refusal> for Refused {
    fn from(error: Refusal) -> Refused {
        Refused {
            error,
            record: Vec::new(),
            batch: None,
        }
    }
}

/// Why stored entries cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The chain is broken.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Entry 1 is not an order.
    #[error("batch {0} entry 1 is not the order")]
    NoOrder(String),
    /// The recipe given is not the one the batch was ordered with.
    #[error("batch {batch} runs recipe {want} with SHA-256 {want_sha}, not {got}")]
    Recipe {
        /// Batch.
        batch: String,
        /// Recipe id in the order.
        want: String,
        /// Its hash.
        want_sha: String,
        /// What was given.
        got: String,
    },
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Running {
    step: String,
    attempt: u32,
    started: DateTime,
    equipment: BTreeMap<String, String>,
    values: BTreeMap<String, u64>,
    lots: BTreeMap<String, u64>,
    overrun_raised: bool,
    series: BTreeMap<String, SeriesState>,
}

/// Where a monitored series of the running step stands.
#[derive(Debug, Clone, PartialEq)]
struct SeriesState {
    /// Entry of the first block.
    first_seq: u64,
    /// Blocks so far.
    blocks: u32,
    /// Source time of the last sample so far.
    last_ms: i64,
    /// The last sample was outside the range (an excursion is open).
    outside: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct DeviationState {
    entry: DeviationEntry,
    assessed: Option<Classification>,
}

/// The entries of a batch record in order, as [`Batch::entries`] holds them: a persistent
/// vector (`imbl`), cheap to copy, indexed and iterated like a slice.
pub type Record = imbl::Vector<Entry>;

/// One batch: its record and the state the record implies.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    id: String,
    order: Order,
    recipe_steps: Vec<(String, bool)>,
    /// A persistent vector: a copy of the batch shares the record with its original, so
    /// checking a request on a copy costs the same on entry 10 and on entry 1,000,000.
    entries: Record,
    stage: Stage,
    queue: VecDeque<String>,
    running: Option<Running>,
    attempts: BTreeMap<String, u32>,
    last_end: Option<(String, DateTime)>,
    hold_raised: bool,
    deviations: BTreeMap<u32, DeviationState>,
    /// Idempotency key → (request hash, entries made); persistent like `entries`.
    keys: imbl::OrdMap<String, (String, Vec<u64>)>,
    performers: BTreeSet<String>,
    reviewed_through: u64,
    last_substantive: u64,
    clinic_received: bool,
    /// Estimated memory of `entries` in bytes ([`Batch::memory_estimate`]).
    memory: usize,
}

/// The hand-off at the start of `step`.
pub fn hand_off_for(recipe: &Recipe, step: &Step, ship_step: &str) -> HandOff {
    let makes_product = step.materials.iter().any(|m| {
        recipe
            .materials
            .iter()
            .any(|x| x.id == m.material && x.role == MaterialRole::Product)
    });
    if step.id == ship_step {
        HandOff::Shipping
    } else if makes_product {
        HandOff::Fill
    } else if step
        .requires
        .iter()
        .any(|r| r.capability == "controlled_rate_freezing")
    {
        HandOff::Cryo
    } else {
        HandOff::Transfer
    }
}

fn check_text(field: &str, s: &str, max: usize, required: bool) -> Result<(), Refusal> {
    if required && s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(invalid(
            field,
            format!("is {} bytes long; at most {max} are accepted", s.len()),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_id(field: &str, s: &str) -> Result<(), Refusal> {
    check_text(field, s, MAX_ID, true)?;
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
    {
        return Err(invalid(
            field,
            format!("`{s}` may only contain letters, digits and - _ . : /"),
        ));
    }
    Ok(())
}

/// SHA-256 of a recipe file's text (what an order pins).
pub fn recipe_sha256(text: &str) -> String {
    sha256_hex(text.as_bytes())
}

impl Batch {
    /// Open a batch: check the order and the level-3 binding and make entry 1.
    /// `recipe_sha` is the SHA-256 of the recipe file ([`recipe_sha256`]).
    pub fn open(
        order: &NewOrder,
        recipe_sha: &str,
        binding: &Binding,
        actor: &Actor,
        ctx: &Ctx,
    ) -> Result<(Batch, Entry), Refusal> {
        let by = actor
            .acting_as(&[Role::Planner])
            .ok_or_else(|| role_refusal("open batch", &[Role::Planner], actor))?;
        check_id("batch", &order.batch)?;
        check_id("patient", &order.patient)?;
        check_id("coi", &order.coi)?;
        let din = Din::parse(&order.din).map_err(|e| invalid("din", e.to_string()))?;
        let recipe = ctx.recipe;
        let ship_step = match &order.ship_step {
            Some(s) => {
                let step = recipe
                    .step(s)
                    .ok_or_else(|| invalid("ship_step", format!("recipe has no step `{s}`")))?;
                if step.optional {
                    return Err(invalid("ship_step", format!("step `{s}` is optional")));
                }
                s.clone()
            }
            None => recipe
                .steps
                .iter()
                .rev()
                .find(|s| !s.optional)
                .map(|s| s.id.clone())
                .ok_or_else(|| invalid("recipe", "the recipe has no regular step"))?,
        };
        if binding.recipe != recipe.procedure.id {
            return Err(invalid(
                "binding",
                format!(
                    "binding is for recipe `{}`, not `{}`",
                    binding.recipe, recipe.procedure.id
                ),
            ));
        }
        let mut equipment = Vec::new();
        for step in &recipe.steps {
            for req in &step.requires {
                let a = binding.get(&step.id, &req.name).ok_or_else(|| {
                    invalid(
                        format!("binding.{}.{}", step.id, req.name),
                        "requirement is not in the binding",
                    )
                })?;
                let eq = a.equipment.clone().ok_or_else(|| {
                    invalid(
                        format!("binding.{}.{}", step.id, req.name),
                        "no qualified equipment fits this requirement; the batch cannot be ordered",
                    )
                })?;
                equipment.push(Bound {
                    step: step.id.clone(),
                    requirement: req.name.clone(),
                    equipment: eq,
                });
            }
        }
        let body = Body::Ordered(Order {
            patient: order.patient.clone(),
            coi: order.coi.clone(),
            din,
            product: recipe.procedure.product.clone(),
            recipe: RecipeRef {
                id: recipe.procedure.id.clone(),
                version: recipe.procedure.version.clone(),
                sha256: recipe_sha.to_string(),
            },
            planned_start: order.planned_start,
            bound_on: binding.as_of,
            equipment,
            ship_step,
        });
        let entry = Entry::seal(&order.batch, 1, ctx.now, by, None, None, body, GENESIS);
        let batch = Batch::replay(std::slice::from_ref(&entry), recipe, recipe_sha)
            .map_err(|e| invalid("batch", e.to_string()))?;
        Ok((batch, entry))
    }

    /// Rebuild a batch from its stored entries (checking the chain first) for the recipe
    /// with this SHA-256.
    pub fn replay(
        entries: &[Entry],
        recipe: &Recipe,
        recipe_sha: &str,
    ) -> Result<Batch, ReplayError> {
        let id = entries.first().map(|e| e.batch.clone()).unwrap_or_default();
        verify_chain(&id, entries)?;
        let Some(Body::Ordered(order)) = entries.first().map(|e| &e.body) else {
            return Err(ReplayError::NoOrder(id));
        };
        if order.recipe.id != recipe.procedure.id || order.recipe.sha256 != recipe_sha {
            return Err(ReplayError::Recipe {
                batch: id,
                want: order.recipe.id.clone(),
                want_sha: order.recipe.sha256.clone(),
                got: format!("{} with SHA-256 {recipe_sha}", recipe.procedure.id),
            });
        }
        let mut b = Batch {
            id: id.clone(),
            order: order.clone(),
            recipe_steps: recipe
                .steps
                .iter()
                .map(|s| (s.id.clone(), s.optional))
                .collect(),
            entries: Record::new(),
            stage: Stage::Ordered,
            queue: VecDeque::new(),
            running: None,
            attempts: BTreeMap::new(),
            last_end: None,
            hold_raised: false,
            deviations: BTreeMap::new(),
            keys: imbl::OrdMap::new(),
            performers: BTreeSet::new(),
            reviewed_through: 0,
            last_substantive: 0,
            clinic_received: false,
            memory: 0,
        };
        for e in entries {
            b.apply(e.clone());
        }
        Ok(b)
    }

    /// Applies entries that continue this record (the entries a request made on this very
    /// state: [`Applied::entries`], [`Refused::record`]), as [`Batch::replay`] of the longer
    /// record would: each must be the next entry of this batch, link to the head and match
    /// its own hash. The cost is that of the entries given, not of the record.
    pub fn extend(&mut self, entries: &[Entry]) -> Result<(), ChainError> {
        for e in entries {
            crate::entry::check_next(&self.id, e, self.head_seq() + 1, self.head_hash())?;
            self.apply(e.clone());
        }
        Ok(())
    }

    /// Batch id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The order (entry 1).
    pub fn order(&self) -> &Order {
        &self.order
    }
    /// Lifecycle stage.
    pub fn stage(&self) -> Stage {
        self.stage
    }
    /// Every entry, in order.
    pub fn entries(&self) -> &Record {
        &self.entries
    }
    /// Estimated memory the record takes in bytes: [`ENTRY_MEMORY`] an entry plus 12 bytes a
    /// series sample (its offset and value), kept as entries are applied. For bounding what
    /// a holder of many batches keeps, not an exact figure.
    pub fn memory_estimate(&self) -> usize {
        self.memory
    }
    /// Number of the last entry.
    pub fn head_seq(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.seq)
    }
    /// Hash of the last entry.
    pub fn head_hash(&self) -> &str {
        self.entries.last().map_or(GENESIS, |e| e.hash.as_str())
    }
    /// The running step and its attempt, if any.
    pub fn running(&self) -> Option<(&str, u32)> {
        self.running.as_ref().map(|r| (r.step.as_str(), r.attempt))
    }
    /// The step that runs next, if any.
    pub fn next_step(&self) -> Option<&str> {
        if self.running.is_some() {
            return None;
        }
        self.queue.front().map(String::as_str)
    }
    /// Deviations raised so far with their assessment.
    pub fn deviations(&self) -> Vec<(&DeviationEntry, Option<Classification>)> {
        self.deviations
            .values()
            .map(|d| (&d.entry, d.assessed))
            .collect()
    }
    /// Deviations not yet assessed by QA.
    pub fn unassessed(&self) -> Vec<u32> {
        self.deviations
            .iter()
            .filter(|(_, d)| d.assessed.is_none())
            .map(|(n, _)| *n)
            .collect()
    }
    /// The equipment bound to a requirement of a step.
    pub fn bound(&self, step: &str, requirement: &str) -> Option<&str> {
        self.order
            .equipment
            .iter()
            .find(|b| b.step == step && b.requirement == requirement)
            .map(|b| b.equipment.as_str())
    }

    /// The review-by-exception view: deviations, assessments, corrections and signatures.
    pub fn exceptions(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| {
                matches!(
                    e.body,
                    Body::Deviation(_)
                        | Body::Assessment(_)
                        | Body::Correction(_)
                        | Body::Signature(_)
                        | Body::Disposition(_)
                        | Body::Terminated(_)
                ) || matches!(&e.body, Body::Custody(c) if !c.matched)
            })
            .collect()
    }

    // ---- applying entries ----------------------------------------------------------

    fn apply(&mut self, e: Entry) {
        let seq = e.seq;
        self.memory += entry_memory(&e);
        if let Some(k) = &e.key {
            let slot = self
                .keys
                .entry(k.clone())
                .or_insert_with(|| (e.request.clone().unwrap_or_default(), Vec::new()));
            slot.1.push(seq);
        }
        if !matches!(e.body, Body::Signature(_)) {
            self.last_substantive = seq;
        }
        let user = e.by.user.clone();
        match &e.body {
            Body::Ordered(_) => {
                self.queue = self
                    .recipe_steps
                    .iter()
                    .filter(|(_, opt)| !opt)
                    .map(|(s, _)| s.clone())
                    .collect();
            }
            Body::Custody(c) if c.matched => match c.point {
                HandOff::ApheresisReceipt => self.stage = Stage::ApheresisReceived,
                HandOff::Shipping => self.stage = Stage::Shipped,
                HandOff::ClinicReceipt => self.clinic_received = true,
                _ => {}
            },
            Body::Custody(_) => {}
            Body::StepStarted(s) => self.start_running(s, e.at, user),
            Body::EquipmentUsed(u) => {
                self.performers.insert(user);
                if let Some(r) = &mut self.running {
                    r.equipment
                        .insert(u.requirement.clone(), u.equipment.clone());
                }
            }
            Body::Value(v) => {
                if v.source == Source::Manual {
                    self.performers.insert(user);
                }
                if let Some(r) = &mut self.running {
                    r.values.insert(v.field.clone(), seq);
                }
            }
            Body::Lot(l) => {
                self.performers.insert(user);
                if let Some(r) = &mut self.running {
                    r.lots.insert(l.material.clone(), seq);
                }
            }
            Body::Decision(d) => self.follow(d),
            Body::StepCompleted(c) => self.end_running(c, e.at, user),
            Body::Deviation(d) => self.note_deviation(d),
            Body::Assessment(a) => {
                if let Some(d) = self.deviations.get_mut(&a.deviation) {
                    d.assessed = Some(a.classification);
                }
            }
            Body::Correction(_) => {}
            Body::Signature(s) => match s.meaning {
                Meaning::Performed | Meaning::Verified => {
                    self.performers.insert(user);
                }
                Meaning::Reviewed => {
                    self.reviewed_through = self.reviewed_through.max(s.target);
                }
                Meaning::Released => {}
            },
            Body::Disposition(d) => {
                self.stage = match d.decision {
                    DispositionDecision::Release => Stage::Released,
                    DispositionDecision::ReleaseWithDeviation => Stage::ReleasedWithDeviation,
                    DispositionDecision::Reject => Stage::Rejected,
                };
            }
            Body::Infused(_) => self.stage = Stage::Infused,
            Body::DeviceEvent(_) => {}
            Body::Series(b) => {
                if let Some(r) = &mut self.running {
                    let st = r.series.entry(b.field.clone()).or_insert(SeriesState {
                        first_seq: seq,
                        blocks: 0,
                        last_ms: b.last_ms,
                        outside: false,
                    });
                    st.blocks = b.block;
                    st.last_ms = b.last_ms;
                    st.outside = b.ends_outside;
                }
            }
            Body::Terminated(_) => {
                self.stage = Stage::Terminated;
                self.running = None;
                self.queue.clear();
            }
        }
        self.entries.push_back(e);
    }

    /// A step starts: it leaves the queue and becomes the running step.
    fn start_running(&mut self, s: &StepStarted, at: DateTime, user: String) {
        if self.queue.front() == Some(&s.step) {
            self.queue.pop_front();
        }
        self.attempts.insert(s.step.clone(), s.attempt);
        self.running = Some(Running {
            step: s.step.clone(),
            attempt: s.attempt,
            started: at,
            equipment: BTreeMap::new(),
            values: BTreeMap::new(),
            lots: BTreeMap::new(),
            overrun_raised: false,
            series: BTreeMap::new(),
        });
        self.hold_raised = false;
        self.performers.insert(user);
        if self.stage == Stage::ApheresisReceived {
            self.stage = Stage::InProcess;
        }
    }

    /// A triggered decision changes what comes next: the step again, an inserted step, or
    /// the recipe from another step on.
    fn follow(&mut self, d: &DecisionEntry) {
        if d.triggered {
            match &d.then {
                Some(Consequence::Repeat) => self.queue.push_front(d.step.clone()),
                Some(Consequence::Insert(x)) => self.queue.push_front(x.clone()),
                Some(Consequence::Goto(x)) => {
                    let from = self.recipe_steps.iter().position(|(s, _)| s == x);
                    if let Some(i) = from {
                        self.queue = self.recipe_steps[i..]
                            .iter()
                            .enumerate()
                            .filter(|(j, (_, opt))| *j == 0 || !opt)
                            .map(|(_, (s, _))| s.clone())
                            .collect();
                    }
                }
                _ => {}
            }
        }
    }

    /// The running step ends; before the shipping step the batch awaits its disposition.
    fn end_running(&mut self, c: &StepCompleted, at: DateTime, user: String) {
        self.performers.insert(user);
        self.running = None;
        self.last_end = Some((c.step.clone(), at));
        self.hold_raised = false;
        let before_ship = self
            .queue
            .front()
            .is_none_or(|s| *s == self.order.ship_step);
        if self.stage == Stage::InProcess && before_ship {
            self.stage = Stage::AwaitingDisposition;
        }
    }

    /// A deviation is open until it is assessed; a hold or an overrun is raised once.
    fn note_deviation(&mut self, d: &DeviationEntry) {
        if d.field == "hold" {
            self.hold_raised = true;
        }
        if d.field == "duration"
            && d.kind == DeviationKind::Late
            && let Some(r) = &mut self.running
        {
            r.overrun_raised = true;
        }
        self.deviations.insert(
            d.number,
            DeviationState {
                entry: d.clone(),
                assessed: None,
            },
        );
    }

    // ---- executing requests --------------------------------------------------------

    /// Check a request and return the entries it makes (not yet stored).
    pub fn execute(&self, req: &Request, actor: &Actor, ctx: &Ctx) -> Result<Applied, Refused> {
        let request_hash = sha256_hex(&serde_json::to_vec(&req.command).unwrap_or_default());
        if let Some(k) = &req.key {
            check_id("key", k)?;
            if let Some((h, seqs)) = self.keys.get(k) {
                if *h != request_hash {
                    return Err(Refusal::KeyReused(k.clone()).into());
                }
                let entries = seqs
                    .iter()
                    .filter_map(|s| self.entries.get(usize::try_from(*s).ok()?.checked_sub(1)?))
                    .cloned()
                    .collect();
                return Ok(Applied {
                    entries,
                    replayed: true,
                    batch: self.clone(),
                });
            }
        }
        if let Some(expected) = req.expected_seq
            && expected != self.head_seq()
        {
            return Err(Refusal::Stale {
                expected,
                head: self.head_seq(),
            }
            .into());
        }
        let mut draft = Draft {
            batch: self.clone(),
            new: Vec::new(),
            key: req.key.clone(),
            request: Some(request_hash),
            now: ctx.now,
        };
        match draft.run(&req.command, actor, ctx) {
            Ok(()) => Ok(Applied {
                entries: draft.new,
                replayed: false,
                batch: draft.batch,
            }),
            Err(error) => {
                let record = std::mem::take(&mut draft.new);
                let batch = (!record.is_empty()).then(|| Box::new(draft.batch));
                Err(Refused {
                    error,
                    record,
                    batch,
                })
            }
        }
    }
}

/// The measures of a step completion: only the step's decision measures, finite, and all of
/// them unless the run failed.
fn check_measures(
    step: &Step,
    step_id: &str,
    measures: &BTreeMap<String, f64>,
    failed: Option<&str>,
) -> Result<(), Refusal> {
    if let Some(f) = failed {
        check_text("failed", f, MAX_TEXT, true)?;
    }
    for (k, v) in measures {
        if !step.decision.iter().any(|d| d.measure == *k) {
            return Err(invalid(
                format!("measures.{k}"),
                format!("step `{step_id}` takes no decision on `{k}`"),
            ));
        }
        if !v.is_finite() {
            return Err(invalid(format!("measures.{k}"), "must be a finite number"));
        }
    }
    if failed.is_none()
        && let Some(d) = step
            .decision
            .iter()
            .find(|d| !measures.contains_key(&d.measure))
    {
        return Err(invalid(
            format!("measures.{}", d.measure),
            format!(
                "step `{step_id}` decides on `{}`: give the measured value",
                d.measure
            ),
        ));
    }
    Ok(())
}

fn role_refusal(action: &'static str, needed: &[Role], actor: &Actor) -> Refusal {
    let list = |r: &[Role]| {
        if r.is_empty() {
            "none".to_string()
        } else {
            r.iter().map(Role::to_string).collect::<Vec<_>>().join(", ")
        }
    };
    Refusal::Role {
        action,
        needed: list(needed),
        user: actor.user.clone(),
        has: list(&actor.roles),
    }
}

/// A batch being changed by one request.
struct Draft {
    batch: Batch,
    new: Vec<Entry>,
    key: Option<String>,
    request: Option<String>,
    now: DateTime,
}

const STEP_ROLES: &[Role] = &[Role::Operator, Role::Qc];

impl Draft {
    fn push(&mut self, by: &Person, body: Body) -> u64 {
        let seq = self.batch.head_seq() + 1;
        let e = Entry::seal(
            &self.batch.id,
            seq,
            self.now,
            by.clone(),
            self.key.clone(),
            self.request.clone(),
            body,
            self.batch.head_hash(),
        );
        self.new.push(e.clone());
        self.batch.apply(e);
        seq
    }

    #[allow(clippy::too_many_arguments)]
    fn deviate(
        &mut self,
        by: &Person,
        kind: DeviationKind,
        step: Option<&str>,
        field: &str,
        expected: String,
        actual: String,
        critical: bool,
    ) -> u32 {
        let number = self
            .batch
            .deviations
            .keys()
            .next_back()
            .map_or(1, |n| n + 1);
        self.push(
            by,
            Body::Deviation(DeviationEntry {
                number,
                kind,
                step: step.map(str::to_string),
                field: field.to_string(),
                expected,
                actual,
                critical,
            }),
        );
        number
    }

    fn state(&self, action: &'static str, detail: impl Into<String>) -> Refusal {
        let d = detail.into();
        Refusal::State {
            action,
            stage: self.batch.stage,
            detail: if d.is_empty() { d } else { format!(": {d}") },
        }
    }

    /// Checks the actor's role for `cmd` and hands the command to its method.
    ///
    /// Longer than 120 lines for a reason: it is one flat dispatch with a short arm per
    /// command (role check, then the command's method); its length is the commands' fields,
    /// listed one a line.
    fn run(&mut self, cmd: &Command, actor: &Actor, ctx: &Ctx) -> Result<(), Refusal> {
        let action = cmd.name();
        let need = |roles: &[Role]| {
            actor
                .acting_as(roles)
                .ok_or_else(|| role_refusal(action, roles, actor))
        };
        if self.batch.stage.is_terminal() {
            if matches!(cmd, Command::Watch) {
                need(&[Role::Engine])?;
                return Ok(());
            }
            return Err(self.state(action, "the batch is closed"));
        }
        match cmd {
            Command::ReceiveApheresis { location, scanned } => {
                let by = need(&[Role::Operator])?;
                check_text("location", location, MAX_ID, true)?;
                if self.batch.stage != Stage::Ordered {
                    return Err(self.state(action, "the apheresis was already received"));
                }
                self.scan(&by, HandOff::ApheresisReceipt, None, location, scanned)
            }
            Command::StartStep {
                step,
                location,
                scanned,
            } => {
                let by = need(STEP_ROLES)?;
                check_text("location", location, MAX_ID, true)?;
                self.start_step(&by, step, location, scanned, ctx)
            }
            Command::UseEquipment {
                step,
                requirement,
                equipment,
            } => {
                let by = need(STEP_ROLES)?;
                self.use_equipment(&by, step, requirement, equipment, ctx)
            }
            Command::RecordValue {
                step,
                field,
                value,
                unit,
                source,
            } => {
                let by = need(STEP_ROLES)?;
                self.record_value(&by, action, step, field, *value, unit, source, ctx)
            }
            Command::RecordSeries {
                step,
                field,
                unit,
                device,
                address,
                samples,
            } => {
                let by = need(STEP_ROLES)?;
                self.record_series(
                    &by, action, step, field, unit, device, address, samples, ctx,
                )
            }
            Command::RecordLot {
                step,
                material,
                lot,
                expiry,
            } => {
                let by = need(STEP_ROLES)?;
                self.record_lot(&by, action, step, material, lot, *expiry, ctx)
            }
            Command::CompleteStep {
                step,
                measures,
                failed,
            } => {
                let by = need(STEP_ROLES)?;
                self.complete_step(&by, actor, step, measures, failed.as_deref(), ctx)
            }
            Command::AssessDeviation {
                deviation,
                classification,
                capa,
                rationale,
            } => {
                let by = need(&[Role::Qa])?;
                self.assess(&by, action, *deviation, *classification, capa, rationale)
            }
            Command::Correct {
                corrects,
                reason,
                new,
            } => {
                let by = need(&[Role::Operator, Role::Qc, Role::Qa])?;
                self.correct(&by, *corrects, reason, new, ctx)
            }
            Command::Sign {
                target,
                target_hash,
                meaning,
            } => {
                let by = need(meaning.roles())?;
                if *meaning == Meaning::Released {
                    return Err(invalid(
                        "meaning",
                        "a release signature is given with the disposition",
                    ));
                }
                self.sign(&by, *target, target_hash, *meaning)
            }
            Command::Dispose { decision, reason } => {
                let by = need(&[Role::QualifiedPerson])?;
                self.dispose(&by, *decision, reason)
            }
            Command::ClinicReceipt { location, scanned } => {
                let by = need(&[Role::Clinic])?;
                self.clinic_receipt(&by, action, location, scanned)
            }
            Command::ConfirmInfusion { clinic, infused_at } => {
                let by = need(&[Role::Clinic])?;
                self.confirm_infusion(&by, action, clinic, *infused_at)
            }
            Command::Watch => {
                let by = need(&[Role::Engine])?;
                self.watch(&by, ctx);
                Ok(())
            }
            Command::ReportDeviation { step, observation } => {
                let by = need(STEP_ROLES)?;
                self.report_deviation(&by, step.as_deref(), observation, ctx)
            }
            Command::DeviceEvent {
                step,
                device,
                event,
                detail,
                field,
                value,
                source_time,
            } => {
                let by = need(STEP_ROLES)?;
                let ev = DeviceEvent {
                    step: step.clone(),
                    device: device.clone(),
                    event: *event,
                    detail: detail.clone(),
                    field: field.clone(),
                    value: *value,
                    source_time: *source_time,
                };
                self.device_event(&by, action, ev, ctx)
            }
        }
    }

    /// `record value`: a value of the running step, checked against its specification (a
    /// value outside its range is recorded with a deviation).
    #[allow(clippy::too_many_arguments)]
    fn record_value(
        &mut self,
        by: &Person,
        action: &'static str,
        step: &str,
        field: &str,
        value: f64,
        unit: &str,
        source: &Source,
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        let s = self.running_step(action, step, ctx)?;
        let running = self.batch.running.as_ref();
        if let Source::Device { device, .. } = source
            && !running.is_some_and(|r| r.equipment.values().any(|e| e == device))
        {
            return Err(invalid(
                "source.device",
                format!("device `{device}` was not scanned for step `{step}`"),
            ));
        }
        let field = qualified_field(field);
        if let Some(st) = running.and_then(|r| r.series.get(&field)) {
            return Err(invalid(
                "field",
                format!(
                    "{field} of step `{step}` is a monitored series (from entry {}); send its samples with record series",
                    st.first_seq
                ),
            ));
        }
        if let Some(seq) = running.and_then(|r| r.values.get(&field)) {
            return Err(invalid(
                "field",
                format!(
                    "{field} of step `{step}` was already recorded in entry {seq}; correct that entry instead"
                ),
            ));
        }
        let spec = spec_of(s, &field)?;
        check_value(spec, &field, value, unit)?;
        self.push(
            by,
            Body::Value(Value {
                step: step.to_string(),
                field: field.clone(),
                value,
                unit: unit.to_string(),
                source: source.clone(),
            }),
        );
        self.range_deviation(by, step, &field, spec, value, unit);
        Ok(())
    }

    /// `record lot`: the lot of a material the running step uses, once per step.
    #[allow(clippy::too_many_arguments)]
    fn record_lot(
        &mut self,
        by: &Person,
        action: &'static str,
        step: &str,
        material: &str,
        lot: &str,
        expiry: Option<Date>,
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        let s = self.running_step(action, step, ctx)?;
        if !s.materials.iter().any(|m| m.material == material) {
            return Err(invalid(
                "material",
                format!(
                    "step `{step}` uses no material `{material}`; it uses {}",
                    listed(s.materials.iter().map(|m| m.material.as_str()))
                ),
            ));
        }
        if let Some(seq) = self.running_state().and_then(|r| r.lots.get(material)) {
            return Err(invalid(
                "material",
                format!(
                    "the lot of {material} was already recorded in entry {seq}; correct that entry instead"
                ),
            ));
        }
        let entry = self.check_lot(by, step, material, lot, expiry, ctx)?;
        self.push(by, Body::Lot(entry));
        Ok(())
    }

    /// `assess deviation`: QA classifies a deviation before the disposition (a critical
    /// one stays critical; major and critical ones need a CAPA reference).
    fn assess(
        &mut self,
        by: &Person,
        action: &'static str,
        deviation: u32,
        classification: Classification,
        capa: &Option<String>,
        rationale: &str,
    ) -> Result<(), Refusal> {
        if self.batch.stage.disposed() {
            return Err(self.state(action, "the batch was already disposed"));
        }
        check_text("rationale", rationale, MAX_TEXT, true)?;
        let d = self.batch.deviations.get(&deviation).ok_or_else(|| {
            invalid(
                "deviation",
                format!("batch {} has no deviation {deviation}", self.batch.id),
            )
        })?;
        if d.entry.critical && classification != Classification::Critical {
            return Err(invalid(
                "classification",
                format!(
                    "deviation {deviation} ({}) was raised as critical and cannot be classified lower",
                    d.entry.kind
                ),
            ));
        }
        let capa = capa.clone().filter(|c| !c.trim().is_empty());
        if let Some(c) = &capa {
            check_text("capa", c, MAX_ID, true)?;
        }
        if classification != Classification::Minor && capa.is_none() {
            return Err(invalid(
                "capa",
                "a major or critical deviation needs a CAPA reference",
            ));
        }
        self.push(
            by,
            Body::Assessment(Assessment {
                deviation,
                classification,
                capa,
                rationale: rationale.to_string(),
            }),
        );
        Ok(())
    }

    /// `clinic receipt`: the clinic scans the shipped product, once, after the shipping step.
    fn clinic_receipt(
        &mut self,
        by: &Person,
        action: &'static str,
        location: &str,
        scanned: &Label,
    ) -> Result<(), Refusal> {
        check_text("location", location, MAX_ID, true)?;
        if self.batch.stage != Stage::Shipped {
            return Err(self.state(action, "the product has not been shipped"));
        }
        if self.batch.running.is_some() || !self.batch.queue.is_empty() {
            return Err(self.state(action, "the shipping step has not been completed"));
        }
        if self.batch.clinic_received {
            return Err(self.state(action, "the product was already received"));
        }
        self.scan(by, HandOff::ClinicReceipt, None, location, scanned)
    }

    /// `confirm infusion`: after the clinic's receipt scan, at a time not in the future and
    /// not before the receipt.
    fn confirm_infusion(
        &mut self,
        by: &Person,
        action: &'static str,
        clinic: &str,
        infused_at: DateTime,
    ) -> Result<(), Refusal> {
        check_text("clinic", clinic, MAX_ID, true)?;
        if self.batch.stage != Stage::Shipped || !self.batch.clinic_received {
            return Err(self.state(action, "the clinic has not scanned the product on receipt"));
        }
        if infused_at > self.now {
            return Err(invalid(
                "infused_at",
                format!("{infused_at} is in the future (server time {})", self.now),
            ));
        }
        let received = self
            .batch
            .entries
            .iter()
            .rev()
            .find(|e| matches!(&e.body, Body::Custody(c) if c.point == HandOff::ClinicReceipt && c.matched))
            .map(|e| e.at);
        if let Some(r) = received
            && infused_at < r
        {
            return Err(invalid(
                "infused_at",
                format!("{infused_at} is before the product was received at {r}"),
            ));
        }
        self.push(
            by,
            Body::Infused(Infusion {
                clinic: clinic.to_string(),
                infused_at,
            }),
        );
        Ok(())
    }

    /// `report deviation`: an observation of people, at a step of the recipe or the batch.
    fn report_deviation(
        &mut self,
        by: &Person,
        step: Option<&str>,
        observation: &str,
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        check_text("observation", observation, MAX_TEXT, true)?;
        if let Some(st) = step {
            check_text("step", st, MAX_ID, true)?;
            if ctx.recipe.step(st).is_none() {
                return Err(invalid(
                    "step",
                    format!("`{st}` is not a step of the recipe"),
                ));
            }
        }
        self.deviate(
            by,
            DeviationKind::Reported,
            step,
            "observation",
            "as the recipe prescribes".into(),
            observation.to_string(),
            false,
        );
        Ok(())
    }

    /// `device event`: an event of a device scanned for the running step; a lost connection
    /// and a refused value raise a deviation.
    fn device_event(
        &mut self,
        by: &Person,
        action: &'static str,
        ev: DeviceEvent,
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        let (step, device, detail) = (&ev.step, &ev.device, &ev.detail);
        self.running_step(action, step, ctx)?;
        check_text("detail", detail, MAX_TEXT, true)?;
        if !self
            .running_state()
            .is_some_and(|r| r.equipment.values().any(|e| e == device))
        {
            return Err(invalid(
                "device",
                format!("device `{device}` was not scanned for step `{step}`"),
            ));
        }
        if let Some(f) = &ev.field {
            check_text("field", f, MAX_ID, true)?;
        }
        if ev.value.is_some_and(|v| !v.is_finite()) {
            return Err(invalid("value", "a refused value must be a finite number"));
        }
        let field = ev.field.as_deref().map(qualified_field);
        self.push(
            by,
            Body::DeviceEvent(DeviceEvent {
                field: field.clone(),
                ..ev.clone()
            }),
        );
        match ev.event {
            DeviceEventKind::Retry | DeviceEventKind::Program => {}
            DeviceEventKind::Lost => {
                self.deviate(
                    by,
                    DeviationKind::Device,
                    Some(step),
                    &format!("device.{device}"),
                    "device connected for the whole step".into(),
                    format!("connection lost: {detail}"),
                    false,
                );
            }
            DeviceEventKind::BadValue => {
                let f = field.unwrap_or_else(|| format!("device.{device}"));
                self.deviate(
                    by,
                    DeviationKind::Device,
                    Some(step),
                    &f,
                    "a value with a good status".into(),
                    match ev.value {
                        Some(v) => format!("refused {v} with status {detail}"),
                        None => format!("no value, status {detail}"),
                    },
                    false,
                );
            }
        }
        Ok(())
    }

    fn scan(
        &mut self,
        by: &Person,
        point: HandOff,
        step: Option<&str>,
        location: &str,
        scanned: &Label,
    ) -> Result<(), Refusal> {
        check_text("scanned.coi", &scanned.coi, MAX_ID, false)?;
        check_text("scanned.din", &scanned.din, MAX_ID, false)?;
        let din = Din::parse(&scanned.din);
        let coi_ok = scanned.coi.trim() == self.batch.order.coi;
        let din_ok = din.as_ref().is_ok_and(|d| *d == self.batch.order.din);
        self.push(
            by,
            Body::Custody(Custody {
                point,
                step: step.map(str::to_string),
                location: location.to_string(),
                scanned: scanned.clone(),
                matched: coi_ok && din_ok,
            }),
        );
        if coi_ok && din_ok {
            return Ok(());
        }
        let (field, expected, actual) = if !coi_ok {
            (
                "scanned.coi",
                self.batch.order.coi.clone(),
                scanned.coi.clone(),
            )
        } else {
            let actual = match &din {
                Ok(d) => d.to_string(),
                Err(e) => format!("{} ({e})", scanned.din),
            };
            ("scanned.din", self.batch.order.din.to_string(), actual)
        };
        let number = self.deviate(
            by,
            DeviationKind::IdentityMismatch,
            step,
            field,
            expected.clone(),
            actual.clone(),
            true,
        );
        Err(Refusal::Blocked {
            field: field.to_string(),
            message: format!(
                "identity mismatch at {point}: label shows `{actual}`, batch is `{expected}`"
            ),
            deviation: number,
        })
    }

    /// What the running step has recorded so far (`None` while no step runs).
    fn running_state(&self) -> Option<&Running> {
        self.batch.running.as_ref()
    }

    fn running_step<'r>(
        &self,
        action: &'static str,
        step: &str,
        ctx: &Ctx<'r>,
    ) -> Result<&'r Step, Refusal> {
        match &self.batch.running {
            Some(r) if r.step == step => ctx
                .recipe
                .step(step)
                .ok_or_else(|| invalid("step", format!("recipe has no step `{step}`"))),
            Some(r) => Err(invalid(
                "step",
                format!("step `{}` is running, not `{step}`", r.step),
            )),
            None => Err(self.state(action, format!("step `{step}` is not running"))),
        }
    }

    fn start_step(
        &mut self,
        by: &Person,
        step_id: &str,
        location: &str,
        scanned: &Label,
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        let action = "start step";
        let ship = self.batch.order.ship_step.clone();
        match self.batch.stage {
            Stage::ApheresisReceived | Stage::InProcess => {}
            Stage::Released | Stage::ReleasedWithDeviation if step_id == ship => {}
            Stage::Shipped => {}
            Stage::Ordered => return Err(self.state(action, "the apheresis has not been received")),
            Stage::AwaitingDisposition => {
                return Err(self.state(
                    action,
                    format!("step `{step_id}` needs the QP's release first"),
                ));
            }
            _ => return Err(self.state(action, "")),
        }
        if let Some(r) = &self.batch.running {
            return Err(invalid(
                "step",
                format!("step `{}` is still running; complete it first", r.step),
            ));
        }
        let step = ctx
            .recipe
            .step(step_id)
            .ok_or_else(|| invalid("step", format!("recipe has no step `{step_id}`")))?;
        match self.batch.queue.front() {
            Some(next) if next == step_id => {}
            Some(next) => {
                return Err(invalid(
                    "step",
                    format!("step `{next}` is next, not `{step_id}`"),
                ));
            }
            None => return Err(invalid("step", "every step has been run")),
        }
        self.hold_check(by, ctx, Some(step_id));
        let point = hand_off_for(ctx.recipe, step, &ship);
        self.scan(by, point, Some(step_id), location, scanned)?;
        let attempt = self.batch.attempts.get(step_id).map_or(1, |a| a + 1);
        self.push(
            by,
            Body::StepStarted(StepStarted {
                step: step_id.to_string(),
                attempt,
            }),
        );
        Ok(())
    }

    /// Raise a hold-time deviation when the time since the previous step ended exceeds its
    /// maximum hold (once per gap).
    fn hold_check(&mut self, by: &Person, ctx: &Ctx, next: Option<&str>) {
        if self.batch.hold_raised || self.batch.running.is_some() {
            return;
        }
        let Some((prev, ended)) = self.batch.last_end.clone() else {
            return;
        };
        let Some(max) = ctx.recipe.step(&prev).and_then(|s| s.max_hold_h) else {
            return;
        };
        let held = ended.hours_until(self.now);
        if held > max + 1e-9 {
            let next = next
                .or(self.batch.queue.front().map(String::as_str))
                .unwrap_or("the next step")
                .to_string();
            self.deviate(
                by,
                DeviationKind::Late,
                Some(&prev),
                "hold",
                format!(
                    "`{next}` starts within {} h of the end of `{prev}`",
                    fmt_num(max)
                ),
                format!(
                    "{} h since {ended}",
                    fmt_num((held * 100.0).round() / 100.0)
                ),
                false,
            );
        }
    }

    /// `use equipment`: the equipment scanned for a requirement of the running step, once per
    /// requirement: it must be the bound equipment, qualified today, with its usage counters
    /// left for the uses the requirement consumes.
    fn use_equipment(
        &mut self,
        by: &Person,
        step: &str,
        requirement: &str,
        equipment: &str,
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        let s = self.running_step("use equipment", step, ctx)?;
        let req = s
            .requires
            .iter()
            .find(|r| r.name == requirement)
            .ok_or_else(|| {
                invalid(
                    "requirement",
                    format!(
                        "step `{step}` has no requirement `{requirement}`; it has {}",
                        listed(s.requires.iter().map(|r| r.name.as_str()))
                    ),
                )
            })?;
        if let Some(e) = self
            .running_state()
            .and_then(|r| r.equipment.get(requirement))
        {
            return Err(invalid(
                "requirement",
                format!("`{e}` was already scanned for {requirement}"),
            ));
        }
        check_id("equipment", equipment)?;
        let field = format!("equipment.{requirement}");
        self.check_bound_equipment(by, step, requirement, equipment, &field)?;
        let eq = ctx
            .inventory
            .equipment
            .iter()
            .find(|e| e.id == equipment)
            .ok_or_else(|| {
                invalid(
                    "equipment",
                    format!("`{equipment}` is not in the equipment inventory"),
                )
            })?;
        let validity = eq.qualification.validity(self.now.date());
        if !validity.is_valid() {
            let n = self.deviate(
                by,
                DeviationKind::Unqualified,
                Some(step),
                &field,
                format!("qualified on {}", self.now.date()),
                format!("{equipment}: {validity}"),
                false,
            );
            return Err(Refusal::Blocked {
                field: "equipment".into(),
                message: format!(
                    "`{equipment}` cannot be used on {}: {validity}",
                    self.now.date()
                ),
                deviation: n,
            });
        }
        let counters = self.count_uses(by, step, req, eq, &field)?;
        self.push(
            by,
            Body::EquipmentUsed(EquipmentUsed {
                step: step.to_string(),
                requirement: requirement.to_string(),
                equipment: equipment.to_string(),
                qualification: validity.to_string(),
                counters,
            }),
        );
        Ok(())
    }

    /// Blocks (with a wrong-equipment deviation) equipment that is not the one bound to the
    /// requirement of the step.
    fn check_bound_equipment(
        &mut self,
        by: &Person,
        step: &str,
        requirement: &str,
        equipment: &str,
        field: &str,
    ) -> Result<(), Refusal> {
        let bound = self
            .batch
            .bound(step, requirement)
            .unwrap_or("")
            .to_string();
        if equipment == bound {
            return Ok(());
        }
        let n = self.deviate(
            by,
            DeviationKind::WrongEquipment,
            Some(step),
            field,
            bound.clone(),
            equipment.to_string(),
            false,
        );
        Err(Refusal::Blocked {
            field: "equipment".into(),
            message: format!(
                "`{equipment}` is not the equipment bound to {requirement} of step `{step}` (`{bound}`)"
            ),
            deviation: n,
        })
    }

    /// The uses the requirement consumes of each usage counter of the equipment; blocks (with
    /// a counter-limit deviation) a counter the uses would take past its limit.
    fn count_uses(
        &mut self,
        by: &Person,
        step: &str,
        req: &Requirement,
        eq: &Equipment,
        field: &str,
    ) -> Result<Vec<CounterUse>, Refusal> {
        let (requirement, equipment) = (&req.name, &eq.id);
        let mut counters = Vec::new();
        for (name, uses) in &req.uses {
            let Some(c) = eq.counter(name) else {
                return Err(invalid(
                    "equipment",
                    format!(
                        "`{equipment}` has no usage counter `{name}` that {requirement} consumes"
                    ),
                ));
            };
            let after = c.used.saturating_add(*uses);
            if after > c.max {
                let n = self.deviate(
                    by,
                    DeviationKind::CounterLimit,
                    Some(step),
                    &format!("{field}.{name}"),
                    format!("{uses} more uses within the limit of {}", c.max),
                    format!("{} of {} used", c.used, c.max),
                    false,
                );
                return Err(Refusal::Blocked {
                    field: "equipment".into(),
                    message: format!(
                        "`{equipment}` {name} is at {} of {} uses; {requirement} needs {uses} more",
                        c.used, c.max
                    ),
                    deviation: n,
                });
            }
            counters.push(CounterUse {
                counter: name.clone(),
                uses: *uses,
                before: c.used,
                after,
                max: c.max,
            });
        }
        Ok(counters)
    }

    /// `record series`: a block of samples of a monitored field of the running step, from a
    /// device scanned for it; each excursion out of the range is one deviation, however many
    /// blocks it spans.
    #[allow(clippy::too_many_arguments)]
    fn record_series(
        &mut self,
        by: &Person,
        action: &'static str,
        step: &str,
        field: &str,
        unit: &str,
        device: &str,
        address: &Option<String>,
        samples: &[Sample],
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        let s = self.running_step(action, step, ctx)?;
        let Some(run) = self.batch.running.as_ref() else {
            return Err(self.state(action, format!("step `{step}` is not running")));
        };
        if !run.equipment.values().any(|e| e == device) {
            return Err(invalid(
                "device",
                format!("device `{device}` was not scanned for step `{step}`"),
            ));
        }
        if let Some(a) = address {
            check_text("address", a, MAX_ID, true)?;
        }
        let field = qualified_field(field);
        if let Some(seq) = run.values.get(&field) {
            return Err(invalid(
                "field",
                format!(
                    "{field} of step `{step}` was recorded as a single value in entry {seq}; it cannot become a series"
                ),
            ));
        }
        let spec = spec_of(s, &field)?;
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return Err(invalid(
                "samples",
                "a series block needs at least one sample",
            ));
        };
        if samples.len() > MAX_SERIES_SAMPLES {
            return Err(invalid(
                "samples",
                format!(
                    "{} samples; a block holds at most {MAX_SERIES_SAMPLES}",
                    samples.len()
                ),
            ));
        }
        check_value(spec, &field, first.value, unit)?;
        let state = run.series.get(&field).cloned();
        check_sample_times(&field, samples, state.as_ref().map(|st| st.last_ms))?;
        let span = last.time_ms - first.time_ms;
        if span > MAX_SERIES_SPAN_MS {
            return Err(invalid(
                "samples",
                format!("the block spans {span} ms; a block spans at most one day"),
            ));
        }
        // The unit was checked above: it parses and has the spec's dimension.
        let u = Unit::parse(unit).unwrap_or_else(|| spec.unit.clone());
        let sum = summarize(
            samples,
            spec,
            &u,
            state.as_ref().is_some_and(|st| st.outside),
        );
        let block = state.as_ref().map_or(1, |st| st.blocks + 1);
        let count = u32::try_from(samples.len()).unwrap_or(u32::MAX);
        self.push(
            by,
            Body::Series(SeriesBlock {
                step: step.to_string(),
                field: field.clone(),
                unit: unit.to_string(),
                device: device.to_string(),
                address: address.clone(),
                block,
                first_ms: first.time_ms,
                last_ms: last.time_ms,
                count,
                min: sum.min,
                max: sum.max,
                mean: sum.sum / samples.len() as f64,
                outside: sum.outside,
                ends_outside: sum.ends_outside,
                offsets_ms: samples
                    .iter()
                    .map(|x| u32::try_from(x.time_ms - first.time_ms).unwrap_or(u32::MAX))
                    .collect(),
                values: samples.iter().map(|x| x.value).collect(),
            }),
        );
        for i in sum.starts {
            let x = samples[i];
            self.deviate(
                by,
                DeviationKind::OutOfRange,
                Some(step),
                &field,
                spec.to_string(),
                format!(
                    "{} from device time {} (series block {block}, sample {}; one deviation for the whole excursion)",
                    recipe::quantity::Quantity {
                        value: x.value,
                        unit: u.clone()
                    },
                    fmt_ms(x.time_ms),
                    i + 1
                ),
                false,
            );
        }
        Ok(())
    }

    fn range_deviation(
        &mut self,
        by: &Person,
        step: &str,
        field: &str,
        spec: &ParamSpec,
        value: f64,
        unit: &str,
    ) {
        let Some(u) = Unit::parse(unit) else { return };
        if !spec.accepts(value, &u) {
            self.deviate(
                by,
                DeviationKind::OutOfRange,
                Some(step),
                field,
                spec.to_string(),
                recipe::quantity::Quantity { value, unit: u }.to_string(),
                false,
            );
        }
    }

    fn check_lot(
        &mut self,
        by: &Person,
        step: &str,
        material: &str,
        lot: &str,
        expiry: Option<Date>,
        ctx: &Ctx,
    ) -> Result<LotEntry, Refusal> {
        check_id("lot", lot)?;
        let role = ctx
            .recipe
            .materials
            .iter()
            .find(|m| m.id == material)
            .map(|m| m.role);
        if role == Some(MaterialRole::Starting) {
            // The patient's own material: its "lot" is the donation number.
            let din = Din::parse(lot);
            if !din.as_ref().is_ok_and(|d| *d == self.batch.order.din) {
                let n = self.deviate(
                    by,
                    DeviationKind::IdentityMismatch,
                    Some(step),
                    &format!("materials.{material}"),
                    self.batch.order.din.to_string(),
                    lot.to_string(),
                    true,
                );
                return Err(Refusal::Blocked {
                    field: "lot".into(),
                    message: format!(
                        "starting material `{lot}` is not this patient's donation {}",
                        self.batch.order.din
                    ),
                    deviation: n,
                });
            }
        }
        let expiry = if !ctx.lots.is_kept() || role == Some(MaterialRole::Starting) {
            expiry
                .ok_or_else(|| invalid("expiry", format!("give the expiry date of lot `{lot}`")))?
        } else {
            // lot numbers are per material; a number known only for another material is
            // named as such
            let known = ctx
                .lots
                .lots
                .iter()
                .find(|k| k.lot == lot && k.material == material)
                .or_else(|| ctx.lots.lots.iter().find(|k| k.lot == lot));
            let known = known.ok_or_else(|| {
                invalid(
                    "lot",
                    format!("lot `{lot}` is not in the plant's lot register"),
                )
            })?;
            if known.material != material {
                return Err(invalid(
                    "lot",
                    format!("lot `{lot}` is {}, not {material}", known.material),
                ));
            }
            if let Some(e) = expiry
                && e != known.expiry
            {
                return Err(invalid(
                    "expiry",
                    format!(
                        "lot `{lot}` expires on {} according to the lot register, not {e}",
                        known.expiry
                    ),
                ));
            }
            if known.status != LotStatus::Released {
                let status = match known.status {
                    LotStatus::Quarantine => "in quarantine",
                    _ => "rejected",
                };
                return Err(self.lot_blocked(
                    by,
                    step,
                    material,
                    "a released lot".into(),
                    format!("lot {lot} {status}"),
                    format!("lot `{lot}` is {status}"),
                ));
            }
            known.expiry
        };
        if expiry < self.now.date() {
            return Err(self.lot_blocked(
                by,
                step,
                material,
                format!("a lot usable on {}", self.now.date()),
                format!("lot {lot} expired on {expiry}"),
                format!("lot `{lot}` expired on {expiry}"),
            ));
        }
        Ok(LotEntry {
            step: step.to_string(),
            material: material.to_string(),
            lot: lot.to_string(),
            expiry,
        })
    }

    /// A lot the step may not use: a material deviation (`expected`, `actual`) and the
    /// refusal, with `message`, that blocks the lot.
    fn lot_blocked(
        &mut self,
        by: &Person,
        step: &str,
        material: &str,
        expected: String,
        actual: String,
        message: String,
    ) -> Refusal {
        let n = self.deviate(
            by,
            DeviationKind::Material,
            Some(step),
            &format!("materials.{material}"),
            expected,
            actual,
            false,
        );
        Refusal::Blocked {
            field: "lot".into(),
            message,
            deviation: n,
        }
    }

    fn complete_step(
        &mut self,
        by: &Person,
        actor: &Actor,
        step_id: &str,
        measures: &BTreeMap<String, f64>,
        failed: Option<&str>,
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        let step = self.running_step("complete step", step_id, ctx)?;
        let Some(run) = self.batch.running.clone() else {
            return Err(self.state("complete step", "no step is running"));
        };
        check_measures(step, step_id, measures, failed)?;
        let missing = if failed.is_none() {
            self.missing_entries(step, step_id, &run)
        } else {
            Vec::new()
        };
        for (field, expected) in missing {
            self.deviate(
                by,
                DeviationKind::Missing,
                Some(step_id),
                &field,
                expected,
                "not recorded".into(),
                false,
            );
        }
        self.duration_deviation(by, step, step_id, &run, failed);
        let end = self.decide(by, step, step_id, measures, failed);
        let done = self.push(
            by,
            Body::StepCompleted(StepCompleted {
                step: step_id.to_string(),
                attempt: run.attempt,
                failed: failed.map(str::to_string),
            }),
        );
        let hash = self.batch.head_hash().to_string();
        self.push(
            by,
            Body::Signature(Signature {
                meaning: Meaning::Performed,
                target: done,
                target_hash: hash,
                name: actor.name.clone(),
            }),
        );
        if let Some(c @ (Consequence::Lost | Consequence::Remanufacture)) = end {
            self.push(
                by,
                Body::Terminated(Termination {
                    reason: format!(
                        "step `{step_id}`: {}",
                        if failed.is_some() {
                            "run failed"
                        } else {
                            "in-process decision"
                        }
                    ),
                    consequence: c,
                }),
            );
        }
        Ok(())
    }

    /// The entries the running step lacks at its completion: parameters and environment
    /// values (single or series), lots and equipment scans; each with what was expected.
    fn missing_entries(&self, step: &Step, step_id: &str, run: &Running) -> Vec<(String, String)> {
        let mut missing: Vec<(String, String)> = Vec::new();
        for (name, spec) in &step.parameters {
            let f = format!("parameters.{name}");
            if !run.values.contains_key(&f) && !run.series.contains_key(&f) {
                missing.push((f, spec.to_string()));
            }
        }
        for (name, spec) in &step.environment.limits {
            let f = format!("environment.{name}");
            if !run.values.contains_key(&f) && !run.series.contains_key(&f) {
                missing.push((f, spec.to_string()));
            }
        }
        for m in &step.materials {
            if !run.lots.contains_key(&m.material) {
                missing.push((format!("materials.{}", m.material), "a lot".into()));
            }
        }
        for r in &step.requires {
            if !run.equipment.contains_key(&r.name) {
                missing.push((
                    format!("equipment.{}", r.name),
                    self.batch.bound(step_id, &r.name).unwrap_or("").to_string(),
                ));
            }
        }
        missing
    }

    /// A step that ran longer than its maximum (unless the overrun was raised while it ran)
    /// or, when it did not fail, shorter than its minimum, is a deviation.
    fn duration_deviation(
        &mut self,
        by: &Person,
        step: &Step,
        step_id: &str,
        run: &Running,
        failed: Option<&str>,
    ) {
        let hours = run.started.hours_until(self.now);
        let shown = fmt_num((hours * 100.0).round() / 100.0);
        if hours > step.duration.max_h + 1e-9 && !run.overrun_raised {
            self.deviate(
                by,
                DeviationKind::Late,
                Some(step_id),
                "duration",
                format!("at most {} h", fmt_num(step.duration.max_h)),
                format!("{shown} h"),
                false,
            );
        } else if failed.is_none() && hours + 1e-9 < step.duration.min_h {
            self.deviate(
                by,
                DeviationKind::Early,
                Some(step_id),
                "duration",
                format!("at least {} h", fmt_num(step.duration.min_h)),
                format!("{shown} h"),
                false,
            );
        }
    }

    /// The step's decisions: a failed run is a deviation and decides by the step's failure
    /// consequence (repeat when it names none); otherwise each in-process decision is
    /// recorded. Answers the first consequence triggered.
    fn decide(
        &mut self,
        by: &Person,
        step: &Step,
        step_id: &str,
        measures: &BTreeMap<String, f64>,
        failed: Option<&str>,
    ) -> Option<Consequence> {
        let mut end: Option<Consequence> = None;
        if let Some(reason) = failed {
            self.deviate(
                by,
                DeviationKind::Failure,
                Some(step_id),
                "run",
                "a successful run".into(),
                reason.to_string(),
                false,
            );
            let then = step
                .failure
                .as_ref()
                .map_or(Consequence::Repeat, |f| f.consequence.clone());
            self.push(
                by,
                Body::Decision(DecisionEntry {
                    step: step_id.to_string(),
                    measure: "failure".into(),
                    value: 1.0,
                    triggered: true,
                    then: Some(then.clone()),
                }),
            );
            end = Some(then);
        } else {
            for d in &step.decision {
                let v = measures.get(&d.measure).copied().unwrap_or(f64::NAN);
                let triggered = d.below.is_some_and(|b| v < b) || d.above.is_some_and(|a| v > a);
                self.push(
                    by,
                    Body::Decision(DecisionEntry {
                        step: step_id.to_string(),
                        measure: d.measure.clone(),
                        value: v,
                        triggered,
                        then: triggered.then(|| d.then.clone()),
                    }),
                );
                if triggered && end.is_none() {
                    end = Some(d.then.clone());
                }
            }
        }
        end
    }

    fn correct(
        &mut self,
        by: &Person,
        corrects: u64,
        reason: &str,
        new: &Corrected,
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        if self.batch.stage.disposed() {
            return Err(self.state("correct", "the batch was already disposed"));
        }
        check_text("reason", reason, MAX_TEXT, true)?;
        // Find the original value or lot behind `corrects` (following earlier corrections).
        let mut target = corrects;
        let original = loop {
            let e = self.entry_at("corrects", target, corrects)?;
            match &e.body {
                Body::Correction(c) => target = c.corrects,
                Body::Value(_) | Body::Lot(_) => break e.body.clone(),
                other => {
                    return Err(invalid(
                        "corrects",
                        format!(
                            "entry {corrects} is a {} entry; only values and lots can be corrected",
                            other.kind()
                        ),
                    ));
                }
            }
        };
        let body = match (original, new) {
            (Body::Value(v), Corrected::Value { value, unit }) => {
                let step = ctx.recipe.step(&v.step).ok_or_else(|| {
                    invalid("corrects", format!("recipe has no step `{}`", v.step))
                })?;
                let spec = spec_of(step, &v.field)?;
                check_value(spec, &v.field, *value, unit)?;
                if *value == v.value && *unit == v.unit {
                    return Err(invalid("new.value", "the correction repeats the value"));
                }
                let nv = Value {
                    value: *value,
                    unit: unit.clone(),
                    source: Source::Manual,
                    ..v.clone()
                };
                self.push_correction(by, corrects, reason, Body::Value(nv));
                self.range_deviation(by, &v.step, &v.field, spec, *value, unit);
                return Ok(());
            }
            (Body::Lot(l), Corrected::Lot { lot, expiry }) => {
                let entry = self.check_lot(by, &l.step, &l.material, lot, *expiry, ctx)?;
                Body::Lot(entry)
            }
            (Body::Value(_), _) => {
                return Err(invalid("new.kind", format!("entry {corrects} is a value")));
            }
            _ => return Err(invalid("new.kind", format!("entry {corrects} is a lot"))),
        };
        self.push_correction(by, corrects, reason, body);
        Ok(())
    }

    /// Entry `seq` of the batch (numbered from 1); a refusal naming `asked` (the number the
    /// request gave, which may have led to `seq`) for `field` when there is none.
    fn entry_at(&self, field: &'static str, seq: u64, asked: u64) -> Result<&Entry, Refusal> {
        seq.checked_sub(1)
            .and_then(|i| self.batch.entries.get(usize::try_from(i).ok()?))
            .ok_or_else(|| {
                invalid(
                    field,
                    format!("batch {} has no entry {asked}", self.batch.id),
                )
            })
    }

    fn push_correction(&mut self, by: &Person, corrects: u64, reason: &str, new: Body) {
        self.push(
            by,
            Body::Correction(crate::entry::Correction {
                corrects,
                reason: reason.to_string(),
                new: Box::new(new),
            }),
        );
    }

    fn sign(
        &mut self,
        by: &Person,
        target: u64,
        target_hash: &str,
        meaning: Meaning,
    ) -> Result<(), Refusal> {
        let e = self.entry_at("target", target, target)?;
        if e.hash != target_hash {
            return Err(invalid(
                "target_hash",
                format!(
                    "entry {target} has hash {}, not {target_hash}: sign what is stored",
                    e.hash
                ),
            ));
        }
        // A review may sign the head whatever it is (its hash covers the whole record);
        // performed and verified sign work, not other signatures.
        if meaning != Meaning::Reviewed && matches!(e.body, Body::Signature(_)) {
            return Err(invalid(
                "target",
                format!("entry {target} is itself a signature"),
            ));
        }
        if meaning == Meaning::Verified && e.by.user == by.user {
            return Err(invalid(
                "target",
                format!(
                    "entry {target} was made by {}; a second person must verify it",
                    by.user
                ),
            ));
        }
        let dup = self.batch.entries.iter().any(|x| {
            matches!(&x.body, Body::Signature(s) if s.target == target && s.meaning == meaning)
                && x.by.user == by.user
        });
        if dup {
            return Err(invalid(
                "target",
                format!("{} already signed entry {target} as {meaning}", by.user),
            ));
        }
        self.push(
            by,
            Body::Signature(Signature {
                meaning,
                target,
                target_hash: target_hash.to_string(),
                name: by.name.clone(),
            }),
        );
        Ok(())
    }

    fn dispose(
        &mut self,
        by: &Person,
        decision: DispositionDecision,
        reason: &str,
    ) -> Result<(), Refusal> {
        if self.batch.stage != Stage::AwaitingDisposition {
            return Err(self.state("dispose", "every step before shipping must be completed"));
        }
        check_text("reason", reason, MAX_TEXT, true)?;
        if self.batch.performers.contains(&by.user) {
            return Err(Refusal::FourEyes(by.user.clone()));
        }
        if decision != DispositionDecision::Reject {
            let open = self.batch.unassessed();
            if !open.is_empty() {
                return Err(invalid(
                    "decision",
                    format!(
                        "QA has not assessed deviation(s) {}",
                        open.iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if self.batch.reviewed_through < self.batch.last_substantive {
                return Err(invalid(
                    "decision",
                    format!(
                        "QA's review signature must cover the record through entry {} (it covers {})",
                        self.batch.last_substantive, self.batch.reviewed_through
                    ),
                ));
            }
            let n = self.batch.deviations.len();
            if decision == DispositionDecision::Release && n > 0 {
                return Err(invalid(
                    "decision",
                    format!("the batch has {n} deviation(s): release with deviation or reject"),
                ));
            }
            if decision == DispositionDecision::ReleaseWithDeviation && n == 0 {
                return Err(invalid(
                    "decision",
                    "the batch has no deviation: release without one",
                ));
            }
        }
        let seq = self.push(
            by,
            Body::Disposition(Disposition {
                decision,
                reason: reason.to_string(),
            }),
        );
        let hash = self.batch.head_hash().to_string();
        self.push(
            by,
            Body::Signature(Signature {
                meaning: Meaning::Released,
                target: seq,
                target_hash: hash,
                name: by.name.clone(),
            }),
        );
        Ok(())
    }

    fn watch(&mut self, by: &Person, ctx: &Ctx) {
        if let Some(run) = self.batch.running.clone()
            && !run.overrun_raised
            && let Some(step) = ctx.recipe.step(&run.step)
        {
            let hours = run.started.hours_until(self.now);
            if hours > step.duration.max_h + 1e-9 {
                self.deviate(
                    by,
                    DeviationKind::Late,
                    Some(&run.step),
                    "duration",
                    format!("at most {} h", fmt_num(step.duration.max_h)),
                    format!(
                        "still running after {} h",
                        fmt_num((hours * 100.0).round() / 100.0)
                    ),
                    false,
                );
            }
        }
        self.hold_check(by, ctx, None);
    }
}

/// The names, comma-separated, for a refusal that lists what there is.
fn listed<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// A recorded field's full name: a bare name is a process parameter (`parameters.<name>`).
fn qualified_field(field: &str) -> String {
    if field.contains('.') {
        field.to_string()
    } else {
        format!("parameters.{field}")
    }
}

/// Checks the samples of a series block: finite values, source times within 1970..9999,
/// each after the one before (the first after `prev_ms`, the last sample of the block before).
fn check_sample_times(
    field: &str,
    samples: &[Sample],
    prev_ms: Option<i64>,
) -> Result<(), Refusal> {
    let mut prev_ms = prev_ms;
    for (i, x) in samples.iter().enumerate() {
        if !x.value.is_finite() {
            return Err(invalid(
                format!("samples[{i}].value"),
                format!("{field} must be a finite number"),
            ));
        }
        if !(0..=MAX_TIME_MS).contains(&x.time_ms) {
            return Err(invalid(
                format!("samples[{i}].time_ms"),
                format!(
                    "{} is not a time between 1970 and 9999 in milliseconds",
                    x.time_ms
                ),
            ));
        }
        if let Some(p) = prev_ms
            && x.time_ms <= p
        {
            return Err(invalid(
                format!("samples[{i}].time_ms"),
                format!(
                    "{} is not after the previous sample ({}); samples come in source-time order, each block after the last",
                    fmt_ms(x.time_ms),
                    fmt_ms(p)
                ),
            ));
        }
        prev_ms = Some(x.time_ms);
    }
    Ok(())
}

/// What a series block's summary holds, and where its excursions start.
struct SeriesSummary {
    min: f64,
    max: f64,
    sum: f64,
    /// Samples outside the range.
    outside: u32,
    /// The last sample is outside the range (the excursion stays open).
    ends_outside: bool,
    /// Indices of the samples where an excursion starts (not one carried over from the block
    /// before).
    starts: Vec<usize>,
}

/// Sums up a series block against the spec; `was_outside`: the block before ended outside.
fn summarize(samples: &[Sample], spec: &ParamSpec, u: &Unit, was_outside: bool) -> SeriesSummary {
    let mut was_outside = was_outside;
    let mut starts = Vec::new();
    let (mut min, mut max, mut sum, mut outside) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0);
    for (i, x) in samples.iter().enumerate() {
        min = min.min(x.value);
        max = max.max(x.value);
        sum += x.value;
        let out = !spec.accepts(x.value, u);
        if out {
            outside += 1;
            if !was_outside {
                starts.push(i);
            }
        }
        was_outside = out;
    }
    SeriesSummary {
        min,
        max,
        sum,
        outside,
        ends_outside: was_outside,
        starts,
    }
}

fn spec_of<'s>(step: &'s Step, field: &str) -> Result<&'s ParamSpec, Refusal> {
    let known = || {
        step.parameters
            .keys()
            .map(|k| format!("parameters.{k}"))
            .chain(
                step.environment
                    .limits
                    .keys()
                    .map(|k| format!("environment.{k}")),
            )
            .collect::<Vec<_>>()
            .join(", ")
    };
    let spec = if let Some(p) = field.strip_prefix("parameters.") {
        step.parameters.get(p)
    } else if let Some(p) = field.strip_prefix("environment.") {
        step.environment.limits.get(p)
    } else {
        None
    };
    spec.ok_or_else(|| {
        let k = known();
        invalid(
            "field",
            format!(
                "step `{}` records no `{field}`; it records {}",
                step.id,
                if k.is_empty() {
                    "no values".to_string()
                } else {
                    k
                }
            ),
        )
    })
}

fn check_value(spec: &ParamSpec, field: &str, value: f64, unit: &str) -> Result<(), Refusal> {
    if !value.is_finite() {
        return Err(invalid("value", format!("{field} must be a finite number")));
    }
    let u = Unit::parse(unit).ok_or_else(|| {
        invalid(
            "unit",
            format!(
                "unknown unit `{unit}`; known units: {}",
                Unit::all_symbols().join(", ")
            ),
        )
    })?;
    if u.dimension != spec.unit.dimension {
        return Err(invalid(
            "unit",
            format!(
                "{field} is a {} (e.g. {}), not a {} (`{unit}`)",
                spec.unit.dimension, spec.unit.symbol, u.dimension
            ),
        ));
    }
    Ok(())
}

/// Estimated memory of one record entry apart from series samples, in bytes. ASSUMPTION:
/// measured with `crates/store/examples/device_stream.rs` (docs/benchmarks.md "Device stream"):
/// about 1.1 KiB an entry of a ten-sample block and 8 KiB of a 600-sample block.
pub const ENTRY_MEMORY: usize = 1024;

fn entry_memory(e: &Entry) -> usize {
    let samples = match &e.body {
        Body::Series(b) => b.values.len(),
        _ => 0,
    };
    ENTRY_MEMORY + 12 * samples
}

/// Apply counter increments to an inventory (what the store does after a scan).
pub fn apply_counter_uses<'a>(
    inventory: &mut Inventory,
    entries: impl IntoIterator<Item = &'a Entry>,
) {
    for e in entries {
        if let Body::EquipmentUsed(u) = &e.body
            && let Some(eq) = inventory.equipment.iter_mut().find(|x| x.id == u.equipment)
        {
            for c in &u.counters {
                if let Some(k) = eq.counters.iter_mut().find(|k| k.name == c.counter) {
                    k.used = k.used.max(c.after);
                }
            }
        }
    }
}
