//! Several replicas on one PostgreSQL database (README "Running several replicas"). These run when
//! the suite runs on PostgreSQL (`SCIM_BRIDGE_TEST_POSTGRES`, as `.ci/run` does); on SQLite, one
//! process owns the file and there is nothing to share.
use crate::helpers::*;
use scim_bridge::app::Application;
use scim_bridge::store::Store;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A second `serve` on the first one's database, without a sync worker (tests drive the first
/// one's): its SCIM base URL and its store.
async fn replica_of(app: &TestApp) -> (String, Store) {
    let mut replica = Application::build(&app.settings).await.unwrap();
    drop(replica.take_worker());
    let store = replica.store().clone();
    let base = format!("http://127.0.0.1:{}{}", replica.port(), app.settings.server.base_path);
    tokio::spawn(replica.run_until_stopped());
    (base, store)
}

/// The first app, on PostgreSQL; `None` (the test has nothing to check) on SQLite.
async fn first_replica() -> Option<TestApp> {
    postgres_server()?;
    Some(spawn_app().await)
}

#[tokio::test]
async fn two_replicas_racing_the_same_create_give_one_201_and_one_409() {
    let Some(a) = first_replica().await else { return };
    let (b, _) = replica_of(&a).await;
    for n in 0..20 {
        let body = user(&format!("race-{n}@example.com"));
        let post = |base: String| {
            let request = a.client.post(format!("{base}/Users")).bearer_auth(&a.token).json(&body);
            async move { request.send().await.unwrap().status().as_u16() }
        };
        let (one, other) = tokio::join!(post(a.base.clone()), post(b.clone()));
        let mut statuses = [one, other];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "race {n}");
    }
    let listed: serde_json::Value = a.get("/Users?count=0").await.json().await.unwrap();
    assert_eq!(listed["totalResults"], 20);
}

#[tokio::test]
async fn a_token_revoked_on_one_replica_stops_working_on_the_other_within_5_seconds() {
    let Some(a) = first_replica().await else { return };
    let (b, _) = replica_of(&a).await;
    let status = || async {
        a.client
            .get(format!("{b}/Users?count=0"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        status().await,
        200,
        "the other replica knows the token (and now caches it)"
    );
    a.store.revoke_token("test").await.unwrap();
    let revoked = Instant::now();
    while status().await == 200 {
        assert!(
            revoked.elapsed() < Duration::from_millis(5500),
            "the other replica still takes the token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status().await, 401);
}

#[tokio::test]
async fn two_replicas_claiming_at_once_never_take_the_same_row() {
    let Some(a) = first_replica().await else { return };
    let (_, b) = replica_of(&a).await;
    let pool = sqlx::PgPool::connect(&a.database_url).await.unwrap();
    sqlx::query(
        "INSERT INTO sync_queue (resource_id, target, due_at, enqueued_at)
         SELECT 'user-' || n, 't', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'
         FROM generate_series(1, 300) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let claim_all = |store: Store| async move {
        let mut mine = Vec::new();
        loop {
            let claims = store
                .claim_due(now, now + time::Duration::minutes(1), 7, &["t"])
                .await
                .unwrap();
            if claims.is_empty() {
                return mine;
            }
            mine.extend(claims.into_iter().map(|c| c.resource_id));
        }
    };
    let (by_a, by_b) = tokio::join!(claim_all(a.store.clone()), claim_all(b));
    let (set_a, set_b): (BTreeSet<_>, BTreeSet<_>) = (by_a.iter().collect(), by_b.iter().collect());
    assert!(set_a.is_disjoint(&set_b), "a row was claimed by both replicas");
    assert_eq!(by_a.len() + by_b.len(), 300, "every row was claimed once");
    assert!(
        !by_a.is_empty() && !by_b.is_empty(),
        "both replicas worked: {} and {}",
        by_a.len(),
        by_b.len()
    );
}

#[tokio::test]
async fn a_replica_that_cannot_reach_the_database_fails_its_health_check() {
    let Some(a) = first_replica().await else { return };
    let health = || async {
        reqwest::get(format!("{}/healthz", a.origin))
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(health().await, 200);
    let name = a.database_url.rsplit('/').next().unwrap().to_owned();
    let server = postgres_server().unwrap();
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    assert_eq!(health().await, 503, "a load balancer must drop this replica");
}

/// A failover or a server restart cuts every connection the pool holds. The pool does not ping a
/// connection on each use (one round trip per statement), so it must find the dead ones another
/// way: a connection idle for a second is checked before it is handed out, and the requests after
/// the cut succeed instead of failing once per dead connection. (A request in the first second
/// meets a dead one and is told to retry.)
#[tokio::test]
async fn requests_after_the_database_cut_every_connection_succeed() {
    let Some(a) = first_replica().await else { return };
    // Open several connections: concurrent requests each take one.
    let app = &a;
    let burst = || {
        futures_util::future::join_all((0..8).map(|i| async move {
            let body = user(&format!("cut-{i}-{}@example.com", uuid::Uuid::new_v4()));
            app.post("/Users", &body).await
        }))
    };
    assert!(burst().await.iter().all(|r| r.status() == 201));
    let name = a.database_url.rsplit('/').next().unwrap().to_owned();
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", postgres_server().unwrap()))
        .await
        .unwrap();
    let cut: Vec<(bool,)> = sqlx::query_as("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .fetch_all(&admin)
        .await
        .unwrap();
    assert!(cut.len() >= 2, "the requests used {} connections", cut.len());
    // At once, a request meets a dead connection: 503 with Retry-After, which every IdP retries.
    let response = a.get("/Users?count=0").await;
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("1")
    );
    assert_scim_error(
        response,
        503,
        None,
        "the database is unavailable for the moment; retry the request",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let statuses: Vec<u16> = burst().await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, vec![201; 8]);
    assert_eq!(a.get("/Users?count=0").await.status(), 200);
}

/// Okta's sequence sent to two `serve` processes in turn, one SIGKILLed while creates are in flight
/// at the vendor: the other finishes the fan-out (the killed replica's rows after their lease), the
/// vendor ends as the store says, no create is sent twice, and the vendor never had more calls in
/// flight than the target's `concurrency` (4), though two replicas were calling it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_killed_mid_fan_out_the_other_finishes_and_the_vendor_matches_the_store() {
    use crate::crash::{create_token, person, serve, signal, wait_until, write_config_on, Client};
    use crate::fake_w365::FakeWorkspace365;
    let Some(server) = postgres_server() else { return };
    let database = fresh_postgres_database(&server).await;
    let (vendor, fake) = FakeWorkspace365::start(Duration::from_millis(150)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_on(dir.path(), &vendor.uri(), &database);
    let token = create_token(&config);
    let mut first = serve(&config);
    let mut second = serve(&config);
    let replica = |base: &str| Client {
        http: reqwest::Client::new(),
        base: base.to_owned(),
        token: token.clone(),
    };
    let (one, other) = (replica(&first.base), replica(&second.base));
    let turn = |n: usize| if n.is_multiple_of(2) { &one } else { &other };
    let mut ids = Vec::new();
    for n in 0..30 {
        let created = turn(n).send(reqwest::Method::POST, "/Users", Some(person(n))).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    for (n, id) in ids[..5].iter().enumerate() {
        let rename = serde_json::json!([{"op": "replace", "path": "name.familyName", "value": "During"}]);
        turn(n).patch(id, rename).await;
    }
    wait_until("the first creates", || fake.calls().len() >= 6).await;
    signal(&first.child, "-KILL");
    first.child.wait().unwrap();
    for id in &ids[5..10] {
        let rename = serde_json::json!([{"op": "replace", "path": "name.familyName", "value": "After"}]);
        other.patch(id, rename).await;
    }
    for id in &ids[10..13] {
        let deactivate = serde_json::json!([{"op": "replace", "path": "active", "value": false}]);
        other.patch(id, deactivate).await;
    }
    for id in &ids[13..15] {
        other.send(reqwest::Method::DELETE, &format!("/Users/{id}"), None).await;
    }
    let started = Instant::now();
    loop {
        let (pending, dead) = (other.queue_rows("pending").await, other.queue_rows("dead").await);
        if pending == Some(0) && dead == Some(0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the surviving replica did not finish: {pending:?} pending, {dead:?} dead"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        fake.users(),
        other.expected_vendor_state().await,
        "the vendor matches the store"
    );
    assert_eq!(fake.duplicate_creates(), 0, "no create for a user the vendor had");
    let mut created = fake.created();
    let total = created.len();
    created.sort();
    created.dedup();
    assert_eq!(created.len(), total, "no e-mail was created twice");
    assert!(
        fake.max_in_flight() <= 4,
        "the vendor had {} calls in flight at once; concurrency is 4",
        fake.max_in_flight()
    );
    signal(&second.child, "-TERM");
    assert!(second.child.wait().unwrap().success());
}

/// A vendor's reset that one replica learned (recorded in `target_state`) stops the others calling
/// that vendor within seconds, not only at their next start.
#[tokio::test]
async fn a_reset_another_replica_recorded_stops_this_one_calling_the_vendor() {
    use crate::fake_w365::FakeWorkspace365;
    use scim_bridge::store::TargetStateRow;
    if postgres_server().is_none() {
        return;
    }
    let (vendor, fake) = FakeWorkspace365::start(Duration::ZERO).await;
    let base_url = format!("{}/Provisioning", vendor.uri());
    let app = spawn_app_with(|s| s.target = vec![crate::targets::w365_target("w365", None, &base_url)]).await;
    app.drain_sync().await;
    let (_, other) = replica_of(&app).await;
    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    other
        .save_target_state(&TargetStateRow {
            target: "w365".into(),
            breaker: "closed".into(),
            failures: 0,
            trips: 0,
            open_until: None,
            paused_until: Some(until),
            pause_reason: Some("HTTP 429 with Retry-After 3600s".into()),
        })
        .await
        .unwrap();
    app.worker.clock().advance(Duration::from_secs(3));
    app.create_user(&user("paused@example.com")).await;
    app.drain_sync().await;
    assert!(fake.calls().is_empty(), "the vendor was called: {:?}", fake.calls());
    let queued = app.store.sync_rows().await.unwrap();
    assert_eq!(queued.len(), 1, "the change waits for the reset");
}
