//! End to end, per connector: the Okta sequence (create, update, deactivate, reactivate) and the
//! Entra sequence (create, PATCH e-mail and name, deactivate, delete) against the real server, ending
//! with the stateful fake vendor holding exactly the expected users. Also `link set` and `check`.
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::targets::target_for;
use scim_bridge::config::{TargetKind, TargetSettings};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

async fn app_with(vendor: Vendor, kind: TargetKind) -> (TestApp, FakeVendor, wiremock::MockServer, tempfile::TempDir) {
    let (server, fake) = FakeVendor::start(vendor).await;
    let dir = tempfile::tempdir().unwrap();
    let target = target_for(kind, &server.uri(), dir.path());
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    (app, fake, server, dir)
}

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
async fn entra_sequence(app: &TestApp) {
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

#[tokio::test]
async fn esign_okta_sequence() {
    let (app, fake, _server, _dir) = app_with(Vendor::Esign, TargetKind::Esign).await;
    okta_sequence(&app).await;
    assert_eq!(
        fields(&fake.users(), &["Username", "FirstName", "LastName", "Active"]),
        [[
            json!("jane.doe@example.com"),
            json!("Jane"),
            json!("Doe-Smith"),
            json!(true)
        ]]
    );
}

#[tokio::test]
async fn esign_entra_sequence_ends_deactivated_because_there_is_no_delete() {
    let (app, fake, _server, _dir) = app_with(Vendor::Esign, TargetKind::Esign).await;
    entra_sequence(&app).await;
    assert_eq!(
        fields(&fake.users(), &["Username", "FirstName", "LastName", "Active"]),
        [[
            json!("jane.smith@example.com"),
            json!("Janet"),
            json!("Smith"),
            json!(false)
        ]]
    );
    assert!(fake.calls().contains(&"PUT /rest/v1/users/updateByUsername".to_owned()));
}

#[tokio::test]
async fn cyberark_okta_sequence() {
    let (app, fake, _server, _dir) = app_with(Vendor::Cyberark, TargetKind::Cyberark).await;
    okta_sequence(&app).await;
    let users = fake.users();
    assert_eq!(
        fields(&users, &["username", "enableUser", "userType", "location"]),
        [[
            json!("jane.doe@example.com"),
            json!(true),
            json!("EPVUser"),
            json!("\\")
        ]]
    );
    assert_eq!(
        users[0]["personalDetails"],
        json!({"firstName": "Jane", "lastName": "Doe-Smith"})
    );
    assert_eq!(users[0]["internet"]["businessEmail"], "jane.doe@example.com");
    let logons = fake.calls().iter().filter(|c| c.ends_with("/Logon/")).count();
    assert_eq!(logons, 1, "the session is cached");
}

#[tokio::test]
async fn cyberark_entra_sequence_ends_deleted() {
    let (app, fake, _server, _dir) = app_with(Vendor::Cyberark, TargetKind::Cyberark).await;
    entra_sequence(&app).await;
    assert_eq!(fake.users(), Vec::<Value>::new());
    assert!(fake.calls().contains(&"DELETE /PasswordVault/API/Users/1/".to_owned()));
}

#[tokio::test]
async fn docusign_okta_sequence() {
    let (app, fake, _server, _dir) = app_with(Vendor::Docusign, TargetKind::Docusign).await;
    okta_sequence(&app).await;
    assert_eq!(
        fields(
            &fake.users(),
            &["userName", "email", "firstName", "lastName", "userStatus"]
        ),
        [[
            json!("Jane Doe-Smith"),
            json!("jane.doe@example.com"),
            json!("Jane"),
            json!("Doe-Smith"),
            json!("ActivationSent")
        ]]
    );
    let tokens = fake
        .calls()
        .iter()
        .filter(|c| c.as_str() == "POST /oauth/token")
        .count();
    assert_eq!(tokens, 1, "the token is cached");
}

#[tokio::test]
async fn docusign_entra_sequence_ends_closed_because_docusign_never_deletes() {
    let (app, fake, _server, _dir) = app_with(Vendor::Docusign, TargetKind::Docusign).await;
    entra_sequence(&app).await;
    assert_eq!(
        fields(&fake.users(), &["email", "firstName", "lastName", "userStatus"]),
        [[
            json!("jane.smith@example.com"),
            json!("Janet"),
            json!("Smith"),
            json!("Closed")
        ]]
    );
}

#[tokio::test]
async fn eloqua_okta_sequence() {
    let (app, fake, _server, _dir) = app_with(Vendor::Eloqua, TargetKind::Eloqua).await;
    okta_sequence(&app).await;
    assert_eq!(
        fields(
            &fake.users(),
            &["loginName", "emailAddress", "firstName", "lastName", "isDisabled"]
        ),
        [[
            json!("jane.doe@example.com"),
            json!("jane.doe@example.com"),
            json!("Jane"),
            json!("Doe-Smith"),
            json!("False")
        ]]
    );
    let discoveries = fake.calls().iter().filter(|c| c.as_str() == "GET /id").count();
    assert_eq!(discoveries, 1, "the API base is cached");
}

#[tokio::test]
async fn eloqua_entra_sequence_ends_deleted() {
    let (app, fake, _server, _dir) = app_with(Vendor::Eloqua, TargetKind::Eloqua).await;
    entra_sequence(&app).await;
    assert_eq!(fake.users(), Vec::<Value>::new());
}

#[tokio::test]
async fn with_on_delete_deactivate_cyberark_and_eloqua_keep_a_disabled_user() {
    for (vendor, kind) in [
        (Vendor::Cyberark, TargetKind::Cyberark),
        (Vendor::Eloqua, TargetKind::Eloqua),
    ] {
        let (server, fake) = FakeVendor::start(vendor).await;
        let dir = tempfile::tempdir().unwrap();
        let mut target = target_for(kind, &server.uri(), dir.path());
        target.on_delete = Some(scim_bridge::config::OnDelete::Deactivate);
        let app = spawn_app_with(|s| s.target = vec![target]).await;
        entra_sequence(&app).await;
        let users = fake.users();
        assert_eq!(users.len(), 1, "{kind:?}");
        let disabled =
            users[0].get("enableUser") == Some(&json!(false)) || users[0].get("isDisabled") == Some(&json!("True"));
        assert!(disabled, "{kind:?}: {}", users[0]);
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");

/// Runs the binary with `--config file` and `args`; (success, stdout, stderr).
fn run(config: &Path, args: &[&str]) -> (bool, String, String) {
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

/// A configuration file for `targets`, on the database at `db`.
fn config_file(dir: &Path, db: &Path, targets: &[TargetSettings]) -> PathBuf {
    #[derive(serde::Serialize)]
    struct File<'a> {
        database: toml::Table,
        target: &'a [TargetSettings],
    }
    let mut database = toml::Table::new();
    database.insert("url".into(), format!("sqlite://{}", db.display()).into());
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
    let config = config_file(dir.path(), &app.db_path, &[target]);

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
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    for (vendor, kind) in [
        (Vendor::Esign, TargetKind::Esign),
        (Vendor::Cyberark, TargetKind::Cyberark),
        (Vendor::Docusign, TargetKind::Docusign),
        (Vendor::Eloqua, TargetKind::Eloqua),
    ] {
        let (server, _fake) = FakeVendor::start(vendor).await;
        targets.push(target_for(kind, &server.uri(), dir.path()));
        servers.push(server);
    }
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
    let db = dir.path().join("check.db");
    let config = config_file(dir.path(), &db, &targets);
    let (ok, out, err) = tokio::task::spawn_blocking(move || run(&config, &["check"]))
        .await
        .unwrap();
    assert!(ok, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "ok    configuration (5 target(s))",
            "ok    esign (esign): GET rest/v1/gettoken/{salt} gave a token",
            "ok    cyberark (cyberark): Logon and Logoff succeeded",
            "ok    docusign (docusign): JWT grant and /oauth/userinfo succeeded",
            "ok    eloqua (eloqua): GET /id named the API base",
            "ok    w365 (workspace365): GET /Environment/ answered",
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
        fail_lines[1].starts_with("FAIL  eloqua (eloqua): configuration error: ")
            && fail_lines[1].contains("refused the credentials"),
        "{out}"
    );
    assert!(!out.contains("wrong") && !out.contains("Eloqua-Pass-1"), "{out}");
    drop(servers);
}
