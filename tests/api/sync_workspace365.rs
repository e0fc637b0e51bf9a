//! The sync engine against a mock Workspace365 (seed 001): each lifecycle step reaches the vendor as
//! exactly the documented call, failures are retried or parked, and repeated changes coalesce.
use crate::helpers::*;
use crate::targets::{w365_target, W365_KEY};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn app_with_vendor() -> (TestApp, MockServer) {
    let vendor = crate::fake_w365::provisioning_api().await;
    let base = format!("{}/Provisioning", vendor.uri());
    let app = spawn_app_with(|s| s.target = vec![crate::targets::deleting(w365_target("w365", None, &base))]).await;
    (app, vendor)
}

fn w365(m: wiremock::MockBuilder) -> wiremock::MockBuilder {
    m.and(header("ProvisioningKey", W365_KEY))
        .and(header("X-Requested-With", "XMLHttpRequest"))
}

fn okta_user(email: &str) -> Value {
    json!({"schemas": [USER_SCHEMA], "userName": email, "name": {"givenName": "User", "familyName": "One"},
           "emails": [{"primary": true, "value": email, "type": "work"}], "active": true})
}

/// Method and path of every request the vendor received, in order.
async fn calls(vendor: &MockServer) -> Vec<String> {
    vendor
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[tokio::test]
async fn the_okta_lifecycle_reaches_workspace365_as_the_seed_documents_it() {
    let (app, vendor) = app_with_vendor().await;
    // Before a create, the documented dry run looks for the user: not there.
    w365(Mock::given(method("PUT")).and(path("/Provisioning/example/User/userone@example.com/Validate/")))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&vendor)
        .await;
    // The create carries a random password (the IdP sent none), so its body is checked below.
    w365(Mock::given(method("POST")).and(path("/Provisioning/example/User/")))
        .respond_with(ResponseTemplate::new(200).set_body_string("42"))
        .expect(1)
        .mount(&vendor)
        .await;
    w365(Mock::given(method("PUT")))
        .respond_with(ResponseTemplate::new(200))
        .mount(&vendor)
        .await;
    w365(Mock::given(method("DELETE")))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&vendor)
        .await;

    let id = app.create_user(&okta_user("userone@example.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_sync().await;
    assert_eq!(
        calls(&vendor).await,
        [
            "PUT /Provisioning/example/User/userone@example.com/Validate/",
            "GET /Provisioning/Environment/",
            "POST /Provisioning/example/User/"
        ]
    );
    let sent: Value = vendor.received_requests().await.unwrap()[2].body_json().unwrap();
    assert_eq!(
        (
            sent["EmailAddress"].clone(),
            sent["FirstName"].clone(),
            sent["LastName"].clone()
        ),
        (json!("userone@example.com"), json!("User"), json!("One"))
    );
    // IsAdministrator only when mapped: a portal administrator is never demoted (issue 29 #2).
    assert_eq!(
        (sent.get("IsAdministrator"), sent["CreateInOffice365"].clone()),
        (None, json!(false))
    );
    assert_eq!(sent["Password"].as_str().map(str::len), Some(24));

    app.patch_user(&id, json!([{"op": "replace", "value": {"active": false}}]))
        .await;
    app.drain_sync().await;
    app.patch_user(&id, json!([{"op": "replace", "value": {"active": true}}]))
        .await;
    app.drain_sync().await;
    app.patch_user(
        &id,
        json!([{"op": "Replace", "path": "name.familyName", "value": "Once"}]),
    )
    .await;
    app.drain_sync().await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
    app.drain_sync().await;
    assert_eq!(
        calls(&vendor).await,
        [
            "PUT /Provisioning/example/User/userone@example.com/Validate/",
            "GET /Provisioning/Environment/",
            "POST /Provisioning/example/User/",
            "PUT /Provisioning/example/User/userone@example.com/Deactivate/",
            "PUT /Provisioning/example/User/userone@example.com/Activate/",
            "PUT /Provisioning/example/User/userone@example.com/",
            "DELETE /Provisioning/example/User/userone@example.com/",
        ]
    );
    let update: Value = vendor.received_requests().await.unwrap()[5].body_json().unwrap();
    assert_eq!(
        update,
        json!({"EmailAddress": "userone@example.com", "FirstName": "User", "LastName": "Once"})
    );
    assert!(app.store.sync_rows().await.unwrap().is_empty(), "every row was cleared");
    let link = app.store.link(&id, "w365").await.unwrap().unwrap();
    assert_eq!(link.state, scim_bridge::store::LinkState::Gone);
}

#[tokio::test]
async fn ten_changes_while_the_vendor_waits_cost_at_most_two_calls() {
    let (app, vendor) = app_with_vendor().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("7"))
        .mount(&vendor)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&vendor)
        .await;
    let id = app.create_user(&okta_user("c@x.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..9 {
        app.patch_user(
            &id,
            json!([{"op": "replace", "path": "name.familyName", "value": format!("N{n}")}]),
        )
        .await;
    }
    app.drain_sync().await;
    let received = calls(&vendor).await;
    assert!(received.len() <= 2, "{received:?}");
    let body: Value = vendor.received_requests().await.unwrap()[0].body_json().unwrap();
    assert_eq!(body["LastName"], "N8", "the vendor gets the latest state");
}

#[tokio::test]
async fn a_vendor_outage_is_retried_later_and_a_validation_error_is_parked_with_its_text() {
    let (app, vendor) = app_with_vendor().await;
    Mock::given(method("POST"))
        .and(body_json_path_email("down@x.com"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "120"))
        .up_to_n_times(1)
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .and(body_json_path_email("down@x.com"))
        .respond_with(ResponseTemplate::new(200).set_body_string("5"))
        .mount(&vendor)
        .await;
    let results = json!([{"MemberNames": ["EmailAddress"], "ErrorMessage": "The e-mail address is not valid"}]);
    Mock::given(method("POST"))
        .and(body_json_path_email("bad@x.com"))
        .respond_with(ResponseTemplate::new(400).set_body_json(results))
        .mount(&vendor)
        .await;
    let down = app.create_user(&okta_user("down@x.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = app.create_user(&okta_user("bad@x.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_sync().await;
    let row =
        |rows: &[scim_bridge::store::SyncRow], id: &str| rows.iter().find(|r| r.resource_id == id).cloned().unwrap();
    let retrying = row(&app.store.sync_rows().await.unwrap(), &down);
    assert_eq!((retrying.state.as_str(), retrying.attempts), ("pending", 1));
    assert!(
        retrying.due_at > scim_bridge::store::now_timestamp(),
        "due later, honouring Retry-After"
    );
    assert!(retrying.last_error.unwrap().contains("HTTP 503"));
    // The Retry-After paused the whole target; once it is over, the other row runs.
    app.worker.clock().advance(Duration::from_secs(121));
    app.drain_sync().await;
    let dead = row(&app.store.sync_rows().await.unwrap(), &bad);
    assert_eq!(dead.state, "dead");
    assert_eq!(
        dead.last_error.as_deref(),
        Some("EmailAddress: The e-mail address is not valid")
    );
    // A refused create is followed by one look-up (the e-mail might be a user the vendor already
    // holds, docs/vendors/workspace365.md); once dead, the row is not called again.
    let made = calls(&vendor).await;
    assert!(made.iter().any(|c| c.contains("bad@x.com/Validate")), "{made:?}");
    app.worker.clock().advance(Duration::from_secs(3600));
    app.drain_sync().await;
    assert_eq!(calls(&vendor).await.len(), made.len(), "nothing more is called");
}

/// Matches a Workspace365 create for one e-mail.
fn body_json_path_email(email: &'static str) -> impl wiremock::Match {
    move |request: &wiremock::Request| request.body_json::<Value>().is_ok_and(|b| b["EmailAddress"] == email)
}

#[tokio::test]
async fn a_user_out_of_scope_and_gone_from_the_vendor_is_not_created_again_to_be_deactivated() {
    use scim_bridge::config::OnDelete;
    let vendor = crate::fake_w365::provisioning_api().await;
    let base = format!("{}/Provisioning", vendor.uri());
    let app = spawn_app_with(|s| {
        let mut target = w365_target("w365", Some(r#"title eq "Eng""#), &base);
        target.on_delete = Some(OnDelete::Deactivate);
        s.target = vec![target];
    })
    .await;
    let body = json!({"schemas": [USER_SCHEMA], "userName": "g@x.com", "title": "Eng"});
    let id = app.create_user(&body).await["id"].as_str().unwrap().to_owned();
    let gone = scim_bridge::store::Link {
        state: scim_bridge::store::LinkState::Gone,
        remote_id: None,
        remote_key: None,
        pushed_hash: None,
        pushed_active: None,
        written_fields: None,
    };
    app.store.save_link(&id, "w365", &gone).await.unwrap();
    app.patch_user(&id, json!([{"op": "replace", "path": "title", "value": "Sales"}]))
        .await;
    app.drain_sync().await;
    assert!(calls(&vendor).await.is_empty(), "{:?}", calls(&vendor).await);
    assert!(app.store.sync_rows().await.unwrap().is_empty());
}

/// A vendor's words are kept as it sent them, but PostgreSQL holds no U+0000 in text: one in a
/// refusal (`\u0000` in its JSON) or in a raw error body is kept as U+FFFD, and the row is parked or
/// retried as any other (before, on PostgreSQL, recording the failure itself failed).
#[tokio::test]
async fn a_nul_in_the_vendors_words_is_recorded_as_a_replacement_character() {
    let (app, vendor) = app_with_vendor().await;
    let results = json!([{"MemberNames": ["EmailAddress"], "ErrorMessage": "not\u{0}valid"}]);
    Mock::given(method("POST"))
        .and(body_json_path_email("bad@x.com"))
        .respond_with(ResponseTemplate::new(400).set_body_json(results))
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .and(body_json_path_email("down@x.com"))
        .respond_with(ResponseTemplate::new(502).set_body_raw(b"bad\0gateway".to_vec(), "text/plain"))
        .mount(&vendor)
        .await;
    let bad = app.create_user(&okta_user("bad@x.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let down = app.create_user(&okta_user("down@x.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_sync().await;
    let rows = app.store.sync_rows().await.unwrap();
    let row = |id: &str| rows.iter().find(|r| r.resource_id == id).cloned().unwrap();
    assert_eq!(row(&bad).state, "dead");
    assert_eq!(row(&bad).last_error.as_deref(), Some("EmailAddress: not\u{fffd}valid"));
    assert_eq!((row(&down).state.as_str(), row(&down).attempts), ("pending", 1));
    assert_eq!(
        row(&down).last_error.as_deref(),
        Some("transient failure: HTTP 502: bad\u{fffd}gateway")
    );
    let creates = calls(&vendor).await.iter().filter(|c| c.starts_with("POST")).count();
    assert_eq!(creates, 2, "each create was called once: {:?}", calls(&vendor).await);
}
