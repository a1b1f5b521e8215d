//! The committed JSON Schema and the format documentation cannot drift from the code.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{assert_ok, repo_path, run, stdout};

fn generated() -> String {
    let o = run(["schema"]);
    assert_ok(&o, "atmpflow schema");
    stdout(&o)
}

#[test]
fn committed_schema_equals_the_generated_one() {
    let committed = std::fs::read_to_string(repo_path("docs/scenario.schema.json"))
        .expect("docs/scenario.schema.json exists");
    assert!(
        committed.trim_end() == generated().trim_end(),
        "docs/scenario.schema.json is out of date; regenerate it with\n  \
         cargo run -p atmpflow -- schema > docs/scenario.schema.json"
    );
}

fn property_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            for x in map.values() {
                property_names(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| property_names(x, out)),
        _ => {}
    }
}

#[test]
fn the_format_documentation_mentions_every_field() {
    let schema: Value = serde_json::from_str(&generated()).expect("schema is JSON");
    let mut names = BTreeSet::new();
    property_names(&schema, &mut names);
    assert!(names.len() > 40, "too few fields found: {names:?}");
    let doc = std::fs::read_to_string(repo_path("docs/scenario-format.md"))
        .expect("docs/scenario-format.md exists");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/scenario-format.md does not document {missing:?}"
    );
}
