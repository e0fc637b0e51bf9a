//! The sync benchmark of issue 4 (run it with `bench/sync.sh`):
//! 1. propagation latency: from the SCIM response of a PATCH to the mock vendor receiving the
//!    update, one change at a time on an idle queue (p50, p99);
//! 2. drain rate: 10,000 queued creates against a mock vendor answering in 20 ms, at concurrency 8
//!    (that concurrency allows at most 400 calls/s).
//!
//! The server, its worker and the vendor run in this process, over real HTTP on loopback.
use scim_bridge::app::Application;
use scim_bridge::config::{Settings, TargetSettings};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "bench-provisioning-key";

/// Records when each update (keyed by its LastName) arrived; answers after `delay`.
#[derive(Clone)]
struct Vendor {
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    delay: Duration,
}

impl Respond for Vendor {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Ok(body) = request.body_json::<Value>() {
            if let Some(last) = body["LastName"].as_str() {
                self.arrivals.lock().unwrap().insert(last.to_owned(), Instant::now());
            }
        }
        ResponseTemplate::new(200).set_body_string("1").set_delay(self.delay)
    }
}

async fn start(delay: Duration, concurrency: usize, dir: &std::path::Path) -> (Application, MockServer, Vendor) {
    let vendor_server = MockServer::start().await;
    let vendor = Vendor {
        arrivals: Arc::default(),
        delay,
    };
    Mock::given(wiremock::matchers::any())
        .respond_with(vendor.clone())
        .mount(&vendor_server)
        .await;
    let key_file = dir.join("key");
    std::fs::write(&key_file, KEY).unwrap();
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.admin_listen = "off".into();
    settings.database.url = format!("sqlite://{}", dir.join("bench.db").display());
    let target = format!(
        "name = \"w365\"\nkind = \"workspace365\"\nbase_url = \"{}/Provisioning\"\nenvironment = \"bench\"\nconcurrency = {concurrency}\nprovisioning_key_file = {:?}",
        vendor_server.uri(),
        key_file.display().to_string()
    );
    settings.target = vec![toml::from_str::<TargetSettings>(&target).unwrap()];
    let app = Application::build(&settings).await.unwrap();
    (app, vendor_server, vendor)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn propagation(changes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _server, vendor) = start(Duration::ZERO, 4, dir.path()).await;
    let store = app.store().clone();
    let token = scim_bridge::http::auth::generate_token();
    store
        .insert_token("bench", &scim_bridge::http::auth::token_hash(&token))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    let worker = app.take_worker().unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(worker.run_until_stopped(stopped));
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "p@example.com",
                      "name": {"givenName": "P", "familyName": "start"}, "emails": [{"value": "p@example.com", "primary": true}]});
    let created: Value = client
        .post(format!("{base}/Users"))
        .bearer_auth(&token)
        .header("Content-Type", "application/scim+json")
        .body(user.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let mut latencies = Vec::with_capacity(changes);
    for n in 0..changes {
        let last = format!("L{n}");
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                           "Operations": [{"op": "replace", "path": "name.familyName", "value": last}]});
        let response = client
            .patch(format!("{base}/Users/{id}"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(patch.to_string())
            .send()
            .await
            .unwrap();
        let answered = Instant::now();
        assert!(response.status().is_success());
        let arrived = loop {
            if let Some(at) = vendor.arrivals.lock().unwrap().get(&last).copied() {
                break at;
            }
            tokio::task::yield_now().await;
        };
        // The worker is woken at commit, so the call may even arrive before the response is read.
        let ms = arrived.saturating_duration_since(answered).as_secs_f64() * 1000.0;
        latencies.push(ms);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "propagation ({changes} PATCHes, idle queue): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
}

async fn drain(users: usize, concurrency: usize, latency: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, server, _vendor) = start(latency, concurrency, dir.path()).await;
    let store = app.store().clone();
    let worker = app.take_worker().unwrap();
    for n in 0..users {
        let email = format!("d{n}@example.com");
        let doc = serde_json::from_value(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email, "name": {"givenName": "D", "familyName": format!("N{n}")},
            "emails": [{"value": email, "primary": true}]}))
        .unwrap();
        store.insert_user(&doc, None).await.unwrap();
    }
    let queued = store.sync_rows().await.unwrap().len();
    let before = vendor_call_totals();
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run_until_stopped(stopped));
    loop {
        let pending: i64 = store.queue_counts().await.unwrap().iter().map(|(_, _, n)| n).sum();
        if pending == 0 {
            break;
        }
        // Counting the queue costs a scan: look only now and then (±50 ms over a 30 s drain).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = running.await;
    let calls = server.received_requests().await.unwrap().len();
    let (sum, count) = vendor_call_totals();
    println!(
        "  mean vendor call as the bridge saw it: {:.1} ms",
        (sum - before.0) / (count - before.1).max(1.0) * 1000.0
    );
    let ceiling = concurrency as f64 / latency.as_secs_f64().max(1e-9);
    let rate = calls as f64 / elapsed;
    println!(
        "drain ({queued} queued creates, vendor {} ms, concurrency {concurrency}): {calls} calls in {elapsed:.2} s = {rate:.0} calls/s ({:.0}% of the {ceiling:.0}/s ceiling)",
        latency.as_millis(),
        rate / ceiling * 100.0
    );
}

/// Seconds spent in vendor calls and how many there were, from the bridge's own metrics.
fn vendor_call_totals() -> (f64, f64) {
    let Some(handle) = scim_bridge::http::metrics::install() else {
        return (0.0, 0.0);
    };
    let text = handle.render();
    let value = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    (
        value("scim_bridge_vendor_request_duration_seconds_sum"),
        value("scim_bridge_vendor_request_duration_seconds_count"),
    )
}

#[tokio::main]
async fn main() {
    let arg = |n: usize, default: usize| std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default);
    propagation(arg(1, 1000)).await;
    drain(arg(2, 10_000), arg(4, 8), Duration::from_millis(arg(3, 20) as u64)).await;
}
