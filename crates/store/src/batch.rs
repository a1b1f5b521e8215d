//! Electronic batch records in the database (migration 200).
//!
//! A batch is stored as its append-only, hash-chained entries
//! (`batch_entries`), the exact recipe text it was ordered with
//! (`batch_recipes`, by SHA-256), one row per stored request
//! (`batch_requests`: idempotency key, SHA-256 of the request, the entries it
//! made and its outcome, hash-chained per batch too) and a head row
//! (`batches`: the order's identity, the stage, the head of both chains and a
//! version for optimistic concurrency). Every column outside the entries is
//! derived from them, so [`verify`] can name any row changed outside the
//! program.
//!
//! [`open`] and [`execute`] run inside the caller's [`Tx`]: the request is
//! checked by the pure `batch` engine against the state replayed from the
//! stored entries, and its entries, its request row, the new head and the
//! batch twin (shell and Batch Record submodel) are written in that one
//! transaction. A request whose idempotency key is already stored returns
//! the first outcome and writes nothing; a head update whose version is not
//! the one read is refused ([`BatchError::Stale`]), never lost. Nothing here
//! updates or deletes an entry, a request or a recipe, and the database
//! refuses it from anyone else (triggers).

use aas::model::{AssetAdministrationShell, Submodel};
use aas::twins::Twin;
use batch::entry::sha256_hex;
use batch::{Actor, Batch, Command, Ctx, Entry, LotRegister, NewOrder, Refusal, Request, Stage};
use recipe::bind::Binding;
use recipe::equipment::Inventory;
use recipe::{DateTime, Recipe};
use serde::{Deserialize, Serialize};

pub use crate::batch_cache::CAPACITY as CACHE_CAPACITY;
pub use crate::batch_cache::MEMORY_BUDGET as CACHE_MEMORY_BUDGET;
use crate::batch_cache::{Head, Kept};
pub use crate::batch_error::BatchError;
use crate::{Engine, Kind, Row, StoreError, Tx, Value, paging};

/// The hash before a batch's first request row.
const REQUEST_GENESIS: &str = batch::entry::GENESIS;
/// Domain separation of request-row hashes.
const REQUEST_PREFIX: &str = "atmpflow batch request v1\n";
/// Most batches one list call returns.
pub const MAX_PAGE: usize = 1000;

/// A refusal as stored with its request (so that a retry with the same key
/// gets the same answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredRefusal {
    /// Stable machine code ([`Refusal::code`]).
    pub code: String,
    /// The field at fault, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The message.
    pub message: String,
}

impl From<&Refusal> for StoredRefusal {
    fn from(r: &Refusal) -> Self {
        StoredRefusal {
            code: r.code().to_string(),
            field: r.field().map(str::to_string),
            message: r.to_string(),
        }
    }
}

/// How a stored request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum StoredOutcome {
    /// Accepted.
    Applied,
    /// Refused, but its entries (the scan and deviation of a blocked
    /// hand-off) are part of the record.
    Refused(StoredRefusal),
}

/// A batch as stored: its state replayed from the entries, its recipe and
/// the version of its head row.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The batch (every entry, and the state they imply).
    pub batch: Batch,
    /// The recipe it runs.
    pub recipe: Recipe,
    /// SHA-256 of the recipe text.
    pub recipe_sha256: String,
    /// Version of the head row (the number of stored requests).
    pub version: i64,
    requests_head: String,
}

impl Kept for Stored {
    fn id(&self) -> &str {
        self.batch.id()
    }

    fn version(&self) -> i64 {
        self.version
    }

    /// The head row this state belongs to.
    fn head(&self) -> Head {
        Head {
            version: self.version,
            head_seq: i64::try_from(self.batch.head_seq()).unwrap_or(i64::MAX),
            head_hash: self.batch.head_hash().to_string(),
            requests_head: self.requests_head.clone(),
            recipe_sha256: self.recipe_sha256.clone(),
        }
    }

    fn memory(&self) -> usize {
        self.batch.memory_estimate()
    }
}

impl Stored {
    /// The state after `entries` (made by a request on this state) were
    /// stored as request row `version` with the request hash
    /// `requests_head`: the entries applied to this state, which costs what
    /// they cost, not what the record costs (no copy of the record).
    fn advanced(
        mut self,
        entries: &[Entry],
        version: i64,
        requests_head: String,
    ) -> Result<Stored, BatchError> {
        let id = self.batch.id().to_string();
        self.batch
            .extend(entries)
            .map_err(|e| BatchError::corrupt(&id, e.to_string()))?;
        self.version = version;
        self.requests_head = requests_head;
        Ok(self)
    }
}

/// What a request did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Accepted: `entries` were appended (or, when `replayed`, had been
    /// appended by the first request with this key).
    Applied {
        batch: Box<Batch>,
        entries: Vec<Entry>,
        replayed: bool,
        version: i64,
    },
    /// Refused, with entries that belong to the record anyway (the custody
    /// scan and the deviation of a blocked hand-off); they were appended.
    Refused {
        batch: Box<Batch>,
        refusal: StoredRefusal,
        entries: Vec<Entry>,
        replayed: bool,
        version: i64,
    },
}

impl Outcome {
    /// The batch after the request.
    pub fn batch(&self) -> &Batch {
        match self {
            Outcome::Applied { batch, .. } | Outcome::Refused { batch, .. } => batch,
        }
    }
    /// The entries the request made.
    pub fn entries(&self) -> &[Entry] {
        match self {
            Outcome::Applied { entries, .. } | Outcome::Refused { entries, .. } => entries,
        }
    }
    /// Whether this repeated an earlier request (nothing new was stored).
    pub fn replayed(&self) -> bool {
        match self {
            Outcome::Applied { replayed, .. } | Outcome::Refused { replayed, .. } => *replayed,
        }
    }
    /// The head row's version after the request.
    pub fn version(&self) -> i64 {
        match self {
            Outcome::Applied { version, .. } | Outcome::Refused { version, .. } => *version,
        }
    }
}

/// One line of a batch list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub id: String,
    pub patient: String,
    pub coi: String,
    pub din: String,
    pub product: String,
    pub recipe_sha256: String,
    pub planned_start: String,
    pub stage: String,
    pub head_seq: i64,
    pub head_hash: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A stored row that does not agree with the record: which table, which row
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table} {row}: {message}")]
pub struct Finding {
    /// The table holding the bad row.
    pub table: &'static str,
    /// The batch it belongs to.
    pub batch: String,
    /// The row (`batch B entry 7`, `batch B request 3`, …).
    pub row: String,
    /// The entry number at fault, when the row is an entry.
    pub seq: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// What a verified batch holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub batch: String,
    pub entries: u64,
    pub signatures: u64,
    pub requests: u64,
    pub head: String,
    pub stage: Stage,
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

fn stage_word(s: Stage) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Db(format!("cannot serialise: {e}")))
}

/// The hash of a request row: SHA-256 of a fixed prefix and the canonical
/// JSON of its fields including the previous row's hash.
#[allow(clippy::too_many_arguments)]
fn request_hash(
    batch: &str,
    n: i64,
    key: Option<&str>,
    request: &str,
    actor: &str,
    at: &str,
    first: i64,
    last: i64,
    outcome: &str,
    prev: &str,
) -> String {
    let v = serde_json::json!({
        "batch": batch, "n": n, "key": key, "request": request, "actor": actor, "at": at,
        "first_seq": first, "last_seq": last, "outcome": outcome, "prev": prev,
    });
    let mut text = REQUEST_PREFIX.to_string();
    text.push_str(&v.to_string());
    sha256_hex(text.as_bytes())
}

fn insert_entries(tx: &mut Tx<'_>, entries: &[Entry]) -> Result<(), StoreError> {
    for e in entries {
        tx.execute(
            "INSERT INTO batch_entries (batch, seq, kind, at, actor, role, idem_key, prev, hash, entry) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                e.batch.as_str().into(),
                Value::Int(seq_i64(e.seq)?),
                e.body.kind().into(),
                e.at.to_string().into(),
                e.by.user.as_str().into(),
                e.by.role.to_string().into(),
                e.key.clone().into(),
                e.prev.as_str().into(),
                e.hash.as_str().into(),
                json(e)?.into(),
            ],
        )?;
    }
    Ok(())
}

fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Db(format!("entry number {seq} is too large")))
}

/// A batch twin as written (shell and Batch Record submodel) and its shell as
/// it was before, for the caller's registry descriptors and discovery links.
pub type TwinWrite = (Twin, Option<AssetAdministrationShell>);

/// The batch twin (shell and Batch Record submodel) of a batch.
pub fn twin(b: &Batch) -> Twin {
    aas::twins::batch_twin(&batch::twin::batch_record(b))
}

/// Writes the batch twin; the shell as it was before (for the caller's
/// discovery links and registry descriptors).
fn put_twin(tx: &mut Tx<'_>, b: &Batch) -> Result<TwinWrite, StoreError> {
    write_twin(tx, twin(b))
}

/// Writes a twin's submodels and shell (replacing records with the same
/// ids); the shell as it was before (for the caller's discovery links and
/// registry descriptors).
pub fn write_twin(tx: &mut Tx<'_>, t: Twin) -> Result<TwinWrite, StoreError> {
    for sm in &t.submodels {
        tx.put(Kind::Submodel, &sm.id, json(sm)?.as_bytes())?;
    }
    let old = match tx.get(Kind::Shell, &t.shell.id)? {
        Some(bytes) => serde_json::from_slice(&bytes).ok(),
        None => None,
    };
    tx.put(Kind::Shell, &t.shell.id, json(&t.shell)?.as_bytes())?;
    Ok((t, old))
}

/// Locks the batch's head row until the transaction ends (PostgreSQL; a
/// SQLite write transaction holds the database lock already), so that
/// concurrent requests on one batch run one after the other.
fn lock(tx: &mut Tx<'_>, id: &str) -> Result<(), StoreError> {
    if tx.engine() == Engine::Postgres {
        tx.query(
            "SELECT version FROM batches WHERE id = $1 FOR UPDATE",
            &[id.into()],
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Whether a batch exists.
pub fn exists(tx: &mut Tx<'_>, id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt("SELECT 1 FROM batches WHERE id = $1", &[id.into()])?
        .is_some())
}

fn parse_entry(batch: &str, row: &Row, col: usize) -> Result<Entry, BatchError> {
    let text = row.text(col)?;
    serde_json::from_str(text).map_err(|e| {
        BatchError::corrupt(
            batch,
            format!(
                "entry {} is not a readable entry: {e}",
                row.int(0).unwrap_or(-1)
            ),
        )
    })
}

/// The stored entries of a batch with numbers `from..` (at most `limit`), in order.
pub fn entries(
    tx: &mut Tx<'_>,
    id: &str,
    from: u64,
    limit: usize,
) -> Result<Vec<Entry>, BatchError> {
    let rows = tx.query(
        "SELECT seq, entry FROM batch_entries WHERE batch = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
        &[
            id.into(),
            Value::Int(seq_i64(from)?),
            Value::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )?;
    rows.iter().map(|r| parse_entry(id, r, 1)).collect()
}

/// Reads a batch: the state this database handle kept from an earlier
/// transaction when the head row read now is the head it belongs to (nobody
/// wrote the batch since), else replayed from every stored entry with the
/// hash chain checked (always the first time a handle meets a batch; see
/// `batch_cache`). The state goes back to the handle's cache when the
/// transaction commits.
pub fn load(tx: &mut Tx<'_>, id: &str) -> Result<Option<Stored>, BatchError> {
    let stored = take(tx, id)?;
    if let Some(s) = &stored {
        keep(tx, s.clone());
    }
    Ok(stored)
}

/// Reads a batch replaying every stored entry (the chain checked) whatever
/// this handle keeps, and keeps nothing: for views that must show what the
/// database holds now, entry by entry (a record page, an export).
pub fn load_replayed(tx: &mut Tx<'_>, id: &str) -> Result<Option<Stored>, BatchError> {
    let Some(head) = head_row(tx, id)? else {
        return Ok(None);
    };
    replay(tx, id, head).map(Some)
}

/// The head row of a batch, as a kept state is checked against it.
fn head_row(tx: &mut Tx<'_>, id: &str) -> Result<Option<Head>, BatchError> {
    let Some(row) = tx.query_opt(
        "SELECT version, head_seq, head_hash, requests_head, recipe_sha256 FROM batches \
         WHERE id = $1",
        &[id.into()],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(Head {
        version: row.int(0)?,
        head_seq: row.int(1)?,
        head_hash: row.text(2)?.to_string(),
        requests_head: row.text(3)?.to_string(),
        recipe_sha256: row.text(4)?.to_string(),
    }))
}

/// [`load`] without putting the state back: the caller keeps the state its
/// request leaves ([`keep`]).
fn take(tx: &mut Tx<'_>, id: &str) -> Result<Option<Stored>, BatchError> {
    let Some(head) = head_row(tx, id)? else {
        return Ok(None);
    };
    // this transaction's own latest state first, then the handle's
    if let Some(i) = tx
        .keep
        .iter()
        .rposition(|s| s.batch.id() == id && s.head() == head)
    {
        return Ok(Some(tx.keep.swap_remove(i)));
    }
    if let Some(s) = tx.batches.take(id, &head) {
        return Ok(Some(s));
    }
    replay(tx, id, head).map(Some)
}

/// A state this transaction leaves, for the handle's cache once it commits.
fn keep(tx: &mut Tx<'_>, s: Stored) {
    tx.keep.retain(|k| k.batch.id() != s.batch.id());
    tx.keep.push(s);
}

/// Replays a batch from its recipe and every stored entry (the chain checked).
fn replay(tx: &mut Tx<'_>, id: &str, head: Head) -> Result<Stored, BatchError> {
    let sha = head.recipe_sha256;
    let Some(row) = tx.query_opt(
        "SELECT text FROM batch_recipes WHERE sha256 = $1",
        &[sha.as_str().into()],
    )?
    else {
        return Err(BatchError::corrupt(
            id,
            format!("its recipe {sha} is not stored"),
        ));
    };
    let text = row.text(0)?;
    if sha256_hex(text.as_bytes()) != sha {
        return Err(BatchError::corrupt(
            id,
            format!("the stored recipe text does not have the SHA-256 {sha} it is stored under"),
        ));
    }
    let recipe = recipe::parse_recipe(&format!("batch_recipes/{sha}"), text)
        .map_err(|e| BatchError::corrupt(id, format!("its recipe does not parse: {e}")))?;
    let all = entries(tx, id, 1, usize::MAX)?;
    let batch =
        Batch::replay(&all, &recipe, &sha).map_err(|e| BatchError::corrupt(id, e.to_string()))?;
    Ok(Stored {
        batch,
        recipe,
        recipe_sha256: sha,
        version: head.version,
        requests_head: head.requests_head,
    })
}

fn summary(r: &Row) -> Result<Summary, StoreError> {
    Ok(Summary {
        id: r.text(0)?.into(),
        patient: r.text(1)?.into(),
        coi: r.text(2)?.into(),
        din: r.text(3)?.into(),
        product: r.text(4)?.into(),
        recipe_sha256: r.text(5)?.into(),
        planned_start: r.text(6)?.into(),
        stage: r.text(7)?.into(),
        head_seq: r.int(8)?,
        head_hash: r.text(9)?.into(),
        version: r.int(10)?,
        created_at: r.text(11)?.into(),
        updated_at: r.text(12)?.into(),
    })
}

const SUMMARY_COLUMNS: &str = "id, patient, coi, din, product, recipe_sha256, planned_start, stage, \
     head_seq, head_hash, version, created_at, updated_at";

/// One batch's head row.
pub fn get_summary(tx: &mut Tx<'_>, id: &str) -> Result<Option<Summary>, StoreError> {
    tx.query_opt_with(
        &format!("SELECT {SUMMARY_COLUMNS} FROM batches WHERE id = $1"),
        &[id.into()],
        summary,
    )
}

/// Batches ordered by id from `cursor` (inclusive), optionally of one stage
/// (its snake_case word); at most `limit` (capped at [`MAX_PAGE`]), and the
/// id that starts the next page.
pub fn list(
    tx: &mut Tx<'_>,
    cursor: Option<&str>,
    stage: Option<&str>,
    limit: usize,
) -> Result<(Vec<Summary>, Option<String>), StoreError> {
    let (limit, n) = paging::one_more(limit, MAX_PAGE);
    let rows = tx.query(
        &format!(
            "SELECT {SUMMARY_COLUMNS} FROM batches WHERE id >= $1 AND ($2 = '' OR stage = $2) \
             ORDER BY id LIMIT $3"
        ),
        &[cursor.unwrap_or("").into(), stage.unwrap_or("").into(), n],
    )?;
    let out = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
    Ok(paging::split(out, limit, |s| s.id))
}

/// Every batch id, in order.
pub fn ids(tx: &mut Tx<'_>) -> Result<Vec<String>, StoreError> {
    tx.query("SELECT id FROM batches ORDER BY id", &[])?
        .iter()
        .map(|r| r.text(0).map(str::to_string))
        .collect()
}

/// The ids of the batches that are not in a terminal stage (rejected,
/// infused, terminated), in order: the ones the engine's watch looks at.
pub fn active_ids(tx: &mut Tx<'_>) -> Result<Vec<String>, StoreError> {
    let closed: Vec<String> = [Stage::Rejected, Stage::Infused, Stage::Terminated]
        .into_iter()
        .map(stage_word)
        .collect();
    tx.query(
        "SELECT id FROM batches WHERE stage NOT IN ($1, $2, $3) ORDER BY id",
        &[
            closed[0].as_str().into(),
            closed[1].as_str().into(),
            closed[2].as_str().into(),
        ],
    )?
    .iter()
    .map(|r| r.text(0).map(str::to_string))
    .collect()
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// What opening a batch did.
#[derive(Debug, Clone)]
pub struct Opened {
    pub batch: Batch,
    /// The batch existed already with this very order (nothing stored).
    pub replayed: bool,
    /// The twin written (shell and Batch Record submodel) and the shell as it
    /// was before, for the caller's registry and discovery records.
    pub twin: Option<TwinWrite>,
}

/// Opens a batch: the planner's order checked against the bound recipe,
/// stored as entry 1 with the recipe text, the head row, the request row and
/// the twin. Ordering the same batch again with the same order returns it
/// unchanged; with another order it is refused.
#[allow(clippy::too_many_arguments)]
pub fn open(
    tx: &mut Tx<'_>,
    order: &NewOrder,
    recipe_text: &str,
    recipe: &Recipe,
    binding: &Binding,
    actor: &Actor,
    inventory: &Inventory,
    lots: &LotRegister,
    now: DateTime,
) -> Result<Opened, BatchError> {
    let sha = batch::engine::recipe_sha256(recipe_text);
    let ctx = Ctx {
        recipe,
        inventory,
        lots,
        now,
    };
    let (b, entry) = Batch::open(order, &sha, binding, actor, &ctx).map_err(BatchError::Refused)?;
    if exists(tx, &order.batch)? {
        let Some(stored) = load(tx, &order.batch)? else {
            return Err(BatchError::NotFound(order.batch.clone()));
        };
        let same = match (stored.batch.entries().front(), Some(&entry)) {
            (Some(a), Some(b)) => a.body == b.body && a.by == b.by,
            _ => false,
        };
        if same {
            return Ok(Opened {
                batch: stored.batch,
                replayed: true,
                twin: None,
            });
        }
        return Err(BatchError::Exists(order.batch.clone()));
    }
    let twin = store_opened(
        tx,
        &b,
        &entry,
        recipe_text,
        recipe,
        &sha256_hex(json(order)?.as_bytes()),
    )?;
    Ok(Opened {
        batch: b,
        replayed: false,
        twin: Some(twin),
    })
}

/// Stores a batch the engine has just opened (`entry` is its entry 1, the
/// order): the recipe text, the head row, the entry, the request row
/// (`request`: SHA-256 of the order) and the twin.
pub fn store_opened(
    tx: &mut Tx<'_>,
    b: &Batch,
    entry: &Entry,
    recipe_text: &str,
    recipe: &Recipe,
    request: &str,
) -> Result<TwinWrite, BatchError> {
    let sha = batch::engine::recipe_sha256(recipe_text);
    if entry.seq != 1 || b.head_seq() != 1 || b.order().recipe.sha256 != sha {
        return Err(StoreError::Db(format!(
            "batch {}: only a freshly opened batch of this recipe is stored as new",
            b.id()
        ))
        .into());
    }
    tx.execute(
        "INSERT INTO batch_recipes (sha256, recipe_id, version, text) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sha256) DO NOTHING",
        &[
            sha.as_str().into(),
            recipe.procedure.id.as_str().into(),
            recipe.procedure.version.as_str().into(),
            recipe_text.into(),
        ],
    )?;
    let o = b.order();
    let id = b.id();
    let at = entry.at.to_string();
    let outcome = json(&StoredOutcome::Applied)?;
    let rh = request_hash(
        id,
        1,
        None,
        request,
        &entry.by.user,
        &at,
        1,
        1,
        &outcome,
        REQUEST_GENESIS,
    );
    tx.execute(
        "INSERT INTO batches (id, patient, coi, din, product, recipe_sha256, planned_start, stage, \
         head_seq, head_hash, requests_head, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        &[
            id.into(),
            o.patient.as_str().into(),
            o.coi.as_str().into(),
            o.din.as_str().into(),
            o.product.as_str().into(),
            sha.as_str().into(),
            o.planned_start.to_string().into(),
            stage_word(b.stage()).into(),
            Value::Int(1),
            entry.hash.as_str().into(),
            rh.as_str().into(),
            Value::Int(1),
            at.as_str().into(),
        ],
    )?;
    insert_entries(tx, std::slice::from_ref(entry))?;
    tx.execute(
        "INSERT INTO batch_requests (batch, n, idem_key, request, actor, at, first_seq, last_seq, \
         outcome, prev, hash) VALUES ($1, 1, NULL, $2, $3, $4, 1, 1, $5, $6, $7)",
        &[
            id.into(),
            request.into(),
            entry.by.user.as_str().into(),
            at.into(),
            outcome.into(),
            REQUEST_GENESIS.into(),
            rh.as_str().into(),
        ],
    )?;
    let twin = put_twin(tx, b)?;
    keep(
        tx,
        Stored {
            batch: b.clone(),
            recipe: recipe.clone(),
            recipe_sha256: sha,
            version: 1,
            requests_head: rh,
        },
    );
    Ok(twin)
}

/// Stores one request of a rehearsal ([`batch::rehearsal::rehearse`]'s
/// journal) exactly as a live request is stored: the order opens the batch,
/// every other request appends its entries with its request row. The twin
/// written, if any.
pub fn record_journaled(
    tx: &mut Tx<'_>,
    j: &batch::Journaled<'_>,
    recipe_text: &str,
    recipe: &Recipe,
) -> Result<Option<TwinWrite>, BatchError> {
    let Some(first) = j.entries.first() else {
        return Ok(None);
    };
    if let Some(order) = j.order {
        return store_opened(
            tx,
            j.batch,
            first,
            recipe_text,
            recipe,
            &sha256_hex(json(order)?.as_bytes()),
        )
        .map(Some);
    }
    let Some(req) = j.request else {
        return Err(StoreError::Db("a journaled request without its request".into()).into());
    };
    let id = j.batch.id();
    lock(tx, id)?;
    let stored = take(tx, id)?.ok_or_else(|| BatchError::NotFound(id.to_string()))?;
    let request = sha256_hex(json(&req.command)?.as_bytes());
    let meta = RequestMeta {
        key: req.key.as_deref(),
        request: &request,
        actor: &j.actor.user,
        at: j.at,
    };
    let refusal = j.refusal.map(StoredRefusal::from);
    let (version, requests_head) = append_rows(
        tx,
        &stored,
        stored.version,
        (j.batch, j.entries),
        &meta,
        refusal.as_ref(),
    )?;
    let twin = put_twin(tx, j.batch)?;
    keep(tx, stored.advanced(j.entries, version, requests_head)?);
    Ok(Some(twin))
}

/// The request row of an idempotency key (a row with an empty request hash
/// when another user sent it, which never matches).
fn stored_request(
    tx: &mut Tx<'_>,
    id: &str,
    key: &str,
    user: &str,
) -> Result<Option<(String, u64, u64, StoredOutcome)>, BatchError> {
    let Some(r) = tx.query_opt(
        "SELECT request, first_seq, last_seq, outcome, actor FROM batch_requests \
         WHERE batch = $1 AND idem_key = $2",
        &[id.into(), key.into()],
    )?
    else {
        return Ok(None);
    };
    // a key is one client's: another user re-using it gets no answer of theirs
    if r.text(4)? != user {
        return Ok(Some((String::new(), 0, 0, StoredOutcome::Applied)));
    }
    let outcome: StoredOutcome = serde_json::from_str(r.text(3)?).map_err(|e| {
        BatchError::corrupt(
            id,
            format!("request with key `{key}`: unreadable outcome: {e}"),
        )
    })?;
    let seq = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Some((
        r.text(0)?.to_string(),
        seq(r.int(1)?),
        seq(r.int(2)?),
        outcome,
    )))
}

/// The outcome of a request repeated with its idempotency key: the batch as stored and
/// the entries the first request made (`first..=last`), marked replayed.
fn replayed(stored: Stored, first: u64, last: u64, outcome: StoredOutcome) -> Outcome {
    // entry n is at index n - 1
    let record = stored.batch.entries();
    let entries = (first..=last)
        .filter_map(|seq| record.get(usize::try_from(seq.checked_sub(1)?).ok()?))
        .cloned()
        .collect();
    let batch = Box::new(stored.batch);
    let version = stored.version;
    match outcome {
        StoredOutcome::Applied => Outcome::Applied {
            batch,
            entries,
            replayed: true,
            version,
        },
        StoredOutcome::Refused(refusal) => Outcome::Refused {
            batch,
            refusal,
            entries,
            replayed: true,
            version,
        },
    }
}

/// Runs one request on a stored batch: the engine checks it against the
/// state replayed from the record ([`load`]: kept by this handle if nobody
/// wrote the batch since); its entries, request row, new head and twin are
/// written in this transaction. The twin is written only when the entries
/// change it (a series block without an excursion does not), and is then
/// returned. A repeated idempotency key returns the first outcome and stores
/// nothing. A refusal without entries to keep is `Err(BatchError::Refused)`
/// (nothing stored).
#[allow(clippy::too_many_arguments)]
pub fn execute(
    tx: &mut Tx<'_>,
    id: &str,
    req: &Request,
    actor: &Actor,
    inventory: &Inventory,
    lots: &LotRegister,
    now: DateTime,
) -> Result<(Outcome, Option<TwinWrite>), BatchError> {
    lock(tx, id)?;
    let stored = take(tx, id)?.ok_or_else(|| BatchError::NotFound(id.to_string()))?;
    let request = sha256_hex(json(&req.command)?.as_bytes());
    if let Some(key) = &req.key
        && let Some((hash, first, last, outcome)) = stored_request(tx, id, key, &actor.user)?
    {
        if hash != request {
            return Err(BatchError::KeyReused {
                batch: id.to_string(),
                key: key.clone(),
            });
        }
        return Ok((replayed(stored, first, last, outcome), None));
    }
    // counters as they stand now, in this transaction (another batch may
    // have used the equipment since `inventory` was read)
    let inventory = match &req.command {
        Command::UseEquipment { equipment, .. } => {
            crate::counters::current(tx, inventory, equipment)?
        }
        _ => std::borrow::Cow::Borrowed(inventory),
    };
    let ctx = Ctx {
        recipe: &stored.recipe,
        inventory: &inventory,
        lots,
        now,
    };
    let meta = RequestMeta {
        key: req.key.as_deref(),
        request: &request,
        actor: &actor.user,
        at: now,
    };
    match stored.batch.execute(req, actor, &ctx) {
        Ok(applied) => {
            if applied.replayed || applied.entries.is_empty() {
                let version = stored.version;
                keep(tx, stored);
                return Ok((
                    Outcome::Applied {
                        batch: Box::new(applied.batch),
                        entries: applied.entries,
                        replayed: applied.replayed,
                        version,
                    },
                    None,
                ));
            }
            let (version, twin) =
                store_request(tx, stored, &applied.batch, &applied.entries, &meta, None)?;
            Ok((
                Outcome::Applied {
                    batch: Box::new(applied.batch),
                    entries: applied.entries,
                    replayed: false,
                    version,
                },
                twin,
            ))
        }
        Err(refused) => {
            let Some(after) = refused.batch.filter(|_| !refused.record.is_empty()) else {
                keep(tx, stored);
                return Err(BatchError::Refused(refused.error));
            };
            let refusal = StoredRefusal::from(&refused.error);
            let (version, twin) =
                store_request(tx, stored, &after, &refused.record, &meta, Some(&refusal))?;
            Ok((
                Outcome::Refused {
                    batch: after,
                    refusal,
                    entries: refused.record,
                    replayed: false,
                    version,
                },
                twin,
            ))
        }
    }
}

/// Stores the entries a request made on `stored` (leaving `after`) with its
/// request row and head, and the batch twin if the entries change it; keeps
/// the state after them for the handle's cache. The new version and the
/// twin written.
fn store_request(
    tx: &mut Tx<'_>,
    stored: Stored,
    after: &Batch,
    entries: &[Entry],
    meta: &RequestMeta<'_>,
    refusal: Option<&StoredRefusal>,
) -> Result<(i64, Option<TwinWrite>), BatchError> {
    let (version, requests_head) =
        append_rows(tx, &stored, stored.version, (after, entries), meta, refusal)?;
    // a series block leaves the documented record as it was: the twin
    // stored for the state before is the twin of the state after
    let twin = if batch::twin::record_unchanged(&stored.batch, after, entries) {
        None
    } else {
        Some(put_twin(tx, after)?)
    };
    keep(tx, stored.advanced(entries, version, requests_head)?);
    Ok((version, twin))
}

/// Who sent a request, when, with which key and content hash.
#[derive(Debug, Clone, Copy)]
pub struct RequestMeta<'a> {
    pub key: Option<&'a str>,
    /// SHA-256 (hex) of the request's command.
    pub request: &'a str,
    pub actor: &'a str,
    pub at: DateTime,
}

/// Appends `entries` (which must continue `stored`'s chain) with their
/// request row, moves the head to `after`, writes the counter uses the
/// entries book to the equipment twins ([`crate::counters::write_uses`]) and
/// writes the batch twin — only if the head row is still at
/// `expected_version`; otherwise [`BatchError::Stale`] and nothing is
/// written. The new version.
pub fn append(
    tx: &mut Tx<'_>,
    stored: &Stored,
    expected_version: i64,
    after: &Batch,
    entries: &[Entry],
    meta: &RequestMeta<'_>,
    refusal: Option<&StoredRefusal>,
) -> Result<(i64, TwinWrite), BatchError> {
    let (version, _) = append_rows(
        tx,
        stored,
        expected_version,
        (after, entries),
        meta,
        refusal,
    )?;
    Ok((version, put_twin(tx, after)?))
}

/// [`append`] without the batch twin: the new version and the new head of
/// the request chain.
fn append_rows(
    tx: &mut Tx<'_>,
    stored: &Stored,
    expected_version: i64,
    (after, entries): (&Batch, &[Entry]),
    meta: &RequestMeta<'_>,
    refusal: Option<&StoredRefusal>,
) -> Result<(i64, String), BatchError> {
    let id = stored.batch.id();
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Err(StoreError::Db("a request row needs at least one entry".into()).into());
    };
    if first.seq != stored.batch.head_seq() + 1
        || first.prev != stored.batch.head_hash()
        || after.head_seq() != last.seq
    {
        return Err(StoreError::Db(format!(
            "entries {}..{} do not continue batch {id} at entry {}",
            first.seq,
            last.seq,
            stored.batch.head_seq()
        ))
        .into());
    }
    let version = expected_version + 1;
    let at = meta.at.to_string();
    let outcome = json(&match refusal {
        None => StoredOutcome::Applied,
        Some(r) => StoredOutcome::Refused(r.clone()),
    })?;
    let (fs, ls) = (seq_i64(first.seq)?, seq_i64(last.seq)?);
    let rh = request_hash(
        id,
        version,
        meta.key,
        meta.request,
        meta.actor,
        &at,
        fs,
        ls,
        &outcome,
        &stored.requests_head,
    );
    let n = tx.execute(
        "UPDATE batches SET stage = $1, head_seq = $2, head_hash = $3, requests_head = $4, \
         version = $5, updated_at = $6 WHERE id = $7 AND version = $8",
        &[
            stage_word(after.stage()).into(),
            Value::Int(ls),
            last.hash.as_str().into(),
            rh.as_str().into(),
            Value::Int(version),
            last.at.to_string().into(),
            id.into(),
            Value::Int(expected_version),
        ],
    )?;
    if n != 1 {
        let found = tx
            .query_opt("SELECT version FROM batches WHERE id = $1", &[id.into()])?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
        return Err(BatchError::Stale {
            batch: id.to_string(),
            expected: expected_version,
            found,
        });
    }
    insert_entries(tx, entries)?;
    let dup = tx.query_opt(
        "SELECT 1 FROM batch_requests WHERE batch = $1 AND idem_key = $2",
        &[id.into(), meta.key.unwrap_or("").into()],
    )?;
    if let (Some(k), Some(_)) = (meta.key, dup) {
        return Err(BatchError::KeyReused {
            batch: id.to_string(),
            key: k.to_string(),
        });
    }
    tx.execute(
        "INSERT INTO batch_requests (batch, n, idem_key, request, actor, at, first_seq, last_seq, \
         outcome, prev, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            id.into(),
            Value::Int(version),
            meta.key.into(),
            meta.request.into(),
            meta.actor.into(),
            at.into(),
            Value::Int(fs),
            Value::Int(ls),
            outcome.into(),
            stored.requests_head.as_str().into(),
            rh.as_str().into(),
        ],
    )?;
    crate::counters::write_uses(tx, entries)?;
    Ok((version, rh))
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

fn finding(table: &'static str, batch: &str, row: String, message: impl Into<String>) -> Finding {
    Finding {
        table,
        batch: batch.to_string(),
        row,
        seq: None,
        message: message.into(),
    }
}

fn entry_finding(batch: &str, seq: u64, message: impl Into<String>) -> Finding {
    Finding {
        table: "batch_entries",
        batch: batch.to_string(),
        row: format!("batch {batch} entry {seq}"),
        seq: Some(seq),
        message: message.into(),
    }
}

/// Checks one stored batch against its record: every entry's stored text,
/// columns, hash, link and signature binding; the recipe text against its
/// SHA-256; every request row (hash chain, the entries it claims, key and
/// request hash); the head row (identity, stage, heads, version) against the
/// replayed record; and the batch twin's stored shell and submodel against
/// the twin the record gives. The first disagreement is returned.
pub fn verify(tx: &mut Tx<'_>, id: &str) -> Result<Result<Verified, Finding>, StoreError> {
    // The steps return `Ok(Err(finding))` on the first disagreement; this passes it on.
    macro_rules! step {
        ($e:expr) => {
            match $e? {
                Ok(v) => v,
                Err(f) => return Ok(Err(f)),
            }
        };
    }
    let Some(head) = get_summary(tx, id)? else {
        return Ok(Err(finding(
            "batches",
            id,
            format!("batch {id}"),
            "no head row for this batch",
        )));
    };
    let entries = step!(verify_entries(tx, id));
    let recipe = step!(verify_recipe(tx, id, &head));
    let b = match Batch::replay(&entries, &recipe, &head.recipe_sha256) {
        Ok(b) => b,
        Err(e) => {
            return Ok(Err(finding(
                "batches",
                id,
                format!("batch {id}"),
                e.to_string(),
            )));
        }
    };
    let (requests_head, requests) = step!(verify_requests(tx, id, &entries));
    step!(verify_head(
        tx,
        id,
        &head,
        &b,
        &entries,
        &requests_head,
        requests
    ));
    step!(verify_twin(tx, id, &b));
    let signatures = entries
        .iter()
        .filter(|e| matches!(e.body, batch::Body::Signature(_)))
        .count() as u64;
    Ok(Ok(Verified {
        batch: id.to_string(),
        entries: entries.len() as u64,
        signatures,
        requests: requests as u64,
        head: b.head_hash().to_string(),
        stage: b.stage(),
    }))
}

/// What a verification step gives: its value, or the first disagreement found.
type Step<T> = Result<Result<T, Finding>, StoreError>;

/// The entries of a batch: each row's stored text in canonical form, its
/// columns matching the entry, and the hash chain over all of them.
fn verify_entries(tx: &mut Tx<'_>, id: &str) -> Step<Vec<Entry>> {
    let rows = tx.query(
        "SELECT seq, kind, at, actor, role, idem_key, prev, hash, entry FROM batch_entries \
         WHERE batch = $1 ORDER BY seq",
        &[id.into()],
    )?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let seq = u64::try_from(r.int(0)?).unwrap_or(0);
        let text = r.text(8)?;
        let e: Entry = match serde_json::from_str(text) {
            Ok(e) => e,
            Err(err) => {
                return Ok(Err(entry_finding(
                    id,
                    seq,
                    format!("not a readable entry: {err}"),
                )));
            }
        };
        if json(&e)? != text {
            return Ok(Err(entry_finding(
                id,
                seq,
                "the stored text differs from the entry's canonical form (it was edited)",
            )));
        }
        let cols = [
            ("seq", seq == e.seq),
            ("kind", r.text(1)? == e.body.kind()),
            ("at", r.text(2)? == e.at.to_string()),
            ("actor", r.text(3)? == e.by.user),
            ("role", r.text(4)? == e.by.role.to_string()),
            ("idem_key", r.opt_text(5)? == e.key.as_deref()),
            ("prev", r.text(6)? == e.prev),
            ("hash", r.text(7)? == e.hash),
        ];
        if let Some((col, _)) = cols.iter().find(|(_, ok)| !ok) {
            return Ok(Err(entry_finding(
                id,
                e.seq,
                format!("column {col} of the row stored as entry {seq} does not match the entry"),
            )));
        }
        entries.push(e);
    }
    if let Err(e) = batch::verify_chain(id, &entries) {
        let seq = e.seq();
        return Ok(Err(Finding {
            table: "batch_entries",
            batch: id.to_string(),
            row: match seq {
                Some(s) => format!("batch {id} entry {s}"),
                None => format!("batch {id}"),
            },
            seq,
            message: e.to_string(),
        }));
    }
    Ok(Ok(entries))
}

/// The recipe the batch was ordered with: present, its text matching its
/// SHA-256, readable, and its id and version columns matching the text.
fn verify_recipe(tx: &mut Tx<'_>, id: &str, head: &Summary) -> Step<Recipe> {
    let Some(rec) = tx.query_opt(
        "SELECT recipe_id, version, text FROM batch_recipes WHERE sha256 = $1",
        &[head.recipe_sha256.as_str().into()],
    )?
    else {
        return Ok(Err(finding(
            "batch_recipes",
            id,
            format!("recipe {}", head.recipe_sha256),
            "the recipe the batch was ordered with is missing",
        )));
    };
    let text = rec.text(2)?;
    let recipe_row = format!("recipe {}", head.recipe_sha256);
    if sha256_hex(text.as_bytes()) != head.recipe_sha256 {
        return Ok(Err(finding(
            "batch_recipes",
            id,
            recipe_row,
            "the recipe text does not have the SHA-256 it is stored under (it was edited)",
        )));
    }
    let recipe = match recipe::parse_recipe(&recipe_row, text) {
        Ok(r) => r,
        Err(e) => return Ok(Err(finding("batch_recipes", id, recipe_row, e.to_string()))),
    };
    if rec.text(0)? != recipe.procedure.id || rec.text(1)? != recipe.procedure.version {
        return Ok(Err(finding(
            "batch_recipes",
            id,
            recipe_row,
            "recipe_id or version does not match the recipe text",
        )));
    }
    Ok(Ok(recipe))
}

/// The request rows: numbered without gaps, hash-chained, each claiming the
/// next entries (with their key and request hash) and a readable outcome,
/// together covering every entry. Gives the last request hash and the count.
fn verify_requests(tx: &mut Tx<'_>, id: &str, entries: &[Entry]) -> Step<(String, usize)> {
    let reqs = tx.query(
        "SELECT n, idem_key, request, actor, at, first_seq, last_seq, outcome, prev, hash \
         FROM batch_requests WHERE batch = $1 ORDER BY n",
        &[id.into()],
    )?;
    let mut prev = REQUEST_GENESIS.to_string();
    let mut next_seq = 1i64;
    for (i, r) in reqs.iter().enumerate() {
        let n = r.int(0)?;
        let row = format!("batch {id} request {n}");
        let bad = |m: &str| {
            Ok(Err(finding(
                "batch_requests",
                id,
                row.clone(),
                m.to_string(),
            )))
        };
        if n != i as i64 + 1 {
            return bad(&format!(
                "request {} found where request {} belongs",
                n,
                i + 1
            ));
        }
        let (key, request, actor, at) = (r.opt_text(1)?, r.text(2)?, r.text(3)?, r.text(4)?);
        let (first, last, outcome) = (r.int(5)?, r.int(6)?, r.text(7)?);
        let want = request_hash(id, n, key, request, actor, at, first, last, outcome, &prev);
        if r.text(8)? != prev {
            return bad(
                "previous-hash link broken (a request row before it was altered, removed or inserted)",
            );
        }
        if r.text(9)? != want {
            return bad("content does not match its hash (the row was altered)");
        }
        if first != next_seq || last < first {
            return bad(&format!(
                "claims entries {first}..{last} but the next entry is {next_seq}"
            ));
        }
        let Some(made) = entries.get(
            usize::try_from(first - 1).unwrap_or(usize::MAX)..usize::try_from(last).unwrap_or(0),
        ) else {
            return bad(&format!(
                "claims entries {first}..{last}, which are not stored"
            ));
        };
        for e in made {
            if n > 1 && (e.key.as_deref() != key || e.request.as_deref() != Some(request)) {
                return bad(&format!(
                    "does not match entry {} it claims (key or request hash)",
                    e.seq
                ));
            }
        }
        if serde_json::from_str::<StoredOutcome>(outcome).is_err() {
            return bad("unreadable outcome");
        }
        next_seq = last + 1;
        prev = r.text(9)?.to_string();
    }
    if next_seq != entries.len() as i64 + 1 {
        return Ok(Err(finding(
            "batch_requests",
            id,
            format!("batch {id}"),
            format!(
                "the request rows cover entries up to {}, the record has {}",
                next_seq - 1,
                entries.len()
            ),
        )));
    }
    Ok(Ok((prev, reqs.len())))
}

/// The head row against the replayed record: identity, stage, heads and version.
fn verify_head(
    tx: &mut Tx<'_>,
    id: &str,
    head: &Summary,
    b: &Batch,
    entries: &[Entry],
    requests_head: &str,
    requests: usize,
) -> Step<()> {
    let o = b.order();
    let last = entries.last();
    let checks = [
        ("patient", head.patient == o.patient),
        ("coi", head.coi == o.coi),
        ("din", head.din == o.din.as_str()),
        ("product", head.product == o.product),
        ("recipe_sha256", head.recipe_sha256 == o.recipe.sha256),
        (
            "planned_start",
            head.planned_start == o.planned_start.to_string(),
        ),
        ("stage", head.stage == stage_word(b.stage())),
        ("head_seq", head.head_seq == entries.len() as i64),
        ("head_hash", head.head_hash == b.head_hash()),
        (
            "requests_head",
            head_requests_head(tx, id)? == requests_head,
        ),
        ("version", head.version == requests as i64),
        (
            "created_at",
            entries
                .first()
                .is_some_and(|e| head.created_at == e.at.to_string()),
        ),
        (
            "updated_at",
            last.is_some_and(|e| head.updated_at == e.at.to_string()),
        ),
    ];
    if let Some((col, _)) = checks.iter().find(|(_, ok)| !ok) {
        return Ok(Err(finding(
            "batches",
            id,
            format!("batch {id}"),
            format!("column {col} does not match the record"),
        )));
    }
    Ok(Ok(()))
}

/// The batch twin's stored submodels and shell against the twin the record gives.
fn verify_twin(tx: &mut Tx<'_>, id: &str, b: &Batch) -> Step<()> {
    let t = twin(b);
    for sm in &t.submodels {
        if tx.get(Kind::Submodel, &sm.id)?.as_deref() != Some(json(sm)?.as_bytes()) {
            return Ok(Err(finding(
                "aas_submodels",
                id,
                format!("submodel {}", sm.id),
                "the Batch Record submodel does not match the record",
            )));
        }
    }
    if tx.get(Kind::Shell, &t.shell.id)?.as_deref() != Some(json(&t.shell)?.as_bytes()) {
        return Ok(Err(finding(
            "aas_shells",
            id,
            format!("shell {}", t.shell.id),
            "the batch twin's shell does not match the record",
        )));
    }
    Ok(Ok(()))
}

fn head_requests_head(tx: &mut Tx<'_>, id: &str) -> Result<String, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT requests_head FROM batches WHERE id = $1",
            &[id.into()],
        )?
        .map(|r| r.text(0).map(str::to_string))
        .transpose()?
        .unwrap_or_default())
}

/// Rows of entries, requests or recipes that no stored batch accounts for
/// (a head row removed, or rows inserted for a batch that does not exist).
pub fn orphans(tx: &mut Tx<'_>) -> Result<Vec<Finding>, StoreError> {
    let mut out = Vec::new();
    for (table, sql) in [
        (
            "batch_entries",
            "SELECT DISTINCT batch FROM batch_entries WHERE batch NOT IN (SELECT id FROM batches) ORDER BY batch",
        ),
        (
            "batch_requests",
            "SELECT DISTINCT batch FROM batch_requests WHERE batch NOT IN (SELECT id FROM batches) ORDER BY batch",
        ),
    ] {
        for r in tx.query(sql, &[])? {
            let b = r.text(0)?;
            out.push(finding(
                table,
                b,
                format!("batch {b}"),
                "rows of a batch that has no head row (the batches row was removed or these were inserted)",
            ));
        }
    }
    for r in tx.query(
        "SELECT sha256 FROM batch_recipes WHERE sha256 NOT IN (SELECT recipe_sha256 FROM batches) ORDER BY sha256",
        &[],
    )? {
        let s = r.text(0)?;
        out.push(finding(
            "batch_recipes",
            "",
            format!("recipe {s}"),
            "a recipe no batch was ordered with",
        ));
    }
    Ok(out)
}

/// Submodel and shell ids of a batch's twin (for callers that register them).
pub fn twin_ids(b: &Batch) -> (String, Vec<String>) {
    let t = twin(b);
    (
        t.shell.id.clone(),
        t.submodels
            .iter()
            .map(|s: &Submodel| s.id.clone())
            .collect(),
    )
}
