//! A target in bad weather: the circuit breaker (ten failures open it, one probe decides), waits
//! the bridge chooses itself (a vendor's reset) that count nothing, per-target timeouts, and what
//! an operator sees of it (`target_state`, `v_target_status`, `/metrics`). Time is the worker's
//! clock, moved forward instead of slept on.
use crate::helpers::*;
use crate::targets::w365_target;
use scim_bridge::config::TargetSettings;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn target(vendor: &MockServer, concurrency: usize) -> TargetSettings {
    TargetSettings {
        concurrency: Some(concurrency),
        ..w365_target("w365", None, &format!("{}/Provisioning", vendor.uri()))
    }
}

async fn create_users(app: &TestApp, n: usize) {
    for i in 0..n {
        app.create_user(&json!({"schemas": [USER_SCHEMA], "userName": format!("w{i}@x.com"),
            "emails": [{"primary": true, "value": format!("w{i}@x.com")}]}))
            .await;
    }
}

async fn vendor_calls(vendor: &MockServer) -> usize {
    vendor.received_requests().await.unwrap().len()
}

/// Creates sent (a row retried after a failed create first looks its user up with a PUT).
async fn creates(vendor: &MockServer) -> usize {
    let requests = vendor.received_requests().await.unwrap();
    requests.iter().filter(|r| r.method.as_str() == "POST").count()
}

async fn breaker(app: &TestApp) -> (String, i64) {
    let states = app.store.target_states().await.unwrap();
    let row = states.iter().find(|r| r.target == "w365").expect("a recorded state");
    (row.breaker.to_string(), row.trips)
}

async fn attempts(app: &TestApp) -> Vec<i64> {
    app.store
        .sync_rows()
        .await
        .unwrap()
        .iter()
        .map(|r| r.attempts)
        .collect()
}

#[tokio::test]
async fn ten_failures_open_the_breaker_then_one_probe_at_a_time_decides() {
    let vendor = crate::fake_w365::provisioning_api().await;
    // A new user's first call is its create.
    let outage = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount_as_scoped(&vendor)
        .await;
    let app = spawn_app_with(|s| s.target = vec![target(&vendor, 1)]).await;
    create_users(&app, 14).await;
    app.drain_sync().await;
    // One reconcile at a time (concurrency 1): the tenth failure opens it and the rest wait.
    assert_eq!(creates(&vendor).await, 10, "no call after the breaker opened");
    assert_eq!(breaker(&app).await, ("open".into(), 1));
    assert_eq!(
        attempts(&app).await.iter().sum::<i64>(),
        10,
        "the waiting rows count nothing"
    );

    // The wait is over: exactly one probe; it fails, and the breaker opens again for longer.
    app.worker.clock().advance(Duration::from_secs(2));
    app.drain_sync().await;
    assert_eq!(creates(&vendor).await, 11);
    assert_eq!(breaker(&app).await, ("open".into(), 2));
    app.worker.clock().advance(Duration::from_millis(1100));
    app.drain_sync().await;
    assert!(creates(&vendor).await <= 12, "the second wait is longer than the first");

    // The vendor is back: the next probe closes the breaker and every row goes through.
    drop(outage);
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("7"))
        .mount(&vendor)
        .await;
    for _ in 0..4 {
        app.worker.clock().advance(Duration::from_secs(600));
        app.drain_sync().await;
    }
    assert_eq!(breaker(&app).await, ("closed".into(), 0));
    assert!(
        app.store.sync_rows().await.unwrap().is_empty(),
        "every user reached the vendor"
    );
}

#[tokio::test]
async fn a_long_retry_after_pauses_the_target_and_waiting_rows_count_nothing() {
    let vendor = crate::fake_w365::provisioning_api().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "600"))
        .expect(1)
        .mount(&vendor)
        .await;
    let app = spawn_app_with(|s| s.target = vec![target(&vendor, 1)]).await;
    create_users(&app, 6).await;
    app.drain_sync().await;
    // One call met the limit; the other five rows waited without a call, an attempt or a failure.
    let mut counted = attempts(&app).await;
    counted.sort();
    assert_eq!(counted, vec![0, 0, 0, 0, 0, 1]);
    let states = app.store.target_states().await.unwrap();
    assert_eq!(states[0].breaker, "closed");
    assert_eq!(states[0].failures, 1);
    assert!(
        states[0].pause_reason.as_deref().unwrap().contains("Retry-After 600"),
        "{states:?}"
    );
    let status = app.store.target_status().await.unwrap();
    assert_eq!(status[0].state, "paused");
    assert!(status[0].paused_until.is_some());
    let metrics = app.get_metrics().await;
    assert!(
        metrics.contains(r#"scim_bridge_target_state{target="w365",state="paused"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"scim_bridge_target_state{target="w365",state="closed"} 0"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_known_reset_survives_a_restart() {
    let vendor = crate::fake_w365::provisioning_api().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&vendor)
        .await;
    let app = spawn_app_with(|s| s.target = vec![target(&vendor, 1)]).await;
    create_users(&app, 3).await;
    app.drain_sync().await;
    // Another process on the same database (a restarted `serve`) knows the reset: it calls nothing.
    let restarted = app.restart_worker().await;
    for _ in 0..3 {
        restarted.clock().advance(Duration::from_secs(60));
        while restarted.run_once().await.unwrap() != scim_bridge::sync::worker::Outcome::Idle {}
    }
    assert_eq!(vendor_calls(&vendor).await, 1);
    assert_eq!(app.store.sync_rows().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_vendor_that_accepts_and_never_answers_costs_one_timeout_per_call_and_frees_the_permit() {
    // A listener that takes connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let app = spawn_app_with(|s| {
        s.target = vec![TargetSettings {
            concurrency: Some(1),
            timeout_secs: Some(0.3),
            ..w365_target("w365", None, &format!("http://{address}/Provisioning"))
        }]
    })
    .await;
    create_users(&app, 3).await;
    app.drain_sync().await;
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 3, "nothing was lost");
    for row in &rows {
        assert!(row.attempts >= 1, "{row:?}");
        assert!(row.last_error.as_deref().unwrap().contains("timed out"), "{row:?}");
    }
    // Each attempt was one connection that timed out once: none was repeated inside the call.
    let attempts: i64 = rows.iter().map(|r| r.attempts).sum();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst) as i64, attempts);
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_inside_the_call() {
    let vendor = crate::fake_w365::provisioning_api().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("9"))
        .mount(&vendor)
        .await;
    let app = spawn_app_with(|s| s.target = vec![target(&vendor, 1)]).await;
    create_users(&app, 1).await;
    let started = std::time::Instant::now();
    app.drain_sync().await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the vendor's second was waited"
    );
    assert!(app.store.sync_rows().await.unwrap().is_empty(), "done in one reconcile");
    let states = app.store.target_states().await.unwrap();
    assert!(
        states.iter().all(|s| s.failures == 0 && s.paused_until.is_none()),
        "{states:?}"
    );
}

#[tokio::test]
async fn an_operators_link_set_during_a_vendor_call_is_not_overwritten_by_its_result() {
    let vendor = crate::fake_w365::provisioning_api().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("100")
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&vendor)
        .await;
    let app = spawn_app_with(|s| s.target = vec![target(&vendor, 1)]).await;
    create_users(&app, 1).await;
    let id = app.store.sync_rows().await.unwrap()[0].resource_id.clone();
    let worker = app.worker.clone();
    let round = tokio::spawn(async move { worker.run_once().await });
    while vendor_calls(&vendor).await == 0 {
        tokio::task::yield_now().await;
    }
    app.store.set_link(&id, "w365", "operator-777").await.unwrap();
    round.await.unwrap().unwrap();
    let link = app.store.link(&id, "w365").await.unwrap().unwrap();
    assert_eq!(
        link.remote_id.as_deref(),
        Some("operator-777"),
        "the operator's link stands"
    );
    assert_eq!(
        app.store.sync_rows().await.unwrap().len(),
        1,
        "and the row runs again on it"
    );
}

#[tokio::test]
async fn a_sync_retry_during_a_failing_call_is_not_undone_by_its_backoff() {
    let vendor = crate::fake_w365::provisioning_api().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_delay(Duration::from_millis(300)))
        .mount(&vendor)
        .await;
    let app = spawn_app_with(|s| s.target = vec![target(&vendor, 1)]).await;
    create_users(&app, 1).await;
    let worker = app.worker.clone();
    let round = tokio::spawn(async move { worker.run_once().await });
    while vendor_calls(&vendor).await == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(app.store.retry_now(None, None).await.unwrap(), 1);
    round.await.unwrap().unwrap();
    let row = &app.store.sync_rows().await.unwrap()[0];
    assert_eq!((row.attempts, row.state.as_str()), (0, "pending"), "{row:?}");
    assert!(
        row.due_at <= scim_bridge::store::now_timestamp(),
        "due now, as the retry said: {row:?}"
    );
}

impl TestApp {
    pub async fn get_metrics(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.origin))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }
}

/// A state word the bridge does not know (one a newer version writes during a rolling upgrade of
/// replicas) is an error to read, never taken for "closed" or "pending".
#[tokio::test]
async fn an_unknown_stored_state_is_refused_not_read_as_closed_or_pending() {
    let vendor = crate::fake_w365::provisioning_api().await;
    let app = spawn_app_with(|s| s.target = vec![target(&vendor, 1)]).await;
    create_users(&app, 1).await;
    let newer = if app.database_url.starts_with("postgres") {
        [
            "ALTER TABLE target_state DROP CONSTRAINT target_state_breaker_check",
            "ALTER TABLE sync_queue DROP CONSTRAINT sync_queue_state_check",
        ]
    } else {
        ["PRAGMA ignore_check_constraints = ON", "SELECT 1"]
    };
    let edits = [
        newer[0],
        newer[1],
        "UPDATE target_state SET breaker = 'ajar'",
        "UPDATE sync_queue SET state = 'stuck'",
    ];
    execute_sql(&app, &edits).await;
    let error = app.store.target_states().await.unwrap_err().to_string();
    assert!(error.contains("'ajar' is not a BreakerState"), "{error}");
    let error = app.store.sync_rows().await.unwrap_err().to_string();
    assert!(error.contains("'stuck' is not a QueueState"), "{error}");
}
