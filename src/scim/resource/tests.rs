use super::*;
use crate::scim::schema::{user, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use serde_json::json;

/// Normalises `v` as a POST body (with the core schema listed).
fn norm(mut v: Value) -> Result<Normalized, ScimError> {
    if v.get("schemas").is_none() {
        v["schemas"] = json!([USER_SCHEMA]);
    }
    normalize(&v, user())
}

#[test]
fn names_become_canonical_and_readonly_input_is_dropped() {
    let n = norm(
        json!({"USERNAME": "a", "Name": {"GivenName": "A"}, "id": "x", "meta": {"resourceType": "User"}, "groups": []}),
    )
    .unwrap();
    assert_eq!(n.document["userName"], "a");
    assert_eq!(n.document["name"]["givenName"], "A");
    assert!(n.document.get("id").is_none() && n.document.get("meta").is_none() && n.document.get("groups").is_none());
    assert_eq!(
        n.document["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
}

#[test]
fn string_booleans_nulls_and_bare_manager_are_accepted() {
    let n = norm(json!({"userName": "a", "active": "False", "title": null,
        ENTERPRISE_USER_SCHEMA: {"manager": "m-1", "department": "Sales"}}))
    .unwrap();
    assert_eq!(n.document["active"], false);
    assert!(n.document.get("title").is_none());
    assert_eq!(n.document[ENTERPRISE_USER_SCHEMA]["manager"], json!({"value": "m-1"}));
    assert_eq!(n.document["schemas"][1], ENTERPRISE_USER_SCHEMA);
}

#[test]
fn password_is_kept_apart_and_redacted_in_debug() {
    let n = norm(json!({"userName": "a", "password": "hunter2"})).unwrap();
    assert!(n.document.get("password").is_none());
    assert_eq!(n.password.as_deref(), Some("hunter2"));
    assert!(!format!("{n:?}").contains("hunter2"));
}

#[test]
fn bad_input_is_a_precise_invalid_value() {
    let cases = [
        (json!({"name": {"givenName": "x"}}), "'userName' is required"),
        (json!({"userName": ""}), "'userName' is required"),
        (
            json!({"userName": "a", "active": "yes"}),
            "'active' must be of type Boolean",
        ),
        (
            json!({"userName": "a", "favouriteColour": "red"}),
            "unknown attribute 'favouriteColour'",
        ),
        (
            json!({"userName": "a", "name": {"nick": "x"}}),
            "unknown sub-attribute 'name.nick'",
        ),
        (
            json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
            "primary",
        ),
        (json!({"userName": true}), "'userName' must be of type String"),
    ];
    for (input, detail) in cases {
        let err = norm(input.clone()).expect_err(&input.to_string());
        assert_eq!(err.status, 400);
        assert!(err.detail.contains(detail), "{input}: {}", err.detail);
    }
}

#[test]
fn schemas_must_list_the_core_schema_and_only_known_ones() {
    let err = norm(json!({"userName": "a", "schemas": ["urn:example:x"]})).unwrap_err();
    assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidValue));
    assert!(err.detail.contains("urn:example:x"), "{}", err.detail);
    let err = normalize(&json!({"userName": "a"}), user()).unwrap_err();
    assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidSyntax));
    let err = normalize(&json!({"userName": "a", "schemas": [ENTERPRISE_USER_SCHEMA]}), user()).unwrap_err();
    assert!(err.detail.contains("core schema"), "{}", err.detail);
    let both = json!({"userName": "a", "schemas": [USER_SCHEMA.to_uppercase(), ENTERPRISE_USER_SCHEMA]});
    assert!(normalize(&both, user()).is_ok());
}

#[test]
fn an_unknown_extension_object_is_refused_not_dropped() {
    let err = norm(json!({"userName": "a", "urn:example:custom:2.0:User": {"costCenter": "42"}})).unwrap_err();
    assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidValue));
    assert!(err.detail.contains("urn:example:custom:2.0:User"), "{}", err.detail);
}

#[test]
fn control_characters_in_identifiers_are_refused() {
    for bad in [
        json!({"userName": "a\u{0}one"}),
        json!({"userName": "a\r\nb"}),
        json!({"userName": "a", "displayName": "x\ty"}),
        json!({"userName": "a", "emails": [{"value": "a@x\n"}]}),
    ] {
        let err = norm(bad.clone()).expect_err(&bad.to_string());
        assert!(err.detail.contains("control characters"), "{bad}: {}", err.detail);
    }
    // A bare manager id (Entra's form) is checked as `manager.value` is.
    let err = norm(json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"manager": "m\u{0}"}})).unwrap_err();
    assert!(
        err.detail.contains("manager.value") && err.detail.contains("U+0000"),
        "{}",
        err.detail
    );
    assert!(norm(json!({"userName": "a", "addresses": [{"formatted": "1 Main St\nTown"}]})).is_ok());
}

#[test]
fn etag_matching_accepts_weak_strong_lists_and_star() {
    let v = Version(3);
    assert_eq!(v.to_string(), "W/\"3\"");
    for header in ["W/\"3\"", "\"3\"", "*", "W/\"1\", W/\"3\""] {
        assert!(v.matches_header(header), "{header}");
    }
    assert!(!v.matches_header("W/\"4\""));
}

#[test]
fn a_declared_extensions_required_attribute_is_required_once_the_extension_is_present() {
    let declared = crate::scim::schema::parse_extension(
        r#"{"id": "urn:example:Badge:2.0:User", "attributes": [
            {"name": "number", "type": "integer", "required": true},
            {"name": "color", "type": "string"}]}"#,
    )
    .unwrap();
    let schema = user().with_declared(vec![declared]).unwrap();
    let body = |ext: Value| json!({"schemas": [USER_SCHEMA], "userName": "a", "urn:example:Badge:2.0:User": ext});
    let err = normalize(&body(json!({"color": "red"})), &schema).unwrap_err();
    assert_eq!(err.detail, "'urn:example:Badge:2.0:User:number' is required");
    assert!(normalize(&body(json!({"number": 7})), &schema).is_ok());
    assert!(normalize(&json!({"schemas": [USER_SCHEMA], "userName": "a"}), &schema).is_ok());
}

#[test]
fn a_string_holding_nul_is_refused_with_its_path() {
    let e = norm(json!({"userName": "a", "name": {"givenName": "x\u{0}y"}})).unwrap_err();
    assert_eq!(
        (e.status, e.scim_type),
        (400, Some(crate::scim::error::ScimType::InvalidValue))
    );
    assert!(
        e.detail.contains("name.givenName") && e.detail.contains("U+0000"),
        "{}",
        e.detail
    );
}
