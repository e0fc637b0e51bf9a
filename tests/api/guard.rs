//! The removal guard (README "Removal guard"): past a target's `max_removals` in its window,
//! removals are held for an operator, shown everywhere an operator looks, and carried out only by
//! `sync release` (or dropped by `sync discard`). Runs on SQLite and, in the PostgreSQL pass, there.
use crate::connectors::config_file;
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::plan::person;
use crate::targets::target_with;
use scim_bridge::config::{TargetKind, TargetSettings};
use serde_json::{json, Value};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");
const GROUP: &str = "Vault users";

/// Runs the CLI against the app's database with `targets`; (success, stdout).
async fn cli(dir: &Path, app: &TestApp, targets: &[TargetSettings], args: &[&str]) -> (bool, String) {
    let config = config_file(dir, &app.database_url, targets);
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
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
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `n` users in the scope group, all created at the vendor; their ids.
async fn in_scope(app: &TestApp, prefix: &str, n: usize) -> (String, Vec<String>) {
    let mut ids = Vec::new();
    for i in 0..n {
        let user = app.create_user(&person(&format!("{prefix}{i:02}"))).await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let group = app
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": GROUP, "members": members}),
        )
        .await;
    assert_eq!(group.status(), 201);
    let group: Value = group.json().await.unwrap();
    app.drain_sync().await;
    (group["id"].as_str().unwrap().to_owned(), ids)
}

async fn leave_group(app: &TestApp, group: &str, ids: &[String]) {
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let response = app
        .patch(
            &format!("/Groups/{group}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "remove", "path": "members", "value": members}]}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

fn target(uri: &str, dir: &Path, extra: &str) -> TargetSettings {
    let scope = format!("scope = 'groups.display eq \"{GROUP}\"'\non_delete = \"delete\"\n{extra}");
    target_with(TargetKind::Cyberark, uri, dir, &scope)
}

fn deletes(fake: &FakeVendor) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.starts_with("DELETE /PasswordVault/API/Users/"))
        .count()
}

#[tokio::test]
async fn thirty_of_forty_leaving_at_once_run_ten_removals_and_hold_twenty_until_released() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let targets = vec![target(&server.uri(), dir.path(), "")];
    let app = spawn_app_with({
        let targets = targets.clone();
        |s| s.target = targets
    })
    .await;
    let (group, ids) = in_scope(&app, "leaver", 40).await;
    assert_eq!(fake.users().len(), 40);

    leave_group(&app, &group, &ids[..30]).await;
    app.drain_sync().await;
    assert_eq!(deletes(&fake), 10, "the default allowance: 10 (2% of 40 is less)");
    assert_eq!(fake.users().len(), 30);

    let (ok, status) = cli(dir.path(), &app, &targets, &["sync", "status"]).await;
    assert!(ok, "{status}");
    let row = status.lines().find(|l| l.starts_with("cyberark ")).unwrap();
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&columns[1..4], ["0", "0", "20"], "pending, dead, held: {status}");
    assert!(status.contains("20 removal(s) HELD by the removal guard"), "{status}");
    assert_eq!(
        status
            .lines()
            .filter(|l| l.trim_start().starts_with("held  leaver"))
            .count(),
        20,
        "{status}"
    );

    let (_, plan) = cli(dir.path(), &app, &targets, &["sync", "plan", "--target", "cyberark"]).await;
    assert_eq!(
        plan.lines()
            .filter(|l| l.contains("[HELD by the removal guard"))
            .count(),
        20,
        "{plan}"
    );
    assert!(plan.contains("20 held"), "{plan}");

    let metrics = app.get_metrics().await;
    assert!(
        metrics.contains(r#"scim_bridge_sync_held_rows{target="cyberark"} 20"#),
        "{metrics}"
    );

    let events = app.store.events_page(&Default::default(), 1000).await.unwrap();
    let guards = events.iter().filter(|e| e.action == "held").count();
    assert_eq!(guards, 20, "one guard event per held removal");
    console_shows_twenty_held(&app).await;

    // Held stays held: a newer change of a leaver (or its deletion at the IdP) does not count
    // again or slip through; a leaver back in scope is simply no longer removed.
    let held = app.store.held_rows("cyberark", None).await.unwrap();
    let (still_leaving, deleted, back) = (&held[0].0, &held[1].0, &held[2].0);
    let deleted_name = held[1].1.clone();
    app.patch_user(
        still_leaving,
        json!([{"op": "replace", "path": "title", "value": "Manager"}]),
    )
    .await;
    assert_eq!(app.delete(&format!("/Users/{deleted}")).await.status(), 204);
    let add = app
        .patch(
            &format!("/Groups/{group}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": back}]}]}),
        )
        .await;
    assert!(add.status().is_success());
    app.drain_sync().await;
    assert_eq!(deletes(&fake), 10, "nothing more was removed");
    let held = app.store.held_rows("cyberark", None).await.unwrap();
    assert_eq!(held.len(), 19, "{held:?}");
    assert!(
        held.iter().any(|(id, name)| id == deleted && *name == deleted_name),
        "a deleted user is named: {held:?}"
    );
    assert!(!held.iter().any(|(id, _)| id == back), "back in scope: {held:?}");
    let events = app.store.events_page(&Default::default(), 1000).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.action == "held").count(),
        20,
        "re-holding writes no new event"
    );

    let (ok, out) = cli(dir.path(), &app, &targets, &["sync", "release", "--target", "cyberark"]).await;
    assert!(ok && out.contains("19 held removal(s) at 'cyberark' released"), "{out}");
    app.drain_sync().await;
    assert_eq!(deletes(&fake), 29);
    assert_eq!(fake.users().len(), 11, "the ten who stayed and the one who came back");
    let metrics = app.get_metrics().await;
    assert!(
        metrics.contains(r#"scim_bridge_sync_held_rows{target="cyberark"} 0"#),
        "{metrics}"
    );
    assert!(app.store.sync_rows().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_explicit_max_removals_is_exact_discard_keeps_the_users_and_zero_turns_the_guard_off() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let targets = vec![target(&server.uri(), dir.path(), "max_removals = 1")];
    let app = spawn_app_with({
        let targets = targets.clone();
        |s| s.target = targets
    })
    .await;
    let (group, ids) = in_scope(&app, "few", 4).await;
    leave_group(&app, &group, &ids[..3]).await;
    app.drain_sync().await;
    assert_eq!(deletes(&fake), 1);
    assert_eq!(app.store.held_rows("cyberark", None).await.unwrap().len(), 2);

    let (ok, out) = cli(
        dir.path(),
        &app,
        &targets,
        &["sync", "discard", "--target", "cyberark", "--yes"],
    )
    .await;
    assert!(ok && out.contains("2 held removal(s) at 'cyberark' discarded"), "{out}");
    app.drain_sync().await;
    assert_eq!(deletes(&fake), 1);
    assert_eq!(fake.users().len(), 3, "the vendor keeps the discarded users");
    for id in &ids[1..3] {
        assert!(
            app.store.link(id, "cyberark").await.unwrap().is_some(),
            "the link stays"
        );
    }
    assert!(app.store.sync_rows().await.unwrap().is_empty());

    // The same with no guard: every removal runs.
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    let targets = vec![target(&server.uri(), dir.path(), "max_removals = 0")];
    let app = spawn_app_with(|s| s.target = targets).await;
    let (group, ids) = in_scope(&app, "many", 15).await;
    leave_group(&app, &group, &ids[..14]).await;
    app.drain_sync().await;
    assert_eq!(deletes(&fake), 14);
}

/// The scope's group deleted at the IdP while removals are held: its remaining members leave the
/// scope, meet the spent allowance and are held too; a restart does not refuse the scope for the
/// group it names being gone (a deletion, not a typo), and release carries every removal out.
#[tokio::test]
async fn the_scope_group_deleted_while_removals_are_held_holds_the_rest_and_a_restart_still_starts() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let targets = vec![target(&server.uri(), dir.path(), "max_removals = 2")];
    let app = spawn_app_with({
        let targets = targets.clone();
        |s| s.target = targets
    })
    .await;
    let (group, ids) = in_scope(&app, "gone", 5).await;
    leave_group(&app, &group, &ids[..3]).await;
    app.drain_sync().await;
    assert_eq!(
        (
            deletes(&fake),
            app.store.held_rows("cyberark", None).await.unwrap().len()
        ),
        (2, 1)
    );

    assert_eq!(app.delete(&format!("/Groups/{group}")).await.status(), 204);
    app.drain_sync().await;
    assert_eq!(deletes(&fake), 2, "the allowance is spent: nothing more is removed");
    assert_eq!(app.store.held_rows("cyberark", None).await.unwrap().len(), 3);

    // Another group, so the bridge visibly holds groups (a name no group has is then refused).
    let other = app
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Other team"}),
        )
        .await;
    assert_eq!(other.status(), 201);
    let restarted = app.restarted(|_| {}).await;
    assert_eq!(restarted.store.held_rows("cyberark", None).await.unwrap().len(), 3);
    let (ok, out) = cli(
        dir.path(),
        &restarted,
        &targets,
        &["sync", "release", "--target", "cyberark"],
    )
    .await;
    assert!(ok, "{out}");
    restarted.drain_sync().await;
    assert_eq!(deletes(&fake), 5);
    assert!(fake.users().is_empty());
}

/// The console's target card is red with the count, and its Release button asks first, naming
/// the users.
async fn console_shows_twenty_held(app: &TestApp) {
    use crate::console::{admin_token, no_redirects, session_cookie, sign_in};
    let signed_in = sign_in(app, &admin_token(app).await).await;
    let cookie = session_cookie(&signed_in);
    let page = no_redirects()
        .get(format!("{}/admin", app.console))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("card alarm") && page.contains("20 removals held"),
        "{page}"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let ask = no_redirects()
        .post(format!("{}/admin/held", app.console))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("target", "cyberark"), ("action", "release")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ask.contains("Release held removals?") && ask.matches("<li>leaver").count() == 20,
        "{ask}"
    );
    let forged = no_redirects()
        .post(format!("{}/admin/held", app.console))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[
            ("csrf", "forged"),
            ("target", "cyberark"),
            ("action", "release"),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        app.store.held_rows("cyberark", None).await.unwrap().len(),
        20,
        "nothing released yet"
    );
}
