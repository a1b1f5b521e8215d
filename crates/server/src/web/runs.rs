//! The planner's runs under `/plan/run/{id}`: a simulation (`atmpflow
//! simulate`), a comparison (`atmpflow compare`) or a study (`atmpflow
//! study`) computed on a thread of its own, its page with a progress bar,
//! cancel, then the report and CSV files. Progress reaches the page as
//! server-sent events (`…/events`); `…/status` answers the same as JSON for
//! a page that polls instead.
//!
//! Runs live in this process only (a table of at most [`MAX_RUNS`] runs,
//! the oldest finished one dropped first): nothing is stored in the
//! database, and a restart forgets them. A run belongs to the person who
//! started it; nobody else sees it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use cost::study::StudyResult;

use super::pages::{Ctx, csrf_field, page};
use super::planning::{csv_download, not_found, report_page};
use super::strings::{Text, t};
use super::{esc, feedback_alert, problem, redirect};

/// Runs kept in memory at once.
pub const MAX_RUNS: usize = 16;
/// Progress streams (`…/events`) open at once; beyond, the request is
/// refused and the page polls `…/status` instead (assumption: a few
/// planners with a few tabs each).
pub const MAX_RUN_STREAMS: usize = 32;
/// How often a progress stream looks at its run.
const STREAM_TICK: Duration = Duration::from_millis(250);
/// Ticks without news after which a stream sends a keep-alive comment (10 s).
const KEEP_ALIVE_TICKS: u32 = 40;

/// What a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// One scenario (`atmpflow simulate`).
    Simulation,
    /// Several scenarios side by side (`atmpflow compare`).
    Comparison,
    /// A study file (`atmpflow study`).
    Study,
}

impl Kind {
    fn title(self) -> Text {
        match self {
            Kind::Simulation => Text::RunTitle,
            Kind::Comparison => Text::CompareRunTitle,
            Kind::Study => Text::StudyRunTitle,
        }
    }
    /// What the progress counts.
    fn unit(self) -> Text {
        match self {
            Kind::Study => Text::PointsDone,
            _ => Text::ReplicationsDone,
        }
    }
    fn cancel(self) -> Text {
        match self {
            Kind::Study => Text::CancelStudy,
            _ => Text::CancelRun,
        }
    }
}

/// What a finished run has.
#[derive(Clone)]
pub(super) enum Outcome {
    /// The results of each scenario simulated.
    Sims(Arc<Vec<sim::Results>>),
    /// A study's merged result (marked partial when cancelled).
    Study(Arc<StudyResult>),
}

/// How a run ended: its outcome, or why it has none.
type Ended = Option<Result<Outcome, String>>;

/// One run started from the pages.
pub(super) struct Run {
    owner: String,
    name: String,
    kind: Kind,
    wanted: u32,
    done: Arc<AtomicU32>,
    cancel: Arc<AtomicBool>,
    outcome: Arc<Mutex<Ended>>,
}

/// The worker's side of a run: progress, the cancel flag, the outcome.
pub(super) struct Worker {
    /// Units finished so far (replications or points).
    pub done: Arc<AtomicU32>,
    /// Set when the person cancels (or the run is dropped from the table).
    pub cancel: Arc<AtomicBool>,
    outcome: Arc<Mutex<Ended>>,
}

impl Worker {
    /// Records how the run ended.
    pub fn finish(&self, r: Result<Outcome, String>) {
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
    }
}

fn runs() -> &'static Mutex<BTreeMap<u64, Run>> {
    static RUNS: std::sync::OnceLock<Mutex<BTreeMap<u64, Run>>> = std::sync::OnceLock::new();
    RUNS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// Enters a run of `wanted` units in the table (dropping the oldest
/// finished run, else the oldest, when it is full); its id and the
/// worker's handles.
pub(super) fn register(owner: String, name: String, kind: Kind, wanted: u32) -> (u64, Worker) {
    let worker = Worker {
        done: Arc::new(AtomicU32::new(0)),
        cancel: Arc::new(AtomicBool::new(false)),
        outcome: Arc::new(Mutex::new(None)),
    };
    let id = next_id();
    let mut table = runs().lock().unwrap_or_else(PoisonError::into_inner);
    while table.len() >= MAX_RUNS {
        let finished = table
            .iter()
            .find(|(_, r)| r.outcome.lock().map(|o| o.is_some()).unwrap_or(true))
            .map(|(k, _)| *k);
        let Some(k) = finished.or_else(|| table.keys().next().copied()) else {
            break;
        };
        if let Some(r) = table.remove(&k) {
            r.cancel.store(true, Ordering::SeqCst);
        }
    }
    table.insert(
        id,
        Run {
            owner,
            name,
            kind,
            wanted,
            done: worker.done.clone(),
            cancel: worker.cancel.clone(),
            outcome: worker.outcome.clone(),
        },
    );
    (id, worker)
}

/// Starts a simulation run on a thread of its own; its id. One model: a
/// simulation (`atmpflow simulate`); several: a comparison (`atmpflow
/// compare`), the scenarios simulated one after the other with the same
/// replications. Each model comes with the SHA-256 of its text.
pub(super) fn start(
    owner: String,
    name: String,
    models: Vec<(model::Model, String)>,
    reps: u32,
) -> u64 {
    let kind = if models.len() > 1 {
        Kind::Comparison
    } else {
        Kind::Simulation
    };
    let wanted = reps.saturating_mul(u32::try_from(models.len()).unwrap_or(u32::MAX));
    let (id, worker) = register(owner, name, kind, wanted);
    std::thread::spawn(move || {
        let opts = sim::RunOptions {
            replications: Some(reps),
            seed: None,
            threads: 1,
            plan: None,
            drop_replications: false,
            event_budget: None,
        };
        let r = simulate_all(&models, &opts, reps, &worker.done, &worker.cancel);
        worker.finish(r.map(Outcome::Sims));
    });
    id
}

/// Simulates each model in turn; the progress counts the replications of
/// all of them. A comparison cancelled part-way has no results (a
/// comparison with a scenario missing would mislead).
fn simulate_all(
    models: &[(model::Model, String)],
    opts: &sim::RunOptions,
    reps: u32,
    done: &AtomicU32,
    cancel: &AtomicBool,
) -> Result<Arc<Vec<sim::Results>>, String> {
    let mut all = Vec::with_capacity(models.len());
    for (i, (model, sha)) in models.iter().enumerate() {
        if models.len() > 1 && cancel.load(Ordering::SeqCst) {
            return Err(t(Text::CompareCancelled).to_string());
        }
        let before = reps.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
        let progress = |n: u32| done.store(before.saturating_add(n), Ordering::SeqCst);
        let mut r = sim::run(model, opts, &progress, cancel).map_err(|e| e.to_string())?;
        if models.len() > 1 && r.cancelled {
            return Err(t(Text::CompareCancelled).to_string());
        }
        r.scenario_sha256 = sha.clone();
        all.push(r);
    }
    Ok(Arc::new(all))
}

/// Answers `/plan/run/{id}/…` (`rest`: the segments after `run`).
pub(super) fn answer(ctx: &Ctx<'_>, rest: &[&str], read: bool) -> Response {
    match (rest, read) {
        ([id], true) => with_run(ctx, id, |id, r| run_page(ctx, id, r)),
        ([id, "status"], true) => with_run(ctx, id, |_, r| status(r)),
        ([id, "events"], true) => with_run(ctx, id, |_, r| events(ctx, r)),
        ([id, "cancel"], false) => with_run(ctx, id, |id, r| {
            r.cancel.store(true, Ordering::SeqCst);
            redirect(&format!("/plan/run/{id}"))
        }),
        ([id, "report"], true) => with_run(ctx, id, |_, r| report(r)),
        ([id, "csv", name], true) => with_run(ctx, id, |_, r| csv(r, name)),
        _ => not_found(&format!("run/{}", rest.join("/"))),
    }
}

fn with_run(ctx: &Ctx<'_>, id: &str, f: impl FnOnce(u64, &Run) -> Response) -> Response {
    let Ok(n) = id.parse::<u64>() else {
        return not_found(id);
    };
    let table = runs().lock().unwrap_or_else(PoisonError::into_inner);
    match table.get(&n) {
        Some(r) if r.owner == ctx.who.user => f(n, r),
        _ => not_found(&format!("run/{id}")),
    }
}

/// What a run has reached: (done, wanted, how it ended).
fn state(r: &Run) -> (u32, u32, Ended) {
    let o = r
        .outcome
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    (r.done.load(Ordering::SeqCst), r.wanted, o)
}

/// `GET /plan/run/{id}`: the progress bar (the page's script follows
/// `…/events`, or polls `…/status`, and reloads when the run ends), cancel,
/// then the report.
fn run_page(ctx: &Ctx<'_>, id: u64, r: &Run) -> Response {
    let (done, wanted, outcome) = state(r);
    let title = t(r.kind.title());
    let mut body = format!(
        "<p><a href=\"/plan\">{}</a></p><h1>{}: {}</h1>",
        esc(t(Text::ScenariosTitle)),
        esc(title),
        esc(&r.name)
    );
    match outcome {
        None => {
            let _ = write!(
                body,
                "<label for=\"run-progress\">{}</label>\
                 <progress id=\"run-progress\" max=\"{wanted}\" value=\"{done}\" \
                 data-status=\"/plan/run/{id}/status\" data-events=\"/plan/run/{id}/events\">{done} / {wanted}</progress>\
                 <p aria-live=\"polite\"><span id=\"run-count\">{done}</span> / {wanted} {}</p>\
                 <form method=\"post\" action=\"/plan/run/{id}/cancel\">{}\
                 <button type=\"submit\" class=\"secondary\">{}</button></form>",
                esc(t(Text::RunProgress)),
                esc(t(r.kind.unit())),
                csrf_field(ctx.csrf),
                esc(t(r.kind.cancel())),
            );
        }
        Some(Err(e)) => {
            body.push_str(&feedback_alert(&e));
        }
        Some(Ok(o)) => {
            let (class, note) = ended_note(r, &o);
            let _ = write!(
                body,
                "<div class=\"notice {class}\" role=\"alert\" id=\"feedback\"><p>{}</p></div>\
                 <p><a class=\"button\" href=\"/plan/run/{id}/report\">{}</a></p><h2>{}</h2><ul>",
                esc(&note),
                esc(t(Text::OpenReport)),
                esc(t(Text::CsvDownloads)),
            );
            for (name, _) in csv_files(r, &o) {
                let _ = write!(
                    body,
                    "<li><a href=\"/plan/run/{id}/csv/{}\" download>{}</a></li>",
                    esc(&name),
                    esc(&name)
                );
            }
            body.push_str("</ul>");
        }
    }
    page(ctx, StatusCode::OK, title, &body)
}

/// The notice of a finished run: its class (`good`, or `warn` for a
/// partial result) and text.
fn ended_note(r: &Run, o: &Outcome) -> (&'static str, String) {
    let all = match o {
        Outcome::Study(s) => return study_note(s),
        Outcome::Sims(all) => all,
    };
    let Some(res) = all.first() else {
        return ("good", t(Text::RunDone).to_string());
    };
    if r.kind == Kind::Comparison {
        let note = format!(
            "{} ({} × {} {})",
            t(Text::RunDone),
            all.len(),
            res.replications,
            t(Text::ReplicationsDone)
        );
        return ("good", note);
    }
    if res.cancelled {
        let note = format!(
            "{} ({} / {})",
            t(Text::RunCancelled),
            res.replications,
            res.replications_requested
        );
        return ("warn", note);
    }
    let note = format!(
        "{} ({} {})",
        t(Text::RunDone),
        res.replications,
        t(Text::ReplicationsDone)
    );
    ("good", note)
}

/// The notice of a finished study: done, or partial (cancelled) with how
/// many points finished; points that failed are counted.
fn study_note(s: &StudyResult) -> (&'static str, String) {
    let failed = if s.failed.is_empty() {
        String::new()
    } else {
        format!("; {} {}", s.failed.len(), t(Text::PointsFailed))
    };
    if s.partial {
        let note = format!(
            "{} ({} / {} {}{failed})",
            t(Text::StudyPartial),
            s.points.len(),
            s.points_total,
            t(Text::PointsDone)
        );
        return ("warn", note);
    }
    let note = format!(
        "{} ({} {}{failed})",
        t(Text::RunDone),
        s.points.len(),
        t(Text::PointsDone)
    );
    ("good", note)
}

/// The progress of a run as JSON: `{"done":N,"wanted":M,"finished":bool}`.
fn progress_json(r: &Run) -> String {
    let (done, wanted, outcome) = state(r);
    serde_json::json!({ "done": done, "wanted": wanted, "finished": outcome.is_some() }).to_string()
}

/// `GET /plan/run/{id}/status`: the progress as JSON.
fn status(r: &Run) -> Response {
    let mut resp = Response::new(Body::from(progress_json(r)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// One open progress stream's place among [`MAX_RUN_STREAMS`], given back
/// when the stream ends.
struct Slot;

static OPEN_STREAMS: AtomicUsize = AtomicUsize::new(0);

impl Slot {
    fn take() -> Option<Slot> {
        OPEN_STREAMS
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_RUN_STREAMS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        OPEN_STREAMS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a progress stream follows.
struct Follow {
    done: Arc<AtomicU32>,
    wanted: u32,
    outcome: Arc<Mutex<Ended>>,
    sent: Option<u32>,
    ended: bool,
    quiet: u32,
    stop: tokio::sync::watch::Receiver<bool>,
    _slot: Slot,
}

impl Follow {
    fn data(&self, done: u32, finished: bool) -> String {
        serde_json::json!({ "done": done, "wanted": self.wanted, "finished": finished }).to_string()
    }

    /// The next event: `progress` when the count changed, `end` once the run
    /// has ended (then the stream ends), a keep-alive comment after
    /// [`KEEP_ALIVE_TICKS`] quiet ticks; nothing on shutdown.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Follow)> {
        if self.ended {
            return None;
        }
        loop {
            let done = self.done.load(Ordering::SeqCst);
            let finished = self
                .outcome
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some();
            if finished {
                self.ended = true;
                let ev = Event::default().event("end").data(self.data(done, true));
                return Some((Ok(ev), self));
            }
            if self.sent != Some(done) {
                self.sent = Some(done);
                self.quiet = 0;
                let ev = Event::default()
                    .event("progress")
                    .data(self.data(done, false));
                return Some((Ok(ev), self));
            }
            if *self.stop.borrow() {
                return None;
            }
            tokio::select! {
                () = tokio::time::sleep(STREAM_TICK) => {}
                _ = self.stop.changed() => return None,
            }
            self.quiet += 1;
            if self.quiet >= KEEP_ALIVE_TICKS {
                self.quiet = 0;
                return Some((Ok(Event::default().comment("keep-alive")), self));
            }
        }
    }
}

/// `GET /plan/run/{id}/events`: the run's progress as server-sent events
/// (`progress` on each change, `end` when it has ended), the stream ending
/// with the run or on shutdown. At most [`MAX_RUN_STREAMS`] at once: beyond,
/// 503 (the page then polls `…/status`).
fn events(ctx: &Ctx<'_>, r: &Run) -> Response {
    let Some(slot) = Slot::take() else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            Text::BadRequestTitle,
            &format!("{MAX_RUN_STREAMS} progress streams are open already; the page polls instead"),
        );
    };
    let follow = Follow {
        done: r.done.clone(),
        wanted: r.wanted,
        outcome: r.outcome.clone(),
        sent: None,
        ended: false,
        quiet: 0,
        stop: ctx.st.live.stop_signal(),
        _slot: slot,
    };
    let mut resp = Sse::new(futures_util::stream::unfold(follow, Follow::next)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn finished(r: &Run) -> Option<Outcome> {
    state(r).2.and_then(Result::ok)
}

/// The CSV files of a finished run: those of `atmpflow study`, of
/// `atmpflow compare` for a comparison, else those of `atmpflow simulate`.
fn csv_files(r: &Run, o: &Outcome) -> Vec<(String, String)> {
    match o {
        Outcome::Study(s) => report::cost::study_csv(s),
        Outcome::Sims(all) if r.kind == Kind::Comparison => {
            let mut files = vec![("compare.csv".to_string(), report::comparison_csv(all))];
            if let Some(csv) = report::comparison_resources_csv(all) {
                files.push(("compare_resources.csv".to_string(), csv));
            }
            files
        }
        Outcome::Sims(all) => all.first().map_or_else(Vec::new, report::simulation_csv),
    }
}

fn not_finished() -> Response {
    problem(
        StatusCode::CONFLICT,
        Text::BadRequestTitle,
        t(Text::RunNotFinished),
    )
}

/// `GET /plan/run/{id}/report`: the report of `atmpflow simulate`, the page
/// of `atmpflow compare` (`compare.html`) or of `atmpflow study`
/// (`study.html`).
fn report(r: &Run) -> Response {
    let Some(o) = finished(r) else {
        return not_finished();
    };
    let all = match o {
        Outcome::Study(s) => return report_page(report::cost::study_html(&s)),
        Outcome::Sims(all) => all,
    };
    if r.kind == Kind::Comparison {
        return report_page(report::comparison_html(&all));
    }
    let Some(res) = all.first() else {
        return not_finished();
    };
    let opts = report::ReportOptions {
        v2v_target_days: None,
        scenario_file: Some(r.name.clone()),
    };
    report_page(report::simulation_html_with(res, &opts))
}

/// `GET /plan/run/{id}/csv/{name}`: one CSV file of the results.
fn csv(r: &Run, name: &str) -> Response {
    let Some(o) = finished(r) else {
        return not_finished();
    };
    match csv_files(r, &o).into_iter().find(|(n, _)| n == name) {
        Some((n, text)) => csv_download(&n, text),
        None => not_found(name),
    }
}
