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

/// A replica that stalled past its lease (its database link was down for 30 s, say) and comes back
/// must not stretch the lease of a row another replica took over meanwhile; the row shows who holds
/// it.
#[tokio::test]
async fn a_replica_renews_only_the_leases_it_holds() {
    let Some(a) = first_replica().await else { return };
    let (_, b) = replica_of(&a).await;
    assert_ne!(a.store.replica(), b.replica());
    let pool = sqlx::PgPool::connect(&a.database_url).await.unwrap();
    sqlx::query(
        "INSERT INTO sync_queue (resource_id, target, due_at, enqueued_at)
         VALUES ('user-1', 't', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let second = time::Duration::seconds(1);
    let by_a = a.store.claim_due(now, now + second, 1, &["t"]).await.unwrap();
    assert_eq!(by_a.len(), 1);
    // A's lease has run out by the time B looks: B takes the row.
    let by_b = b
        .claim_due(now + second * 2, now + second * 30, 1, &["t"])
        .await
        .unwrap();
    assert_eq!(by_b, by_a, "the lapsed row is B's now");
    let lease = || async {
        sqlx::query_as::<_, (String, String)>("SELECT lease_until, lease_owner FROM sync_queue")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let taken = lease().await;
    assert_eq!(taken.1, b.replica());
    let renewed = a.store.renew_leases(&[&by_a[0]], now + second * 90).await.unwrap();
    assert_eq!(renewed, 0, "A no longer holds the row");
    assert_eq!(lease().await, taken, "B's lease is as B set it");
    let renewed = b.renew_leases(&[&by_b[0]], now + second * 60).await.unwrap();
    assert_eq!(renewed, 1);
    assert_ne!(lease().await.0, taken.0, "B renews its own");
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
    // Connected first: the cut and the next request must come within the pool's idle second.
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", postgres_server().unwrap()))
        .await
        .unwrap();
    let app = &a;
    let burst = || {
        futures_util::future::join_all((0..8).map(|i| async move {
            let body = user(&format!("cut-{i}-{}@example.com", uuid::Uuid::new_v4()));
            app.post("/Users", &body).await
        }))
    };
    assert!(burst().await.iter().all(|r| r.status() == 201));
    let name = a.database_url.rsplit('/').next().unwrap().to_owned();
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
            breaker: scim_bridge::store::BreakerState::Closed,
            failures: 0,
            trips: 0,
            open_until: None,
            paused_until: Some(until),
            pause_reason: Some("HTTP 429 with Retry-After 3600s".into()),
            refused: None,
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

/// The two-replica run: the five vendors, Okta's and Entra's requests sent to two `serve`
/// processes in turn, one SIGKILLed while its fan-out is going out. The survivor takes the rest and
/// the killed replica's rows (after their 30 s lease); every vendor ends exactly as the store says,
/// no user is created twice, and no vendor ever had more than its target's `concurrency` (2) calls
/// in flight, though both replicas were calling it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_vendors_okta_and_entra_through_two_replicas_one_killed_converge_exactly() {
    use crate::crash::{create_token, serve, signal, wait_until, Client};
    use crate::fake_vendors::{FakeVendor, Vendor};
    use crate::fake_w365::FakeWorkspace365;
    use crate::targets::{target_with, w365_target};
    use crate::weather_e2e::{
        assert_every_vendor_holds, deleted_user, entra_user, expected, later_changes, okta_user, queued,
    };
    use scim_bridge::config::{Settings, TargetKind};
    use serde_json::json;
    const CONCURRENCY: usize = 2;
    const DELAY: Duration = Duration::from_millis(120);
    let Some(server) = postgres_server() else { return };
    let database = fresh_postgres_database(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let (w365_server, w365) = FakeWorkspace365::start(DELAY).await;
    let mut targets = vec![w365_target(
        "w365",
        None,
        &format!("{}/Provisioning", w365_server.uri()),
    )];
    let mut fakes = Vec::new();
    for (vendor, kind) in [
        (Vendor::Esign, TargetKind::Esign),
        (Vendor::Cyberark, TargetKind::Cyberark),
        (Vendor::Docusign, TargetKind::Docusign),
        (Vendor::Eloqua, TargetKind::Eloqua),
    ] {
        let (server, fake) = FakeVendor::start_slow(vendor, DELAY).await;
        targets.push(target_with(kind, &server.uri(), dir.path(), ""));
        fakes.push((vendor, server, fake));
    }
    for target in &mut targets {
        target.concurrency = Some(CONCURRENCY);
        // The deletions this test counts are not what the removal guard is about.
        target.on_delete = Some(scim_bridge::config::OnDelete::Delete);
        target.max_removals = Some(0);
    }
    let settings = Settings {
        target: targets,
        ..Settings::default()
    };
    let text = toml::to_string(&settings)
        .unwrap()
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")
        .replace("admin_listen = \"127.0.0.1:8081\"", "admin_listen = \"off\"")
        .replace("url = \"sqlite://scim-bridge.db\"", &format!("url = \"{database}\""));
    let config = dir.path().join("replicas.toml");
    std::fs::write(&config, text).unwrap();
    let token = create_token(&config);
    let calls = || w365.calls().len() + fakes.iter().map(|f| f.2.calls().len()).sum::<usize>();

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
    for n in 0..12 {
        for body in [okta_user(n), entra_user(n)] {
            let created = turn(ids.len()).send(reqwest::Method::POST, "/Users", Some(body)).await;
            ids.push(created["id"].as_str().unwrap().to_owned());
        }
    }
    // Okta's and Entra's PATCH forms, each through the other replica.
    turn(0)
        .patch(
            &ids[5],
            json!([{"op": "replace", "value": {"name": {"familyName": "During"}}}]),
        )
        .await;
    turn(1)
        .patch(
            &ids[6],
            json!([{"op": "Replace", "path": "name.familyName", "value": "During"}]),
        )
        .await;
    wait_until("the first vendor calls", || calls() >= 30).await;
    signal(&first.child, "-KILL");
    first.child.wait().unwrap();

    // The survivor alone: a deactivation, a rename, a delete, Entra's string boolean, quick PUTs.
    later_changes(&other, &ids, 5).await;
    let started = Instant::now();
    while queued(&other).await != Some(0) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the surviving replica did not finish: {:?} rows queued",
            queued(&other).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let want = expected(&other).await;
    signal(&second.child, "-TERM");
    assert!(second.child.wait().unwrap().success());

    let gone = deleted_user();
    let others: Vec<_> = fakes.iter().map(|(vendor, _, fake)| (*vendor, fake)).collect();
    assert_every_vendor_holds(&want, &w365, &others, &gone);
    let mut created = w365.created();
    let total = created.len();
    created.sort();
    created.dedup();
    assert_eq!(created.len(), total, "Workspace365: no e-mail was created twice");
    let in_flight: Vec<(String, usize)> = std::iter::once(("Workspace365".to_owned(), w365.max_in_flight()))
        .chain(
            fakes
                .iter()
                .map(|(vendor, _, fake)| (format!("{vendor:?}"), fake.max_in_flight())),
        )
        .collect();
    assert!(
        in_flight.iter().all(|(_, n)| *n <= CONCURRENCY),
        "calls in flight at once, by vendor: {in_flight:?}; each target's concurrency is {CONCURRENCY}"
    );
    assert!(
        in_flight.iter().all(|(_, n)| *n == CONCURRENCY),
        "every vendor was kept busy (else the bound says nothing): {in_flight:?}"
    );
}

/// When an open breaker's wait ends, the replicas send one probe between them, not one each, and
/// take up its verdict: after the probe fails, the others wait out the new, longer wait too.
#[tokio::test]
async fn replicas_send_one_probe_between_them_and_take_up_its_verdict() {
    use scim_bridge::store::TargetStateRow;
    use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};
    if postgres_server().is_none() {
        return;
    }
    let vendor = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&vendor)
        .await;
    let base_url = format!("{}/Provisioning", vendor.uri());
    let app = spawn_app_with(|s| s.target = vec![crate::targets::w365_target("w365", None, &base_url)]).await;
    let other = app.restart_worker().await;
    let calls = || async { vendor.received_requests().await.unwrap().len() };
    // A third replica opened the breaker after many trips; its wait ends in 3 s.
    app.store
        .save_target_state(&TargetStateRow {
            target: "w365".into(),
            breaker: scim_bridge::store::BreakerState::Open,
            failures: 0,
            trips: 9,
            open_until: Some(time::OffsetDateTime::now_utc() + time::Duration::seconds(3)),
            paused_until: None,
            pause_reason: None,
            refused: None,
        })
        .await
        .unwrap();
    // Rows enough for each replica to take one as its probe.
    for n in 0..4 {
        app.create_user(&user(&format!("probe{n}@example.com"))).await;
    }
    let (a, b) = (&app.worker, &other);
    let _ = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(calls().await, 0, "both replicas wait while the breaker is open");

    for worker in [a, b] {
        worker.clock().advance(Duration::from_secs(4));
    }
    let _ = tokio::join!(a.run_once(), b.run_once());
    let probe = calls().await;
    assert!(probe >= 1, "the wait is over: a probe goes");
    // A probe is one user's reconcile (its call may be tried more than once).
    let probed: BTreeSet<String> = vendor
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{}{}", r.url, String::from_utf8_lossy(&r.body)))
        .filter_map(|text| {
            (0..4).find(|n| text.contains(&format!("probe{n}%40")) || text.contains(&format!("probe{n}@")))
        })
        .map(|n| format!("probe{n}"))
        .collect();
    assert_eq!(
        probed.len(),
        1,
        "one probe between the two replicas, not one each: {probed:?}"
    );
    let _ = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(calls().await, probe, "one probe between the two replicas");

    // The probe failed: open again for 30-60 s. Both replicas read it and wait.
    for worker in [a, b] {
        worker.clock().advance(Duration::from_millis(2100));
    }
    let _ = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(calls().await, probe, "the replicas took up the failed probe's verdict");
    let states = app.store.target_states().await.unwrap();
    assert_eq!((states[0].breaker.as_str(), states[0].trips), ("open", 10));
}

#[tokio::test]
async fn two_replicas_removing_at_once_share_one_removal_allowance() {
    use scim_bridge::store::{RemovalLimit, RemovalVerdict};
    let Some(a) = first_replica().await else { return };
    let (_, b) = replica_of(&a).await;
    let limit = RemovalLimit {
        max: Some(10),
        window: Duration::from_secs(3600),
    };
    let take =
        |store: Store, n: usize| async move { store.take_removal("vault", &format!("user-{n}"), limit).await.unwrap() };
    let racing = (0..30).map(|n| {
        let store = if n % 2 == 0 { a.store.clone() } else { b.clone() };
        tokio::spawn(take(store, n))
    });
    let verdicts: Vec<RemovalVerdict> = futures_util::future::join_all(racing)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let went = verdicts.iter().filter(|v| **v == RemovalVerdict::Go).count();
    assert_eq!(went, 10, "{verdicts:?}");
    assert!(verdicts.contains(&RemovalVerdict::Held { done: 10, limit: 10 }));
}

/// A vault refusing the bridge's credentials sees one sign-in per `auth_retry_secs` from all the
/// replicas together: the one refused records it, the others take it up instead of signing in, and
/// when the wait is over one of them tries (the probe), not each.
#[tokio::test]
async fn replicas_share_one_sign_in_attempt_while_the_vault_refuses_the_credentials() {
    use crate::fake_vendors::{FakeVendor, Vendor};
    use scim_bridge::config::TargetKind;
    if postgres_server().is_none() {
        return;
    }
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    fake.state.lock().unwrap().refuse_logon = true;
    let dir = tempfile::tempdir().unwrap();
    let target = crate::targets::target_for(TargetKind::Cyberark, &server.uri(), dir.path());
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let other = app.restart_worker().await;
    let logons = || fake.calls().iter().filter(|c| c.ends_with("/Logon/")).count();
    let (a, b) = (&app.worker, &other);
    // Both replicas are running (they read the recorded health at start) before the refusal.
    let _ = tokio::join!(a.run_once(), b.run_once());
    for n in 0..6 {
        app.create_user(&user(&format!("vault{n}@example.com"))).await;
    }
    a.run_once().await.unwrap();
    assert_eq!(logons(), 1, "{:?}", fake.calls());
    // New users meanwhile, due now (the refused rows wait out the wait). The other replica reads
    // the recorded health every 2 s, before it claims.
    for n in 6..8 {
        app.create_user(&user(&format!("vault{n}@example.com"))).await;
    }
    b.clock().advance(Duration::from_millis(2100));
    let _ = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(logons(), 1, "the other replica took up the refusal: {:?}", fake.calls());
    assert_eq!(app.store.target_status().await.unwrap()[0].state, "credentials_refused");

    // The wait (300 s) is over for both: one attempt between them, refused again.
    for worker in [a, b] {
        worker.clock().advance(Duration::from_secs(301));
    }
    let _ = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(logons(), 2, "one sign-in between the two replicas: {:?}", fake.calls());
    for worker in [a, b] {
        worker.clock().advance(Duration::from_millis(2100));
    }
    let _ = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(logons(), 2, "both wait out the new wait");
    let rows = app.store.sync_rows().await.unwrap();
    assert!(rows.iter().all(|r| r.state == "pending" && r.attempts == 0), "{rows:?}");

    // The vault takes the password again: the next attempt signs in and both replicas deliver.
    fake.state.lock().unwrap().refuse_logon = false;
    for worker in [a, b] {
        worker.clock().advance(Duration::from_secs(301));
    }
    for _ in 0..10 {
        let _ = tokio::join!(a.run_once(), b.run_once());
        for worker in [a, b] {
            worker.clock().advance(Duration::from_millis(2100));
        }
    }
    assert_eq!(fake.users().len(), 8, "{:?}", fake.calls());
    assert!(app.store.sync_rows().await.unwrap().is_empty());
}
