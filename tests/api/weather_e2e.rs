//! The Okta and Entra sequences against all five vendors at once under 30% faults, with the
//! real binary killed twice: every vendor ends exactly as the store says, with no user created
//! twice and no call against the vendors' contracts.
use crate::crash::{create_token, serve, signal, wait_until, Client};
use crate::fake_vendors::{FakeVendor, Vendor};
use crate::fake_w365::{FakeWorkspace365, VendorUser};
use crate::helpers::USER_SCHEMA;
use crate::targets::{target_with, w365_target};
use crate::weather::{reset_proxy, Faults};
use scim_bridge::config::{Settings, TargetKind, TargetSettings};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const FAULT_RATE: f64 = 0.25;
const RESET_RATE: f64 = 0.05;
const HANG: Duration = Duration::from_millis(1500);

fn address(server: &wiremock::MockServer) -> SocketAddr {
    *server.address()
}

/// The five targets, each reached through a proxy that resets connections.
async fn targets(
    dir: &std::path::Path,
    w365: &wiremock::MockServer,
    fakes: &[(Vendor, TargetKind, &wiremock::MockServer)],
) -> Vec<TargetSettings> {
    // Deletion is what this test exercises under faults; the removal guard is not.
    let timeouts = |t: TargetSettings| TargetSettings {
        timeout_secs: Some(1.0),
        connect_timeout_secs: Some(1.0),
        max_removals: Some(0),
        ..crate::targets::deleting(t)
    };
    let w365_proxy = reset_proxy(address(w365), RESET_RATE, 11).await;
    let mut out = vec![timeouts(w365_target(
        "w365",
        None,
        &format!("http://{w365_proxy}/Provisioning"),
    ))];
    for (n, (_, kind, server)) in fakes.iter().enumerate() {
        let proxy = format!(
            "http://{}",
            reset_proxy(address(server), RESET_RATE, 12 + n as u64).await
        );
        // DocuSign and Eloqua would be told the fake's own address by discovery: stay on the proxy.
        let base_url = match kind {
            TargetKind::Docusign => format!("base_url = \"{proxy}/restapi\""),
            TargetKind::Eloqua => format!("base_url = \"{proxy}\""),
            _ => String::new(),
        };
        out.push(timeouts(target_with(*kind, &proxy, dir, &base_url)));
    }
    out
}

pub fn okta_user(n: usize) -> Value {
    let email = format!("okta{n}@example.com");
    json!({"schemas": [USER_SCHEMA], "userName": email, "active": true,
           "name": {"givenName": format!("Okta{n}"), "familyName": "Before"},
           "emails": [{"primary": true, "value": email, "type": "work"}]})
}

pub fn entra_user(n: usize) -> Value {
    let email = format!("entra{n}@example.com");
    json!({"schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
           "externalId": format!("ext-{n}"), "userName": email, "active": "True",
           "name": {"givenName": format!("Entra{n}"), "familyName": "Before"},
           "emails": [{"primary": true, "value": email, "type": "work"}], "roles": []})
}

/// A live user as every vendor should hold it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    pub email: String,
    pub given: String,
    pub family: String,
    pub active: bool,
}

pub async fn expected(client: &Client) -> Vec<Expected> {
    let list = client.send(reqwest::Method::GET, "/Users?count=1000", None).await;
    let mut users: Vec<Expected> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| Expected {
            email: u["emails"][0]["value"].as_str().unwrap().to_owned(),
            given: u["name"]["givenName"].as_str().unwrap().to_owned(),
            family: u["name"]["familyName"].as_str().unwrap().to_owned(),
            active: u["active"].as_bool().unwrap(),
        })
        .collect();
    users.sort();
    users
}

fn text(user: &Value, key: &str) -> String {
    user[key].as_str().unwrap_or_default().to_owned()
}

/// How every fake reads as `Expected` rows, by target (only users the vendor holds as live or
/// not deleted; eSign and DocuSign cannot delete, so the deleted user is there, inactive).
fn held(vendor: Vendor, users: &[Value]) -> Vec<Expected> {
    let mut out: Vec<Expected> = users
        .iter()
        .map(|u| match vendor {
            Vendor::Esign => Expected {
                email: text(u, "Username"),
                given: text(u, "FirstName"),
                family: text(u, "LastName"),
                active: u["Active"] == true,
            },
            // The vault's `username` is the SCIM userName; the e-mail is its business e-mail.
            Vendor::Cyberark => Expected {
                email: text(&u["internet"], "businessEmail"),
                given: text(&u["personalDetails"], "firstName"),
                family: text(&u["personalDetails"], "lastName"),
                active: u["enableUser"] == true,
            },
            Vendor::Docusign => Expected {
                email: text(u, "email"),
                given: text(u, "firstName"),
                family: text(u, "lastName"),
                active: u["userStatus"] != "Closed",
            },
            Vendor::Eloqua => Expected {
                email: text(u, "emailAddress"),
                given: text(u, "firstName"),
                family: text(u, "lastName"),
                active: u["isDisabled"] == "False",
            },
        })
        .collect();
    out.sort();
    out
}

/// Queued rows of every target, from `/metrics` (None while the server is unreachable).
pub async fn queued(client: &Client) -> Option<u64> {
    let text = client.metrics().await?;
    let rows = text
        .lines()
        .filter(|l| l.starts_with("scim_bridge_sync_queue_rows{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    Some(rows as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_converges_exactly_under_30_percent_faults_and_two_kills() {
    let (w365_server, w365) = FakeWorkspace365::start(Duration::ZERO).await;
    w365.set_weather(Faults::new(FAULT_RATE, 1, HANG));
    let kinds = [
        (Vendor::Esign, TargetKind::Esign),
        (Vendor::Cyberark, TargetKind::Cyberark),
        (Vendor::Docusign, TargetKind::Docusign),
        (Vendor::Eloqua, TargetKind::Eloqua),
    ];
    let mut fakes = Vec::new();
    for (n, (vendor, kind)) in kinds.into_iter().enumerate() {
        let (server, fake) = FakeVendor::start(vendor).await;
        fake.set_weather(Faults::new(FAULT_RATE, 2 + n as u64, HANG));
        fakes.push((vendor, kind, server, fake));
    }
    let dir = tempfile::tempdir().unwrap();
    let servers: Vec<_> = fakes.iter().map(|(v, k, s, _)| (*v, *k, s)).collect();
    let settings = Settings {
        target: targets(dir.path(), &w365_server, &servers).await,
        ..Settings::default()
    };
    let mut text = toml::to_string(&settings).unwrap();
    text = text.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"");
    text = text.replace("admin_listen = \"127.0.0.1:8081\"", "admin_listen = \"off\"");
    text = text.replace(
        "url = \"sqlite://scim-bridge.db\"",
        &format!("url = \"sqlite://{}\"", dir.path().join("weather.db").display()),
    );
    let config = dir.path().join("weather.toml");
    std::fs::write(&config, text).unwrap();
    let token = create_token(&config);
    let calls = || w365.calls().len() + fakes.iter().map(|f| f.3.calls().len()).sum::<usize>();

    // 24 users, Okta's and Entra's forms; killed while their creates are going out.
    let mut server = serve(&config);
    let mut client = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        token,
    };
    let mut ids = Vec::new();
    for n in 0..12 {
        for body in [okta_user(n), entra_user(n)] {
            ids.push(
                client.send(reqwest::Method::POST, "/Users", Some(body)).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    wait_until("the first vendor calls", || calls() >= 30).await;
    signal(&server.child, "-KILL");
    server.child.wait().unwrap();

    // Restarted: a deactivation, a rename, a delete, Entra's string boolean, ten quick updates.
    server = serve(&config);
    client.base = server.base.clone();
    later_changes(&client, &ids, 10).await;
    let before = calls();
    wait_until("more vendor calls", || calls() >= before + 30).await;
    signal(&server.child, "-KILL");
    server.child.wait().unwrap();

    // Restarted again; the faults go on. Everything must converge.
    server = serve(&config);
    client.base = server.base.clone();
    let started = Instant::now();
    while queued(&client).await != Some(0) {
        let metrics = client.metrics().await.unwrap_or_default();
        let dead = metrics.lines().any(|l| {
            l.starts_with("scim_bridge_sync_queue_rows{") && l.contains("state=\"dead\"") && !l.ends_with(" 0")
        });
        if dead || started.elapsed() >= Duration::from_secs(240) {
            let db = dir.path().join("weather.db");
            let dead = std::process::Command::new("sqlite3")
                .arg(&db)
                .arg("SELECT target, resource_id, attempts, last_error FROM sync_queue")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            eprintln!("rows left:\n{dead}");
        }
        assert!(
            !dead && started.elapsed() < Duration::from_secs(240),
            "not converged: {:?} rows\n{}",
            queued(&client).await,
            client
                .metrics()
                .await
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("scim_bridge_sync_queue_rows{") || l.starts_with("scim_bridge_target_state{"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let converged = started.elapsed();
    let want = expected(&client).await;
    signal(&server.child, "-TERM");
    assert!(server.child.wait().unwrap().success());

    let gone = deleted_user();
    let others: Vec<_> = fakes.iter().map(|(vendor, _, _, fake)| (*vendor, fake)).collect();
    assert_every_vendor_holds(&want, &w365, &others, &gone);
    eprintln!("converged {converged:?} after the last restart");
}

/// Workspace365 and the four others hold exactly `want`, the store's live users (eSign and
/// DocuSign cannot delete: `gone`, the deleted user, may stay there deactivated), with no user
/// created twice and no call against a vendor's contract.
pub fn assert_every_vendor_holds(
    want: &[Expected],
    w365: &FakeWorkspace365,
    fakes: &[(Vendor, &FakeVendor)],
    gone: &Expected,
) {
    // An inactive user a vendor never had is not created there (`create_inactive` is off; only
    // CyberArk creates users disabled): whether a kill came before that user's create decides
    // whether the vendor holds them deactivated or not at all.
    let may_lack = |vendor: Option<Vendor>, e: &Expected| !e.active && vendor != Some(Vendor::Cyberark);
    let w365_holds: BTreeMap<String, VendorUser> = w365.users();
    let w365_want: BTreeMap<String, VendorUser> = want
        .iter()
        .filter(|e| !may_lack(None, e) || w365_holds.contains_key(&e.email))
        .map(|e| {
            (
                e.email.clone(),
                VendorUser {
                    first_name: e.given.clone(),
                    last_name: e.family.clone(),
                    active: e.active,
                },
            )
        })
        .collect();
    assert_eq!(w365_holds, w365_want, "Workspace365");
    assert_eq!(w365.duplicate_creates(), 0, "Workspace365 duplicate creates");
    for (vendor, fake) in fakes {
        let mut holds = held(*vendor, &fake.users());
        if matches!(vendor, Vendor::Esign | Vendor::Docusign) {
            holds.retain(|h| h != gone);
        }
        let extra: Vec<_> = holds.iter().filter(|h| !want.contains(h)).collect();
        let missing: Vec<_> = want
            .iter()
            .filter(|e| !holds.contains(e) && !may_lack(Some(*vendor), e))
            .collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{vendor:?}: holds {extra:?} and lacks {missing:?}"
        );
        assert_eq!(fake.violations(), Vec::<String>::new(), "{vendor:?}");
    }
}

/// Changes after the first kill, to `ids` as `okta_user`/`entra_user` made them in turn: Okta's
/// deactivation, Entra's e-mail rename, a delete (of `deleted_user`), Entra's string boolean, and
/// `updates` quick PUTs of one user.
pub async fn later_changes(client: &Client, ids: &[String], updates: usize) {
    client
        .patch(&ids[0], json!([{"op": "replace", "value": {"active": false}}]))
        .await;
    client
        .patch(
            &ids[1],
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "renamed1@example.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Renamed"},
            ]),
        )
        .await;
    client
        .send(reqwest::Method::DELETE, &format!("/Users/{}", ids[2]), None)
        .await;
    client
        .patch(&ids[3], json!([{"op": "Replace", "path": "active", "value": "False"}]))
        .await;
    for v in 0..updates {
        let mut body = okta_user(2);
        body["name"]["familyName"] = json!(format!("Update{v}"));
        client
            .send(reqwest::Method::PUT, &format!("/Users/{}", ids[4]), Some(body))
            .await;
    }
}

/// The user `later_changes` deletes, as it was when deleted (eSign and DocuSign keep it).
pub fn deleted_user() -> Expected {
    Expected {
        email: "okta1@example.com".into(),
        given: "Okta1".into(),
        family: "Before".into(),
        active: false,
    }
}
