//! `spawn_app()`: the real server in-process on port 0 with a fresh database, and a SCIM client.
use reqwest::{Method, Response};
use scim_bridge::app::Application;
use scim_bridge::config::Settings;
use scim_bridge::http::auth::{generate_token, token_hash};
use scim_bridge::store::Store;
use serde_json::{json, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub struct TestApp {
    /// `http://127.0.0.1:PORT` (no base path).
    pub origin: String,
    /// The SCIM base URL.
    pub base: String,
    /// `http://127.0.0.1:PORT` of the console's own listener (the SCIM origin when the settings
    /// put the console there).
    pub console: String,
    pub token: String,
    pub client: reqwest::Client,
    pub store: Store,
    /// The SQLite file (when the suite runs on SQLite).
    pub db_path: std::path::PathBuf,
    /// The database the server runs on (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    pub worker: std::sync::Arc<scim_bridge::sync::worker::Worker>,
    pub settings: Settings,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server with default settings changed by `customize`.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    scim_bridge::telemetry::init_for_tests();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.admin_listen = "127.0.0.1:0".into();
    settings.server.workers = Some(1);
    let db_path = dir.path().join("test.db");
    settings.database.url = match postgres_server() {
        Some(server) => fresh_postgres_database(&server).await,
        None => format!("sqlite://{}", db_path.display()),
    };
    customize(&mut settings);
    let mut app = Application::build(&settings).await.unwrap();
    let worker = std::sync::Arc::new(app.take_worker().unwrap());
    let origin = format!("http://127.0.0.1:{}", app.port());
    let console = console_origin(&app, &origin);
    let store = app.store().clone();
    let token = generate_token();
    store.insert_token("test", &token_hash(&token)).await.unwrap();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base: format!("{origin}{}", settings.server.base_path),
        console,
        origin,
        token,
        client: reqwest::Client::new(),
        store,
        db_path,
        database_url: settings.database.url.clone(),
        worker,
        settings,
        _dir: dir,
    }
}

/// The PostgreSQL server the suite runs against (`SCIM_BRIDGE_TEST_POSTGRES=postgres://user@host:port`,
/// as `scripts/postgres.sh` prints it, without a database), or `None` for SQLite (the default).
pub fn postgres_server() -> Option<String> {
    std::env::var("SCIM_BRIDGE_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('/').trim_end_matches("/postgres").to_owned())
}

/// A new, empty database on `server`; its URL.
pub async fn fresh_postgres_database(server: &str) -> String {
    use sqlx::{Connection, Executor};
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    admin.close().await.unwrap();
    format!("{server}/{name}")
}

/// The console's own listener's origin, or the SCIM one when the console is served there.
fn console_origin(app: &Application, origin: &str) -> String {
    app.console_port()
        .map_or_else(|| origin.to_owned(), |port| format!("http://127.0.0.1:{port}"))
}

impl TestApp {
    /// A second `serve` on this one's database with its settings changed by `customize`, as after
    /// an operator edited the configuration and restarted (keep `self` alive: it owns the folder).
    pub async fn restarted(&self, customize: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        customize(&mut settings);
        let mut app = Application::build(&settings).await.unwrap();
        let worker = std::sync::Arc::new(app.take_worker().unwrap());
        let origin = format!("http://127.0.0.1:{}", app.port());
        let console = console_origin(&app, &origin);
        let store = app.store().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            base: format!("{origin}{}", settings.server.base_path),
            console,
            origin,
            token: self.token.clone(),
            client: reqwest::Client::new(),
            store,
            db_path: self.db_path.clone(),
            database_url: self.database_url.clone(),
            worker,
            settings,
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A new worker on the same database, as a restarted `serve` would have.
    pub async fn restart_worker(&self) -> scim_bridge::sync::worker::Worker {
        let store = scim_bridge::app::open_store(&self.settings).await.unwrap();
        scim_bridge::app::build_worker(store, &self.settings).unwrap()
    }

    /// Runs the sync worker until nothing is due (no sleeping: rows scheduled later stay queued).
    pub async fn drain_sync(&self) {
        use scim_bridge::sync::worker::Outcome;
        for _ in 0..100 {
            if self.worker.run_once().await.unwrap() == Outcome::Idle {
                return;
            }
        }
        panic!("the sync queue did not drain in 100 rounds");
    }

    /// A request to `path` (relative to the SCIM base) with the bearer token.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PUT, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PATCH, path, body).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap()
    }

    /// Creates a user and returns the response body; fails the test unless the answer is 201.
    pub async fn create_user(&self, body: &Value) -> Value {
        let response = self.post("/Users", body).await;
        assert_eq!(response.status(), 201, "creating {body}");
        response.json().await.unwrap()
    }

    /// PATCHes user `id` with `operations`, expecting 200; returns the body.
    pub async fn patch_user(&self, id: &str, operations: Value) -> Value {
        let response = self
            .patch(
                &format!("/Users/{id}"),
                &json!({"schemas": [PATCH_OP], "Operations": operations}),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The userNames a filtered list returns, in order.
    pub async fn user_names(&self, query: &str) -> Vec<String> {
        let response = self.get(&format!("/Users?{query}")).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{query}: {body}");
        body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A minimal valid user.
pub fn user(user_name: &str) -> Value {
    json!({"schemas": [USER_SCHEMA], "userName": user_name, "active": true})
}

/// Asserts a SCIM error response: status, `scimType` (when given), detail containing `detail`.
pub async fn assert_scim_error(response: Response, status: u16, scim_type: Option<&str>, detail: &str) {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/scim+json"), "{content_type}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
    assert_eq!(body["status"], json!(status.to_string()), "{body}");
    assert_eq!(body.get("scimType").and_then(Value::as_str), scim_type, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains(detail),
        "detail {body} should contain {detail:?}"
    );
}

/// Percent-encodes a query value (spaces as %20).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The tables of a PostgreSQL database, by name.
async fn postgres_tables(pool: &sqlx::PgPool) -> Vec<String> {
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            .fetch_all(pool)
            .await
            .unwrap();
    tables.into_iter().map(|(t,)| t).collect()
}

/// Every table's row count in a PostgreSQL database.
pub async fn postgres_row_counts(url: &str) -> Vec<(String, i64)> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let mut counts = Vec::new();
    for table in postgres_tables(&pool).await {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM \"{table}\""))
            .fetch_one(&pool)
            .await
            .unwrap();
        counts.push((table, n));
    }
    pool.close().await;
    counts
}

/// Every row of every table of a PostgreSQL database, as text (bytea as hex).
pub async fn postgres_dump(url: &str) -> String {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let mut dump = String::new();
    for table in postgres_tables(&pool).await {
        let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&pool)
            .await
            .unwrap();
        for (row,) in rows {
            dump.push_str(&row);
            dump.push('\n');
        }
    }
    pool.close().await;
    dump
}

/// Runs SQL statements on the test database, one connection, whichever backend it is (an
/// operator's hand edit, or a newer version's).
pub async fn execute_sql(app: &TestApp, statements: &[&str]) {
    use sqlx::Connection;
    if app.database_url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
        for sql in statements {
            sqlx::query(sql).execute(&mut db).await.unwrap();
        }
        db.close().await.unwrap();
    } else {
        let mut db = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
        for sql in statements {
            sqlx::query(sql).execute(&mut db).await.unwrap();
        }
        db.close().await.unwrap();
    }
}
