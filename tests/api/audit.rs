//! The audit trail (docs/audit.md) as an administrator uses it: users created, renamed,
//! deactivated and deleted through Okta- and Entra-shaped requests, then `scim-bridge audit` by the
//! first e-mail, `lookup` and the console tell every request and every step at every target, with
//! the request that caused each step and the vendor's id, also after the user is gone; the bodies
//! the log keeps have their passwords redacted.
use crate::connectors::{config_file, run};
use crate::console::{admin_token, session_cookie, sign_in};
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::targets::target_for;
use reqwest::header::COOKIE;
use reqwest::Method;
use scim_bridge::config::{OnDelete, TargetKind, TargetSettings};
use serde_json::{json, Value};

const OKTA_PASSWORD: &str = "Okta-Secret-1!";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

struct Idp<'a> {
    app: &'a TestApp,
    token: String,
    agent: &'static str,
}

impl Idp<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("User-Agent", self.agent);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
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
}

/// CyberArk deleting leavers, Eloqua keeping them disabled (its default), a token per IdP.
async fn two_targets(
    dir: &std::path::Path,
) -> (Vec<wiremock::MockServer>, FakeVendor, FakeVendor, Vec<TargetSettings>) {
    let (cyberark_server, cyberark) = FakeVendor::start(Vendor::Cyberark).await;
    let (eloqua_server, eloqua) = FakeVendor::start(Vendor::Eloqua).await;
    let mut deleting = target_for(TargetKind::Cyberark, &cyberark_server.uri(), dir);
    deleting.on_delete = Some(OnDelete::Delete);
    let keeping = target_for(TargetKind::Eloqua, &eloqua_server.uri(), dir);
    (
        vec![cyberark_server, eloqua_server],
        cyberark,
        eloqua,
        vec![deleting, keeping],
    )
}

/// Waits until the request log holds `count` requests of the user `key` names (it is written off
/// the request path, in batches).
async fn logged(app: &TestApp, key: &str, count: usize) {
    for _ in 0..100 {
        let trail = app
            .store
            .audit_trail(key, None, time::OffsetDateTime::UNIX_EPOCH, 1000)
            .await
            .unwrap();
        if trail.requests.len() >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the request log never held {count} requests of {key}");
}

fn audit_json(config: &std::path::Path, key: &str) -> Value {
    let (ok, out, err) = run(config, &["audit", "--user", key, "--format", "json"]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// The request id of the logged request with `method`.
fn request_id(trail: &Value, method: &str) -> String {
    let requests = trail["requests"].as_array().unwrap();
    let found = requests.iter().find(|r| r["method"] == method);
    found.unwrap_or_else(|| panic!("no {method} in {requests:?}"))["request_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `target`'s events as (action, outcome, request id).
fn steps(trail: &Value, target: &str) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == target)
        .map(|e| (text(&e["action"]), text(&e["outcome"]), text(&e["request_id"])))
        .collect()
}

#[tokio::test]
async fn an_okta_users_whole_life_is_found_by_its_first_email_after_it_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (_servers, cyberark, _eloqua, targets) = two_targets(dir.path()).await;
    let app = spawn_app_with(|s| {
        s.target = targets.clone();
        s.audit.bodies = scim_bridge::audit::Bodies::All;
    })
    .await;
    let config = config_file(dir.path(), &app.database_url, &targets);
    let (_, token, _) = run(&config, &["token", "create", "okta"]);
    let okta = Idp {
        app: &app,
        token: token.trim().to_owned(),
        agent: "Okta SCIM Client 1.0.0",
    };
    let create = format!(
        r#"{{"schemas":["{USER_SCHEMA}"],"userName":"jane.doe@example.com","name":{{"givenName":"Jane","familyName":"Doe"}},
        "emails":[{{"primary":true,"value":"jane.doe@example.com","type":"work"}}],"displayName":"Jane Doe",
        "password":"{OKTA_PASSWORD}","active":true}}"#
    );
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let (status, user) = okta
        .send(Method::POST, "/Users", Some(&create), &[("traceparent", &traceparent)])
        .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    let vendor_id = cyberark.users()[0]["id"].to_string().trim_matches('"').to_owned();
    // The rename Okta sends as a PUT of the whole user.
    let rename = create
        .replace("jane.doe@example.com", "jane.smith@example.com")
        .replace("\"Doe\"", "\"Smith\"")
        .replace(&format!(r#""password":"{OKTA_PASSWORD}","#), "");
    let (status, _) = okta
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(&rename),
            &[("X-Request-Id", "okta-put-1")],
        )
        .await;
    assert_eq!(status, 200);
    app.drain_sync().await;
    let deactivate =
        format!(r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace","value":{{"active":false}}}}]}}"#);
    assert_eq!(
        okta.send(Method::PATCH, &format!("/Users/{id}"), Some(&deactivate), &[])
            .await
            .0,
        200
    );
    app.drain_sync().await;
    assert_eq!(
        okta.send(Method::DELETE, &format!("/Users/{id}"), None, &[]).await.0,
        204
    );
    app.drain_sync().await;
    assert!(cyberark.users().is_empty(), "CyberArk deleted the leaver");
    logged(&app, "jane.doe@example.com", 4).await;

    // The first e-mail still finds the user, its requests and every step at both targets.
    let trail = audit_json(&config, "jane.doe@example.com");
    assert_eq!(trail["users"].as_array().unwrap().len(), 1, "{trail}");
    assert_eq!(
        (&trail["users"][0]["id"], &trail["users"][0]["deleted"]),
        (&json!(id), &json!(true))
    );
    let requests: Vec<(String, i64, String)> = trail["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let method = r["method"].as_str().unwrap().to_owned();
            (
                method,
                r["status"].as_i64().unwrap(),
                r["token"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected_requests = [("POST", 201), ("PUT", 200), ("PATCH", 200), ("DELETE", 204)]
        .map(|(m, s)| (m.to_owned(), s, "okta".to_owned()))
        .to_vec();
    assert_eq!(requests, expected_requests);
    let (post, put, patch, delete) = (
        request_id(&trail, "POST"),
        request_id(&trail, "PUT"),
        request_id(&trail, "PATCH"),
        request_id(&trail, "DELETE"),
    );
    assert_eq!(
        post, TRACE_ID,
        "the trace id of the IdP's traceparent is the request id"
    );
    assert_eq!(put, "okta-put-1", "the IdP's X-Request-Id is kept");
    assert_eq!(trail["requests"][0]["traceparent"], json!(traceparent));
    let step = |action: &str, outcome: &str, request: &str| (action.to_owned(), outcome.to_owned(), request.to_owned());
    assert_eq!(
        steps(&trail, "cyberark"),
        [
            step("create", "done", &post),
            step("update", "done", &put),
            step("deactivate", "done", &patch),
            step("delete", "done", &delete)
        ],
        "{trail}"
    );
    assert_eq!(
        steps(&trail, "eloqua"),
        [
            step("create", "done", &post),
            step("update", "done", &put),
            step("deactivate", "done", &patch),
            step("unchanged", "done", &delete)
        ],
        "Eloqua keeps the leaver disabled: {trail}"
    );
    let cyberark_events: Vec<&Value> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "cyberark")
        .collect();
    for event in &cyberark_events {
        assert_eq!(
            event["remote_id"],
            json!(vendor_id),
            "the vendor's id on every step: {event}"
        );
    }
    let update = cyberark_events[1]["changes"].as_str().unwrap();
    assert!(update.contains(r#""Doe" -> "Smith""#), "old -> new: {update}");
    assert!(
        cyberark_events[0]["changes"]
            .as_str()
            .unwrap()
            .contains("jane.doe@example.com"),
        "a create names what it sent: {}",
        cyberark_events[0]
    );
    assert_eq!(
        cyberark_events[3]["user_name"], "jane.smith@example.com",
        "the name it had when deleted"
    );

    // Bodies were kept (audit.bodies = "all"), the password redacted; no secret anywhere in the log.
    let created = &trail["requests"][0];
    let sent = created["request_body"].as_str().unwrap();
    assert!(sent.contains(r#""password":"[redacted]""#), "{sent}");
    assert!(created["response_body"].as_str().unwrap().contains(&id));
    let everything = trail.to_string();
    assert!(!everything.contains(OKTA_PASSWORD), "no password in the trail");
    assert!(!everything.contains(&okta.token), "no token in the trail");

    // The text form, `--since` and `--target`.
    let (ok, text, err) = run(&config, &["audit", "--user", "jane.doe@example.com", "--since", "1h"]);
    assert!(ok, "{err}");
    assert!(
        text.contains(&format!("user jane.smith@example.com ({id}) deleted")),
        "{text}"
    );
    assert!(
        text.contains("request  DELETE /scim/v2/Users/") && text.contains("-> 204  token okta"),
        "{text}"
    );
    assert!(text.contains("cyberark       delete     done"), "{text}");
    let (ok, only, _) = run(
        &config,
        &[
            "audit",
            "--user",
            "jane.doe@example.com",
            "--target",
            "eloqua",
            "--format",
            "json",
        ],
    );
    let only: Value = serde_json::from_str(&only).unwrap();
    assert!(
        ok && only["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["target"] == "eloqua")
    );
    let (ok, _, err) = run(&config, &["audit", "--user", "nobody@example.com"]);
    assert!(!ok && err.contains("no user, live or deleted"), "{err}");

    // `lookup` finds the deleted user by its first e-mail and points at the history.
    let (ok, out, err) = run(&config, &["lookup", "jane.doe@example.com"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("no live user") && out.contains("cyberark       delete"),
        "{out}"
    );

    // The console: the user page's history and the events filtered by e-mail.
    let admin = admin_token(&app).await;
    let cookie = session_cookie(&sign_in(&app, &admin).await);
    let page = |path: String| {
        let client = app.client.clone();
        let cookie = cookie.clone();
        async move {
            let response = client.get(path).header(COOKIE, cookie).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    let html = page(format!("{}/admin/users?q=jane.doe%40example.com", app.console)).await;
    for shown in [
        "it was deleted",
        "History",
        &post,
        &delete,
        "cyberark delete",
        "SCIM DELETE",
        &vendor_id,
    ] {
        assert!(html.contains(shown), "{shown}: {html}");
    }
    assert!(!html.contains(OKTA_PASSWORD));
    let html = page(format!("{}/admin/events?user=jane.doe%40example.com", app.console)).await;
    assert!(html.contains("deactivate") && html.contains(&patch), "{html}");
}

#[tokio::test]
async fn an_entra_users_rename_disable_and_delete_are_told_with_the_requests_that_caused_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_servers, _cyberark, eloqua, targets) = two_targets(dir.path()).await;
    let app = spawn_app_with(|s| s.target = targets.clone()).await;
    let config = config_file(dir.path(), &app.database_url, &targets);
    let (_, token, _) = run(&config, &["token", "create", "entra"]);
    let entra = Idp {
        app: &app,
        token: token.trim().to_owned(),
        agent: "Microsoft.Identity.Provisioning",
    };
    let create = format!(
        r#"{{"schemas":["{USER_SCHEMA}","{ENTERPRISE}"],"externalId":"0a1b-entra","userName":"kim@example.com","active":true,
        "displayName":"Kim Lee","emails":[{{"primary":true,"type":"work","value":"kim@example.com"}}],
        "name":{{"formatted":"Kim Lee","familyName":"Lee","givenName":"Kim"}}}}"#
    );
    let (status, user) = entra
        .send(Method::POST, "/Users?aadOptscim062020", Some(&create), &[])
        .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    let rename = format!(
        r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"Replace","path":"userName","value":"kim.lee@example.com"}},
        {{"op":"Replace","path":"emails[type eq \"work\"].value","value":"kim.lee@example.com"}}]}}"#
    );
    assert_eq!(
        entra
            .send(Method::PATCH, &format!("/Users/{id}"), Some(&rename), &[])
            .await
            .0,
        200
    );
    app.drain_sync().await;
    let disable =
        format!(r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"Replace","path":"active","value":"False"}}]}}"#);
    assert_eq!(
        entra
            .send(Method::PATCH, &format!("/Users/{id}"), Some(&disable), &[])
            .await
            .0,
        200
    );
    app.drain_sync().await;
    // Entra asks once more for a user it already deleted: the 404 is logged too.
    assert_eq!(
        entra.send(Method::DELETE, &format!("/Users/{id}"), None, &[]).await.0,
        204
    );
    assert_eq!(
        entra.send(Method::DELETE, &format!("/Users/{id}"), None, &[]).await.0,
        404
    );
    app.drain_sync().await;
    assert_eq!(eloqua.users()[0]["isDisabled"], "True");
    logged(&app, "kim@example.com", 5).await;

    let trail = audit_json(&config, "kim@example.com");
    let statuses: Vec<(&str, i64)> = trail["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["method"].as_str().unwrap(), r["status"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("POST", 201),
            ("PATCH", 200),
            ("PATCH", 200),
            ("DELETE", 204),
            ("DELETE", 404)
        ]
    );
    let refused = &trail["requests"][4];
    assert_eq!(
        (&refused["token"], &refused["resource_id"]),
        (&json!("entra"), &json!(id))
    );
    assert_eq!(refused["detail"], "no resource with this id", "{refused}");
    assert_eq!(refused["request_body"], Value::Null, "bodies are off by default");
    let patches: Vec<&str> = trail["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "PATCH")
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    let eloqua_steps = steps(&trail, "eloqua");
    let actions: Vec<&str> = eloqua_steps.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["create", "update", "deactivate", "unchanged"], "{trail}");
    assert_eq!(eloqua_steps[1].2, patches[0], "the rename's request");
    assert_eq!(eloqua_steps[2].2, patches[1], "the disable's request");
    let update = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target"] == "eloqua" && e["action"] == "update")
        .unwrap();
    assert!(
        update["changes"]
            .as_str()
            .unwrap()
            .contains(r#""kim@example.com" -> "kim.lee@example.com""#),
        "{update}"
    );
    // The new name finds the same history.
    let renamed = audit_json(&config, "kim.lee@example.com");
    assert_eq!(renamed["users"][0]["id"], json!(id));
}

/// Entra retries a change the bridge refuses every cycle: the console shows it once, with its
/// count; the Requests page filters by user, failure and request id, and a request leads to the
/// vendor steps it caused and back. Users are listed and found by how their names start.
#[tokio::test]
async fn a_refused_request_sent_again_and_again_is_one_problem_and_requests_lead_to_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let (_servers, cyberark, _eloqua, targets) = two_targets(dir.path()).await;
    let app = spawn_app_with(|s| s.target = targets).await;
    let entra = Idp {
        app: &app,
        token: app.token.clone(),
        agent: "Azure Active Directory SCIM Client",
    };
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann.smith@contoso.com",
        "name": {"givenName": "Ann", "familyName": "Smith"}, "emails": [{"primary": true, "value": "ann.smith@contoso.com"}]});
    let (status, created) = entra
        .send(
            Method::POST,
            "/Users",
            Some(&user.to_string()),
            &[("X-Request-Id", "entra-create-1")],
        )
        .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    assert_eq!(cyberark.users().len(), 1);
    let refused = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "emails[type eq \"work\"", "value": "x@contoso.com"}]});
    for _ in 0..3 {
        let (status, error) = entra
            .send(Method::PATCH, &format!("/Users/{id}"), Some(&refused.to_string()), &[])
            .await;
        assert_eq!(
            (status, error["scimType"].as_str()),
            (400, Some("invalidPath")),
            "{error}"
        );
    }
    logged(&app, &id, 4).await;

    let admin = admin_token(&app).await;
    let cookie = session_cookie(&sign_in(&app, &admin).await);
    let page = |path: &str| {
        let request = app
            .client
            .get(format!("{}/admin{path}", app.console))
            .header(COOKIE, cookie.clone());
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    let targets = page("").await;
    assert!(
        targets.contains("1 IdP request(s) keep failing the same way (3 times in the last 24 hours)"),
        "{targets}"
    );
    assert!(targets.contains(r#"title="closed">healthy</dd>"#), "{targets}");
    assert!(
        targets.contains("<time datetime=") && targets.contains(" UTC\">just now</time>"),
        "human times, exact UTC on hover: {targets}"
    );

    let requests = page("/requests").await;
    let patch = format!("PATCH /scim/v2/Users/{id}");
    assert_eq!(requests.matches("3 ×").count(), 1, "one problem: {requests}");
    assert!(
        requests.contains(&patch) && requests.contains("400 invalidPath"),
        "{requests}"
    );

    let failures = page("/requests?failed=1").await;
    assert_eq!(
        failures
            .matches(r#"data-label="status" class="bad">400 invalidPath"#)
            .count(),
        3,
        "{failures}"
    );
    assert!(!failures.contains("POST /scim/v2/Users"), "{failures}");

    let by_user = page("/requests?user=ann.smith%40contoso.com").await;
    assert!(
        by_user.contains("POST /scim/v2/Users") && by_user.contains(&patch),
        "{by_user}"
    );
    let by_token = page("/requests?token=nobody").await;
    assert!(by_token.contains("No request."), "{by_token}");

    let one = page("/requests?request=entra-create-1").await;
    assert!(one.contains("POST /scim/v2/Users") && !one.contains(&patch), "{one}");
    assert!(one.contains(r#"href="/admin/events?request=entra-create-1""#), "{one}");
    let caused = page("/events?request=entra-create-1").await;
    assert!(caused.contains("cyberark") && caused.contains("create"), "{caused}");
    assert!(
        caused.contains(r#"href="/admin/requests?request=entra-create-1""#),
        "{caused}"
    );
    assert!(!caused.contains("No event."), "{caused}");

    let listed = page("/users").await;
    assert!(
        listed.contains("ann.smith@contoso.com") && listed.contains("Ann Smith"),
        "{listed}"
    );
    for prefix in ["ANN.S", "Smi", "ann.smith%40con"] {
        let found = page(&format!("/users?q={prefix}")).await;
        assert!(
            found.contains("these start with it") && found.contains("Ann Smith"),
            "{prefix}: {found}"
        );
    }
    let none = page("/users?q=zed").await;
    assert!(none.contains("none starts with it"), "{none}");
}

/// `audit.retain_days`: what is older than the policy goes, batch by batch, events and logged
/// requests alike; what is inside it stays.
#[tokio::test]
async fn retention_prunes_events_and_requests_past_the_policy_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (_servers, _cyberark, _eloqua, targets) = two_targets(dir.path()).await;
    let app = spawn_app_with(|s| s.target = targets).await;
    let old = app.create_user(&user("old.timer@example.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_sync().await;
    logged(&app, &old, 1).await;
    let trail = |key: String| {
        let store = app.store.clone();
        async move {
            let t = store
                .audit_trail(&key, None, time::OffsetDateTime::UNIX_EPOCH, 10_000)
                .await
                .unwrap();
            (t.requests.len(), t.events.len())
        }
    };
    let (old_requests, old_events) = trail(old.clone()).await;
    assert!(old_requests >= 1 && old_events >= 2, "{old_requests} {old_events}");

    // 200 days later, a newcomer.
    app.worker.clock().advance(std::time::Duration::from_secs(200 * 86_400));
    let new = app.create_user(&user("new.comer@example.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_sync().await;
    logged(&app, &new, 1).await;
    let kept = trail(new.clone()).await;

    let pruner = scim_bridge::audit::retention::Pruner::new(app.store.clone(), 180).unwrap();
    let (_stop, mut stopped) = tokio::sync::watch::channel(false);
    let pruned = pruner.prune_once(&mut stopped).await.unwrap();
    assert_eq!(pruned as usize, old_requests + old_events);
    assert_eq!(trail(old).await, (0, 0), "past the policy: gone");
    assert_eq!(trail(new).await, kept, "inside the policy: kept");
    assert!(
        scim_bridge::audit::retention::Pruner::new(app.store.clone(), 0).is_none(),
        "0 keeps everything"
    );
}
