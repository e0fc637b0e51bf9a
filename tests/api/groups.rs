//! /Groups as Okta's group push and Entra's group provisioning drive it (docs/idp-behaviour.md).
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

async fn new_user(app: &TestApp, name: &str) -> String {
    app.create_user(&user(name)).await["id"].as_str().unwrap().to_owned()
}

async fn new_group(app: &TestApp, name: &str, members: Value) -> Value {
    let response = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members}),
        )
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

async fn patch_group(app: &TestApp, id: &str, operations: Value) -> reqwest::Response {
    app.patch(
        &format!("/Groups/{id}"),
        &json!({"schemas": [PATCH_OP], "Operations": operations}),
    )
    .await
}

async fn member_ids(app: &TestApp, id: &str) -> Vec<String> {
    let body: Value = app.get(&format!("/Groups/{id}")).await.json().await.unwrap();
    body.get("members")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |m| {
            m.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect()
        })
}

#[tokio::test]
async fn okta_group_push_create_add_remove_rename_delete() {
    let app = spawn_app().await;
    let alice = new_user(&app, "alice@x").await;
    let group = new_group(&app, "Engineering", json!([])).await;
    let id = group["id"].as_str().unwrap();
    assert_eq!(group["meta"]["resourceType"], "Group");
    assert!(group.get("members").is_none());

    let added = patch_group(
        &app,
        id,
        json!([{"op": "add", "path": "members", "value": [{"value": alice, "display": "alice@x"}]}]),
    )
    .await;
    assert_eq!(added.status(), 204);
    assert_eq!(added.headers()["etag"], "W/\"2\"");
    let body: Value = app.get(&format!("/Groups/{id}")).await.json().await.unwrap();
    assert_eq!(
        body["members"],
        json!([{"value": alice, "$ref": format!("{}/Users/{alice}", app.base), "type": "User", "display": "alice@x"}])
    );

    assert_eq!(
        patch_group(
            &app,
            id,
            json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}])
        )
        .await
        .status(),
        204
    );
    assert!(member_ids(&app, id).await.is_empty());

    let renamed = patch_group(
        &app,
        id,
        json!([{"op": "replace", "value": {"id": id, "displayName": "Platform"}}]),
    )
    .await;
    assert_eq!(renamed.status(), 204);
    let found: Value = app
        .get("/Groups?filter=displayName%20eq%20%22platform%22")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["displayName"], "Platform");

    assert_eq!(app.delete(&format!("/Groups/{id}")).await.status(), 204);
    assert_scim_error(app.get(&format!("/Groups/{id}")).await, 404, None, "no resource").await;
}

#[tokio::test]
async fn entra_group_provisioning_forms() {
    let app = spawn_app().await;
    let (u1, u2, u3) = (
        new_user(&app, "u1@x").await,
        new_user(&app, "u2@x").await,
        new_user(&app, "u3@x").await,
    );
    let body = json!({"schemas": [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0", "displayName": "Sales", "members": [], "meta": {"resourceType": "Group"}});
    let group: Value = app.post("/Groups", &body).await.json().await.unwrap();
    let id = group["id"].as_str().unwrap();
    let add = json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u2}, {"$ref": null, "value": u3}]}]);
    assert_eq!(patch_group(&app, id, add).await.status(), 204);
    // Entra (legacy) removes by value list: only the listed members go (Q12).
    let remove = json!([{"op": "Remove", "path": "members", "value": [{"value": u2}]}]);
    assert_eq!(patch_group(&app, id, remove).await.status(), 204);
    let mut expected = vec![u1.clone(), u3.clone()];
    expected.sort();
    assert_eq!(member_ids(&app, id).await, expected);
    assert_eq!(
        patch_group(
            &app,
            id,
            json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}])
        )
        .await
        .status(),
        204
    );
    // Entra reads groups without members, by id and by filter (Q25).
    let lean: Value = app
        .get(&format!("/Groups/{id}?excludedAttributes=members"))
        .await
        .json()
        .await
        .unwrap();
    assert!(lean.get("members").is_none());
    assert_eq!(lean["displayName"], "Sales EMEA");
    let list: Value = app
        .get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Sales%20EMEA%22")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["Resources"][0]["id"], id);
    assert!(list["Resources"][0].get("members").is_none());
    let by_external: Value = app
        .get("/Groups?filter=externalId%20eq%20%228aa1a0c0%22")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_external["totalResults"], 1);
}

#[tokio::test]
async fn adding_a_member_twice_or_removing_an_absent_one_changes_nothing() {
    let app = spawn_app().await;
    let u = new_user(&app, "u@x").await;
    let id = new_group(&app, "G", json!([{"value": u}])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = patch_group(
        &app,
        &id,
        json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
    )
    .await;
    assert_eq!(
        (again.status().as_u16(), again.headers()["etag"].to_str().unwrap()),
        (204, "W/\"1\"")
    );
    let absent = patch_group(
        &app,
        &id,
        json!([{"op": "remove", "path": "members[value eq \"not-a-member\"]"}]),
    )
    .await;
    assert_eq!(
        (absent.status().as_u16(), absent.headers()["etag"].to_str().unwrap()),
        (204, "W/\"1\"")
    );
    assert_eq!(member_ids(&app, &id).await, [u]);
}

#[tokio::test]
async fn members_that_are_not_users_or_groups_are_400_naming_them() {
    let app = spawn_app().await;
    let u = new_user(&app, "u@x").await;
    let id = new_group(&app, "G", json!([])).await["id"].as_str().unwrap().to_owned();
    let bad = patch_group(
        &app,
        &id,
        json!([{"op": "add", "path": "members", "value": [{"value": u}, {"value": "fake-member-id"}]}]),
    )
    .await;
    assert_scim_error(
        bad,
        400,
        Some("invalidValue"),
        "'fake-member-id' is neither a User nor a Group",
    )
    .await;
    assert!(
        member_ids(&app, &id).await.is_empty(),
        "the valid member was not added either: atomic"
    );
    let own = patch_group(
        &app,
        &id,
        json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
    )
    .await;
    assert_scim_error(own, 400, Some("invalidValue"), "member of itself").await;
    let wrong_type = patch_group(
        &app,
        &id,
        json!([{"op": "add", "path": "members", "value": [{"value": u, "type": "Group"}]}]),
    )
    .await;
    assert_scim_error(wrong_type, 400, Some("invalidValue"), "is a User, not a Group").await;
    let create = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "H", "members": [{"value": "ghost"}]}),
        )
        .await;
    assert_scim_error(create, 400, Some("invalidValue"), "'ghost'").await;
    assert_eq!(
        app.get("/Groups?filter=displayName%20eq%20%22H%22")
            .await
            .json::<Value>()
            .await
            .unwrap()["totalResults"],
        0
    );
}

#[tokio::test]
async fn nested_groups_are_stored_with_type_group() {
    let app = spawn_app().await;
    let inner = new_group(&app, "Inner", json!([])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let outer = new_group(&app, "Outer", json!([{"value": inner}])).await;
    assert_eq!(
        outer["members"],
        json!([{"value": inner, "$ref": format!("{}/Groups/{inner}", app.base), "type": "Group"}])
    );
}

#[tokio::test]
async fn replace_and_remove_all_members() {
    let app = spawn_app().await;
    let (a, b) = (new_user(&app, "a@x").await, new_user(&app, "b@x").await);
    let id = new_group(&app, "G", json!([{"value": a}])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        patch_group(
            &app,
            &id,
            json!([{"op": "replace", "path": "members", "value": [{"value": b}]}])
        )
        .await
        .status(),
        204
    );
    assert_eq!(member_ids(&app, &id).await, std::slice::from_ref(&b));
    // Okta's "Push now" of an empty group (Q15) and the remove-all probe (Q14).
    assert_eq!(
        patch_group(&app, &id, json!([{"op": "replace", "path": "members", "value": []}]))
            .await
            .status(),
        204
    );
    assert!(member_ids(&app, &id).await.is_empty());
    patch_group(
        &app,
        &id,
        json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}]),
    )
    .await;
    assert_eq!(
        patch_group(&app, &id, json!([{"op": "remove", "path": "members"}]))
            .await
            .status(),
        204
    );
    assert!(member_ids(&app, &id).await.is_empty());
    // PUT replaces the members too.
    let put = app
        .put(
            &format!("/Groups/{id}"),
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": a}]}),
        )
        .await;
    assert_eq!(put.status(), 200);
    assert_eq!(member_ids(&app, &id).await, [a]);
}

#[tokio::test]
async fn display_names_are_unique_in_any_case() {
    let app = spawn_app().await;
    new_group(&app, "Admins", json!([])).await;
    let duplicate = app
        .post("/Groups", &json!({"schemas": [GROUP_SCHEMA], "displayName": "ADMINS"}))
        .await;
    assert_scim_error(duplicate, 409, Some("uniqueness"), "displayName 'ADMINS'").await;
    let other = new_group(&app, "Other", json!([])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rename = patch_group(
        &app,
        &other,
        json!([{"op": "replace", "path": "displayName", "value": "admins"}]),
    )
    .await;
    assert_scim_error(rename, 409, Some("uniqueness"), "displayName 'admins'").await;
    let missing = app.post("/Groups", &json!({"schemas": [GROUP_SCHEMA]})).await;
    assert_scim_error(missing, 400, Some("invalidValue"), "'displayName' is required").await;
}

#[tokio::test]
async fn users_show_their_groups_and_can_be_filtered_by_them() {
    let app = spawn_app().await;
    let (a, b) = (new_user(&app, "a@x").await, new_user(&app, "b@x").await);
    let group = new_group(&app, "Readers", json!([{"value": a}])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice: Value = app.get(&format!("/Users/{a}")).await.json().await.unwrap();
    assert_eq!(
        alice["groups"],
        json!([{"value": group, "$ref": format!("{}/Groups/{group}", app.base), "display": "Readers", "type": "direct"}])
    );
    let bob: Value = app.get(&format!("/Users/{b}")).await.json().await.unwrap();
    assert!(bob.get("groups").is_none());
    assert_eq!(
        app.user_names(&format!("filter=groups.value%20eq%20%22{group}%22"))
            .await,
        ["a@x"]
    );
    assert_eq!(
        app.user_names("filter=groups.display%20eq%20%22readers%22").await,
        ["a@x"]
    );
    assert_eq!(
        app.user_names("filter=groups%5Bdisplay%20sw%20%22Read%22%5D").await,
        ["a@x"]
    );
    assert_eq!(app.user_names("filter=not%20(groups%20pr)").await, ["b@x"]);
    let groups_of_members: Value = app
        .get(&format!("/Groups?filter=members.value%20eq%20%22{a}%22"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(groups_of_members["totalResults"], 1);
    // A user's PATCH response still shows its groups; `groups` itself is readOnly.
    let patched = app
        .patch_user(&a, json!([{"op": "replace", "path": "title", "value": "T"}]))
        .await;
    assert_eq!(patched["groups"][0]["value"], group);
    let write = app.patch(&format!("/Users/{a}"), &json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "groups", "value": [{"value": group}]}]})).await;
    assert_scim_error(write, 400, Some("mutability"), "readOnly").await;
}

#[tokio::test]
async fn deleting_a_user_or_a_group_removes_its_memberships_and_moves_versions() {
    let app = spawn_app().await;
    let (a, b) = (new_user(&app, "a@x").await, new_user(&app, "b@x").await);
    let inner = new_group(&app, "Inner", json!([])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = new_group(&app, "G", json!([{"value": a}, {"value": b}, {"value": inner}])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.delete(&format!("/Users/{a}")).await.status(), 204);
    let group: Value = app.get(&format!("/Groups/{id}")).await.json().await.unwrap();
    assert_eq!(group["meta"]["version"], "W/\"2\"");
    assert_eq!(group["members"].as_array().unwrap().len(), 2);
    assert_eq!(app.delete(&format!("/Groups/{inner}")).await.status(), 204);
    assert_eq!(member_ids(&app, &id).await, std::slice::from_ref(&b));
    assert_eq!(app.delete(&format!("/Groups/{id}")).await.status(), 204);
    let bob: Value = app.get(&format!("/Users/{b}")).await.json().await.unwrap();
    assert!(bob.get("groups").is_none());
}

#[tokio::test]
async fn group_etags_follow_membership_and_if_match_is_honoured() {
    let app = spawn_app().await;
    let u = new_user(&app, "u@x").await;
    let id = new_group(&app, "G", json!([])).await["id"].as_str().unwrap().to_owned();
    let stale = app
        .request(Method::PATCH, &format!("/Groups/{id}"))
        .header("If-Match", "W/\"9\"")
        .json(
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": u}]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_scim_error(stale, 412, None, "If-Match").await;
    let shaped = app
        .request(Method::PATCH, &format!("/Groups/{id}?excludedAttributes=members"))
        .json(
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": u}]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(shaped.status(), 200);
    let body: Value = shaped.json().await.unwrap();
    assert_eq!(body["meta"]["version"], "W/\"2\"");
    assert!(body.get("members").is_none());
    let cached = app
        .request(Method::GET, &format!("/Groups/{id}"))
        .header("If-None-Match", "W/\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
}

#[tokio::test]
async fn root_search_spans_users_then_groups_as_one_list() {
    let app = spawn_app().await;
    for n in 0..3 {
        new_user(&app, &format!("s{n}@x")).await;
        new_group(&app, &format!("S{n}"), json!([])).await;
    }
    let search = |start: usize, count: usize| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "attributes": ["displayName", "userName"], "startIndex": start, "count": count});
    let all: Value = app.post("/.search", &search(1, 100)).await.json().await.unwrap();
    assert_eq!(all["totalResults"], 6);
    let page: Value = app.post("/.search", &search(3, 2)).await.json().await.unwrap();
    let kinds: Vec<bool> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.get("userName").is_some())
        .collect();
    assert_eq!((page["totalResults"].clone(), kinds), (json!(6), vec![true, false]));
    let only_groups = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "displayName sw \"S\" and members pr"});
    let none: Value = app.post("/.search", &only_groups).await.json().await.unwrap();
    assert_eq!(none["totalResults"], 0);
}

#[tokio::test]
async fn membership_changes_report_exactly_the_members_that_joined_or_left() {
    use scim_bridge::scim::members::{MemberOp, MemberRef};
    let app = spawn_app().await;
    let (a, b) = (new_user(&app, "a@x").await, new_user(&app, "b@x").await);
    let id = new_group(&app, "G", json!([{"value": a}])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = |v: &str| MemberRef {
        value: v.to_owned(),
        kind: None,
        display: None,
    };
    let ops = vec![
        MemberOp::Add(vec![member(&a), member(&b)]),
        MemberOp::Remove(vec![a.clone(), "nobody".into()]),
    ];
    let change = app
        .store
        .change_group(&id, None, |doc| Ok::<_, scim_bridge::store::StoreError>((doc, ops)))
        .await
        .unwrap();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(change.affected_members, expected);
    let none = app
        .store
        .change_group(&id, None, |doc| {
            Ok::<_, scim_bridge::store::StoreError>((doc, vec![MemberOp::Add(vec![member(&b)])]))
        })
        .await
        .unwrap();
    assert!(none.affected_members.is_empty());
}

#[tokio::test]
async fn groups_filter_on_display_name_and_external_id_with_eq_sw_co() {
    let app = spawn_app().await;
    for (name, external) in [("Eng Platform", "x-1"), ("Eng Mobile", "x-2"), ("Sales", "y-1")] {
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name, "externalId": external});
        assert_eq!(app.post("/Groups", &body).await.status(), 201);
    }
    let app = &app;
    let names = |filter: &str| {
        let url = format!(
            "/Groups?excludedAttributes=members&sortBy=displayName&filter={}",
            enc(filter)
        );
        async move {
            let body: Value = app.get(&url).await.json().await.unwrap();
            body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["displayName"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names(r#"displayName sw "eng""#).await, ["Eng Mobile", "Eng Platform"]);
    assert_eq!(names(r#"displayName co "LATF""#).await, ["Eng Platform"]);
    assert_eq!(names(r#"externalId eq "y-1""#).await, ["Sales"]);
    assert_eq!(names(r#"externalId sw "x-""#).await, ["Eng Mobile", "Eng Platform"]);
    assert_eq!(names(r#"externalId co "-1""#).await, ["Eng Platform", "Sales"]);
    let bad = app.get(&format!("/Groups?filter={}", enc(r#"userName eq "x""#))).await;
    assert_scim_error(bad, 400, Some("invalidFilter"), "unknown attribute 'userName'").await;
}
