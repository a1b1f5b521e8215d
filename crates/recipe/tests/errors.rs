//! Malformed recipe, inventory and record files give errors naming file, line and field.

/// A small valid recipe; tests break one thing at a time.
const RECIPE: &str = r#"[procedure]
id = "mini"
name = "Mini"
type = "master"

[[material]]
id = "cells"
name = "Cells"
role = "starting"

[[unit_procedure]]
id = "prep"
name = "Preparation"

[[step]]
id = "wash"
unit_procedure = "prep"
duration = { min = 30, target = 45, max = 60, unit = "min" }
materials = [{ material = "cells" }]
[step.parameters]
rcf = { target = 400, min = 300, max = 500, unit = "x g" }
[[step.requires]]
capability = "centrifugation"
[step.requires.parameters]
rcf = { min = 300, max = 500, unit = "x g" }
volume = { at_least = 250, unit = "mL" }
"#;

fn line_of(src: &str, needle: &str) -> usize {
    src.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("`{needle}` not in source"))
}

/// (line, field, message) of every error.
fn errors(src: &str) -> Vec<(usize, String, String)> {
    match recipe::parse_recipe("bad.toml", src) {
        Ok(_) => Vec::new(),
        Err(e) => {
            assert_eq!(e.file, "bad.toml");
            e.errors
                .iter()
                .map(|x| (x.line, x.field.clone(), x.message.clone()))
                .collect()
        }
    }
}

#[test]
fn the_base_recipe_is_valid() {
    let r = recipe::parse_recipe("ok.toml", RECIPE).expect("valid");
    assert_eq!(r.steps.len(), 1);
    assert!((r.steps[0].duration.nominal_h - 0.75).abs() < 1e-12);
    assert!(recipe::recipe::check(&r).is_empty());
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let bad = RECIPE.replace("[[step.requires]]", "[[step.requires]");
    let e = recipe::parse_recipe("bad.toml", &bad).expect_err("syntax error");
    let line = line_of(&bad, "[[step.requires]");
    assert_eq!(e.errors.len(), 1);
    assert_eq!(e.errors[0].line, line);
    assert!(e.to_string().contains(&format!("bad.toml:{line}:")), "{e}");
}

#[test]
fn type_error_names_the_field() {
    let bad = RECIPE.replace("target = 45", "target = \"long\"");
    let errs = errors(&bad);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, line_of(&bad, "target = \"long\""));
    assert!(errs[0].1.starts_with("step[0].duration"), "{errs:?}");
}

#[test]
fn unknown_capability_parameter() {
    let bad = RECIPE.replace("volume = { at_least", "volumen = { at_least");
    let errs = errors(&bad);
    assert_eq!(errs[0].1, "step[0].requires[0].parameters.volumen");
    assert_eq!(errs[0].0, line_of(&bad, "volumen"));
    assert!(
        errs[0]
            .2
            .starts_with("unknown parameter `volumen` for capability `centrifugation`; known: "),
        "{errs:?}"
    );
    assert!(errs[0].2.contains("volume"), "{errs:?}");
}

/// One broken field: the text replaced, its replacement, and the first error's field,
/// line (the line holding `line`, if given), message part and whether it is the only one.
struct Case {
    from: &'static str,
    to: &'static str,
    field: Option<&'static str>,
    line: Option<&'static str>,
    message: &'static str,
    only: bool,
}

#[test]
fn each_broken_field_gives_a_located_error() {
    let case = |from, to, field, line, message, only| Case {
        from,
        to,
        field,
        line,
        message,
        only,
    };
    let cases = [
        case(
            "unit_procedure = \"prep\"\n",
            "unit_procedure = \"prep\"\ncolour = \"red\"\n",
            None,
            Some("colour"),
            "unknown field `colour`",
            true,
        ),
        case(
            "capability = \"centrifugation\"",
            "capability = \"centrifuge\"",
            Some("step[0].requires[0].capability"),
            Some("capability = \"centrifuge\""),
            "unknown capability `centrifuge`",
            true,
        ),
        // range of a level 1 parameter
        case(
            "target = 400, min = 300, max = 500",
            "target = 400, min = 500, max = 300",
            Some("step[0].parameters.rcf.min"),
            Some("target = 400"),
            "min 500 is greater than max 300",
            true,
        ),
        // range of a level 2 constraint
        case(
            "rcf = { min = 300, max = 500, unit = \"x g\" }",
            "rcf = { min = 500, max = 300, unit = \"x g\" }",
            Some("step[0].requires[0].parameters.rcf.min"),
            None,
            "min 500 is greater than max 300",
            false,
        ),
        // range of a duration
        case(
            "min = 30, target = 45, max = 60",
            "min = 60, target = 45, max = 30",
            Some("step[0].duration.min"),
            None,
            "",
            false,
        ),
        case(
            "volume = { at_least = 250, unit = \"mL\" }",
            "volume = { at_least = 250 }",
            Some("step[0].requires[0].parameters.volume.unit"),
            Some("volume = { at_least = 250 }"),
            "missing unit",
            true,
        ),
        case(
            "target = 400, min = 300, max = 500, unit = \"x g\"",
            "target = 400, min = 300, max = 500",
            Some("step[0].parameters.rcf.unit"),
            None,
            "missing unit",
            false,
        ),
        case(
            "at_least = 250, unit = \"mL\"",
            "at_least = 250, unit = \"g\"",
            None,
            None,
            "measures mass",
            false,
        ),
        case(
            "at_least = 250, unit = \"mL\"",
            "at_least = 250, unit = \"cups\"",
            None,
            None,
            "unknown unit \"cups\"",
            false,
        ),
    ];
    for c in cases {
        assert!(RECIPE.contains(c.from), "`{}` not in the recipe", c.from);
        let bad = RECIPE.replace(c.from, c.to);
        let errs = errors(&bad);
        assert!(!errs.is_empty(), "{} gives no error", c.to);
        if c.only {
            assert_eq!(errs.len(), 1, "{errs:?}");
        }
        if let Some(field) = c.field {
            assert_eq!(errs[0].1, field, "{errs:?}");
        }
        if let Some(line) = c.line {
            assert_eq!(errs[0].0, line_of(&bad, line), "{errs:?}");
        }
        assert!(errs[0].2.contains(c.message), "{errs:?}");
    }
}

#[test]
fn dangling_references_and_duplicates() {
    let bad = RECIPE
        .replace(
            "materials = [{ material = \"cells\" }]",
            "materials = [{ material = \"blood\" }]",
        )
        .replace(
            "unit_procedure = \"prep\"\nduration",
            "unit_procedure = \"harvest\"\nduration",
        );
    let errs = errors(&bad);
    let fields: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
    assert!(
        fields.contains(&"step[0].materials[0].material"),
        "{errs:?}"
    );
    assert!(fields.contains(&"step[0].unit_procedure"), "{errs:?}");

    let twice = format!(
        "{RECIPE}\n{}",
        &RECIPE[RECIPE.find("[[step]]").expect("step")..]
    );
    let errs = errors(&twice);
    assert!(
        errs.iter()
            .any(|e| e.1 == "step[1].id" && e.2.contains("duplicate step id")),
        "{errs:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let bad = RECIPE
        .replace(
            "capability = \"centrifugation\"",
            "capability = \"centrifuge\"",
        )
        .replace(
            "target = 400, min = 300, max = 500, unit = \"x g\"",
            "target = 400, min = 500, max = 300, unit = \"x g\"",
        )
        .replace("type = \"master\"\n", "");
    let errs = errors(&bad);
    assert_eq!(errs.len(), 3, "{errs:?}");
    let lines: Vec<usize> = errs.iter().map(|e| e.0).collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted);
    assert_eq!(errs[0].1, "procedure.type");
}

/// A small valid inventory of one centrifuge; tests break one thing at a time.
const INVENTORY: &str = r#"[inventory]
site = "x"

[[equipment]]
id = "c1"
class = "module"
manufacturer = "M"
model = "C"
serial = "1"
[equipment.capabilities.centrifugation]
rcf = { min = 100, max = 1000, unit = "x g" }
[equipment.qualification]
status = "qualified"
pq = 2025-01-01
next_requalification = 2026-01-01
"#;

/// (line, field) of every error of a file.
fn located(e: &recipe::FileErrors) -> Vec<(usize, &str)> {
    e.errors
        .iter()
        .map(|x| (x.line, x.field.as_str()))
        .collect()
}

#[test]
fn the_base_inventory_is_valid() {
    recipe::parse_inventory("inv.toml", INVENTORY).expect("valid");
}

#[test]
fn inventory_errors_name_line_and_field() {
    let inv = INVENTORY
        .replace(
            "rcf = { min = 100, max = 1000, unit = \"x g\" }",
            "rcf = { min = 1000, max = 100, unit = \"x g\" }",
        )
        .replace("next_requalification = 2026-01-01\n", "");
    let e = recipe::parse_inventory("inv.toml", &inv).expect_err("two problems");
    let got = located(&e);
    assert_eq!(
        got,
        [
            (11, "equipment[0].capabilities.centrifugation.rcf.min"),
            (12, "equipment[0].qualification.next_requalification")
        ]
    );
}

#[test]
fn inventory_unknown_parameter_names_the_known_ones() {
    let inv = INVENTORY.replace(
        "rcf = { min = 100, max = 1000, unit = \"x g\" }",
        "rpm = 4000",
    );
    let e = recipe::parse_inventory("inv.toml", &inv).expect_err("unknown parameter");
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!(e.errors[0].line, 11);
    assert_eq!(
        e.errors[0].field,
        "equipment[0].capabilities.centrifugation.rpm"
    );
    assert!(
        e.errors[0]
            .message
            .starts_with("unknown parameter `rpm` for capability `centrifugation`; known: "),
        "{e}"
    );
    assert!(e.errors[0].message.contains("rcf"), "{e}");
}

#[test]
fn record_errors_name_line_and_field() {
    let rec = r#"[record]
batch = "B1"
recipe = "mini"

[[step]]
id = "wash"
started = 2026-12-01T10:00:00Z
ended = 2026-12-01T09:00:00Z
[step.measured]
rcf = { value = 400, unit = "parsec" }
"#;
    let e = recipe::parse_record("rec.toml", rec).expect_err("bad record");
    let got = located(&e);
    assert_eq!(
        got,
        [(8, "step[0].ended"), (10, "step[0].measured.rcf.unit")]
    );
    // A timestamp without offset is a type error at its line.
    let bad = rec.replace("2026-12-01T10:00:00Z", "2026-12-01T10:00:00");
    let e = recipe::parse_record("rec.toml", &bad).expect_err("no offset");
    assert_eq!(e.errors[0].line, 7);
    assert!(e.errors[0].message.contains("offset"), "{e}");
}

/// Found by fuzzing (crates/fuzz, target `recipe`): an inventory with an empty table header
/// `[]` was refused with the field shown as nothing (`field ```).
#[test]
fn an_empty_table_header_is_located_and_named() {
    let inv = "[inventory]\nsite = \"x\"\n\n[[equipment]]\nid = \"c1\"\n[]\nrpm = 4000\n";
    let e = recipe::parse_inventory("inv.toml", inv).expect_err("empty header");
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!(e.errors[0].line, 6, "{e}");
    assert!(!e.errors[0].field.is_empty(), "{e}");
    assert!(!e.to_string().contains("field ``"), "{e}");
}
