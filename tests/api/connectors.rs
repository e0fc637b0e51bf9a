//! The contract suite every registered vendor runs, end to end: the Okta sequence (create, update,
//! deactivate, reactivate) and the Entra sequence (create, PATCH e-mail and name, deactivate,
//! delete) against the real server, ending with the vendor's stateful fake holding exactly the
//! expected users and no duplicate create. The vendors come from the registry
//! (`TargetKind::ALL`), so a new one is run as soon as it is registered. Also `on_delete`,
//! `link set` and `check`.
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::targets::target_for;
use scim_bridge::config::{TargetKind, TargetSettings};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn okta_user() -> Value {
    json!({"schemas": [USER_SCHEMA], "userName": "jane.doe@example.com",
           "name": {"givenName": "Jane", "familyName": "Doe"},
           "emails": [{"primary": true, "value": "jane.doe@example.com", "type": "work"}], "active": true})
}

/// Okta: POST, a full PUT with a new family name, then `active` false and true by PATCH.
async fn okta_sequence(app: &TestApp) {
    let id = app.create_user(&okta_user()).await["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    let mut updated = okta_user();
    updated["name"]["familyName"] = json!("Doe-Smith");
    assert_eq!(app.put(&format!("/Users/{id}"), &updated).await.status(), 200);
    app.drain_sync().await;
    app.patch_user(&id, json!([{"op": "replace", "value": {"active": false}}]))
        .await;
    app.drain_sync().await;
    app.patch_user(&id, json!([{"op": "replace", "value": {"active": true}}]))
        .await;
    app.drain_sync().await;
    assert!(
        app.store.sync_rows().await.unwrap().is_empty(),
        "every change was delivered"
    );
}

/// Entra: POST, one PATCH of the work e-mail and both names, `active` "False", DELETE.
pub async fn entra_sequence(app: &TestApp) {
    let mut user = okta_user();
    user["externalId"] = json!("0f7e1c7a-entra");
    let id = app.create_user(&user).await["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    app.patch_user(
        &id,
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "jane.smith@example.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Janet"},
            {"op": "Replace", "path": "name.familyName", "value": "Smith"},
        ]),
    )
    .await;
    app.drain_sync().await;
    app.patch_user(&id, json!([{"op": "Replace", "path": "active", "value": "False"}]))
        .await;
    app.drain_sync().await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
    app.drain_sync().await;
    assert!(
        app.store.sync_rows().await.unwrap().is_empty(),
        "every change was delivered"
    );
}

fn fields(users: &[Value], keys: &[&str]) -> Vec<Vec<Value>> {
    users
        .iter()
        .map(|u| keys.iter().map(|k| u[*k].clone()).collect())
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Sequence {
    Okta,
    Entra,
}

/// Runs `sequence` against the real server with `kind`'s stateful fake, and returns the fake's
/// users as `keys` of each once every change was delivered, with no duplicate create.
async fn run_contract(kind: TargetKind, sequence: Sequence, keys: &[&str]) -> (Vec<Vec<Value>>, AnyFake) {
    let dir = tempfile::tempdir().unwrap();
    let (server, fake) = AnyFake::start(kind).await;
    let target = crate::targets::deleting(target_for(kind, &server.uri(), dir.path()));
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    match sequence {
        Sequence::Okta => okta_sequence(&app).await,
        Sequence::Entra => entra_sequence(&app).await,
    }
    assert_eq!(fake.duplicate_creates(), 0, "{kind:?}: calls: {:?}", fake.calls());
    (fields(&fake.users(), keys), fake)
}

/// What a vendor's fake must hold after each sequence, and what else its calls must show.
struct Contract {
    keys: &'static [&'static str],
    okta: Value,
    entra: Value,
    okta_also: fn(&AnyFake),
    entra_also: fn(&AnyFake),
}

fn nothing_more(_: &AnyFake) {}

/// The contract of every registered vendor. The match has no fallback arm: a vendor added to the
/// registry (docs/adding-a-connector.md) does not compile here until its contract is written, and
/// the tests below run it because they iterate the registry.
fn contract(kind: TargetKind) -> Contract {
    match kind {
        TargetKind::Esign => Contract {
            keys: &["Username", "FirstName", "LastName", "Active"],
            okta: json!([["jane.doe@example.com", "Jane", "Doe-Smith", true]]),
            // eSign has no delete: a deleted user stays deactivated.
            entra: json!([["jane.smith@example.com", "Janet", "Smith", false]]),
            okta_also: nothing_more,
            entra_also: |fake| assert_eq!(fake.count("PUT /rest/v1/users/updateByUsername"), 1, "a rename"),
        },
        TargetKind::Cyberark => Contract {
            keys: &[
                "username",
                "enableUser",
                "userType",
                "location",
                "personalDetails",
                "internet",
            ],
            okta: json!([["jane.doe@example.com", true, "EPVUser", "\\",
                          {"firstName": "Jane", "lastName": "Doe-Smith"}, {"businessEmail": "jane.doe@example.com"}]]),
            entra: json!([]),
            okta_also: |fake| {
                let logons = fake.calls().iter().filter(|c| c.ends_with("/Logon/")).count();
                assert_eq!(logons, 1, "the session is cached");
            },
            entra_also: |fake| assert_eq!(fake.count("DELETE /PasswordVault/API/Users/1/"), 1),
        },
        TargetKind::Docusign => Contract {
            keys: &["userName", "email", "firstName", "lastName", "userStatus"],
            okta: json!([[
                "Jane Doe-Smith",
                "jane.doe@example.com",
                "Jane",
                "Doe-Smith",
                "ActivationSent"
            ]]),
            // DocuSign never deletes: a deleted user is closed.
            entra: json!([["Janet Smith", "jane.smith@example.com", "Janet", "Smith", "Closed"]]),
            okta_also: |fake| assert_eq!(fake.count("POST /oauth/token"), 1, "the token is cached"),
            entra_also: nothing_more,
        },
        TargetKind::Eloqua => Contract {
            keys: &["loginName", "emailAddress", "firstName", "lastName", "isDisabled"],
            okta: json!([[
                "jane.doe@example.com",
                "jane.doe@example.com",
                "Jane",
                "Doe-Smith",
                "False"
            ]]),
            entra: json!([]),
            okta_also: |fake| assert_eq!(fake.count("GET /id"), 1, "the API base is cached"),
            entra_also: nothing_more,
        },
        TargetKind::Workspace365 => Contract {
            keys: &["email", "firstName", "lastName", "active"],
            okta: json!([["jane.doe@example.com", "Jane", "Doe-Smith", true]]),
            entra: json!([]),
            okta_also: nothing_more,
            entra_also: |fake| {
                let rename = "PUT /Provisioning/example/User/jane.doe@example.com/";
                assert_eq!(fake.count(rename), 1, "a rename");
            },
        },
    }
}

#[tokio::test]
async fn every_registered_vendor_ends_the_okta_sequence_with_the_user_as_okta_left_it() {
    for kind in TargetKind::ALL.iter().copied() {
        let contract = contract(kind);
        let (users, fake) = run_contract(kind, Sequence::Okta, contract.keys).await;
        assert_eq!(json!(users), contract.okta, "{kind:?}");
        (contract.okta_also)(&fake);
    }
}

#[tokio::test]
async fn every_registered_vendor_ends_the_entra_sequence_with_the_user_deleted_or_deactivated() {
    for kind in TargetKind::ALL.iter().copied() {
        let contract = contract(kind);
        let (users, fake) = run_contract(kind, Sequence::Entra, contract.keys).await;
        assert_eq!(json!(users), contract.entra, "{kind:?}");
        (contract.entra_also)(&fake);
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");

/// Runs the binary with `--config file` and `args`; (success, stdout, stderr).
pub fn run(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A configuration file for `targets`, on the database at `database_url`.
pub fn config_file(dir: &Path, database_url: &str, targets: &[TargetSettings]) -> PathBuf {
    #[derive(serde::Serialize)]
    struct File<'a> {
        database: toml::Table,
        target: &'a [TargetSettings],
    }
    let mut database = toml::Table::new();
    database.insert("url".into(), database_url.into());
    let text = toml::to_string(&File {
        database,
        target: targets,
    })
    .unwrap();
    let path = dir.join("scim-bridge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn link_set_makes_the_bridge_adopt_an_esign_user_instead_of_creating_one() {
    let (server, fake) = FakeVendor::start(Vendor::Esign).await;
    fake.seed(
        "sys-legacy",
        json!({"SystemUserId": "sys-legacy", "Username": "j.doe@old.example.com", "FirstName": "J", "LastName": "Doe", "Active": false}),
    );
    let dir = tempfile::tempdir().unwrap();
    let target = target_for(TargetKind::Esign, &server.uri(), dir.path());
    let app = spawn_app_with(|s| s.target = vec![target.clone()]).await;
    app.create_user(&okta_user()).await;
    let config = config_file(dir.path(), &app.database_url, &[target]);

    let (ok, out, err) = run(&config, &["link", "set", "jane.doe@example.com", "esign", "sys-legacy"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("is linked to 'sys-legacy' at 'esign'"), "{out}");
    app.drain_sync().await;
    assert_eq!(
        fields(
            &fake.users(),
            &["SystemUserId", "Username", "FirstName", "LastName", "Active"]
        ),
        [[
            json!("sys-legacy"),
            json!("jane.doe@example.com"),
            json!("Jane"),
            json!("Doe"),
            json!(true)
        ]]
    );
    assert!(
        !fake.calls().contains(&"POST /rest/v1/users".to_owned()),
        "{:?}",
        fake.calls()
    );

    let (ok, _, err) = run(&config, &["link", "set", "nobody@example.com", "esign", "x"]);
    assert!(!ok && err.contains("no live user"), "{err}");
    let (ok, _, err) = run(&config, &["link", "set", "jane.doe@example.com", "nowhere", "x"]);
    assert!(!ok && err.contains("no target named 'nowhere'"), "{err}");
}

#[tokio::test]
async fn check_prints_one_line_per_target_and_fails_when_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let (servers, _fakes, mut targets) = crate::targets::four_fakes(dir.path()).await;
    let w365 = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/Provisioning/Environment/"))
        .and(wiremock::matchers::header("ProvisioningKey", crate::targets::W365_KEY))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!(["example"])))
        .mount(&w365)
        .await;
    targets.push(crate::targets::w365_target(
        "w365",
        None,
        &format!("{}/Provisioning", w365.uri()),
    ));
    let db = format!("sqlite://{}", dir.path().join("check.db").display());
    let config = config_file(dir.path(), &db, &targets);
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        let (created, _, err) = run(&config, &["init"]);
        assert!(created, "{err}");
        run(&config, &["check"])
    })
    .await
    .unwrap();
    assert!(ok, "{out}{err}");
    // Each target's line is followed by its mapping (tests/api/mapping.rs reads those).
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("      ")).collect();
    assert_eq!(
        lines,
        [
            "ok    configuration (5 target(s))",
            "ok    database",
            "ok    esign (esign): GET rest/v1/gettoken/{salt} gave a token",
            "ok    cyberark (cyberark): Logon and Logoff succeeded",
            "ok    docusign (docusign): JWT grant and /oauth/userinfo succeeded",
            "ok    eloqua (eloqua): GET /id named the API base",
            "ok    w365 (workspace365): GET /Environment/ lists the environment",
        ]
    );

    // A wrong Eloqua password and a missing CyberArk secret file: each named on its own line.
    std::fs::write(dir.path().join("eloqua.pass"), "wrong").unwrap();
    std::fs::remove_file(dir.path().join("vault.pass")).unwrap();
    let config = dir.path().join("scim-bridge.toml");
    let (ok, out, err) = tokio::task::spawn_blocking(move || run(&config, &["check"]))
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("2 check(s) failed"), "{err}");
    let fail_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fail_lines.len(), 2, "{out}");
    assert!(
        fail_lines[0].starts_with("FAIL  cyberark (cyberark): ") && fail_lines[0].contains("vault.pass"),
        "{out}"
    );
    assert!(
        fail_lines[1].starts_with("FAIL  eloqua (eloqua): credentials refused: ")
            && fail_lines[1].contains("refused the credentials"),
        "{out}"
    );
    assert!(!out.contains("wrong") && !out.contains("Eloqua-Pass-1"), "{out}");
    drop(servers);
}
