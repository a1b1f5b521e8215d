//! The batch API under `/api/batch/v1`: orders, requests on a batch's
//! lifecycle (with idempotency keys and the entry number the client saw),
//! e-signatures with a re-entered password, the QP's disposition, the record,
//! the review-by-exception view, verification and live updates as
//! server-sent events; and the registry records of batch twins.
//!
//! Every call is authenticated with an API token (`Authorization: Bearer`,
//! `store::auth`); the caller's batch roles (operator, qc, qa,
//! qualified_person, planner, clinic, admin) are handed to the `batch`
//! engine, which refuses what a role may not do. A change is one transaction
//! (`store::batch`): the entries, the request row, the batch head and the
//! twin with its registry records, or nothing.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use batch::engine::{Command, NewOrder, Request};
use batch::entry::{DispositionDecision, Entry};
use batch::{LotRegister, Meaning, Role};
use serde::{Deserialize, Serialize};
use store::Tx;
use store::auth::{Principal, Timestamp};
use store::batch::{self as sb, BatchError, Outcome, TwinWrite};

use crate::AppState;
use crate::caller::{actor, may_read, now};
use crate::registry;
use crate::remote::{StoreRegistry, equipment_inventory};
use crate::util::{ApiError, ApiResult, Query, created, json_response, ok, parse_json};

pub use crate::BATCH_BASE;
/// Largest recipe text an order may carry.
const MAX_RECIPE: usize = 1 << 20;
/// Entries per page of the record.
const MAX_ENTRIES: usize = 1000;

/// Keeps the discovery links of a batch twin that `store::batch` has just
/// written in step with its shell and, when the server's public base URL is
/// known, registers the shell and its Batch Record submodel — in the same
/// transaction as the record entries.
pub fn register_twin(tx: &mut Tx<'_>, base: Option<&str>, w: &TwinWrite) -> Result<(), ApiError> {
    let (twin, old) = w;
    registry::relink_shell(tx, &twin.shell.id, old.as_ref(), Some(&twin.shell))?;
    if let Some(base) = base {
        for sm in &twin.submodels {
            registry::register_submodel(tx, base, sm)?;
        }
        registry::register_shell(tx, base, &twin.shell)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const COLLECTION: &[Method] = &[Method::GET, Method::POST];
const SETTABLE: &[Method] = &[Method::GET, Method::PUT];

/// The methods served at `segs` below [`BATCH_BASE`].
fn allowed(segs: &[&str]) -> Option<&'static [Method]> {
    match segs {
        ["batches"] => Some(COLLECTION),
        ["me"] => Some(GET),
        ["clock"] => Some(SETTABLE),
        ["batches", _] => Some(GET),
        ["batches", _, "record" | "exceptions" | "events" | "verify"] => Some(GET),
        ["batches", _, "requests" | "signatures" | "disposition"] => Some(POST),
        ["lots"] => Some(COLLECTION),
        ["lots", _, _] => Some(GET),
        ["lots", _, _, "status"] => Some(POST),
        _ => None,
    }
}

/// The batch API's paths and its route table.
pub(crate) const API: crate::SubApi = crate::SubApi {
    base: BATCH_BASE,
    allowed,
};

/// Answers one request below [`BATCH_BASE`].
pub fn dispatch(st: &AppState, req: &crate::Incoming<'_>) -> ApiResult {
    let (segs, principal, q) = API.admit(st, req)?;
    let (method, path, headers, body) = (req.method, req.uri.path(), req.headers, req.body);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (segs.as_slice(), method.clone()) {
        (["me"], _) => me(&principal),
        (["clock"], Method::GET) => clock(st),
        (["clock"], _) => set_clock(st, &principal, body),
        (["batches"], Method::GET) => list(st, &principal, &q),
        (["batches"], _) => create(st, &principal, body),
        (["batches", id], _) => get(st, &principal, id),
        (["batches", id, "record"], _) => record(st, &principal, id, &q),
        (["batches", id, "exceptions"], _) => exceptions(st, &principal, id),
        (["batches", id, "verify"], _) => verify(st, &principal, id),
        (["batches", id, "events"], _) => events(st, &principal, id, &q, headers),
        (["batches", id, "requests"], _) => request(st, &principal, id, body),
        (["batches", id, "signatures"], _) => sign(st, &principal, id, body),
        (["batches", id, "disposition"], _) => dispose(st, &principal, id, body),
        (["lots", ..], m) => crate::lots::dispatch(st, &principal, &m, &segs, &q, body),
        _ => Err(crate::unrouted(method, path)),
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

fn refusal_status(code: &str) -> StatusCode {
    match code {
        "forbidden_role" | "four_eyes" => StatusCode::FORBIDDEN,
        "wrong_state" | "stale" | "key_reused" => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Store(s) => s.into(),
            BatchError::NotFound(id) => ApiError::not_found(format!("no batch {id:?}")),
            e @ BatchError::Exists(_) => ApiError::conflict(e.to_string()),
            BatchError::Refused(r) => ApiError::new(refusal_status(r.code()), r.to_string()),
            e @ (BatchError::KeyReused { .. } | BatchError::Stale { .. }) => {
                ApiError::conflict(e.to_string())
            }
            e @ BatchError::Equipment { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            e @ BatchError::Corrupt { .. } => ApiError::internal(e.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

#[derive(Serialize)]
struct BatchView<'a> {
    #[serde(flatten)]
    summary: &'a sb::Summary,
    next_step: Option<&'a str>,
    running: Option<Running<'a>>,
    deviations: Vec<DeviationView<'a>>,
    unassessed: Vec<u32>,
}

#[derive(Serialize)]
struct Running<'a> {
    step: &'a str,
    attempt: u32,
}

#[derive(Serialize)]
struct DeviationView<'a> {
    #[serde(flatten)]
    deviation: &'a batch::entry::DeviationEntry,
    classification: Option<batch::entry::Classification>,
}

#[derive(Serialize)]
struct Answer<'a> {
    batch: &'a str,
    stage: batch::Stage,
    head_seq: u64,
    head_hash: &'a str,
    version: i64,
    replayed: bool,
    entries: &'a [Entry],
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<&'a sb::StoredRefusal>,
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"v{version}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

fn answer(o: &Outcome) -> ApiResult {
    let b = o.batch();
    let refused = match o {
        Outcome::Refused { refusal, .. } => Some(refusal),
        Outcome::Applied { .. } => None,
    };
    let a = Answer {
        batch: b.id(),
        stage: b.stage(),
        head_seq: b.head_seq(),
        head_hash: b.head_hash(),
        version: o.version(),
        replayed: o.replayed(),
        entries: o.entries(),
        refused,
    };
    let status = match refused {
        // refused, but the scan and deviation are part of the record
        Some(r) => refusal_status(&r.code),
        None => StatusCode::OK,
    };
    let mut r = json_response(status, &a);
    r.headers_mut().insert(header::ETAG, etag(o.version()));
    Ok(r)
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// `GET /me`: who the token belongs to and the roles the batch engine sees
/// (a client shows them, and a rehearsal builds its cast from them).
fn me(p: &Principal) -> ApiResult {
    #[derive(Serialize)]
    struct Me<'a> {
        user: &'a str,
        name: &'a str,
        roles: Vec<&'static str>,
        batch_roles: Vec<Role>,
    }
    ok(&Me {
        user: &p.user,
        name: &p.display_name,
        roles: p.roles.iter().map(|r| r.as_str()).collect(),
        batch_roles: actor(p).roles,
    })
}

#[derive(Serialize)]
struct ClockView {
    now: String,
    simulated: bool,
}

fn clock_view(st: &AppState) -> ClockView {
    ClockView {
        now: now(st).to_string(),
        simulated: st.clock.is_simulated(),
    }
}

/// `GET /clock`: the time the server writes into batch records, and whether
/// it is a rehearsal's simulated clock.
fn clock(st: &AppState) -> ApiResult {
    ok(&clock_view(st))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    now: String,
}

/// `PUT /clock`: an administrator moves a rehearsal server's simulated clock
/// forward (kept in the database, `store::clock`).
fn set_clock(st: &AppState, p: &Principal, body: &[u8]) -> ApiResult {
    if !p.has(store::auth::Role::Admin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "clock: only an administrator moves a rehearsal clock",
        ));
    }
    let b: ClockBody = parse_json(body)?;
    let to = recipe::DateTime::parse(&b.now).ok_or_else(|| {
        ApiError::bad(format!(
            "now: `{}` is not an RFC 3339 time with an offset, e.g. 2026-12-01T08:00:00Z",
            b.now
        ))
    })?;
    if !st.clock.is_simulated() {
        return Err(ApiError::conflict(
            "clock: this server runs on the system clock; only a rehearsal server \
             (`atmpflow serve --rehearsal-clock`) has a clock to move",
        ));
    }
    let to = Timestamp(to.unix_seconds());
    st.store
        .transaction(|tx| store::clock::set(tx, to, &p.user, Timestamp::now()))
        .map_err(|e| match e {
            store::clock::ClockError::Backward { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("now: {e}"))
            }
            store::clock::ClockError::NotRehearsal(_) => ApiError::conflict(format!("clock: {e}")),
            other => ApiError::internal(format!("clock: {other}")),
        })?;
    st.clock.advance_to(to.0);
    ok(&clock_view(st))
}

/// `POST /batches`: the planner's order with the recipe text it runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    order: NewOrder,
    /// The control recipe (TOML text); the order pins its SHA-256.
    recipe: String,
}

fn create(st: &AppState, p: &Principal, body: &[u8]) -> ApiResult {
    let b: CreateBody = parse_json(body)?;
    if b.recipe.len() > MAX_RECIPE {
        return Err(ApiError::bad(format!(
            "recipe: {} bytes; at most {MAX_RECIPE} are accepted",
            b.recipe.len()
        )));
    }
    let recipe = recipe::parse_recipe("recipe", &b.recipe)
        .map_err(|e| ApiError::bad(format!("recipe: {e}")))?;
    let inv = equipment_inventory(&StoreRegistry::new(&st.store, st.store.location()))
        .map_err(|e| ApiError::internal(format!("equipment registry: {e}")))?
        .inventory;
    let as_of = b.order.planned_start.date();
    let binding = recipe::bind_strict(&recipe, &inv, as_of).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("recipe: cannot be bound to the registered equipment on {as_of}: {e}"),
        )
    })?;
    let who = actor(p);
    let base = st.base_url.clone();
    let opened = st.store.transaction(|tx| -> Result<sb::Opened, ApiError> {
        let o = sb::open(
            tx,
            &b.order,
            &b.recipe,
            &recipe,
            &binding,
            &who,
            &inv,
            &LotRegister::default(),
            now(st),
        )?;
        if let Some(w) = &o.twin {
            register_twin(tx, Some(&base), w)?;
        }
        Ok(o)
    })?;
    let summary = st
        .store
        .read(|tx| sb::get_summary(tx, opened.batch.id()))?
        .ok_or_else(|| ApiError::internal("the new batch was not stored"))?;
    if opened.replayed {
        return ok(&summary);
    }
    created(
        &summary,
        &format!(
            "{BATCH_BASE}/batches/{}",
            percent_encoding::utf8_percent_encode(
                opened.batch.id(),
                percent_encoding::NON_ALPHANUMERIC
            )
        ),
    )
}

fn list(st: &AppState, p: &Principal, q: &Query) -> ApiResult {
    may_read(p)?;
    let limit = q.limit()?;
    let stage = q.get("stage");
    if let Some(s) = stage
        && serde_json::from_value::<batch::Stage>(serde_json::Value::String(s.to_string())).is_err()
    {
        return Err(ApiError::bad(format!("stage: unknown stage {s:?}")));
    }
    let cursor = q.get("cursor");
    let (items, next) = st.store.read(|tx| sb::list(tx, cursor, stage, limit))?;
    ok(&serde_json::json!({
        "result": items,
        "paging_metadata": { "cursor": next },
    }))
}

fn load(st: &AppState, id: &str) -> Result<sb::Stored, ApiError> {
    st.store
        .read(|tx| sb::load(tx, id))?
        .ok_or_else(|| ApiError::not_found(format!("no batch {id:?}")))
}

fn get(st: &AppState, p: &Principal, id: &str) -> ApiResult {
    may_read(p)?;
    let (s, summary) = st.store.read(|tx| -> Result<_, ApiError> {
        let s = sb::load(tx, id)?.ok_or_else(|| ApiError::not_found(format!("no batch {id:?}")))?;
        let summary = sb::get_summary(tx, id)?
            .ok_or_else(|| ApiError::not_found(format!("no batch {id:?}")))?;
        Ok((s, summary))
    })?;
    let b = &s.batch;
    let view = BatchView {
        summary: &summary,
        next_step: b.next_step(),
        running: b.running().map(|(step, attempt)| Running { step, attempt }),
        deviations: b
            .deviations()
            .into_iter()
            .map(|(deviation, classification)| DeviationView {
                deviation,
                classification,
            })
            .collect(),
        unassessed: b.unassessed(),
    };
    let mut r = json_response(StatusCode::OK, &view);
    r.headers_mut().insert(header::ETAG, etag(s.version));
    Ok(r)
}

fn number(q: &Query, name: &str, default: u64) -> Result<u64, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(s) => s.parse::<u64>().map_err(|_| {
            ApiError::bad(format!("{name} must be a non-negative integer, got {s:?}"))
        }),
    }
}

fn record(st: &AppState, p: &Principal, id: &str, q: &Query) -> ApiResult {
    may_read(p)?;
    let from = number(q, "from", 1)?.max(1);
    let limit = usize::try_from(number(q, "limit", MAX_ENTRIES as u64)?)
        .unwrap_or(MAX_ENTRIES)
        .clamp(1, MAX_ENTRIES);
    let entries = st.store.read(|tx| -> Result<_, ApiError> {
        if !sb::exists(tx, id)? {
            return Err(ApiError::not_found(format!("no batch {id:?}")));
        }
        Ok(sb::entries(tx, id, from, limit + 1)?)
    })?;
    let next = entries.get(limit).map(|e| e.seq);
    let entries = &entries[..entries.len().min(limit)];
    ok(&serde_json::json!({ "batch": id, "entries": entries, "next": next }))
}

fn exceptions(st: &AppState, p: &Principal, id: &str) -> ApiResult {
    may_read(p)?;
    let s = load(st, id)?;
    ok(&serde_json::json!({ "batch": id, "entries": s.batch.exceptions() }))
}

fn verify(st: &AppState, p: &Principal, id: &str) -> ApiResult {
    may_read(p)?;
    let r = st.store.read(|tx| -> Result<_, ApiError> {
        if !sb::exists(tx, id)? {
            return Err(ApiError::not_found(format!("no batch {id:?}")));
        }
        Ok(sb::verify(tx, id)?)
    })?;
    match r {
        Ok(v) => ok(&serde_json::json!({
            "batch": v.batch, "verified": true, "stage": v.stage, "entries": v.entries,
            "signatures": v.signatures, "requests": v.requests, "head": v.head,
        })),
        Err(f) => ok(&serde_json::json!({
            "batch": id, "verified": false, "table": f.table, "row": f.row, "seq": f.seq,
            "message": f.to_string(),
        })),
    }
}

/// The plant's lot register as far as `req` needs it, read in its
/// transaction: the lots with the number a recorded or corrected lot names
/// (an empty register keeps a plant without one working as before).
fn lot_register(tx: &mut Tx<'_>, req: &Request) -> Result<LotRegister, ApiError> {
    let lot = match &req.command {
        Command::RecordLot { lot, .. }
        | Command::Correct {
            new: batch::engine::Corrected::Lot { lot, .. },
            ..
        } => lot,
        _ => return Ok(LotRegister::default()),
    };
    Ok(store::lots::register_for_lot(tx, lot)?)
}

/// Runs one request on a batch in one transaction with its twin.
fn run(st: &AppState, p: &Principal, id: &str, req: &Request) -> ApiResult {
    answer(&execute(st, p, id, req)?)
}

/// Runs one request on a batch in one transaction with its twin and
/// announces what it recorded to the event streams: the engine's outcome
/// (the web pages show it as it is).
pub(crate) fn execute(
    st: &AppState,
    p: &Principal,
    id: &str,
    req: &Request,
) -> Result<Outcome, ApiError> {
    let who = actor(p);
    let inv = equipment_inventory(&StoreRegistry::new(&st.store, st.store.location()))
        .map_err(|e| ApiError::internal(format!("equipment registry: {e}")))?
        .inventory;
    let base = st.base_url.clone();
    let at = now(st);
    let outcome = st.store.transaction(|tx| -> Result<Outcome, ApiError> {
        let lots = lot_register(tx, req)?;
        let (o, twin) = sb::execute(tx, id, req, &who, &inv, &lots, at)?;
        if let Some(w) = &twin {
            register_twin(tx, Some(&base), w)?;
        }
        Ok(o)
    })?;
    if !outcome.replayed() && !outcome.entries().is_empty() {
        crate::live::committed(st, id);
    }
    Ok(outcome)
}

fn request(st: &AppState, p: &Principal, id: &str, body: &[u8]) -> ApiResult {
    let req: Request = parse_json(body)?;
    match &req.command {
        Command::Sign { .. } => Err(ApiError::bad(
            "command.action: a signature needs the signer's password; POST it to …/signatures",
        )),
        Command::Dispose { .. } => Err(ApiError::bad(
            "command.action: the disposition is signed; POST it to …/disposition",
        )),
        Command::Watch => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "command.action: the watch is the engine's own request",
        )),
        _ => run(st, p, id, &req),
    }
}

/// Checks the re-entered password of an electronic signature (11.200): the
/// attempt is in the authentication audit trail whatever its outcome.
pub(crate) fn reauthenticate(
    st: &AppState,
    p: &Principal,
    password: &str,
    purpose: &str,
) -> Result<(), ApiError> {
    store::auth::verify_password(&st.store, &p.user, password, purpose, Timestamp::now())
        .map(|_| ())
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, format!("password: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    target: u64,
    target_hash: String,
    meaning: Meaning,
    password: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    expected_seq: Option<u64>,
}

fn sign(st: &AppState, p: &Principal, id: &str, body: &[u8]) -> ApiResult {
    let b: SignBody = parse_json(body)?;
    reauthenticate(
        st,
        p,
        &b.password,
        &format!("signature: {} entry {} of batch {id}", b.meaning, b.target),
    )?;
    run(
        st,
        p,
        id,
        &Request {
            command: Command::Sign {
                target: b.target,
                target_hash: b.target_hash,
                meaning: b.meaning,
            },
            key: b.key,
            expected_seq: b.expected_seq,
        },
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisposeBody {
    decision: DispositionDecision,
    reason: String,
    password: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    expected_seq: Option<u64>,
}

fn dispose(st: &AppState, p: &Principal, id: &str, body: &[u8]) -> ApiResult {
    let b: DisposeBody = parse_json(body)?;
    reauthenticate(
        st,
        p,
        &b.password,
        &format!("signature: disposition of batch {id}"),
    )?;
    run(
        st,
        p,
        id,
        &Request {
            command: Command::Dispose {
                decision: b.decision,
                reason: b.reason,
            },
            key: b.key,
            expected_seq: b.expected_seq,
        },
    )
}

/// `GET …/events`: the entries after `Last-Event-ID` (or `?after=`) as
/// server-sent events (`id:` the entry number, `event: entry`, `data:` the
/// entry), then every new entry once it is committed, until the client
/// disconnects, `?timeout=SECONDS` has passed (0: only the stored entries)
/// or the server shuts down ([`crate::live`]).
fn events(st: &AppState, p: &Principal, id: &str, q: &Query, headers: &HeaderMap) -> ApiResult {
    may_read(p)?;
    let after = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad("Last-Event-ID: expected an entry number"))?,
        None => number(q, "after", 0)?,
    };
    let timeout = match q.get("timeout") {
        None => None,
        Some(_) => {
            let s = number(q, "timeout", 0)?;
            if s > crate::live::MAX_TIMEOUT_S {
                return Err(ApiError::bad(format!(
                    "timeout: at most {} seconds, got {s}; leave it out for a stream without end",
                    crate::live::MAX_TIMEOUT_S
                )));
            }
            Some(Duration::from_secs(s))
        }
    };
    crate::live::events(st, id, after, timeout)
}
