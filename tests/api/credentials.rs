//! A vendor refusing the bridge's credentials is a state of the target, not a failure of each row
//! (README "When a vendor refuses the bridge's credentials"): rows wait, nothing is left half-done,
//! one sign-in is tried per `auth_retry_secs` (a vault locks an account after a few failures), and
//! the target resumes by itself. On SQLite and, in the PostgreSQL pass, there.
use crate::connectors::config_file;
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::plan::person;
use crate::targets::target_for;
use scim_bridge::config::TargetKind;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");

fn logons(fake: &FakeVendor) -> usize {
    fake.calls().iter().filter(|c| c.ends_with("/Logon/")).count()
}

#[tokio::test]
async fn a_wrong_vault_password_costs_one_logon_per_wait_keeps_rows_pending_and_the_target_resumes_by_itself() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    fake.state.lock().unwrap().refuse_logon = true;
    let dir = tempfile::tempdir().unwrap();
    let targets = vec![target_for(TargetKind::Cyberark, &server.uri(), dir.path())];
    let app = spawn_app_with({
        let targets = targets.clone();
        |s| s.target = targets
    })
    .await;
    for name in ["ann", "bob", "cat", "dan", "eve"] {
        app.create_user(&person(name)).await;
    }
    app.drain_sync().await;
    assert_eq!(logons(&fake), 1, "five new users, one sign-in: {:?}", fake.calls());
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.state == "pending" && r.attempts == 0), "{rows:?}");
    for row in &rows {
        assert_eq!(
            app.store.link(&row.resource_id, "cyberark").await.unwrap(),
            None,
            "no link left as creating"
        );
    }

    let config = config_file(dir.path(), &app.database_url, &targets);
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(["sync", "status"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.contains("credentials_refused"), "{status}");
    assert!(
        status.contains("Authentication failure for User [svc-scim]"),
        "the vendor's words: {status}"
    );
    let metrics = app.get_metrics().await;
    assert!(
        metrics.contains(r#"scim_bridge_target_state{target="cyberark",state="credentials_refused"} 1"#),
        "{metrics}"
    );

    // More changes meanwhile, and time short of the wait: no sign-in.
    app.create_user(&person("fay")).await;
    app.worker.clock().advance(Duration::from_secs(120));
    app.drain_sync().await;
    assert_eq!(logons(&fake), 1);

    // The wait (auth_retry_secs, 300 s) is over: one attempt, refused again.
    app.worker.clock().advance(Duration::from_secs(200));
    app.drain_sync().await;
    assert_eq!(logons(&fake), 2);
    assert!(app
        .store
        .sync_rows()
        .await
        .unwrap()
        .iter()
        .all(|r| r.state == "pending"));

    // The password is fixed at the vault: the next attempt signs in and everyone arrives.
    fake.state.lock().unwrap().refuse_logon = false;
    app.worker.clock().advance(Duration::from_secs(301));
    app.drain_sync().await;
    assert_eq!(logons(&fake), 3);
    assert_eq!(fake.users().len(), 6, "{:?}", fake.calls());
    assert!(app.store.sync_rows().await.unwrap().is_empty());
    let metrics = app.get_metrics().await;
    assert!(
        metrics.contains(r#"scim_bridge_target_state{target="cyberark",state="closed"} 1"#),
        "{metrics}"
    );
}

/// `serve` probes every target at start; the probe is the sign-in attempt. After a restart with the
/// secret fixed, the target resumes at once rather than after the wait recorded before.
#[tokio::test]
async fn the_probe_at_start_is_the_sign_in_attempt_and_a_success_resumes_at_once() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    fake.state.lock().unwrap().refuse_logon = true;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Cyberark, &server.uri(), dir.path())]).await;
    app.worker.probe_targets().await;
    let status = app.store.target_status().await.unwrap();
    assert_eq!(status[0].state, "credentials_refused", "{status:?}");
    let logons_after_probe = logons(&fake);
    app.create_user(&person("gus")).await;
    app.drain_sync().await;
    assert_eq!(
        logons(&fake),
        logons_after_probe,
        "the probe was the attempt: none more before the wait"
    );

    fake.state.lock().unwrap().refuse_logon = false;
    let restarted = app.restart_worker().await;
    restarted.probe_targets().await;
    while restarted.run_once().await.unwrap() != scim_bridge::sync::worker::Outcome::Idle {}
    assert_eq!(fake.users().len(), 1, "{:?}", fake.calls());
    assert_eq!(app.store.target_status().await.unwrap()[0].state, "closed");
}

/// `mode = "observe"` (the first contact the docs recommend) reads only, but a refused sign-in is
/// the same state there: one attempt, rows pending, the target shown as refusing.
#[tokio::test]
async fn an_observing_target_with_refused_credentials_is_credentials_refused_too() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    fake.state.lock().unwrap().refuse_logon = true;
    let dir = tempfile::tempdir().unwrap();
    let mut target = target_for(TargetKind::Cyberark, &server.uri(), dir.path());
    target.mode = scim_bridge::config::TargetMode::Observe;
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    for name in ["hal", "ida", "jon"] {
        app.create_user(&person(name)).await;
    }
    app.drain_sync().await;
    assert_eq!(logons(&fake), 1, "{:?}", fake.calls());
    assert_eq!(app.store.target_status().await.unwrap()[0].state, "credentials_refused");
    assert!(app
        .store
        .sync_rows()
        .await
        .unwrap()
        .iter()
        .all(|r| r.state == "pending" && r.attempts == 0));
}
