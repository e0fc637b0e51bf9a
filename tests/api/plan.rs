//! `scim-bridge sync plan` against the stateful fakes: every outcome (create, adopt, update,
//! deactivate, activate, delete, in sync), its exit codes and formats, and proof that it writes
//! nothing: the vendor's journal holds only reads (and sign-ins), and every table keeps its rows.
use crate::connectors::config_file;
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::targets::target_for;
use scim_bridge::config::{TargetKind, TargetSettings};
use serde_json::{json, Value};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");

/// Runs `sync plan` with `args`; (exit code, stdout, stderr).
pub async fn plan(dir: &Path, app: &TestApp, targets: &[TargetSettings], args: &[&str]) -> (i32, String, String) {
    let config = config_file(dir, &app.database_url, targets);
    let args: Vec<String> = ["sync", "plan"].iter().chain(args).map(|a| (*a).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every table's row count, to prove a command changed nothing. The request log is left out: the
/// server stores the test's own SCIM requests there a moment after answering them.
async fn row_counts(app: &TestApp) -> Vec<(String, i64)> {
    let mut counts = all_row_counts(app).await;
    counts.retain(|(table, _)| table != "requests");
    counts
}

async fn all_row_counts(app: &TestApp) -> Vec<(String, i64)> {
    if app.database_url.starts_with("postgres") {
        return postgres_row_counts(&app.database_url).await;
    }
    let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut counts = Vec::new();
    for (table,) in tables {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM \"{table}\""))
            .fetch_one(&pool)
            .await
            .unwrap();
        counts.push((table, n));
    }
    pool.close().await;
    counts
}

pub fn person(name: &str) -> Value {
    let email = format!("{name}@example.com");
    json!({"schemas": [USER_SCHEMA], "userName": email, "title": "Engineer",
           "name": {"givenName": name, "familyName": "Test"},
           "emails": [{"value": email, "type": "work", "primary": true}], "active": true})
}

/// Calls that change nothing at the vendor: reads, sign-ins, and Workspace365's dry run.
pub fn is_read(call: &str) -> bool {
    call.starts_with("GET ")
        || call.ends_with("/Logon/")
        || call.ends_with("/Auth/Logoff")
        || call == "POST /oauth/token"
        || call.ends_with("/Validate/")
}

#[tokio::test]
async fn every_outcome_appears_and_nothing_is_written() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let targets = vec![crate::targets::deleting(target_for(
        TargetKind::Cyberark,
        &server.uri(),
        dir.path(),
    ))];
    let app = spawn_app_with(|s| s.target = targets.clone()).await;
    let mut ids = std::collections::BTreeMap::new();
    for name in ["steady", "retitled", "leaver", "returner", "deleted"] {
        ids.insert(
            name,
            app.create_user(&person(name)).await["id"].as_str().unwrap().to_owned(),
        );
    }
    app.patch_user(
        &ids["returner"],
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    app.drain_sync().await;
    // Changes the worker has not carried out yet: they are what the plan shows.
    app.patch_user(
        &ids["retitled"],
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
    )
    .await;
    app.patch_user(
        &ids["leaver"],
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    app.patch_user(
        &ids["returner"],
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    assert_eq!(app.delete(&format!("/Users/{}", ids["deleted"])).await.status(), 204);
    app.create_user(&person("newcomer")).await;
    fake.seed(
        "900",
        json!({"id": 900, "username": "veteran@example.com", "enableUser": true, "source": "CyberArk",
               "componentUser": false, "personalDetails": {"firstName": "veteran", "lastName": "Test", "title": "Engineer"},
               "internet": {"businessEmail": "veteran@example.com"}}),
    );
    app.create_user(&person("veteran")).await;
    fake.seed(
        "901",
        json!({"id": 901, "username": "stranger@example.com", "enableUser": true, "source": "CyberArk",
               "componentUser": false, "personalDetails": {"firstName": "S", "lastName": "T"}}),
    );

    let calls_before = fake.calls().len();
    let rows_before = row_counts(&app).await;
    let (code, out, err) = plan(dir.path(), &app, &targets, &["--target", "cyberark"]).await;
    assert_eq!(code, 2, "{out}{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}@example.com")))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"))
            .to_owned()
    };
    assert!(line("newcomer").ends_with(" create"), "{out}");
    assert!(line("veteran").ends_with(" adopt 900"), "{out}");
    assert!(
        line("retitled").ends_with(r#" update personalDetails.title: "Engineer" -> "Lead""#),
        "{out}"
    );
    assert!(line("leaver").ends_with(" deactivate"), "{out}");
    assert!(line("returner").ends_with(" activate"), "{out}");
    assert!(line("deleted").ends_with(" delete"), "{out}");
    assert!(
        !out.contains("steady@example.com"),
        "in-sync users are counted, not listed: {out}"
    );
    assert!(
        out.contains("orphans (at the vendor, no SCIM user; left alone): 1\n  stranger@example.com"),
        "{out}"
    );
    assert!(
        out.contains(
            "summary: 1 activate, 1 adopt, 1 create, 1 deactivate, 1 delete, 0 error, 0 held, 1 in sync, 1 update"
        ),
        "{out}"
    );

    let calls: Vec<String> = fake.calls()[calls_before..].to_vec();
    assert!(calls.iter().all(|c| is_read(c)), "plan made a write call: {calls:?}");
    assert_eq!(row_counts(&app).await, rows_before, "plan changed the database");

    // JSON, one user: its steps as data; exit 0 when that user is in sync.
    let (code, out, _) = plan(
        dir.path(),
        &app,
        &targets,
        &[
            "--target",
            "cyberark",
            "--user",
            "steady@example.com",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["users"],
        json!([{"id": ids["steady"], "userName": "steady@example.com", "steps": [{"action": "in sync"}]}])
    );
    let (_, out, _) = plan(
        dir.path(),
        &app,
        &targets,
        &["--target", "cyberark", "--format", "json"],
    )
    .await;
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["orphans"], json!([{"id": "901", "key": "stranger@example.com"}]));
    let (code, out, _) = plan(
        dir.path(),
        &app,
        &targets,
        &[
            "--target",
            "cyberark",
            "--user",
            "retitled@example.com",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 2);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["users"][0]["steps"],
        json!([{"action": "update", "changes": [{"field": "personalDetails.title", "from": "Engineer", "to": "Lead"}]}])
    );

    // The plan holds: the worker does exactly that.
    app.drain_sync().await;
    let (code, out, _) = plan(dir.path(), &app, &targets, &["--target", "cyberark"]).await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn every_kind_plans_a_create_and_an_in_sync_user_without_a_write() {
    for kind in TargetKind::ALL.iter().copied() {
        let dir = tempfile::tempdir().unwrap();
        let (server, fake) = AnyFake::start(kind).await;
        let calls = || fake.calls();
        let target = target_for(kind, &server.uri(), dir.path());
        let targets = vec![target];
        let app = spawn_app_with(|s| s.target = targets.clone()).await;
        app.create_user(&person("steady")).await;
        app.drain_sync().await;
        app.create_user(&person("newcomer")).await;
        let before = calls().len();
        let rows_before = row_counts(&app).await;
        let (code, out, err) = plan(dir.path(), &app, &targets, &["--target", targets[0].name.as_str()]).await;
        assert_eq!(code, 2, "{kind:?}: {out}{err}");
        assert!(
            out.contains("newcomer@example.com") && out.contains(" create"),
            "{kind:?}: {out}"
        );
        assert!(out.contains("1 create") && out.contains("1 in sync"), "{kind:?}: {out}");
        let made: Vec<String> = calls()[before..].to_vec();
        assert!(made.iter().all(|c| is_read(c)), "{kind:?} wrote: {made:?}");
        if kind == TargetKind::Docusign {
            let reads = made.iter().filter(|c| c.starts_with("GET /restapi")).count();
            assert_eq!(reads, 1, "one listing of the account, not a look-up per user: {made:?}");
        }
        assert_eq!(row_counts(&app).await, rows_before, "{kind:?}");
    }
}

#[tokio::test]
async fn observe_mode_records_the_planned_calls_and_write_mode_carries_them_out() {
    use scim_bridge::sync::worker::Outcome;
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let mut target = target_for(TargetKind::Cyberark, &server.uri(), dir.path());
    target.mode = scim_bridge::config::TargetMode::Observe;
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let id = app.create_user(&person("observed")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_sync().await;
    assert!(fake.users().is_empty(), "observe mode wrote nothing");
    assert!(fake.calls().iter().all(|c| is_read(c)), "{:?}", fake.calls());
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!((rows.len(), rows[0].state.as_str()), (1, "planned"), "the row waits");
    let looked_up = app.store.lookup(&id, 5).await.unwrap().unwrap();
    let planned: Vec<(&str, Option<&str>)> = looked_up
        .events
        .iter()
        .map(|e| (e.action.as_str(), e.note.as_deref()))
        .collect();
    assert_eq!(planned, [("planned", Some("create"))]);
    let status = app.store.target_status().await.unwrap();
    assert_eq!((status[0].planned, status[0].pending), (1, 0));

    // A change while observing is planned again (once), with what is wanted now.
    app.patch_user(&id, json!([{"op": "replace", "path": "title", "value": "Lead"}]))
        .await;
    app.drain_sync().await;
    assert!(fake.users().is_empty());
    assert_eq!(app.store.lookup(&id, 5).await.unwrap().unwrap().events.len(), 2);

    // The same database with mode = "write": the plan is carried out.
    let mut settings = app.settings.clone();
    settings.target[0].mode = scim_bridge::config::TargetMode::Write;
    let store = scim_bridge::app::open_store(&settings).await.unwrap();
    let worker = scim_bridge::app::build_worker(store, &settings).unwrap();
    for _ in 0..20 {
        if worker.run_once().await.unwrap() == Outcome::Idle {
            break;
        }
    }
    let users = fake.users();
    assert_eq!(users.len(), 1, "{:?}", fake.calls());
    assert_eq!(users[0]["personalDetails"]["title"], "Lead");
    assert!(app.store.sync_rows().await.unwrap().is_empty());
}

/// An inactive user the vendor never had is in sync (it is not created until activated), and one
/// whose account the vendor already has, active, is planned to be deactivated there.
#[tokio::test]
async fn plan_shows_an_inactive_user_never_created_as_in_sync_and_a_found_one_deactivated() {
    let (server, fake) = FakeVendor::start(Vendor::Esign).await;
    let dir = tempfile::tempdir().unwrap();
    let targets = vec![TargetSettings {
        mode: scim_bridge::config::TargetMode::Observe,
        ..target_for(TargetKind::Esign, &server.uri(), dir.path())
    }];
    let app = spawn_app_with({
        let targets = targets.clone();
        |s| s.target = targets
    })
    .await;
    let mut ida = person("ida");
    ida["active"] = json!(false);
    let mut rex = person("rex");
    rex["active"] = json!(false);
    app.create_user(&ida).await;
    app.create_user(&rex).await;
    fake.seed(
        "7",
        json!({"SystemUserId": "7", "Username": "rex@example.com", "FirstName": "rex", "LastName": "Test", "Active": true}),
    );
    let steps = |out: &str| -> Value { serde_json::from_str::<Value>(out).unwrap()["users"][0]["steps"].clone() };
    let args = ["--target", "esign", "--format", "json", "--user"];
    let (code, out, err) = plan(dir.path(), &app, &targets, &[&args[..], &["ida@example.com"]].concat()).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(steps(&out), json!([{"action": "in sync"}]));
    let (_, out, _) = plan(dir.path(), &app, &targets, &[&args[..], &["rex@example.com"]].concat()).await;
    let actions: Vec<Value> = steps(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].clone())
        .collect();
    assert_eq!(actions.first(), Some(&json!("adopt")), "{out}");
    assert_eq!(actions.last(), Some(&json!("deactivate")), "{out}");
}
