//! `scim-bridge check --target T --canary EMAIL` (issue 29), through the real binary against every
//! registered vendor's fake: every stage carried out and read back, the GUESSes reported, the
//! canary cleaned up, and the refusals that keep it from hurting a tenant.
use crate::connectors::{config_file, run};
use crate::fake_vendors::AnyFake;
use crate::targets::target_for;
use scim_bridge::config::{TargetKind, TargetMode, TargetSettings};
use serde_json::Value;

const CANARY: &str = "canary@example.com";

async fn canary(config: std::path::PathBuf, args: &[&str]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&config, &args)
    })
    .await
    .unwrap()
}

fn setup(
    kind: TargetKind,
    uri: &str,
    dir: &std::path::Path,
    edit: impl FnOnce(TargetSettings) -> TargetSettings,
) -> std::path::PathBuf {
    let target = edit(target_for(kind, uri, dir));
    let db = format!("sqlite://{}", dir.join("canary.db").display());
    config_file(dir, &db, &[target])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_runs_end_to_end_at_every_vendor_and_cleans_up() {
    for &kind in TargetKind::ALL {
        let (server, fake) = AnyFake::start(kind).await;
        let dir = tempfile::tempdir().unwrap();
        let config = setup(kind, &server.uri(), dir.path(), |t| t);
        let name = kind.name();
        let (ok, out, err) = canary(
            config,
            &["check", "--target", name, "--canary", CANARY, "--format", "json"],
        )
        .await;
        assert!(ok, "{kind:?}: {out}{err}\n{:?}", fake.calls());
        let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let stages: Vec<&str> = report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stage"].as_str().unwrap())
            .collect();
        assert_eq!(
            stages,
            ["create", "update", "rename", "deactivate", "reactivate", "remove"],
            "{kind:?}: {out}"
        );
        for stage in report["stages"].as_array().unwrap() {
            assert_eq!(stage["ok"], true, "{kind:?}: {stage}");
            assert_ne!(stage["verdict"], "contradicted", "{kind:?}: {stage}");
        }
        assert_eq!(report["cleaned_up"], true, "{kind:?}");
        assert_eq!(report["findings"].as_array().unwrap().len(), 5, "{kind:?}: {out}");
        // The vendor holds the canary only as removal leaves it: gone, or kept deactivated.
        let held = fake.held();
        assert!(held.iter().all(|u| !u.active), "{kind:?}: {held:?}");
        assert!(
            held.iter().all(|u| u.key == "canary.renamed@example.com"),
            "{kind:?}: renamed in place, no second user: {held:?}"
        );
        assert_eq!(fake.duplicate_creates(), 0, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_prints_each_stage_and_what_the_tenant_answered() {
    let (server, _fake) = AnyFake::start(TargetKind::Docusign).await;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(TargetKind::Docusign, &server.uri(), dir.path(), |t| t);
    let (ok, out, err) = canary(config, &["check", "--target", "docusign", "--canary", CANARY]).await;
    assert!(ok, "{out}{err}");
    let heads: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        heads,
        [
            "ok check",
            "ok create",
            "ok update",
            "ok rename",
            "ok deactivate",
            "ok reactivate",
            "ok remove",
            "what this",
            "cleaned up:"
        ],
        "{out}"
    );
    assert!(out.contains("read back: found id ds-"), "{out}");
    assert!(out.contains("a re-activated user, read back"), "{out}");
    assert!(!out.contains("BEGIN RSA"), "no secret printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_refuses_observe_mode_an_address_the_tenant_has_and_a_scim_users_address() {
    let (server, fake) = AnyFake::start(TargetKind::Eloqua).await;
    let dir = tempfile::tempdir().unwrap();
    let observing = setup(TargetKind::Eloqua, &server.uri(), dir.path(), |t| TargetSettings {
        mode: TargetMode::Observe,
        ..t
    });
    let (ok, _, err) = canary(observing, &["check", "--target", "eloqua", "--canary", CANARY]).await;
    assert!(!ok && err.contains("observe mode"), "{err}");
    assert!(fake.calls().is_empty(), "nothing called: {:?}", fake.calls());

    let config = setup(TargetKind::Eloqua, &server.uri(), dir.path(), |t| t);
    fake.seed_owned(7, CANARY, "Real", "Person", true);
    let (ok, _, err) = canary(config.clone(), &["check", "--target", "eloqua", "--canary", CANARY]).await;
    assert!(
        !ok && err.contains("already has canary@example.com") && err.contains("--yes"),
        "{err}"
    );
    let writes: Vec<String> = fake.calls().into_iter().filter(|c| !c.starts_with("GET")).collect();
    assert!(writes.is_empty(), "nothing written: {writes:?}");

    // With --yes the existing user goes through the run (adopted) and is removed afterwards.
    let (ok, out, err) = canary(
        config.clone(),
        &["check", "--target", "eloqua", "--canary", CANARY, "--yes"],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("adopt"), "{out}");

    // An address a SCIM user has: `serve` would reconcile it while the canary changes it.
    let db = format!("sqlite://{}", dir.path().join("canary.db").display());
    let app = crate::helpers::spawn_app_with(|s| s.database.url = db).await;
    app.create_user(&crate::plan::person("canary")).await;
    let (ok, _, err) = canary(config.clone(), &["check", "--target", "eloqua", "--canary", CANARY]).await;
    assert!(!ok && err.contains("is a SCIM user here"), "{err}");

    let (ok, _, err) = canary(
        config.clone(),
        &["check", "--target", "eloqua", "--canary", "not-an-address"],
    )
    .await;
    assert!(!ok && err.contains("is not an e-mail address"), "{err}");
    let (ok, _, err) = canary(config, &["check", "--target", "nowhere", "--canary", CANARY]).await;
    assert!(!ok && err.contains("no target named 'nowhere'"), "{err}");
}

/// DocuSign without SSO keeps a user's e-mail whatever an administrator sends: the canary reports
/// the refusal as what the tenant answered, carries on under the old address, and cleans up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_reports_a_rename_the_tenant_refuses_and_still_cleans_up() {
    let (server, fake) = AnyFake::start(TargetKind::Docusign).await;
    let AnyFake::Vendor(vendor) = &fake else { unreachable!() };
    vendor.state.lock().unwrap().docusign_sso = false;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(TargetKind::Docusign, &server.uri(), dir.path(), |t| t);
    let (ok, out, err) = canary(
        config,
        &["check", "--target", "docusign", "--canary", CANARY, "--format", "json"],
    )
    .await;
    assert!(ok, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let rename = &report["stages"][2];
    assert_eq!(
        (rename["stage"].as_str(), rename["ok"].as_bool()),
        (Some("rename"), Some(false)),
        "{rename}"
    );
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["guess"] == "a change of e-mail/username")
        .unwrap();
    assert!(
        finding["answer"].as_str().unwrap().starts_with("refused: ")
            && finding["answer"]
                .as_str()
                .unwrap()
                .contains("DocuSign keeps the e-mail"),
        "{finding}"
    );
    assert_eq!(report["cleaned_up"], true);
    let held = fake.held();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!((held[0].key.as_str(), held[0].active), (CANARY, false));
}

/// With entitlement rules the canary is taken as a member of the first rule's SCIM group: the
/// grant is made with the create and read back at each stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_checks_the_first_rules_grant() {
    let (server, fake) = crate::fake_vendors::FakeVendor::start(crate::fake_vendors::Vendor::Cyberark).await;
    fake.add_group("Auditors");
    let dir = tempfile::tempdir().unwrap();
    let rules = "[[entitlement]]\ngroup = \"Vault Auditors\"\nvault_groups = [\"Auditors\"]\n";
    let target = crate::targets::target_with(TargetKind::Cyberark, &server.uri(), dir.path(), rules);
    let db = format!("sqlite://{}", dir.path().join("canary.db").display());
    let config = config_file(dir.path(), &db, &[target]);
    let (ok, out, err) = canary(config, &["check", "--target", "cyberark", "--canary", CANARY]).await;
    assert!(ok, "{out}{err}\n{:?}", fake.calls());
    assert!(
        out.contains("grants       as a member of \"Vault Auditors\": vault group Auditors"),
        "{out}"
    );
    assert!(out.contains("groups Auditors"), "read back in the group: {out}");
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.starts_with("POST /PasswordVault/API/UserGroups/100/Members")),
        "{:?}",
        fake.calls()
    );
}
