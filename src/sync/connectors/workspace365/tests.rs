//! The wire format of every call, checked against the vendor's Provisioning API (docs/vendors/workspace365.md).
use super::*;
use crate::sync::reconcile::testing::Reconcile;
#[allow(unused_imports)]
use crate::sync::{LinkState, Reconciled};
use crate::sync::client::{http_client, VendorClient};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "C7656554-85A2-4AFD-BAB7-18C71593C4D2";

fn connector(server: &str, timeout: Duration) -> Workspace365 {
    let settings = Settings {
        target: "w365".into(),
        base_url: format!("{server}/Provisioning"),
        environment: "example".into(),
        provisioning_key: Secret::new(KEY),
        create_in_office365: false,
    };
    Workspace365::new(settings, VendorClient::new("w365", http_client(timeout).unwrap(), None))
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

fn linked(email: &str, u: &UserState, active: bool) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: Some("42".into()),
        remote_key: Some(email.into()),
        pushed_hash: Some(u.fingerprint()),
        pushed_active: Some(active),
        written_fields: None,
    }
}

/// A Provisioning API whose `GET /Environment/` lists the tests' environment `example` (a 404 is
/// read as "no such user" only then).
async fn vendor_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/Provisioning/Environment/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"Name": "example"}])))
        .mount(&server)
        .await;
    server
}

/// A mock that answers `response` to `verb` on `at`, and must be called `times` times.
async fn mock(server: &MockServer, verb: &str, at: &str, response: ResponseTemplate, times: u64) {
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

/// The headers every call carries (seed examples; docs/vendors/workspace365.md).
fn vendor(m: wiremock::MockBuilder) -> wiremock::MockBuilder {
    m.and(header("ProvisioningKey", KEY))
        .and(header("X-Requested-With", "XMLHttpRequest"))
        .and(header("Accept", "application/json"))
}

#[tokio::test]
async fn create_posts_the_seed_body_and_links_the_returned_id_and_email() {
    let server = vendor_server().await;
    vendor(Mock::given(method("POST")).and(path("/Provisioning/example/User/")))
        .and(header("Content-Type", "application/json"))
        .and(body_json(
            json!({"EmailAddress": "userone@example.com", "Password": "qwerty", "FirstName": "User",
            "LastName": "One", "CreateInOffice365": false}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("42"))
        .expect(1)
        .mount(&server)
        .await;
    let desired = Desired::Present(UserState {
        password: Some(Secret::new("qwerty")),
        ..user("userone@example.com", true)
    });
    let link = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&desired, None)
        .await
        .unwrap();
    assert_eq!(link.state, LinkState::Linked);
    assert_eq!(link.remote_id.as_deref(), Some("42"));
    assert_eq!(link.remote_key.as_deref(), Some("userone@example.com"));
    assert_eq!(link.pushed_active, Some(true));
}

#[tokio::test]
async fn create_without_an_idp_password_sends_a_strong_random_one() {
    let server = vendor_server().await;
    vendor(Mock::given(method("POST")).and(path("/Provisioning/example/User/")))
        .respond_with(ResponseTemplate::new(200).set_body_string("7"))
        .expect(1)
        .mount(&server)
        .await;
    connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&Desired::Present(user("a@x.com", true)), None)
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let create = requests.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let sent: serde_json::Value = create.body_json().unwrap();
    let password = sent["Password"].as_str().unwrap();
    assert_eq!(password.len(), 24);
    assert!(password.chars().any(|c| c.is_ascii_uppercase()) && password.chars().any(|c| c.is_ascii_digit()));
}

#[tokio::test]
async fn an_inactive_user_is_created_then_deactivated_with_no_body() {
    let server = vendor_server().await;
    vendor(Mock::given(method("POST")).and(path("/Provisioning/example/User/")))
        .respond_with(ResponseTemplate::new(200).set_body_string("5"))
        .expect(1)
        .mount(&server)
        .await;
    vendor(Mock::given(method("PUT")).and(path("/Provisioning/example/User/b@x.com/Deactivate/")))
        .and(header("Content-Length", "0"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let link = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&Desired::Present(user("b@x.com", false)), None)
        .await
        .unwrap();
    assert_eq!(link.pushed_active, Some(false));
}

#[tokio::test]
async fn an_attribute_change_puts_every_field_to_the_email_path_without_a_password() {
    let server = vendor_server().await;
    let before = user("userone@example.com", true);
    let after = UserState {
        family_name: "Once".into(),
        ..before.clone()
    };
    vendor(Mock::given(method("PUT")).and(path("/Provisioning/example/User/userone@example.com/")))
        .and(body_json(json!({"EmailAddress": "userone@example.com", "FirstName": "User", "LastName": "Once"})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let link = linked("userone@example.com", &before, true);
    let new = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&Desired::Present(after.clone()), Some(&link))
        .await
        .unwrap();
    assert_eq!(new.pushed_hash, Some(after.fingerprint()));
    // Nothing differs now: no call at all.
    connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&Desired::Present(after), Some(&new))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_email_change_goes_through_the_old_email_and_moves_the_link_key() {
    let server = vendor_server().await;
    vendor(Mock::given(method("PUT")).and(path("/Provisioning/example/User/old@x.com/")))
        .and(body_json(
            json!({"EmailAddress": "new+tag@x.com", "FirstName": "User", "LastName": "One"}),
        ))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    // Activation goes to the new key, `+` percent-encoded.
    vendor(Mock::given(method("PUT")).and(path("/Provisioning/example/User/new%2Btag@x.com/Deactivate/")))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let old = user("old@x.com", true);
    let desired = Desired::Present(user("new+tag@x.com", false));
    let link = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&desired, Some(&linked("old@x.com", &old, true)))
        .await
        .unwrap();
    assert_eq!(link.remote_key.as_deref(), Some("new+tag@x.com"));
    assert_eq!(link.remote_id.as_deref(), Some("42"));
}

#[tokio::test]
async fn a_rename_whose_answer_was_lost_is_found_under_the_new_email_and_not_created_again() {
    // The user found again is adopted: its state cannot be read, so it is not activated.
    let server = vendor_server().await;
    let before = user("userone@example.com", true);
    let after = user("user.one@example.com", true);
    // The rename took effect, but its answer never came back: the old e-mail is unknown now.
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/userone@example.com/",
        ResponseTemplate::new(404),
        1,
    )
    .await;
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/user.one@example.com/Validate/",
        ResponseTemplate::new(200),
        1,
    )
    .await;
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/user.one@example.com/",
        ResponseTemplate::new(200),
        1,
    )
    .await;
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/user.one@example.com/Activate/",
        ResponseTemplate::new(200),
        0,
    )
    .await;
    mock(
        &server,
        "POST",
        "/Provisioning/example/User/",
        ResponseTemplate::new(200).set_body_string("43"),
        0,
    )
    .await;
    let link = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(
            &Desired::Present(after.clone()),
            Some(&linked("userone@example.com", &before, true)),
        )
        .await
        .unwrap();
    assert_eq!(link.remote_key.as_deref(), Some("user.one@example.com"));
    assert_eq!(link.pushed_hash, Some(after.fingerprint()));
}

#[tokio::test]
async fn validation_results_become_one_readable_permanent_error() {
    let server = vendor_server().await;
    let results = json!([{"MemberNames": ["EmailAddress"], "ErrorMessage": "The e-mail address is already in use"}, {"ErrorMessage": "Password too weak"}]);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(results))
        .mount(&server)
        .await;
    let err = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&Desired::Present(user("a@x.com", true)), None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent {
            status: Some(400),
            detail: "EmailAddress: The e-mail address is already in use; Password too weak".into()
        }
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn forbidden_is_credentials_refused_and_never_shows_the_key() {
    let server = vendor_server().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_string("The Provisioning Key in the header does not match"))
        .mount(&server)
        .await;
    let err = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&Desired::Present(user("a@x.com", true)), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::CredentialsRefused { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(KEY));
    assert!(!format!("{:?}", connector(&server.uri(), Duration::from_secs(1)).settings).contains(KEY));
}

#[tokio::test]
async fn delete_counts_404_as_done() {
    let server = vendor_server().await;
    vendor(Mock::given(method("DELETE")).and(path("/Provisioning/example/User/gone@x.com/")))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let u = user("gone@x.com", true);
    let link = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&Desired::Absent, Some(&linked("gone@x.com", &u, true)))
        .await
        .unwrap();
    assert_eq!(link.state, LinkState::Gone);
    // Nothing linked: nothing to call.
    let nothing = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&Desired::Absent, None)
        .await
        .unwrap();
    assert_eq!(nothing.state, LinkState::Gone);
}

#[tokio::test]
async fn a_user_deleted_at_the_vendor_is_created_again() {
    let server = vendor_server().await;
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/a@x.com/",
        ResponseTemplate::new(404),
        1,
    )
    .await;
    mock(
        &server,
        "POST",
        "/Provisioning/example/User/",
        ResponseTemplate::new(200).set_body_string("99"),
        1,
    )
    .await;
    let stale = Link {
        pushed_hash: Some("old".into()),
        ..linked("a@x.com", &user("a@x.com", true), true)
    };
    let link = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(&Desired::Present(user("a@x.com", true)), Some(&stale))
        .await
        .unwrap();
    assert_eq!(link.remote_id.as_deref(), Some("99"));
}

#[tokio::test]
async fn after_an_unknown_create_outcome_the_user_is_looked_up_before_creating() {
    let server = vendor_server().await;
    // The earlier create did happen: Validate answers 200, so no second POST, and no Activate:
    // the user's state cannot be read, and an administrator may have deactivated it meanwhile.
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/a@x.com/Validate/",
        ResponseTemplate::new(200),
        1,
    )
    .await;
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/a@x.com/",
        ResponseTemplate::new(200),
        1,
    )
    .await;
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/a@x.com/Activate/",
        ResponseTemplate::new(200),
        0,
    )
    .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("1"))
        .expect(0)
        .mount(&server)
        .await;
    let link = connector(&server.uri(), Duration::from_secs(5))
        .reconcile(
            &Desired::Present(user("a@x.com", true)),
            Some(&Link::creating("a@x.com")),
        )
        .await
        .unwrap();
    // Its state is taken to be the IdP's: only a change there moves it.
    assert_eq!((link.state, link.pushed_active), (LinkState::Linked, Some(true)));

    // It did not happen: Validate answers 404, then one POST.
    let absent = vendor_server().await;
    mock(
        &absent,
        "PUT",
        "/Provisioning/example/User/b@x.com/Validate/",
        ResponseTemplate::new(404),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("2"))
        .expect(1)
        .mount(&absent)
        .await;
    connector(&absent.uri(), Duration::from_secs(5))
        .reconcile(
            &Desired::Present(user("b@x.com", true)),
            Some(&Link::creating("b@x.com")),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn overload_timeouts_and_refused_connections_are_transient() {
    let server = vendor_server().await;
    Mock::given(method("POST"))
        .and(path("/Provisioning/example/User/"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "7"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/Provisioning/example/User/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
        .mount(&server)
        .await;
    let c = connector(&server.uri(), Duration::from_millis(200));
    let desired = Desired::Present(user("a@x.com", true));
    let overloaded = c.reconcile(&desired, None).await.unwrap_err();
    assert!(
        matches!(overloaded, ConnectorError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{overloaded:?}"
    );
    // The 7 s Retry-After paused the target: nothing is sent until it passes.
    let paused = c.reconcile(&desired, None).await.unwrap_err();
    assert!(matches!(paused, ConnectorError::Deferred { .. }), "{paused:?}");
    // A create that times out is not sent again within the call (its outcome is unknown).
    let slow = connector(&server.uri(), Duration::from_millis(200))
        .reconcile(&desired, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&slow, ConnectorError::Transient { detail, .. } if detail.starts_with("timed out")),
        "{slow:?}"
    );
    let posts = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 2, "one refused, one timed out: a POST is never repeated blind");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = connector(&format!("http://{closed}"), Duration::from_secs(1))
        .reconcile(&desired, None)
        .await
        .unwrap_err();
    assert!(matches!(refused, ConnectorError::Transient { .. }), "{refused:?}");
}

/// Checked on the raw bytes: without `Content-Length: 0` Workspace365 answers 411.
#[tokio::test]
async fn activate_sends_content_length_zero_on_the_wire() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let capture = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut bytes = vec![0u8; 4096];
        let n = socket.read(&mut bytes).await.unwrap();
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8_lossy(&bytes[..n]).into_owned()
    });
    let u = user("a@x.com", true);
    let link = Link {
        pushed_active: Some(false),
        ..linked("a@x.com", &u, false)
    };
    connector(&format!("http://{address}"), Duration::from_secs(5))
        .reconcile(&Desired::Present(u), Some(&link))
        .await
        .unwrap();
    let request = capture.await.unwrap().to_ascii_lowercase();
    assert!(
        request.starts_with("put /provisioning/example/user/a@x.com/activate/ http/1.1\r\n"),
        "{request}"
    );
    assert!(request.contains("\r\ncontent-length: 0\r\n"), "{request}");
    assert!(request.ends_with("\r\n\r\n"), "no body may follow: {request}");
}

#[tokio::test]
async fn the_connectivity_check_reads_the_environment_list_and_needs_the_environment_in_it() {
    let server = MockServer::start().await;
    vendor(Mock::given(method("GET")).and(path("/Provisioning/Environment/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"Name": "Example"}, {"Name": "other"}])))
        .expect(1)
        .mount(&server)
        .await;
    connector(&server.uri(), Duration::from_secs(5)).check().await.unwrap();

    let listing_others = MockServer::start().await;
    vendor(Mock::given(method("GET")).and(path("/Provisioning/Environment/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"Name": "production"}])))
        .mount(&listing_others)
        .await;
    let refused = connector(&listing_others.uri(), Duration::from_secs(5))
        .check()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("environment 'example' is not one the Provisioning API lists (production)"),
        "{refused}"
    );
}

#[test]
fn path_segments_keep_at_signs_and_encode_the_rest() {
    assert_eq!(segment("userone@example.com"), "userone@example.com");
    assert_eq!(segment("a+b c/d@x.com"), "a%2Bb%20c%2Fd@x.com");
}

/// A user an administrator made (and deactivated) in the portal before the bridge knew it: the
/// plan says adopt and update, and the write path does exactly that: the dry run, one PUT, no
/// create with a random password and no `Activate/`.
#[tokio::test]
async fn a_user_the_portal_already_holds_is_planned_and_written_as_adopt_and_update() {
    let server = vendor_server().await;
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/held@x.com/Validate/",
        ResponseTemplate::new(200),
        2,
    )
    .await;
    mock(
        &server,
        "PUT",
        "/Provisioning/example/User/held@x.com/",
        ResponseTemplate::new(200),
        1,
    )
    .await;
    for never in ["/Provisioning/example/User/", "/Provisioning/example/User/held@x.com/Activate/"] {
        Mock::given(path(never))
            .and(method(if never.ends_with("Activate/") { "PUT" } else { "POST" }))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
    }
    let w365 = connector(&server.uri(), Duration::from_secs(5));
    let desired = Desired::Present(user("held@x.com", true));
    let planned = w365.plan_one(&desired, None).await.unwrap();
    let words: Vec<&str> = planned.iter().map(Step::word).collect();
    assert_eq!(words, ["adopt", "update"]);
    let link = w365.reconcile(&desired, None).await.unwrap();
    assert_eq!(link.remote_key.as_deref(), Some("held@x.com"));
}

/// `IsAdministrator` goes out only when mapped, as a JSON boolean; a mapped value that is not
/// `true` or `false` parks the row before any call, naming the field.
#[tokio::test]
async fn is_administrator_is_sent_only_when_mapped_and_must_be_a_boolean() {
    use crate::sync::mapping::Fields;
    let server = vendor_server().await;
    let w365 = connector(&server.uri(), Duration::from_secs(5));
    let unmapped = user("a@x.com", true);
    assert!(!to_json(&w365.body(&unmapped)).unwrap().contains("IsAdministrator"));
    let admin = UserState {
        fields: Fields::from_pairs([(&FIELDS[0], "True".to_owned())]),
        ..user("a@x.com", true)
    };
    let body: serde_json::Value = serde_json::from_str(&to_json(&w365.body(&admin)).unwrap()).unwrap();
    assert_eq!(body["IsAdministrator"], json!(true));
    let odd = UserState {
        fields: Fields::from_pairs([(&FIELDS[0], "yes".to_owned())]),
        ..user("a@x.com", true)
    };
    let refused = w365.refuse(&odd).unwrap_err().to_string();
    assert!(refused.contains("IsAdministrator"), "{refused}");
    assert!(w365.refuse(&admin).is_ok());
}
