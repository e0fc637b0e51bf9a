//! Entra's steady state (run it with `bench/touch.sh`): USERS users linked at the four stateful
//! fake vendors of the test suite (eSign, CyberArk, DocuSign, Eloqua), then a cycle that PATCHes
//! every user's `nickName`, which no target maps. Prints the vendor calls that cycle cost per
//! target, then the calls of a cycle that changes a mapped attribute (`title`).
#[allow(dead_code)]
#[path = "../tests/api/fake_vendors.rs"]
mod fake_vendors;
#[allow(dead_code)]
#[path = "../tests/api/weather.rs"]
mod weather;

use fake_vendors::{FakeVendor, Vendor, DOCUSIGN_ACCOUNT, ESIGN_API_KEY, ESIGN_SALT};
use scim_bridge::app::Application;
use scim_bridge::config::{Settings, TargetSettings};
use scim_bridge::http::auth::{generate_token, token_hash};
use scim_bridge::sync::worker::Outcome;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

const DOCUSIGN_KEY: &str = include_str!("../src/sync/connectors/docusign/test_key.pem");

fn secret(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    path.display().to_string()
}

fn target(vendor: Vendor, uri: &str, dir: &Path) -> TargetSettings {
    let text = match vendor {
        Vendor::Esign => format!(
            "name = \"esign\"\nkind = \"esign\"\nbase_url = \"{uri}/\"\napi_key_file = {:?}\nsalt_file = {:?}",
            secret(dir, "esign.key", ESIGN_API_KEY),
            secret(dir, "esign.salt", ESIGN_SALT)
        ),
        Vendor::Cyberark => format!(
            "name = \"cyberark\"\nkind = \"cyberark\"\nbase_url = \"{uri}/PasswordVault\"\nusername_file = {:?}\npassword_file = {:?}",
            secret(dir, "vault.user", "svc-scim"),
            secret(dir, "vault.pass", "vault-pass")
        ),
        Vendor::Docusign => format!(
            "name = \"docusign\"\nkind = \"docusign\"\noauth_base_url = \"{uri}\"\nintegration_key = \"ik-1\"\nuser_id = \"admin-guid\"\naccount_id = \"{DOCUSIGN_ACCOUNT}\"\nprivate_key_file = {:?}",
            secret(dir, "docusign.pem", DOCUSIGN_KEY)
        ),
        Vendor::Eloqua => format!(
            "name = \"eloqua\"\nkind = \"eloqua\"\nlogin_url = \"{uri}\"\ncompany = \"ACME\"\nusername_file = {:?}\npassword_file = {:?}",
            secret(dir, "eloqua.user", "svc-scim"),
            secret(dir, "eloqua.pass", "Eloqua-Pass-1")
        ),
    };
    toml::from_str(&text).unwrap()
}

#[tokio::main]
async fn main() {
    let users: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let mut fakes = Vec::new();
    let mut targets = Vec::new();
    let mut servers = Vec::new();
    for vendor in [Vendor::Esign, Vendor::Cyberark, Vendor::Docusign, Vendor::Eloqua] {
        let (server, fake) = FakeVendor::start(vendor).await;
        targets.push(target(vendor, &server.uri(), dir.path()));
        fakes.push((vendor, fake));
        servers.push(server);
    }
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.database.url = format!("sqlite://{}", dir.path().join("touch.db").display());
    settings.target = targets;
    let mut app = Application::build(&settings).await.unwrap();
    let worker = app.take_worker().unwrap();
    let base = format!("http://127.0.0.1:{}{}", app.port(), settings.server.base_path);
    let store = app.store().clone();
    let token = generate_token();
    store.insert_token("bench", &token_hash(&token)).await.unwrap();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for n in 0..users {
        let email = format!("user{n}@example.com");
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
            "name": {"givenName": "User", "familyName": format!("N{n}")}, "title": "Engineer",
            "emails": [{"value": email, "type": "work", "primary": true}]});
        let created: serde_json::Value = client
            .post(format!("{base}/Users"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    while worker.run_once().await.unwrap() != Outcome::Idle {}
    println!("{users} users linked at eSign, CyberArk, DocuSign and Eloqua");
    for (label, path, value) in [
        ("nickName (unmapped)", "nickName", "Nick"),
        ("title (mapped by CyberArk, DocuSign, Eloqua)", "title", "Lead"),
    ] {
        let before: Vec<usize> = fakes.iter().map(|(_, f)| f.calls().len()).collect();
        let started = Instant::now();
        for id in &ids {
            let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": path, "value": value}]});
            let status = client
                .patch(format!("{base}/Users/{id}"))
                .bearer_auth(&token)
                .json(&patch)
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_success(), "{status}");
        }
        while worker.run_once().await.unwrap() != Outcome::Idle {}
        let calls: Vec<String> = fakes
            .iter()
            .zip(&before)
            .map(|((vendor, fake), before)| format!("{vendor:?} {}", fake.calls().len() - before))
            .collect();
        let total: usize = fakes.iter().zip(&before).map(|((_, f), b)| f.calls().len() - b).sum();
        println!(
            "touch every user's {label}: {total} vendor calls ({}), {:.2} s",
            calls.join(", "),
            started.elapsed().as_secs_f64()
        );
    }
}
