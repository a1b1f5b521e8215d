//! The properties every reader of untrusted input must hold for any input.
//!
//! One function per target takes arbitrary bytes and returns normally for
//! every input; it panics only when a property is broken:
//! - the reader itself never panics (a panic inside it propagates);
//! - a refusal is located: file errors name the file, a line inside the text
//!   and a column, field and message; AAS JSON errors name a JSON path; API
//!   errors are 400 with a text;
//! - what a reader accepts can be used: a parsed recipe binds, plans and
//!   compiles, a parsed record is compared and becomes a batch twin that
//!   passes the AAS checks, parsed AAS JSON serialises and reads back to the
//!   same value, a page never holds more than its limit.
//!
//! Work per input is bounded by the readers' own limits (file size, tables,
//! nesting, page size); the drivers add a time limit per input (libFuzzer's
//! `-timeout` in `fuzz/`, [`TIME_LIMIT`] in the bounded tests).
//!
//! Two drivers call these functions: the coverage-guided libFuzzer targets in
//! `fuzz/` (`cargo fuzz run NAME`, run for a bounded time by
//! `scripts/ci.d/70-fuzz.sh`) and this crate's tests, which replay the
//! committed corpus `fuzz/corpus/NAME/` and feed mutations of it for a
//! bounded number of cases on every `cargo test`.

use std::sync::LazyLock;
use std::time::Duration;

use model::span::FileErrors;

/// Longest time one input may take in the bounded tests (debug build).
pub const TIME_LIMIT: Duration = Duration::from_secs(5);

/// A fuzz target: takes any bytes, panics only when a property is broken.
pub type Target = fn(&[u8]);

/// Every target by name, as the fuzz target files and corpus folders are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("scenario", scenario),
    ("recipe", recipe),
    ("record", record),
    ("aas_json", aas_json),
    ("api_query", api_query),
];

const RECIPE_TOML: &str = include_str!("../../../examples/recipes/car-t-modular.toml");
const INVENTORY_TOML: &str = include_str!("../../../examples/equipment/modular-plant.toml");

struct Reference {
    recipe: recipe::Recipe,
    inventory: recipe::Inventory,
    binding: recipe::Binding,
    as_of: recipe::Date,
}

/// The example recipe, inventory and binding the fuzzed inputs are combined
/// with (the inputs a user would pair them with).
static REFERENCE: LazyLock<Reference> = LazyLock::new(|| {
    let recipe = recipe::parse_recipe("car-t-modular.toml", RECIPE_TOML)
        .unwrap_or_else(|e| panic!("the example recipe must parse: {e}"));
    let inventory = recipe::parse_inventory("modular-plant.toml", INVENTORY_TOML)
        .unwrap_or_else(|e| panic!("the example inventory must parse: {e}"));
    let as_of = recipe::Date::parse("2026-12-01").unwrap_or_else(|| panic!("the reference date"));
    let binding = recipe::bind(&recipe, &inventory, as_of);
    Reference {
        recipe,
        inventory,
        binding,
        as_of,
    }
});

/// Asserts that `errs` locate every problem in the file `name` whose text
/// (possibly with invalid UTF-8) is `data`.
fn assert_located(errs: &FileErrors, name: &str, data: &[u8]) {
    assert!(!errs.errors.is_empty(), "a refusal without any error");
    assert_eq!(errs.file, name, "errors name another file");
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    for e in &errs.errors {
        assert_eq!(e.file, name, "error {e} names another file");
        assert!(
            (1..=lines).contains(&e.line),
            "error {e} is on line {} of a {lines}-line file",
            e.line
        );
        assert!(e.column >= 1, "error {e} has column 0");
        assert!(!e.message.trim().is_empty(), "error at {e} without message");
        assert!(!e.field.is_empty(), "error {e} names no field");
    }
    // rendering must not panic either (the CLI prints exactly this)
    let _ = errs.to_string();
}

fn text(data: &[u8]) -> Option<&str> {
    // The binary reads files as bytes and refuses invalid UTF-8 with its line
    // and column (`model::SourceFile::from_bytes`); the readers take text.
    std::str::from_utf8(data).ok()
}

/// The scenario file: TOML parsing, the file limits and every check of
/// `model::compile` (`atmpflow simulate|check` read it this way).
pub fn scenario(data: &[u8]) {
    const NAME: &str = "fuzz.toml";
    match model::load_bytes(NAME, data) {
        Ok(m) => {
            let rate = m.expected_patients_per_year();
            assert!(
                rate.is_finite(),
                "a compiled model with arrival rate {rate}"
            );
        }
        Err(e) => assert_located(&e, NAME, data),
    }
}

/// Recipe levels 1–3: the same text read as a recipe (levels 1–2) and as an
/// equipment inventory (TOML and JSON); a recipe that parses is checked,
/// bound to the example inventory (level 3) and turned into a scenario that
/// `model` then checks; an inventory that parses binds the example recipe.
pub fn recipe(data: &[u8]) {
    const NAME: &str = "fuzz-recipe.toml";
    let Some(src) = text(data) else { return };
    let reference = &*REFERENCE;
    match recipe::parse_recipe(NAME, src) {
        Ok(r) => {
            let _ = recipe::recipe::check(&r);
            let _ = recipe::recipe::capabilities_used(&r);
            let _ = r.nominal_offsets_h();
            let _ = recipe::bind_strict(&r, &reference.inventory, reference.as_of);
            let binding = recipe::bind(&r, &reference.inventory, reference.as_of);
            if let Ok((sc, _notes)) = recipe::scenario(
                &r,
                &binding,
                &reference.inventory,
                &recipe::PlanOptions::default(),
            ) {
                let _ = model::compile(&sc);
            }
        }
        Err(e) => assert_located(&e, NAME, data),
    }
    for (json, parsed) in [
        (false, recipe::parse_inventory(NAME, src)),
        (true, recipe::parse_inventory_json(NAME, src)),
    ] {
        match parsed {
            Ok(inv) => {
                let b = recipe::bind(&reference.recipe, &inv, reference.as_of);
                let _ =
                    recipe::scenario(&reference.recipe, &b, &inv, &recipe::PlanOptions::default());
            }
            // a JSON syntax error is located by line and column too
            Err(e) if json => assert_located(&e, NAME, data),
            Err(e) => assert_located(&e, NAME, data),
        }
    }
}

/// Level-4 executed records (TOML and JSON) and documented batch record files:
/// a record that parses is compared against the example recipe, binding and
/// inventory, and becomes a batch twin whose submodel and shell pass the AAS
/// checks; a batch record file that parses becomes a valid twin as well.
pub fn record(data: &[u8]) {
    const NAME: &str = "fuzz-record.toml";
    let Some(src) = text(data) else { return };
    let reference = &*REFERENCE;
    for parsed in [
        recipe::parse_record(NAME, src),
        recipe::record::parse_record_json(NAME, src),
    ] {
        match parsed {
            Ok(rec) => {
                let d = recipe::diff(
                    &reference.recipe,
                    Some(&reference.binding),
                    Some(&reference.inventory),
                    &rec,
                );
                let _ = d.render_text();
                let br = aas::twins::batch_record_from_executed(&rec, Some("CAR-T"), Some(&d));
                assert_valid_twin(&aas::twins::batch_twin(&br));
            }
            Err(e) => assert_located(&e, NAME, data),
        }
    }
    match aas::twins::parse_batch_record(NAME, src) {
        Ok(br) => assert_valid_twin(&aas::twins::batch_twin(&br)),
        Err(e) => assert_located(&e, NAME, data),
    }
}

fn assert_valid_twin(t: &aas::twins::Twin) {
    let v = aas::validate::shell(&t.shell);
    assert!(v.is_empty(), "a built shell fails the AAS checks: {v:?}");
    for sm in &t.submodels {
        let v = aas::validate::submodel(sm);
        assert!(v.is_empty(), "a built submodel fails the AAS checks: {v:?}");
    }
}

/// Serialises `v`, reads the text back with `parse` and asserts the same value.
fn round_trip<T, E>(v: &T, parse: impl Fn(&[u8]) -> Result<T, E>)
where
    T: serde::Serialize + PartialEq + std::fmt::Debug,
    E: std::fmt::Display,
{
    let bytes = match serde_json::to_vec(v) {
        Ok(b) => b,
        Err(e) => panic!("an accepted value does not serialise: {e}"),
    };
    match parse(&bytes) {
        Ok(back) => assert_eq!(&back, v, "the value changed on a round trip"),
        Err(e) => panic!(
            "the serialisation of an accepted value is refused: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}

fn assert_json_path(e: &aas::ParseError) {
    assert!(
        e.path.starts_with('$'),
        "AAS error path {:?} is not a JSON path",
        e.path
    );
    assert!(
        !e.message.is_empty(),
        "AAS error at {} without message",
        e.path
    );
}

/// AAS JSON as the server and `atmpflow aas` read it. The first byte picks
/// the kind (shell, submodel, submodel element, element of a list, concept
/// description, environment, shell descriptor, submodel descriptor), the rest
/// is the document. Accepted documents read back unchanged from their own
/// serialisation and go through the API views.
pub fn aas_json(data: &[u8]) {
    let Some((&kind, doc)) = data.split_first() else {
        return;
    };
    use aas::descriptor::{parse_shell_descriptor, parse_submodel_descriptor};
    use aas::parse::{
        parse_concept_description, parse_element, parse_environment, parse_shell, parse_submodel,
    };
    let result = match kind % 8 {
        0 => parse_shell(doc).map(|s| round_trip(&s, parse_shell)),
        1 => parse_submodel(doc).map(|sm| {
            round_trip(&sm, parse_submodel);
            submodel_views(&sm);
        }),
        2 | 3 => {
            let in_list = kind % 8 == 3;
            parse_element(doc, in_list).map(|e| {
                round_trip(&e, |b| parse_element(b, in_list));
                let _ = aas::views::element_metadata(&e);
                let _ = aas::views::value_only(&e, true);
            })
        }
        4 => parse_concept_description(doc).map(|c| round_trip(&c, parse_concept_description)),
        5 => parse_environment(doc).map(|env| {
            round_trip(&env, parse_environment);
            env.submodels.iter().for_each(submodel_views);
        }),
        6 => parse_shell_descriptor(doc).map(|d| {
            round_trip(&d, parse_shell_descriptor);
            let _ = aas::equipment::equipment_id(&d);
        }),
        _ => parse_submodel_descriptor(doc).map(|d| round_trip(&d, parse_submodel_descriptor)),
    };
    if let Err(e) = result {
        assert_json_path(&e);
    }
}

fn submodel_views(sm: &aas::Submodel) {
    let _ = aas::views::submodel_value(sm, false);
    let _ = aas::views::submodel_metadata(sm);
    let mut core = sm.clone();
    aas::views::strip_to_core(&mut core.submodel_elements);
    aas::views::strip_blob_values(&mut core.submodel_elements);
}

/// The API's query string (`form_urlencoded`, then each parameter's checks:
/// `limit`, `cursor`, `level`, `extent`, booleans, base64url identifiers,
/// `assetIds`), paging over a list with that query, and the same text as a
/// base64url path identifier and as an idShortPath.
pub fn api_query(data: &[u8]) {
    use server::util::{self, MAX_PAGE_SIZE, Query};
    let Some(raw) = text(data) else { return };
    let q = Query::parse(Some(raw));
    let refused = |e: util::ApiError| {
        assert_eq!(e.status.as_u16(), 400, "{e:?}");
        assert!(!e.text.is_empty());
    };
    match q.limit() {
        Ok(n) => assert!((1..=MAX_PAGE_SIZE).contains(&n), "page size {n}"),
        Err(e) => refused(e),
    }
    if let Err(e) = q.cursor() {
        refused(e);
    }
    for r in [q.level().map(drop), q.with_blob().map(drop)] {
        if let Err(e) = r {
            refused(e);
        }
    }
    for name in ["diff", "includeConceptDescriptions"] {
        if let Err(e) = q.bool(name) {
            refused(e);
        }
    }
    for name in ["aasIds", "submodelIds", "assetId"] {
        if let Err(e) = q.ids(name) {
            refused(e);
        }
        if let Err(e) = q.id(name) {
            refused(e);
        }
    }
    if let Err(e) = q.asset_ids() {
        refused(e);
    }
    // paging: keys as the store orders them (index keys sort like numbers)
    let items: Vec<(String, usize)> = (0..37).map(|i| (util::index_key(i * 3), i)).collect();
    match (util::page(items, &q), q.limit()) {
        (Ok(r), Ok(limit)) => assert_eq!(r.status().as_u16(), 200, "limit {limit}"),
        (Err(e), _) => refused(e),
        (Ok(_), Err(_)) => panic!("a page served for a refused limit"),
    }
    if let Err(e) = util::decode_id(raw) {
        refused(e);
    }
    let _ = aas::views::parse_id_short_path(raw);
}
