//! The wire format of every call, checked against the vendor's KB pages (docs/vendors/esign.md).
use super::*;
use crate::sync::reconcile::testing::Reconcile;
#[allow(unused_imports)]
use crate::sync::{LinkState, Reconciled};
use crate::sync::client::{http_client, VendorClient};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const API_KEY: &str = "ENCRYPTED-API-KEY-Zm9vYmFy";
const SALT: &str = "test123";
const TOKEN: &str = "ENCRYPTED-TOKEN-1";
const GUID: &str = "6f1c2a8e-0d5b-4c1e-9a3f-2b7d8e9f0a1b";

fn connector(server: &MockServer) -> Esign {
    let settings = Settings {
        target: "esign".into(),
        base_url: format!("{}/", server.uri()),
        api_key: Secret::new(API_KEY),
        salt: Secret::new(SALT),
    };
    let http = http_client(Duration::from_secs(5)).unwrap();
    Esign::new(settings, VendorClient::new("esign", http, None))
}

fn user(email: &str, active: bool) -> UserState {
    UserState {
        resource_id: "r1".into(),
        user_name: email.into(),
        email: email.into(),
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

fn linked(u: &UserState, active: bool) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: Some(GUID.into()),
        remote_key: Some(u.email.clone()),
        pushed_hash: Some(u.fingerprint()),
        pushed_active: Some(active),
        written_fields: None,
    }
}

/// `gettoken` as the KB documents it: the encrypted API key, raw, answered with a RequestResponse.
async fn token_endpoint(server: &MockServer, times: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/rest/v1/gettoken/{SALT}")))
        .and(header("Authorization", API_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ReturnValue": TOKEN})))
        .expect(times)
        .mount(server)
        .await;
}

/// A user call: the token raw in `Authorization` (no scheme) and a JSON body.
fn call(verb: &str, at: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(at))
        .and(header("Authorization", TOKEN))
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"Users": [{"SystemUserId": GUID}]}))
}

async fn provision(server: &MockServer, status: u8, times: u64) {
    call("PUT", "/rest/v1/users/provisionUser")
        .and(header("Content-Type", "application/json"))
        .and(body_json(
            json!({"salt": SALT, "systemUserId": GUID, "userStatus": status}),
        ))
        .respond_with(ok())
        .expect(times)
        .mount(server)
        .await;
}

/// EncryptString (no token): what the random password becomes before the create sends it.
async fn encrypt_endpoint(server: &MockServer) {
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(format!("^/rest/v1/encrypt/[^/]{{24,}}/{SALT}$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ReturnValue": "ENCRYPTED-PASSWORD"})))
        .expect(1)
        .mount(server)
        .await;
}

async fn no_such_username(server: &MockServer) {
    call("GET", "/rest/v1/users")
        .and(query_param("username", "userone@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Users": []})))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn create_looks_the_username_up_posts_the_user_then_provisions_it_with_a_fresh_token_each_call() {
    let server = MockServer::start().await;
    token_endpoint(&server, 3).await;
    no_such_username(&server).await;
    encrypt_endpoint(&server).await;
    call("POST", "/rest/v1/users")
        .and(header("Content-Type", "application/json"))
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    provision(&server, 1, 1).await;
    let u = user("userone@example.com", true);
    let link = connector(&server)
        .reconcile(&Desired::Present(u.clone()), None)
        .await
        .unwrap();
    assert_eq!(link, linked(&u, true));
    let requests = server.received_requests().await.unwrap();
    let post = requests.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let sent: Value = post.body_json().unwrap();
    assert_eq!(sent["salt"], SALT);
    assert_eq!(
        (
            &sent["user"]["FirstName"],
            &sent["user"]["LastName"],
            &sent["user"]["Username"]
        ),
        (&json!("User"), &json!("One"), &json!("userone@example.com"))
    );
    assert_eq!(
        sent["user"]["Password"], "ENCRYPTED-PASSWORD",
        "a random password, encrypted by EncryptString"
    );
}

#[tokio::test]
async fn a_user_the_vendor_already_has_is_adopted_not_created() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    call("GET", "/rest/v1/users")
        .and(query_param("username", "userone@example.com"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"Users": [{"SystemUserId": GUID, "Username": "userone@example.com"}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    call("PUT", "/rest/v1/users")
        .and(body_json(
            json!({"salt": SALT, "user": {"SystemUserId": GUID, "FirstName": "User", "LastName": "One"}}),
        ))
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    // Its state is not in the answer: it is left as it is (GUESS), not provisioned.
    provision(&server, 1, 0).await;
    Mock::given(method("POST"))
        .respond_with(ok())
        .expect(0)
        .mount(&server)
        .await;
    let u = user("userone@example.com", true);
    let link = connector(&server)
        .reconcile(&Desired::Present(u.clone()), None)
        .await
        .unwrap();
    assert_eq!(link, linked(&u, true));
}

#[tokio::test]
async fn a_name_change_puts_only_the_changed_fields_by_system_user_id() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    call("PUT", "/rest/v1/users")
        .and(header("Content-Type", "application/json"))
        .and(body_json(
            json!({"salt": SALT, "user": {"SystemUserId": GUID, "FirstName": "Renamed", "LastName": "One"}}),
        ))
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    let before = user("userone@example.com", true);
    let after = UserState {
        given_name: "Renamed".into(),
        ..before.clone()
    };
    let link = connector(&server)
        .reconcile(&Desired::Present(after.clone()), Some(&linked(&before, true)))
        .await
        .unwrap();
    assert_eq!(link.pushed_hash, Some(after.fingerprint()));
}

#[tokio::test]
async fn a_rename_goes_through_update_by_username_with_the_old_username() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    call("PUT", "/rest/v1/users/updateByUsername")
        .and(body_json(json!({"salt": SALT, "oldUsername": "userone@example.com",
            "user": {"Username": "user.one@example.com", "FirstName": "User", "LastName": "One"}})))
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    let before = user("userone@example.com", true);
    let after = user("user.one@example.com", true);
    let link = connector(&server)
        .reconcile(&Desired::Present(after.clone()), Some(&linked(&before, true)))
        .await
        .unwrap();
    assert_eq!(link.remote_key.as_deref(), Some("user.one@example.com"));
}

/// The create went out under the old e-mail and its answer was lost; the IdP renamed the user before
/// the retry. The record made under the old e-mail is found, adopted and renamed: no second user.
#[tokio::test]
async fn a_create_of_unknown_outcome_is_looked_up_under_the_email_it_was_sent_with() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    call("GET", "/rest/v1/users")
        .and(query_param("username", "userone@example.com"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"Users": [{"SystemUserId": GUID, "Username": "userone@example.com"}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    call("PUT", "/rest/v1/users/updateByUsername")
        .and(body_json(json!({"salt": SALT, "oldUsername": "userone@example.com",
            "user": {"Username": "user.one@example.com", "FirstName": "User", "LastName": "One"}})))
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    provision(&server, 1, 0).await;
    Mock::given(method("POST"))
        .respond_with(ok())
        .expect(0)
        .mount(&server)
        .await;
    let after = user("user.one@example.com", true);
    let link = connector(&server)
        .reconcile(
            &Desired::Present(after.clone()),
            Some(&Link::creating("userone@example.com")),
        )
        .await
        .unwrap();
    assert_eq!(link, linked(&after, true));
}

#[tokio::test]
async fn deactivate_and_reactivate_are_the_seed_provision_user_call_guess_status_0_deactivates() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    provision(&server, 0, 1).await;
    provision(&server, 1, 1).await;
    let u = user("userone@example.com", true);
    let off = connector(&server)
        .reconcile(
            &Desired::Present(UserState {
                active: false,
                ..u.clone()
            }),
            Some(&linked(&u, true)),
        )
        .await
        .unwrap();
    assert_eq!(off.pushed_active, Some(false));
    let on = connector(&server)
        .reconcile(&Desired::Present(u.clone()), Some(&off))
        .await
        .unwrap();
    assert_eq!(on.pushed_active, Some(true));
}

#[tokio::test]
async fn delete_deactivates_because_esign_has_no_delete_api() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    provision(&server, 0, 1).await;
    Mock::given(method("DELETE"))
        .respond_with(ok())
        .expect(0)
        .mount(&server)
        .await;
    let u = user("userone@example.com", true);
    let link = connector(&server)
        .reconcile(&Desired::Absent, Some(&linked(&u, true)))
        .await
        .unwrap();
    assert_eq!(link.state, LinkState::Gone);
}

#[tokio::test]
async fn a_user_linked_by_an_operator_is_adopted_its_username_pushed_by_system_user_id() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    call("PUT", "/rest/v1/users")
        .and(body_json(
            json!({"salt": SALT, "user": {"SystemUserId": GUID, "Username": "userone@example.com",
            "FirstName": "User", "LastName": "One"}}),
        ))
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    provision(&server, 1, 1).await;
    Mock::given(method("POST"))
        .respond_with(ok())
        .expect(0)
        .mount(&server)
        .await;
    let operator_link = Link {
        state: LinkState::Linked,
        remote_id: Some(GUID.into()),
        remote_key: None,
        pushed_hash: None,
        pushed_active: None,
        written_fields: None,
    };
    let u = user("userone@example.com", true);
    let link = connector(&server)
        .reconcile(&Desired::Present(u.clone()), Some(&operator_link))
        .await
        .unwrap();
    assert_eq!(link, linked(&u, true));
}

#[tokio::test]
async fn invalid_token_inside_a_200_gets_one_new_token_and_one_retry() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    call("PUT", "/rest/v1/users/provisionUser")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Message": "Error: Invalid token"})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    provision(&server, 0, 1).await;
    let u = user("userone@example.com", true);
    let link = connector(&server)
        .reconcile(
            &Desired::Present(UserState {
                active: false,
                ..u.clone()
            }),
            Some(&linked(&u, true)),
        )
        .await
        .unwrap();
    assert_eq!(link.pushed_active, Some(false));
}

#[tokio::test]
async fn a_token_refused_twice_is_credentials_refused_for_the_target_not_the_row() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    call("PUT", "/rest/v1/users/provisionUser")
        .respond_with(ResponseTemplate::new(401).set_body_string("Error: Invalid token"))
        .expect(2)
        .mount(&server)
        .await;
    let u = user("userone@example.com", true);
    let err = connector(&server)
        .reconcile(
            &Desired::Present(UserState {
                active: false,
                ..u.clone()
            }),
            Some(&linked(&u, true)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::CredentialsRefused { .. }), "{err:?}");
}

#[tokio::test]
async fn a_failure_reported_inside_a_200_body_is_permanent_with_the_vendor_text_guess_on_the_shape() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    call("PUT", "/rest/v1/users/provisionUser")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"Success": false, "Message": "Error: Failed to change user status."})),
        )
        .mount(&server)
        .await;
    let u = user("userone@example.com", true);
    let err = connector(&server)
        .reconcile(
            &Desired::Present(UserState {
                active: false,
                ..u.clone()
            }),
            Some(&linked(&u, true)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Error: Failed to change user status.");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_unknown_system_user_id_is_found_again_by_email_or_created() {
    let server = MockServer::start().await;
    token_endpoint(&server, 4).await;
    call("PUT", "/rest/v1/users")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"Message": "Error: User with that systemUserId doesn't exist."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    no_such_username(&server).await;
    encrypt_endpoint(&server).await;
    call("POST", "/rest/v1/users")
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    provision(&server, 1, 1).await;
    let before = user("userone@example.com", true);
    let after = UserState {
        family_name: "Two".into(),
        ..before.clone()
    };
    let link = connector(&server)
        .reconcile(&Desired::Present(after.clone()), Some(&linked(&before, true)))
        .await
        .unwrap();
    assert_eq!(link, linked(&after, true));
}

#[tokio::test]
async fn an_invalid_api_key_is_a_configuration_error_that_never_shows_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/rest/v1/gettoken/{SALT}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ReturnValue": "Error: Invalid API key"})))
        .mount(&server)
        .await;
    let err = connector(&server).check().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("Invalid API key"), "{err}");
    assert!(!err.to_string().contains(API_KEY));
}

#[tokio::test]
async fn overload_and_an_unreachable_vendor_are_transient() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    call("PUT", "/rest/v1/users/provisionUser")
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    call("PUT", "/rest/v1/users/provisionUser")
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let u = user("userone@example.com", true);
    let off = Desired::Present(UserState {
        active: false,
        ..u.clone()
    });
    let esign = connector(&server);
    match esign.reconcile(&off, Some(&linked(&u, true))).await.unwrap_err() {
        ConnectorError::Transient { retry_after, .. } => assert_eq!(retry_after, Some(Duration::from_secs(30))),
        other => panic!("{other:?}"),
    }
    // A 30 s Retry-After pauses the target: the next reconcile sends nothing (not even for a token).
    let err = esign.reconcile(&off, Some(&linked(&u, true))).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Deferred { .. }), "{err:?}");
    // 503 without a hint: tried three times in the call, then transient.
    let err = connector(&server)
        .reconcile(&off, Some(&linked(&u, true)))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }), "{err:?}");
    let nobody = Esign::new(
        Settings {
            base_url: "http://127.0.0.1:9/".into(),
            ..esign.settings.clone()
        },
        connector(&server).client.clone(),
    );
    let err = nobody.check().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }), "{err:?}");
}

#[test]
fn failures_in_bodies_are_read_leniently() {
    assert_eq!(failure_text(&json!({"ReturnValue": "tok"})), None);
    assert_eq!(failure_text(&json!({"Users": []})), None);
    assert_eq!(
        failure_text(&json!({"IsSuccess": "False", "ErrorMessage": "nope"})).as_deref(),
        Some("nope")
    );
    assert_eq!(
        failure_text(&json!("Error: Invalid token")).as_deref(),
        Some("Error: Invalid token")
    );
    assert_eq!(failure_text(&json!({"ReturnValue": "False"})).as_deref(), Some("False"));
}
