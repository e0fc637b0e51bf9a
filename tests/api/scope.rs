//! Scopes that name groups (README "Targets", `scope`): a group renamed at the IdP keeps its members
//! in scope, across restarts; a deleted group moves them out at once (and the removal guard
//! counts); a name no group has is refused at start; a new target, or a changed scope, has the
//! users it touches queued at start.
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::plan::person;
use crate::targets::{deleting, target_with};
use scim_bridge::config::TargetKind;
use serde_json::{json, Value};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn scoped(kind: TargetKind, uri: &str, dir: &std::path::Path) -> scim_bridge::config::TargetSettings {
    deleting(target_with(
        kind,
        uri,
        dir,
        "scope = 'groups.display eq \"Workspace users\"'",
    ))
}

async fn group_of(app: &TestApp, name: &str, ids: &[String]) -> String {
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let created = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members}),
        )
        .await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn users(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let user = app.create_user(&person(&format!("{prefix}{i}"))).await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    ids
}

fn deletes(fake: &FakeVendor) -> usize {
    fake.calls().iter().filter(|c| c.starts_with("DELETE ")).count()
}

/// The reproduction: the README's own scope, the group renamed from the IdP, then an
/// unrelated change (an Entra `Replace title`) of a member; before, that member was deleted.
#[tokio::test]
async fn renaming_the_scope_group_at_the_idp_removes_no_one_at_two_targets_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (vault_server, vault) = FakeVendor::start(Vendor::Cyberark).await;
    let (eloqua_server, eloqua) = FakeVendor::start(Vendor::Eloqua).await;
    let targets = vec![
        scoped(TargetKind::Cyberark, &vault_server.uri(), dir.path()),
        scoped(TargetKind::Eloqua, &eloqua_server.uri(), dir.path()),
    ];
    let app = spawn_app_with(|s| s.target = targets).await;
    let ids = users(&app, "member", 3).await;
    let group = group_of(&app, "Workspace users", &ids).await;
    app.drain_sync().await;
    assert_eq!((vault.users().len(), eloqua.users().len()), (3, 3));

    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "displayName", "value": "Workspace members"}]});
    assert!(app
        .patch(&format!("/Groups/{group}"), &rename)
        .await
        .status()
        .is_success());
    app.drain_sync().await;
    app.patch_user(&ids[0], json!([{"op": "Replace", "path": "title", "value": "Lead"}]))
        .await;
    app.drain_sync().await;
    assert_eq!((deletes(&vault), deletes(&eloqua)), (0, 0), "{:?}", vault.calls());
    assert_eq!((vault.users().len(), eloqua.users().len()), (3, 3));

    // Restarted with the same file (the scope still says the old name): nothing changes either.
    let again = app.restarted(|_| {}).await;
    again
        .patch_user(&ids[1], json!([{"op": "Replace", "path": "title", "value": "Lead"}]))
        .await;
    again.drain_sync().await;
    assert_eq!((deletes(&vault), deletes(&eloqua)), (0, 0));

    // Deleting the group moves its members out at once, not at their next change.
    assert_eq!(again.delete(&format!("/Groups/{group}")).await.status(), 204);
    again.drain_sync().await;
    assert_eq!((deletes(&vault), deletes(&eloqua)), (3, 3));
}

#[tokio::test]
async fn a_scope_naming_a_group_the_bridge_does_not_hold_is_refused_at_start_with_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app().await;
    group_of(&app, "Workspace users", &[]).await;
    let mut settings = app.settings.clone();
    settings.target = vec![deleting(target_with(
        TargetKind::Cyberark,
        "http://127.0.0.1:9",
        dir.path(),
        "scope = 'groups.display eq \"Workspace usres\"'",
    ))];
    let refused = scim_bridge::app::Application::build(&settings)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        refused.contains("\"Workspace usres\"") && refused.contains("target 'cyberark'"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_new_target_and_a_changed_scope_queue_the_users_they_touch_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (server, vault) = FakeVendor::start(Vendor::Cyberark).await;
    let app = spawn_app().await;
    let ids = users(&app, "existing", 3).await;
    group_of(&app, "Workspace users", &ids[..2]).await;

    // Added to the configuration after the users existed: they arrive without any change of theirs.
    let target = scoped(TargetKind::Cyberark, &server.uri(), dir.path());
    let with_target = app.restarted(|s| s.target = vec![target.clone()]).await;
    with_target.drain_sync().await;
    assert_eq!(vault.users().len(), 2, "{:?}", vault.calls());

    // The scope widened to everyone: the third user is queued at start.
    let everyone = scim_bridge::config::TargetSettings { scope: None, ..target };
    let widened = app.restarted(|s| s.target = vec![everyone.clone()]).await;
    widened.drain_sync().await;
    assert_eq!(vault.users().len(), 3);

    // The same scope again: nothing is queued.
    let same = app.restarted(|s| s.target = vec![everyone]).await;
    assert!(same.store.sync_rows().await.unwrap().is_empty());
}
