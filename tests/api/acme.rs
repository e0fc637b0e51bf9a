//! A certificate from an ACME CA, end to end against Debian's `pebble` (the ACME test server) on
//! loopback: obtained over TLS-ALPN-01 at first start, served, renewed once two thirds of its life
//! have passed, cached 0700/0600, and served from the cache after a restart with the CA gone.
//! Needs `pebble` (`apt-get install pebble`); `.ci/run` installs it and runs these with `--ignored`.
use crate::helpers::*;
use crate::tls::Pki;
use scim_bridge::config::{AcmeSettings, TlsSettings};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A pebble process, killed when dropped.
struct Pebble {
    child: Child,
    directory: String,
    management: String,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `N` distinct free ports (all held while they are picked, so none is picked twice).
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<_> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

impl Pebble {
    /// Starts pebble with its HTTPS certificate from `pki`, validating TLS-ALPN-01 on `tls_port`.
    async fn start(pki: &Pki, dir: &Path, [tls_port, listen, management, http]: [u16; 4]) -> Self {
        let leaf = pki.leaf(&["127.0.0.1", "localhost"]);
        std::fs::write(dir.join("pebble-cert.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(dir.join("pebble-key.pem"), &leaf.key_pem).unwrap();
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.join("pebble-cert.pem"),
            "privateKey": dir.join("pebble-key.pem"),
            "httpPort": http,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_file = dir.join("pebble.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let child = Command::new(std::env::var("PEBBLE").unwrap_or_else(|_| "pebble".into()))
            .arg("-config")
            .arg(&config_file)
            // Deterministic: no random validation delays, no refused nonces, and every order
            // validated afresh (no authorization reused), so that a renewal proves TLS-ALPN-01 again.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble runs (apt-get install pebble)");
        let pebble = Self {
            child,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            management: format!("https://127.0.0.1:{management}"),
        };
        let client = pki.client();
        let started = Instant::now();
        while client.get(&pebble.directory).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "pebble never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        pebble
    }

    /// The root pebble issues under (it makes a new one at each start).
    async fn root(&self, pki: &Pki) -> reqwest::Certificate {
        let pem = pki
            .client()
            .get(format!("{}/roots/0", self.management))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        reqwest::Certificate::from_pem(&pem).unwrap()
    }
}

fn acme_settings(pki_dir: &Path, pebble: &Pebble, cache: &Path) -> TlsSettings {
    TlsSettings {
        acme: Some(AcmeSettings {
            domains: vec!["localhost".into()],
            contact: vec!["ops@example.test".into()],
            directory_url: pebble.directory.clone(),
            cache_dir: cache.to_owned(),
            directory_ca_file: Some(pki_dir.join("ca.pem")),
            check_secs: 1,
        }),
        ..TlsSettings::default()
    }
}

/// The served certificate, fetched over a connection that trusts pebble's root only.
async fn served(root: &reqwest::Certificate, port: u16) -> Option<Vec<u8>> {
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root.clone())
        .tls_info(true)
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .ok()?;
    assert_eq!(response.status(), 200);
    let info = response.extensions().get::<reqwest::tls::TlsInfo>()?;
    info.peer_certificate().map(<[u8]>::to_vec)
}

async fn wait_for_certificate(root: &reqwest::Certificate, port: u16, not: Option<&[u8]>) -> Vec<u8> {
    let started = Instant::now();
    loop {
        if let Some(der) = served(root, port).await {
            if not != Some(der.as_slice()) {
                return der;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no (new) certificate was served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn tls_status(root: &reqwest::Certificate, port: u16, admin: &str) -> serde_json::Value {
    let client = reqwest::Client::builder()
        .add_root_certificate(root.clone())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let body: serde_json::Value = client
        .get(format!("https://localhost:{port}/healthz"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["tls"].clone()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pebble (apt-get install pebble); .ci/run runs it"]
async fn a_certificate_is_obtained_at_first_start_renewed_when_due_and_served_from_the_cache_after_a_restart() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let ports = free_ports::<4>();
    let port = ports[0];
    let pebble = Pebble::start(&pki, dir.path(), ports).await;
    let root = pebble.root(&pki).await;
    let cache = dir.path().join("acme");
    let tls = acme_settings(dir.path(), &pebble, &cache);
    let app = spawn_app_with(|s| {
        s.server.listen = format!("127.0.0.1:{port}");
        s.server.tls = Some(tls.clone());
    })
    .await;
    let admin = crate::console::admin_token(&app).await;

    // Issue and serve.
    let first = wait_for_certificate(&root, port, None).await;
    let status = tls_status(&root, port, &admin).await;
    assert_eq!(status["source"], "acme");
    assert_eq!(status["names"], serde_json::json!(["localhost"]));
    assert_eq!(status["last_error"], serde_json::Value::Null);
    let renew_after = status["renew_after"].as_str().unwrap().to_owned();
    assert_eq!(mode(&cache), 0o700);
    for file in ["certificate.pem", "key.pem"] {
        assert_eq!(mode(&cache.join(file)), 0o600, "{file}");
    }
    let accounts: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("account-"))
        .collect();
    assert_eq!(accounts.len(), 1, "one account for this directory");
    assert_eq!(mode(&cache.join(&accounts[0])), 0o600);

    // Renew: once two thirds of the certificate's life have passed, a new one is obtained.
    let not_after = time::OffsetDateTime::parse(
        status["not_after"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let renew_at = time::OffsetDateTime::parse(&renew_after, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(renew_at < not_after && renew_at > time::OffsetDateTime::now_utc());
    let until_due = renew_at - time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    app.store
        .clock()
        .advance(Duration::from_secs(until_due.whole_seconds() as u64));
    let second = wait_for_certificate(&root, port, Some(&first)).await;
    assert_ne!(first, second);
    let renewed = tls_status(&root, port, &admin).await;
    assert_ne!(renewed["renew_after"], status["renew_after"], "{renewed}");
    assert_eq!(renewed["last_error"], serde_json::Value::Null);

    // A restart with the CA gone serves the cached certificate at once.
    drop(pebble);
    let cached = std::fs::read_to_string(cache.join("certificate.pem")).unwrap();
    let restarted = app
        .restarted(|s| {
            s.server.listen = "127.0.0.1:0".into();
        })
        .await;
    let restarted_port: u16 = restarted.origin.rsplit(':').next().unwrap().parse().unwrap();
    let third = served(&root, restarted_port)
        .await
        .expect("the cached certificate is served");
    assert_eq!(third, second);
    assert!(cached.contains("BEGIN CERTIFICATE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pebble (apt-get install pebble); .ci/run runs it"]
async fn a_domain_the_ca_cannot_validate_is_shown_to_admins_and_no_handshake_succeeds() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    // pebble validates on a port where nothing listens: the order cannot be validated.
    let [port, elsewhere, listen, management, http] = free_ports::<5>();
    let pebble = Pebble::start(&pki, dir.path(), [elsewhere, listen, management, http]).await;
    let root = pebble.root(&pki).await;
    let tls = acme_settings(dir.path(), &pebble, &dir.path().join("acme"));
    let app = spawn_app_with(|s| {
        s.server.listen = format!("127.0.0.1:{port}");
        s.server.tls = Some(tls.clone());
    })
    .await;
    let admin = crate::console::admin_token(&app).await;
    let cookie = crate::console::session_cookie(&crate::console::sign_in(&app, &admin).await);
    let started = Instant::now();
    let page = loop {
        let page = reqwest::Client::new()
            .get(format!("{}/admin", app.console))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("Last attempt failed") {
            break page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the failure is never shown: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(page.contains("could not validate"), "{page}");
    assert!(page.contains("none yet"), "{page}");
    assert_eq!(served(&root, port).await, None, "no certificate, no handshake");
    assert!(!dir.path().join("acme").join("certificate.pem").exists());
}
