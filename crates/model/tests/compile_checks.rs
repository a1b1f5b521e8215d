//! The checks of `model::compile`, one rule per case, in the data-driven style of the CLI's
//! bad-input fixtures: each case edits one line of a valid scenario and names the field path
//! and a piece of the message the error must carry, so a failing case points at the rule it
//! breaks (not at the binary). The error must also point at the edited line when the case says
//! so.

use testkit::scenarios::{Scenario, fixed, q, triangular};

/// A small valid scenario: one pool of each kind of resource, one product, one demand.
fn base() -> String {
    Scenario::new("compile checks", 200, 30, 4, 1)
        .equipment("bioreactor", 2)
        .set("capabilities", r#"["expansion"]"#)
        .area("grade-b-suite", "B", 1)
        .staff("operators", 2)
        .shift(&["weekdays"], 7.0, 15.0)
        .product("car-t")
        .step("wash", fixed(3, "hours"))
        .set(
            "uses",
            r#"[{ area = "grade-b-suite" }, { staff = "operators", count = 2 }]"#,
        )
        .set("transfer_hours", 0.5)
        .set("max_hold_hours", 4)
        .set("on_hold_violation", q("lost"))
        .step("expansion", triangular(9, 10, 12, "days"))
        .uses("equipment", "bioreactor")
        .step("qc-release", fixed(7, "days"))
        .demand("car-t", "patients_per_year = 50", 25)
        .text()
}

/// One rule: replace the line `from` of the [`base`] scenario by `to`; the error must name `field` and
/// contain `message`, and (if `on_line`) point at the replaced line.
struct Case {
    rule: &'static str,
    from: &'static str,
    to: &'static str,
    field: &'static str,
    message: &'static str,
    on_line: bool,
}

const CASES: &[Case] = &[
    Case {
        rule: "the horizon is positive",
        from: "horizon_days = 200",
        to: "horizon_days = 0",
        field: "scenario.horizon_days",
        message: "must be a positive number",
        on_line: true,
    },
    Case {
        rule: "the warm-up is not negative",
        from: "warmup_days = 30",
        to: "warmup_days = -1",
        field: "scenario.warmup_days",
        message: "must be zero or more days",
        on_line: true,
    },
    Case {
        rule: "the warm-up is shorter than the horizon",
        from: "warmup_days = 30",
        to: "warmup_days = 300",
        field: "scenario.warmup_days",
        message: "must be shorter than the horizon",
        on_line: true,
    },
    Case {
        rule: "at least two replications",
        from: "replications = 4",
        to: "replications = 1",
        field: "scenario.replications",
        message: "at least 2 replications",
        on_line: true,
    },
    Case {
        rule: "an equipment pool has units",
        from: "count = 2\ndispatch = \"fifo\"\ncapabilities",
        to: "count = 0\ndispatch = \"fifo\"\ncapabilities",
        field: "equipment[0].count",
        message: "at least 1 unit",
        on_line: true,
    },
    Case {
        rule: "an area holds a batch",
        from: "capacity = 1",
        to: "capacity = 0",
        field: "area[0].capacity",
        message: "must hold at least 1 batch",
        on_line: true,
    },
    Case {
        rule: "a staff pool has people",
        from: "count = 2\ndispatch = \"fifo\"\n[[staff.shift]]",
        to: "count = 0\ndispatch = \"fifo\"\n[[staff.shift]]",
        field: "staff[0].count",
        message: "at least 1 person",
        on_line: true,
    },
    Case {
        rule: "a shift ends after it starts",
        from: "end_hour = 15",
        to: "end_hour = 6.0",
        field: "staff[0].shift[0].end_hour",
        message: "need 0 ≤ start_hour < end_hour ≤ 24",
        on_line: true,
    },
    Case {
        rule: "a shift ends by midnight",
        from: "end_hour = 15",
        to: "end_hour = 25.0",
        field: "staff[0].shift[0].end_hour",
        message: "got 7 to 25",
        on_line: true,
    },
    Case {
        rule: "a shift names days",
        from: "days = [\"weekdays\"]",
        to: "days = []",
        field: "staff[0].shift[0].days",
        message: "no day given",
        on_line: true,
    },
    Case {
        rule: "days are known",
        from: "days = [\"weekdays\"]",
        to: "days = [\"monday\"]",
        field: "staff[0].shift[0].days[0]",
        message: "unknown day `monday`",
        on_line: true,
    },
    Case {
        rule: "resource names are unique across kinds",
        from: "name = \"grade-b-suite\"",
        to: "name = \"bioreactor\"",
        field: "area[0].name",
        message: "resource name `bioreactor` is already used at equipment[0]",
        on_line: true,
    },
    Case {
        rule: "a resource has a name",
        from: "name = \"operators\"",
        to: "name = \" \"",
        field: "staff[0].name",
        message: "a resource needs a name",
        on_line: true,
    },
    Case {
        rule: "step names are unique in a product",
        from: "name = \"qc-release\"",
        to: "name = \"wash\"",
        field: "product[0].step[2].name",
        message: "step `wash` is defined twice in product `car-t`",
        on_line: true,
    },
    Case {
        rule: "a duration has a unit",
        from: "duration = { dist = \"fixed\", value = 7, unit = \"days\" }",
        to: "duration = { dist = \"fixed\", value = 7 }",
        field: "product[0].step[2].duration.unit",
        message: "a duration needs a `unit`",
        on_line: true,
    },
    Case {
        rule: "a duration is not negative",
        from: "duration = { dist = \"fixed\", value = 3, unit = \"hours\" }",
        to: "duration = { dist = \"fixed\", value = -3, unit = \"hours\" }",
        field: "product[0].step[0].duration",
        message: "cannot be negative, but this distribution reaches -3 hours",
        on_line: true,
    },
    Case {
        rule: "a triangular distribution is ordered",
        from: "min = 9, mode = 10, max = 12",
        to: "min = 11, mode = 10, max = 12",
        field: "product[0].step[1].duration.mode",
        message: "need min ≤ mode ≤ max, got 11 / 10 / 12",
        on_line: true,
    },
    Case {
        rule: "a use names exactly one kind of resource",
        from: "uses = [{ equipment = \"bioreactor\" }]",
        to: "uses = [{ equipment = \"bioreactor\", area = \"grade-b-suite\" }]",
        field: "product[0].step[1].uses[0]",
        message: "give exactly one of `equipment`, `area`, `staff` or `capability`",
        on_line: true,
    },
    Case {
        rule: "a used resource exists",
        from: "uses = [{ equipment = \"bioreactor\" }]",
        to: "uses = [{ equipment = \"incubator\" }]",
        field: "product[0].step[1].uses[0].equipment",
        message: "unknown equipment `incubator`; defined: `bioreactor`",
        on_line: true,
    },
    Case {
        rule: "a capability is offered by some resource",
        from: "uses = [{ equipment = \"bioreactor\" }]",
        to: "uses = [{ capability = \"electroporation\" }]",
        field: "product[0].step[1].uses[0].capability",
        message: "no equipment, area or staff offers capability `electroporation`",
        on_line: true,
    },
    Case {
        rule: "a use takes at least one unit",
        from: "{ staff = \"operators\", count = 2 }",
        to: "{ staff = \"operators\", count = 0 }",
        field: "product[0].step[0].uses[1].count",
        message: "must be at least 1",
        on_line: true,
    },
    Case {
        rule: "a step needs no more than a pool has",
        from: "{ staff = \"operators\", count = 2 }",
        to: "{ staff = \"operators\", count = 3 }",
        field: "product[0].step[0].uses[1].count",
        message: "it needs 3 at once but `operators` has at most 2",
        on_line: true,
    },
    Case {
        rule: "a transfer time is not negative",
        from: "transfer_hours = 0.5",
        to: "transfer_hours = -0.5",
        field: "product[0].step[0].transfer_hours",
        message: "must be zero or more hours",
        on_line: true,
    },
    Case {
        rule: "a hold time is positive",
        from: "max_hold_hours = 4",
        to: "max_hold_hours = 0",
        field: "product[0].step[0].max_hold_hours",
        message: "must be positive hours",
        on_line: true,
    },
    Case {
        rule: "a hold time is not shorter than the transfer",
        from: "max_hold_hours = 4",
        to: "max_hold_hours = 0.25",
        field: "product[0].step[0].max_hold_hours",
        message: "is shorter than the transfer time",
        on_line: true,
    },
    Case {
        rule: "a hold time says what a violation causes",
        from: "on_hold_violation = \"lost\"",
        to: "",
        field: "product[0].step[0].max_hold_hours",
        message: "say what a violation causes with `on_hold_violation`",
        on_line: false,
    },
    Case {
        rule: "a demand names a known product",
        from: "product = \"car-t\"",
        to: "product = \"tcr-t\"",
        field: "demand[0].product",
        message: "unknown product `tcr-t`; products are: `car-t`",
        on_line: true,
    },
    Case {
        rule: "a demand gives exactly one arrival pattern",
        from: "patients_per_year = 50",
        to: "patients_per_year = 50\npatients_per_week = 1",
        field: "demand[0]",
        message: "give exactly one of `patients_per_year`, `patients_per_week` or `apheresis_days`",
        on_line: false,
    },
    Case {
        rule: "a demand rate is positive",
        from: "patients_per_year = 50",
        to: "patients_per_year = 0",
        field: "demand[0].patients_per_year",
        message: "must be a positive number of patients, got 0",
        on_line: true,
    },
    Case {
        rule: "apheresis dates lie in the horizon",
        from: "patients_per_year = 50",
        to: "apheresis_days = [10, 250]",
        field: "demand[0].apheresis_days[1]",
        message: "250 is outside the horizon [0, 200)",
        on_line: true,
    },
    Case {
        rule: "a list of apheresis dates is not empty",
        from: "patients_per_year = 50",
        to: "apheresis_days = []",
        field: "demand[0].apheresis_days",
        message: "the list of apheresis dates is empty",
        on_line: true,
    },
];

/// The [`base`] scenario with the first occurrence of `from` replaced by `to`, and the
/// 1-based line the replacement starts on.
fn edited(c: &Case) -> (String, usize) {
    let base = base();
    let at = base
        .find(c.from)
        .unwrap_or_else(|| panic!("{}: `{}` is not in the base scenario", c.rule, c.from));
    let line = base[..at].matches('\n').count() + 1;
    let mut text = String::with_capacity(base.len() + c.to.len());
    text.push_str(&base[..at]);
    text.push_str(c.to);
    text.push_str(&base[at + c.from.len()..]);
    (text, line)
}

#[test]
fn the_base_scenario_is_valid() {
    if let Err(e) = model::load("base.toml", &base()) {
        panic!("the base scenario must compile: {e:?}");
    }
}

#[test]
fn every_rule_names_its_field_line_and_message() {
    let mut failures = Vec::new();
    for c in CASES {
        let (text, line) = edited(c);
        let errors = match model::load("case.toml", &text) {
            Ok(_) => {
                failures.push(format!("{}: accepted", c.rule));
                continue;
            }
            Err(e) => e.errors,
        };
        let hit = errors
            .iter()
            .find(|e| e.field == c.field && e.message.contains(c.message));
        match hit {
            None => failures.push(format!(
                "{}: expected `{}` with `{}`, got {:?}",
                c.rule,
                c.field,
                c.message,
                errors
                    .iter()
                    .map(|e| format!("{} | {}", e.field, e.message))
                    .collect::<Vec<_>>()
            )),
            Some(e) => {
                if e.file != "case.toml" {
                    failures.push(format!("{}: file `{}`", c.rule, e.file));
                }
                if c.on_line && e.line != line {
                    failures.push(format!("{}: line {} instead of {line}", c.rule, e.line));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_cases_cover_distinct_rules() {
    let mut rules: Vec<&str> = CASES.iter().map(|c| c.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    assert_eq!(rules.len(), CASES.len(), "each case tests its own rule");
}

/// Found by fuzzing (crates/fuzz, target `recipe`): a syntax error at an empty table
/// header `[]` named the field as nothing (`field ```).
#[test]
fn an_empty_key_is_shown_as_written() {
    let e = model::load("bad.toml", "name = \"x\"\n[]\nseed = 1\n").expect_err("empty header");
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!(
        (e.errors[0].line, e.errors[0].field.as_str()),
        (2, "\"\""),
        "{e}"
    );
    assert!(e.to_string().contains("field `\"\"`"), "{e}");
}

/// `blocking` and `keep` resolve to one `model::Keep`, which the simulator and the planner
/// read: all, only some, or nothing.
#[test]
fn blocking_and_keep_resolve_to_what_the_step_keeps() {
    let text = |extra: &str| {
        Scenario::new("keep", 100, 0, 2, 1)
            .equipment("bioreactor", 2)
            .set("capabilities", r#"["expansion"]"#)
            .equipment("rocker", 1)
            .set("capabilities", r#"["expansion"]"#)
            .area("grade-c", "C", 3)
            .staff("operators", 2)
            .shift(&["all"], 0.0, 24.0)
            .product("p")
            .step("expand", fixed(1, "days"))
            .set(
                "uses",
                r#"[{ capability = "expansion" }, { area = "grade-c" }, { staff = "operators", hours = 1 }]"#,
            )
            .append(&format!("{extra}\n"))
            .step("harvest", fixed(1, "days"))
            .demand("p", "patients_per_year = 10", 20)
            .text()
    };
    let keep = |extra: &str| match model::load("keep.toml", &text(extra)) {
        Ok(m) => m.products[0].steps[0].keep.clone(),
        Err(e) => panic!("{extra}: {e}"),
    };
    let id = |m: &str| {
        let model = model::load("keep.toml", &text("")).expect("loads");
        model.resource(m).expect("resource")
    };
    assert_eq!(keep(""), model::Keep::Nothing);
    assert_eq!(keep("blocking = false"), model::Keep::Nothing);
    assert_eq!(keep("keep = []"), model::Keep::Nothing);
    assert_eq!(keep("blocking = true"), model::Keep::All);
    assert_eq!(keep("blocking = true\nkeep = []"), model::Keep::All);
    // Every equipment pool and area the step can use (through its capability too) is all.
    assert_eq!(
        keep(r#"keep = ["grade-c", "rocker", "bioreactor"]"#),
        model::Keep::All
    );
    let mut some = vec![id("bioreactor"), id("rocker")];
    some.sort_unstable();
    assert_eq!(
        keep(r#"keep = ["rocker", "bioreactor"]"#),
        model::Keep::Only(some)
    );
    let only = keep(r#"keep = ["grade-c"]"#);
    assert_eq!(only, model::Keep::Only(vec![id("grade-c")]));
    let area = model::ResourceKind::Area {
        grade: model::Grade::C,
    };
    assert!(only.keeps(id("grade-c"), area));
    assert!(!only.keeps(id("bioreactor"), model::ResourceKind::Equipment));
    // Staff are never kept, not even by `blocking = true`.
    assert!(!model::Keep::All.keeps(id("operators"), model::ResourceKind::Staff));
    assert!(model::Keep::All.keeps(id("rocker"), model::ResourceKind::Equipment));
}
