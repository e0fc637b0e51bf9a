//! /Users CRUD as Okta and Entra drive it.
use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn create_answers_201_with_location_etag_meta_and_never_the_password() {
    let app = spawn_app().await;
    // Okta's create, including readOnly input it sends (docs/idp-behaviour.md Q22).
    let body = json!({"schemas": [USER_SCHEMA], "userName": "jdoe@example.com", "name": {"givenName": "J", "familyName": "Doe"},
        "emails": [{"primary": true, "value": "jdoe@example.com", "type": "work"}], "displayName": "J Doe", "locale": "en-US",
        "externalId": "00u1", "groups": [], "password": "t1meMa$heen", "active": true, "id": "client-chosen",
        "meta": {"created": "04-12-2018 00:00:00"}});
    let response = app.post("/Users", &body).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_ne!(id, "client-chosen");
    assert_eq!(location, format!("{}/Users/{id}", app.base));
    assert_eq!(etag, "W/\"1\"");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["location"], location);
    assert_eq!(created["meta"]["version"], etag);
    assert_eq!(created["meta"]["created"], created["meta"]["lastModified"]);
    assert!(created.get("password").is_none() && created.get("groups").is_none());
    assert_eq!(created["emails"][0]["value"], "jdoe@example.com");
    let fetched: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(fetched, created);
    let stored: (String,) = sqlx_doc(&app, id).await;
    assert!(
        !stored.0.contains("t1meMa$heen"),
        "the password must not be stored in clear"
    );
}

async fn sqlx_doc(app: &TestApp, id: &str) -> (String,) {
    let user = app.store.get_user(id).await.unwrap();
    (user.doc,)
}

#[tokio::test]
async fn entra_create_with_meta_extension_and_unknown_schema_is_accepted() {
    let app = spawn_app().await;
    let body = json!({"schemas": [USER_SCHEMA, ENTERPRISE, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User"],
        "externalId": "0a21f0f2", "userName": "Test_User_ab6490ee@testuser.com", "active": true, "displayName": "Test User",
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"}, "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [], ENTERPRISE: {"department": "Sales", "manager": "boss-id"}, "title": null});
    let created = app.create_user(&body).await;
    assert_eq!(created["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
    assert_eq!(created[ENTERPRISE]["manager"], json!({"value": "boss-id"}));
    assert!(created.get("roles").is_none() && created.get("title").is_none());
}

#[tokio::test]
async fn duplicate_user_name_in_any_case_is_409_uniqueness() {
    let app = spawn_app().await;
    app.create_user(&user("Alice@Example.com")).await;
    let response = app.post("/Users", &user("alice@example.COM")).await;
    assert_scim_error(response, 409, Some("uniqueness"), "alice@example.COM").await;
}

#[tokio::test]
async fn invalid_users_are_400_with_the_reason() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"schemas": [USER_SCHEMA], "displayName": "x"}),
            "invalidValue",
            "'userName' is required",
        ),
        (
            json!({"schemas": [USER_SCHEMA], "userName": "a", "active": "maybe"}),
            "invalidValue",
            "'active'",
        ),
        (
            json!({"schemas": [USER_SCHEMA], "userName": "a", "shoeSize": 44}),
            "invalidValue",
            "unknown attribute 'shoeSize'",
        ),
        (json!([1, 2]), "invalidSyntax", "JSON object"),
    ];
    for (body, scim_type, detail) in cases {
        assert_scim_error(app.post("/Users", &body).await, 400, Some(scim_type), detail).await;
    }
}

#[tokio::test]
async fn put_replaces_the_user_and_clears_what_it_leaves_out() {
    let app = spawn_app().await;
    let created = app
        .create_user(
            &json!({"schemas": [USER_SCHEMA], "userName": "put@x", "title": "Boss", "nickName": "B", "active": true}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let response = app
        .put(
            &format!("/Users/{id}"),
            &json!({"schemas": [USER_SCHEMA], "id": "ignored", "userName": "put@x", "title": "Chief"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(replaced["id"], id);
    assert_eq!(replaced["title"], "Chief");
    assert!(replaced.get("nickName").is_none() && replaced.get("active").is_none());
    assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);
    assert_eq!(replaced["meta"]["version"], "W/\"2\"");
}

#[tokio::test]
async fn put_to_a_taken_user_name_is_409() {
    let app = spawn_app().await;
    app.create_user(&user("one@x")).await;
    let two = app.create_user(&user("two@x")).await;
    let response = app
        .put(&format!("/Users/{}", two["id"].as_str().unwrap()), &user("ONE@x"))
        .await;
    assert_scim_error(response, 409, Some("uniqueness"), "ONE@x").await;
}

#[tokio::test]
async fn deleted_users_are_gone_at_once_and_a_second_delete_is_404() {
    let app = spawn_app().await;
    let id = app.create_user(&user("gone@x")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
    assert_scim_error(app.get(&format!("/Users/{id}")).await, 404, None, "no resource").await;
    assert_scim_error(app.delete(&format!("/Users/{id}")).await, 404, None, "no resource").await;
    assert_eq!(
        app.user_names("filter=userName%20eq%20%22gone@x%22").await,
        Vec::<String>::new()
    );
    // The name is free again.
    app.create_user(&user("gone@x")).await;
}

#[tokio::test]
async fn unknown_ids_are_404_on_every_method() {
    let app = spawn_app().await;
    let path = "/Users/00000000-0000-0000-0000-000000000000";
    assert_scim_error(app.get(path).await, 404, None, "no resource").await;
    assert_scim_error(app.put(path, &user("x")).await, 404, None, "no resource").await;
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_scim_error(app.patch(path, &patch).await, 404, None, "no resource").await;
    assert_scim_error(app.delete(path).await, 404, None, "no resource").await;
}

#[tokio::test]
async fn inactive_users_stay_visible_to_get_and_filters() {
    let app = spawn_app().await;
    let id = app.create_user(&user("sleepy@x")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch_user(&id, json!([{"op": "replace", "value": {"active": false}}]))
        .await;
    let fetched: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(fetched["active"], false);
    assert_eq!(app.user_names("filter=active%20eq%20false").await, ["sleepy@x"]);
}

#[tokio::test]
async fn get_honours_attributes_and_excluded_attributes() {
    let app = spawn_app().await;
    let body = json!({"schemas": [USER_SCHEMA], "userName": "proj@x", "displayName": "P", "name": {"givenName": "G", "familyName": "F"}});
    let id = app.create_user(&body).await["id"].as_str().unwrap().to_owned();
    let only: Value = app
        .get(&format!("/Users/{id}?attributes=displayName,name.familyName"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        only,
        json!({"schemas": [USER_SCHEMA], "id": id, "displayName": "P", "name": {"familyName": "F"}})
    );
    let without: Value = app
        .get(&format!("/Users/{id}?excludedAttributes=name,meta"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        without,
        json!({"schemas": [USER_SCHEMA], "id": id, "userName": "proj@x", "displayName": "P"})
    );
    let both = app
        .get(&format!("/Users/{id}?attributes=userName&excludedAttributes=name"))
        .await;
    assert_scim_error(both, 400, Some("invalidSyntax"), "mutually exclusive").await;
}
