//! Entries of the electronic batch record and their per-batch SHA-256 hash chain.
//!
//! Every fact about a batch is an append-only [`Entry`]. Entry `n`'s hash is the
//! SHA-256 of a fixed prefix and the canonical JSON of every other field of the
//! entry, including `prev`, the hash of entry `n − 1` (64 zeros for entry 1).
//! Changing, removing, inserting or reordering any stored entry therefore breaks
//! the chain at that entry, which [`verify_chain`] names. Corrections are new
//! entries that point at the corrected one; nothing is ever overwritten.

use std::collections::BTreeMap;
use std::fmt;

use recipe::{Date, DateTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::din::Din;
use crate::roles::{Meaning, Person};

/// The hash that precedes entry 1.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation for entry hashes (changes only with the entry format).
const HASH_PREFIX: &[u8] = b"atmpflow batch record entry v1\n";

/// One entry of a batch record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Batch id.
    pub batch: String,
    /// Position in the batch's chain, from 1.
    pub seq: u64,
    /// Server time (UTC) when it was recorded.
    pub at: DateTime,
    /// Who made it, in which role.
    pub by: Person,
    /// The client's idempotency key of the request that made it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// SHA-256 of that request's content, so a re-used key with other content is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What happened.
    pub body: Body,
    /// Hash of the previous entry ([`GENESIS`] for the first).
    pub prev: String,
    /// SHA-256 (hex) of this entry.
    pub hash: String,
}

#[derive(Serialize)]
struct Hashed<'a> {
    batch: &'a str,
    seq: u64,
    at: &'a DateTime,
    by: &'a Person,
    key: &'a Option<String>,
    request: &'a Option<String>,
    body: &'a Body,
    prev: &'a str,
}

/// Lower-case hex of a SHA-256 digest of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Entry {
    /// Build an entry and compute its hash.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        batch: &str,
        seq: u64,
        at: DateTime,
        by: Person,
        key: Option<String>,
        request: Option<String>,
        body: Body,
        prev: &str,
    ) -> Entry {
        let mut e = Entry {
            batch: batch.to_string(),
            seq,
            at,
            by,
            key,
            request,
            body,
            prev: prev.to_string(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    /// The hash this entry's content gives (compare with `hash`).
    pub fn compute_hash(&self) -> String {
        let view = Hashed {
            batch: &self.batch,
            seq: self.seq,
            at: &self.at,
            by: &self.by,
            key: &self.key,
            request: &self.request,
            body: &self.body,
            prev: &self.prev,
        };
        // Serialising plain data to a Vec cannot fail (no maps with non-string keys).
        let json = serde_json::to_vec(&view).unwrap_or_default();
        let mut bytes = HASH_PREFIX.to_vec();
        bytes.extend_from_slice(&json);
        sha256_hex(&bytes)
    }
}

/// Why a chain does not verify; names the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// An entry's content does not give its stored hash (it was changed).
    #[error("batch {batch} entry {seq}: content does not match its hash (the entry was altered)")]
    Altered {
        /// Batch id.
        batch: String,
        /// Entry number.
        seq: u64,
    },
    /// An entry does not point at the previous entry's hash.
    #[error(
        "batch {batch} entry {seq}: previous-hash link broken (an entry before it was altered, removed or inserted)"
    )]
    Link {
        /// Batch id.
        batch: String,
        /// Entry number.
        seq: u64,
    },
    /// Entry numbers are not 1, 2, 3, …
    #[error(
        "batch {batch}: entry {found} found where entry {expected} belongs (an entry was removed or inserted)"
    )]
    Gap {
        /// Batch id.
        batch: String,
        /// Expected number.
        expected: u64,
        /// Number found.
        found: u64,
    },
    /// An entry of another batch is in this chain.
    #[error("batch {batch} entry {seq}: belongs to batch {other}")]
    Foreign {
        /// Batch id.
        batch: String,
        /// Entry number.
        seq: u64,
        /// Batch named in the entry.
        other: String,
    },
    /// A signature does not match the entry it claims to sign.
    #[error(
        "batch {batch} entry {seq}: signature is bound to hash {claimed} but entry {target} has hash {actual}"
    )]
    Signature {
        /// Batch id.
        batch: String,
        /// The signature entry.
        seq: u64,
        /// The signed entry.
        target: u64,
        /// Hash the signature names.
        claimed: String,
        /// Hash the signed entry has.
        actual: String,
    },
    /// A batch without entries.
    #[error("batch {0} has no entries")]
    Empty(String),
}

impl ChainError {
    /// The entry number at fault, if one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ChainError::Altered { seq, .. }
            | ChainError::Link { seq, .. }
            | ChainError::Foreign { seq, .. }
            | ChainError::Signature { seq, .. } => Some(*seq),
            ChainError::Gap { expected, .. } => Some(*expected),
            ChainError::Empty(_) => None,
        }
    }
}

/// Checks that `e` is entry `expected` of `batch`, matches its own hash and links to `prev`
/// (the hash of the entry before it).
pub fn check_next(batch: &str, e: &Entry, expected: u64, prev: &str) -> Result<(), ChainError> {
    if e.seq != expected {
        return Err(ChainError::Gap {
            batch: batch.into(),
            expected,
            found: e.seq,
        });
    }
    if e.batch != batch {
        return Err(ChainError::Foreign {
            batch: batch.into(),
            seq: e.seq,
            other: e.batch.clone(),
        });
    }
    if e.compute_hash() != e.hash {
        return Err(ChainError::Altered {
            batch: batch.into(),
            seq: e.seq,
        });
    }
    if e.prev != prev {
        return Err(ChainError::Link {
            batch: batch.into(),
            seq: e.seq,
        });
    }
    Ok(())
}

/// Check one batch's entries (in stored order): numbering, batch, hashes, links and
/// that every signature is bound to the hash of the entry it signs. Returns the head
/// hash, or the first fault.
pub fn verify_chain(batch: &str, entries: &[Entry]) -> Result<String, ChainError> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        check_next(batch, e, i as u64 + 1, &prev)?;
        if let Body::Signature(s) = &e.body {
            let actual = s
                .target
                .checked_sub(1)
                .and_then(|i| entries.get(usize::try_from(i).ok()?))
                .filter(|_| s.target < e.seq)
                .map(|t| t.hash.clone())
                .unwrap_or_default();
            if actual != s.target_hash {
                return Err(ChainError::Signature {
                    batch: batch.into(),
                    seq: e.seq,
                    target: s.target,
                    claimed: s.target_hash.clone(),
                    actual,
                });
            }
        }
        prev = e.hash.clone();
    }
    if entries.is_empty() {
        return Err(ChainError::Empty(batch.into()));
    }
    Ok(prev)
}

// ---------------------------------------------------------------------------
// Entry bodies
// ---------------------------------------------------------------------------

/// What an entry records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// The batch was ordered and its control recipe bound (entry 1).
    Ordered(Order),
    /// A chain-of-identity scan at a hand-off (custody log).
    Custody(Custody),
    /// A step (attempt) started.
    StepStarted(StepStarted),
    /// Equipment scanned for a requirement of the running step, with counter uses.
    EquipmentUsed(EquipmentUsed),
    /// A process parameter, environment or QC value.
    Value(Value),
    /// A material lot used.
    Lot(LotEntry),
    /// An in-process decision taken from a measured value.
    Decision(DecisionEntry),
    /// The running step ended.
    StepCompleted(StepCompleted),
    /// A deviation was raised.
    Deviation(DeviationEntry),
    /// QA assessed a deviation.
    Assessment(Assessment),
    /// A correction of an earlier value or lot entry.
    Correction(Correction),
    /// An electronic signature bound to an entry's hash.
    Signature(Signature),
    /// The qualified person's disposition.
    Disposition(Disposition),
    /// The clinic confirmed the infusion.
    Infused(Infusion),
    /// The batch was ended before completion (lost, to be remanufactured).
    Terminated(Termination),
    /// A device event during a step (retry, lost connection, bad value, program state).
    DeviceEvent(DeviceEvent),
    /// A block of samples of a monitored series a device streams during a step.
    Series(SeriesBlock),
}

impl Body {
    /// A short word for the entry kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Ordered(_) => "ordered",
            Body::Custody(_) => "custody",
            Body::StepStarted(_) => "step_started",
            Body::EquipmentUsed(_) => "equipment_used",
            Body::Value(_) => "value",
            Body::Lot(_) => "lot",
            Body::Decision(_) => "decision",
            Body::StepCompleted(_) => "step_completed",
            Body::Deviation(_) => "deviation",
            Body::Assessment(_) => "assessment",
            Body::Correction(_) => "correction",
            Body::Signature(_) => "signature",
            Body::Disposition(_) => "disposition",
            Body::Infused(_) => "infused",
            Body::Terminated(_) => "terminated",
            Body::DeviceEvent(_) => "device_event",
            Body::Series(_) => "series",
        }
    }
}

/// The recipe a batch runs, pinned by the SHA-256 of its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeRef {
    /// Procedure id.
    pub id: String,
    /// Version text.
    pub version: String,
    /// SHA-256 (hex) of the recipe file the batch runs.
    pub sha256: String,
}

/// One level-3 assignment: the equipment bound to a requirement of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bound {
    /// Step id.
    pub step: String,
    /// Requirement name within the step.
    pub requirement: String,
    /// Equipment id.
    pub equipment: String,
}

/// A batch order with its control recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// Patient pseudonym (never the name).
    pub patient: String,
    /// Chain-of-identity id printed on every label.
    pub coi: String,
    /// Donation identification number of the apheresis.
    pub din: Din,
    /// Product.
    pub product: String,
    /// Recipe.
    pub recipe: RecipeRef,
    /// Planned start from the scheduler.
    pub planned_start: DateTime,
    /// Date the binding was made for.
    pub bound_on: Date,
    /// The control recipe's equipment (level 3).
    pub equipment: Vec<Bound>,
    /// The step that hands the product to the clinic: it may start only after release.
    pub ship_step: String,
}

/// Where a hand-off happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandOff {
    /// The apheresis product arrives at the plant.
    ApheresisReceipt,
    /// The material moves into a step (container, cassette, module).
    Transfer,
    /// The product is filled into its final bag.
    Fill,
    /// The bag goes into the controlled-rate freezer.
    Cryo,
    /// The product leaves the plant.
    Shipping,
    /// The product arrives at the treating clinic.
    ClinicReceipt,
}

impl fmt::Display for HandOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandOff::ApheresisReceipt => "apheresis receipt",
            HandOff::Transfer => "transfer",
            HandOff::Fill => "fill",
            HandOff::Cryo => "cryopreservation",
            HandOff::Shipping => "shipping",
            HandOff::ClinicReceipt => "receipt at the clinic",
        })
    }
}

/// What a label scan read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// Chain-of-identity id on the label.
    pub coi: String,
    /// DIN on the label, as scanned (validated when checked).
    pub din: String,
}

/// A custody-log entry: one scan at a hand-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custody {
    /// Hand-off point.
    pub point: HandOff,
    /// Step the hand-off belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Where (room, module, clinic).
    pub location: String,
    /// What was scanned.
    pub scanned: Label,
    /// Whether it matched the batch.
    pub matched: bool,
}

/// A step attempt started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepStarted {
    /// Step id.
    pub step: String,
    /// Attempt number (1 unless the step is repeated).
    pub attempt: u32,
}

/// One usage-counter increment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterUse {
    /// Counter name.
    pub counter: String,
    /// Uses consumed.
    pub uses: u64,
    /// Count before.
    pub before: u64,
    /// Count after.
    pub after: u64,
    /// Maximum.
    pub max: u64,
}

/// Equipment scanned for a requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquipmentUsed {
    /// Step id.
    pub step: String,
    /// Requirement name.
    pub requirement: String,
    /// Equipment id scanned.
    pub equipment: String,
    /// Qualification state on the day of use.
    pub qualification: String,
    /// Counter increments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<CounterUse>,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Entered by a person.
    Manual,
    /// Written by a device adapter.
    Device {
        /// Equipment id of the device.
        device: String,
        /// When the device measured the value (its source timestamp), if it reports one.
        /// Absent in records written before devices reported it (the hash stays as written).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_time: Option<DateTime>,
        /// Where on the device the value was read (e.g. an OPC UA node id), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
}

impl Source {
    /// A device source without a source timestamp or address.
    pub fn device(id: &str) -> Source {
        Source::Device {
            device: id.to_string(),
            source_time: None,
            address: None,
        }
    }
}

/// What happened on a device connection during a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceEventKind {
    /// The connection dropped and the adapter tried again (recorded, no deviation).
    Retry,
    /// The device stayed unreachable after the retries (a deviation).
    Lost,
    /// The device reported a value with a bad status code: refused, not recorded as a value
    /// (a deviation).
    BadValue,
    /// The device's program was started, changed state or ended (for the record).
    Program,
}

impl fmt::Display for DeviceEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceEventKind::Retry => "retry",
            DeviceEventKind::Lost => "connection lost",
            DeviceEventKind::BadValue => "bad value",
            DeviceEventKind::Program => "program",
        })
    }
}

/// A device event during a step, attributable to the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEvent {
    /// Step id.
    pub step: String,
    /// Equipment id of the device.
    pub device: String,
    /// What happened.
    pub event: DeviceEventKind,
    /// The device's or the adapter's words (status code, error, program state).
    pub detail: String,
    /// Field of a bad value (`parameters.NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The refused value as the device sent it, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The device's timestamp of the event, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_time: Option<DateTime>,
}

/// A recorded value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Value {
    /// Step id.
    pub step: String,
    /// `parameters.NAME` or `environment.NAME`.
    pub field: String,
    /// The value in `unit`.
    pub value: f64,
    /// Unit symbol.
    pub unit: String,
    /// Where it came from.
    pub source: Source,
}

/// One block of samples of a monitored series: a value a device streams during a step
/// (a bioreactor's pH every 100 ms). The samples themselves are in the entry, so the hash
/// chain covers every one of them; the summary (count, min, max, mean, samples outside the
/// range) is the engine's, computed from the samples when the block was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesBlock {
    /// Step id.
    pub step: String,
    /// `parameters.NAME` or `environment.NAME`.
    pub field: String,
    /// Unit symbol of every sample.
    pub unit: String,
    /// Equipment id of the device (scanned for the step).
    pub device: String,
    /// Where on the device the series is read (e.g. an OPC UA node id), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Block number within this step's series of this field, from 1.
    pub block: u32,
    /// Device (source) time of the first sample, milliseconds since 1970-01-01T00:00:00Z.
    pub first_ms: i64,
    /// Device (source) time of the last sample, milliseconds since 1970-01-01T00:00:00Z.
    pub last_ms: i64,
    /// Number of samples.
    pub count: u32,
    /// Lowest sample.
    pub min: f64,
    /// Highest sample.
    pub max: f64,
    /// Mean of the samples.
    pub mean: f64,
    /// Samples outside the allowed range.
    pub outside: u32,
    /// The last sample is outside the range (the excursion goes on into the next block).
    pub ends_outside: bool,
    /// Each sample's source time as milliseconds after `first_ms`.
    pub offsets_ms: Vec<u32>,
    /// Each sample's value, in `unit`.
    pub values: Vec<f64>,
}

/// A time in milliseconds since the epoch as RFC 3339 with milliseconds
/// (`2026-12-03T10:15:00.200Z`).
pub fn fmt_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let t = DateTime::from_unix_seconds(secs).to_string();
    match t.strip_suffix('Z') {
        Some(head) => format!("{head}.{milli:03}Z"),
        None => t,
    }
}

/// A material lot used by a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotEntry {
    /// Step id.
    pub step: String,
    /// Material id.
    pub material: String,
    /// Lot number.
    pub lot: String,
    /// Expiry date of the lot.
    pub expiry: Date,
}

/// An in-process decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionEntry {
    /// Step id.
    pub step: String,
    /// What was measured.
    pub measure: String,
    /// Measured value.
    pub value: f64,
    /// Whether the threshold was crossed.
    pub triggered: bool,
    /// The consequence that applies (when triggered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<model::scenario::Consequence>,
}

/// A step attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepCompleted {
    /// Step id.
    pub step: String,
    /// Attempt number.
    pub attempt: u32,
    /// Why the run failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Kinds of deviation raised during execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviationKind {
    /// A value outside its range.
    OutOfRange,
    /// A step overran its maximum duration or a hold time was exceeded.
    Late,
    /// A step ended before its minimum duration.
    Early,
    /// Equipment other than the bound one was scanned.
    WrongEquipment,
    /// Equipment not qualified on the day of use.
    Unqualified,
    /// A usage counter at its limit.
    CounterLimit,
    /// A label did not match the batch's chain of identity.
    IdentityMismatch,
    /// An entry the recipe asks for was not made.
    Missing,
    /// An expired, unknown or wrong material lot.
    Material,
    /// A step run failed.
    Failure,
    /// A device fault: lost connection or a value with a bad status code.
    Device,
    /// Reported by a person (an observation the engine cannot make itself).
    Reported,
}

impl fmt::Display for DeviationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviationKind::OutOfRange => "out of range",
            DeviationKind::Late => "late / hold time",
            DeviationKind::Early => "early",
            DeviationKind::WrongEquipment => "wrong equipment",
            DeviationKind::Unqualified => "unqualified equipment",
            DeviationKind::CounterLimit => "counter limit",
            DeviationKind::IdentityMismatch => "identity mismatch",
            DeviationKind::Missing => "missing entry",
            DeviationKind::Material => "material",
            DeviationKind::Failure => "step failure",
            DeviationKind::Device => "device fault",
            DeviationKind::Reported => "reported by a person",
        })
    }
}

/// A deviation raised by the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviationEntry {
    /// Deviation number within the batch (1, 2, …).
    pub number: u32,
    /// Kind.
    pub kind: DeviationKind,
    /// Step, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Field, e.g. `parameters.rcf`, `equipment.centrifugation`, `label.din`, `hold`.
    pub field: String,
    /// What the recipe or the batch asks for.
    pub expected: String,
    /// What happened.
    pub actual: String,
    /// Raised as critical (identity mismatches): QA cannot classify it lower.
    pub critical: bool,
}

/// QA's classification of a deviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// No impact on quality.
    Minor,
    /// Possible impact; investigation and CAPA.
    Major,
    /// Impact on patient safety or product quality.
    Critical,
}

/// QA's assessment of a deviation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assessment {
    /// Deviation number.
    pub deviation: u32,
    /// Classification.
    pub classification: Classification,
    /// CAPA reference (required for major and critical).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capa: Option<String>,
    /// Rationale.
    pub rationale: String,
}

/// A correction: a new value or lot for an earlier entry, with a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// The entry corrected (a value, lot or an earlier correction of one).
    pub corrects: u64,
    /// Why (Annex 11 §9).
    pub reason: String,
    /// The corrected content (a value or a lot).
    pub new: Box<Body>,
}

/// An electronic signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Meaning.
    pub meaning: Meaning,
    /// Entry signed.
    pub target: u64,
    /// Hash of the entry signed (which covers every entry before it).
    pub target_hash: String,
    /// Printed name of the signer (manifestation; the entry's `by` names the user).
    pub name: String,
}

/// The qualified person's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispositionDecision {
    /// Released; no deviations.
    Release,
    /// Released with documented, assessed deviations.
    ReleaseWithDeviation,
    /// Rejected.
    Reject,
}

/// A disposition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disposition {
    /// Decision.
    pub decision: DispositionDecision,
    /// Justification.
    pub reason: String,
}

/// Infusion confirmation from the clinic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Infusion {
    /// Clinic.
    pub clinic: String,
    /// When the patient was infused.
    pub infused_at: DateTime,
}

/// The batch ended early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Termination {
    /// Why.
    pub reason: String,
    /// Consequence for the patient (`lost` or `remanufacture`).
    pub consequence: model::scenario::Consequence,
}

/// Entries of a record grouped by kind (for summaries).
pub fn count_kinds(entries: &[Entry]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for e in entries {
        *m.entry(e.body.kind()).or_insert(0) += 1;
    }
    m
}
