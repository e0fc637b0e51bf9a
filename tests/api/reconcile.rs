//! One decision (docs/architecture.md, "Observe, decide, apply"): what `sync plan` says is what
//! the write path does. Each test runs a case that used to differ against a stateful fake: the
//! plan, then write mode, then the plan again (a settled user plans as in sync).
use crate::fake_vendors::*;
use crate::fake_w365::{FakeWorkspace365, VendorUser};
use crate::helpers::*;
use crate::plan::{is_read, person, plan};
use crate::targets::{target_for, w365_target};
use scim_bridge::config::{OnDelete, TargetKind};
use serde_json::json;

/// The plan's line for `name@example.com`.
fn line_of<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{name}@example.com")))
        .unwrap_or_else(|| panic!("no line for {name}: {out}"))
}

#[tokio::test]
async fn workspace365_a_user_the_portal_holds_is_adopted_and_updated_as_planned_never_created_or_reactivated() {
    let (server, fake) = FakeWorkspace365::start(std::time::Duration::ZERO).await;
    // Made in the portal before the bridge, and deactivated there by an administrator.
    fake.state.lock().unwrap().users.insert(
        "held@example.com".into(),
        VendorUser {
            first_name: "Old".into(),
            last_name: "Name".into(),
            active: false,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let targets = vec![w365_target("w365", None, &format!("{}/Provisioning", server.uri()))];
    let app = spawn_app_with(|s| s.target = targets.clone()).await;
    app.create_user(&person("held")).await;

    let (code, out, err) = plan(dir.path(), &app, &targets, &["--target", "w365"]).await;
    assert_eq!(code, 2, "{out}{err}");
    let planned = line_of(&out, "held");
    assert!(planned.contains("adopt held@example.com; update "), "{out}");
    assert!(!planned.contains("activate") && !planned.contains("create"), "{out}");

    let before = fake.calls().len();
    app.drain_sync().await;
    let written: Vec<String> = fake.calls()[before..].to_vec();
    assert_eq!(
        written,
        [
            "PUT /Provisioning/example/User/held@example.com/Validate/",
            "PUT /Provisioning/example/User/held@example.com/"
        ]
    );
    assert!(fake.created().is_empty(), "no create with a random password");
    let held = &fake.users()["held@example.com"];
    assert_eq!(
        (held.first_name.as_str(), held.active),
        ("held", false),
        "updated, not reactivated"
    );

    let (code, out, _) = plan(dir.path(), &app, &targets, &["--target", "w365"]).await;
    assert_eq!(code, 0, "settled: {out}");
}

#[tokio::test]
async fn docusign_a_held_user_with_equal_fields_is_adopted_as_planned_with_no_put() {
    let (server, fake) = FakeVendor::start(Vendor::Docusign).await;
    fake.seed(
        "ds-held",
        json!({"userId": "ds-held", "userStatus": "Active", "userName": "held Test", "email": "held@example.com",
               "firstName": "held", "lastName": "Test", "jobTitle": "Engineer", "middleName": "", "suffixName": ""}),
    );
    let dir = tempfile::tempdir().unwrap();
    let targets = vec![target_for(TargetKind::Docusign, &server.uri(), dir.path())];
    let app = spawn_app_with(|s| s.target = targets.clone()).await;
    app.create_user(&person("held")).await;

    let (code, out, err) = plan(dir.path(), &app, &targets, &["--target", "docusign"]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(line_of(&out, "held").ends_with(" adopt ds-held"), "{out}");

    let before = fake.calls().len();
    app.drain_sync().await;
    let written: Vec<String> = fake.calls()[before..].to_vec();
    assert!(
        written.iter().all(|c| is_read(c)),
        "adopting equal fields writes nothing: {written:?}"
    );

    let (code, out, _) = plan(dir.path(), &app, &targets, &["--target", "docusign"]).await;
    assert_eq!(code, 0, "settled: {out}");
}

#[tokio::test]
async fn with_on_delete_deactivate_cyberark_and_eloqua_keep_a_deleted_user_disabled_and_plan_it_as_in_sync() {
    for (vendor, kind) in [
        (Vendor::Cyberark, TargetKind::Cyberark),
        (Vendor::Eloqua, TargetKind::Eloqua),
    ] {
        let (server, fake) = FakeVendor::start(vendor).await;
        let dir = tempfile::tempdir().unwrap();
        let mut target = target_for(kind, &server.uri(), dir.path());
        target.on_delete = Some(OnDelete::Deactivate);
        let targets = vec![target.clone()];
        let app = spawn_app_with(|s| s.target = targets.clone()).await;
        // Entra: create, a PATCH of e-mail and names, `active` "False", then DELETE.
        crate::connectors::entra_sequence(&app).await;
        let users = fake.users();
        let disabled =
            users[0].get("enableUser") == Some(&json!(false)) || users[0].get("isDisabled") == Some(&json!("True"));
        assert!(users.len() == 1 && disabled, "{kind:?}: {users:?}");

        let (code, out, err) = plan(dir.path(), &app, &targets, &["--target", &target.name]).await;
        assert_eq!(code, 0, "{kind:?}: {out}{err}");
        assert!(out.contains("1 in sync") && out.contains("0 delete"), "{kind:?}: {out}");
    }
}
