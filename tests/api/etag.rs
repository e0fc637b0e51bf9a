//! ETags and preconditions (RFC 7644 §3.14): never required, honoured when sent.
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn etag_moves_with_every_change_and_matches_meta_version() {
    let app = spawn_app().await;
    let id = app.create_user(&user("tag@x")).await["id"].as_str().unwrap().to_owned();
    app.patch_user(&id, json!([{"op": "add", "path": "title", "value": "T"}]))
        .await;
    let response = app.get(&format!("/Users/{id}")).await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(etag, "W/\"2\"");
    assert_eq!(body["meta"]["version"], etag);
}

#[tokio::test]
async fn if_none_match_on_get_gives_304_until_the_resource_changes() {
    let app = spawn_app().await;
    let id = app.create_user(&user("cache@x")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Users/{id}");
    let cached = app
        .request(Method::GET, &path)
        .header("If-None-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    app.patch_user(&id, json!([{"op": "add", "path": "title", "value": "T"}]))
        .await;
    let fresh = app
        .request(Method::GET, &path)
        .header("If-None-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
}

#[tokio::test]
async fn if_match_mismatch_is_412_for_put_patch_and_delete() {
    let app = spawn_app().await;
    let id = app.create_user(&user("lock@x")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Users/{id}");
    let stale = "W/\"7\"";
    let put = app
        .request(Method::PUT, &path)
        .header("If-Match", stale)
        .json(&user("lock@x"))
        .send()
        .await
        .unwrap();
    assert_scim_error(put, 412, None, "If-Match").await;
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title", "value": "T"}]});
    let response = app
        .request(Method::PATCH, &path)
        .header("If-Match", stale)
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_scim_error(response, 412, None, "If-Match").await;
    let delete = app
        .request(Method::DELETE, &path)
        .header("If-Match", stale)
        .send()
        .await
        .unwrap();
    assert_scim_error(delete, 412, None, "If-Match").await;
    // The right version (or *) goes through.
    let ok = app
        .request(Method::PATCH, &path)
        .header("If-Match", "W/\"1\"")
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let gone = app
        .request(Method::DELETE, &path)
        .header("If-Match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
}

#[tokio::test]
async fn concurrent_patches_without_if_match_all_apply() {
    let app = spawn_app().await;
    let id = app.create_user(&user("race@x")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Users/{id}");
    let bodies: Vec<_> = (0..10)
        .map(|n| json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "emails", "value": [{"value": format!("{n}@x")}]}]}))
        .collect();
    let tasks = bodies.iter().map(|body| app.patch(&path, body));
    for response in futures_util::future::join_all(tasks).await {
        assert_eq!(response.status(), 200);
    }
    let body: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(body["emails"].as_array().unwrap().len(), 10);
    assert_eq!(body["meta"]["version"], "W/\"11\"");
}
