//! What the sync engine does around a change: tombstones after a SCIM DELETE, the sealed password
//! hand-over, per-target rate limits and `/metrics`.
use crate::helpers::*;
use crate::targets::{deleting, w365_target};
use scim_bridge::config::OnDelete;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRETS_KEY: &str = "8f3c1e5a9b7d2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a1c3e5b7d9f1a3c5e7b9d0f";

/// A Workspace365 answering `status` to every call; its dry run (`…/Validate/`) says, when it
/// answers at all, that the user does not exist yet.
async fn vendor_answering(status: u16) -> MockServer {
    let vendor = crate::fake_w365::provisioning_api().await;
    Mock::given(method("PUT"))
        .and(wiremock::matchers::path_regex("/Validate/$"))
        .respond_with(ResponseTemplate::new(if status == 200 { 404 } else { status }))
        .with_priority(1)
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_string("42"))
        .mount(&vendor)
        .await;
    for verb in ["PUT", "DELETE"] {
        Mock::given(method(verb))
            .respond_with(ResponseTemplate::new(status))
            .mount(&vendor)
            .await;
    }
    vendor
}

fn base(vendor: &MockServer) -> String {
    format!("{}/Provisioning", vendor.uri())
}

async fn calls(vendor: &MockServer) -> Vec<String> {
    let requests = vendor.received_requests().await.unwrap();
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

fn person(email: &str) -> Value {
    json!({"schemas": [USER_SCHEMA], "userName": email, "name": {"givenName": "Ann", "familyName": "Lee"},
           "emails": [{"primary": true, "value": email}]})
}

async fn create(app: &TestApp, body: &Value) -> String {
    app.create_user(body).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_deleted_user_is_gone_from_scim_at_once_and_its_tombstone_lasts_until_the_vendor_is_told() {
    let vendor = crate::fake_w365::provisioning_api().await;
    let app = spawn_app_with(|s| s.target = vec![deleting(w365_target("w365", None, &base(&vendor)))]).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("42"))
        .mount(&vendor)
        .await;
    let id = create(&app, &person("t@x.com")).await;
    app.drain_sync().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_string_contains("t2@x.com"))
        .respond_with(ResponseTemplate::new(200).set_body_string("43"))
        .with_priority(1)
        .mount(&vendor)
        .await;

    // The vendor is down when the delete comes.
    let outage = Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&vendor)
        .await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
    assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 404);
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 404);
    let same_name_other_email = json!({"schemas": [USER_SCHEMA], "userName": "t@x.com",
        "emails": [{"primary": true, "value": "t2@x.com"}]});
    assert_eq!(
        app.post("/Users", &same_name_other_email).await.status(),
        201,
        "the userName is free again"
    );
    app.drain_sync().await;
    assert!(
        app.store.tombstone(&id).await.unwrap().is_some(),
        "kept while the vendor has not been told"
    );
    drop(outage);

    Mock::given(method("DELETE"))
        .and(path("/Provisioning/example/User/t@x.com/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&vendor)
        .await;
    app.store.retry_now(None, None).await.unwrap();
    app.drain_sync().await;
    assert_eq!(
        app.store.tombstone(&id).await.unwrap(),
        None,
        "purged once every link is gone"
    );
    assert_eq!(
        app.store.link(&id, "w365").await.unwrap().unwrap().state,
        scim_bridge::store::LinkState::Gone
    );
}

#[tokio::test]
async fn with_on_delete_deactivate_a_deleted_user_is_kept_deactivated() {
    let vendor = vendor_answering(200).await;
    let app = spawn_app_with(|s| {
        let mut target = w365_target("w365", None, &base(&vendor));
        target.on_delete = Some(OnDelete::Deactivate);
        s.target = vec![target];
    })
    .await;
    let id = create(&app, &person("d@x.com")).await;
    app.drain_sync().await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
    app.drain_sync().await;
    assert_eq!(
        calls(&vendor).await,
        [
            "PUT /Provisioning/example/User/d@x.com/Validate/",
            "GET /Provisioning/Environment/",
            "POST /Provisioning/example/User/",
            "PUT /Provisioning/example/User/d@x.com/Deactivate/"
        ]
    );
    assert_eq!(app.store.tombstone(&id).await.unwrap(), None);
    let link = app.store.link(&id, "w365").await.unwrap().unwrap();
    assert_eq!(
        (link.state, link.pushed_active),
        (scim_bridge::store::LinkState::Linked, Some(false))
    );
}

#[tokio::test]
async fn without_targets_a_delete_leaves_no_tombstone() {
    let app = spawn_app().await;
    let id = create(&app, &person("n@x.com")).await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
    assert_eq!(app.store.tombstone(&id).await.unwrap(), None);
}

/// Every byte of the database and its WAL (on PostgreSQL: every row of every table, as text).
async fn database_bytes(app: &TestApp) -> Vec<u8> {
    if app.database_url.starts_with("postgres") {
        return postgres_dump(&app.database_url).await.into_bytes();
    }
    let mut bytes = std::fs::read(&app.db_path).unwrap();
    bytes.extend(std::fs::read(app.db_path.with_extension("db-wal")).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn app_with_secrets_key(vendor: &MockServer) -> TestApp {
    std::env::set_var("SCIM_BRIDGE_TEST_SECRETS_KEY", SECRETS_KEY);
    spawn_app_with(|s| {
        s.target = vec![w365_target("w365", None, &base(vendor))];
        s.sync.secrets_key_env = Some("SCIM_BRIDGE_TEST_SECRETS_KEY".into());
    })
    .await
}

/// The body of the first create the vendor received.
async fn created_body(vendor: &MockServer) -> Value {
    let requests = vendor.received_requests().await.unwrap();
    let create = requests.iter().find(|r| r.method.as_str() == "POST").unwrap();
    create.body_json().unwrap()
}

#[tokio::test]
async fn an_idp_password_is_held_only_sealed_reaches_the_vendor_and_is_then_erased() {
    let vendor = vendor_answering(200).await;
    let app = app_with_secrets_key(&vendor).await;
    let spc: Value = app.get("/ServiceProviderConfig").await.json().await.unwrap();
    assert_eq!(spc["changePassword"]["supported"], true);

    let mut body = person("p@x.com");
    body["password"] = json!("Tr0ub4dor&3-first");
    let created = app.create_user(&body).await;
    assert!(created.get("password").is_none(), "write-only");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(app.store.password_for(&id, "w365").await.unwrap().is_some());
    assert!(
        !contains(&database_bytes(&app).await, "Tr0ub4dor&3-first"),
        "never stored in clear"
    );
    app.drain_sync().await;
    let sent = created_body(&vendor).await;
    assert_eq!(sent["Password"], "Tr0ub4dor&3-first");
    assert_eq!(
        app.store.password_for(&id, "w365").await.unwrap(),
        None,
        "erased once delivered"
    );

    // A PATCH that only sets a new password is a change: it is delivered by an update.
    app.patch_user(
        &id,
        json!([{"op": "replace", "path": "password", "value": "c0rrect-h0rse-battery"}]),
    )
    .await;
    app.drain_sync().await;
    let requests = vendor.received_requests().await.unwrap();
    let update = requests.last().unwrap();
    assert_eq!(
        format!("{} {}", update.method, update.url.path()),
        "PUT /Provisioning/example/User/p@x.com/"
    );
    assert_eq!(
        update.body_json::<Value>().unwrap()["Password"],
        "c0rrect-h0rse-battery"
    );
    assert_eq!(app.store.password_for(&id, "w365").await.unwrap(), None);

    // The next ordinary update does not send the password again.
    app.patch_user(
        &id,
        json!([{"op": "replace", "path": "name.familyName", "value": "Li"}]),
    )
    .await;
    app.drain_sync().await;
    let last: Value = vendor
        .received_requests()
        .await
        .unwrap()
        .last()
        .unwrap()
        .body_json()
        .unwrap();
    assert_eq!(last.get("Password"), None);
}

#[tokio::test]
async fn a_password_waits_sealed_through_a_vendor_outage() {
    let vendor = crate::fake_w365::provisioning_api().await;
    let app = app_with_secrets_key(&vendor).await;
    let outage = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount_as_scoped(&vendor)
        .await;
    let mut body = person("o@x.com");
    body["password"] = json!("s3cret-through-outage");
    let id = create(&app, &body).await;
    app.drain_sync().await;
    drop(outage);
    assert!(
        app.store.password_for(&id, "w365").await.unwrap().is_some(),
        "kept for the retry"
    );
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("9"))
        .mount(&vendor)
        .await;
    app.store.retry_now(None, None).await.unwrap();
    app.drain_sync().await;
    let sent: Value = vendor
        .received_requests()
        .await
        .unwrap()
        .last()
        .unwrap()
        .body_json()
        .unwrap();
    assert_eq!(sent["Password"], "s3cret-through-outage");
    assert_eq!(app.store.password_for(&id, "w365").await.unwrap(), None);
}

#[tokio::test]
async fn without_a_secrets_key_a_password_is_not_kept_and_the_vendor_gets_a_random_one() {
    let vendor = vendor_answering(200).await;
    let app = spawn_app_with(|s| s.target = vec![w365_target("w365", None, &base(&vendor))]).await;
    let spc: Value = app.get("/ServiceProviderConfig").await.json().await.unwrap();
    assert_eq!(spc["changePassword"]["supported"], false);
    let mut body = person("r@x.com");
    body["password"] = json!("not-kept-anywhere-1");
    let id = create(&app, &body).await;
    assert_eq!(app.store.password_for(&id, "w365").await.unwrap(), None);
    app.drain_sync().await;
    let sent = created_body(&vendor).await;
    let password = sent["Password"].as_str().unwrap();
    assert_ne!(password, "not-kept-anywhere-1");
    assert_eq!(password.len(), 24);
}

#[tokio::test]
async fn a_malformed_secrets_key_stops_start_up_with_a_clear_message() {
    std::env::set_var("SCIM_BRIDGE_TEST_BAD_SECRETS_KEY", "too-short");
    let mut settings = scim_bridge::config::Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.admin_listen = "off".into();
    let dir = tempfile::tempdir().unwrap();
    settings.database.url = format!("sqlite://{}", dir.path().join("k.db").display());
    settings.sync.secrets_key_env = Some("SCIM_BRIDGE_TEST_BAD_SECRETS_KEY".into());
    let error = scim_bridge::app::Application::build(&settings).await.err().unwrap();
    assert!(format!("{error:#}").contains("64 hex digits"), "{error:#}");
}

#[tokio::test]
async fn a_targets_rate_limit_spaces_its_vendor_calls() {
    let vendor = vendor_answering(200).await;
    let app = spawn_app_with(|s| {
        let mut target = w365_target("w365", None, &base(&vendor));
        target.rate_limit = Some(10.0);
        s.target = vec![target];
    })
    .await;
    for n in 0..6 {
        create(&app, &person(&format!("rl{n}@x.com"))).await;
    }
    let started = Instant::now();
    app.drain_sync().await;
    // A look-up and a create each, and once the environment listing (the look-ups' 404s are
    // "no such user" only in an environment the API lists).
    assert_eq!(calls(&vendor).await.len(), 13, "{:?}", calls(&vendor).await);
    // Thirteen calls at ten per second: the first is free, the next twelve wait 100 ms each.
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn metrics_need_a_token_and_count_requests_queue_rows_and_vendor_calls() {
    let vendor = vendor_answering(200).await;
    let app = spawn_app_with(|s| s.target = vec![w365_target("metrics-w365", None, &base(&vendor))]).await;
    let anonymous = app.client.get(format!("{}/metrics", app.origin)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    create(&app, &person("m@x.com")).await;
    let scrape = |app: &TestApp| {
        let request = app
            .client
            .get(format!("{}/metrics", app.origin))
            .bearer_auth(&app.token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    let before = scrape(&app).await;
    assert!(
        before.contains(r#"scim_bridge_sync_queue_rows{target="metrics-w365",state="pending"} 1"#),
        "{before}"
    );
    assert!(before.contains(r#"scim_bridge_http_requests_total{method="POST",route="/scim/v2/Users",status="201"}"#));
    assert!(before.contains("scim_bridge_http_request_duration_seconds_bucket"));
    app.drain_sync().await;
    let after = scrape(&app).await;
    assert!(after.contains(r#"scim_bridge_sync_queue_rows{target="metrics-w365",state="pending"} 0"#));
    // The create, and the environment listing its look-up's 404 asked for.
    assert!(
        after.contains(r#"scim_bridge_vendor_requests_total{target="metrics-w365",outcome="200"} 2"#),
        "{after}"
    );
    assert!(
        after.contains(r#"scim_bridge_vendor_request_duration_seconds_count{target="metrics-w365",outcome="200"} 2"#)
    );
}

/// Prometheus holds a `metrics` token: it reads `/metrics` (with the convergence and dead-row
/// gauges an alert names) and nothing else.
#[tokio::test]
async fn a_metrics_token_reads_the_convergence_gauges_and_opens_nothing_else() {
    use scim_bridge::http::auth::{generate_token, token_hash};
    use scim_bridge::store::TokenScope;
    let vendor = vendor_answering(400).await;
    let app = spawn_app_with(|s| s.target = vec![w365_target("w365", None, &base(&vendor))]).await;
    let token = generate_token();
    app.store
        .insert_scoped_token("prometheus", &token_hash(&token), TokenScope::Metrics)
        .await
        .unwrap();
    let scrape = || async {
        let response = app
            .client
            .get(format!("{}/metrics", app.origin))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    assert!(scrape()
        .await
        .contains(r#"scim_bridge_sync_oldest_pending_seconds{target="w365"} 0"#));

    create(&app, &person("waits@x.com")).await;
    app.worker.clock().advance(Duration::from_secs(90));
    let waiting = scrape().await;
    assert!(
        waiting.contains(r#"scim_bridge_sync_oldest_pending_seconds{target="w365"} 90"#),
        "{waiting}"
    );
    assert!(
        waiting.contains(r#"scim_bridge_sync_dead_rows{target="w365"} 0"#),
        "{waiting}"
    );
    // A 400 is final: the row is dead, and no longer waiting.
    app.drain_sync().await;
    let dead = scrape().await;
    assert!(
        dead.contains(r#"scim_bridge_sync_dead_rows{target="w365"} 1"#),
        "{dead}"
    );
    assert!(
        dead.contains(r#"scim_bridge_sync_oldest_pending_seconds{target="w365"} 0"#),
        "{dead}"
    );

    let scim = app
        .client
        .get(format!("{}/Users", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status(), 403);
    let error: Value = scim.json().await.unwrap();
    assert_eq!(error["status"], "403");
    assert!(error["detail"].as_str().unwrap().contains("metrics token"), "{error}");
    let console = crate::console::sign_in(&app, &token).await;
    assert_eq!(console.status(), 403, "a metrics token does not open the console");
}

#[tokio::test]
async fn a_target_that_keeps_failing_rests_as_a_whole_instead_of_being_hammered() {
    let vendor = vendor_answering(500).await;
    let app = spawn_app_with(|s| s.target = vec![w365_target("w365", None, &base(&vendor))]).await;
    for n in 0..20 {
        create(&app, &person(&format!("h{n}@x.com"))).await;
    }
    app.drain_sync().await;
    let sent = calls(&vendor).await.len();
    // Ten failures in a row open the breaker; at most the calls already holding a permit (four) go out.
    assert!((10..=13).contains(&sent), "{sent} calls");
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 20, "nothing is lost");
    assert!(rows.iter().all(|r| r.state == "pending"));
    let untried = rows.iter().filter(|r| r.attempts == 0).count();
    assert_eq!(
        untried,
        20 - sent,
        "the rows deferred by the open breaker count no attempt"
    );
    app.drain_sync().await;
    assert_eq!(calls(&vendor).await.len(), sent, "nothing more while the target rests");
}

/// Workspace365 and eSign key users by e-mail: a user deleted and created again with the same
/// e-mail before the vendor heard of the delete must end up there, created and active, whichever
/// of the two rows runs first.
#[tokio::test]
async fn a_user_deleted_and_created_again_with_the_same_email_ends_up_active_at_the_vendor() {
    use crate::fake_vendors::{FakeVendor, Vendor};
    use crate::fake_w365::{FakeWorkspace365, VendorUser};
    let (w365_server, w365) = FakeWorkspace365::start(Duration::ZERO).await;
    let (esign_server, esign) = FakeVendor::start(Vendor::Esign).await;
    let secrets = tempfile::tempdir().unwrap();
    let esign_target = crate::targets::target_for(
        scim_bridge::config::TargetKind::Esign,
        &esign_server.uri(),
        secrets.path(),
    );
    let app =
        spawn_app_with(|s| s.target = vec![deleting(w365_target("w365", None, &base(&w365_server))), esign_target])
            .await;
    for round in 0..6 {
        let email = format!("again{round}@x.com");
        let first = json!({"schemas": [USER_SCHEMA], "userName": email, "name": {"givenName": "Old", "familyName": "One"},
            "emails": [{"primary": true, "value": email}]});
        let old = create(&app, &first).await;
        app.drain_sync().await;
        assert_eq!(app.delete(&format!("/Users/{old}")).await.status(), 204);
        let second = json!({"schemas": [USER_SCHEMA], "userName": email, "name": {"givenName": "New", "familyName": "Two"},
            "emails": [{"primary": true, "value": email}]});
        let new = create(&app, &second).await;
        // A row that met the other one's reconcile of the same e-mail waits a moment (not counted).
        for _ in 0..3 {
            app.drain_sync().await;
            app.worker.clock().advance(Duration::from_secs(1));
        }
        let held = w365.users().get(&email).cloned();
        let expected = VendorUser {
            first_name: "New".into(),
            last_name: "Two".into(),
            active: true,
        };
        assert_eq!(held, Some(expected), "round {round}: Workspace365");
        let at_esign: Vec<_> = esign
            .users()
            .into_iter()
            .filter(|u| u["Username"] == email.as_str())
            .collect();
        assert_eq!(at_esign.len(), 1, "round {round}: one eSign user {at_esign:?}");
        assert_eq!(
            (&at_esign[0]["FirstName"], &at_esign[0]["Active"]),
            (&json!("New"), &json!(true)),
            "round {round}"
        );
        assert!(
            app.store.sync_rows().await.unwrap().is_empty(),
            "round {round}: nothing left queued"
        );
        assert_eq!(app.store.tombstone(&old).await.unwrap(), None, "round {round}");
        assert_eq!(
            app.store.link(&new, "w365").await.unwrap().unwrap().state,
            scim_bridge::store::LinkState::Linked
        );
    }
}
