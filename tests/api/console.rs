//! The operator console's sign-in (README "Operator console"): an admin token opens a session kept
//! in an HttpOnly, SameSite=Strict cookie; a SCIM token cannot sign in; sign-out needs the CSRF
//! token; a session ends when its token is revoked; the targets page shows each target.
use crate::fake_vendors::*;
use crate::helpers::*;
use crate::targets::target_for;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use scim_bridge::config::{TargetKind, TargetMode};
use scim_bridge::http::auth::{generate_token, token_hash};
use scim_bridge::store::TokenScope;

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn sign_in(app: &TestApp, token: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}/admin/login", app.console))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

/// The session cookie a sign-in set, as `name=value`.
pub fn session_cookie(response: &reqwest::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

/// A Workspace365 that refuses every new user's domain (the row goes dead with the vendor's words)
/// and a target `w365` at it.
pub async fn refusing_w365() -> (wiremock::MockServer, scim_bridge::config::TargetSettings) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let vendor = crate::fake_w365::provisioning_api().await;
    Mock::given(method("POST"))
        .and(path("/Provisioning/example/User/"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!([{"MemberNames": ["EmailAddress"], "ErrorMessage": "The domain is not allowed"}]),
        ))
        .mount(&vendor)
        .await;
    let target = crate::targets::w365_target("w365", None, &format!("{}/Provisioning", vendor.uri()));
    (vendor, target)
}

/// The vendor of `refusing_w365` fixed: it now takes new users.
pub async fn fix_w365(vendor: &wiremock::MockServer) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    vendor.reset().await;
    Mock::given(method("POST"))
        .and(path("/Provisioning/example/User/"))
        .respond_with(ResponseTemplate::new(200).set_body_string("17"))
        .mount(vendor)
        .await;
}

pub async fn admin_token(app: &TestApp) -> String {
    let token = generate_token();
    app.store
        .insert_scoped_token("ops", &token_hash(&token), TokenScope::Admin)
        .await
        .unwrap();
    token
}

#[tokio::test]
async fn an_admin_token_signs_in_with_a_strict_http_only_cookie_and_a_scim_token_cannot() {
    let (server, _fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let mut target = target_for(TargetKind::Cyberark, &server.uri(), dir.path());
    target.mode = TargetMode::Observe;
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let client = no_redirects();
    // Not signed in: every page sends to the sign-in form.
    let response = client.get(format!("{}/admin", app.console)).send().await.unwrap();
    assert_eq!(
        (response.status().as_u16(), &response.headers()[LOCATION]),
        (303, &"/admin/login".parse().unwrap())
    );
    let form = client.get(format!("{}/admin/login", app.console)).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("name=\"token\""));
    // An IdP's token is refused, and so is nonsense.
    let refused = sign_in(&app, &app.token).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get(SET_COOKIE).is_none());
    let body = refused.text().await.unwrap();
    assert!(body.contains("a SCIM token cannot sign in"), "{body}");
    assert_eq!(sign_in(&app, "scb_nonsense").await.status(), 401);

    let admin = admin_token(&app).await;
    let signed_in = sign_in(&app, &admin).await;
    assert_eq!(signed_in.status(), 303);
    let set = signed_in.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=28800"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http here: {set}");
    assert!(!set.contains(&admin), "the cookie is not the token");
    let cookie = session_cookie(&signed_in);
    let page = client
        .get(format!("{}/admin", app.console))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("<h2>cyberark</h2>") && html.contains("observe"), "{html}");
    // Check on demand: the target's read-only probe, with the session's CSRF token.
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let checked = client
        .post(format!("{}/admin/check", app.console))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("target", "cyberark")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(checked.contains("ok: Logon and Logoff succeeded"), "{checked}");
    let forged = client
        .post(format!("{}/admin/check", app.console))
        .header(COOKIE, &cookie)
        .form(&[("csrf", "x"), ("target", "cyberark")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // The session does not open the SCIM API, nor does the admin token.
    let scim = client
        .get(format!("{}/Users", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status(), 401);
}

#[tokio::test]
async fn sign_out_needs_the_forms_csrf_token_and_revoking_the_token_ends_the_session() {
    let app = spawn_app().await;
    let client = no_redirects();
    let admin = admin_token(&app).await;
    let cookie = session_cookie(&sign_in(&app, &admin).await);
    let page = |cookie: String| {
        let client = client.clone();
        let url = format!("{}/admin", app.console);
        async move { client.get(url).header(COOKIE, cookie).send().await.unwrap() }
    };
    let html = page(cookie.clone()).await.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let forged = client
        .post(format!("{}/admin/logout", app.console))
        .header(COOKIE, &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(page(cookie.clone()).await.status(), 200, "still signed in");
    let out = client
        .post(format!("{}/admin/logout", app.console))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(page(cookie).await.status(), 303, "the session is gone");

    let cookie = session_cookie(&sign_in(&app, &admin).await);
    assert_eq!(page(cookie.clone()).await.status(), 200);
    app.store.revoke_token("ops").await.unwrap();
    assert_eq!(
        page(cookie.clone()).await.status(),
        303,
        "revoking the token ends its sessions"
    );
    let reused = scim_bridge::http::auth::generate_token();
    app.store
        .insert_scoped_token("ops", &token_hash(&reused), TokenScope::Admin)
        .await
        .unwrap();
    assert_eq!(
        page(cookie).await.status(),
        303,
        "a session does not come back with a new token of the same name"
    );
    let cookie = session_cookie(&sign_in(&app, &reused).await);
    assert_eq!(page(cookie.clone()).await.status(), 200);
    let rotated = scim_bridge::http::auth::generate_token();
    app.store
        .rotate_token("ops", &token_hash(&rotated), std::time::Duration::from_secs(3600), None)
        .await
        .unwrap();
    assert_eq!(
        page(cookie).await.status(),
        303,
        "rotating ends the sessions: sign in again"
    );
    assert_eq!(
        sign_in(&app, &reused).await.status(),
        303,
        "the old secret still signs in during the grace"
    );
}

#[tokio::test]
async fn the_users_page_shows_a_users_document_links_rows_and_the_vendors_words_never_a_password() {
    let (server, fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Cyberark, &server.uri(), dir.path())]).await;
    let mut user = crate::helpers::user("ann@example.com");
    user["password"] = serde_json::json!("Sup3r-Secret!");
    user["title"] = serde_json::json!("Vice President of Very Long Titles and Other Things");
    app.create_user(&user).await;
    app.drain_sync().await;
    assert!(fake.users().is_empty(), "the title is over CyberArk's limit");
    let admin = admin_token(&app).await;
    let cookie = session_cookie(&sign_in(&app, &admin).await);
    let client = no_redirects();
    let get = |query: &'static str| {
        let (client, cookie) = (client.clone(), cookie.clone());
        let url = format!("{}/admin/users{query}", app.console);
        async move {
            client
                .get(url)
                .header(COOKIE, cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let html = get("?q=ann%40example.com").await;
    for expected in [
        "<h2>ann@example.com</h2>",
        "cyberark",
        "dead",
        "is 51 characters; the vendor takes at most 49",
        "&quot;userName&quot;: &quot;ann@example.com&quot;",
    ] {
        assert!(html.contains(expected), "{expected} missing: {html}");
    }
    assert!(!html.contains("Sup3r-Secret!"), "never a password");
    assert!(get("?q=nobody")
        .await
        .contains("No user has that id, userName or e-mail, and none starts with it."));
    let signed_out = no_redirects()
        .get(format!("{}/admin/users?q=ann", app.console))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
}

#[tokio::test]
async fn a_dead_row_is_listed_with_the_vendors_words_and_retry_asks_then_carries_it_out() {
    use wiremock::matchers::method;
    use wiremock::{Mock, ResponseTemplate};
    let (vendor, target) = refusing_w365().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&vendor)
        .await;
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let id = app.create_user(&crate::helpers::user("bo@example.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_sync().await;
    assert_eq!(app.store.sync_rows().await.unwrap()[0].state, "dead");

    let admin = admin_token(&app).await;
    let cookie = session_cookie(&sign_in(&app, &admin).await);
    let client = no_redirects();
    let card = client
        .get(format!("{}/admin", app.console))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        card.contains(r#"<a href="/admin/dead?target=w365">1</a>"#),
        "the dead count leads to the list: {card}"
    );
    let html = client
        .get(format!("{}/admin/dead?target=w365", app.console))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("bo@example.com") && html.contains("The domain is not allowed"),
        "{html}"
    );
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let retry = |fields: Vec<(&'static str, String)>| {
        let (client, cookie) = (client.clone(), cookie.clone());
        let url = format!("{}/admin/dead/retry", app.console);
        async move {
            client
                .post(url)
                .header(COOKIE, cookie)
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    let forged = retry(vec![
        ("csrf", "x".into()),
        ("target", "w365".into()),
        ("user", id.clone()),
        ("confirm", "yes".into()),
    ])
    .await;
    assert_eq!(forged.status(), 403);
    let unknown = retry(vec![
        ("csrf", csrf.clone()),
        ("target", "nowhere\r\nX-Injected: 1".into()),
        ("confirm", "yes".into()),
    ])
    .await;
    assert_eq!(unknown.status(), 404, "only a configured target");
    let asked = retry(vec![
        ("csrf", csrf.clone()),
        ("target", "w365".into()),
        ("user", id.clone()),
    ])
    .await;
    assert_eq!(asked.status(), 200);
    assert!(asked.text().await.unwrap().contains("Yes, retry"));
    assert_eq!(
        app.store.sync_rows().await.unwrap()[0].state,
        "dead",
        "nothing happens before the confirmation"
    );

    // The vendor is fixed; the confirmed retry makes the row due, and it succeeds.
    fix_w365(&vendor).await;
    let done = retry(vec![
        ("csrf", csrf),
        ("target", "w365".into()),
        ("user", id),
        ("confirm", "yes".into()),
    ])
    .await;
    assert_eq!(done.status(), 303);
    assert_eq!(app.store.sync_rows().await.unwrap()[0].state, "pending");
    app.drain_sync().await;
    assert!(
        app.store.sync_rows().await.unwrap().is_empty(),
        "the retried row succeeded"
    );
}

#[tokio::test]
async fn the_events_page_lists_the_newest_calls_filtered_by_target_user_and_outcome() {
    let (server, _fake) = FakeVendor::start(Vendor::Cyberark).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.target = vec![target_for(TargetKind::Cyberark, &server.uri(), dir.path())]).await;
    app.create_user(&crate::helpers::user("fine@example.com")).await;
    let mut long = crate::helpers::user("long@example.com");
    long["title"] = serde_json::json!("Vice President of Very Long Titles and Other Things");
    let long_id = app.create_user(&long).await["id"].as_str().unwrap().to_owned();
    app.drain_sync().await;
    let admin = admin_token(&app).await;
    let cookie = session_cookie(&sign_in(&app, &admin).await);
    let client = no_redirects();
    let get = |query: String| {
        let (client, cookie) = (client.clone(), cookie.clone());
        let url = format!("{}/admin/events{query}", app.console);
        async move {
            client
                .get(url)
                .header(COOKIE, cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let all = get(String::new()).await;
    assert!(
        all.contains("fine@example.com") && all.contains("long@example.com"),
        "{all}"
    );
    let failed = get("?outcome=failed".into()).await;
    assert!(
        failed.contains("long@example.com") && !failed.contains("fine@example.com"),
        "{failed}"
    );
    assert!(failed.contains("is 51 characters"), "{failed}");
    let ok = get("?outcome=ok&target=cyberark".into()).await;
    assert!(
        ok.contains("fine@example.com") && !ok.contains("long@example.com"),
        "{ok}"
    );
    let by_user = get(format!("?user={long_id}")).await;
    assert!(by_user.contains("long@example.com") && !by_user.contains("fine@example.com"));
    assert!(get("?target=elsewhere".into()).await.contains("No event."));
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_request_came_over_https_or_public_url_is_https() {
    let secure_after = |app: &TestApp, token: String, proto: Option<&'static str>| {
        let request = no_redirects()
            .post(format!("{}/admin/login", app.console))
            .form(&[("token", token)]);
        let request = match proto {
            Some(proto) => request.header("X-Forwarded-Proto", proto),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 303);
            response.headers()[SET_COOKIE].to_str().unwrap().contains("; Secure")
        }
    };
    // Behind a trusted proxy that terminated TLS.
    let app = spawn_app_with(|s| s.server.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    let token = admin_token(&app).await;
    assert!(secure_after(&app, token.clone(), Some("https")).await);
    assert!(!secure_after(&app, token, Some("http")).await);
    // Anyone else's word for it does not count.
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    assert!(!secure_after(&app, token, Some("https")).await);
    // The configured public URL is https.
    let app = spawn_app_with(|s| s.server.public_url = Some("https://scim.example.com".into())).await;
    let token = admin_token(&app).await;
    assert!(secure_after(&app, token, None).await);
}

/// A U+0000 typed or pasted into the console's searches finds nothing, on both backends (PostgreSQL
/// refuses it in any text it is handed).
#[tokio::test]
async fn a_nul_in_a_console_search_finds_nothing() {
    let app = spawn_app().await;
    app.create_user(&crate::helpers::user("ann@example.com")).await;
    let admin = admin_token(&app).await;
    let cookie = session_cookie(&sign_in(&app, &admin).await);
    for (page, expected) in [
        (
            "users?q=ann%00",
            "No user has that id, userName or e-mail, and none starts with it.",
        ),
        ("events?user=%00&target=a%00&outcome=%00", "No event."),
        ("dead?target=%00", "No dead row."),
    ] {
        let response = no_redirects()
            .get(format!("{}/admin/{page}", app.console))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{page}");
        let html = response.text().await.unwrap();
        assert!(html.contains(expected), "{page}: {html}");
    }
}

#[tokio::test]
async fn the_console_listens_on_its_own_address_and_is_404_on_the_scim_port_unless_put_there() {
    assert_eq!(
        scim_bridge::config::Settings::default().server.admin_listen,
        "127.0.0.1:8081",
        "by default the console is on loopback, apart from the SCIM port"
    );
    let app = spawn_app().await;
    assert_ne!(app.console, app.origin);
    let admin = admin_token(&app).await;
    let client = no_redirects();
    let status = |url: String, bearer: Option<&str>| {
        let client = client.clone();
        let bearer = bearer.map(str::to_owned);
        async move {
            let mut request = client.get(url);
            if let Some(bearer) = bearer {
                request = request.bearer_auth(bearer);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    for path in ["/admin", "/admin/login", "/admin/users"] {
        assert_eq!(
            status(format!("{}{path}", app.origin), None).await,
            404,
            "{path} on the SCIM port"
        );
    }
    let refused = no_redirects()
        .post(format!("{}/admin/login", app.origin))
        .form(&[("token", admin.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404, "no sign-in on the SCIM port");

    assert_eq!(status(format!("{}/admin/login", app.console), None).await, 200);
    assert_eq!(
        sign_in(&app, &admin).await.status(),
        303,
        "sign-in on the console's port"
    );
    assert_eq!(status(format!("{}/healthz", app.console), None).await, 200);
    let scim_on_console = status(format!("{}/scim/v2/Users", app.console), Some(&app.token)).await;
    assert_eq!(scim_on_console, 404, "the console's port serves no SCIM");
    assert_eq!(status(format!("{}/metrics", app.console), Some(&app.token)).await, 404);
    assert_eq!(
        status(format!("{}/Users?count=1", app.base), Some(&app.token)).await,
        200
    );

    let together = spawn_app_with(|s| s.server.admin_listen = "same".into()).await;
    assert_eq!(together.console, together.origin);
    assert_eq!(
        status(format!("{}/admin/login", together.origin), None).await,
        200,
        "put there on purpose"
    );
    assert_eq!(
        status(format!("{}/Users?count=1", together.base), Some(&together.token)).await,
        200
    );

    let without = spawn_app_with(|s| s.server.admin_listen = "off".into()).await;
    assert_eq!(status(format!("{}/admin/login", without.origin), None).await, 404);
}
