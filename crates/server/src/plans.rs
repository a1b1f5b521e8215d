//! The plant planner's API under `/api/plan/v1`: stored plant plans that are
//! planned, asked for apheresis dates, booked into and re-planned, each change
//! a new version (`store::plans`).
//!
//! - `GET /plans` (keyset-paged like the lot register), `POST /plans` (role
//!   planner): plan a scenario's orders, or import a `plan.json` written by
//!   `atmpflow schedule`; version 1;
//! - `GET /plans/{id}` (the latest version with its document),
//!   `GET /plans/{id}/versions`, `GET /plans/{id}/versions/{n}`;
//! - `POST /plans/{id}/promise`: which apheresis days a new order can get
//!   (a read: any role that may read batch records);
//! - `POST /plans/{id}/bookings`, `POST /plans/{id}/replan` (role planner):
//!   a new version, made on the version the caller saw (`If-Match: "vN"` or
//!   `expected_version`); a stale one is refused (412 or 409), and neither
//!   given is 428.
//!
//! The documents, promise answers and moves are those of the command line:
//! both use `schedule::plan_doc`. A search runs before its transaction, on
//! the blocking pool the network edge runs every request on (never on the
//! async workers), within [`MAX_TIME_LIMIT_S`], and at most
//! [`max_solving`] at once (503 beyond); nothing is stored unless the search
//! and the checks succeed, and the version is then added in one transaction.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use batch::Role;
use schedule::Time;
use schedule::plan_doc::{PlanDoc, PromiseAnswer, PromiseRequest, ReplanSummary, when};
use schedule::shop::{Shop, ShopOptions, ShopSolution};
use serde::{Deserialize, Serialize};
use store::auth::Principal;
use store::plans::{self, PlanError, Version};

use crate::AppState;
use crate::caller::{actor, may_read, now};
use crate::remote::{StoreRegistry, equipment_inventory};
use crate::util::parse_json;
use crate::util::{ApiError, ApiResult, Query, json_response};

/// Where the plan API lives.
pub const PLAN_BASE: &str = "/api/plan/v1";
/// Longest search a request may ask for, seconds.
pub const MAX_TIME_LIMIT_S: f64 = 60.0;
/// Search time when the request names none, seconds.
pub const DEFAULT_TIME_LIMIT_S: f64 = 10.0;
/// Largest scenario, orders or events text (the scenario file limit of
/// `model`; the request body limit of the network edge applies first).
const MAX_TEXT: usize = model::limits::MAX_FILE_BYTES;

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Store(s) => s.into(),
            e @ (PlanError::NotFound(_) | PlanError::NoVersion { .. }) => {
                ApiError::not_found(e.to_string())
            }
            e @ (PlanError::Stale { .. } | PlanError::Busy) => ApiError::conflict(e.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const COLLECTION: &[Method] = &[Method::GET, Method::POST];

fn allowed(segs: &[&str]) -> Option<&'static [Method]> {
    match segs {
        ["plans"] => Some(COLLECTION),
        ["plans", _] | ["plans", _, "versions"] | ["plans", _, "versions", _] => Some(GET),
        ["plans", _, "promise" | "bookings" | "replan"] => Some(POST),
        _ => None,
    }
}

/// The plan API's paths and its route table.
pub(crate) const API: crate::SubApi = crate::SubApi {
    base: PLAN_BASE,
    allowed,
};

/// Answers one request below [`PLAN_BASE`].
pub fn dispatch(st: &AppState, req: &crate::Incoming<'_>) -> ApiResult {
    let (segs, p, q) = API.admit(st, req)?;
    let (method, path, headers, body) = (req.method, req.uri.path(), req.headers, req.body);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (segs.as_slice(), method.clone()) {
        (["plans"], Method::GET) => list(st, &p, &q),
        (["plans"], _) => create(st, &p, body),
        (["plans", id], _) => get(st, &p, id, None),
        (["plans", id, "versions"], _) => versions(st, &p, id),
        (["plans", id, "versions", n], _) => {
            let n = n
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ApiError::bad(format!("version {n:?}: expected 1, 2, …")))?;
            get(st, &p, id, Some(n))
        }
        (["plans", id, "promise"], _) => promise(st, &p, id, body),
        (["plans", id, "bookings"], _) => book(st, &p, id, headers, body),
        (["plans", id, "replan"], _) => replan(st, &p, id, headers, body),
        _ => Err(crate::unrouted(method, path)),
    }
}

// ---------------------------------------------------------------------------
// Who may do what
// ---------------------------------------------------------------------------

/// Changing plans: the batch role planner.
fn require_planner(p: &Principal, action: &str) -> Result<(), ApiError> {
    if actor(p).roles.contains(&Role::Planner) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{action} needs the role planner; {} has {}",
            p.user,
            if p.roles.is_empty() {
                "no role".to_string()
            } else {
                p.roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    ))
}

// ---------------------------------------------------------------------------
// Searches: capped in time and in number
// ---------------------------------------------------------------------------

static SOLVING: AtomicUsize = AtomicUsize::new(0);

/// How many searches run at once in this process: one per core (each is
/// single-threaded), at least one.
pub fn max_solving() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A search slot, given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Result<Slot, ApiError> {
        let max = max_solving();
        let mut cur = SOLVING.load(Ordering::SeqCst);
        loop {
            if cur >= max {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "{cur} plan searches are running (at most {max} at once); try again shortly"
                    ),
                ));
            }
            match SOLVING.compare_exchange(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(Slot),
                Err(now) => cur = now,
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        SOLVING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How the registry's equipment is named in requalification errors ("no equipment `X` in
/// the inventory …").
const REGISTRY_INVENTORY: &str = "of the server's equipment registry";

/// The 400 for requalification problems: those of the scenario located in its text,
/// those of the registry's equipment by item.
fn requal_error(scenario: &str, p: &recipe::requal::RequalProblems) -> ApiError {
    if !p.scenario.is_empty() {
        return match model::SourceFile::from_bytes("scenario", scenario.as_bytes()) {
            Ok(src) => ApiError::bad(src.errors(&p.scenario).to_string()),
            Err(e) => ApiError::bad(e.to_string()),
        };
    }
    // positions in the registry's list mean nothing to the caller: each message names the item
    let items: Vec<&str> = p.inventory.iter().map(|q| q.message.as_str()).collect();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("equipment registry: {}", items.join("; ")),
    )
}

/// Most patients of the expansion model that one request may have simulated for its
/// scenario's `dist = "expansion_model"` durations (about 0.02 s of one core each; cohorts this
/// process computed before cost nothing). A scenario that needs more is planned with
/// `atmpflow schedule` and its `plan.json` imported.
pub const MAX_EXPANSION_PATIENTS_PER_REQUEST: u32 = 500;

/// The expansion model (crate `pat`) of this process: each spec's cohort computed once.
fn expansion_memo() -> &'static model::ExpansionMemo {
    static MEMO: std::sync::OnceLock<model::ExpansionMemo> = std::sync::OnceLock::new();
    MEMO.get_or_init(|| {
        model::ExpansionMemo::new(Box::new(|spec| {
            pat::control::spec_harvest_days(spec, &mut |_, _| {}).map_err(|e| e.to_string())
        }))
    })
}

/// The expansion model as one request sees it: cohorts not yet known to this process may
/// total at most [`MAX_EXPANSION_PATIENTS_PER_REQUEST`] patients.
struct RequestExpansion {
    left: std::sync::atomic::AtomicU32,
}

impl RequestExpansion {
    fn new() -> Self {
        RequestExpansion {
            left: std::sync::atomic::AtomicU32::new(MAX_EXPANSION_PATIENTS_PER_REQUEST),
        }
    }
}

impl model::ExpansionDurations for RequestExpansion {
    fn harvest_days(&self, spec: &model::ExpansionSpec) -> Result<Vec<f64>, String> {
        let memo = expansion_memo();
        if !memo.is_known(spec) {
            self.left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(spec.patients)
                })
                .map_err(|left| {
                    format!(
                        "the expansion model would simulate {} more patients for this request \
                         ({left} of {MAX_EXPANSION_PATIENTS_PER_REQUEST} left); plan this \
                         scenario with `atmpflow schedule` and import its plan.json",
                        spec.patients
                    )
                })?;
        }
        memo.harvest_days(spec)
    }
}

/// Search settings of a request: the time limit (capped), the iteration
/// limit and the seed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    #[serde(default)]
    time_limit_s: Option<f64>,
    #[serde(default)]
    iterations: Option<u64>,
    #[serde(default)]
    seed: Option<u64>,
}

impl Search {
    fn options(&self) -> Result<ShopOptions, ApiError> {
        let t = self.time_limit_s.unwrap_or(DEFAULT_TIME_LIMIT_S);
        if !(t.is_finite() && t > 0.0 && t <= MAX_TIME_LIMIT_S) {
            return Err(ApiError::bad(format!(
                "time_limit_s: must be a number of seconds in (0, {MAX_TIME_LIMIT_S}]"
            )));
        }
        Ok(ShopOptions {
            time_limit: Some(Duration::from_secs_f64(t)),
            iteration_limit: self.iterations,
            seed: self.seed.unwrap_or(1),
            warm_start: None,
        })
    }
}

fn unsolvable(e: &schedule::ScheduleError) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("no plan: {e}"))
}

fn text_field<'a>(name: &str, t: &'a str) -> Result<&'a str, ApiError> {
    if t.len() > MAX_TEXT {
        return Err(ApiError::bad(format!(
            "{name}: {} bytes, at most {MAX_TEXT} are accepted",
            t.len()
        )));
    }
    Ok(t)
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

/// A version without its document.
#[derive(Serialize)]
struct VersionView<'a> {
    id: &'a str,
    version: i64,
    sha256: &'a str,
    by: &'a str,
    at: &'a str,
    event: &'a str,
}

fn view(v: &Version) -> VersionView<'_> {
    VersionView {
        id: &v.id,
        version: v.version,
        sha256: &v.sha256,
        by: &v.by,
        at: &v.at,
        event: &v.event,
    }
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"v{version}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

fn location(v: &Version) -> String {
    format!("{PLAN_BASE}/plans/{}/versions/{}", v.id, v.version)
}

fn with_version<T: Serialize>(status: StatusCode, body: &T, v: &Version) -> ApiResult {
    let mut r = json_response(status, body);
    r.headers_mut().insert(header::ETAG, etag(v.version));
    if status == StatusCode::CREATED
        && let Ok(h) = HeaderValue::from_str(&location(v))
    {
        r.headers_mut().insert(header::LOCATION, h);
    }
    Ok(r)
}

fn to_text<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::internal(format!("cannot serialise: {e}")))
}

fn stored_doc(v: &Version) -> Result<PlanDoc, ApiError> {
    serde_json::from_str(&v.document).map_err(|e| {
        ApiError::internal(format!(
            "plan {} version {}: stored document is unreadable: {e}",
            v.id, v.version
        ))
    })
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

fn list(st: &AppState, p: &Principal, q: &Query) -> ApiResult {
    may_read(p)?;
    let limit = q.limit()?;
    let cursor =
        match q.get("cursor") {
            None => None,
            Some(c) => Some(c.parse::<i64>().map_err(|_| {
                ApiError::bad(format!("cursor {c:?} is not one this server issued"))
            })?),
        };
    let (items, next) = st.store.read(|tx| plans::list(tx, cursor, limit))?;
    crate::util::ok(&serde_json::json!({
        "result": items,
        "paging_metadata": { "cursor": next.map(|n| n.to_string()) },
    }))
}

fn get(st: &AppState, p: &Principal, id: &str, n: Option<i64>) -> ApiResult {
    may_read(p)?;
    let v = st.store.read(|tx| plans::get(tx, id, n))?;
    let document: serde_json::Value = serde_json::from_str(&v.document)
        .map_err(|e| ApiError::internal(format!("stored document is unreadable: {e}")))?;
    #[derive(Serialize)]
    struct Full<'a> {
        #[serde(flatten)]
        version: VersionView<'a>,
        document: serde_json::Value,
    }
    with_version(
        StatusCode::OK,
        &Full {
            version: view(&v),
            document,
        },
        &v,
    )
}

fn versions(st: &AppState, p: &Principal, id: &str) -> ApiResult {
    may_read(p)?;
    let vs = st.store.read(|tx| plans::versions(tx, id))?;
    crate::util::ok(&serde_json::json!({
        "result": vs.iter().map(view).collect::<Vec<_>>(),
    }))
}

// ---------------------------------------------------------------------------
// Making a plan
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Scenario file (TOML text) whose plant plans `orders`.
    #[serde(default)]
    scenario: Option<String>,
    /// Orders (CSV text: id,product,release_h,due_h,weight).
    #[serde(default)]
    orders: Option<String>,
    /// Or: a plan document written by `atmpflow schedule` (plan.json).
    #[serde(default)]
    document: Option<serde_json::Value>,
    /// Units out of use for their requalification, from the qualification records of the
    /// equipment twins in this server's registry (`recipe::requal`; needs the scenario's
    /// `[calendar]`).
    #[serde(default)]
    requalification_from_registry: bool,
    #[serde(flatten)]
    search: Search,
}

/// `POST /plans`: plan orders on a scenario's plant, or import a plan.
fn create(st: &AppState, p: &Principal, body: &[u8]) -> ApiResult {
    require_planner(p, "making a plan")?;
    let b: CreateBody = parse_json(body)?;
    let (doc, event) = match (&b.scenario, &b.orders, b.document) {
        (None, None, Some(_)) if b.requalification_from_registry => {
            return Err(ApiError::bad(
                "requalification_from_registry: only when planning a scenario's orders; an \
                 imported plan keeps the windows it was made with",
            ));
        }
        (None, None, Some(d)) => {
            let mut doc: PlanDoc = serde_path_to_error::deserialize(d).map_err(|e| {
                let path = e.path().to_string();
                ApiError::bad(format!(
                    "document.{path}: not a plant plan written by `atmpflow schedule SCENARIO --orders`: {}",
                    e.into_inner()
                ))
            })?;
            doc.check()
                .map_err(|e| ApiError::bad(format!("document: {e}")))?;
            // the import is a step of the plan's history like any other
            let event = "imported through the plan API".to_string();
            doc.history.push(event.clone());
            (doc, event)
        }
        (Some(scenario), Some(orders), None) => {
            let registry = if b.requalification_from_registry {
                Some(
                    equipment_inventory(&StoreRegistry::new(&st.store, st.store.location()))
                        .map_err(|e| ApiError::internal(format!("equipment registry: {e}")))?
                        .inventory,
                )
            } else {
                None
            };
            let doc = plan_orders(scenario, orders, registry.as_ref(), &b.search)?;
            let event = doc.history.last().cloned().unwrap_or_default();
            (doc, event)
        }
        _ => {
            return Err(ApiError::bad(
                "request body: give either scenario and orders (to plan them) or document (a plan.json to import)",
            ));
        }
    };
    let text = to_text(&doc)?;
    let at = now(st);
    let v = st
        .store
        .transaction(|tx| plans::create(tx, &doc.scenario, &text, &event, &p.user, at))?;
    with_version(StatusCode::CREATED, &view(&v), &v)
}

/// Plans `orders` on the plant of `scenario`, with the requalification windows of
/// `registry`'s equipment when given; located errors of either text are 400.
fn plan_orders(
    scenario: &str,
    orders: &str,
    registry: Option<&recipe::Inventory>,
    search: &Search,
) -> Result<PlanDoc, ApiError> {
    let scenario = text_field("scenario", scenario)?;
    let orders_text = text_field("orders", orders)?;
    let opts = search.options()?;
    // Taken before the scenario is read: its expansion-model durations are computed then.
    let slot = Slot::take()?;
    let expansion = RequestExpansion::new();
    let mut m = model::load_bytes_with("scenario", scenario.as_bytes(), &expansion)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut requalification = String::new();
    if let Some(inv) = registry {
        let n = recipe::requal::apply(&mut m, inv, REGISTRY_INVENTORY)
            .map_err(|p| requal_error(scenario, &p))?;
        requalification =
            format!(", {n} requalification window(s) from the server's equipment registry");
    }
    let orders = model::orders::read_orders("orders", orders_text, &m)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let (shop, map) = schedule::plant::shop_from_model(&m, &orders)
        .map_err(|e| ApiError::bad(format!("scenario and orders: {e}")))?;
    let sol = solve(&slot, &shop, &opts)?;
    drop(slot);
    let sha = store::plans::sha256(scenario);
    let event = format!(
        "planned {} orders through the plan API ({} iterations{requalification})",
        orders.len(),
        sol.iterations
    );
    Ok(PlanDoc::planned(&m, &sha, shop, map, &sol, event))
}

/// A search, in a slot the caller took.
fn solve(_: &Slot, shop: &Shop, opts: &ShopOptions) -> Result<ShopSolution, ApiError> {
    let cancel = std::sync::atomic::AtomicBool::new(false);
    schedule::shop::solve(shop, opts, &cancel, &mut |_, _| {}).map_err(|e| unsolvable(&e))
}

// ---------------------------------------------------------------------------
// Promise, booking, re-planning
// ---------------------------------------------------------------------------

fn default_hour() -> f64 {
    9.0
}
fn default_id() -> String {
    "NEW".into()
}
fn default_weight() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromiseBody {
    product: String,
    from_day: u32,
    to_day: u32,
    #[serde(default = "default_hour")]
    hour: f64,
    #[serde(default)]
    weekdays: bool,
    #[serde(default = "default_id")]
    order: String,
    #[serde(default = "default_weight")]
    weight: f64,
    /// The version to ask (default: the latest).
    #[serde(default)]
    version: Option<i64>,
}

/// `POST /plans/{id}/promise`: which apheresis days a new order can get
/// without moving committed work (nothing is stored).
fn promise(st: &AppState, p: &Principal, id: &str, body: &[u8]) -> ApiResult {
    may_read(p)?;
    let b: PromiseBody = parse_json(body)?;
    if b.version.is_some_and(|n| n < 1) {
        return Err(ApiError::bad("version: expected 1, 2, …"));
    }
    let v = st.store.read(|tx| plans::get(tx, id, b.version))?;
    let doc = stored_doc(&v)?;
    let r = PromiseRequest {
        id: b.order,
        product: b.product,
        from_day: b.from_day,
        to_day: b.to_day,
        hour: b.hour,
        weekdays: b.weekdays,
        weight: b.weight,
    };
    let q = r
        .query(&doc, str::to_string)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let t0 = std::time::Instant::now();
    let answer =
        schedule::shop::promise(&doc.shop, &doc.plant_plan, &q).map_err(|e| unsolvable(&e))?;
    let a = PromiseAnswer::new(&r, &q, answer, t0.elapsed().as_secs_f64());
    #[derive(Serialize)]
    struct Answer<'a> {
        plan: &'a str,
        version: i64,
        #[serde(flatten)]
        answer: PromiseAnswer,
    }
    with_version(
        StatusCode::OK,
        &Answer {
            plan: &v.id,
            version: v.version,
            answer: a,
        },
        &v,
    )
}

/// The version the caller saw: `If-Match: "vN"` (412 when stale) or the
/// body's `expected_version` (409 when stale); one of them is required
/// (428).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    pub(crate) version: i64,
    pub(crate) by_header: bool,
}

fn seen(headers: &HeaderMap, expected: Option<i64>) -> Result<Seen, ApiError> {
    let header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(h) => {
            let t = h
                .to_str()
                .map_err(|_| ApiError::bad("If-Match: the header is not visible ASCII"))?
                .trim();
            let t = t.strip_prefix("W/").unwrap_or(t);
            let n = t
                .strip_prefix("\"v")
                .and_then(|r| r.strip_suffix('"'))
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "If-Match: expected the entity tag of a plan version (\"v3\"), got {t:?}"
                    ))
                })?;
            Some(n)
        }
    };
    match (header, expected) {
        (Some(h), Some(e)) if h != e => Err(ApiError::bad(format!(
            "If-Match names version {h} and expected_version {e}: give one, or the same"
        ))),
        (Some(h), _) => Ok(Seen {
            version: h,
            by_header: true,
        }),
        (None, Some(e)) if e >= 1 => Ok(Seen {
            version: e,
            by_header: false,
        }),
        (None, Some(_)) => Err(ApiError::bad("expected_version: expected 1, 2, …")),
        (None, None) => Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "a change of a plan names the version it was made on: send If-Match: \"vN\" or expected_version",
        )),
    }
}

fn stale(e: PlanError, s: Seen) -> ApiError {
    match e {
        e @ PlanError::Stale { .. } if s.by_header => {
            ApiError::new(StatusCode::PRECONDITION_FAILED, e.to_string())
        }
        e => e.into(),
    }
}

/// The version a change is made on, checked against the latest before the
/// work starts (and again in the transaction that stores the change).
fn base_version(st: &AppState, id: &str, s: Seen) -> Result<(Version, PlanDoc), ApiError> {
    let v = st
        .store
        .read(|tx| -> Result<Version, PlanError> {
            let v = plans::get(tx, id, None)?;
            if v.version != s.version {
                return Err(PlanError::Stale {
                    id: id.to_string(),
                    seen: s.version,
                    latest: v.version,
                });
            }
            Ok(v)
        })
        .map_err(|e| stale(e, s))?;
    let doc = stored_doc(&v)?;
    Ok((v, doc))
}

fn store_next(
    st: &AppState,
    p: &Principal,
    base: &Version,
    s: Seen,
    doc: &PlanDoc,
) -> Result<Version, ApiError> {
    let text = to_text(doc)?;
    let event = doc.history.last().cloned().unwrap_or_default();
    let at = now(st);
    st.store
        .transaction(|tx| {
            plans::add_version(tx, &base.id, base.version, &text, &event, &p.user, at)
        })
        .map_err(|e| stale(e, s))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BookingBody {
    order: String,
    product: String,
    day: u32,
    #[serde(default = "default_hour")]
    hour: f64,
    #[serde(default = "default_weight")]
    weight: f64,
    #[serde(default)]
    expected_version: Option<i64>,
}

/// `POST /plans/{id}/bookings`: commits a new order with apheresis on `day`
/// at `hour`; nothing planned moves.
fn book(st: &AppState, p: &Principal, id: &str, headers: &HeaderMap, body: &[u8]) -> ApiResult {
    require_planner(p, "booking an order")?;
    let b: BookingBody = parse_json(body)?;
    let s = seen(headers, b.expected_version)?;
    let (base, doc) = base_version(st, id, s)?;
    if doc.shop.jobs.iter().any(|j| j.name == b.order) {
        return Err(ApiError::conflict(format!(
            "order: the plan has an order `{}` already",
            b.order
        )));
    }
    let r = PromiseRequest {
        id: b.order,
        product: b.product,
        from_day: b.day,
        to_day: b.day,
        hour: b.hour,
        weekdays: false,
        weight: b.weight,
    };
    let q = r
        .query(&doc, |f| match f {
            "from_day" | "to_day" => "day".to_string(),
            f => f.to_string(),
        })
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let (shop, plan) = schedule::shop::book(&doc.shop, &doc.plant_plan, &q, r.at(b.day))
        .map_err(|e| unsolvable(&e))?;
    let ready: Time = plan
        .completions(&shop)
        .last()
        .copied()
        .ok_or_else(|| ApiError::internal("the booked plan has no orders"))?;
    let next = doc.next(shop, plan, None, r.booked_event(b.day));
    let v = store_next(st, p, &base, s, &next)?;
    #[derive(Serialize)]
    struct Booked<'a> {
        #[serde(flatten)]
        version: VersionView<'a>,
        order: &'a str,
        apheresis: Time,
        ready: Time,
        ready_text: String,
        on_time: bool,
        time_unit: &'static str,
    }
    let release = r.at(b.day);
    with_version(
        StatusCode::CREATED,
        &Booked {
            version: view(&v),
            order: &r.id,
            apheresis: release,
            ready,
            ready_text: when(ready),
            on_time: ready <= release + q.lead,
            time_unit: schedule::plan_doc::TIME_UNIT,
        },
        &v,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplanBody {
    /// Events (CSV text, the format of `atmpflow schedule replan --events`).
    events: String,
    /// The re-planning instant, hours from time 0.
    as_of_h: f64,
    #[serde(default)]
    expected_version: Option<i64>,
    #[serde(flatten)]
    search: Search,
}

/// Re-plans version `s` of stored plan `id` after the events (CSV text of
/// `atmpflow schedule replan --events`) as of `as_of_h` hours: started work
/// stays, the rest is planned again; the new version is stored (on `s`,
/// refused when stale). The API and the planner's pages both use it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn replan_stored(
    st: &AppState,
    p: &Principal,
    id: &str,
    s: Seen,
    events_text: &str,
    as_of_h: f64,
    opts: &ShopOptions,
    source: &str,
) -> Result<(Version, schedule::shop::ShopReplanned, ReplanSummary), ApiError> {
    require_planner(p, "re-planning")?;
    let events_text = text_field("events", events_text)?;
    if !(as_of_h.is_finite() && as_of_h.abs() < 1e8) {
        return Err(ApiError::bad("as_of_h: must be a number of hours"));
    }
    let (base, doc) = base_version(st, id, s)?;
    let now_min = (as_of_h * 60.0).round() as Time;
    let events = schedule::shop::parse_events(events_text, &doc.shop, &doc.targets_min)
        .map_err(|e| ApiError::bad(format!("events: {e}")))?;
    let r = {
        let _slot = Slot::take()?;
        let cancel = std::sync::atomic::AtomicBool::new(false);
        schedule::shop::replan(
            &doc.shop,
            &doc.plant_plan,
            now_min,
            &events,
            opts,
            &cancel,
            &mut |_, _| {},
        )
        .map_err(|e| unsolvable(&e))?
    };
    let next = doc.next(
        r.shop.clone(),
        r.solution.plan.clone(),
        Some(&r.solution),
        schedule::plan_doc::replanned_event(now_min, events.len(), source),
    );
    let summary = ReplanSummary::new(&r, now_min, next.values.late);
    let v = store_next(st, p, &base, s, &next)?;
    Ok((v, r, summary))
}

/// `POST /plans/{id}/replan`: started work stays, the rest is planned again
/// after the events; the answer lists what moved.
fn replan(st: &AppState, p: &Principal, id: &str, headers: &HeaderMap, body: &[u8]) -> ApiResult {
    require_planner(p, "re-planning")?;
    let b: ReplanBody = parse_json(body)?;
    let s = seen(headers, b.expected_version)?;
    let opts = b.search.options()?;
    let (v, _, summary) = replan_stored(st, p, id, s, &b.events, b.as_of_h, &opts, "the plan API")?;
    #[derive(Serialize)]
    struct Replanned<'a> {
        #[serde(flatten)]
        version: VersionView<'a>,
        summary: String,
        moves: &'a ReplanSummary,
    }
    with_version(
        StatusCode::CREATED,
        &Replanned {
            version: view(&v),
            summary: summary.text(),
            moves: &summary,
        },
        &v,
    )
}
