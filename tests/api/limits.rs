//! Bad requests: media types, malformed JSON, oversize bodies, unknown endpoints — all SCIM errors.
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn application_json_and_charset_parameters_are_accepted() {
    let app = spawn_app().await;
    for (n, content_type) in [
        "application/json",
        "application/scim+json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ]
    .iter()
    .enumerate()
    {
        let response = app
            .request(Method::POST, "/Users")
            .header("Content-Type", *content_type)
            .body(user(&format!("ct{n}@x")).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{content_type}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/scim+json"));
    }
}

#[tokio::test]
async fn other_media_types_malformed_and_empty_bodies_are_clear_errors() {
    let app = spawn_app().await;
    let send = |ct: &'static str, body: &'static str| {
        app.request(Method::POST, "/Users")
            .header("Content-Type", ct)
            .body(body)
            .send()
    };
    assert_scim_error(send("text/plain", "{}").await.unwrap(), 415, None, "Content-Type").await;
    assert_scim_error(
        send("application/json", "{\"userName\": ").await.unwrap(),
        400,
        Some("invalidSyntax"),
        "not valid JSON",
    )
    .await;
    assert_scim_error(
        send("application/json", "").await.unwrap(),
        400,
        Some("invalidSyntax"),
        "empty",
    )
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = 4096).await;
    let big = json!({"schemas": [USER_SCHEMA], "userName": "big@x", "displayName": "x".repeat(5000)});
    assert_scim_error(app.post("/Users", &big).await, 413, None, "larger than").await;
    // Just under the limit is fine.
    let fits = json!({"schemas": [USER_SCHEMA], "userName": "fits@x", "displayName": "x".repeat(3000)});
    assert_eq!(app.post("/Users", &fits).await.status(), 201);
}

#[tokio::test]
async fn unknown_endpoints_methods_and_unsupported_features_answer_scim_errors() {
    let app = spawn_app().await;
    assert_scim_error(app.get("/Widgets").await, 404, None, "no such endpoint").await;
    assert_scim_error(app.delete("/Users").await, 405, None, "not allowed").await;
    assert_scim_error(app.get("/Me").await, 501, None, "does not implement").await;
    assert_scim_error(
        app.post("/Bulk", &json!({})).await,
        400,
        Some("invalidSyntax"),
        "BulkRequest",
    )
    .await;
    let outside = app
        .client
        .get(format!("{}/elsewhere", app.origin))
        .send()
        .await
        .unwrap();
    assert_scim_error(outside, 404, None, "no such endpoint").await;
}

#[tokio::test]
async fn requests_get_a_request_id_and_keep_a_plain_one_given() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/Users?count=0")
        .header("X-Request-Id", "okta-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "okta-123");
    let response = app
        .request(Method::GET, "/Users?count=0")
        .header("X-Request-Id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], "bad id with spaces");
}
