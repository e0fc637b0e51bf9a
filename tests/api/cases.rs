//! Runs tests/cases/*.json through the public `scim` API: adding a case means adding a row.
use scim_bridge::scim::patch;
use scim_bridge::scim::resource::{finish, Document};
use scim_bridge::scim::schema;
use scim_bridge::scim::Filter;
use serde_json::Value;

fn rows(file: &str) -> Vec<Value> {
    serde_json::from_str(&std::fs::read_to_string(format!("tests/cases/{file}")).unwrap()).unwrap()
}

fn scim_type(e: &scim_bridge::scim::ScimError) -> String {
    e.scim_type.map(|t| t.as_str().to_owned()).unwrap_or_default()
}

#[test]
fn filter_cases() {
    for row in rows("filter.json") {
        let input = row["input"].as_str().unwrap();
        match (input.parse::<Filter>(), row.get("canonical")) {
            (Ok(f), Some(canonical)) => assert_eq!(f.to_string(), canonical.as_str().unwrap(), "{input}"),
            (Err(e), None) => assert_eq!(scim_type(&e), row["scimType"].as_str().unwrap(), "{input}"),
            (outcome, _) => panic!("{input}: unexpected {outcome:?}"),
        }
    }
}

fn document(v: &Value) -> Document {
    let mut doc: Document = serde_json::from_value(v.clone()).unwrap();
    finish(&mut doc, schema::user()).unwrap();
    doc
}

#[test]
fn patch_cases() {
    for row in rows("patch.json") {
        let label = row.get("comment").cloned().unwrap_or_else(|| row["ops"].clone());
        let body = serde_json::json!({"schemas": [patch::PATCH_OP_SCHEMA], "Operations": row["ops"]});
        let outcome = patch::parse_request(&body, &scim_bridge::scim::Limits::default())
            .and_then(|ops| patch::apply(&document(&row["doc"]), &ops, schema::user(), "the-id"));
        match (outcome, row.get("expected")) {
            (Ok(patched), Some(expected)) => assert_eq!(
                Value::Object(patched.document),
                Value::Object(document(expected)),
                "{label}"
            ),
            (Err(e), None) => assert_eq!(scim_type(&e), row["scimType"].as_str().unwrap(), "{label}: {e}"),
            (Ok(p), _) => panic!("{label}: unexpected success {}", Value::Object(p.document)),
            (Err(e), _) => panic!("{label}: unexpected error {e}"),
        }
    }
}
