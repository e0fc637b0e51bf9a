//! Every change queues its fan-out in its own transaction: one coalesced row per (user, target).
use crate::groups::GROUP_SCHEMA;
use crate::helpers::*;
use crate::targets::w365_target;
use scim_bridge::config::TargetSettings;
use serde_json::{json, Value};
use std::time::Duration;

fn target(name: &str, scope: Option<&str>) -> TargetSettings {
    w365_target(name, scope, "http://127.0.0.1:9/Provisioning")
}

/// (user id, target, generation) of every queued row.
async fn queued(app: &TestApp) -> Vec<(String, String, i64)> {
    app.store
        .sync_rows()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.resource_id, r.target, r.generation))
        .collect()
}

#[tokio::test]
async fn without_targets_nothing_is_queued() {
    let app = spawn_app().await;
    app.create_user(&user("a@x")).await;
    assert!(queued(&app).await.is_empty());
}

#[tokio::test]
async fn every_user_change_queues_one_row_per_target_and_repeats_coalesce() {
    let app = spawn_app_with(|s| s.target = vec![target("w365", None), target("other", None)]).await;
    let wakeup = app.store.sync_wakeup();
    let woken = wakeup.notified();
    let id = app.create_user(&user("a@x")).await["id"].as_str().unwrap().to_owned();
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("the worker is woken after the commit");
    assert_eq!(
        queued(&app).await,
        [(id.clone(), "other".into(), 1), (id.clone(), "w365".into(), 1)]
    );
    for title in ["a", "b", "c"] {
        app.patch_user(&id, json!([{"op": "replace", "path": "title", "value": title}]))
            .await;
    }
    app.put(
        &format!("/Users/{id}"),
        &json!({"schemas": [USER_SCHEMA], "userName": "a@x", "title": "d"}),
    )
    .await;
    // A PATCH that changes nothing queues nothing.
    app.patch_user(&id, json!([{"op": "replace", "path": "title", "value": "d"}]))
        .await;
    assert_eq!(
        queued(&app).await,
        [(id.clone(), "other".into(), 5), (id.clone(), "w365".into(), 5)]
    );
}

#[tokio::test]
async fn only_users_in_a_targets_scope_are_queued_for_it() {
    let app = spawn_app_with(|s| s.target = vec![target("eng", Some(r#"title eq "Engineer""#))]).await;
    let engineer = app
        .create_user(&json!({"schemas": [USER_SCHEMA], "userName": "e@x", "title": "engineer"}))
        .await;
    app.create_user(&json!({"schemas": [USER_SCHEMA], "userName": "s@x", "title": "Sales"}))
        .await;
    assert_eq!(
        queued(&app).await,
        [(engineer["id"].as_str().unwrap().to_owned(), "eng".into(), 1)]
    );
}

#[tokio::test]
async fn membership_changes_queue_members_for_group_scoped_targets_only() {
    let scoped = r#"groups.display eq "Workspace users""#;
    let app = spawn_app_with(|s| s.target = vec![target("w365", Some(scoped)), target("all", None)]).await;
    let id = app.create_user(&user("m@x")).await["id"].as_str().unwrap().to_owned();
    assert_eq!(queued(&app).await, [(id.clone(), "all".into(), 1)]);
    let group: Value = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Workspace users", "members": [{"value": id}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        queued(&app).await,
        [(id.clone(), "all".into(), 1), (id.clone(), "w365".into(), 1)]
    );
    let patch =
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]});
    assert_eq!(
        app.patch(&format!("/Groups/{}", group["id"].as_str().unwrap()), &patch)
            .await
            .status(),
        204
    );
    // The user left the scope: its waiting row moves on (a worker holding it looks again); "all" is
    // untouched.
    assert_eq!(
        queued(&app).await,
        [(id.clone(), "all".into(), 1), (id, "w365".into(), 2)]
    );
}

#[tokio::test]
async fn a_delete_moves_on_a_row_still_queued_for_a_user_not_yet_linked() {
    // The race this guards: a worker read the user, then the DELETE committed before the worker
    // recorded its `creating` link. The row must not be cleared by the create's success.
    let app = spawn_app_with(|s| s.target = vec![target("w365", None)]).await;
    let id = app.create_user(&user("d@x")).await["id"].as_str().unwrap().to_owned();
    assert_eq!(queued(&app).await, [(id.clone(), "w365".into(), 1)]);
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
    assert_eq!(queued(&app).await, [(id, "w365".into(), 2)]);
}
