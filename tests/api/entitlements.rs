//! Entitlements (issue 30, docs/entitlements.md): SCIM group membership decides vendor groups,
//! DocuSign's permission profile and Workspace365's administrator flag, against fakes that keep
//! memberships as each vendor documents them (tests/api/fake_vendors.rs). Each vendor: a grant on
//! join, a revoke on leave, a grant made by hand that survives, a rename that changes nothing, a
//! user in two mapped groups, and a membership change of a group no rule names that costs nothing.
use crate::connectors::config_file;
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::plan::{person, plan};
use crate::targets::target_with;
use scim_bridge::config::{TargetKind, TargetMode};
use serde_json::{json, Value};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");

async fn group(app: &TestApp, name: &str) -> String {
    let created = app
        .post("/Groups", &json!({"schemas": [GROUP_SCHEMA], "displayName": name}))
        .await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn patch_group(app: &TestApp, group: &str, operation: Value) {
    let response = app
        .patch(
            &format!("/Groups/{group}"),
            &json!({"schemas": [PATCH_OP], "Operations": [operation]}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

async fn join(app: &TestApp, group: &str, user: &str) {
    patch_group(
        app,
        group,
        json!({"op": "add", "path": "members", "value": [{"value": user}]}),
    )
    .await;
}

async fn leave(app: &TestApp, group: &str, user: &str) {
    patch_group(
        app,
        group,
        json!({"op": "remove", "path": format!("members[value eq \"{user}\"]")}),
    )
    .await;
}

async fn rename(app: &TestApp, group: &str, name: &str) {
    patch_group(
        app,
        group,
        json!({"op": "replace", "path": "displayName", "value": name}),
    )
    .await;
}

async fn user(app: &TestApp, name: &str) -> String {
    app.create_user(&person(name)).await["id"].as_str().unwrap().to_owned()
}

/// The vendors with groups: the fake, the rule key naming its groups, the word `sync plan` uses,
/// and the call that adds a member (its path with the group's id).
const GROUP_VENDORS: [(Vendor, TargetKind, &str, &str); 3] = [
    (Vendor::Cyberark, TargetKind::Cyberark, "vault_groups", "vault group"),
    (Vendor::Docusign, TargetKind::Docusign, "groups", "group"),
    (Vendor::Eloqua, TargetKind::Eloqua, "security_groups", "security group"),
];

fn adds(vendor: Vendor, group_id: &str) -> String {
    match vendor {
        Vendor::Cyberark => format!("POST /PasswordVault/API/UserGroups/{group_id}/Members/"),
        Vendor::Docusign => format!("PUT /restapi/v2.1/accounts/{DOCUSIGN_ACCOUNT}/groups/{group_id}/users"),
        Vendor::Eloqua => format!("PATCH /api/REST/2.0/system/security/group/{group_id}/users"),
        Vendor::Esign => unreachable!(),
    }
}

fn removes(vendor: Vendor, group_id: &str, member: &str) -> String {
    match vendor {
        Vendor::Cyberark => format!("DELETE /PasswordVault/API/UserGroups/{group_id}/Members/{member}/"),
        Vendor::Docusign => format!("DELETE /restapi/v2.1/accounts/{DOCUSIGN_ACCOUNT}/groups/{group_id}/users"),
        Vendor::Eloqua => format!("PATCH /api/REST/2.0/system/security/group/{group_id}/users"),
        Vendor::Esign => unreachable!(),
    }
}

fn writes(calls: &[String]) -> Vec<String> {
    calls.iter().filter(|c| !crate::plan::is_read(c)).cloned().collect()
}

#[tokio::test]
async fn membership_grants_and_revokes_vendor_groups_and_leaves_the_rest_alone() {
    for (vendor, kind, key, _) in GROUP_VENDORS {
        let (server, fake) = FakeVendor::start(vendor).await;
        if vendor == Vendor::Docusign {
            fake.add_profile("DS Sender");
        }
        let auditors = fake.add_group("Auditors");
        let admins = fake.add_group("Admins");
        fake.add_group("Everyone");
        let dir = tempfile::tempdir().unwrap();
        let rules = format!(
            "[[entitlement]]\ngroup = \"Vault Auditors\"\n{key} = [\"Auditors\"]\n\
             [[entitlement]]\ngroup = \"Vault Admins\"\n{key} = [\"Admins\"]\n"
        );
        let target = target_with(kind, &server.uri(), dir.path(), &rules);
        let app = spawn_app_with(|s| s.target = vec![target]).await;
        let vault_auditors = group(&app, "Vault Auditors").await;
        let vault_admins = group(&app, "Vault Admins").await;
        let unmapped = group(&app, "Coffee club").await;
        let ann = user(&app, "ann").await;
        app.drain_sync().await;
        let key = "ann@example.com";
        assert!(fake.groups_of(key).is_empty(), "{vendor:?}: no rule matches yet");

        join(&app, &vault_auditors, &ann).await;
        app.drain_sync().await;
        assert_eq!(fake.groups_of(key), ["Auditors"], "{vendor:?}: granted on join");
        assert!(
            fake.calls().contains(&adds(vendor, &auditors)),
            "{vendor:?}: {:?}",
            fake.calls()
        );

        fake.grant_by_hand(key, "Everyone");
        join(&app, &vault_admins, &ann).await;
        app.drain_sync().await;
        assert_eq!(
            fake.groups_of(key),
            ["Admins", "Auditors", "Everyone"],
            "{vendor:?}: two mapped groups, and the one granted by hand"
        );

        // A rename at the IdP and a group no rule names: no row, no vendor call.
        let before = fake.calls().len();
        rename(&app, &vault_auditors, "Vault Auditors EU").await;
        join(&app, &unmapped, &ann).await;
        assert!(
            app.store.sync_rows().await.unwrap().is_empty(),
            "{vendor:?}: nothing queued"
        );
        app.drain_sync().await;
        assert_eq!(fake.calls().len(), before, "{vendor:?}: {:?}", &fake.calls()[before..]);

        leave(&app, &vault_auditors, &ann).await;
        app.drain_sync().await;
        assert_eq!(
            fake.groups_of(key),
            ["Admins", "Everyone"],
            "{vendor:?}: revoked on leave (renamed group)"
        );
        assert!(
            fake.calls().contains(&removes(vendor, &auditors, key)),
            "{vendor:?}: {:?}",
            fake.calls()
        );

        // Deleting a mapped group at the IdP revokes what it granted.
        assert_eq!(app.delete(&format!("/Groups/{vault_admins}")).await.status(), 204);
        app.drain_sync().await;
        assert_eq!(
            fake.groups_of(key),
            ["Everyone"],
            "{vendor:?}: the group went, so did the grant"
        );
        assert!(
            fake.calls().contains(&removes(vendor, &admins, key)),
            "{vendor:?}: {:?}",
            fake.calls()
        );
        assert!(fake.violations().is_empty(), "{vendor:?}: {:?}", fake.violations());
        assert!(app.store.sync_rows().await.unwrap().is_empty());
    }
}

/// A vendor group deleted by hand: the row fails once with the vendor's words (listing the groups
/// it has) and waits as dead, with no retry loop; and a group the IdP creates after the rule named
/// it starts granting then.
#[tokio::test]
async fn a_vendor_group_deleted_by_hand_fails_the_row_with_the_vendors_words_and_a_late_scim_group_grants() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    fake.add_group("Auditors");
    let dir = tempfile::tempdir().unwrap();
    let rules = "[[entitlement]]\ngroup = \"Vault Auditors\"\nvault_groups = [\"Auditors\"]\n";
    let target = target_with(TargetKind::Cyberark, &server.uri(), dir.path(), rules);
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let ann = user(&app, "ann").await;
    // The SCIM group is created after the rule named it: it grants from then on.
    let auditors = group(&app, "Vault Auditors").await;
    join(&app, &auditors, &ann).await;
    app.drain_sync().await;
    assert_eq!(fake.groups_of("ann@example.com"), ["Auditors"]);

    fake.delete_group("Auditors");
    let bob = user(&app, "bob").await;
    join(&app, &auditors, &bob).await;
    app.drain_sync().await;
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].state.as_str(), "dead", "{rows:?}");
    let error = rows[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("vault group 'Auditors'") && error.contains("Group was not found"),
        "{error}"
    );
    let listings = fake.calls().iter().filter(|c| c.ends_with("/API/UserGroups")).count();
    app.drain_sync().await;
    let again = fake.calls().iter().filter(|c| c.ends_with("/API/UserGroups")).count();
    assert_eq!(listings, again, "no loop");
}

/// DocuSign: the first matching rule sets the permission profile, the default covers users in no
/// mapped group, the bodies carry `permissionProfileId`, and a group's adds go out as one call
/// for the batch.
#[tokio::test]
async fn docusign_profiles_follow_the_first_matching_rule_and_group_adds_are_one_call_per_group() {
    let (server, fake) = FakeVendor::start(Vendor::Docusign).await;
    fake.add_profile("DS Sender");
    fake.add_profile("Sender");
    fake.add_profile("Account Admin");
    fake.add_profile("DS Viewer");
    let senders_group = fake.add_group("Senders");
    fake.add_group("Everyone");
    let dir = tempfile::tempdir().unwrap();
    let rules =
        "[[entitlement]]\ngroup = \"DocuSign Senders\"\npermission_profile = \"Sender\"\ngroups = [\"Senders\"]\n\
                 [[entitlement]]\ngroup = \"DocuSign Admins\"\npermission_profile = \"Account Admin\"\n\
                 [entitlement_default]\npermission_profile = \"DS Viewer\"\n";
    let target = target_with(TargetKind::Docusign, &server.uri(), dir.path(), rules);
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let senders = group(&app, "DocuSign Senders").await;
    let admins = group(&app, "DocuSign Admins").await;
    let (ann, bob) = (user(&app, "ann").await, user(&app, "bob").await);
    user(&app, "cy").await;
    join(&app, &senders, &ann).await;
    join(&app, &senders, &bob).await;
    join(&app, &admins, &bob).await;
    app.drain_sync().await;
    let profile = |name: &str| fake.profile_of(&format!("{name}@example.com"));
    assert_eq!(profile("ann").as_deref(), Some("Sender"));
    assert_eq!(
        profile("bob").as_deref(),
        Some("Sender"),
        "the first matching rule wins"
    );
    assert_eq!(profile("cy").as_deref(), Some("DS Viewer"), "the default");
    assert_eq!(fake.groups_of("ann@example.com"), ["Senders"]);
    assert_eq!(fake.groups_of("bob@example.com"), ["Senders"]);
    let group_adds = fake
        .calls()
        .iter()
        .filter(|c| **c == adds(Vendor::Docusign, &senders_group))
        .count();
    assert_eq!(group_adds, 1, "one call for the batch: {:?}", fake.calls());

    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    // A membership removed by hand at DocuSign (which the bridge does not read for linked
    // users) comes back with `sync resync`. (Resync also re-sends every user's active state,
    // which DocuSign answers "already exists" for an open user: a known cost, not a change.)
    fake.revoke_by_hand("ann@example.com", "Senders");
    app.store.resync("docusign", |_| {}).await.unwrap();
    app.drain_sync().await;
    assert_eq!(fake.groups_of("ann@example.com"), ["Senders"], "{:?}", fake.calls());

    // Leaving: the next rule's profile, or the default; the vendor group goes.
    leave(&app, &senders, &bob).await;
    leave(&app, &senders, &ann).await;
    app.drain_sync().await;
    assert_eq!(profile("bob").as_deref(), Some("Account Admin"));
    assert_eq!(profile("ann").as_deref(), Some("DS Viewer"));
    assert!(fake.groups_of("ann@example.com").is_empty());
    assert!(app.store.sync_rows().await.unwrap().is_empty());
}

/// Workspace365: members of the rule's group are administrators; leaving makes them not; an
/// administrator made in the portal whom no rule ever made one stays one.
#[tokio::test]
async fn workspace365_administrators_follow_the_group_and_a_portal_administrator_stays() {
    let (server, fake) = crate::fake_w365::FakeWorkspace365::start(std::time::Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let rules = "[[entitlement]]\ngroup = \"W365 Admins\"\nadministrator = true\n";
    let target = target_with(TargetKind::Workspace365, &server.uri(), dir.path(), rules);
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let admins = group(&app, "W365 Admins").await;
    let ann = user(&app, "ann").await;
    user(&app, "boss").await;
    app.drain_sync().await;
    fake.state
        .lock()
        .unwrap()
        .administrators
        .insert("boss@example.com".into());

    join(&app, &admins, &ann).await;
    app.drain_sync().await;
    let administrators = || fake.state.lock().unwrap().administrators.clone();
    assert!(administrators().contains("ann@example.com"), "{:?}", fake.calls());

    // A rename at the IdP changes nothing: no row, no call.
    let before = fake.calls().len();
    rename(&app, &admins, "Workspace Administrators").await;
    assert!(app.store.sync_rows().await.unwrap().is_empty());
    app.drain_sync().await;
    assert_eq!(fake.calls().len(), before);

    leave(&app, &admins, &ann).await;
    app.drain_sync().await;
    assert!(
        !administrators().contains("ann@example.com"),
        "revoked: {:?}",
        fake.calls()
    );
    assert!(
        administrators().contains("boss@example.com"),
        "the portal's administrator stays"
    );
    assert!(app.store.sync_rows().await.unwrap().is_empty());
}

/// Observe mode records the entitlement steps, and `sync plan` prints them, at every vendor that
/// has entitlements.
#[tokio::test]
async fn observe_mode_and_sync_plan_show_the_grants_at_every_vendor() {
    let cases: [(TargetKind, &str, &str); 4] = [
        (
            TargetKind::Cyberark,
            "vault_groups = [\"Auditors\"]",
            "+ vault group Auditors",
        ),
        (
            TargetKind::Docusign,
            "groups = [\"Auditors\"]\npermission_profile = \"Sender\"",
            "+ group Auditors",
        ),
        (
            TargetKind::Eloqua,
            "security_groups = [\"Auditors\"]",
            "+ security group Auditors",
        ),
        (
            TargetKind::Workspace365,
            "administrator = true",
            r#"IsAdministrator: (not read) -> "true""#,
        ),
    ];
    for (kind, grant, shown) in cases {
        let (server, fake) = crate::fake_vendors::AnyFake::start(kind).await;
        if let crate::fake_vendors::AnyFake::Vendor(fake) = &fake {
            if kind == TargetKind::Docusign {
                fake.add_profile("DS Sender");
                fake.add_profile("Sender");
            }
            fake.add_group("Auditors");
        }
        let dir = tempfile::tempdir().unwrap();
        let rules = format!("[[entitlement]]\ngroup = \"Auditors\"\n{grant}\n");
        let target = target_with(kind, &server.uri(), dir.path(), &rules);
        let app = spawn_app_with(|s| s.target = vec![target.clone()]).await;
        let auditors = group(&app, "Auditors").await;
        let ann = user(&app, "ann").await;
        app.drain_sync().await;
        let mut observing = target.clone();
        observing.mode = TargetMode::Observe;
        let app = app.restarted(|s| s.target = vec![observing.clone()]).await;
        join(&app, &auditors, &ann).await;
        app.drain_sync().await;
        let events = app.store.lookup(&ann, 5).await.unwrap().unwrap().events;
        let planned = events.iter().find(|e| e.action.as_str() == "planned");
        let note = planned.and_then(|e| e.note.clone()).unwrap_or_default();
        assert!(
            note.contains(shown),
            "{kind:?}: {note:?} {events:?} {:?}",
            app.store.sync_rows().await.unwrap()
        );
        let name = observing.name.clone();
        let (code, out, err) = plan(dir.path(), &app, &[observing], &["--target", &name]).await;
        assert_eq!(code, 2, "{kind:?}: changes pending\n{out}\n{err}");
        assert!(out.contains(shown), "{kind:?}: {out}\n{err}");
        assert!(
            writes(&fake.calls()).len() <= 2,
            "{kind:?}: only the first create: {:?}",
            fake.calls()
        );
    }
}

/// `scim-bridge check` resolves every vendor group and profile the rules name, naming one the
/// vendor does not have.
#[tokio::test]
async fn check_names_a_vendor_group_the_vendor_does_not_have() {
    let (server, fake) = FakeVendor::start(Vendor::Eloqua).await;
    fake.add_group("Advanced Users");
    let dir = tempfile::tempdir().unwrap();
    let rules =
        "[[entitlement]]\ngroup = \"Marketing Ops\"\nsecurity_groups = [\"Advanced Users\", \"Advnced Users\"]\n";
    let target = target_with(TargetKind::Eloqua, &server.uri(), dir.path(), rules);
    let config = config_file(
        dir.path(),
        &format!("sqlite://{}", dir.path().join("b.db").display()),
        &[target],
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(["check", "--target", "eloqua"])
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
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Eloqua has no security group named 'Advnced Users' (it has: Advanced Users)"),
        "{text}"
    );
}

/// Revoking an administrator's right the rules granted (a `guarded` vault group, Workspace365's
/// administrator flag) is a removal: past `max_removals` it is held for an operator, and
/// `sync release` carries it out.
#[tokio::test]
async fn revoking_a_guarded_grant_meets_the_removal_guard() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    fake.add_group("Vault Admins");
    let dir = tempfile::tempdir().unwrap();
    let rules = "max_removals = 1\n[[entitlement]]\ngroup = \"PAM Admins\"\nvault_groups = [\"Vault Admins\"]\nguarded = true\n";
    let target = target_with(TargetKind::Cyberark, &server.uri(), dir.path(), rules);
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let admins = group(&app, "PAM Admins").await;
    let (ann, bob) = (user(&app, "ann").await, user(&app, "bob").await);
    join(&app, &admins, &ann).await;
    join(&app, &admins, &bob).await;
    app.drain_sync().await;
    assert_eq!(fake.groups_of("bob@example.com"), ["Vault Admins"]);

    patch_group(&app, &admins, json!({"op": "replace", "path": "members", "value": []})).await;
    app.drain_sync().await;
    let still: Vec<bool> = ["ann@example.com", "bob@example.com"]
        .iter()
        .map(|k| !fake.groups_of(k).is_empty())
        .collect();
    assert_eq!(
        still.iter().filter(|s| **s).count(),
        1,
        "one revoked, one held: {:?}",
        fake.calls()
    );
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].state.as_str(), "held", "{rows:?}");

    assert_eq!(app.store.release_held("cyberark", None).await.unwrap(), 1);
    app.drain_sync().await;
    assert!(fake.groups_of("ann@example.com").is_empty() && fake.groups_of("bob@example.com").is_empty());
}

/// A rule added to the file (here at a restart) takes effect for the group's existing members at
/// once, not at each one's next change.
#[tokio::test]
async fn a_rule_added_later_is_taken_up_at_start() {
    let (server, fake) = FakeVendor::start(Vendor::Eloqua).await;
    fake.add_group("Advanced Users");
    let dir = tempfile::tempdir().unwrap();
    let plain = target_with(TargetKind::Eloqua, &server.uri(), dir.path(), "");
    let app = spawn_app_with(|s| s.target = vec![plain]).await;
    let ops = group(&app, "Marketing Ops").await;
    let ann = user(&app, "ann").await;
    join(&app, &ops, &ann).await;
    app.drain_sync().await;
    assert!(fake.groups_of("ann@example.com").is_empty());

    let rules = "[[entitlement]]\ngroup = \"Marketing Ops\"\nsecurity_groups = [\"Advanced Users\"]\n";
    let ruled = target_with(TargetKind::Eloqua, &server.uri(), dir.path(), rules);
    let app = app.restarted(|s| s.target = vec![ruled]).await;
    app.drain_sync().await;
    assert_eq!(
        fake.groups_of("ann@example.com"),
        ["Advanced Users"],
        "{:?}",
        fake.calls()
    );
}

/// docs/okta.md and docs/entra.md: the group requests each IdP sends (docs/idp-behaviour.md) grant
/// and revoke as the guides say: Okta's push to CyberArk (create, member add with `display`,
/// rename by a path-less replace, delete), Entra's to Workspace365 (capitalised ops, a removal by
/// value without the flag).
#[tokio::test]
async fn okta_and_entra_group_pushes_grant_and_revoke_as_the_guides_say() {
    let (vault, cyberark) = FakeVendor::start(Vendor::Cyberark).await;
    cyberark.add_group("Auditors");
    let (portal, w365) = crate::fake_w365::FakeWorkspace365::start(std::time::Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let vault_rules = "[[entitlement]]\ngroup = \"Vault Auditors\"\nvault_groups = [\"Auditors\"]\n";
    let w365_rules = "[[entitlement]]\ngroup = \"W365 Admins\"\nadministrator = true\n";
    let targets = vec![
        target_with(TargetKind::Cyberark, &vault.uri(), dir.path(), vault_rules),
        target_with(TargetKind::Workspace365, &portal.uri(), dir.path(), w365_rules),
    ];
    let app = spawn_app_with(|s| s.target = targets).await;
    let ann = user(&app, "ann").await;

    // Okta: POST /Groups with no members, then a member add carrying `display`.
    let created = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Vault Auditors", "members": []}),
        )
        .await;
    let okta_group = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    patch_group(
        &app,
        &okta_group,
        json!({"op": "add", "path": "members", "value": [{"value": ann, "display": "ann@example.com"}]}),
    )
    .await;
    app.drain_sync().await;
    assert_eq!(cyberark.groups_of("ann@example.com"), ["Auditors"]);
    // Okta's rename: a replace without a path.
    patch_group(
        &app,
        &okta_group,
        json!({"op": "replace", "value": {"id": okta_group, "displayName": "Vault Auditors EMEA"}}),
    )
    .await;
    assert!(
        app.store.sync_rows().await.unwrap().is_empty(),
        "a rename queues nothing"
    );

    // Entra (no flag): capitalised op names, a removal by value.
    let entra_group = group(&app, "W365 Admins").await;
    patch_group(
        &app,
        &entra_group,
        json!({"op": "Add", "path": "members", "value": [{"value": ann}]}),
    )
    .await;
    app.drain_sync().await;
    let administrators = || w365.state.lock().unwrap().administrators.clone();
    assert!(administrators().contains("ann@example.com"));
    patch_group(
        &app,
        &entra_group,
        json!({"op": "Remove", "path": "members", "value": [{"value": ann}]}),
    )
    .await;
    app.drain_sync().await;
    assert!(!administrators().contains("ann@example.com"));

    // Okta unlinks the pushed group and deletes it at the bridge: the grant goes.
    assert_eq!(app.delete(&format!("/Groups/{okta_group}")).await.status(), 204);
    app.drain_sync().await;
    assert!(cyberark.groups_of("ann@example.com").is_empty());
    assert!(app.store.sync_rows().await.unwrap().is_empty());
}

/// A deactivated user's grants are left as they are, also when their groups change meanwhile;
/// reactivated, they are brought up to date.
#[tokio::test]
async fn a_deactivated_users_grants_are_left_as_they_are_until_reactivated() {
    let (server, fake) = FakeVendor::start(Vendor::Eloqua).await;
    fake.add_group("Advanced Users");
    let dir = tempfile::tempdir().unwrap();
    let rules = "[[entitlement]]\ngroup = \"Marketing Ops\"\nsecurity_groups = [\"Advanced Users\"]\n";
    let target = target_with(TargetKind::Eloqua, &server.uri(), dir.path(), rules);
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let ops = group(&app, "Marketing Ops").await;
    let ann = user(&app, "ann").await;
    join(&app, &ops, &ann).await;
    app.drain_sync().await;
    assert_eq!(fake.groups_of("ann@example.com"), ["Advanced Users"]);

    app.patch_user(&ann, json!([{"op": "replace", "path": "active", "value": false}]))
        .await;
    leave(&app, &ops, &ann).await;
    app.drain_sync().await;
    assert_eq!(fake.users()[0]["isDisabled"], "True");
    assert_eq!(fake.groups_of("ann@example.com"), ["Advanced Users"], "left as it was");

    app.patch_user(&ann, json!([{"op": "replace", "path": "active", "value": true}]))
        .await;
    app.drain_sync().await;
    assert_eq!(fake.users()[0]["isDisabled"], "False");
    assert!(
        fake.groups_of("ann@example.com").is_empty(),
        "brought up to date: {:?}",
        fake.calls()
    );
}
