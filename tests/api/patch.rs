//! PATCH as Okta and Entra send it (docs/idp-behaviour.md), through the HTTP API.
use crate::helpers::*;
use serde_json::{json, Value};

async fn user_with_email(app: &TestApp) -> String {
    let body = json!({"schemas": [USER_SCHEMA], "userName": "p@x", "active": true, "name": {"givenName": "G", "familyName": "F"},
        "emails": [{"value": "p@x", "type": "work", "primary": true}]});
    app.create_user(&body).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn okta_deactivation_without_path_answers_200_with_the_resource() {
    let app = spawn_app().await;
    let id = user_with_email(&app).await;
    let body = app
        .patch_user(&id, json!([{"op": "replace", "value": {"active": false}}]))
        .await;
    assert_eq!(body["active"], false);
    assert_eq!(body["id"], id);
    assert_eq!(body["meta"]["version"], "W/\"2\"");
}

#[tokio::test]
async fn entra_legacy_string_booleans_and_capitalised_ops_are_understood() {
    let app = spawn_app().await;
    let id = user_with_email(&app).await;
    assert_eq!(
        app.patch_user(&id, json!([{"op": "Replace", "path": "active", "value": "False"}]))
            .await["active"],
        false
    );
    assert_eq!(
        app.patch_user(&id, json!([{"op": "REPLACE", "path": "active", "value": "True"}]))
            .await["active"],
        true
    );
}

#[tokio::test]
async fn entra_multi_operation_update_applies_every_form() {
    let app = spawn_app().await;
    let id = user_with_email(&app).await;
    let body = app
        .patch_user(
            &id,
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x"},
                {"op": "Replace", "path": "name.familyName", "value": "Smith"},
                {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
                {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Sales"},
                {"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": "boss-1"},
                {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555"},
                {"op": "Add", "path": "roles[primary eq \"True\"].display", "value": "Admin"},
            ]),
        )
        .await;
    assert_eq!(
        body["emails"],
        json!([{"value": "new@x", "type": "work", "primary": true}])
    );
    assert_eq!(body["name"], json!({"givenName": "G", "familyName": "Smith"}));
    assert_eq!(body["addresses"], json!([{"type": "work", "formatted": "1 Main St"}]));
    assert_eq!(body["phoneNumbers"], json!([{"type": "work", "value": "+1 555"}]));
    assert_eq!(body["roles"], json!([{"primary": true, "display": "Admin"}]));
    assert_eq!(
        body[ENTERPRISE],
        json!({"department": "Sales", "manager": {"value": "boss-1"}})
    );
    assert_eq!(body["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
    // The new e-mail is indexed: the filter finds it.
    assert_eq!(app.user_names("filter=emails.value%20eq%20%22new@x%22").await, ["p@x"]);
    let removed = app
        .patch_user(&id, json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}]))
        .await;
    assert_eq!(removed[ENTERPRISE], json!({"department": "Sales"}));
}

#[tokio::test]
async fn entra_pathless_value_with_dotted_and_urn_keys() {
    let app = spawn_app().await;
    let id = user_with_email(&app).await;
    let body = app
        .patch_user(
            &id,
            json!([{"op": "replace", "value": {"displayName": "Bjfe", "name.givenName": "Kkom",
            format!("{ENTERPRISE}:employeeNumber"): "Aklq", ENTERPRISE: {"costCenter": "CC"}}}]),
        )
        .await;
    assert_eq!(body["displayName"], "Bjfe");
    assert_eq!(body["name"]["givenName"], "Kkom");
    assert_eq!(body[ENTERPRISE], json!({"employeeNumber": "Aklq", "costCenter": "CC"}));
}

#[tokio::test]
async fn manager_forms_array_ref_and_empty_value() {
    let app = spawn_app().await;
    let id = user_with_email(&app).await;
    let body = app
        .patch_user(
            &id,
            json!([{"op": "Add", "path": "manager", "value": [{"$ref": "https://x/Users/m1", "value": "m1"}]}]),
        )
        .await;
    assert_eq!(
        body[ENTERPRISE]["manager"],
        json!({"value": "m1", "$ref": "https://x/Users/m1"})
    );
    let body = app
        .patch_user(
            &id,
            json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": ""}}]),
        )
        .await;
    assert!(body.get(ENTERPRISE).is_none(), "{body}");
}

#[tokio::test]
async fn add_to_multi_valued_appends_and_a_new_primary_demotes_the_old() {
    let app = spawn_app().await;
    let id = user_with_email(&app).await;
    let body = app
        .patch_user(
            &id,
            json!([{"op": "add", "path": "emails", "value": [{"value": "second@x", "type": "home", "primary": true}]}]),
        )
        .await;
    assert_eq!(
        body["emails"],
        json!([{"value": "p@x", "type": "work", "primary": false}, {"value": "second@x", "type": "home", "primary": true}])
    );
    let body = app
        .patch_user(&id, json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]))
        .await;
    assert_eq!(
        body["emails"],
        json!([{"value": "second@x", "type": "home", "primary": true}])
    );
    // Removing what is not there is a no-op, not an error.
    app.patch_user(&id, json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]))
        .await;
}

#[tokio::test]
async fn patch_errors_are_precise_and_change_nothing() {
    let app = spawn_app().await;
    let id = user_with_email(&app).await;
    let path = format!("/Users/{id}");
    let rows = [
        (
            json!([{"op": "replace", "path": "id", "value": "other"}]),
            400,
            "mutability",
            "'id' is readOnly",
        ),
        (
            json!([{"op": "replace", "value": {"id": "other"}}]),
            400,
            "mutability",
            "'id'",
        ),
        (
            json!([{"op": "add", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            400,
            "mutability",
            "readOnly",
        ),
        (json!([{"op": "remove"}]), 400, "noTarget", "'remove' needs a 'path'"),
        (
            json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "h@x"}]),
            400,
            "noTarget",
            "no value of 'emails'",
        ),
        (
            json!([{"op": "jump", "path": "active", "value": true}]),
            400,
            "invalidSyntax",
            "'jump'",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
            400,
            "invalidPath",
            "position",
        ),
        (
            json!([{"op": "replace", "path": "shoeSize", "value": 1}]),
            400,
            "invalidPath",
            "unknown attribute 'shoeSize'",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "perhaps"}]),
            400,
            "invalidValue",
            "'active'",
        ),
        (
            json!([{"op": "remove", "path": "userName"}]),
            400,
            "invalidValue",
            "'userName' is required",
        ),
        // Atomic: the first operation would succeed, the second fails, nothing is written.
        (
            json!([{"op": "replace", "path": "displayName", "value": "Changed"}, {"op": "replace", "path": "id", "value": "x"}]),
            400,
            "mutability",
            "operation 2",
        ),
    ];
    for (operations, status, scim_type, detail) in rows {
        let response = app
            .patch(&path, &json!({"schemas": [PATCH_OP], "Operations": operations}))
            .await;
        assert_scim_error(response, status, Some(scim_type), detail).await;
    }
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert!(unchanged.get("displayName").is_none());
    assert_eq!(unchanged["meta"]["version"], "W/\"1\"");
    let no_schema = app
        .patch(
            &path,
            &json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}),
        )
        .await;
    assert_scim_error(no_schema, 400, Some("invalidSyntax"), "PatchOp").await;
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_the_version() {
    let app = spawn_app().await;
    let id = user_with_email(&app).await;
    // Entra re-sends `active: true` to active users (docs/idp-behaviour.md §2.4).
    let body = app
        .patch_user(&id, json!([{"op": "Replace", "path": "active", "value": true}]))
        .await;
    assert_eq!(body["meta"]["version"], "W/\"1\"");
}

#[tokio::test]
async fn password_patch_is_accepted_and_never_returned() {
    let app = spawn_app().await;
    let id = user_with_email(&app).await;
    let body = app
        .patch_user(&id, json!([{"op": "replace", "value": {"password": "N3w-secret"}}]))
        .await;
    assert!(body.get("password").is_none());
    assert!(!app.store.get_user(&id).await.unwrap().doc.contains("N3w-secret"));
}
