//! Custom schema extensions (docs/extensions.md): an Entra admin's own URN is refused the same way
//! on POST, PUT and PATCH until the operator declares it; once declared it is stored, returned,
//! validated, filterable, PATCHable with and without path, advertised, and reaches the vendor.
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::targets::target_with;
use scim_bridge::config::TargetKind;
use serde_json::{json, Value};

const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";

/// The operator's schema document for `CUSTOM`.
fn custom_schema() -> Value {
    json!({
        "id": CUSTOM,
        "name": "CustomExtension",
        "description": "Our own attributes",
        "attributes": [
            {"name": "costCenter", "type": "string", "multiValued": false, "mutability": "readWrite", "returned": "default"},
            {"name": "badges", "type": "integer", "multiValued": true},
            {"name": "hiredOn", "type": "dateTime", "mutability": "immutable"}
        ]
    })
}

/// A server with `CUSTOM` declared in a `schema.extensions_dir`, and `targets`.
async fn declared_app(targets: Vec<scim_bridge::config::TargetSettings>) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("custom.json"), custom_schema().to_string()).unwrap();
    let folder = dir.path().to_owned();
    let app = spawn_app_with(move |s| {
        s.schema.extensions_dir = Some(folder);
        s.target = targets;
    })
    .await;
    (app, dir)
}

fn entra_user() -> Value {
    json!({"schemas": [USER_SCHEMA, CUSTOM], "userName": "kim@example.com", "active": true,
           "emails": [{"value": "kim@example.com", "type": "work", "primary": true}],
           "name": {"givenName": "Kim", "familyName": "Lee"},
           CUSTOM: {"costCenter": "42", "badges": [7, 9]}})
}

#[tokio::test]
async fn an_undeclared_extension_gets_the_same_400_on_post_put_and_patch() {
    let app = spawn_app().await;
    let words = "is not a declared schema extension of User resources";
    let how = "schema.extensions_dir";
    // POST, with the URN listed in `schemas` and without.
    let response = app.post("/Users", &entra_user()).await;
    assert_scim_error(response, 400, Some("invalidValue"), &format!("'{CUSTOM}' {words}")).await;
    let mut unlisted = entra_user();
    unlisted["schemas"] = json!([USER_SCHEMA]);
    let response = app.post("/Users", &unlisted).await;
    assert_scim_error(response, 400, Some("invalidValue"), how).await;
    assert!(app
        .user_names("filter=userName%20eq%20%22kim@example.com%22")
        .await
        .is_empty());
    // PUT over an existing user.
    let id = app.create_user(&user("kim@example.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app.put(&format!("/Users/{id}"), &entra_user()).await;
    assert_scim_error(response, 400, Some("invalidValue"), &format!("'{CUSTOM}' {words}")).await;
    // PATCH: Entra's path form, the path-less object form and the qualified key form.
    for operation in [
        json!({"op": "Add", "path": format!("{CUSTOM}:costCenter"), "value": "42"}),
        json!({"op": "Add", "value": {CUSTOM: {"costCenter": "42"}}}),
        json!({"op": "Add", "value": {format!("{CUSTOM}:costCenter"): "42"}}),
    ] {
        let response = app
            .patch(
                &format!("/Users/{id}"),
                &json!({"schemas": [PATCH_OP], "Operations": [operation]}),
            )
            .await;
        assert_scim_error(response, 400, Some("invalidValue"), &format!("'{CUSTOM}' {words}")).await;
    }
    let stored = app.get(&format!("/Users/{id}")).await.json::<Value>().await.unwrap();
    assert!(stored.get(CUSTOM).is_none(), "nothing was half-written: {stored}");
}

#[tokio::test]
async fn a_declared_extension_round_trips_through_post_patch_filter_and_discovery() {
    let (app, _dir) = declared_app(Vec::new()).await;
    let created = app.create_user(&entra_user()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created[CUSTOM], json!({"costCenter": "42", "badges": [7, 9]}));
    assert_eq!(created["schemas"], json!([USER_SCHEMA, CUSTOM]));
    assert_eq!(
        app.user_names(&format!("filter={}", enc(&format!("{CUSTOM}:costCenter eq \"42\""))))
            .await,
        ["kim@example.com"]
    );
    assert!(app
        .user_names(&format!("filter={}", enc(&format!("{CUSTOM}:costCenter eq \"7\""))))
        .await
        .is_empty());
    assert_eq!(
        app.user_names(&format!("filter={}", enc(&format!("{CUSTOM}:badges eq 9"))))
            .await,
        ["kim@example.com"]
    );

    let other = json!({"schemas": [USER_SCHEMA, CUSTOM], "userName": "abe@example.com", CUSTOM: {"costCenter": "10"}});
    app.create_user(&other).await;
    let sorted = app
        .user_names(&format!("sortBy={}", enc(&format!("{CUSTOM}:costCenter"))))
        .await;
    assert_eq!(
        sorted,
        ["abe@example.com", "kim@example.com"],
        "sorted by the declared attribute"
    );
    let projected: Value = app
        .get(&format!(
            "/Users/{id}?attributes={}",
            enc(&format!("{CUSTOM}:costCenter"))
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(projected[CUSTOM], json!({"costCenter": "42"}), "{projected}");
    // PATCH with a path (Entra), then without (a value object keyed by the URN, and by the qualified name).
    let patched = app
        .patch_user(
            &id,
            json!([{"op": "Replace", "path": format!("{CUSTOM}:costCenter"), "value": "43"}]),
        )
        .await;
    assert_eq!(patched[CUSTOM]["costCenter"], "43");
    let patched = app
        .patch_user(&id, json!([{"op": "add", "value": {CUSTOM: {"badges": [11]}}}]))
        .await;
    assert_eq!(patched[CUSTOM]["badges"], json!([7, 9, 11]));
    let patched = app
        .patch_user(
            &id,
            json!([{"op": "replace", "value": {format!("{CUSTOM}:costCenter"): "44"}}]),
        )
        .await;
    assert_eq!(patched[CUSTOM]["costCenter"], "44");
    let patched = app
        .patch_user(&id, json!([{"op": "remove", "path": format!("{CUSTOM}:costCenter")}]))
        .await;
    assert_eq!(patched[CUSTOM], json!({"badges": [7, 9, 11]}));

    // Discovery advertises it.
    let schemas: Value = app.get("/Schemas").await.json().await.unwrap();
    let listed = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == CUSTOM)
        .cloned();
    let listed = listed.expect("the declared schema is listed");
    assert_eq!(listed["attributes"][0]["name"], "costCenter");
    assert_eq!(listed["meta"]["resourceType"], "Schema");
    let one: Value = app.get(&format!("/Schemas/{CUSTOM}")).await.json().await.unwrap();
    assert_eq!(one["name"], "CustomExtension");
    let user_type: Value = app.get("/ResourceTypes/User").await.json().await.unwrap();
    assert!(
        user_type["schemaExtensions"]
            .as_array()
            .unwrap()
            .contains(&json!({"schema": CUSTOM, "required": false})),
        "{user_type}"
    );
}

#[tokio::test]
async fn declared_types_multi_valuedness_and_mutability_are_enforced() {
    let (app, _dir) = declared_app(Vec::new()).await;
    for (value, words) in [
        (json!({"badges": ["seven"]}), "badges"),
        (json!({"costCenter": ["42", "43"]}), "costCenter"),
        (json!({"shoeSize": 44}), "unknown attribute 'shoeSize'"),
        (json!({"hiredOn": "not a date"}), "hiredOn"),
    ] {
        let mut body = entra_user();
        body[CUSTOM] = value.clone();
        let response = app.post("/Users", &body).await;
        assert_scim_error(response, 400, Some("invalidValue"), words).await;
    }
    let mut body = entra_user();
    body[CUSTOM]["hiredOn"] = json!("2026-01-05T09:00:00Z");
    let id = app.create_user(&body).await["id"].as_str().unwrap().to_owned();
    let mut changed = body.clone();
    changed[CUSTOM]["hiredOn"] = json!("2026-02-05T09:00:00Z");
    let response = app.put(&format!("/Users/{id}"), &changed).await;
    assert_scim_error(
        response,
        400,
        Some("mutability"),
        &format!("'{CUSTOM}:hiredOn' is immutable"),
    )
    .await;
}

#[tokio::test]
async fn a_declared_attribute_reaches_the_vendor_through_the_mapping() {
    let (server, _fake) = FakeVendor::start(Vendor::Cyberark).await;
    let vault = tempfile::tempdir().unwrap();
    let extra = format!("[mapping]\n\"personalDetails.profession\" = \"{CUSTOM}:costCenter\"\n");
    let target = target_with(TargetKind::Cyberark, &server.uri(), vault.path(), &extra);
    let (app, _dir) = declared_app(vec![target]).await;
    let id = app.create_user(&entra_user()).await["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    app.patch_user(
        &id,
        json!([{"op": "Replace", "path": format!("{CUSTOM}:costCenter"), "value": "77"}]),
    )
    .await;
    app.drain_sync().await;
    let requests = server.received_requests().await.unwrap();
    let professions: Vec<Value> = requests
        .iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT") && r.url.path().contains("/API/Users/"))
        .map(|r| r.body_json::<Value>().unwrap()["personalDetails"]["profession"].clone())
        .collect();
    assert_eq!(professions, [json!("42"), json!("77")]);
}
