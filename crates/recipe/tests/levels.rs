//! Levels 3 and 4 on small inline fixtures: binding choices and rejections with reasons,
//! the no-fit error, every deviation kind, and the planner link.

use recipe::bind::{ReasonKind, Verdict};
use recipe::record::DeviationKind;
use recipe::{Date, Inventory, Recipe};

fn centrifuge(id: &str, rcf: (f64, f64), vol: f64, qual: &str, uses_left: u64) -> String {
    format!(
        r#"
[[equipment]]
id = "{id}"
class = "module"
manufacturer = "M"
model = "C"
serial = "{id}"
[equipment.capabilities.centrifugation]
rcf = {{ min = {}, max = {}, unit = "x g" }}
volume = {{ max = {vol}, unit = "mL" }}
closed = true
[equipment.qualification]
{qual}
[[equipment.counters]]
name = "port"
used = {}
max = 100
"#,
        rcf.0,
        rcf.1,
        100 - uses_left
    )
}

const VALID: &str = "status = \"qualified\"\npq = 2025-01-01\nnext_requalification = 2027-06-01";

fn inventory() -> Inventory {
    let mut s = String::from("[inventory]\nsite = \"test\"\n");
    s += &centrifuge("c_ok", (100.0, 1000.0), 500.0, VALID, 3);
    s += &centrifuge(
        "c_expired",
        (100.0, 1000.0),
        500.0,
        "status = \"qualified\"\npq = 2024-01-01\nnext_requalification = 2026-11-01",
        50,
    );
    s += &centrifuge("c_small", (100.0, 1000.0), 150.0, VALID, 50);
    s += &centrifuge("c_narrow", (350.0, 1000.0), 500.0, VALID, 50);
    s += &centrifuge(
        "c_suspended",
        (100.0, 1000.0),
        500.0,
        "status = \"suspended\"\npq = 2025-01-01\nnext_requalification = 2027-06-01",
        50,
    );
    s += &centrifuge(
        "c_soon",
        (100.0, 1000.0),
        500.0,
        "status = \"qualified\"\npq = 2025-01-01\nnext_requalification = 2026-12-02",
        50,
    );
    s += &centrifuge(
        "c_spare",
        (100.0, 1000.0),
        500.0,
        "status = \"qualified\"\npq = 2025-01-01\nnext_requalification = 2027-01-31",
        50,
    );
    recipe::parse_inventory("inv.toml", &s).unwrap_or_else(|e| panic!("{e}"))
}

const RECIPE: &str = r#"[procedure]
id = "mini"
type = "master"

[[unit_procedure]]
id = "u"
name = "U"

[[step]]
id = "wash"
unit_procedure = "u"
duration = { min = 20, target = 24, max = 26, unit = "h" }
max_hold = { value = 2, unit = "h" }
[step.parameters]
rcf = { target = 400, min = 300, max = 500, unit = "x g" }
[[step.requires]]
capability = "centrifugation"
uses = { port = 2 }
[step.requires.parameters]
rcf = { min = 300, max = 500, unit = "x g" }
volume = { at_least = 250, unit = "mL" }

[[step]]
id = "wash2"
unit_procedure = "u"
duration = { value = 1, unit = "h" }
[[step.requires]]
capability = "centrifugation"
uses = { port = 2 }
[step.requires.parameters]
rcf = { min = 300, max = 500, unit = "x g" }
volume = { at_least = 250, unit = "mL" }
"#;

fn recipe(src: &str) -> Recipe {
    recipe::parse_recipe("r.toml", src).unwrap_or_else(|e| panic!("{e}"))
}

fn day(s: &str) -> Date {
    Date::parse(s).expect("date")
}

/// The equipment a binding chose for the centrifugation of `step`.
fn centrifuge_of<'a>(b: &'a recipe::Binding, step: &str) -> Option<&'a str> {
    b.get(step, "centrifugation")
        .and_then(|a| a.equipment.as_deref())
}

fn verdict<'a>(b: &'a recipe::Binding, step: &str, eq: &str) -> &'a recipe::bind::Candidate {
    b.get(step, "centrifugation")
        .and_then(|a| a.candidates.iter().find(|c| c.equipment == eq))
        .unwrap_or_else(|| panic!("{eq} not a candidate of {step}"))
}

#[test]
fn binding_chooses_and_rejects_with_reasons() {
    let b = recipe::bind(&recipe(RECIPE), &inventory(), day("2026-12-01"));
    assert!(b.is_complete(), "{}", b.render_text());
    assert_eq!(centrifuge_of(&b, "wash"), Some("c_ok"));

    let kinds = |step: &str, eq: &str| -> Vec<ReasonKind> {
        verdict(&b, step, eq)
            .reasons
            .iter()
            .map(|r| r.kind)
            .collect()
    };
    assert_eq!(
        kinds("wash", "c_expired"),
        [ReasonKind::QualificationExpired]
    );
    assert_eq!(kinds("wash", "c_small"), [ReasonKind::CapacityTooSmall]);
    assert_eq!(kinds("wash", "c_narrow"), [ReasonKind::OutOfRange]);
    assert_eq!(kinds("wash", "c_suspended"), [ReasonKind::NotQualified]);
    // Valid today, but requalification is due before the 24-hour step ends.
    assert_eq!(kinds("wash", "c_soon"), [ReasonKind::QualificationExpired]);
    assert!(
        verdict(&b, "wash", "c_soon").reasons[0]
            .message
            .contains("before the step's nominal end")
    );
    assert_eq!(verdict(&b, "wash", "c_spare").verdict, Verdict::Fits);
    assert!(
        verdict(&b, "wash", "c_ok").reasons[0]
            .message
            .contains("longest qualification validity")
    );

    // wash used 2 of c_ok's 3 remaining port uses: wash2 must take the spare.
    assert_eq!(centrifuge_of(&b, "wash2"), Some("c_spare"));
    let ok2 = verdict(&b, "wash2", "c_ok");
    assert_eq!(ok2.verdict, Verdict::Rejected);
    assert_eq!(ok2.reasons[0].kind, ReasonKind::UsageExhausted);
    assert!(
        ok2.reasons[0].message.contains("+2 by earlier steps"),
        "{}",
        ok2.reasons[0].message
    );

    // The JSON form round-trips (it is the input of `recipe diff --bound`).
    let json = serde_json::to_string(&b).expect("json");
    assert_eq!(recipe::bind::parse_binding_json(&json).expect("parses"), b);
}

#[test]
fn as_of_date_changes_the_verdict() {
    // c_expired's requalification is due 2026-11-01: on 2026-10-01 it still fits (ranked below
    // c_ok, which is valid longer).
    let b = recipe::bind(&recipe(RECIPE), &inventory(), day("2026-10-01"));
    assert_eq!(verdict(&b, "wash", "c_expired").verdict, Verdict::Fits);
    // After c_ok's and c_spare's requalification nothing is qualified.
    let b = recipe::bind(&recipe(RECIPE), &inventory(), day("2027-07-01"));
    assert!(!b.is_complete());
}

#[test]
fn no_fit_is_a_clear_error() {
    let strict = RECIPE.replace(
        "at_least = 250, unit = \"mL\"",
        "at_least = 2000, unit = \"mL\"",
    );
    let err = recipe::bind_strict(&recipe(&strict), &inventory(), day("2026-12-01"))
        .expect_err("nothing fits");
    let text = err.to_string();
    assert!(
        text.contains("no equipment fits step `wash` requirement `centrifugation`"),
        "{text}"
    );
    assert!(text.contains("volume ≥ 2000 mL"), "{text}");
    // Every candidate is listed with its reason.
    for id in [
        "c_ok",
        "c_expired",
        "c_small",
        "c_narrow",
        "c_suspended",
        "c_soon",
        "c_spare",
    ] {
        assert!(
            text.contains(&format!("\n  {id}: ")),
            "{id} missing in {text}"
        );
    }
    let susp = text
        .lines()
        .find(|l| l.contains("c_suspended:"))
        .expect("listed");
    assert!(
        susp.contains("capacity too small") && susp.contains("qualification status is suspended"),
        "{text}"
    );
    assert_eq!(err.unbound.len(), 2);
    // A capability nobody offers.
    let none = RECIPE.replacen(
        "capability = \"centrifugation\"\nuses = { port = 2 }\n[step.requires.parameters]\nrcf = { min = 300, max = 500, unit = \"x g\" }\nvolume = { at_least = 250, unit = \"mL\" }\n",
        "capability = \"weighing\"\n",
        1,
    );
    let err = recipe::bind_strict(&recipe(&none), &inventory(), day("2026-12-01"))
        .expect_err("no balance");
    assert!(err.to_string().contains("requirement `weighing`"), "{err}");
}

#[test]
fn group_binds_one_equipment_that_fits_every_member() {
    // Both steps in group `g`: one centrifuge for both.
    let grouped = RECIPE
        .replace("uses = { port = 2 }\n[step.requires.parameters]\nrcf = { min = 300, max = 500", "group = \"g\"\n[step.requires.parameters]\nrcf = { min = 300, max = 500")
        .replace("rcf = { min = 300, max = 500, unit = \"x g\" }\nvolume = { at_least = 250, unit = \"mL\" }\n\"#", "");
    let r = recipe(&grouped);
    assert!(
        r.steps
            .iter()
            .all(|s| s.requires[0].group.as_deref() == Some("g"))
    );
    let b = recipe::bind(&r, &inventory(), day("2026-12-01"));
    let a = b
        .get("wash", "centrifugation")
        .and_then(|a| a.equipment.clone());
    assert_eq!(
        a,
        b.get("wash2", "centrifugation")
            .and_then(|a| a.equipment.clone())
    );
    assert!(a.is_some());

    // Make the second member impossible for c_ok only: it then loses to the spare.
    let mut inv = inventory();
    if let Some(e) = inv.equipment.iter_mut().find(|e| e.id == "c_ok") {
        e.capabilities
            .get_mut("centrifugation")
            .expect("cap")
            .parameters
            .remove("volume");
    }
    let b = recipe::bind(&r, &inv, day("2026-12-01"));
    assert_eq!(centrifuge_of(&b, "wash"), Some("c_spare"));
    let c = verdict(&b, "wash", "c_ok");
    assert_eq!(c.verdict, Verdict::Rejected);
    assert!(
        c.reasons
            .iter()
            .any(|r| r.kind == ReasonKind::MissingParameter)
    );
}

const RECORD: &str = r#"[record]
batch = "B1"
recipe = "mini"

[[step]]
id = "wash"
started = 2026-12-01T08:00:00Z
ended = 2026-12-02T08:00:00Z
operator = "a"
equipment = { centrifugation = "c_ok" }
[step.measured]
rcf = { value = 400, unit = "x g" }

[[step]]
id = "wash2"
started = 2026-12-02T09:00:00Z
ended = 2026-12-02T10:00:00Z
operator = "a"
equipment = { centrifugation = "c_spare" }
"#;

fn deviations(rec: &str) -> Vec<(DeviationKind, String, String)> {
    let r = recipe(RECIPE);
    let inv = inventory();
    let b = recipe::bind(&r, &inv, day("2026-12-01"));
    let rec = recipe::parse_record("rec.toml", rec).unwrap_or_else(|e| panic!("{e}"));
    recipe::diff(&r, Some(&b), Some(&inv), &rec)
        .deviations
        .into_iter()
        .map(|d| (d.kind, d.step, d.field))
        .collect()
}

/// The kind and field of a deviation from [`deviations`].
fn kind_and_field(d: &(DeviationKind, String, String)) -> (DeviationKind, &str) {
    (d.0, d.2.as_str())
}

fn one(rec: &str) -> (DeviationKind, String, String) {
    let d = deviations(rec);
    assert_eq!(d.len(), 1, "{d:?}");
    d.into_iter().next().expect("one")
}

/// Fails unless [`RECORD`] with `from` written as `to` has exactly one deviation, of the
/// kind and at the field `expected`.
#[track_caller]
fn assert_one_deviation(from: &str, to: &str, expected: (DeviationKind, &str)) {
    let d = one(&RECORD.replace(from, to));
    assert_eq!(kind_and_field(&d), expected);
}

/// [`assert_one_deviation`] with the step: `expected` is the kind, the step and the field.
#[track_caller]
fn assert_one_deviation_in(from: &str, to: &str, expected: (DeviationKind, &str, &str)) {
    let d = one(&RECORD.replace(from, to));
    assert_eq!((d.0, d.1.as_str(), d.2.as_str()), expected);
}

#[test]
fn a_faithful_record_has_no_deviation() {
    assert_eq!(deviations(RECORD), []);
}

#[test]
fn out_of_range_value_and_wrong_unit() {
    assert_one_deviation(
        "value = 400",
        "value = 520",
        (DeviationKind::OutOfRange, "parameters.rcf"),
    );
    let d = one(&RECORD.replace(
        "rcf = { value = 400, unit = \"x g\" }",
        "rcf = { value = 400, unit = \"rpm\" }",
    ));
    assert_eq!(d.0, DeviationKind::OutOfRange);
}

#[test]
fn out_of_range_sensor_series() {
    let rec = RECORD.replace(
        "[step.measured]\nrcf = { value = 400, unit = \"x g\" }",
        "[[step.sensor]]\nname = \"rcf\"\nunit = \"x g\"\nvalues = [400, 410, 530, 420]",
    );
    let r = recipe(RECIPE);
    let parsed = recipe::parse_record("rec.toml", &rec).expect("record");
    let d = recipe::diff(&r, None, None, &parsed);
    assert_eq!(d.deviations.len(), 1, "{}", d.render_text());
    assert_eq!(d.deviations[0].kind, DeviationKind::OutOfRange);
    assert!(
        d.deviations[0]
            .actual
            .contains("1 of 4 samples outside, worst 530"),
        "{}",
        d.render_text()
    );
}

#[test]
fn missing_parameter_step_operator_equipment() {
    assert_one_deviation(
        "[step.measured]\nrcf = { value = 400, unit = \"x g\" }\n",
        "",
        (DeviationKind::Missing, "parameters.rcf"),
    );
    assert_one_deviation_in(
        "operator = \"a\"\nequipment = { centrifugation = \"c_spare\" }",
        "equipment = { centrifugation = \"c_spare\" }",
        (DeviationKind::Missing, "wash2", "operator"),
    );
    assert_one_deviation(
        "equipment = { centrifugation = \"c_spare\" }\n",
        "",
        (DeviationKind::Missing, "equipment.centrifugation"),
    );
    let cut = &RECORD[..RECORD.rfind("[[step]]").expect("second step")];
    let d = one(cut);
    assert_eq!(
        (d.0, d.1.as_str(), d.2.as_str()),
        (DeviationKind::Missing, "wash2", "step")
    );
}

#[test]
fn late_early_and_out_of_order() {
    // wash took 27 h (max 26).
    assert_one_deviation(
        "started = 2026-12-01T08:00:00Z",
        "started = 2026-12-01T05:00:00Z",
        (DeviationKind::Late, "duration"),
    );
    // wash took 10 h (min 20).
    assert_one_deviation(
        "started = 2026-12-01T08:00:00Z",
        "started = 2026-12-01T22:00:00Z",
        (DeviationKind::Early, "duration"),
    );
    // wash2 started 3 h after wash ended (max hold 2 h).
    assert_one_deviation_in(
        "started = 2026-12-02T09:00:00Z\nended = 2026-12-02T10:00:00Z",
        "started = 2026-12-02T11:00:00Z\nended = 2026-12-02T12:00:00Z",
        (DeviationKind::Late, "wash2", "hold"),
    );
    // wash2 started before wash ended.
    assert_one_deviation(
        "started = 2026-12-02T09:00:00Z\nended = 2026-12-02T10:00:00Z",
        "started = 2026-12-02T07:00:00Z\nended = 2026-12-02T08:00:00Z",
        (DeviationKind::OutOfOrder, "started"),
    );
}

#[test]
fn wrong_equipment_against_binding_and_inventory() {
    // Another fitting centrifuge than the bound one: one deviation (binding).
    let d = deviations(&RECORD.replace(
        "equipment = { centrifugation = \"c_ok\" }",
        "equipment = { centrifugation = \"c_spare\" }",
    ));
    assert_eq!(
        d,
        [(
            DeviationKind::WrongEquipment,
            "wash".to_string(),
            "equipment.centrifugation".to_string()
        )]
    );
    // An expired and too-small one: binding and inventory both object.
    let d = deviations(&RECORD.replace(
        "equipment = { centrifugation = \"c_ok\" }",
        "equipment = { centrifugation = \"c_small\" }",
    ));
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d.iter().all(|x| x.0 == DeviationKind::WrongEquipment));
    // Unknown equipment.
    let d = deviations(&RECORD.replace(
        "equipment = { centrifugation = \"c_ok\" }",
        "equipment = { centrifugation = \"c_nowhere\" }",
    ));
    assert_eq!(d.len(), 2, "{d:?}");
    // Without binding or inventory, nothing to compare against.
    let r = recipe(RECIPE);
    let rec = recipe::parse_record("rec.toml", &RECORD.replace("\"c_ok\"", "\"c_small\""))
        .expect("record");
    assert!(recipe::diff(&r, None, None, &rec).deviations.is_empty());
}

#[test]
fn unexpected_step_and_equipment() {
    let d = deviations(&format!(
        "{RECORD}\n[[step]]\nid = \"coffee\"\nstarted = 2026-12-02T10:00:00Z\nended = 2026-12-02T10:10:00Z\noperator = \"a\"\n"
    ));
    assert_eq!(
        d,
        [(
            DeviationKind::Unexpected,
            "coffee".to_string(),
            "step".to_string()
        )]
    );
    assert_one_deviation(
        "equipment = { centrifugation = \"c_ok\" }",
        "equipment = { centrifugation = \"c_ok\", mixer = \"m1\" }",
        (DeviationKind::Unexpected, "equipment.mixer"),
    );
}

#[test]
fn a_repeated_step_is_judged_by_its_last_run() {
    let rec = RECORD.replacen(
        "[[step]]\nid = \"wash\"",
        "[[step]]\nid = \"wash\"\nstarted = 2026-11-30T08:00:00Z\nended = 2026-11-30T09:00:00Z\noperator = \"a\"\n\n[[step]]\nid = \"wash\"",
        1,
    );
    assert_eq!(deviations(&rec), []);
}

#[test]
fn plan_merges_grouped_steps_and_pools_fitting_equipment() {
    let grouped = RECIPE.replace("uses = { port = 2 }\n", "group = \"g\"\n");
    let r = recipe(&grouped);
    let inv = inventory();
    let b = recipe::bind(&r, &inv, day("2026-12-01"));
    let (sc, notes) =
        recipe::scenario(&r, &b, &inv, &recipe::PlanOptions::default()).expect("plan");
    let p = &sc.product[0];
    assert_eq!(p.step.len(), 1);
    assert_eq!(p.step[0].name, "wash..wash2");
    // Summed triangular: 20+1, 24+1, 26+1 hours.
    match &p.step[0].duration {
        model::scenario::Distribution::Triangular { min, mode, max, .. } => {
            assert_eq!((*min, *mode, *max), (21.0, 25.0, 27.0));
        }
        other => panic!("{other:?}"),
    }
    assert!(notes.iter().any(|n| n.contains("wash..wash2")));
    // Fitting on 2026-12-01: c_ok and c_spare (same signature) form one pool of 2.
    assert_eq!(sc.equipment.len(), 1, "{:?}", sc.equipment);
    assert_eq!(sc.equipment[0].name, "c_ok+c_spare");
    assert_eq!(sc.equipment[0].count, 2);
    let text = toml::to_string(&sc).expect("toml");
    model::load("gen.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    // An incomplete binding cannot be planned.
    let b = recipe::bind(&r, &inv, day("2027-07-01"));
    let e = recipe::scenario(&r, &b, &inv, &recipe::PlanOptions::default()).expect_err("unbound");
    assert!(e.to_string().contains("no equipment"), "{e}");
}

#[test]
fn records_read_from_json_too() {
    let rec = recipe::parse_record("rec.toml", RECORD).expect("toml");
    let json = serde_json::to_string_pretty(&rec).expect("json");
    let back =
        recipe::record::parse_record_json("rec.json", &json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, rec);
    // A JSON syntax error is located by line.
    let broken = json.replacen("\"batch\"", "batch", 1);
    let e = recipe::record::parse_record_json("rec.json", &broken).expect_err("syntax");
    assert_eq!(e.errors[0].line, 3, "{e}");
}
