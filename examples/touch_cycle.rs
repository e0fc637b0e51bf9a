//! Entra's steady state (run it with `bench/touch.sh`): USERS users linked at the four stateful
//! fake vendors of the test suite (eSign, CyberArk, DocuSign, Eloqua), then a cycle that PATCHes
//! every user's `nickName`, which no target maps. Prints the vendor calls that cycle cost per
//! target, then the calls of a cycle that changes a mapped attribute (`title`).
#[allow(dead_code)]
#[path = "../tests/api/fake_vendors.rs"]
mod fake_vendors;
#[allow(dead_code)]
#[path = "../tests/api/fake_w365.rs"]
mod fake_w365;
#[allow(dead_code)]
#[path = "../tests/api/targets.rs"]
mod targets;
#[allow(dead_code)]
#[path = "../tests/api/weather.rs"]
mod weather;

use scim_bridge::app::Application;
use scim_bridge::config::Settings;
use scim_bridge::http::auth::{generate_token, token_hash};
use scim_bridge::sync::worker::Outcome;
use serde_json::json;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let users: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let (_servers, fakes, targets) = targets::four_fakes(dir.path()).await;
    let names = ["eSign", "CyberArk", "DocuSign", "Eloqua"];
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.admin_listen = "off".into();
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
        let before: Vec<usize> = fakes.iter().map(|f| f.calls().len()).collect();
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
        let calls: Vec<String> = (0..fakes.len())
            .map(|n| format!("{} {}", names[n], fakes[n].calls().len() - before[n]))
            .collect();
        let total: usize = fakes.iter().zip(&before).map(|(f, b)| f.calls().len() - b).sum();
        println!(
            "touch every user's {label}: {total} vendor calls ({}), {:.2} s",
            calls.join(", "),
            started.elapsed().as_secs_f64()
        );
    }
}
