//! Metamodel parsing, constraint checks and twin builders.

use aas::model::DataTypeDefXsd as X;
use aas::parse::{parse_element, parse_environment, parse_submodel};
use aas::twins;
use aas::validate::check_value;
use aas::views;

const INVENTORY: &str = include_str!("../../../examples/equipment/modular-plant.toml");
const BATCH: &str = include_str!("../../../examples/twins/demo-batch.toml");

fn demo() -> Vec<twins::Twin> {
    let inv = recipe::parse_inventory("modular-plant.toml", INVENTORY)
        .expect("example inventory is valid");
    let as_of = recipe::Date::parse("2026-12-01").expect("date");
    let mut t: Vec<_> = inv
        .equipment
        .iter()
        .map(|e| twins::equipment_twin(e, as_of))
        .collect();
    let rec =
        twins::parse_batch_record("demo-batch.toml", BATCH).expect("example batch record is valid");
    t.push(twins::batch_twin(&rec));
    t
}

#[test]
fn every_demo_twin_is_valid_and_round_trips() {
    let t = demo();
    assert!(t.len() >= 2);
    let env = twins::environment(&t);
    assert_eq!(aas::validate::environment(&env), vec![]);
    let json = serde_json::to_vec(&env).expect("serialise");
    let back = parse_environment(&json).expect("re-parses");
    assert_eq!(back, env);
    // JSON details the validators look at
    let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
    assert_eq!(
        v["assetAdministrationShells"][0]["modelType"],
        "AssetAdministrationShell"
    );
    let sm = &v["submodels"][0];
    assert_eq!(sm["modelType"], "Submodel");
    assert!(
        sm["submodelElements"]
            .as_array()
            .expect("elements")
            .iter()
            .all(|e| e["modelType"].is_string())
    );
}

#[test]
fn equipment_twin_carries_nameplate_capabilities_qualification_counters() {
    let t = demo();
    let thaw = t
        .iter()
        .find(|t| t.shell.id == "urn:atmpflow:aas:equipment:thaw_1")
        .expect("thaw_1 twin");
    let names: Vec<&str> = thaw
        .submodels
        .iter()
        .filter_map(|s| s.id_short.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            "Nameplate",
            "Capabilities",
            "QualificationState",
            "UsageCounters"
        ]
    );
    assert_eq!(
        thaw.submodels[0]
            .semantic_id
            .as_ref()
            .map(|r| r.keys[0].value.as_str()),
        Some(twins::SEM_NAMEPLATE)
    );
    let q = views::submodel_value(&thaw.submodels[2], true);
    assert!(
        q["EffectiveState"].is_string() && q["PQ"].is_string(),
        "{q}"
    );
    let caps = views::submodel_value(&thaw.submodels[1], true);
    assert!(
        caps["CapabilitySet"]["thawing"]["PropertySet"].is_object(),
        "{caps}"
    );
}

#[test]
fn qualification_state_follows_the_evaluation_day() {
    let inv = recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("valid");
    let e = inv
        .equipment
        .iter()
        .find(|e| {
            e.qualification.status == recipe::equipment::QualStatus::Qualified
                && e.qualification.pq.is_some()
                && e.qualification.next_requalification.is_some()
        })
        .expect("a qualified item with a due date");
    let due = e.qualification.next_requalification.expect("due");
    let before = twins::qualification(e, due.plus_days(-1));
    let after = twins::qualification(e, due);
    let state = |sm: &aas::Submodel| views::submodel_value(sm, true)["UsableForGmp"].clone();
    assert_eq!(state(&before), serde_json::json!(true));
    assert_eq!(state(&after), serde_json::json!(false));
    assert_eq!(
        views::submodel_value(&after, true)["EffectiveState"],
        "expired"
    );
}

#[test]
fn parse_errors_name_the_json_path() {
    let e = parse_submodel(
        br#"{"modelType":"Submodel","id":"urn:x","submodelElements":[
            {"modelType":"SubmodelElementCollection","idShort":"c","value":[
                {"modelType":"Property","idShort":"p","valueType":"xs:integer","value":"1.5"}]}]}"#,
    )
    .expect_err("1.5 is no integer");
    assert_eq!(e.path, "$.submodelElements[0].value[0].value");
    let e = parse_submodel(
        br#"{"modelType":"Submodel","id":"urn:x","submodelElements":[
            {"modelType":"SubmodelElementCollection","idShort":"c","value":[
                {"modelType":"Property","idShort":"p","valueType":"xs:integr"}]}]}"#,
    )
    .expect_err("unknown value type");
    assert_eq!(
        e.path, "$.submodelElements[0].value[0].valueType",
        "{}",
        e.message
    );
    let e = parse_submodel(
        br#"{"modelType":"Submodel","id":"urn:x","submodelElements":[{"idShort":"a"}]}"#,
    )
    .expect_err("no modelType");
    assert_eq!(e.path, "$.submodelElements[0]");
    assert!(e.message.contains("modelType"));
    let e = parse_submodel(br#"{"modelType":"Submodel","id":"urn:x","description":[]}"#)
        .expect_err("empty list");
    assert_eq!(e.path, "$.description");
    let e = parse_submodel(br#"{"modelType":"Shell","id":"urn:x"}"#).expect_err("wrong modelType");
    assert_eq!(e.path, "$.modelType");
    // list elements must not have an idShort, collection elements must
    assert!(
        parse_element(
            br#"{"modelType":"Property","valueType":"xs:string"}"#,
            false
        )
        .is_err()
    );
    assert!(parse_element(br#"{"modelType":"Property","valueType":"xs:string"}"#, true).is_ok());
    assert!(
        parse_element(
            br#"{"modelType":"Property","idShort":"a","valueType":"xs:string"}"#,
            true
        )
        .is_err()
    );
    let e = parse_element(
        br#"{"modelType":"SubmodelElementList","idShort":"l","typeValueListElement":"Property","valueTypeListElement":"xs:int",
             "value":[{"modelType":"Range","valueType":"xs:int"}]}"#,
        false,
    )
    .expect_err("AASd-108");
    assert!(e.message.contains("AASd-108"), "{e}");
}

#[test]
fn xs_values_are_checked_lexically() {
    for (t, ok, bad) in [
        (X::Int, "-2147483648", "2147483648"),
        (X::UnsignedByte, "255", "-1"),
        (X::Boolean, "true", "True"),
        (X::Double, "1.5e3", "inf"),
        (X::Double, "NaN", "1e"),
        (X::Decimal, "-0.25", "1e3"),
        (X::Date, "2024-02-29", "2023-02-29"),
        (X::DateTime, "2026-11-02T08:00:00Z", "2026-11-02 08:00:00"),
        (X::DateTime, "2026-11-02T24:00:00", "2026-11-02T24:00:01"),
        (X::Time, "23:59:59.5+01:00", "25:00:00"),
        (X::GYearMonth, "2026-11", "2026-13"),
        (X::HexBinary, "0aFF", "0aF"),
        (X::Base64Binary, "YWJj", "YWJ"),
        (X::NonNegativeInteger, "0", "-1"),
        (
            X::PositiveInteger,
            "123456789012345678901234567890123456789012",
            "0",
        ),
    ] {
        assert!(check_value(t, ok).is_ok(), "{t:?} {ok}");
        assert!(check_value(t, bad).is_err(), "{t:?} {bad}");
    }
}

#[test]
fn batch_record_errors_name_file_line_and_field() {
    let bad = BATCH.replacen(
        "end = 2026-11-02T09:30:00Z",
        "end = 2026-11-02T07:30:00Z",
        1,
    );
    let err = twins::parse_batch_record("demo-batch.toml", &bad).expect_err("end before start");
    let text = format!("{err:?} {err}");
    let line = bad
        .lines()
        .position(|l| l.contains("end = 2026-11-02T07:30:00Z"))
        .map(|i| i + 1)
        .expect("line");
    assert!(err.errors.iter().any(|e| e.line == line), "{text}");
    assert!(text.contains("step[1].end"), "{text}");

    let bad = BATCH.replacen(
        "classification = \"minor\"",
        "classification = \"minor\"\ncolour = \"red\"",
        1,
    );
    let err = twins::parse_batch_record("demo-batch.toml", &bad).expect_err("unknown field");
    assert!(format!("{err:?}").contains("colour"), "{err:?}");

    let bad = BATCH.replacen(
        "step = \"S08_expansion\"\nparameter = \"glucose\"",
        "step = \"S99\"\nparameter = \"glucose\"",
        1,
    );
    let err = twins::parse_batch_record("demo-batch.toml", &bad).expect_err("unknown step");
    assert!(format!("{err:?}").contains("deviation[0].step"), "{err:?}");
}

/// Found by fuzzing (crates/fuzz, target `record`): a second series of the same name was
/// accepted and its twin held the idShort twice (AASd-022); names that differ but share an
/// idShort (`CD3+`, `CD3-`) must stay apart.
#[test]
fn batch_record_names_never_give_one_id_short_twice() {
    let series = "[[series]]\nname = \"viability\"\nunit = \"%\"\nstep = \"S08_expansion\"\npoints = [[2026-11-04T10:00:00Z, 96.0]]\n";
    let twice = format!("{BATCH}\n{series}");
    let err = twins::parse_batch_record("demo-batch.toml", &twice).expect_err("series twice");
    let line = twice.lines().count() - 3;
    assert!(
        err.errors
            .iter()
            .any(|e| e.line == line && e.field.ends_with(".name") && e.message.contains("twice")),
        "{err}"
    );
    let spec = "[[specification]]\nparameter = \"viability\"\nmin = 70.0\nunit = \"%\"\n";
    let err = twins::parse_batch_record("demo-batch.toml", &format!("{BATCH}\n{spec}"))
        .expect_err("specification twice");
    assert!(
        format!("{err}").contains("specification[2].parameter"),
        "{err}"
    );

    let apart = format!(
        "{BATCH}\n{}\n{}",
        series.replace("viability", "CD3+"),
        series.replace("viability", "CD3-")
    )
    .replacen("rcf = { value = 400", "\"a-b\" = { value = 1, unit = \"1\" }, a_b = { value = 2, unit = \"1\" }, rcf = { value = 400", 1);
    let rec =
        twins::parse_batch_record("demo-batch.toml", &apart).unwrap_or_else(|e| panic!("{e}"));
    let twin = twins::batch_twin(&rec);
    for sm in &twin.submodels {
        let v = aas::validate::submodel(sm);
        assert!(v.is_empty(), "{v:?}");
    }
    let json = serde_json::to_string(&twin.submodels[0]).expect("json");
    assert!(
        json.contains("\"CD3_\"") && json.contains("\"CD3__2\""),
        "{json}"
    );
    assert!(
        json.contains("\"a_b\"") && json.contains("\"a_b_2\""),
        "{json}"
    );
}

#[test]
fn id_short_paths_and_references() {
    let t = demo();
    let batch = t
        .iter()
        .find(|t| t.shell.id.starts_with("urn:atmpflow:aas:batch:"))
        .expect("batch twin");
    let sm = &batch.submodels[0];
    let segs = views::parse_id_short_path("ExecutedSteps[1].Parameters").expect("path");
    assert!(views::find(&sm.submodel_elements, &segs).is_some());
    let r = views::element_reference(sm, &segs).expect("reference");
    let keys: Vec<String> = r
        .keys
        .iter()
        .map(|k| format!("{:?}:{}", k.kind, k.value))
        .collect();
    assert_eq!(
        keys[1..],
        [
            "SubmodelElementList:ExecutedSteps",
            "SubmodelElementCollection:1",
            "SubmodelElementCollection:Parameters"
        ]
    );
    for bad in ["", ".a", "a..b", "a[x]", "a[0", "1a", "a[0]b"] {
        assert!(views::parse_id_short_path(bad).is_err(), "{bad:?}");
    }
    assert!(
        views::find(
            &sm.submodel_elements,
            &views::parse_id_short_path("ExecutedSteps[99]").expect("p")
        )
        .is_none()
    );
}

#[test]
fn executed_record_and_its_diff_become_a_valid_batch_twin() {
    const RECIPE: &str = include_str!("../../../examples/recipes/car-t-modular.toml");
    const RECORD: &str =
        include_str!("../../../examples/recipes/records/car-t-modular-batch-0042.toml");
    let inv = recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("valid inventory");
    let r = recipe::parse_recipe("car-t-modular.toml", RECIPE).expect("valid recipe");
    let rec = recipe::parse_record("car-t-modular-batch-0042.toml", RECORD).expect("valid record");
    let d = recipe::diff(&r, None, Some(&inv), &rec);
    assert!(
        !d.deviations.is_empty(),
        "the example record has deliberate deviations"
    );
    let br = twins::batch_record_from_executed(&rec, Some(&r.procedure.product), Some(&d));
    assert_eq!(br.deviations.len(), d.deviations.len());
    assert_eq!(br.steps.len(), rec.step.len());
    let t = twins::batch_twin(&br);
    let env = twins::environment(std::slice::from_ref(&t));
    assert_eq!(aas::validate::environment(&env), vec![]);
    let v = views::submodel_value(&t.submodels[0], true);
    assert_eq!(v["BatchId"], serde_json::json!(rec.record.batch));
    assert!(
        v["Measurements"]["wash_environment_temperature"].is_object(),
        "{}",
        v["Measurements"]
    );
    let wash = v["ExecutedSteps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["StepId"] == "wash")
        .expect("wash step");
    assert_eq!(wash["Parameters"]["rcf"], serde_json::json!(620.0));
    assert_eq!(
        wash["Equipment"]["keys"][0]["value"],
        serde_json::json!("urn:atmpflow:aas:equipment:centrifuge_1")
    );
    // the JSON round-trips through the strict parser
    let json = serde_json::to_vec(&env).expect("json");
    parse_environment(&json).expect("valid environment");
}
