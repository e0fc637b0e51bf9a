//! Built-in TLS (README "TLS"): HTTPS from PEM files, a changed pair served to new connections
//! while open ones carry on, a broken pair refused with the served one kept, SIGHUP, and the status
//! admins see in `/healthz` and the console.
use crate::console::{admin_token, session_cookie, sign_in};
use crate::crash::{create_token, serve, signal, wait_until};
use crate::helpers::*;
use reqwest::header::COOKIE;
use scim_bridge::config::TlsSettings;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A private CA that signs leaf certificates for the tests.
pub struct Pki {
    pub ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A leaf certificate and its key, as PEM, and the certificate's DER.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Pki {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "scim-bridge test CA");
        let ca = params.self_signed(&key).unwrap();
        Self {
            ca_pem: ca.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf for `names` (DNS names or IP addresses).
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client that trusts this CA only.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .https_only(true)
    }

    fn connector(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        let ca = rustls::pki_types::pem::PemObject::from_pem_slice(self.ca_pem.as_bytes()).unwrap();
        roots.add(ca).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// The pair in `dir` as `cert.pem` and `key.pem`, replaced whole (as a renewal tool does).
fn install(dir: &Path, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    write_whole(&key, &leaf.key_pem);
    write_whole(&cert, &leaf.cert_pem);
    (cert, key)
}

fn write_whole(path: &Path, text: &str) {
    let staging = path.with_extension("new");
    std::fs::write(&staging, text).unwrap();
    std::fs::rename(&staging, path).unwrap();
}

/// An open TLS connection to the server, kept alive between requests.
struct Connection {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl Connection {
    async fn open(pki: &Pki, port: u16, versions: &[&'static rustls::SupportedProtocolVersion]) -> Self {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let stream = pki.connector(versions).connect(name, tcp).await.unwrap();
        Self { stream }
    }

    /// The certificate the server shook hands with.
    fn peer_certificate(&self) -> Vec<u8> {
        self.stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }

    fn version(&self) -> rustls::ProtocolVersion {
        self.stream.get_ref().1.protocol_version().unwrap()
    }

    /// `GET path` on this connection; the status code and body.
    async fn get(&mut self, path: &str) -> (u16, String) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        self.stream.write_all(request.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            received.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap();
                if body.len() >= length {
                    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                    return (status, body[..length].to_owned());
                }
            }
        }
    }
}

async fn tls_app(dir: &Path, leaf: &Leaf) -> TestApp {
    let (cert, key) = install(dir, leaf);
    spawn_app_with(|s| {
        s.server.tls = Some(TlsSettings {
            cert_file: Some(cert),
            key_file: Some(key),
            watch_secs: 1,
            acme: None,
        });
    })
    .await
}

fn https(app: &TestApp) -> String {
    app.origin.replace("http://", "https://")
}

async fn healthz_tls(pki: &Pki, app: &TestApp, token: &str) -> serde_json::Value {
    let body: serde_json::Value = pki
        .client()
        .get(format!("{}/healthz", https(app)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["tls"].clone()
}

#[tokio::test]
async fn https_from_files_gives_https_urls_and_plain_http_gets_no_answer() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let app = tls_app(dir.path(), &pki.leaf(&["127.0.0.1", "localhost"])).await;
    let client = pki.client();
    let created = client
        .post(format!("{}/scim/v2/Users", https(&app)))
        .bearer_auth(&app.token)
        .header("Content-Type", "application/scim+json")
        .body(user("tls.ann@example.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/scim/v2/Users/", https(&app))),
        "URLs handed out over TLS are https: {location}"
    );
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["meta"]["location"], location.as_str());

    let plain = reqwest::Client::new()
        .get(format!("{}/healthz", app.origin))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP on the TLS port is no request: {plain:?}");

    // TLS 1.2 and 1.3 are both served.
    for (versions, expected) in [
        (&[&rustls::version::TLS12][..], rustls::ProtocolVersion::TLSv1_2),
        (&[&rustls::version::TLS13][..], rustls::ProtocolVersion::TLSv1_3),
    ] {
        let mut connection = Connection::open(&pki, app_port(&app), versions).await;
        assert_eq!(connection.version(), expected);
        assert_eq!(connection.get("/healthz").await.0, 200);
    }

    // The console stays plain HTTP on its loopback listener (reached through an SSH tunnel).
    let console = reqwest::Client::new()
        .get(format!("{}/admin/login", app.console))
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 200);
}

#[tokio::test]
async fn a_console_on_a_public_address_is_served_over_tls_too_with_secure_cookies() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = install(dir.path(), &pki.leaf(&["127.0.0.1"]));
    let app = spawn_app_with(|s| {
        s.server.admin_listen = "0.0.0.0:0".into();
        s.server.tls = Some(TlsSettings {
            cert_file: Some(cert),
            key_file: Some(key),
            ..TlsSettings::default()
        });
    })
    .await;
    let console = app.console.replace("http://", "https://");
    let login = pki.client().get(format!("{console}/admin/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let plain = reqwest::Client::new()
        .get(format!("{}/admin/login", app.console))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "no plain HTTP on a public console port: {plain:?}");
    let admin = admin_token(&app).await;
    let signed_in = pki
        .client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{console}/admin/login"))
        .form(&[("token", admin.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.contains("HttpOnly"))
        .unwrap_or_else(|| panic!("a session cookie: {:?}", signed_in.headers()));
    assert!(cookie.contains("Secure"), "{cookie}");
}

fn app_port(app: &TestApp) -> u16 {
    app.origin.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_replaced_pair_is_served_to_new_connections_while_open_ones_carry_on_and_a_broken_pair_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let first = pki.leaf(&["127.0.0.1"]);
    let app = tls_app(dir.path(), &first).await;
    let admin = admin_token(&app).await;
    let port = app_port(&app);
    let mut open = Connection::open(&pki, port, &[&rustls::version::TLS13]).await;
    assert_eq!(open.peer_certificate(), first.der);
    assert_eq!(open.get("/healthz").await.0, 200);
    let status = healthz_tls(&pki, &app, &admin).await;
    assert_eq!(status["source"], "files");
    assert_eq!(status["names"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(status["last_error"], serde_json::Value::Null);
    let plain: serde_json::Value = pki
        .client()
        .get(format!("{}/healthz", https(&app)))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        plain,
        serde_json::json!({"status": "ok"}),
        "details are for admin tokens only"
    );

    let second = pki.leaf(&["127.0.0.1", "bridge.example.test"]);
    install(dir.path(), &second);
    let started = Instant::now();
    loop {
        let fresh = Connection::open(&pki, port, &[&rustls::version::TLS13]).await;
        if fresh.peer_certificate() == second.der {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the new pair is never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open.get("/healthz").await.0, 200, "the open connection carries on");
    assert_eq!(open.peer_certificate(), first.der);
    let status = healthz_tls(&pki, &app, &admin).await;
    assert_eq!(status["names"], serde_json::json!(["127.0.0.1", "bridge.example.test"]));

    // A key that is not the certificate's: refused, the served pair stays, and admins see why.
    let third = pki.leaf(&["127.0.0.1", "third.example.test"]);
    write_whole(&dir.path().join("cert.pem"), &third.cert_pem);
    let started = Instant::now();
    let status = loop {
        let status = healthz_tls(&pki, &app, &admin).await;
        if !status["last_error"].is_null() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the broken pair is never noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["last_error"], "the private key is not the certificate's key");
    assert_eq!(status["names"], serde_json::json!(["127.0.0.1", "bridge.example.test"]));
    let fresh = Connection::open(&pki, port, &[&rustls::version::TLS12]).await;
    assert_eq!(fresh.peer_certificate(), second.der, "the served pair stays");

    // The console shows the same.
    let cookie = session_cookie(&sign_in(&app, &admin).await);
    let page = reqwest::Client::new()
        .get(format!("{}/admin", app.console))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("TLS certificate"), "{page}");
    assert!(page.contains("bridge.example.test"), "{page}");
    assert!(
        page.contains("the private key is not the certificate&#39;s key")
            || page.contains("the private key is not the certificate's key"),
        "{page}"
    );
}

#[tokio::test]
async fn a_missing_or_unreadable_pair_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"]);
    let (cert, key) = install(dir.path(), &leaf);
    let cases = [
        (dir.path().join("missing.pem"), key.clone(), "missing.pem"),
        (key.clone(), key.clone(), "holds no PEM certificate"),
        (cert.clone(), cert.clone(), "holds no PEM private key"),
    ];
    for (cert_file, key_file, expected) in cases {
        let mut settings = scim_bridge::config::Settings::default();
        settings.server.listen = "127.0.0.1:0".into();
        settings.server.admin_listen = "off".into();
        settings.database.url = format!("sqlite://{}", dir.path().join("start.db").display());
        settings.server.tls = Some(TlsSettings {
            cert_file: Some(cert_file),
            key_file: Some(key_file),
            ..TlsSettings::default()
        });
        let error = scim_bridge::app::Application::build(&settings).await.err().unwrap();
        assert!(format!("{error:#}").contains(expected), "{error:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reads_the_pair_again_at_once() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let first = pki.leaf(&["127.0.0.1"]);
    let (cert, key) = install(dir.path(), &first);
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"off\"\n[server.tls]\ncert_file = {cert:?}\nkey_file = {key:?}\n\
             watch_secs = 3600\n[database]\nurl = \"sqlite://{}\"\n",
            dir.path().join("hup.db").display()
        ),
    )
    .unwrap();
    create_token(&config);
    let server = serve(&config);
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(
        Connection::open(&pki, port, &[&rustls::version::TLS13])
            .await
            .peer_certificate(),
        first.der
    );
    let second = pki.leaf(&["127.0.0.1", "hup.example.test"]);
    install(dir.path(), &second);
    signal(&server.child, "-HUP");
    wait_until("the reload to be logged", || {
        server
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("TLS certificate reloaded"))
    })
    .await;
    assert_eq!(
        Connection::open(&pki, port, &[&rustls::version::TLS13])
            .await
            .peer_certificate(),
        second.der
    );
    let logged = server.log.lock().unwrap().join("\n");
    assert!(
        logged
            .lines()
            .any(|l| l.contains("TLS certificate reloaded") && l.contains("SIGHUP")),
        "{logged}"
    );
    assert!(!logged.contains("PRIVATE KEY"), "no key material in the log: {logged}");
}
