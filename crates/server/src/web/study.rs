//! `/plan/study`: the planner runs a scenario study (`atmpflow study`,
//! [`cost::study`]) from the pages. The study file is a bundled example or
//! pasted and edited in the text area; the files it names are looked up
//! among the bundled examples by file name, or are stored scenarios
//! (`stored:ID`). Errors are shown at their lines as for scenarios; a study
//! larger than the pages' limits is refused with the limit it exceeds. The
//! run ([`super::runs`]) reports finished points as progress; a cancel keeps
//! the points finished so far, and the report says the result is partial.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use axum::response::Response;
use cost::study::{self, NamedPart, ScenarioFiles, Study, StudyError, StudySpec};
use model::{FieldPath, FileError, Problem, SourceFile};

use super::pages::{Ctx, csrf_field, page};
use super::planning::{EXAMPLES, MAX_REPLICATIONS, error_notice, not_found, numbered};
use super::runs::{Kind, Outcome, register};
use super::strings::{Text, t};
use super::{Form, alert, esc, feedback_alert, redirect};

/// The study files bundled in the binary (the scenario studies of
/// `examples/studies/`): file name and text.
pub const STUDY_EXAMPLES: &[(&str, &str)] = &[
    (
        "concepts-by-demand.toml",
        include_str!("../../../../examples/studies/concepts-by-demand.toml"),
    ),
    (
        "incubators-by-demand.toml",
        include_str!("../../../../examples/studies/incubators-by-demand.toml"),
    ),
];

/// The scenario and cost files a study may name besides the scenario
/// examples of [`EXAMPLES`]: the other scenarios of the bundled studies and
/// the cost files of `examples/costs/`.
const STUDY_INPUTS: &[(&str, &str)] = &[
    (
        "strategy-a-two-areas.toml",
        include_str!("../../../../examples/strategy-a-two-areas.toml"),
    ),
    (
        "strategy-b-farming-matrix.toml",
        include_str!("../../../../examples/strategy-b-farming-matrix.toml"),
    ),
    (
        "shared.cost.toml",
        include_str!("../../../../examples/costs/shared.cost.toml"),
    ),
    (
        "concept-1-all-in-one.cost.toml",
        include_str!("../../../../examples/costs/concept-1-all-in-one.cost.toml"),
    ),
    (
        "concept-2-chained-devices.cost.toml",
        include_str!("../../../../examples/costs/concept-2-chained-devices.cost.toml"),
    ),
    (
        "concept-3-modular-plant.cost.toml",
        include_str!("../../../../examples/costs/concept-3-modular-plant.cost.toml"),
    ),
    (
        "concept-4-integrated-platform.cost.toml",
        include_str!("../../../../examples/costs/concept-4-integrated-platform.cost.toml"),
    ),
    (
        "strategy-a-integrated.cost.toml",
        include_str!("../../../../examples/costs/strategy-a-integrated.cost.toml"),
    ),
    (
        "strategy-a-two-areas.cost.toml",
        include_str!("../../../../examples/costs/strategy-a-two-areas.cost.toml"),
    ),
    (
        "strategy-b-farming-matrix.cost.toml",
        include_str!("../../../../examples/costs/strategy-b-farming-matrix.cost.toml"),
    ),
];

/// Largest study text accepted (the pages' form limit applies first).
const MAX_STUDY_TEXT: usize = 120 << 10;
/// Most points (grid and sensitivity) of a study run from the pages
/// (assumption: the bundled concepts study has 23; the 200-point
/// incubator study belongs to `atmpflow study`, which can split it into
/// shards).
pub const MAX_STUDY_POINTS: usize = 60;
/// Most simulations (points × replications) of a study run from the pages
/// (assumption: about the bundled concepts study, 23 × 20, with room to
/// spare; each run takes one core).
pub const MAX_STUDY_SIMULATIONS: usize = 1500;

/// `GET /plan/study` and `/plan/study/example/{name}`: the form, empty or
/// with a bundled study file.
pub(super) fn form_page(ctx: &Ctx<'_>, example: Option<&str>) -> Response {
    let text = match example {
        None => "",
        Some(name) => match STUDY_EXAMPLES.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => text,
            None => return not_found(&format!("study/example/{name}")),
        },
    };
    study_form(ctx, text, "", "", StatusCode::OK)
}

/// The study form with `text` and `reps` filled in; `feedback`: HTML shown
/// above it (findings, refusals).
fn study_form(
    ctx: &Ctx<'_>,
    text: &str,
    reps: &str,
    feedback: &str,
    status: StatusCode,
) -> Response {
    let mut body = format!(
        "<p><a href=\"/plan\">{}</a></p><h1>{}</h1><p>{}</p><h2>{}</h2><ul>",
        esc(t(Text::ScenariosTitle)),
        esc(t(Text::StudyTitle)),
        esc(t(Text::StudyIntro)),
        esc(t(Text::StudyExamples)),
    );
    for (name, text) in STUDY_EXAMPLES {
        let _ = write!(
            body,
            "<li><a href=\"/plan/study/example/{}\">{}</a> — {}</li>",
            esc(name),
            esc(name),
            esc(&study_name(text)),
        );
    }
    let _ = write!(
        body,
        "</ul>{feedback}<form method=\"post\" action=\"/plan/study\">{}\
         <label for=\"st-text\">{}</label>\
         <textarea id=\"st-text\" name=\"text\" rows=\"22\" spellcheck=\"false\" class=\"code\" required>{}</textarea>\
         <label for=\"st-reps\">{}<span class=\"hint\" id=\"st-reps-hint\">{}</span></label>\
         <input id=\"st-reps\" name=\"replications\" inputmode=\"numeric\" value=\"{}\" aria-describedby=\"st-reps-hint\">\
         <div class=\"row\"><div><button type=\"submit\" name=\"do\" value=\"check\">{}</button> \
         <button type=\"submit\" name=\"do\" value=\"run\" class=\"secondary\">{}</button></div></div></form>",
        csrf_field(ctx.csrf),
        esc(t(Text::StudyText)),
        esc(text),
        esc(t(Text::StudyReplicationsHelp)),
        esc(&format!(
            "2 – {MAX_REPLICATIONS}; {} ≤ {MAX_STUDY_POINTS}, {} × {} ≤ {MAX_STUDY_SIMULATIONS}",
            t(Text::Points),
            t(Text::Points),
            t(Text::Replications).to_lowercase(),
        )),
        esc(reps),
        esc(t(Text::CheckStudy)),
        esc(t(Text::RunStudy)),
    );
    body.push_str(&files_section(ctx));
    page(ctx, status, t(Text::StudyTitle), &body)
}

/// The `name = "…"` of a study file's `[study]` (its first such line).
fn study_name(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("name = \"")?.split('"').next())
        .unwrap_or_default()
        .to_string()
}

/// The list of files a study may name: bundled scenarios and cost files,
/// then the stored scenarios as `stored:ID`.
fn files_section(ctx: &Ctx<'_>) -> String {
    let mut out = format!(
        "<h2>{}</h2><p>{}</p><h3>{}</h3><ul class=\"files\">",
        esc(t(Text::StudyFiles)),
        esc(t(Text::StudyFilesHelp)),
        esc(t(Text::ExamplesTitle)),
    );
    for (name, _) in EXAMPLES.iter().chain(STUDY_INPUTS) {
        let _ = write!(out, "<li><code>{}</code></li>", esc(name));
    }
    let _ = write!(out, "</ul><h3>{}</h3>", esc(t(Text::StoredTitle)));
    match ctx.st.store.read(|tx| store::scenarios::list(tx, 200)) {
        Ok(list) if list.is_empty() => {
            let _ = write!(out, "<p>{}</p>", esc(t(Text::NoStored)));
        }
        Ok(list) => {
            out.push_str("<ul>");
            for v in list {
                let _ = write!(
                    out,
                    "<li><code>stored:{}</code> — {} ({} {})</li>",
                    esc(&v.id),
                    esc(&v.name),
                    esc(t(Text::Version)),
                    v.version
                );
            }
            out.push_str("</ul>");
        }
        Err(e) => {
            out.push_str(&alert(&e.to_string()));
        }
    }
    out
}

/// The text of a file a study names: `stored:ID` (the stored scenario's
/// latest version), else a bundled file with the same file name.
fn resolve(ctx: &Ctx<'_>, name: &str) -> Result<SourceFile, String> {
    if let Some(id) = name.strip_prefix("stored:") {
        return ctx
            .st
            .store
            .read(|tx| store::scenarios::get(tx, id, None))
            .map(|v| SourceFile::new(v.name, v.text))
            .map_err(|e| format!("stored scenario {id:?}: {e}"));
    }
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    EXAMPLES
        .iter()
        .chain(STUDY_INPUTS)
        .find(|(n, _)| *n == base)
        .map(|(n, text)| SourceFile::new(*n, *text))
        .ok_or_else(|| {
            format!("{name:?} is neither a bundled example (see the list below) nor stored:ID")
        })
}

/// A study checked and ready, with the fingerprint of its inputs.
struct Checked {
    study: Study,
    inputs_sha256: String,
}

/// Why a study is not run: located errors, or a message.
enum Refusal {
    Located(Vec<FileError>),
    Message(String),
}

/// Reads every file the study names, in the order of `atmpflow study`;
/// each file that cannot be found is an error at its field.
fn read_inputs(
    ctx: &Ctx<'_>,
    src: &SourceFile,
    spec: &StudySpec,
    fingerprint: &mut Fingerprint,
) -> Result<Vec<ScenarioFiles>, Refusal> {
    let mut errors = Vec::new();
    let mut get = |path: FieldPath, name: &str| match resolve(ctx, name) {
        Ok(f) => {
            fingerprint.add(name, f.text());
            Some(f)
        }
        Err(e) => {
            errors.push(src.error(&Problem::new(path, e)));
            None
        }
    };
    let shared = spec
        .study
        .cost
        .as_ref()
        .and_then(|c| get(FieldPath::root().key("study").key("cost"), c));
    let mut files = Vec::new();
    for (i, s) in spec.scenario.iter().enumerate() {
        let at = FieldPath::root().key("scenario").idx(i);
        let scenario = get(at.key("file"), &s.file);
        let cost = s.cost.as_ref().and_then(|c| get(at.key("cost"), c));
        if let Some(scenario) = scenario {
            files.push(ScenarioFiles {
                scenario,
                shared: shared.clone(),
                cost,
            });
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(Refusal::Located(errors))
    }
}

/// SHA-256 over every input's name and bytes (the `inputs_sha256` of
/// `atmpflow study`'s parts).
#[derive(Default)]
struct Fingerprint(sha2::Sha256);

impl Fingerprint {
    fn add(&mut self, name: &str, text: &str) {
        use sha2::Digest;
        for chunk in [name.as_bytes(), text.as_bytes()] {
            self.0.update((chunk.len() as u64).to_le_bytes());
            self.0.update(chunk);
        }
    }
    fn finish(self) -> String {
        use sha2::Digest;
        format!("{:x}", self.0.finalize())
    }
}

/// The number of replications per point: the form's, else the file's;
/// either must be from 2 to [`MAX_REPLICATIONS`].
fn replications(form: &Form, spec: &StudySpec) -> Result<u32, Refusal> {
    let given = form.get("replications").trim();
    let n = if given.is_empty() {
        spec.study.replications
    } else {
        given.parse::<u32>().unwrap_or(0)
    };
    if (2..=MAX_REPLICATIONS).contains(&n) {
        return Ok(n);
    }
    Err(Refusal::Message(if given.is_empty() {
        format!(
            "the study file asks for {n} replications per point; the pages run 2 to \
             {MAX_REPLICATIONS}: enter a number of replications"
        )
    } else {
        format!("replications: {given:?} is not a whole number from 2 to {MAX_REPLICATIONS}")
    }))
}

/// Checks the study text and everything it names; the study ready to run.
fn check(ctx: &Ctx<'_>, text: &str, form: &Form) -> Result<Checked, Refusal> {
    if text.len() > MAX_STUDY_TEXT {
        return Err(Refusal::Message(format!(
            "the study text is longer than {MAX_STUDY_TEXT} bytes"
        )));
    }
    let src = SourceFile::from_bytes("study.toml", text.as_bytes())
        .map_err(|e| Refusal::Located(e.errors))?;
    if cost::study::names_a_network(&src) {
        return Err(Refusal::Message(t(Text::StudyNetwork).to_string()));
    }
    let mut spec = study::parse_spec(&src).map_err(|e| Refusal::Located(e.errors))?;
    spec.study.replications = replications(form, &spec)?;
    let mut fingerprint = Fingerprint::default();
    fingerprint.add("(study file)", text);
    let files = read_inputs(ctx, &src, &spec, &mut fingerprint)?;
    let study = Study::prepare(spec, files).map_err(|e| match e {
        StudyError::File(f) => Refusal::Located(f.errors),
        StudyError::Message(m) => Refusal::Message(m),
    })?;
    let points = study.points.len();
    let reps = study.spec.study.replications as usize;
    if points > MAX_STUDY_POINTS || points.saturating_mul(reps) > MAX_STUDY_SIMULATIONS {
        return Err(Refusal::Message(format!(
            "{}: {points} points × {reps} replications; the pages run at most \
             {MAX_STUDY_POINTS} points and {MAX_STUDY_SIMULATIONS} simulations \
             (points × replications). Lower the replications, sweep fewer values, or run it \
             with `atmpflow study` (which can split it into shards)",
            t(Text::StudyTooBig)
        )));
    }
    Ok(Checked {
        study,
        inputs_sha256: fingerprint.finish(),
    })
}

/// `POST /plan/study`: check the study; with `do=run` and no error, start
/// it and go to its run page.
pub(super) fn submit(ctx: &Ctx<'_>, form: &Form) -> Response {
    let text = form.get("text").replace("\r\n", "\n");
    let reps = form.get("replications");
    let checked = match check(ctx, &text, form) {
        Ok(c) => c,
        Err(Refusal::Located(errors)) => {
            let mut note = error_notice(t(Text::StudyErrors), &errors, Some("study.toml"));
            let own: Vec<FileError> = errors
                .into_iter()
                .filter(|e| e.file == "study.toml")
                .collect();
            if !own.is_empty() {
                note.push_str(&numbered(&text, &own, t(Text::StudyLines)));
            }
            return form_refused(ctx, &text, reps, &note);
        }
        Err(Refusal::Message(m)) => {
            let note = feedback_alert(&m);
            return form_refused(ctx, &text, reps, &note);
        }
    };
    if form.get("do") != "run" {
        let st = &checked.study;
        let note = format!(
            "<div class=\"notice good\" role=\"alert\" id=\"feedback\"><p>{}: {} — {} {} × {} {}</p></div>",
            esc(t(Text::StudyValid)),
            esc(&st.spec.study.name),
            st.points.len(),
            esc(t(Text::Points)),
            st.spec.study.replications,
            esc(&t(Text::Replications).to_lowercase()),
        );
        return study_form(ctx, &text, reps, &note, StatusCode::OK);
    }
    let id = start(ctx.who.user.clone(), &text, checked);
    redirect(&format!("/plan/run/{id}"))
}

fn form_refused(ctx: &Ctx<'_>, text: &str, reps: &str, note: &str) -> Response {
    study_form(ctx, text, reps, note, StatusCode::UNPROCESSABLE_ENTITY)
}

/// Starts the study on a thread of its own (one worker: the server stays
/// responsive); its run id. A cancel skips the points not yet started; the
/// result then holds the points that finished and is marked partial.
fn start(owner: String, text: &str, checked: Checked) -> u64 {
    let Checked {
        study,
        inputs_sha256,
    } = checked;
    let name = study.spec.study.name.clone();
    let total = study.points.len();
    let wanted = u32::try_from(total).unwrap_or(u32::MAX);
    let (id, worker) = register(owner, name.clone(), Kind::Study, wanted);
    let study_sha256 = super::planning::sha256(text);
    std::thread::spawn(move || {
        let indices: Vec<usize> = (0..total).collect();
        let progress = |n: usize| {
            worker
                .done
                .store(u32::try_from(n).unwrap_or(u32::MAX), Ordering::SeqCst);
        };
        let r = study::run(&study, &indices, 1, &progress, &worker.cancel).and_then(
            |(points, failed, partial)| {
                let mut part = study.part([0, 1], total);
                part.study_sha256 = study_sha256;
                part.inputs_sha256 = inputs_sha256;
                part.points = points;
                part.failed = failed;
                part.partial = partial;
                study::merge(&[NamedPart { name, part }], true).map_err(|e| e.to_string())
            },
        );
        worker.finish(r.map(|s| Outcome::Study(Arc::new(s))));
    });
    id
}
