//! DocuSign update batching (run it with `bench/docusign.sh`): USERS linked users, each with an
//! attribute change due, drained against a mock DocuSign answering in LATENCY ms, with `batch_size` 1
//! (one seed `PUT …/users` per user) and 100. Prints vendor calls, wall time and users per call.
use scim_bridge::app::Application;
use scim_bridge::config::{Settings, TargetSettings};
use scim_bridge::store::LinkRow;
use serde_json::json;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCOUNT: &str = "bench-account";
const KEY: &str = include_str!("../src/sync/connectors/docusign/test_key.pem");

async fn run(users: usize, batch_size: usize, latency: Duration) {
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
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, KEY).unwrap();
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
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
        // Linked already, with a fingerprint that no longer matches: an update is due.
        let link = LinkRow {
            state: "linked".into(),
            remote_id: Some(format!("ds-{n}")),
            remote_key: Some(email),
            pushed_hash: Some("stale".into()),
            pushed_active: Some(true),
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
    let puts = vendor
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .count();
    println!(
        "batch_size {batch_size:>3}: {users} updates in {puts} PUT calls ({:.1} users per call), {elapsed:.2} s, {:.0} updates/s",
        users as f64 / puts.max(1) as f64,
        users as f64 / elapsed
    );
}

#[tokio::main]
async fn main() {
    let arg = |n: usize, default: u64| std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (users, latency) = (arg(1, 2000) as usize, Duration::from_millis(arg(2, 100)));
    println!("mock DocuSign answering in {} ms, concurrency 4", latency.as_millis());
    for batch_size in [1, 100] {
        run(users, batch_size, latency).await;
    }
}
