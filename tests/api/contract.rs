//! One contract for every vendor (issue 29), run through the registry (`TargetKind::ALL`) against
//! fakes that answer as each vendor documents (tests/api/fake_vendors.rs, fake_w365.rs): what an
//! administrator may count on whichever vendor a target names. A vendor added to the registry
//! runs here as soon as `AnyFake` knows it (it does not compile before).
use crate::fake_vendors::{AnyFake, HeldUser};
use crate::helpers::*;
use crate::plan::person;
use crate::targets::target_for;
use scim_bridge::config::TargetKind;
use serde_json::{json, Value};

/// A fresh bridge with one target of `kind` at a fresh fake.
async fn bridge_at(kind: TargetKind) -> (wiremock::MockServer, AnyFake, TestApp, tempfile::TempDir) {
    let (server, fake) = AnyFake::start(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let target = target_for(kind, &server.uri(), dir.path());
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    (server, fake, app, dir)
}

fn only(kind: TargetKind, fake: &AnyFake) -> HeldUser {
    let held = fake.held();
    assert_eq!(
        held.len(),
        1,
        "{kind:?}: one user, no second one: {held:?}\n{:?}",
        fake.calls()
    );
    held.into_iter().next().unwrap()
}

fn inactive(name: &str) -> Value {
    let mut user = person(name);
    user["active"] = json!(false);
    user
}

async fn assert_settled(kind: TargetKind, app: &TestApp, fake: &AnyFake) {
    let rows = app.store.sync_rows().await.unwrap();
    assert!(
        rows.is_empty(),
        "{kind:?}: nothing left waiting: {rows:?}\n{:?}",
        fake.calls()
    );
}

/// Adopting a user the vendor already had sets what SCIM holds and keeps what only the vendor
/// sets (a permission or administrator flag made in its portal); so does every later push.
#[tokio::test]
async fn adoption_and_later_pushes_keep_what_only_the_vendor_sets() {
    for &kind in TargetKind::ALL {
        let (_server, fake, app, _dir) = bridge_at(kind).await;
        fake.seed_owned(7, "ann@example.com", "Old", "Lee", true);
        let id = app.create_user(&person("ann")).await["id"].as_str().unwrap().to_owned();
        app.drain_sync().await;
        let held = only(kind, &fake);
        assert_eq!((held.given.as_str(), held.active), ("ann", true), "{kind:?} adopted");
        assert!(held.owned_kept, "{kind:?}: adoption kept the vendor's own value");

        app.patch_user(
            &id,
            json!([{"op": "replace", "path": "name.givenName", "value": "Annie"}]),
        )
        .await;
        app.drain_sync().await;
        let held = only(kind, &fake);
        assert_eq!(held.given, "Annie", "{kind:?} pushed");
        assert!(held.owned_kept, "{kind:?}: a push kept the vendor's own value");
        assert_eq!(fake.duplicate_creates(), 0, "{kind:?}");
        assert_settled(kind, &app, &fake).await;
    }
}

/// A user deactivated by hand at the vendor is active again after `sync resync`, whether or not
/// the vendor's state can be read.
#[tokio::test]
async fn drift_of_active_is_repaired_by_sync_resync() {
    for &kind in TargetKind::ALL {
        let (_server, fake, app, _dir) = bridge_at(kind).await;
        app.create_user(&person("mia")).await;
        app.drain_sync().await;
        fake.set_active_by_hand("mia@example.com", false);
        assert!(!only(kind, &fake).active, "{kind:?}: closed by hand");
        let queued = app.store.resync(kind.name(), |_| {}).await.unwrap();
        assert_eq!(queued, 1, "{kind:?}");
        app.drain_sync().await;
        assert!(only(kind, &fake).active, "{kind:?}: active again: {:?}", fake.calls());
        assert_settled(kind, &app, &fake).await;
    }
}

/// A create whose answer was lost, then a rename at the IdP before the retry: the retry finds the
/// user under the name the create was sent with and renames it; no second user.
#[tokio::test]
async fn a_rename_after_a_create_of_unknown_outcome_makes_no_second_user() {
    for &kind in TargetKind::ALL {
        let (_server, fake, app, _dir) = bridge_at(kind).await;
        fake.lose_next_create_answer();
        let id = app.create_user(&person("vic")).await["id"].as_str().unwrap().to_owned();
        app.drain_sync().await;
        assert_eq!(
            only(kind, &fake).key,
            "vic@example.com",
            "{kind:?}: the create went through"
        );
        assert_eq!(app.store.sync_rows().await.unwrap().len(), 1, "{kind:?}: the row waits");

        app.patch_user(
            &id,
            json!([{"op": "replace", "path": "userName", "value": "victor@example.com"},
                   {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "victor@example.com"}]),
        )
        .await;
        app.worker.clock().advance(std::time::Duration::from_secs(3600));
        app.drain_sync().await;
        assert_eq!(only(kind, &fake).key, "victor@example.com", "{kind:?}: renamed");
        assert_eq!(fake.duplicate_creates(), 0, "{kind:?}");
        assert_settled(kind, &app, &fake).await;
    }
}

/// An inactive IdP user is deactivated where the vendor already has an account for them, and not
/// created where it has none (created disabled where the create can say so: CyberArk).
#[tokio::test]
async fn an_inactive_user_is_deactivated_where_found_and_not_created_active_elsewhere() {
    for &kind in TargetKind::ALL {
        let (_server, fake, app, _dir) = bridge_at(kind).await;
        fake.seed_user(7, "rex@example.com", "rex", "Test", true);
        app.create_user(&inactive("rex")).await;
        app.create_user(&inactive("ida")).await;
        app.drain_sync().await;
        let held = fake.held();
        let rex = held.iter().find(|u| u.key == "rex@example.com").unwrap();
        assert!(
            !rex.active,
            "{kind:?}: the account found is deactivated: {:?}",
            fake.calls()
        );
        let ida = held.iter().find(|u| u.key == "ida@example.com");
        match kind.rules().new_user {
            scim_bridge::sync::reconcile::NewUser::AsAsked => {
                assert!(ida.is_some_and(|u| !u.active), "{kind:?}: created disabled")
            }
            _ => assert!(ida.is_none(), "{kind:?}: not created until activated: {held:?}"),
        }
        assert_settled(kind, &app, &fake).await;
    }
}

/// A mapped field SCIM holds nothing for is the vendor's: adoption and later pushes leave the
/// value set in its portal alone. Once SCIM sends a value the bridge owns the field, and clears it
/// when SCIM drops the value. Run at every vendor whose default mapping writes a field from one
/// SCIM attribute the tests can set and remove (Workspace365 maps none by default).
#[tokio::test]
async fn a_mapped_field_is_cleared_only_where_the_bridge_wrote_it() {
    let mut ran = Vec::new();
    for &kind in TargetKind::ALL {
        let Some((field, attribute)) = kind.fields().iter().find_map(|f| match f.default {
            Some(a @ ("title" | "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization")) => {
                Some((f.name, a))
            }
            _ => None,
        }) else {
            continue;
        };
        ran.push(kind);
        let (_server, fake, app, _dir) = bridge_at(kind).await;
        fake.seed_user(7, "liv@example.com", "Old", "Lee", true);
        fake.set_field("liv@example.com", field, "Set in the portal");
        let mut liv = person("liv");
        liv.as_object_mut().unwrap().remove("title");
        let id = app.create_user(&liv).await["id"].as_str().unwrap().to_owned();
        app.drain_sync().await;
        let value = || fake.field("liv@example.com", field);
        assert_eq!(
            value().as_deref(),
            Some("Set in the portal"),
            "{kind:?}: adoption left {field} alone"
        );
        app.patch_user(
            &id,
            json!([{"op": "replace", "path": "name.givenName", "value": "Olivia"}]),
        )
        .await;
        app.drain_sync().await;
        assert_eq!(only(kind, &fake).given, "Olivia", "{kind:?}");
        assert_eq!(
            value().as_deref(),
            Some("Set in the portal"),
            "{kind:?}: a push left {field} alone"
        );

        app.patch_user(&id, json!([{"op": "add", "path": attribute, "value": "From the IdP"}]))
            .await;
        app.drain_sync().await;
        assert_eq!(value().as_deref(), Some("From the IdP"), "{kind:?}: {field} written");
        app.patch_user(&id, json!([{"op": "remove", "path": attribute}])).await;
        app.drain_sync().await;
        assert_eq!(
            value(),
            None,
            "{kind:?}: {field} the bridge wrote is cleared: {:?}",
            fake.calls()
        );
        assert_settled(kind, &app, &fake).await;
    }
    assert_eq!(ran.len(), 4, "every vendor with such a default mapping: {ran:?}");
}
