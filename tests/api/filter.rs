//! Filters, paging, sorting and search, run in SQLite through the HTTP API.
use crate::helpers::*;
use serde_json::{json, Value};

/// Five users with varied attributes; returns the app.
async fn seeded() -> TestApp {
    let app = spawn_app().await;
    let users = [
        json!({"schemas": [USER_SCHEMA], "userName": "alice@example.com", "externalId": "E-1", "displayName": "Alice", "title": "Engineer",
               "name": {"familyName": "O'Malley", "givenName": "Alice"}, "userType": "Employee", "active": true,
               "emails": [{"value": "alice@example.com", "type": "work", "primary": true}, {"value": "alice@home.org", "type": "home"}]}),
        json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "bob@example.com", "externalId": "e-1", "displayName": "Bob", "userType": "Intern",
               "name": {"familyName": "Builder"}, "active": false, "emails": [{"value": "bob@example.org", "type": "work"}],
               ENTERPRISE: {"department": "Sales", "employeeNumber": "42"}}),
        json!({"schemas": [USER_SCHEMA], "userName": "carol@example.com", "displayName": "carol", "userType": "Employee", "active": true,
               "emails": [{"value": "carol@example.com", "type": "home"}]}),
        json!({"schemas": [USER_SCHEMA], "userName": "dave_100%@example.net", "title": "", "active": true}),
        json!({"schemas": [USER_SCHEMA], "userName": "Erin@Example.com", "nickName": "E", "title": "Engineer"}),
    ];
    for u in users {
        app.create_user(&u).await;
    }
    app
}

#[tokio::test]
async fn filters_return_exactly_the_matching_users() {
    let app = seeded().await;
    let rows: &[(&str, &[&str])] = &[
        (r#"userName eq "ALICE@example.com""#, &["alice@example.com"]),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@example.com""#,
            &["bob@example.com"],
        ),
        (r#"userName sw "c""#, &["carol@example.com"]),
        (r#"userName ew ".NET""#, &["dave_100%@example.net"]),
        (r#"userName co "_100%""#, &["dave_100%@example.net"]),
        (r#"userName co "%""#, &["dave_100%@example.net"]),
        (r#"userName gt "d""#, &["dave_100%@example.net", "Erin@Example.com"]),
        (r#"externalId eq "E-1""#, &["alice@example.com"]),
        (r#"externalId eq "e-1""#, &["bob@example.com"]),
        (r#"displayName eq "CAROL""#, &["carol@example.com"]),
        (r#"name.familyName co "o'malley""#, &["alice@example.com"]),
        (r#"title pr"#, &["alice@example.com", "Erin@Example.com"]),
        (
            r#"not (title pr)"#,
            &["bob@example.com", "carol@example.com", "dave_100%@example.net"],
        ),
        (r#"active eq false"#, &["bob@example.com"]),
        (
            r#"active eq "True""#,
            &["alice@example.com", "carol@example.com", "dave_100%@example.net"],
        ),
        (
            r#"title eq null"#,
            &["bob@example.com", "carol@example.com", "dave_100%@example.net"],
        ),
        (r#"emails.value eq "CAROL@example.com""#, &["carol@example.com"]),
        (r#"emails eq "alice@home.org""#, &["alice@example.com"]),
        (r#"emails co "example.org""#, &["bob@example.com"]),
        (r#"emails.type eq "home""#, &["alice@example.com", "carol@example.com"]),
        (
            r#"emails[type eq "work" and value co "@example.com"]"#,
            &["alice@example.com"],
        ),
        (
            r#"emails[type eq "home"] and not (emails[type eq "work"])"#,
            &["carol@example.com"],
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            &["alice@example.com", "carol@example.com"],
        ),
        (
            r#"userType ne "Employee""#,
            &["bob@example.com", "dave_100%@example.net", "Erin@Example.com"],
        ),
        (
            r#"title pr or userType eq "Intern""#,
            &["alice@example.com", "bob@example.com", "Erin@Example.com"],
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales""#,
            &["bob@example.com"],
        ),
        (r#"employeeNumber eq "42""#, &["bob@example.com"]),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            &["bob@example.com"],
        ),
        (r#"meta.resourceType eq "User" and nickName pr"#, &["Erin@Example.com"]),
        (
            r#"meta.lastModified gt "2020-01-01T00:00:00Z" and userName sw "a""#,
            &["alice@example.com"],
        ),
        (r#"meta.created lt "2020-01-01T00:00:00+02:00""#, &[]),
        (r#"id pr and userName eq "nobody""#, &[]),
        (r#"userName eq "x' OR 1=1 --""#, &[]),
    ];
    for (filter, expected) in rows {
        let names = app.user_names(&format!("filter={}", enc(filter))).await;
        assert_eq!(&names, expected, "{filter}");
    }
}

#[tokio::test]
async fn okta_lookup_with_plus_encoding_finds_nothing_as_an_empty_list() {
    let app = spawn_app().await;
    let response = app
        .get("/Users?filter=userName+eq+%22jane.doe%40example.com%22&startIndex=1&count=100")
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0, "itemsPerPage": 0, "startIndex": 1, "Resources": []})
    );
}

#[tokio::test]
async fn bad_filters_are_400_invalid_filter_saying_where() {
    let app = seeded().await;
    let rows = [
        (r#"userName eq"#, "position 12"),
        (r#"userName xx "a""#, "comparison operator"),
        (r#"(userName eq "a""#, "')'"),
        (r#"shoeSize eq 3"#, "unknown attribute 'shoeSize'"),
        (r#"password eq "x""#, "'password' cannot be used in a filter"),
        (r#"active gt true"#, "'active'"),
        (r#"meta.lastModified gt "yesterday""#, "not an xsd:dateTime"),
        (r#"name eq "x""#, "complex"),
        (r#"emails[type eq "work"].value eq "x""#, "position"),
    ];
    for (filter, detail) in rows {
        let response = app.get(&format!("/Users?filter={}", enc(filter))).await;
        assert_scim_error(response, 400, Some("invalidFilter"), detail).await;
    }
}

#[tokio::test]
async fn paging_is_one_based_clamped_and_count_zero_gives_only_the_total() {
    let app = seeded().await;
    let all = app.user_names("sortBy=userName").await;
    assert_eq!(all.len(), 5);
    assert_eq!(app.user_names("sortBy=userName&startIndex=2&count=2").await, all[1..3]);
    assert_eq!(app.user_names("sortBy=userName&startIndex=0&count=1").await, all[..1]);
    assert_eq!(app.user_names("startIndex=99").await, Vec::<String>::new());
    let body: Value = app.get("/Users?count=0").await.json().await.unwrap();
    assert_eq!(
        (
            body["totalResults"].clone(),
            body["itemsPerPage"].clone(),
            body["Resources"].clone()
        ),
        (json!(5), json!(0), json!([]))
    );
    let body: Value = app.get("/Users?count=-3&startIndex=-1").await.json().await.unwrap();
    assert_eq!(
        (body["itemsPerPage"].clone(), body["startIndex"].clone()),
        (json!(0), json!(1))
    );
    assert_scim_error(app.get("/Users?count=ten").await, 400, Some("invalidValue"), "'count'").await;
}

#[tokio::test]
async fn count_is_capped_at_the_advertised_max_results() {
    let app = spawn_app().await;
    for n in 0..1003 {
        let doc: scim_bridge::scim::resource::Document =
            serde_json::from_value(json!({"schemas": [USER_SCHEMA], "userName": format!("u{n}@x")})).unwrap();
        app.store.insert_user(&doc, None).await.unwrap();
    }
    let body: Value = app.get("/Users?count=5000").await.json().await.unwrap();
    assert_eq!(body["totalResults"], 1003);
    assert_eq!(body["itemsPerPage"], 1000);
}

#[tokio::test]
async fn sort_by_orders_case_insensitively_with_missing_values_last() {
    let app = seeded().await;
    assert_eq!(
        app.user_names("sortBy=displayName").await,
        [
            "alice@example.com",
            "bob@example.com",
            "carol@example.com",
            "dave_100%@example.net",
            "Erin@Example.com"
        ]
    );
    assert_eq!(
        app.user_names("sortBy=userName&sortOrder=descending&count=2").await,
        ["Erin@Example.com", "dave_100%@example.net"]
    );
    assert_eq!(
        app.user_names("sortBy=emails.value&count=3").await,
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
    assert_scim_error(
        app.get("/Users?sortOrder=sideways").await,
        400,
        Some("invalidValue"),
        "sortOrder",
    )
    .await;
}

#[tokio::test]
async fn search_by_post_matches_get() {
    let app = seeded().await;
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userType eq \"Employee\"",
        "attributes": ["userName"], "sortBy": "userName", "startIndex": 1, "count": 10});
    let response = app.post("/Users/.search", &search).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["totalResults"], 2);
    assert_eq!(
        body["Resources"][0],
        json!({"schemas": [USER_SCHEMA], "id": body["Resources"][0]["id"], "userName": "alice@example.com"})
    );
    let bad = app.post("/Users/.search", &json!({"filter": "userName pr"})).await;
    assert_scim_error(bad, 400, Some("invalidSyntax"), "SearchRequest").await;
}

#[tokio::test]
async fn unknown_query_parameters_such_as_entra_flags_are_ignored() {
    let app = seeded().await;
    assert_eq!(
        app.user_names("aadOptscim062020&filter=userName%20eq%20%22bob@example.com%22")
            .await,
        ["bob@example.com"]
    );
}

#[tokio::test]
async fn the_email_index_follows_every_change_of_the_document() {
    let app = spawn_app().await;
    let by_email = |e: &str| format!("filter=emails.value%20eq%20%22{e}%22");
    let body = json!({"schemas": [USER_SCHEMA], "userName": "mail@x",
        "emails": [{"value": "old@x", "type": "work"}, {"value": "OLD@x", "type": "home"}, {"value": "keep@x"}]});
    let id = app.create_user(&body).await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.user_names(&by_email("old@x")).await, ["mail@x"]);
    app.patch_user(
        &id,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x"}]),
    )
    .await;
    // The home address differs from the old work one only in case: it still matches.
    assert_eq!(app.user_names(&by_email("old@x")).await, ["mail@x"]);
    app.patch_user(&id, json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]))
        .await;
    assert_eq!(app.user_names(&by_email("old@x")).await, Vec::<String>::new());
    assert_eq!(app.user_names(&by_email("new@x")).await, ["mail@x"]);
    assert_eq!(app.user_names(&by_email("keep@x")).await, ["mail@x"]);
    app.put(
        &format!("/Users/{id}"),
        &json!({"schemas": [USER_SCHEMA], "userName": "mail@x"}),
    )
    .await;
    assert_eq!(app.user_names(&by_email("keep@x")).await, Vec::<String>::new());
    app.patch_user(
        &id,
        json!([{"op": "add", "path": "emails", "value": [{"value": "back@x"}]}]),
    )
    .await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
    assert_eq!(app.user_names(&by_email("back@x")).await, Vec::<String>::new());
    let other = json!({"schemas": [USER_SCHEMA], "userName": "other@x", "emails": [{"value": "back@x"}]});
    app.create_user(&other).await;
    assert_eq!(app.user_names(&by_email("back@x")).await, ["other@x"]);
}

#[tokio::test]
async fn a_configured_max_results_is_advertised_and_enforced() {
    let app = spawn_app_with(|s| s.server.max_results = 3).await;
    for n in 0..5 {
        app.create_user(&user(&format!("m{n}@x"))).await;
    }
    let config: Value = app.get("/ServiceProviderConfig").await.json().await.unwrap();
    assert_eq!(config["filter"]["maxResults"], 3);
    let body: Value = app.get("/Users?count=50").await.json().await.unwrap();
    assert_eq!(
        (body["totalResults"].clone(), body["itemsPerPage"].clone()),
        (json!(5), json!(3))
    );
}
