//! The real binary with a `[[target]]` pointing at a stateful fake Workspace365: killed with SIGKILL
//! mid fan-out and restarted, every vendor converges on the store with no create sent twice; stopped
//! with SIGTERM, vendor calls in flight finish and nothing is left queued.
use crate::fake_w365::{FakeWorkspace365, VendorUser};
use crate::targets::W365_KEY;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

pub fn write_config(dir: &Path, vendor: &str) -> std::path::PathBuf {
    write_config_on(dir, vendor, &format!("sqlite://{}", dir.join("crash.db").display()))
}

/// The same, on the database at `database_url`.
fn write_config_on(dir: &Path, vendor: &str, database_url: &str) -> std::path::PathBuf {
    let key = dir.join("w365.key");
    std::fs::write(&key, W365_KEY).unwrap();
    let config = dir.join("bridge.toml");
    let text = format!(
        r#"[server]
listen = "127.0.0.1:0"
admin_listen = "off"
[database]
url = "{database_url}"
[[target]]
name = "w365"
kind = "workspace365"
base_url = "{vendor}/Provisioning"
environment = "example"
provisioning_key_file = "{key}"
concurrency = 4
# The crash test checks that deletes reach the vendor: whether a user deleted right after the
# restart was already created there (and would be kept deactivated) depends on timing.
on_delete = "delete"
"#,
        key = key.display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

pub fn bridge(config: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(config).env("RUST_LOG", "info");
    c
}

pub fn create_token(config: &Path) -> String {
    let out = bridge(config).args(["token", "create", "crash"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A running `serve` and the base URL it printed in its start-up log line.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Every line the server has logged so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A failing test must not leave a server running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(config: &Path) -> Server {
    let mut child = bridge(config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line.clone());
            if line.contains("serving SCIM") {
                let port = line.split("port=").nth(1).and_then(|p| p.split_whitespace().next());
                let _ = port_tx.send(port.unwrap_or_default().to_owned());
            }
        }
    });
    let port = port_rx.recv_timeout(Duration::from_secs(30)).expect("serve starts");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    }
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Client {
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/scim/v2{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    pub async fn patch(&self, id: &str, operations: Value) {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
        self.send(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(body))
            .await;
    }

    /// The `/metrics` page (None while the server is unreachable).
    pub async fn metrics(&self) -> Option<String> {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        response.text().await.ok()
    }

    /// The metrics line for one queue state, e.g. pending rows.
    pub async fn queue_rows(&self, state: &str) -> Option<u64> {
        let text = self.metrics().await?;
        let prefix = format!(r#"scim_bridge_sync_queue_rows{{target="w365",state="{state}"}} "#);
        text.lines().find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
    }

    /// What the store says each live user should be at the vendor, by e-mail.
    async fn expected_vendor_state(&self) -> BTreeMap<String, VendorUser> {
        let list = self.send(reqwest::Method::GET, "/Users?count=1000", None).await;
        list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                let user = VendorUser {
                    first_name: u["name"]["givenName"].as_str().unwrap().to_owned(),
                    last_name: u["name"]["familyName"].as_str().unwrap().to_owned(),
                    active: u["active"].as_bool().unwrap(),
                };
                (u["userName"].as_str().unwrap().to_owned(), user)
            })
            .collect()
    }
}

fn person(n: usize) -> Value {
    let email = format!("crash{n}@example.com");
    json!({"schemas": [USER_SCHEMA], "userName": email, "active": true,
           "name": {"givenName": format!("G{n}"), "familyName": "Before"},
           "emails": [{"primary": true, "value": email}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_fan_out_and_restarted_every_change_reaches_the_vendor_and_no_create_is_sent_twice() {
    let (vendor, fake) = FakeWorkspace365::start(Duration::from_millis(150)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &vendor.uri());
    let token = create_token(&config);

    let mut first = serve(&config);
    let client = Client {
        http: reqwest::Client::new(),
        base: first.base.clone(),
        token: token.clone(),
    };
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(
            client.send(reqwest::Method::POST, "/Users", Some(person(n))).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &ids[..5] {
        client
            .patch(
                id,
                json!([{"op": "replace", "path": "name.familyName", "value": "During"}]),
            )
            .await;
    }
    // Killed while creates are in flight at the vendor (four at a time, 150 ms each).
    wait_until("the first creates", || fake.calls().len() >= 6).await;
    signal(&first.child, "-KILL");
    first.child.wait().unwrap();
    let calls_at_kill = fake.calls().len();
    assert!(calls_at_kill < 35, "the kill came mid fan-out ({calls_at_kill} calls)");

    let mut second = serve(&config);
    let client = Client {
        base: second.base.clone(),
        ..client
    };
    for id in &ids[5..10] {
        client
            .patch(
                id,
                json!([{"op": "replace", "path": "name.familyName", "value": "After"}]),
            )
            .await;
    }
    for id in &ids[10..13] {
        client
            .patch(id, json!([{"op": "replace", "path": "active", "value": false}]))
            .await;
    }
    for id in &ids[13..15] {
        client
            .send(reqwest::Method::DELETE, &format!("/Users/{id}"), None)
            .await;
    }
    let started = Instant::now();
    loop {
        let (pending, dead) = (client.queue_rows("pending").await, client.queue_rows("dead").await);
        if pending == Some(0) && dead == Some(0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the queue did not drain: {pending:?} {dead:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A user deactivated before its create went out is rightly never created (`create_inactive`
    // is off): under load the kill can leave some of crash10..12 there.
    let created_at_vendor = fake.created();
    let mut expected = client.expected_vendor_state().await;
    expected.retain(|user_name, user| user.active || created_at_vendor.contains(user_name));
    assert!(expected.len() >= 27, "{expected:?}");
    assert_eq!(fake.users(), expected, "the vendor matches the store");
    assert_eq!(
        fake.duplicate_creates(),
        0,
        "no create was sent for a user the vendor had"
    );
    let mut created = fake.created();
    let total = created.len();
    created.sort();
    created.dedup();
    assert_eq!(
        created.len(),
        total,
        "no e-mail was created twice: {:?}",
        fake.created()
    );
    // The creates cut off by the kill were looked up (Validate) instead of being sent again.
    assert!(
        fake.calls().iter().any(|c| c.ends_with("/Validate/")),
        "{:?}",
        fake.calls()
    );
    signal(&second.child, "-TERM");
    assert!(second.child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_vendor_calls_in_flight_finish_and_leaves_nothing_queued() {
    let (vendor, fake) = FakeWorkspace365::start(Duration::from_millis(1500)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &vendor.uri());
    let token = create_token(&config);
    let mut server = serve(&config);
    let client = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        token,
    };
    client.send(reqwest::Method::POST, "/Users", Some(person(1))).await;
    wait_until("the create to reach the vendor", || !fake.calls().is_empty()).await;
    signal(&server.child, "-TERM");
    assert!(server.child.wait().unwrap().success());

    let store = scim_bridge::store::Store::connect(&format!("sqlite://{}", dir.path().join("crash.db").display()))
        .await
        .unwrap();
    assert!(
        store.sync_rows().await.unwrap().is_empty(),
        "the call in flight was finished and recorded"
    );
    assert_eq!(fake.created(), ["crash1@example.com"]);
    let listed = store.lookup("crash1@example.com", 5).await.unwrap().unwrap();
    assert_eq!(listed.links[0].1.state, scim_bridge::store::LinkState::Linked);
}
