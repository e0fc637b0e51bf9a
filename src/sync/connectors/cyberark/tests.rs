//! The wire format of every call, checked against the PVWA REST reference (docs/vendors/cyberark.md).
use super::*;
use crate::sync::reconcile::testing::Reconcile;
#[allow(unused_imports)]
use crate::sync::{LinkState, Reconciled};
use crate::sync::client::{http_client, VendorClient};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const TOKEN: &str = "MzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTA=";
const VAULT_PASSWORD: &str = "bridge-vault-pass";

fn connector(server: &MockServer) -> Cyberark {
    let settings = Settings {
        target: "vault".into(),
        base_url: format!("{}/PasswordVault", server.uri()),
        auth_method: "CyberArk".into(),
        username: Secret::new("svc-scim"),
        password: Secret::new(VAULT_PASSWORD),
        user_type: "EPVUser".into(),
        location: "\\".into(),
    };
    let http = http_client(Duration::from_secs(5)).unwrap();
    Cyberark::new(settings, VendorClient::new("vault", http, None), &Default::default())
}

fn user(name: &str, active: bool) -> UserState {
    UserState {
        resource_id: "r1".into(),
        user_name: name.into(),
        email: name.into(),
        given_name: "User".into(),
        family_name: "One".into(),
        active,
        password: None,
        is_administrator: false,
        fields: Default::default(),
        creatable: true,
        groups: Default::default(),
    }
}

fn linked(active: bool) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: Some("42".into()),
        remote_key: Some("userone@example.com".into()),
        pushed_hash: None,
        pushed_active: Some(active),
        written_fields: None,
    }
}

/// The vault user as `GET /API/Users/42/` shows it, with fields the bridge does not map.
fn vault_user(enabled: bool, suspended: bool) -> Value {
    json!({"id": 42, "username": "userone@example.com", "source": "CyberArk", "userType": "EPVUser",
           "componentUser": false, "enableUser": enabled, "suspended": suspended, "location": "\\",
           "description": "kept by the merge", "vaultAuthorization": ["AuditUsers"],
           "internet": {"businessEmail": "userone@example.com", "homeEmail": "home@example.com"},
           "personalDetails": {"firstName": "User", "lastName": "One", "department": "Ops"}})
}

/// What the bridge PUTs back of a vault user it read: everything but the read-only properties.
fn put_back(mut user: Value) -> Value {
    for key in super::READ_ONLY {
        user.as_object_mut().unwrap().remove(key);
    }
    user
}

async fn logon(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/PasswordVault/API/auth/CyberArk/Logon/"))
        .and(header("Content-Type", "application/json"))
        .and(body_json(
            json!({"username": "svc-scim", "password": VAULT_PASSWORD, "concurrentSession": true}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(TOKEN)))
        .expect(times)
        .mount(server)
        .await;
}

/// A call with the session token, raw (no scheme), as the seed shows.
fn call(verb: &str, at: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(at))
        .and(header("Authorization", TOKEN))
}

async fn get_user(server: &MockServer, user: Value) {
    call("GET", "/PasswordVault/API/Users/42/")
        .respond_with(ResponseTemplate::new(200).set_body_json(user))
        .expect(1)
        .mount(server)
        .await;
}

async fn never(server: &MockServer, verb: &str) {
    Mock::given(method(verb))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(server)
        .await;
}

#[tokio::test]
async fn create_logs_on_once_searches_for_an_exact_match_then_adds_the_user() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    // `search` matches substrings: a longer username is not the user.
    call("GET", "/PasswordVault/API/Users")
        .and(query_param("search", "userone@example.com"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"Users": [{"id": 7, "username": "userone@example.com.admin"}], "Total": 1})),
        )
        .expect(1)
        .mount(&server)
        .await;
    call("POST", "/PasswordVault/API/Users/")
        .and(header("Content-Type", "application/json"))
        .and(body_json(json!({
            "username": "userone@example.com", "userType": "EPVUser", "initialPassword": "Idp-Pass-1!",
            "authenticationMethod": ["AuthTypePass"], "location": "\\", "enableUser": true,
            "changePassOnNextLogon": true, "passwordNeverExpires": false,
            "internet": {"businessEmail": "userone@example.com"},
            "personalDetails": {"firstName": "User", "lastName": "One"}})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 42, "username": "userone@example.com"})))
        .expect(1)
        .mount(&server)
        .await;
    let desired = Desired::Present(UserState {
        password: Some(Secret::new("Idp-Pass-1!")),
        ..user("userone@example.com", true)
    });
    let link = connector(&server).reconcile(&desired, None).await.unwrap();
    assert_eq!(
        (
            link.remote_id.as_deref(),
            link.remote_key.as_deref(),
            link.pushed_active
        ),
        (Some("42"), Some("userone@example.com"), Some(true))
    );
}

#[tokio::test]
async fn an_update_reads_the_vault_user_merges_and_puts_the_whole_object_back() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    get_user(&server, vault_user(true, false)).await;
    let mut expected = vault_user(true, false);
    expected["personalDetails"]["lastName"] = json!("Two");
    call("PUT", "/PasswordVault/API/Users/42/")
        .and(body_json(put_back(expected)))
        .respond_with(ResponseTemplate::new(200).set_body_json(vault_user(true, false)))
        .expect(1)
        .mount(&server)
        .await;
    never(&server, "POST").await;
    let desired = Desired::Present(UserState {
        family_name: "Two".into(),
        ..user("userone@example.com", true)
    });
    connector(&server)
        .reconcile(&desired, Some(&linked(true)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rename_puts_the_new_username_and_moves_the_link_key() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    get_user(&server, vault_user(true, false)).await;
    let mut expected = vault_user(true, false);
    expected["username"] = json!("user.one@example.com");
    expected["internet"]["businessEmail"] = json!("user.one@example.com");
    call("PUT", "/PasswordVault/API/Users/42/")
        .and(body_json(put_back(expected)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42})))
        .expect(1)
        .mount(&server)
        .await;
    let link = connector(&server)
        .reconcile(
            &Desired::Present(user("user.one@example.com", true)),
            Some(&linked(true)),
        )
        .await
        .unwrap();
    assert_eq!(link.remote_key.as_deref(), Some("user.one@example.com"));
}

#[tokio::test]
async fn deactivate_disables_without_touching_the_object() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    get_user(&server, vault_user(true, false)).await;
    call("POST", "/PasswordVault/API/Users/42/disable/")
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    never(&server, "PUT").await;
    let link = connector(&server)
        .reconcile(
            &Desired::Present(user("userone@example.com", false)),
            Some(&linked(true)),
        )
        .await
        .unwrap();
    assert_eq!(link.pushed_active, Some(false));
}

#[tokio::test]
async fn reactivating_a_suspended_user_enables_it_and_calls_the_seed_activate() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    get_user(&server, vault_user(false, true)).await;
    call("POST", "/PasswordVault/API/Users/42/enable/")
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    call("POST", "/PasswordVault/API/Users/42/Activate")
        .and(header("Content-Type", "application/json"))
        .and(body_json(json!({"id": 42})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"UserName": "userone@example.com", "Suspended": false})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let link = connector(&server)
        .reconcile(
            &Desired::Present(user("userone@example.com", true)),
            Some(&linked(false)),
        )
        .await
        .unwrap();
    assert_eq!(link.pushed_active, Some(true));
}

#[tokio::test]
async fn delete_removes_the_vault_user_and_a_missing_one_counts_as_done() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    get_user(&server, vault_user(true, false)).await;
    call("DELETE", "/PasswordVault/API/Users/42/")
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"ErrorCode": "ITATS003E", "ErrorMessage": "User userone@example.com was not found."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let link = connector(&server)
        .reconcile(&Desired::Absent, Some(&linked(true)))
        .await
        .unwrap();
    assert_eq!(link.state, LinkState::Gone);
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_and_the_call_repeated() {
    let server = MockServer::start().await;
    logon(&server, 2).await;
    call("GET", "/PasswordVault/API/Users/42/")
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"ErrorCode": "PASWS006E", "ErrorMessage": "No Session token"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    get_user(&server, vault_user(true, false)).await;
    let vault = connector(&server);
    vault
        .reconcile(
            &Desired::Present(user("userone@example.com", true)),
            Some(&linked(true)),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_logon_is_credentials_refused_without_the_password() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/PasswordVault/API/auth/CyberArk/Logon/"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"ErrorCode": "PASWS013E", "ErrorMessage": "Authentication failure for User [svc-scim]."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = connector(&server)
        .reconcile(
            &Desired::Present(user("userone@example.com", true)),
            Some(&linked(true)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::CredentialsRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("PASWS013E"), "{err}");
    assert!(!err.to_string().contains(VAULT_PASSWORD));
}

#[tokio::test]
async fn ldap_component_and_built_in_users_are_never_touched() {
    for (field, value) in [
        ("source", json!("LDAP")),
        ("componentUser", json!(true)),
        ("username", json!("Administrator")),
    ] {
        let server = MockServer::start().await;
        logon(&server, 1).await;
        let mut protected = vault_user(true, false);
        protected[field] = value;
        get_user(&server, protected).await;
        never(&server, "PUT").await;
        never(&server, "POST").await;
        let desired = Desired::Present(user("userone@example.com", false));
        let err = connector(&server)
            .reconcile(&desired, Some(&linked(true)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("the bridge never changes it"), "{err}");
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn values_over_the_vault_limits_are_refused_before_any_call_naming_the_field() {
    let server = MockServer::start().await;
    let desired = Desired::Present(UserState {
        given_name: "A".repeat(30),
        ..user("userone@example.com", true)
    });
    let err = connector(&server).reconcile(&desired, None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "name.givenName (CyberArk firstName) is 30 characters; the vendor takes at most 29"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn vault_errors_are_permanent_with_their_code_overload_is_transient() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    get_user(&server, vault_user(true, false)).await;
    call("PUT", "/PasswordVault/API/Users/42/")
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"ErrorCode": "PASWS041E",
            "ErrorMessage": "You are not authorized to perform this action.",
            "Details": [{"ErrorCode": "CAWS00001E", "ErrorMessage": "Missing Update Users"}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let vault = connector(&server);
    let desired = Desired::Present(UserState {
        family_name: "Two".into(),
        ..user("userone@example.com", true)
    });
    let err = vault.reconcile(&desired, Some(&linked(true))).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "update user: HTTP 400: PASWS041E: You are not authorized to perform this action. (CAWS00001E: Missing Update Users)"
    );
    server.reset().await;
    logon(&server, 0).await;
    call("GET", "/PasswordVault/API/Users/42/")
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = vault.reconcile(&desired, Some(&linked(true))).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn check_logs_on_and_off_and_shutdown_closes_the_cached_session() {
    let server = MockServer::start().await;
    logon(&server, 2).await;
    call("POST", "/PasswordVault/API/Auth/Logoff")
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    get_user(&server, vault_user(true, false)).await;
    let vault = connector(&server);
    vault.check().await.unwrap();
    vault
        .reconcile(
            &Desired::Present(user("userone@example.com", true)),
            Some(&linked(true)),
        )
        .await
        .unwrap();
    vault.shutdown().await;
    vault.shutdown().await;
}

#[tokio::test]
async fn a_user_deleted_in_the_vault_is_searched_for_and_added_again() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    call("GET", "/PasswordVault/API/Users/42/")
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"ErrorCode": "ITATS003E", "ErrorMessage": "not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    call("GET", "/PasswordVault/API/Users")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Users": [], "Total": 0})))
        .expect(1)
        .mount(&server)
        .await;
    call("POST", "/PasswordVault/API/Users/")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 43})))
        .expect(1)
        .mount(&server)
        .await;
    let link = connector(&server)
        .reconcile(
            &Desired::Present(user("userone@example.com", true)),
            Some(&linked(true)),
        )
        .await
        .unwrap();
    assert_eq!(link.remote_id.as_deref(), Some("43"));
}

#[tokio::test]
async fn rate_limited_answers_are_transient_with_the_vendor_hint() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    call("GET", "/PasswordVault/API/Users/42/")
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "20"))
        .mount(&server)
        .await;
    let err = connector(&server)
        .reconcile(
            &Desired::Present(user("userone@example.com", true)),
            Some(&linked(true)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Transient { retry_after: Some(w), .. } if w == Duration::from_secs(20)),
        "{err:?}"
    );
}

async fn server_version(server: &MockServer, version: &str) {
    call("GET", "/PasswordVault/WebServices/PIMServices.svc/Server")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ServerName": "Vault", "ExternalVersion": version, "InternalVersion": "x"})),
        )
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn check_names_the_minimum_version_when_the_pvwa_is_older_than_12_6() {
    let server = MockServer::start().await;
    logon(&server, 2).await;
    call("POST", "/PasswordVault/API/Auth/Logoff")
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    server_version(&server, "11.1.0").await;
    let err = connector(&server).check().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration error: the PVWA is version 11.1.0; the bridge needs 12.6 or later for the enable/ and disable/ routes (docs/vendors/cyberark.md)"
    );
    server.reset().await;
    logon(&server, 1).await;
    call("POST", "/PasswordVault/API/Auth/Logoff")
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server_version(&server, "14.0.0").await;
    connector(&server).check().await.unwrap();
}

#[tokio::test]
async fn a_vault_without_the_disable_route_parks_the_row_naming_the_minimum_version() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    get_user(&server, vault_user(true, false)).await;
    // IIS's own 404 page: the route does not exist (no vault ErrorCode).
    call("POST", "/PasswordVault/API/Users/42/disable/")
        .respond_with(ResponseTemplate::new(404).set_body_string("<html>404 - File or directory not found.</html>"))
        .expect(1)
        .mount(&server)
        .await;
    let err = connector(&server)
        .reconcile(
            &Desired::Present(user("userone@example.com", false)),
            Some(&linked(true)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("PVWA 12.6 or later is needed"), "{err}");
}

#[tokio::test]
async fn a_2xx_answer_the_bridge_does_not_read_may_be_any_body() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    get_user(&server, vault_user(true, false)).await;
    call("PUT", "/PasswordVault/API/Users/42/")
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .expect(1)
        .mount(&server)
        .await;
    call("POST", "/PasswordVault/API/Users/42/disable/")
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let desired = Desired::Present(UserState {
        family_name: "Two".into(),
        ..user("userone@example.com", false)
    });
    let link = connector(&server)
        .reconcile(&desired, Some(&linked(true)))
        .await
        .unwrap();
    assert_eq!(link.pushed_active, Some(false));
}

/// Vault group membership: the exact calls (CyberArk's Add/Remove group member), "already a
/// member" (409) on an add and "not a member" (404) on a removal counting as done.
#[tokio::test]
async fn group_members_are_added_and_removed_and_already_done_counts_as_done() {
    let server = MockServer::start().await;
    logon(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/PasswordVault/API/UserGroups"))
        .and(header("Authorization", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"value": [{"id": 7, "groupName": "Auditors"}, {"id": 9, "groupName": "Vault Admins"}], "count": 2}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/PasswordVault/API/UserGroups/7/Members/"))
        .and(header("Content-Type", "application/json"))
        .and(body_json(json!({"memberId": "ann@example.com", "memberType": "Vault"})))
        .respond_with(ResponseTemplate::new(409).set_body_json(
            json!({"ErrorCode": "ITATS262E", "ErrorMessage": "Member is already a member of group"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/PasswordVault/API/UserGroups/9/Members/ann@example.com/"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"ErrorCode": "ITATS003E", "ErrorMessage": "Member was not found."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let vault = connector(&server);
    vault
        .entitle("ann@example.com", &["auditors".into()], &["Vault Admins".into()])
        .await
        .unwrap();
    // Another failure keeps the vault's words.
    Mock::given(method("POST"))
        .and(path("/PasswordVault/API/UserGroups/9/Members/"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"ErrorCode": "PASWS041E", "ErrorMessage": "You are not authorized to perform this action."}),
        ))
        .mount(&server)
        .await;
    let err = vault.entitle("ann@example.com", &["Vault Admins".into()], &[]).await.unwrap_err();
    assert!(err.to_string().contains("PASWS041E"), "{err}");
}
