//! DocuSign batching (run it with `bench/docusign.sh`), against a mock DocuSign answering in LATENCY
//! ms, with `batch_size` 1 and 100:
//! - updates: USERS linked users, each with an attribute change due (the seed `PUT …/users`);
//! - creates: USERS new users (an initial load) into an account that already holds EXISTING users:
//!   the look-ups and the `POST …/users` creates.
//!
//! Prints vendor calls (every request but the token and userinfo), wall time and users per call.
use scim_bridge::app::Application;
use scim_bridge::config::{Settings, TargetSettings};
use scim_bridge::store::{Link, LinkState};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ACCOUNT: &str = "bench-account";
const KEY: &str = include_str!("../src/sync/connectors/docusign/test_key.pem");

#[derive(Clone, Copy, PartialEq)]
enum Case {
    Updates,
    Creates { existing: usize },
}

/// Answers `POST …/users` with a userId for every new user.
struct Creates(Duration);

impl Respond for Creates {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().unwrap_or_default();
        let items: Vec<Value> = body["newUsers"]
            .as_array()
            .map(|users| {
                users
                    .iter()
                    .map(|u| json!({"email": u["email"], "userId": format!("ds-{}", u["email"].as_str().unwrap_or_default()), "userStatus": "ActivationSent"}))
                    .collect()
            })
            .unwrap_or_default();
        ResponseTemplate::new(201)
            .set_body_json(json!({"newUsers": items}))
            .set_delay(self.0)
    }
}

/// Answers the paged listing with `existing` users, 100 per page.
struct Listing(usize, Duration);

impl Respond for Listing {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query = |key: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let start: usize = query("start_position").and_then(|s| s.parse().ok()).unwrap_or(0);
        let users: Vec<Value> = (start..self.0.min(start + 100))
            .map(|n| json!({"userId": format!("old-{n}"), "email": format!("old{n}@example.com"), "userStatus": "Active"}))
            .collect();
        let users = if query("email").is_some() { Vec::new() } else { users };
        ResponseTemplate::new(200)
            .set_body_json(json!({"users": users}))
            .set_delay(self.1)
    }
}

async fn run(case: Case, users: usize, batch_size: usize, latency: Duration) {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 3600})))
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .and(path("/oauth/userinfo"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"accounts": [{"account_id": ACCOUNT, "base_uri": vendor.uri()}]})),
        )
        .mount(&vendor)
        .await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"users": []}))
                .set_delay(latency),
        )
        .mount(&vendor)
        .await;
    let existing = match case {
        Case::Creates { existing } => existing,
        Case::Updates => 0,
    };
    Mock::given(method("POST"))
        .and(path(format!("/restapi/v2.1/accounts/{ACCOUNT}/users")))
        .respond_with(Creates(latency))
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/restapi/v2.1/accounts/{ACCOUNT}/users")))
        .respond_with(Listing(existing, latency))
        .mount(&vendor)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, KEY).unwrap();
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.admin_listen = "off".into();
    settings.database.url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let target = format!(
        "name = \"docusign\"\nkind = \"docusign\"\noauth_base_url = \"{}\"\nintegration_key = \"ik\"\nuser_id = \"u\"\naccount_id = \"{ACCOUNT}\"\nbatch_size = {batch_size}\nprivate_key_file = {:?}",
        vendor.uri(),
        key_file.display().to_string()
    );
    settings.target = vec![toml::from_str::<TargetSettings>(&target).unwrap()];
    let mut app = Application::build(&settings).await.unwrap();
    let store = app.store().clone();
    let worker = app.take_worker().unwrap();
    for n in 0..users {
        let email = format!("b{n}@example.com");
        let doc = serde_json::from_value(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email, "name": {"givenName": "B", "familyName": format!("N{n}")},
            "emails": [{"value": email, "primary": true}]}))
        .unwrap();
        let id = store.insert_user(&doc, None).await.unwrap().id;
        if case != Case::Updates {
            continue;
        }
        // Linked already, with a fingerprint that no longer matches: an update is due.
        let link = Link {
            state: LinkState::Linked,
            remote_id: Some(format!("ds-{n}")),
            remote_key: Some(email),
            pushed_hash: Some("stale".into()),
            pushed_active: Some(true),
            written_fields: None,
        };
        store.save_link(&id, "docusign", &link).await.unwrap();
    }
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run_until_stopped(stopped));
    while !store.sync_rows().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = running.await;
    let requests = vendor.received_requests().await.unwrap();
    let calls = requests.iter().filter(|r| r.url.path().ends_with("/users")).count();
    let what = match case {
        Case::Updates => "updates".to_owned(),
        Case::Creates { existing } => format!("creates into an account of {existing} users:"),
    };
    println!(
        "batch_size {batch_size:>3}: {users} {what} {calls} calls ({:.1} users per call), {elapsed:.2} s, {:.0} users/s",
        users as f64 / calls.max(1) as f64,
        users as f64 / elapsed
    );
}

#[tokio::main]
async fn main() {
    let arg = |n: usize, default: u64| std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (users, latency) = (arg(1, 2000) as usize, Duration::from_millis(arg(2, 100)));
    println!("mock DocuSign answering in {} ms, concurrency 4", latency.as_millis());
    let existing = arg(3, 1000) as usize;
    for case in [Case::Updates, Case::Creates { existing }] {
        for batch_size in [1, 100] {
            run(case, users, batch_size, latency).await;
        }
    }
}
