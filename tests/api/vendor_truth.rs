//! Issue 29 (vendor truth): what a live tenant would break, reproduced against fakes that answer as
//! the vendors document (docs/vendors/), not as the connectors hope.
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::plan::person;
use crate::targets::target_for;
use scim_bridge::config::TargetKind;
use serde_json::json;

/// #1: a vault user found by search (no link yet: created before the bridge, or a create of
/// unknown outcome) is read whole before the PUT that replaces it, so the vault's own fields
/// survive, a disabled user the IdP wants active is enabled, and no read-only property is echoed.
#[tokio::test]
async fn cyberark_adoption_reads_the_whole_user_and_keeps_the_vault_fields_the_bridge_does_not_map() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    fake.seed(
        "77",
        json!({"id": 77, "username": "jane@example.com", "source": "CyberArk", "componentUser": false,
               "userType": "EPVUser", "location": "\\", "enableUser": false, "suspended": false,
               "expiryDate": 1893456000, "unAuthorizedInterfaces": ["PSM"],
               "groupsMembership": [{"groupID": 3, "groupName": "Auditors", "groupType": "Vault"}],
               "lastSuccessfulLoginDate": 1700000000, "authenticationMethod": ["AuthTypePass"],
               "internet": {"businessEmail": "jane@example.com"},
               "personalDetails": {"firstName": "J", "lastName": "Old", "profession": "Auditor", "street": "1 Vault Road"}}),
    );
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Cyberark, &server.uri(), dir.path())]).await;
    let mut jane = person("jane");
    jane["name"] = json!({"givenName": "Jane", "familyName": "Doe"});
    app.create_user(&jane).await;
    app.drain_sync().await;

    assert_eq!(fake.violations(), Vec::<String>::new());
    let users = fake.state.lock().unwrap().users.clone();
    assert_eq!(users.len(), 1, "adopted, not created: {:?}", fake.calls());
    let held = &users["77"];
    assert_eq!(held["personalDetails"]["firstName"], "Jane");
    assert_eq!(held["personalDetails"]["lastName"], "Doe");
    assert_eq!(held["enableUser"], true, "the IdP wants her active: {:?}", fake.calls());
    for (field, value) in [
        ("/expiryDate", json!(1893456000)),
        ("/unAuthorizedInterfaces", json!(["PSM"])),
        ("/personalDetails/profession", json!("Auditor")),
        ("/personalDetails/street", json!("1 Vault Road")),
        ("/groupsMembership/0/groupName", json!("Auditors")),
    ] {
        assert_eq!(held.pointer(field), Some(&value), "{field} kept: {held}");
    }
    assert!(
        fake.calls().iter().any(|c| c == "GET /PasswordVault/API/Users/77/"),
        "the whole user was read: {:?}",
        fake.calls()
    );
}

/// #2: Workspace365 has no read API, so the bridge cannot see an administrator flag set in the
/// portal; it sends `IsAdministrator` only when the target maps it, and a push never demotes.
#[tokio::test]
async fn workspace365_never_demotes_an_administrator_made_in_the_portal() {
    use crate::fake_w365::FakeWorkspace365;
    let (server, fake) = FakeWorkspace365::start(std::time::Duration::ZERO).await;
    let base_url = format!("{}/Provisioning", server.uri());
    let app = spawn_app_with(|s| s.target = vec![crate::targets::w365_target("w365", None, &base_url)]).await;
    let id = app.create_user(&person("kim")).await["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    assert!(fake.state.lock().unwrap().administrators.is_empty());
    // Made administrator in the portal; then the IdP renames her.
    fake.state
        .lock()
        .unwrap()
        .administrators
        .insert("kim@example.com".into());
    app.patch_user(
        &id,
        json!([{"op": "replace", "path": "name.familyName", "value": "Renamed"}]),
    )
    .await;
    app.drain_sync().await;
    let state = fake.state.lock().unwrap();
    assert_eq!(state.users["kim@example.com"].last_name, "Renamed");
    assert!(
        state.administrators.contains("kim@example.com"),
        "still an administrator: {:?}",
        state.calls
    );
}

/// #7: a typo in `environment` is not "every delete succeeded": Workspace365 answers 404 alike for
/// a missing user and a missing environment, so a 404 counts as "no such user" only once the API
/// lists the environment; `check` says so up front.
#[tokio::test]
async fn workspace365_with_a_wrong_environment_fails_loudly_instead_of_deleting_nothing() {
    use crate::fake_w365::FakeWorkspace365;
    let (server, fake) = FakeWorkspace365::start(std::time::Duration::ZERO).await;
    let base_url = format!("{}/Provisioning", server.uri());
    let mut target = crate::targets::deleting(crate::targets::w365_target("w365", None, &base_url));
    let app = spawn_app_with({
        let target = target.clone();
        |s| s.target = vec![target]
    })
    .await;
    let id = app.create_user(&person("lee")).await["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    assert_eq!(fake.state.lock().unwrap().users.len(), 1);

    // The environment misspelt (as after an edit): the delete meets 404 and is not taken as done.
    let text = toml::to_string(&target)
        .unwrap()
        .replace("environment = \"example\"", "environment = \"exmaple\"");
    target = crate::targets::parse_target(&text);
    let restarted = app.restarted(|s| s.target = vec![target.clone()]).await;
    assert_eq!(restarted.delete(&format!("/Users/{id}")).await.status(), 204);
    restarted.drain_sync().await;
    assert_eq!(fake.state.lock().unwrap().users.len(), 1, "nothing was deleted");
    let rows = restarted.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 1, "the delete is not recorded as done: {rows:?}");
    let error = rows[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("environment 'exmaple' is not one the Provisioning API lists (example)"),
        "{rows:?}"
    );
}

/// #4: DocuSign creates at most 500 users per call; a larger `batch_size` is refused at start,
/// naming the limit, instead of every bulk create of a big batch failing.
#[test]
fn docusign_batch_size_over_500_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let schema = scim_bridge::scim::schema::user();
    let at_limit = crate::targets::target_with(
        TargetKind::Docusign,
        "http://ds.example",
        dir.path(),
        "batch_size = 500",
    );
    scim_bridge::sync::target::validate_targets(&[at_limit], schema).unwrap();
    let over = crate::targets::target_with(
        TargetKind::Docusign,
        "http://ds.example",
        dir.path(),
        "batch_size = 501",
    );
    let error = scim_bridge::sync::target::validate_targets(&[over], schema)
        .unwrap_err()
        .to_string();
    assert!(error.contains("`batch_size` must be between 1 and 500"), "{error}");
}

/// #9: a CyberArk create whose answer was lost, then a rename at the IdP before the retry: the
/// retry looks the user up under the name the create was sent with, finds it and renames it,
/// instead of creating a second vault user under the new name.
#[tokio::test]
async fn cyberark_a_rename_after_a_create_of_unknown_outcome_makes_no_second_user() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    fake.state.lock().unwrap().lose_next_create_answer = true;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Cyberark, &server.uri(), dir.path())]).await;
    let id = app.create_user(&person("vic")).await["id"].as_str().unwrap().to_owned();
    // One round only: the row is retried 500 ms later, and under load a drain would reach it.
    app.worker.run_once().await.unwrap();
    assert_eq!(fake.state.lock().unwrap().users.len(), 1, "the create went through");
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 1, "its answer was lost: the row waits");

    app.patch_user(
        &id,
        json!([{"op": "replace", "path": "userName", "value": "victor@example.com"}]),
    )
    .await;
    app.worker.clock().advance(std::time::Duration::from_secs(3600));
    app.drain_sync().await;
    let users = fake.state.lock().unwrap().users.clone();
    assert_eq!(users.len(), 1, "no second vault user: {:?}", fake.calls());
    let only = users.values().next().unwrap();
    assert_eq!(only["username"], "victor@example.com");
    let creates = fake
        .calls()
        .iter()
        .filter(|c| *c == "POST /PasswordVault/API/Users/")
        .count();
    assert_eq!(creates, 1, "{:?}", fake.calls());
    assert!(app.store.sync_rows().await.unwrap().is_empty());
}

/// #6: a user deactivated by hand at a vendor whose state the bridge cannot read stays so until
/// `sync resync`, which sends the IdP's `active` again (not only the fields).
#[tokio::test]
async fn workspace365_sync_resync_repairs_drift_of_active() {
    use crate::fake_w365::FakeWorkspace365;
    let (server, fake) = FakeWorkspace365::start(std::time::Duration::ZERO).await;
    let base_url = format!("{}/Provisioning", server.uri());
    let app = spawn_app_with(|s| s.target = vec![crate::targets::w365_target("w365", None, &base_url)]).await;
    app.create_user(&person("mia")).await;
    app.drain_sync().await;
    fake.state
        .lock()
        .unwrap()
        .users
        .get_mut("mia@example.com")
        .unwrap()
        .active = false;
    let queued = app.store.resync("w365", |_| {}).await.unwrap();
    assert_eq!(queued, 1);
    app.drain_sync().await;
    let state = fake.state.lock().unwrap();
    assert!(state.users["mia@example.com"].active, "{:?}", state.calls);
    assert!(
        state.calls.iter().any(|c| c.ends_with("/mia@example.com/Activate/")),
        "{:?}",
        state.calls
    );
}

/// #8: eSign's CreateUser wants the password encrypted: the bridge's random one goes through
/// EncryptString first, and the plaintext never reaches the create.
#[tokio::test]
async fn esign_creates_with_an_encrypted_password() {
    let (server, fake) = FakeVendor::start(Vendor::Esign).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Esign, &server.uri(), dir.path())]).await;
    app.create_user(&person("ned")).await;
    app.drain_sync().await;
    assert!(
        app.store.sync_rows().await.unwrap().is_empty(),
        "created: {:?}",
        fake.calls()
    );
    assert_eq!(fake.state.lock().unwrap().users.len(), 1);
    let encrypt = fake.calls().iter().position(|c| c.starts_with("GET /rest/v1/encrypt/"));
    let create = fake.calls().iter().position(|c| c == "POST /rest/v1/users");
    assert!(encrypt.is_some() && encrypt < create, "{:?}", fake.calls());
}

/// #10: an Eloqua tenant on SAML SSO signs users in by `federationId`: a target can map it (here
/// to the SCIM userName), and the created user carries it.
#[tokio::test]
async fn eloqua_federation_id_can_be_mapped_for_sso_tenants() {
    let (server, fake) = FakeVendor::start(Vendor::Eloqua).await;
    let dir = tempfile::tempdir().unwrap();
    let mut target = target_for(TargetKind::Eloqua, &server.uri(), dir.path());
    target.mapping.insert("federationId".into(), "userName".into());
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    app.create_user(&person("oda")).await;
    app.drain_sync().await;
    let users = fake.state.lock().unwrap().users.clone();
    assert_eq!(users.len(), 1, "{:?}", fake.calls());
    assert_eq!(users.values().next().unwrap()["federationId"], "oda@example.com");
}

/// #4: DocuSign's re-open by POST is a GUESS; should the account answer "already exists" and keep
/// the user closed, the bridge says so on the row instead of recording an activation.
#[tokio::test]
async fn docusign_a_reopen_answered_already_exists_is_read_back_and_a_closed_user_is_not_called_active() {
    let (server, fake) = FakeVendor::start(Vendor::Docusign).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Docusign, &server.uri(), dir.path())]).await;
    let id = app.create_user(&person("pia")).await["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    app.patch_user(&id, json!([{"op": "replace", "path": "active", "value": false}]))
        .await;
    app.drain_sync().await;
    let status = |fake: &FakeVendor| fake.state.lock().unwrap().users.values().next().unwrap()["userStatus"].clone();
    assert_eq!(status(&fake), "Closed");

    fake.state.lock().unwrap().docusign_reopens_by_post = false;
    app.patch_user(&id, json!([{"op": "replace", "path": "active", "value": true}]))
        .await;
    app.drain_sync().await;
    assert_eq!(status(&fake), "Closed");
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 1, "the row says what happened: {:?}", fake.calls());
    let error = rows[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("DocuSign keeps the user closed"), "{error}");
    let link = app.store.link(&id, "docusign").await.unwrap().unwrap();
    assert_ne!(link.pushed_active, Some(true), "{link:?}");
}

/// #4: on a DocuSign account without SSO only the user can change their e-mail; an accepted PUT
/// that leaves the old one is read back and said on the row, not recorded as done.
#[tokio::test]
async fn docusign_an_email_change_without_sso_is_read_back_and_said_not_recorded_as_done() {
    let (server, fake) = FakeVendor::start(Vendor::Docusign).await;
    fake.state.lock().unwrap().docusign_sso = false;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Docusign, &server.uri(), dir.path())]).await;
    let id = app.create_user(&person("quin")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_sync().await;
    app.patch_user(
        &id,
        json!([{"op": "replace", "path": "emails", "value": [{"value": "quinn@example.com", "primary": true, "type": "work"}]},
               {"op": "replace", "path": "name.familyName", "value": "Renamed"}]),
    )
    .await;
    app.drain_sync().await;
    let held = fake.state.lock().unwrap().users.values().next().unwrap().clone();
    assert_eq!(
        (held["email"].as_str(), held["lastName"].as_str()),
        (Some("quin@example.com"), Some("Renamed"))
    );
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 1, "{:?}", fake.calls());
    let error = rows[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("DocuSign keeps the e-mail quin@example.com"), "{error}");
    let link = app.store.link(&id, "docusign").await.unwrap().unwrap();
    assert_eq!(link.remote_key.as_deref(), Some("quin@example.com"), "{link:?}");
}

/// #5: an inactive user the vendor never had is not created then deactivated (DocuSign sends an
/// activation e-mail, eSign may bill a seat): not created at all until activated, unless the
/// target says `create_inactive = true`.
#[tokio::test]
async fn an_inactive_new_user_is_created_only_when_activated_unless_create_inactive() {
    use crate::fake_w365::FakeWorkspace365;
    let (server, fake) = FakeWorkspace365::start(std::time::Duration::ZERO).await;
    let base_url = format!("{}/Provisioning", server.uri());
    let target = crate::targets::w365_target("w365", None, &base_url);
    let app = spawn_app_with({
        let target = target.clone();
        |s| s.target = vec![target]
    })
    .await;
    let mut inactive = person("rex");
    inactive["active"] = json!(false);
    let id = app.create_user(&inactive).await["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    let calls = fake.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.contains("/Validate/") || c.contains("/Environment/")),
        "only look-ups for an inactive new user, no create: {calls:?}"
    );
    assert!(app.store.sync_rows().await.unwrap().is_empty());
    app.patch_user(&id, json!([{"op": "replace", "path": "active", "value": true}]))
        .await;
    app.drain_sync().await;
    let state = fake.state.lock().unwrap().users.clone();
    assert!(state["rex@example.com"].active, "created when activated");
    assert!(!fake
        .state
        .lock()
        .unwrap()
        .calls
        .iter()
        .any(|c| c.ends_with("/Deactivate/")));

    // With create_inactive = true: created, then deactivated (the create cannot say inactive).
    let (server, fake) = FakeWorkspace365::start(std::time::Duration::ZERO).await;
    let base_url = format!("{}/Provisioning", server.uri());
    let creating = scim_bridge::config::TargetSettings {
        create_inactive: Some(true),
        ..crate::targets::w365_target("w365", None, &base_url)
    };
    let app = spawn_app_with(|s| s.target = vec![creating]).await;
    app.create_user(&inactive).await;
    app.drain_sync().await;
    let state = fake.state.lock().unwrap();
    assert!(!state.users["rex@example.com"].active, "{:?}", state.calls);
}

/// #4: a DocuSign bulk call refused as a whole (400) because of one user is sent again user by
/// user: the others are created, and only that user's row fails, with DocuSign's words.
#[tokio::test]
async fn docusign_a_whole_batch_refused_for_one_user_fails_only_that_user() {
    let (server, fake) = FakeVendor::start(Vendor::Docusign).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Docusign, &server.uri(), dir.path())]).await;
    for name in ["sam", "tia"] {
        app.create_user(&person(name)).await;
    }
    let mut bad = person("uma");
    bad["emails"] = json!([{"value": "uma@example.invalid", "primary": true, "type": "work"}]);
    app.create_user(&bad).await;
    app.drain_sync().await;
    // Counted first: the fake's lock must be free again when a failing assert prints its calls.
    let created = fake.state.lock().unwrap().users.len();
    assert_eq!(created, 2, "{:?}", fake.calls());
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let error = rows[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("INVALID_REQUEST_BODY"), "{error}");
}
