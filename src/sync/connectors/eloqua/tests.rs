//! The wire format of every call, checked against the Eloqua REST reference (docs/vendors/eloqua.md).
use super::*;
use crate::sync::reconcile::testing::Reconcile;
#[allow(unused_imports)]
use crate::sync::{LinkState, Reconciled};
use crate::sync::client::{http_client, VendorClient};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// base64 of `ACME\svc-scim:Eloqua-Pass-1` (Oracle's `Company\User:password` form).
const BASIC: &str = "Basic QUNNRVxzdmMtc2NpbTpFbG9xdWEtUGFzcy0x";
const PASSWORD: &str = "Eloqua-Pass-1";

fn connector(login: &MockServer) -> Eloqua {
    let settings = Settings {
        target: "eloqua".into(),
        login_url: login.uri(),
        base_url: None,
        company: "ACME".into(),
        username: Secret::new("svc-scim"),
        password: Secret::new(PASSWORD),
    };
    let http = http_client(Duration::from_secs(5)).unwrap();
    Eloqua::new(settings, VendorClient::new("eloqua", http, None), &Default::default())
}

fn user(email: &str, active: bool) -> UserState {
    UserState {
        resource_id: "r1".into(),
        user_name: "uone".into(),
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

fn linked(active: bool) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: Some("5".into()),
        remote_key: Some("userone@example.com".into()),
        pushed_hash: None,
        pushed_active: Some(active),
        written_fields: None,
    }
}

/// `GET /id` on the login host names `pod` as the API base.
async fn id_endpoint(login: &MockServer, pod: &MockServer, times: u64) {
    Mock::given(method("GET"))
        .and(path("/id"))
        .and(header("Authorization", BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "site": {"id": 42, "name": "ACME"}, "user": {"id": 9, "username": "svc-scim"},
            "urls": {"base": pod.uri(), "apis": {"rest": {"standard": format!("{}/API/REST/{{version}}/", pod.uri())}}}})))
        .expect(times)
        .mount(login)
        .await;
}

fn api(verb: &str, at: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(at))
        .and(header("Authorization", BASIC))
        .and(header("Accept", "application/json"))
}

/// The user as `GET …/system/user/5?depth=complete` shows it.
fn eloqua_user(disabled: &str) -> Value {
    json!({"type": "User", "id": "5", "loginName": "uone", "emailAddress": "userone@example.com",
           "firstName": "User", "lastName": "One", "jobTitle": "kept by the merge", "isDisabled": disabled})
}

async fn get_user(pod: &MockServer, user: Value) {
    api("GET", "/api/REST/2.0/system/user/5")
        .and(query_param("depth", "complete"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user))
        .expect(1)
        .mount(pod)
        .await;
}

async fn enabled(pod: &MockServer, value: bool, answer: &str) {
    api("PUT", "/api/REST/2.0/system/user/5/enabled")
        .and(header("Content-Type", "application/json"))
        .and(body_json(json!({"enabled": value})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"type": "UserEnabled", "enabled": answer})))
        .expect(1)
        .mount(pod)
        .await;
}

async fn servers() -> (MockServer, MockServer, Eloqua) {
    let (login, pod) = (MockServer::start().await, MockServer::start().await);
    id_endpoint(&login, &pod, 1).await;
    let eloqua = connector(&login);
    (login, pod, eloqua)
}

#[tokio::test]
async fn create_discovers_the_base_searches_by_email_guess_then_posts_the_user() {
    let (_login, pod, eloqua) = servers().await;
    api("GET", "/api/REST/2.0/system/users")
        .and(query_param("search", "emailAddress='userone@example.com'"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"elements": [{"id": "3", "emailAddress": "userone@example.com.au"}], "page": 1, "total": 1}),
        ))
        .expect(1)
        .mount(&pod)
        .await;
    api("POST", "/api/REST/2.0/system/user")
        .and(header("Content-Type", "application/json"))
        .and(body_json(
            json!({"loginName": "uone", "emailAddress": "userone@example.com",
                              "firstName": "User", "lastName": "One"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(eloqua_user("False")))
        .expect(1)
        .mount(&pod)
        .await;
    let link = eloqua
        .reconcile(&Desired::Present(user("userone@example.com", true)), None)
        .await
        .unwrap();
    assert_eq!((link.remote_id.as_deref(), link.pushed_active), (Some("5"), Some(true)));
}

#[tokio::test]
async fn a_conflict_on_create_finds_the_user_and_adopts_it() {
    let (_login, pod, eloqua) = servers().await;
    api("GET", "/api/REST/2.0/system/users")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"elements": [], "total": 0})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&pod)
        .await;
    api("POST", "/api/REST/2.0/system/user")
        .respond_with(ResponseTemplate::new(409).set_body_string("There was a conflict."))
        .expect(1)
        .mount(&pod)
        .await;
    api("GET", "/api/REST/2.0/system/users")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"elements": [eloqua_user("True")]})))
        .expect(1)
        .mount(&pod)
        .await;
    enabled(&pod, true, "True").await;
    let link = eloqua
        .reconcile(&Desired::Present(user("userone@example.com", true)), None)
        .await
        .unwrap();
    assert_eq!(link.remote_id.as_deref(), Some("5"));
}

#[tokio::test]
async fn an_update_reads_merges_and_puts_the_whole_user() {
    let (_login, pod, eloqua) = servers().await;
    get_user(&pod, eloqua_user("False")).await;
    let mut expected = eloqua_user("False");
    expected["emailAddress"] = json!("user.one@example.com");
    expected["lastName"] = json!("Two");
    api("PUT", "/api/REST/2.0/system/user/5")
        .and(header("Content-Type", "application/json"))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(200).set_body_json(eloqua_user("False")))
        .expect(1)
        .mount(&pod)
        .await;
    let desired = Desired::Present(UserState {
        family_name: "Two".into(),
        ..user("user.one@example.com", true)
    });
    let link = eloqua.reconcile(&desired, Some(&linked(true))).await.unwrap();
    assert_eq!(link.remote_key.as_deref(), Some("user.one@example.com"));
}

#[tokio::test]
async fn deactivate_and_reactivate_are_the_seed_enabled_call_with_a_string_answer() {
    let (_login, pod, eloqua) = servers().await;
    get_user(&pod, eloqua_user("False")).await;
    enabled(&pod, false, "False").await;
    let off = eloqua
        .reconcile(
            &Desired::Present(user("userone@example.com", false)),
            Some(&linked(true)),
        )
        .await
        .unwrap();
    assert_eq!(off.pushed_active, Some(false));
    pod.reset().await;
    get_user(&pod, eloqua_user("True")).await;
    enabled(&pod, true, "True").await;
    let on = eloqua
        .reconcile(&Desired::Present(user("userone@example.com", true)), Some(&off))
        .await
        .unwrap();
    assert_eq!(on.pushed_active, Some(true));
}

#[tokio::test]
async fn an_enabled_answer_that_disagrees_is_a_failure() {
    let (_login, pod, eloqua) = servers().await;
    get_user(&pod, eloqua_user("False")).await;
    enabled(&pod, false, "True").await;
    let err = eloqua
        .reconcile(
            &Desired::Present(user("userone@example.com", false)),
            Some(&linked(true)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "asked for enabled = false, Eloqua answered \"True\"");
}

#[tokio::test]
async fn delete_removes_the_user_and_404_counts_as_done() {
    let (_login, pod, eloqua) = servers().await;
    api("DELETE", "/api/REST/2.0/system/user/5")
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&pod)
        .await;
    let link = eloqua.reconcile(&Desired::Absent, Some(&linked(true))).await.unwrap();
    assert_eq!(link.state, LinkState::Gone);
}

#[tokio::test]
async fn a_401_discovers_the_base_again_and_retries_on_the_new_pod() {
    let (login, old_pod, new_pod) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    Mock::given(method("GET"))
        .and(path("/id"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"urls": {"base": old_pod.uri()}})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&login)
        .await;
    id_endpoint(&login, &new_pod, 1).await;
    api("DELETE", "/api/REST/2.0/system/user/5")
        .respond_with(ResponseTemplate::new(401).set_body_string("Login required"))
        .expect(1)
        .mount(&old_pod)
        .await;
    api("DELETE", "/api/REST/2.0/system/user/5")
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&new_pod)
        .await;
    connector(&login)
        .reconcile(&Desired::Absent, Some(&linked(true)))
        .await
        .unwrap();
}

#[tokio::test]
async fn refused_credentials_at_id_are_credentials_refused_without_the_password() {
    let login = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/id"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&login)
        .await;
    let err = connector(&login).check().await.unwrap_err();
    assert!(matches!(err, ConnectorError::CredentialsRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("refused the credentials"), "{err}");
    assert!(!err.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn validation_errors_are_permanent_and_429_or_503_transient() {
    let (_login, pod, eloqua) = servers().await;
    api("GET", "/api/REST/2.0/system/users")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"elements": []})))
        .mount(&pod)
        .await;
    api("POST", "/api/REST/2.0/system/user")
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!([{"type": "ObjectValidationError",
            "property": "emailAddress", "requirement": {"type": "EmailAddressRequirement"}, "value": "nope"}])),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&pod)
        .await;
    let err = eloqua
        .reconcile(&Desired::Present(user("nope", true)), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "create user: HTTP 400: ObjectValidationError on emailAddress: EmailAddressRequirement (value \"nope\")"
    );
    assert!(!err.is_retryable());
    api("POST", "/api/REST/2.0/system/user")
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&pod)
        .await;
    api("POST", "/api/REST/2.0/system/user")
        .respond_with(ResponseTemplate::new(503).set_body_string("There was a timeout processing the request"))
        .with_priority(3)
        .mount(&pod)
        .await;
    for _ in 0..2 {
        let err = eloqua
            .reconcile(&Desired::Present(user("a@example.com", true)), None)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectorError::Transient { .. }), "{err:?}");
    }
}

#[test]
fn string_booleans_are_read_leniently() {
    let flag = |v: serde_json::Value| serde_json::from_value::<wire::Flag>(v).unwrap().value();
    assert_eq!(flag(json!("True")), Some(true));
    assert_eq!(flag(json!("false")), Some(false));
    assert_eq!(flag(json!(true)), Some(true));
    assert_eq!(flag(json!("yes")), None);
}

#[tokio::test]
async fn a_user_deleted_in_eloqua_is_searched_for_and_created_again() {
    let (_login, pod, eloqua) = servers().await;
    api("GET", "/api/REST/2.0/system/user/5")
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&pod)
        .await;
    api("GET", "/api/REST/2.0/system/users")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"elements": []})))
        .expect(1)
        .mount(&pod)
        .await;
    let mut created = eloqua_user("False");
    created["id"] = json!("6");
    api("POST", "/api/REST/2.0/system/user")
        .respond_with(ResponseTemplate::new(201).set_body_json(created))
        .expect(1)
        .mount(&pod)
        .await;
    let link = eloqua
        .reconcile(
            &Desired::Present(user("userone@example.com", true)),
            Some(&linked(true)),
        )
        .await
        .unwrap();
    assert_eq!(link.remote_id.as_deref(), Some("6"));
}
