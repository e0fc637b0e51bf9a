//! Everything the IdP sends reaches the vendor (docs/mapping.md): each vendor's default mapping
//! through an Okta-shaped create and an Entra-shaped PATCH, checked on the exact request bodies;
//! `[target.mapping]` overrides; refused mapping lines; field limits; and a change to an attribute
//! no target maps costs no vendor call.
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::targets::{target_for, target_with};
use scim_bridge::config::TargetKind;
use scim_bridge::sync::target::validate_targets;
use serde_json::{json, Value};
use wiremock::MockServer;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// An Okta-shaped POST carrying every attribute some vendor maps.
fn full_user() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": "ann.lee@example.com",
        "displayName": "Ann Lee",
        "title": "Engineer",
        "name": {"givenName": "Ann", "middleName": "Marie", "familyName": "Lee", "honorificSuffix": "Jr"},
        "emails": [
            {"value": "ann.lee@example.com", "type": "work", "primary": true},
            {"value": "ann@home.example", "type": "home"},
            {"value": "ann@other.example", "type": "other"}
        ],
        "phoneNumbers": [
            {"value": "+1 555 0100", "type": "work"},
            {"value": "+1 555 0101", "type": "mobile"},
            {"value": "+1 555 0102", "type": "fax"},
            {"value": "+1 555 0103", "type": "pager"},
            {"value": "+1 555 0104", "type": "home"}
        ],
        "addresses": [{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield",
                       "region": "IL", "postalCode": "62701", "country": "US"}],
        ENTERPRISE: {"department": "R&D", "organization": "Acme", "employeeNumber": "701984",
                     "manager": {"value": "mgr-1"}},
        "active": true
    })
}

/// Entra's PATCH: a new title and department, the mobile number removed.
fn entra_patch() -> Value {
    json!([
        {"op": "Replace", "path": "title", "value": "Staff Engineer"},
        {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Platform"},
        {"op": "Remove", "path": "phoneNumbers[type eq \"mobile\"]"}
    ])
}

/// The JSON bodies of the calls `method path` the vendor received, in order.
async fn bodies(server: &MockServer, method: &str, path: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .map(|r| r.body_json().unwrap())
        .collect()
}

/// Creates the full user and PATCHes it as Entra does, against `kind`'s fake with `extra` config.
async fn push_through(kind: TargetKind, extra: &str) -> (MockServer, AnyFake, TestApp, String) {
    let (server, fake) = AnyFake::start(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let target = target_with(kind, &server.uri(), dir.path(), extra);
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let id = app.create_user(&full_user()).await["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    app.patch_user(&id, entra_patch()).await;
    app.drain_sync().await;
    assert!(
        app.store.sync_rows().await.unwrap().is_empty(),
        "every change was delivered"
    );
    (server, fake, app, id)
}

/// Okta's full PUT after the PATCH: a new title, and no addresses any more.
async fn okta_put(app: &TestApp, id: &str) {
    let mut user = full_user();
    user["title"] = json!("Principal");
    user.as_object_mut().unwrap().remove("addresses");
    assert_eq!(app.put(&format!("/Users/{id}"), &user).await.status(), 200);
    app.drain_sync().await;
    assert!(
        app.store.sync_rows().await.unwrap().is_empty(),
        "every change was delivered"
    );
}

#[tokio::test]
async fn cyberark_receives_every_mapped_attribute_and_a_removed_phone_is_cleared() {
    let (server, _fake, app, id) = push_through(TargetKind::Cyberark, "").await;
    let created = &bodies(&server, "POST", "/PasswordVault/API/Users/").await[0];
    assert_eq!(
        created["personalDetails"],
        json!({"firstName": "Ann", "lastName": "Lee", "middleName": "Marie", "title": "Engineer",
               "department": "R&D", "organization": "Acme"})
    );
    assert_eq!(
        created["internet"],
        json!({"businessEmail": "ann.lee@example.com", "homeEmail": "ann@home.example", "otherEmail": "ann@other.example"})
    );
    assert_eq!(
        created["phones"],
        json!({"businessNumber": "+1 555 0100", "cellularNumber": "+1 555 0101", "faxNumber": "+1 555 0102",
               "pagerNumber": "+1 555 0103", "homeNumber": "+1 555 0104"})
    );
    assert_eq!(
        created["businessAddress"],
        json!({"workStreet": "1 Main St", "workCity": "Springfield", "workState": "IL", "workZip": "62701", "workCountry": "US"})
    );
    assert_eq!(created["description"], "Ann Lee");
    let updated = bodies(&server, "PUT", "/PasswordVault/API/Users/1/").await;
    assert_eq!(updated.len(), 1, "one PUT for the PATCH");
    assert_eq!(updated[0]["personalDetails"]["title"], "Staff Engineer");
    assert_eq!(updated[0]["personalDetails"]["department"], "Platform");
    assert_eq!(
        updated[0]["phones"]["cellularNumber"], "",
        "the removed number is cleared"
    );
    assert_eq!(updated[0]["phones"]["businessNumber"], "+1 555 0100");
    okta_put(&app, &id).await;
    let replaced = &bodies(&server, "PUT", "/PasswordVault/API/Users/1/").await[1];
    assert_eq!(replaced["personalDetails"]["title"], "Principal");
    assert_eq!(
        replaced["businessAddress"],
        json!({"workStreet": "", "workCity": "", "workState": "", "workZip": "", "workCountry": ""}),
        "the removed address is cleared"
    );
}

#[tokio::test]
async fn eloqua_receives_every_mapped_attribute_and_a_removed_phone_is_cleared() {
    let (server, fake, app, scim_id) = push_through(TargetKind::Eloqua, "").await;
    let created = &bodies(&server, "POST", "/api/REST/2.0/system/user").await[0];
    assert_eq!(
        created,
        &json!({"loginName": "ann.lee@example.com", "emailAddress": "ann.lee@example.com",
                "firstName": "Ann", "lastName": "Lee", "jobTitle": "Engineer", "phone": "+1 555 0100",
                "cellPhone": "+1 555 0101", "fax": "+1 555 0102", "address1": "1 Main St",
                "city": "Springfield", "state": "IL", "country": "US", "zipCode": "62701",
                "department": "R&D", "companyDisplayName": "Acme"})
    );
    let id = created_id(&fake, "emailAddress");
    let updated = bodies(&server, "PUT", &format!("/api/REST/2.0/system/user/{id}")).await;
    assert_eq!(updated.len(), 1, "one PUT for the PATCH");
    assert_eq!(
        (
            &updated[0]["jobTitle"],
            &updated[0]["department"],
            &updated[0]["cellPhone"],
            &updated[0]["phone"]
        ),
        (
            &json!("Staff Engineer"),
            &json!("Platform"),
            &json!(""),
            &json!("+1 555 0100")
        )
    );
    okta_put(&app, &scim_id).await;
    let replaced = &bodies(&server, "PUT", &format!("/api/REST/2.0/system/user/{id}")).await[1];
    let keys = ["jobTitle", "address1", "city", "state", "country", "zipCode"];
    let values: Vec<&Value> = keys.iter().map(|k| &replaced[*k]).collect();
    assert_eq!(
        json!(values),
        json!(["Principal", "", "", "", "", ""]),
        "the removed address is cleared"
    );
}

#[tokio::test]
async fn docusign_receives_the_display_name_middle_name_suffix_and_job_title() {
    let (server, _fake, app, id) = push_through(TargetKind::Docusign, "").await;
    let users = format!("/restapi/v2.1/accounts/{DOCUSIGN_ACCOUNT}/users");
    let created = &bodies(&server, "POST", &users).await[0];
    assert_eq!(
        created,
        &json!({"newUsers": [{"userName": "Ann Lee", "email": "ann.lee@example.com", "firstName": "Ann",
                "lastName": "Lee", "middleName": "Marie", "suffixName": "Jr", "jobTitle": "Engineer"}]})
    );
    let updated = bodies(&server, "PUT", &users).await;
    assert_eq!(
        updated.len(),
        1,
        "one PUT for the PATCH (the department is not DocuSign's)"
    );
    assert_eq!(updated[0]["users"][0]["jobTitle"], "Staff Engineer");
    okta_put(&app, &id).await;
    let replaced = &bodies(&server, "PUT", &users).await[1];
    assert_eq!(
        replaced["users"][0],
        json!({"userId": "ds-1", "userName": "Ann Lee", "email": "ann.lee@example.com", "firstName": "Ann",
               "lastName": "Lee", "middleName": "Marie", "suffixName": "Jr", "jobTitle": "Principal"})
    );
}

#[tokio::test]
async fn esign_receives_the_company_and_a_change_it_does_not_hold_costs_no_call() {
    let (server, fake, app, id) = push_through(TargetKind::Esign, "").await;
    let created = &bodies(&server, "POST", "/rest/v1/users").await[0];
    assert_eq!(created["user"]["Company"], "Acme");
    assert_eq!(created["user"]["FirstName"], "Ann");
    // The PATCH changed title, department and a phone: none of them is eSign's.
    let after_create = fake.calls();
    assert!(
        after_create.iter().all(|c| c != "PUT /rest/v1/users"),
        "no update was sent: {after_create:?}"
    );
    let mut user = full_user();
    user[ENTERPRISE]["organization"] = json!("Acme Europe");
    assert_eq!(app.put(&format!("/Users/{id}"), &user).await.status(), 200);
    app.drain_sync().await;
    let updated = bodies(&server, "PUT", "/rest/v1/users").await;
    assert_eq!(updated.len(), 1, "Okta's PUT changed the company: {:?}", fake.calls());
    assert_eq!(updated[0]["user"]["Company"], "Acme Europe");
}

/// The vendor id of the one user `fake` holds.
fn created_id(fake: &AnyFake, _key: &str) -> String {
    let users = fake.users();
    assert_eq!(users.len(), 1);
    match &users[0]["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn overrides_point_vendor_fields_at_other_scim_paths_and_an_empty_path_unmaps_one() {
    let extra = format!(
        "[mapping]\n\"personalDetails.profession\" = \"{ENTERPRISE}:employeeNumber\"\n\
         \"phones.cellularNumber\" = 'phoneNumbers[type eq \"home\"].value'\n\"description\" = \"\"\n"
    );
    let (server, _fake, _app, _id) = push_through(TargetKind::Cyberark, &extra).await;
    let created = &bodies(&server, "POST", "/PasswordVault/API/Users/").await[0];
    assert_eq!(created["personalDetails"]["profession"], "701984");
    assert_eq!(created["phones"]["cellularNumber"], "+1 555 0104");
    assert!(created.get("description").is_none(), "{created}");
}

#[test]
fn wrong_mapping_lines_are_refused_at_start_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, words) in [
        ("[mapping]\n\"personalDetails.shoeSize\" = \"title\"", "mapping: \"personalDetails.shoeSize\" = \"title\": unknown vendor field; known: personalDetails.middleName"),
        ("[mapping]\n\"description\" = \"shoeSize\"", "mapping: \"description\" = \"shoeSize\": unknown attribute 'shoeSize'"),
        ("[mapping]\n\"description\" = 'emails[type eq'", "mapping: \"description\" = \"emails[type eq\": invalid path"),
        ("[mapping]\n\"\" = \"title\"", "mapping: \"\" = \"title\": the vendor field name is empty"),
        ("[mapping]\n\"description\" = \"urn:example:Custom:2.0:User:costCenter\"", "unknown attribute"),
        ("[mapping]\n\"description\" = \"password\"", "write-only"),
    ] {
        let target = target_with(TargetKind::Cyberark, "http://vault.example", dir.path(), extra);
        let err = validate_targets(&[target], scim_bridge::scim::schema::user()).unwrap_err().to_string();
        assert!(err.contains("target 'cyberark': ") && err.contains(words), "{err}");
    }
    let w365 = crate::targets::w365_target("w365", None, "http://w365.example/Provisioning");
    let mut w365 = w365;
    w365.mapping.insert("Department".into(), "title".into());
    let err = validate_targets(&[w365], scim_bridge::scim::schema::user())
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown vendor field; known: IsAdministrator"), "{err}");
}

#[tokio::test]
async fn a_value_over_the_vendor_limit_parks_the_row_naming_the_field() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Cyberark, &server.uri(), dir.path())]).await;
    let mut user = full_user();
    user["title"] = json!("Vice President of Very Long Titles and Other Things");
    app.create_user(&user).await;
    app.drain_sync().await;
    let rows = app.store.sync_rows().await.unwrap();
    assert_eq!(rows[0].state, "dead");
    let error = rows[0].last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("title (CyberArk personalDetails.title) is 51 characters; the vendor takes at most 49"),
        "{error}"
    );
    assert!(fake.users().is_empty(), "nothing was truncated and sent");
}

#[tokio::test]
async fn touching_every_user_without_changing_a_mapped_attribute_costs_no_vendor_call() {
    let dir = tempfile::tempdir().unwrap();
    let (_servers, fakes, targets) = crate::targets::four_fakes(dir.path()).await;
    let app = spawn_app_with(|s| s.target = targets).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let mut user = full_user();
        user["userName"] = json!(format!("user{n}@example.com"));
        user["emails"][0]["value"] = json!(format!("user{n}@example.com"));
        ids.push(app.create_user(&user).await["id"].as_str().unwrap().to_owned());
    }
    app.drain_sync().await;
    let before: Vec<usize> = fakes.iter().map(|f| f.calls().len()).collect();
    // Entra's cycle: every user touched, nothing any vendor holds changed.
    for id in &ids {
        app.patch_user(
            id,
            json!([{"op": "Replace", "path": "nickName", "value": "Annie"},
                   {"op": "Replace", "path": "title", "value": "Engineer"}]),
        )
        .await;
    }
    app.drain_sync().await;
    let after: Vec<usize> = fakes.iter().map(|f| f.calls().len()).collect();
    assert_eq!(after, before, "no vendor call for unmapped changes");
    let looked_up = app.store.lookup(&ids[0], 20).await.unwrap().unwrap();
    let unchanged = looked_up.events.iter().filter(|e| e.action == "unchanged").count();
    assert_eq!(unchanged, 4, "one 'unchanged' event per target");
    // A mapped attribute changes: each vendor holding it is called.
    app.patch_user(&ids[0], json!([{"op": "Replace", "path": "title", "value": "Lead"}]))
        .await;
    app.drain_sync().await;
    let changed: Vec<usize> = fakes.iter().map(|f| f.calls().len()).collect();
    assert_eq!(changed[0], before[0], "eSign does not hold the title");
    for n in 1..4 {
        assert!(
            changed[n] > before[n],
            "target {n} was called: {changed:?} vs {before:?}"
        );
    }
}

#[tokio::test]
async fn check_prints_each_targets_effective_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _fake) = FakeVendor::start(Vendor::Esign).await;
    let mut target = target_for(TargetKind::Esign, &server.uri(), dir.path());
    target.mapping.insert(
        "Company".into(),
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division".into(),
    );
    let app = spawn_app_with(|s| s.target = vec![target.clone()]).await;
    let config = crate::connectors::config_file(dir.path(), &app.database_url, &[target]);
    let (ok, out, err) = tokio::task::spawn_blocking(move || crate::connectors::run(&config, &["check"]))
        .await
        .unwrap();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("      Company <- urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"),
        "{out}"
    );
}

#[tokio::test]
async fn serve_and_check_refuse_a_wrong_mapping_line_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut target = target_for(TargetKind::Eloqua, "http://eloqua.example", dir.path());
    target.mapping.insert("jobTitle".into(), "titel".into());
    let config = crate::connectors::config_file(
        dir.path(),
        &format!("sqlite://{}", dir.path().join("bad.db").display()),
        &[target],
    );
    for command in ["check", "serve"] {
        let config = config.clone();
        let (ok, out, err) = tokio::task::spawn_blocking(move || crate::connectors::run(&config, &[command]))
            .await
            .unwrap();
        assert!(!ok, "{command}: {out}");
        assert!(
            err.contains(r#"target 'eloqua': mapping: "jobTitle" = "titel": unknown attribute 'titel'"#),
            "{command}: {err}"
        );
    }
}
