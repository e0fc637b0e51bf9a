//! Hostile input (issue "no request may crash, stall or fool the server"): one test per way the
//! server could be taken down or misled, each sent as a client holding a valid token would.
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn chain(n: usize, word: &str) -> String {
    (0..n)
        .map(|i| format!("userName eq \"h{i}@x\""))
        .collect::<Vec<_>>()
        .join(&format!(" {word} "))
}

async fn search(app: &TestApp, filter: &str) -> reqwest::Response {
    app.post("/Users/.search", &json!({"schemas": [SEARCH], "filter": filter}))
        .await
}

async fn server_is_up(app: &TestApp) {
    let health = app.client.get(format!("{}/healthz", app.origin)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Sends `request` as raw bytes and returns the whole answer (the server closes after it).
async fn raw_http(app: &TestApp, request: &[u8]) -> String {
    let address = app.origin.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn scim_error_of(answer: &str) -> (u16, Value) {
    let status: u16 = answer.split(' ').nth(1).unwrap().parse().unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/scim+json"),
        "{head}"
    );
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn a_six_thousand_clause_filter_is_invalid_filter_and_the_server_stays_up() {
    let app = spawn_app().await;
    let response = search(&app, &chain(6000, "or")).await;
    assert_scim_error(response, 400, Some("invalidFilter"), "server.max_filter_length").await;
    // Under the length limit but over the clause limit (short clauses).
    let many = (0..1500).map(|_| "title pr").collect::<Vec<_>>().join(" or ");
    assert_scim_error(
        search(&app, &many).await,
        400,
        Some("invalidFilter"),
        "1500 expressions",
    )
    .await;
    server_is_up(&app).await;
}

#[tokio::test]
async fn a_thousand_clause_or_and_and_chains_give_correct_answers() {
    let app = spawn_app().await;
    for i in [0, 500, 999] {
        app.create_user(&user(&format!("h{i}@x"))).await;
    }
    let or = search(&app, &chain(1000, "or")).await;
    assert_eq!(or.status(), 200);
    let body: Value = or.json().await.unwrap();
    assert_eq!(body["totalResults"], 3, "{body}");
    let and = format!("userName eq \"h500@x\"{}", " and userName pr".repeat(999));
    let body: Value = search(&app, &and).await.json().await.unwrap();
    assert_eq!(body["totalResults"], 1, "{body}");
    assert_eq!(body["Resources"][0]["userName"], "h500@x");
}

#[tokio::test]
async fn a_patch_over_the_operation_cap_is_too_many_and_one_at_the_cap_applies() {
    let app = spawn_app().await;
    let id = app.create_user(&user("ops@x")).await["id"].as_str().unwrap().to_owned();
    let ops = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"op": "add", "path": "emails", "value": [{"value": format!("e{i}@x"), "type": "work"}]}))
            .collect()
    };
    let body = json!({"schemas": [PATCH_OP], "Operations": ops(10_000)});
    let response = app.patch(&format!("/Users/{id}"), &body).await;
    assert_scim_error(response, 400, Some("tooMany"), "at most 1000").await;
    let patched = app.patch_user(&id, json!(ops(1000))).await;
    assert_eq!(patched["emails"].as_array().unwrap().len(), 1000);
    assert_eq!(patched["emails"][999]["value"], "e999@x");
    // Nothing was half-written by the refused one: the stored user has exactly the accepted change.
    let stored: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(stored["meta"]["version"], "W/\"2\"");
}

#[tokio::test]
async fn a_run_of_adds_keeps_add_semantics_duplicates_and_primary() {
    let app = spawn_app().await;
    let id = app.create_user(&user("runs@x")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = app
        .patch_user(
            &id,
            json!([
                {"op": "add", "path": "emails", "value": [{"value": "a@x", "primary": true}]},
                {"op": "add", "path": "emails", "value": [{"primary": true, "value": "a@x"}]},
                {"op": "add", "path": "emails", "value": [{"value": "b@x"}]},
                {"op": "add", "path": "emails", "value": [{"value": "c@x", "primary": true}]},
                {"op": "add", "path": "emails", "value": [{"value": "b@x"}]},
            ]),
        )
        .await;
    assert_eq!(
        patched["emails"],
        json!([{"value": "a@x", "primary": false}, {"value": "b@x"}, {"value": "c@x", "primary": true}])
    );
}

#[tokio::test]
async fn control_characters_in_identifiers_are_invalid_value_and_uniqueness_holds() {
    let app = spawn_app().await;
    for name in ["a\u{0}one", "a\r\nb", "tab\tbed"] {
        let response = app.post("/Users", &user(name)).await;
        assert_scim_error(response, 400, Some("invalidValue"), "control characters").await;
    }
    let with_bad_email = json!({"schemas": [USER_SCHEMA], "userName": "ok@x", "emails": [{"value": "x@y\n"}]});
    assert_scim_error(
        app.post("/Users", &with_bad_email).await,
        400,
        Some("invalidValue"),
        "emails.value",
    )
    .await;
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G\u{0}1"});
    assert_scim_error(
        app.post("/Groups", &group).await,
        400,
        Some("invalidValue"),
        "displayName",
    )
    .await;
    let id = app.create_user(&user("clean@x")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch =
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "x\u{0}y"}]});
    assert_scim_error(
        app.patch(&format!("/Users/{id}"), &patch).await,
        400,
        Some("invalidValue"),
        "control",
    )
    .await;
    // Entra's bare manager id, with a NUL PostgreSQL's JSON cannot hold (once a 500 there).
    let manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": manager, "value": "\u{0}"}]});
    assert_scim_error(
        app.patch(&format!("/Users/{id}"), &patch).await,
        400,
        Some("invalidValue"),
        "manager.value",
    )
    .await;
}

#[tokio::test]
async fn proxy_headers_are_ignored_unless_the_peer_is_a_trusted_proxy() {
    let untrusted = spawn_app().await;
    let trusted = spawn_app_with(|s| s.server.trusted_proxies = vec!["127.0.0.0/8".into()]).await;
    let public = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
        s.server.public_url = Some("https://bridge.example.com/scim/v2".into());
    })
    .await;
    let mut locations = Vec::new();
    for app in [&untrusted, &trusted, &public] {
        let response = app
            .request(Method::POST, "/Users")
            .header("Content-Type", "application/scim+json")
            .header("X-Forwarded-Host", "evil.example")
            .header("X-Forwarded-Proto", "https")
            .body(user("proxied@x").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let header = response.headers()["location"].to_str().unwrap().to_owned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["meta"]["location"], header);
        locations.push(header);
    }
    assert!(locations[0].starts_with(&untrusted.base), "{}", locations[0]);
    assert!(
        locations[1].starts_with("https://evil.example/scim/v2/Users/"),
        "{}",
        locations[1]
    );
    assert!(
        locations[2].starts_with("https://bridge.example.com/scim/v2/Users/"),
        "{}",
        locations[2]
    );
    let forwarded = untrusted
        .request(Method::GET, "/ServiceProviderConfig")
        .header("Forwarded", "host=evil.example;proto=https")
        .send()
        .await
        .unwrap();
    let body: Value = forwarded.json().await.unwrap();
    assert!(!body.to_string().contains("evil.example"), "{body}");
}

#[tokio::test]
async fn a_host_that_is_not_an_authority_is_400() {
    let app = spawn_app().await;
    let request = format!(
        "GET /scim/v2/Users HTTP/1.1\r\nHost: evil.example/\"><x\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\r\n",
        app.token
    );
    let answer = raw_http(&app, request.as_bytes()).await;
    let (status, body) = scim_error_of(&answer);
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("Host"), "{body}");
    assert!(!answer.contains("evil.example"), "{answer}");
}

#[tokio::test]
async fn schemas_must_name_the_core_schema_and_nothing_unknown() {
    let app = spawn_app().await;
    let unknown = json!({"schemas": ["urn:example:x"], "userName": "u1"});
    assert_scim_error(
        app.post("/Users", &unknown).await,
        400,
        Some("invalidValue"),
        "urn:example:x",
    )
    .await;
    let none = json!({"userName": "u1"});
    assert_scim_error(
        app.post("/Users", &none).await,
        400,
        Some("invalidSyntax"),
        "'schemas' is required",
    )
    .await;
    let id = app.create_user(&user("u1")).await["id"].as_str().unwrap().to_owned();
    let put = json!({"schemas": [USER_SCHEMA, "urn:example:x"], "userName": "u1"});
    assert_scim_error(
        app.put(&format!("/Users/{id}"), &put).await,
        400,
        Some("invalidValue"),
        "urn:example:x",
    )
    .await;
    // Entra's legacy group URI is tolerated beside the core one (docs/idp-behaviour.md Q24).
    let entra_group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"], "displayName": "Entra"});
    assert_eq!(app.post("/Groups", &entra_group).await.status(), 201);
}

#[tokio::test]
async fn type_errors_are_invalid_value_and_the_idp_lenient_forms_still_work() {
    let app = spawn_app().await;
    for (attribute, value) in [
        ("emails", json!("x")),
        ("name", json!(5)),
        ("displayName", json!(5)),
        ("phoneNumbers", json!({"value": "1"})),
        ("active", json!("yes")),
    ] {
        let mut body = user("types@x");
        body[attribute] = value.clone();
        let response = app.post("/Users", &body).await;
        assert_scim_error(response, 400, Some("invalidValue"), attribute).await;
    }
    let entra = json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "lenient@x", "active": "True",
        ENTERPRISE: {"manager": "boss-id"}});
    let created = app.create_user(&entra).await;
    assert_eq!(created["active"], true);
    assert_eq!(created[ENTERPRISE]["manager"], json!({"value": "boss-id"}));
}

#[tokio::test]
async fn a_hundred_thousand_character_path_is_a_scim_414() {
    let app = spawn_app().await;
    let request = format!(
        "GET /scim/v2/Users/{} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\r\n",
        "a".repeat(100_000),
        app.token
    );
    let answer = raw_http(&app, request.as_bytes()).await;
    let (status, body) = scim_error_of(&answer);
    assert_eq!((status, body["status"].as_str()), (414, Some("414")), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("100015 bytes"), "{body}");
    // Between the configured limit and what the HTTP parser holds: the same answer.
    let mid = app.get(&format!("/Users/{}", "b".repeat(20_000))).await;
    assert_scim_error(mid, 414, None, "server.max_uri_length").await;
    server_is_up(&app).await;
}

#[tokio::test]
async fn the_database_and_its_wal_and_shm_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    if postgres_server().is_some() {
        return; // a property of SQLite's files; PostgreSQL keeps its own
    }
    let app = spawn_app().await;
    app.create_user(&user("perm@x")).await;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", app.db_path.display());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path}");
    }
}

#[tokio::test]
async fn resource_type_segments_match_in_any_case_and_a_trailing_slash_is_accepted() {
    let app = spawn_app().await;
    let id = app.create_user(&user("case@x")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/users",
        "/Users/",
        "/USERS?filter=userName%20eq%20%22case@x%22",
        "/groups/",
    ] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    let one: Value = app.get(&format!("/users/{id}/")).await.json().await.unwrap();
    assert_eq!(one["userName"], "case@x");
    let search = app
        .post(
            "/users/.SEARCH",
            &json!({"schemas": [SEARCH], "filter": "userName eq \"case@x\""}),
        )
        .await;
    assert_eq!(search.status(), 200);
    assert_eq!(app.get("/serviceproviderconfig").await.status(), 200);
    // An id is matched as sent.
    assert_eq!(app.get(&format!("/Users/{}", id.to_uppercase())).await.status(), 404);
}

/// A U+0000 in an id or a Bulk path can name nothing (none is ever stored), and PostgreSQL refuses
/// it in any text it is handed: every method answers as for an unknown id, on both backends.
#[tokio::test]
async fn a_nul_in_an_id_is_not_found_on_every_method() {
    let app = spawn_app().await;
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    for endpoint in ["Users", "Groups"] {
        let path = format!("/{endpoint}/a%00b");
        let body = match endpoint {
            "Users" => user("nul@x"),
            _ => json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G"}),
        };
        for response in [
            app.get(&path).await,
            app.put(&path, &body).await,
            app.patch(&path, &patch).await,
            app.delete(&path).await,
        ] {
            assert_scim_error(response, 404, None, "").await;
        }
    }
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "DELETE", "path": "/Users/a\u{0}b"},
            {"method": "PATCH", "path": "/Groups/\u{0}", "data": patch},
        ]
    });
    let response = app.post("/Bulk", &bulk).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let statuses: Vec<_> = answer["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("404"), json!("404")], "{answer}");
    let with_nul_member = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "G", "members": [{"value": "u\u{0}"}]});
    assert_scim_error(
        app.post("/Groups", &with_nul_member).await,
        400,
        Some("invalidValue"),
        "members.value",
    )
    .await;
    server_is_up(&app).await;
}

/// Should a NUL ever get past the input checks, PostgreSQL refuses it in a document's JSON
/// (`\u0000`): the store names that as an invalid value, which the client hears as a 400.
#[tokio::test]
async fn a_nul_the_input_checks_missed_is_an_invalid_value_not_a_database_error() {
    let app = spawn_app().await;
    let document = json!({"schemas": [USER_SCHEMA], "userName": "a\u{0}b"});
    let result = app.store.insert_user(document.as_object().unwrap(), None).await;
    match postgres_server() {
        Some(_) => assert!(
            matches!(result, Err(scim_bridge::store::StoreError::Invalid(ref e)) if e.detail.contains("U+0000")),
            "{result:?}"
        ),
        None => assert_eq!(result.unwrap().document().unwrap()["userName"], json!("a\u{0}b")),
    }
}
