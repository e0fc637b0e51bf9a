//! The vendor-weather benchmark (run it with `bench/weather.sh`): USERS users created Okta-style
//! and fanned out to all five vendors at once, while a share of vendor calls fails as real vendors
//! fail (tests/api/weather.rs: 503, 429 with `Retry-After: 1`, DocuSign's hourly limit with a reset
//! a second ahead, hangs past the 1 s timeout, connection resets). For fault rates 0, 10, 30 and
//! 50 % it prints the time from the first create until every row is done, next to the ideal: the
//! no-fault time plus the waits the vendors asked for (each target's requested seconds over its
//! concurrency). It also counts samples in which a target had due rows, was neither open nor
//! paused, and sent nothing for 50 ms ("idle while due").
//!
//! The server, its worker and the stateful fakes run in this process, over real HTTP on loopback.
#[allow(dead_code)]
#[path = "../tests/api/fake_vendors.rs"]
mod fake_vendors;
#[allow(dead_code)]
#[path = "../tests/api/fake_w365.rs"]
mod fake_w365;
#[allow(dead_code)]
#[path = "../tests/api/targets.rs"]
mod targets;
#[allow(dead_code)]
#[path = "../tests/api/weather.rs"]
mod weather;

use fake_vendors::{FakeVendor, Vendor};
use fake_w365::FakeWorkspace365;
use scim_bridge::app::Application;
use scim_bridge::config::{Settings, TargetKind, TargetSettings};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weather::{reset_proxy, Fault, Faults};

const CONCURRENCY: usize = 4;
const HANG: Duration = Duration::from_millis(1500);

/// A target of `kind` at `uri` with the bench's timeouts and concurrency.
fn target(kind: TargetKind, uri: &str, dir: &Path) -> TargetSettings {
    let mut extra = format!("concurrency = {CONCURRENCY}\ntimeout_secs = 1.0\nconnect_timeout_secs = 1.0\n");
    if kind == TargetKind::Eloqua {
        extra.push_str(&format!("base_url = \"{uri}\"\n"));
    }
    targets::target_with(kind, uri, dir, &extra)
}

/// One fake per kind, and how to read its call count and the faults it dealt.
struct Fakes {
    w365: FakeWorkspace365,
    others: Vec<(TargetKind, FakeVendor)>,
    faults: Vec<(String, Arc<Faults>)>,
    _servers: Vec<wiremock::MockServer>,
}

impl Fakes {
    /// Seconds of waiting the vendors asked for, for the slowest target: a `Retry-After: 1` holds
    /// one of its calls (so its seconds spread over the concurrency); DocuSign's spent hourly limit
    /// stops the whole target until the reset.
    fn asked_wait(&self) -> f64 {
        self.faults
            .iter()
            .map(|(target, f)| {
                let dealt = f.dealt.lock().unwrap();
                let count = |kind: Fault| dealt.iter().filter(|k| **k == kind).count() as f64;
                let per_call = CONCURRENCY as f64;
                match target.as_str() {
                    "docusign" => count(Fault::TooMany) / per_call + count(Fault::LimitSpent),
                    _ => (count(Fault::TooMany) + count(Fault::LimitSpent)) / per_call,
                }
            })
            .fold(0.0, f64::max)
    }

    fn dealt(&self) -> usize {
        self.faults.iter().map(|(_, f)| f.dealt.lock().unwrap().len()).sum()
    }
}

async fn fakes_and_targets(rate: f64, dir: &Path) -> (Fakes, Vec<TargetSettings>) {
    // 85% of the faults come from the fakes, 15% as connection resets from the proxies.
    let (fake_rate, reset_rate) = (rate * 0.85, rate * 0.15);
    let mut faults = Vec::new();
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    let (w365_server, w365) = FakeWorkspace365::start(Duration::ZERO).await;
    let proxied = |server: &wiremock::MockServer, seed: u64| {
        let address = *server.address();
        async move { format!("http://{}", reset_proxy(address, reset_rate, seed).await) }
    };
    if rate > 0.0 {
        let f = Faults::new(fake_rate, 1, HANG);
        w365.set_weather(f.clone());
        faults.push(("workspace365".to_owned(), f));
    }
    targets.push(target(TargetKind::Workspace365, &proxied(&w365_server, 21).await, dir));
    servers.push(w365_server);
    let mut others = Vec::new();
    for (n, (vendor, kind)) in [
        (Vendor::Esign, TargetKind::Esign),
        (Vendor::Cyberark, TargetKind::Cyberark),
        (Vendor::Docusign, TargetKind::Docusign),
        (Vendor::Eloqua, TargetKind::Eloqua),
    ]
    .into_iter()
    .enumerate()
    {
        let (server, fake) = FakeVendor::start(vendor).await;
        if rate > 0.0 {
            let f = Faults::new(fake_rate, 2 + n as u64, HANG);
            fake.set_weather(f.clone());
            faults.push((format!("{kind:?}").to_lowercase(), f));
        }
        targets.push(target(kind, &proxied(&server, 22 + n as u64).await, dir));
        servers.push(server);
        others.push((kind, fake));
    }
    (
        Fakes {
            w365,
            others,
            faults,
            _servers: servers,
        },
        targets,
    )
}

struct Run {
    seconds: f64,
    idle_samples: usize,
    samples: usize,
    dealt: usize,
    asked_wait: f64,
    held: Vec<(String, usize)>,
}

async fn converge(users: usize, rate: f64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, targets) = fakes_and_targets(rate, dir.path()).await;
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.admin_listen = "off".into();
    settings.database.url = format!("sqlite://{}", dir.path().join("weather.db").display());
    settings.target = targets;
    let mut app = Application::build(&settings).await.unwrap();
    let worker = app.take_worker().unwrap();
    let store = app.store().clone();
    let token = scim_bridge::http::auth::generate_token();
    store
        .insert_token("bench", &scim_bridge::http::auth::token_hash(&token))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    tokio::spawn(app.run_until_stopped());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(worker.run_until_stopped(stopped));

    let started = Instant::now();
    let client = reqwest::Client::new();
    let creates = (0..users).map(|n| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let email = format!("weather{n}@example.com");
            let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
                "name": {"givenName": format!("W{n}"), "familyName": "Bench"}, "active": true,
                "emails": [{"primary": true, "value": email, "type": "work"}]});
            let response = client
                .post(format!("{base}/Users"))
                .bearer_auth(&token)
                .header("Content-Type", "application/scim+json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
    });
    futures_util::future::join_all(creates).await;

    let db = sqlx::SqlitePool::connect(&settings.database.url).await.unwrap();
    let (mut idle_samples, mut samples) = (0, 0);
    let names: Vec<String> = settings.target.iter().map(|t| t.name.clone()).collect();
    let mut finished: Vec<(String, Option<f64>)> = names.iter().map(|n| (n.clone(), None)).collect();
    loop {
        let rows = store.sync_rows().await.unwrap();
        for (name, done) in &mut finished {
            if done.is_none() && !rows.iter().any(|r| &r.target == name) {
                *done = Some(started.elapsed().as_secs_f64());
            }
        }
        if rows.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not converged after 10 minutes"
        );
        let status = store.target_status().await.unwrap();
        if std::env::var_os("WEATHER_TRACE").is_some() && samples % 40 == 0 {
            let mut left: Vec<(String, String, i64, String)> = rows
                .iter()
                .map(|r| {
                    (
                        r.target.clone(),
                        r.state.to_string(),
                        r.attempts,
                        r.last_error.clone().unwrap_or_default().chars().take(80).collect(),
                    )
                })
                .collect();
            left.truncate(3);
            let states: Vec<String> = status
                .iter()
                .map(|s| format!("{}={}/{}", s.target, s.state, s.pending))
                .collect();
            eprintln!(
                "{:.1}s {} rows {states:?}, e.g. {left:?}",
                started.elapsed().as_secs_f64(),
                rows.len()
            );
        }
        // Idle while due: rows due and unclaimed, none in flight, and the target neither open nor paused.
        let now = scim_bridge::store::now_timestamp();
        let activity: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT target, sum(due_at <= ?1 AND lease_until IS NULL), sum(lease_until IS NOT NULL)
             FROM sync_queue WHERE state = 'pending' GROUP BY target",
        )
        .bind(&now)
        .fetch_all(&db)
        .await
        .unwrap();
        for (target, due, in_flight) in activity {
            let callable = status
                .iter()
                .find(|s| s.target == target)
                .is_none_or(|s| s.state == "closed");
            if callable && due > 0 {
                samples += 1;
                if in_flight == 0 {
                    idle_samples += 1;
                    if std::env::var_os("WEATHER_TRACE").is_some() {
                        eprintln!(
                            "{:.2}s idle while due: {target} ({due} due)",
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = worker.await;
    let held_count = |name: &str| match name {
        "workspace365" => fakes.w365.users().len(),
        _ => fakes
            .others
            .iter()
            .find(|(k, _)| format!("{k:?}").to_lowercase() == name)
            .map_or(0, |(_, f)| f.users().len()),
    };
    let held = finished
        .iter()
        .map(|(name, done)| (format!("{name} {:.1}s", done.unwrap_or(seconds)), held_count(name)))
        .collect();
    Run {
        seconds,
        idle_samples,
        samples,
        dealt: fakes.dealt(),
        asked_wait: fakes.asked_wait(),
        held,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let users: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    println!("{users} users x 5 targets, concurrency {CONCURRENCY} per target, timeout 1 s");
    println!(
        "{:>6} {:>10} {:>10} {:>8} {:>8} {:>16}  per target: done after, users held",
        "faults", "converge", "ideal", "ratio", "dealt", "idle while due"
    );
    let mut no_fault = None;
    let rates: Vec<f64> = std::env::var("WEATHER_RATES")
        .ok()
        .map(|r| r.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![0.0, 0.1, 0.3, 0.5]);
    for rate in rates {
        let run = converge(users, rate).await;
        let base = *no_fault.get_or_insert(run.seconds);
        let ideal = base + run.asked_wait;
        let held: Vec<String> = run.held.iter().map(|(t, n)| format!("{t} {n}")).collect();
        println!(
            "{:>5.0}% {:>9.2}s {:>9.2}s {:>7.2}x {:>8} {:>7}/{:<8}  {}",
            rate * 100.0,
            run.seconds,
            ideal,
            run.seconds / ideal,
            run.dealt,
            run.idle_samples,
            run.samples,
            held.join(", ")
        );
    }
}
