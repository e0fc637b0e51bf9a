//! Authentication: every SCIM route needs a credential; tokens and JWTs.
use crate::helpers::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/Users"),
    ("POST", "/Users"),
    ("POST", "/Users/.search"),
    ("GET", "/Users/some-id"),
    ("PUT", "/Users/some-id"),
    ("PATCH", "/Users/some-id"),
    ("DELETE", "/Users/some-id"),
    ("GET", "/ServiceProviderConfig"),
    ("GET", "/Schemas"),
    ("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"),
    ("GET", "/ResourceTypes"),
    ("GET", "/ResourceTypes/User"),
    ("POST", "/Bulk"),
    ("GET", "/Me"),
    ("GET", "/NoSuchThing"),
];

#[tokio::test]
async fn every_scim_route_answers_401_with_a_scim_error_without_a_valid_token() {
    let app = spawn_app().await;
    for (method, path) in ROUTES {
        for auth in [
            None,
            Some("Bearer wrong-token"),
            Some("Basic dXNlcjpwYXNz"),
            Some("non-token"),
        ] {
            let mut request = app
                .client
                .request(method.parse::<Method>().unwrap(), format!("{}{path}", app.base));
            if let Some(value) = auth {
                request = request.header("Authorization", value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer realm=\"scim-bridge\"",
                "{method} {path}"
            );
            assert_scim_error(response, 401, None, "").await;
        }
    }
}

#[tokio::test]
async fn health_needs_no_token() {
    let app = spawn_app().await;
    let response = app.client.get(format!("{}/healthz", app.origin)).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_revoked_token_stops_working_at_once() {
    let app = spawn_app().await;
    assert_eq!(app.get("/Users?count=1").await.status(), 200);
    app.store.revoke_token("test").await.unwrap();
    assert_scim_error(app.get("/Users?count=1").await, 401, None, "not valid").await;
}

#[tokio::test]
async fn a_rotated_token_keeps_its_old_secret_through_the_grace_and_the_new_one_inherits_its_lifetime() {
    use scim_bridge::http::auth::{generate_token, token_hash};
    use scim_bridge::store::TokenScope;
    use std::time::Duration;
    let app = spawn_app().await;
    let clock = app.store.clock();
    let old = generate_token();
    let in_an_hour = clock.now_utc() + Duration::from_secs(3600);
    app.store
        .insert_expiring_token("okta", &token_hash(&old), TokenScope::Scim, Some(in_an_hour))
        .await
        .unwrap();
    assert_eq!(status_with(&app, &old).await, 200);

    let new = generate_token();
    let rotated = app
        .store
        .rotate_token("okta", &token_hash(&new), Duration::from_secs(600), None)
        .await
        .unwrap();
    assert_eq!(rotated.scope, TokenScope::Scim);
    let about =
        |at: time::OffsetDateTime, from_now: i64| (at - clock.now_utc()).whole_seconds().abs_diff(from_now) <= 2;
    assert!(about(rotated.old_works_until, 600), "{rotated:?}");
    assert!(about(rotated.expires_at.unwrap(), 3600), "{rotated:?}");
    assert_eq!(
        status_with(&app, &old).await,
        200,
        "the old secret works through the grace"
    );
    assert_eq!(status_with(&app, &new).await, 200);

    clock.advance(Duration::from_secs(601));
    assert_eq!(status_with(&app, &old).await, 401, "the grace is over");
    assert_eq!(status_with(&app, &new).await, 200);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        status_with(&app, &new).await,
        401,
        "the new secret lasts as long as the old was made to"
    );

    let rows = app.store.list_tokens().await.unwrap();
    let okta: Vec<_> = rows.iter().filter(|t| t.name == "okta").collect();
    assert_eq!(okta.len(), 2, "{rows:?}");
    assert!(
        okta[0].replaced_at.is_some() && okta[1].replaced_at.is_none(),
        "{okta:?}"
    );
    assert!(
        okta[0].last_used.is_some() && okta[1].last_used.is_some(),
        "each secret's use is its own"
    );
}

#[tokio::test]
async fn an_expired_name_can_be_used_again_and_the_expired_one_is_marked_replaced() {
    use scim_bridge::http::auth::{generate_token, token_hash};
    use scim_bridge::store::{StoreError, TokenScope};
    use std::time::Duration;
    let app = spawn_app().await;
    let clock = app.store.clock();
    let in_an_hour = clock.now_utc() + Duration::from_secs(3600);
    let (old, new) = (generate_token(), generate_token());
    app.store
        .insert_expiring_token("okta", &token_hash(&old), TokenScope::Scim, Some(in_an_hour))
        .await
        .unwrap();
    let taken = app.store.insert_token("okta", &token_hash(&new)).await;
    assert!(
        matches!(taken, Err(StoreError::Conflict { .. })),
        "a working token keeps its name: {taken:?}"
    );
    clock.advance(Duration::from_secs(3601));
    assert_eq!(status_with(&app, &old).await, 401);
    app.store.insert_token("okta", &token_hash(&new)).await.unwrap();
    assert_eq!(status_with(&app, &new).await, 200);
    let rows = app.store.list_tokens().await.unwrap();
    let okta: Vec<_> = rows.iter().filter(|t| t.name == "okta").collect();
    assert_eq!(okta.len(), 2, "{rows:?}");
    assert!(
        okta[0].replaced_at.is_some() && okta[1].replaced_at.is_none(),
        "{okta:?}"
    );
}

#[tokio::test]
async fn a_revoked_name_can_be_used_again_and_only_the_new_secret_opens_it() {
    use scim_bridge::http::auth::{generate_token, token_hash};
    use scim_bridge::store::{StoreError, TokenScope};
    let app = spawn_app().await;
    let again = generate_token();
    let taken = app
        .store
        .insert_scoped_token("test", &token_hash(&again), TokenScope::Scim)
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict { .. })), "{taken:?}");
    app.store.revoke_token("test").await.unwrap();
    app.store
        .insert_scoped_token("test", &token_hash(&again), TokenScope::Scim)
        .await
        .unwrap();
    assert_eq!(
        status_with(&app, &app.token).await,
        401,
        "the revoked secret stays revoked"
    );
    assert_eq!(status_with(&app, &again).await, 200);
    let rotating_nothing = app
        .store
        .rotate_token(
            "nobody",
            &token_hash(&generate_token()),
            std::time::Duration::ZERO,
            None,
        )
        .await;
    assert!(
        matches!(rotating_nothing, Err(StoreError::NotFound)),
        "{rotating_nothing:?}"
    );
}

#[tokio::test]
async fn tokens_are_stored_only_as_sha256() {
    let app = spawn_app().await;
    let tokens = app.store.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_ne!(tokens[0].secret_sha256, app.token);
    assert_eq!(tokens[0].secret_sha256, scim_bridge::http::auth::token_hash(&app.token));
}

fn claims(aud: &str, exp_offset: i64) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({"iss": "https://sts.example.com/", "aud": aud, "sub": "entra", "exp": now + exp_offset, "iat": now})
}

async fn jwt_app(configure: impl FnOnce(&mut scim_bridge::config::JwtSettings)) -> TestApp {
    let mut jwt = scim_bridge::config::JwtSettings {
        issuer: Some("https://sts.example.com/".into()),
        audience: Some("scim-bridge-test".into()),
        ..Default::default()
    };
    configure(&mut jwt);
    spawn_app_with(|s| s.auth.jwt = Some(jwt)).await
}

async fn status_with(app: &TestApp, bearer: &str) -> u16 {
    let response = app
        .client
        .get(format!("{}/Users?count=1", app.base))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn rs256_jwts_are_checked_for_signature_issuer_audience_and_expiry() {
    let app = jwt_app(|j| j.public_key_file = Some("tests/fixtures/jwt-rsa-public.pem".into())).await;
    let key = EncodingKey::from_rsa_pem(include_bytes!("../fixtures/jwt-rsa-private.pem")).unwrap();
    let sign = |c: &serde_json::Value| encode(&Header::new(Algorithm::RS256), c, &key).unwrap();
    assert_eq!(status_with(&app, &sign(&claims("scim-bridge-test", 300))).await, 200);
    assert_eq!(status_with(&app, &sign(&claims("someone-else", 300))).await, 401);
    assert_eq!(status_with(&app, &sign(&claims("scim-bridge-test", -3600))).await, 401);
    // Within the leeway, a just-expired token still passes.
    assert_eq!(status_with(&app, &sign(&claims("scim-bridge-test", -5))).await, 200);
    // Bearer tokens keep working beside JWTs.
    assert_eq!(status_with(&app, &app.token).await, 200);
}

#[tokio::test]
async fn alg_none_and_algorithm_confusion_are_rejected() {
    let app = jwt_app(|j| j.public_key_file = Some("tests/fixtures/jwt-rsa-public.pem".into())).await;
    // HS256 signed with the public key as the secret: the classic confusion attack.
    let public_pem = include_bytes!("../fixtures/jwt-rsa-public.pem");
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims("scim-bridge-test", 300),
        &EncodingKey::from_secret(public_pem),
    )
    .unwrap();
    assert_eq!(status_with(&app, &confused).await, 401);
    // alg: none, no signature.
    use base64_helper::url_encode;
    let none = format!(
        "{}.{}.",
        url_encode(br#"{"alg":"none","typ":"JWT"}"#),
        url_encode(claims("scim-bridge-test", 300).to_string().as_bytes())
    );
    assert_eq!(status_with(&app, &none).await, 401);
}

#[tokio::test]
async fn es256_and_hs256_keys_work_too() {
    let es = jwt_app(|j| j.public_key_file = Some("tests/fixtures/jwt-ec-public.pem".into())).await;
    let key = EncodingKey::from_ec_pem(include_bytes!("../fixtures/jwt-ec-private.pem")).unwrap();
    let token = encode(&Header::new(Algorithm::ES256), &claims("scim-bridge-test", 300), &key).unwrap();
    assert_eq!(status_with(&es, &token).await, 200);

    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hs.secret");
    std::fs::write(&secret_file, "a-test-secret-that-is-at-least-32-bytes-long\n").unwrap();
    let hs = jwt_app(|j| j.hs256_secret_file = Some(secret_file.clone())).await;
    let key = EncodingKey::from_secret(b"a-test-secret-that-is-at-least-32-bytes-long");
    let token = encode(&Header::new(Algorithm::HS256), &claims("scim-bridge-test", 300), &key).unwrap();
    assert_eq!(status_with(&hs, &token).await, 200);
    let wrong = encode(
        &Header::new(Algorithm::HS256),
        &claims("scim-bridge-test", 300),
        &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
    )
    .unwrap();
    assert_eq!(status_with(&hs, &wrong).await, 401);
}

mod base64_helper {
    /// Base64url without padding, enough to forge an `alg: none` token.
    pub fn url_encode(bytes: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[tokio::test]
async fn an_admin_token_is_refused_on_scim_routes_and_listed_with_its_scope() {
    let app = spawn_app().await;
    let admin = scim_bridge::http::auth::generate_token();
    app.store
        .insert_scoped_token(
            "console",
            &scim_bridge::http::auth::token_hash(&admin),
            scim_bridge::store::TokenScope::Admin,
        )
        .await
        .unwrap();
    for path in ["/Users", "/Groups", "/ServiceProviderConfig"] {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_scim_error(response, 403, None, "this is an admin token").await;
    }
    assert_eq!(app.get("/Users").await.status(), 200, "the SCIM token still works");
    let tokens = app.store.list_tokens().await.unwrap();
    let mut scopes: Vec<(&str, &str)> = tokens.iter().map(|t| (t.name.as_str(), t.scope.as_str())).collect();
    scopes.sort();
    assert_eq!(scopes, [("console", "admin"), ("test", "scim")]);
}

fn signed(key: &EncodingKey, algorithm: Algorithm, kid: Option<&str>, claims: &serde_json::Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

async fn publish(idp: &wiremock::MockServer, keys: serde_json::Value) {
    use wiremock::matchers::{method, path};
    idp.reset().await;
    wiremock::Mock::given(method("GET"))
        .and(path("/discovery/keys"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
        .mount(idp)
        .await;
}

async fn fetches(idp: &wiremock::MockServer) -> usize {
    idp.received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn jwts_are_checked_against_the_issuers_jwks_through_a_rotation_unknown_key_ids_and_an_outage() {
    use std::time::Duration;
    let rsa_jwk: serde_json::Value = serde_json::from_str(include_str!("../fixtures/jwk-rsa.json")).unwrap();
    let ec_jwk: serde_json::Value = serde_json::from_str(include_str!("../fixtures/jwk-ec.json")).unwrap();
    let rsa = EncodingKey::from_rsa_pem(include_bytes!("../fixtures/jwt-rsa-private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(include_bytes!("../fixtures/jwt-ec-private.pem")).unwrap();
    let idp = wiremock::MockServer::start().await;
    publish(&idp, json!([rsa_jwk])).await;
    let url = format!("{}/discovery/keys", idp.uri());
    let app = jwt_app(|j| j.jwks_url = Some(url)).await;
    let clock = app.store.clock();
    let valid = claims("scim-bridge-test", 600);
    assert_eq!(fetches(&idp).await, 1, "the keys are fetched at start");

    let by_rsa = signed(&rsa, Algorithm::RS256, Some("rsa-one"), &valid);
    assert_eq!(status_with(&app, &by_rsa).await, 200);
    assert_eq!(
        status_with(&app, &signed(&rsa, Algorithm::RS256, None, &valid)).await,
        401,
        "no kid"
    );
    let wrong_audience = signed(&rsa, Algorithm::RS256, Some("rsa-one"), &claims("someone-else", 600));
    assert_eq!(
        status_with(&app, &wrong_audience).await,
        401,
        "the audience is still checked"
    );
    let confused = signed(
        &EncodingKey::from_secret(include_bytes!("../fixtures/jwt-rsa-public.pem")),
        Algorithm::HS256,
        Some("rsa-one"),
        &valid,
    );
    assert_eq!(
        status_with(&app, &confused).await,
        401,
        "an RSA key verifies RS256 only"
    );
    assert_eq!(fetches(&idp).await, 1, "known keys need no fetch");

    // The issuer rotates: the RSA key is withdrawn, an EC key replaces it.
    publish(&idp, json!([ec_jwk])).await;
    let by_ec = signed(&ec, Algorithm::ES256, Some("ec-two"), &valid);
    assert_eq!(
        status_with(&app, &by_ec).await,
        401,
        "a fetch within a minute of the last one is not made"
    );
    assert_eq!(fetches(&idp).await, 0);
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        status_with(&app, &by_ec).await,
        200,
        "an unknown kid fetches the keys again"
    );
    assert_eq!(fetches(&idp).await, 1);
    assert_eq!(status_with(&app, &by_rsa).await, 401, "a withdrawn key stops working");
    for made_up in ["a", "b", "c"] {
        assert_eq!(
            status_with(&app, &signed(&ec, Algorithm::ES256, Some(made_up), &valid)).await,
            401
        );
    }
    assert_eq!(
        fetches(&idp).await,
        1,
        "made-up key ids do not make the bridge hammer the issuer"
    );

    // The issuer is down: the last good keys keep working.
    idp.reset().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(503))
        .mount(&idp)
        .await;
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        status_with(&app, &signed(&ec, Algorithm::ES256, Some("new"), &valid)).await,
        401
    );
    assert_eq!(fetches(&idp).await, 1, "it tried");
    assert_eq!(status_with(&app, &by_ec).await, 200, "the last good keys are kept");
    assert_eq!(
        status_with(&app, &app.token).await,
        200,
        "tokens made with `token create` work beside JWTs"
    );
}

#[tokio::test]
async fn an_issuer_down_at_start_does_not_stop_the_server_and_its_keys_are_fetched_once_it_answers() {
    let ec_jwk: serde_json::Value = serde_json::from_str(include_str!("../fixtures/jwk-ec.json")).unwrap();
    let ec = EncodingKey::from_ec_pem(include_bytes!("../fixtures/jwt-ec-private.pem")).unwrap();
    let idp = wiremock::MockServer::start().await;
    let url = format!("{}/discovery/keys", idp.uri());
    let app = jwt_app(|j| j.jwks_url = Some(url)).await;
    assert_eq!(app.get("/Users?count=1").await.status(), 200);
    publish(&idp, json!([ec_jwk])).await;
    app.store.clock().advance(std::time::Duration::from_secs(61));
    let token = signed(&ec, Algorithm::ES256, Some("ec-two"), &claims("scim-bridge-test", 600));
    assert_eq!(status_with(&app, &token).await, 200);
}
