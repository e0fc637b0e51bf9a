//! docs/okta.md and docs/entra.md followed end to end, with the test playing the IdP: a token made
//! by `token create`, the test-connection probe, then the exact requests Okta and Entra send
//! (docs/idp-behaviour.md), in observe mode first (`sync plan` and `planned` events), then in write
//! mode; each promise of the guides is checked: the answers, the vendor's users, `lookup`.
use crate::connectors::{config_file, run};
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::targets::target_for;
use reqwest::Method;
use scim_bridge::config::{TargetKind, TargetMode};
use scim_bridge::sync::worker::{Outcome, Worker};
use serde_json::{json, Value};

/// A request with the IdP's own token and headers; `flag` appends Entra's `?aadOptscim062020`.
async fn idp(app: &TestApp, token: &str, method: Method, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", "application/scim+json")
        .header("User-Agent", "Okta SCIM Client 1.0.0");
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/scim+json; charset=utf-8")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn drain(worker: &Worker) {
    for _ in 0..50 {
        if worker.run_once().await.unwrap() == Outcome::Idle {
            return;
        }
    }
}

#[tokio::test]
async fn the_okta_guide_holds_from_token_to_deactivation() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let mut target = target_for(TargetKind::Cyberark, &server.uri(), dir.path());
    target.mode = TargetMode::Observe;
    let app = spawn_app_with(|s| s.target = vec![target.clone()]).await;
    // 1.2: the token Okta is given.
    let config = config_file(dir.path(), &app.database_url, &[target.clone()]);
    let (ok, token, err) = run(&config, &["token", "create", "okta"]);
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    // 2.2: Test Connector Configuration.
    let (status, list) = idp(&app, &token, Method::GET, "/Users?startIndex=1&count=2", None).await;
    assert_eq!((status, &list["totalResults"]), (200, &json!(0)));
    assert_eq!(
        idp(&app, "wrong", Method::GET, "/Users?startIndex=1&count=2", None)
            .await
            .0,
        401
    );
    // 3: assigning a user: existence check (form-encoded), then the create.
    let (status, found) = idp(
        &app,
        &token,
        Method::GET,
        "/Users?filter=userName+eq+%22jane.doe%40example.com%22&startIndex=1&count=100",
        None,
    )
    .await;
    assert_eq!((status, &found["Resources"]), (200, &json!([])));
    let create = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jane.doe@example.com",
        "name":{"givenName":"Jane","familyName":"Doe"},"emails":[{"primary":true,"value":"jane.doe@example.com","type":"work"}],
        "displayName":"Jane Doe","locale":"en-US","externalId":"00u1okta","groups":[],"active":true}"#;
    let (status, user) = idp(&app, &token, Method::POST, "/Users", Some(create)).await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    // Observe mode first (1.1): nothing written, the plan recorded.
    app.drain_sync().await;
    assert!(fake.users().is_empty());
    let (ok, out, _) = run(&config, &["lookup", "jane.doe@example.com"]);
    assert!(ok && out.contains("planned") && out.contains("create"), "{out}");
    let (code_ok, out, _) = run(&config, &["sync", "plan", "--target", "cyberark"]);
    assert!(
        !code_ok && out.contains("jane.doe@example.com") && out.contains("create"),
        "{out}"
    );
    // 4: switching to write carries the plan out.
    let mut settings = app.settings.clone();
    settings.target[0].mode = TargetMode::Write;
    let worker =
        scim_bridge::app::build_worker(scim_bridge::app::open_store(&settings).await.unwrap(), &settings).unwrap();
    drain(&worker).await;
    assert_eq!(fake.users().len(), 1, "{:?}", fake.calls());
    // Profile update (PUT) and deactivation (PATCH without a path).
    let put = create.replace("\"familyName\":\"Doe\"", "\"familyName\":\"Doe-Smith\"");
    assert_eq!(
        idp(&app, &token, Method::PUT, &format!("/Users/{id}"), Some(&put))
            .await
            .0,
        200
    );
    let deactivate = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}"#;
    assert_eq!(
        idp(&app, &token, Method::PATCH, &format!("/Users/{id}"), Some(deactivate))
            .await
            .0,
        200
    );
    drain(&worker).await;
    let users = fake.users();
    assert_eq!(users[0]["personalDetails"]["lastName"], "Doe-Smith");
    assert_eq!(users[0]["enableUser"], false, "deactivated, not deleted");
    let (ok, out, _) = run(&config, &["lookup", "jane.doe@example.com"]);
    assert!(ok && out.contains("cyberark"), "{out}");
}

#[tokio::test]
async fn the_entra_guide_holds_with_the_flag_in_the_tenant_url() {
    let (server, fake) = FakeVendor::start(Vendor::Eloqua).await;
    let dir = tempfile::tempdir().unwrap();
    let target = target_for(TargetKind::Eloqua, &server.uri(), dir.path());
    let app = spawn_app_with(|s| s.target = vec![target.clone()]).await;
    let config = config_file(dir.path(), &app.database_url, &[target]);
    let (_, token, _) = run(&config, &["token", "create", "entra"]);
    let token = token.trim().to_owned();
    let flag = "?aadOptscim062020";
    assert_eq!(
        idp(
            &app,
            &token,
            Method::GET,
            "/Users?startIndex=1&count=2&aadOptscim062020",
            None
        )
        .await
        .0,
        200
    );
    let create = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId":"0a1b-entra","userName":"kim@example.com","active":true,"displayName":"Kim Lee",
        "emails":[{"primary":true,"type":"work","value":"kim@example.com"}],
        "name":{"formatted":"Kim Lee","familyName":"Lee","givenName":"Kim"},"roles":[],"meta":{"resourceType":"User"}}"#;
    let (status, user) = idp(&app, &token, Method::POST, &format!("/Users{flag}"), Some(create)).await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    // A cycle's PATCH, with a filtered path and the no-path form of the flag.
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
        {"op":"replace","path":"emails[type eq \"work\"].value","value":"kim.lee@example.com"},
        {"op":"replace","value":{"displayName":"Kim A. Lee","name.givenName":"Kimberly","title":"Analyst"}}]}"#;
    assert_eq!(
        idp(&app, &token, Method::PATCH, &format!("/Users/{id}{flag}"), Some(patch))
            .await
            .0,
        200
    );
    app.drain_sync().await;
    let users = fake.users();
    assert_eq!(
        (&users[0]["emailAddress"], &users[0]["firstName"], &users[0]["jobTitle"]),
        (&json!("kim.lee@example.com"), &json!("Kimberly"), &json!("Analyst"))
    );
    // A legacy tenant's disable ("False"), then the hard delete.
    let disable = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}"#;
    assert_eq!(
        idp(&app, &token, Method::PATCH, &format!("/Users/{id}"), Some(disable))
            .await
            .0,
        200
    );
    app.drain_sync().await;
    assert_eq!(fake.users()[0]["isDisabled"], "True");
    assert_eq!(
        idp(&app, &token, Method::DELETE, &format!("/Users/{id}{flag}"), None)
            .await
            .0,
        204
    );
    app.drain_sync().await;
    let users = fake.users();
    assert!(
        users.len() == 1 && users[0]["isDisabled"] == "True",
        "the default on_delete = deactivate keeps the Eloqua user, disabled: {users:?}"
    );
    assert_eq!(
        idp(&app, &token, Method::GET, &format!("/Users/{id}"), None).await.0,
        404
    );
}
